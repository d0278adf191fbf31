#!/usr/bin/env python3
"""cluster_cancel - `flinc cancel` of a running job on a real cluster (a job
manager and two task managers with two slots each on 127.0.0.1).

The job: wordcount.so at -p 4 over a text file read at --rate 1000 lines/s,
so it would run for minutes; it is started with an attached `flinc run`.

Checks (issue acceptance 2):
  - once the job and every vertex are RUNNING, all 4 slots are taken;
  - `flinc cancel JOBID` exits 0 ("has been CANCELED") and the job is
    CANCELED within 1 s of the command's start (GET /jobs/:jid, polled
    independently of the CLI every 20 ms);
  - every slot is free again within 1 s of CANCELED (/overview and the
    freeSlots of every /taskmanagers entry);
  - the attached `flinc run` ends with exit status 1 naming CANCELED;
  - `flinc list` no longer shows the job, `flinc list -a` shows it CANCELED;
  - canceling it again, or canceling an unknown job id, changes nothing and
    fails with one line (exit 1);
  - the cluster still runs a job to FINISHED at -p 4 afterwards.
Repeated --rounds times (default 2) on the same cluster.

Usage: cluster_cancel.py --build BUILD_DIR [--rounds N] [--keep]
"""

import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_counts  # noqa: E402
import cluster  # noqa: E402

CANCEL_BOUND_S = 1.0
SLOTS_BOUND_S = 1.0


def one_round(c, chk, job, inp, rnd):
    print("round %d: flinc run -p 4 wordcount.so --rate 1000" % rnd, flush=True)
    out = c.path("out-%d" % rnd)
    run = c.run_attached("-p", "4", job, "--input", inp, "--output", out, "--rate", "1000")
    jid = run.jid
    if not chk.ok(jid, "flinc run prints the job id", run.first):
        run.proc.kill()
        return
    c.wait_running(jid, timeout=60)
    time.sleep(0.5)  # let it process for a moment
    ov = c.overview()
    chk.ok(ov.get("slots-available") == 0 and ov.get("jobs-running") == 1,
           "while it runs: 0 of 4 slots free, 1 job running",
           {k: ov.get(k) for k in ("slots-total", "slots-available", "jobs-running")})

    # Poll the job's state independently of the CLI.
    seen = {}

    def watch():
        while "canceled" not in seen and time.monotonic() - t0 < 30:
            try:
                s = c.job_state(jid)
            except (cluster.ClusterError, OSError, ValueError):
                s = None
            if s and s != "RUNNING" and "left_running" not in seen:
                seen["left_running"] = (time.monotonic() - t0, s)
            if s == "CANCELED":
                seen["canceled"] = time.monotonic() - t0
                break
            time.sleep(0.02)

    t0 = time.monotonic()
    w = threading.Thread(target=watch, daemon=True)
    w.start()
    p = c.flinc("cancel", jid, timeout=60)
    cli_took = time.monotonic() - t0
    w.join(35)
    print("  flinc cancel: exit %d after %.3fs: %s%s" % (p.returncode, cli_took, p.stdout.strip(), p.stderr.strip()))
    chk.ok(p.returncode == 0 and "CANCELED" in p.stdout, "flinc cancel exits 0 and says CANCELED",
           p.stdout + p.stderr)
    took = seen.get("canceled")
    print("  state left RUNNING: %s; CANCELED after %s s" %
          (seen.get("left_running"), "%.3f" % took if took is not None else "never"))
    chk.ok(took is not None and took <= CANCEL_BOUND_S, "CANCELED within %.1f s" % CANCEL_BOUND_S, took)

    # Slots free again.
    t1 = time.monotonic()
    try:
        cluster.wait_until(lambda: c.overview().get("slots-available") == 4 and
                           all(t.get("freeSlots") == t.get("slotsNumber") for t in c.taskmanagers()),
                           10, "every slot free", interval=0.02)
        free_after = time.monotonic() - t1
        chk.ok(free_after <= SLOTS_BOUND_S, "all slots free within %.1f s of CANCELED" % SLOTS_BOUND_S,
               "%.3fs" % free_after)
    except cluster.ClusterError as e:
        chk.fail(str(e))
    ov = c.overview()
    print("  /overview: %s" % {k: ov.get(k) for k in ("taskmanagers", "slots-total", "slots-available",
                                                      "jobs-running", "jobs-cancelled")})
    chk.ok(ov.get("jobs-running") == 0, "no job running", ov.get("jobs-running"))

    # The attached run ends.
    rc, err = run.finish(10)
    chk.ok(rc == 1 and "CANCELED" in err, "the attached flinc run exits 1 naming CANCELED",
           "exit %s, stderr %r" % (rc, err.strip()))

    # list / list -a
    p = c.flinc("list")
    chk.ok(p.returncode == 0 and jid not in p.stdout, "flinc list no longer shows the job", p.stdout)
    p = c.flinc("list", "-a")
    line = [ln for ln in p.stdout.splitlines() if jid in ln]
    chk.ok(line and "CANCELED" in line[0].split(), "flinc list -a shows it CANCELED", p.stdout)

    # Cancel again / unknown job: one line, exit != 0, nothing changes.
    before = c.overview_state()
    p = c.flinc("cancel", "0" * 32)
    chk.ok(p.returncode == 1 and p.stderr.count("\n") == 1 and p.stderr.startswith("flinc: "),
           "flinc cancel of an unknown job id: exit 1, one line", (p.returncode, p.stderr))
    print("  -> %s" % p.stderr.strip())
    p = c.flinc("cancel", jid)
    print("  cancel again -> exit %d: %s%s" % (p.returncode, p.stdout.strip(), p.stderr.strip()))
    chk.ok(c.job_state(jid) == "CANCELED", "canceling it again leaves it CANCELED")
    after = c.overview_state()
    chk.ok(after == before, "those requests changed nothing in /overview", (before, after))


def main():
    ap = cluster.arg_parser(__doc__)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    chk = cluster.Checks()
    with cluster.Cluster(a.build, taskmanagers=2, slots=2, name="cancel", keep=a.keep, checks=chk) as c:
        job = c.plugin()
        c.start()
        rng = random.Random(7)
        inp = cluster.write_words(c.path("input.txt"), rng, 2000, 200000)
        for r in range(1, a.rounds + 1):
            one_round(c, chk, job, inp, r)

        # The cluster still does its work.
        small = cluster.write_words(c.path("small.txt"), rng, 500, 20000)
        check_counts.cli_run(c, chk, 4, small, c.path("out-after"), "after the cancels a job at -p 4")
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
