#!/usr/bin/env python3
"""cluster_cancel_loop - cancel running jobs over and over on one task manager
(a job manager and one task manager with two slots on 127.0.0.1).

The job: nexmark.so --query 5 at -p 2 with the hashmap state backend, an
endless generator at --rate 200000 events/s, started with an attached
`flinc run`. Both subtasks of every vertex share the one task manager, so
every channel is in-process and a cancel tears down producers and consumers
of the same channels on the task manager's monitor thread (issue 15: that
teardown freed a task while another task's channel still signalled it, and
crashed the task manager).

Each round: submit, wait until the job and every vertex are RUNNING, let it
run for a moment (a delay varied from round to round, so the cancel meets
the tasks in different places), `flinc cancel`, then check:
  - `flinc cancel` exits 0 and the job is CANCELED;
  - the attached `flinc run` exits 1 naming CANCELED and no failure: its
    last word is the cancel, not an older error;
  - GET /jobs/:jid/exceptions names the cancel as the root exception;
  - the task manager is still alive, still registered, and both slots are
    free again.
Then one more job fails over first (its task manager killed with kill -9, a
new one started, the job restarted from its checkpoint) and is canceled: the
attached `flinc run` must end with the cancel, not the earlier "TaskManager
... lost". Finally, no task manager's log holds a sanitizer report.

Usage: cluster_cancel_loop.py --build BUILD_DIR [--rounds N] [--max-delay S] [--keep]
"""

import argparse
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402

SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "ThreadSanitizer", "runtime error:",
                   "unaligned tcache", "double free", "corrupted")


def one_round(c, chk, job, rnd, delay):
    proc = c.flinc_popen("run", "-p", "2", "-D", "state.backend=hashmap", job, "--query", "5",
                         "--events", "1000000000", "--rate", "200000")
    first = proc.stdout.readline()
    jid = cluster.job_id_of(first)
    if not jid:
        proc.kill()
        chk.fail("round %d: flinc run prints the job id: %r %r" % (rnd, first, proc.stderr.read()))
        return False
    rest = []
    drain = threading.Thread(target=lambda: rest.append(proc.stdout.read()), daemon=True)
    drain.start()
    try:
        c.wait_running(jid, timeout=60)
    except cluster.ClusterError as e:
        chk.fail("round %d: %s" % (rnd, e))
        proc.kill()
        return False
    time.sleep(delay)
    t0 = time.monotonic()
    p = c.flinc("cancel", jid, timeout=90)
    took = time.monotonic() - t0
    ok = chk.ok(p.returncode == 0 and "CANCELED" in p.stdout,
                "round %d (ran %.2f s): flinc cancel exits 0 saying CANCELED (%.2f s)" % (rnd, delay, took),
                p.stdout + p.stderr)
    state = c.job_state(jid)
    ok &= chk.ok(state == "CANCELED", "round %d: the job is CANCELED" % rnd, state)
    try:
        rc = proc.wait(timeout=30)
    except Exception:
        proc.kill()
        rc = None
    drain.join(5)
    err = proc.stderr.read().strip()
    ok &= chk.ok(rc == 1 and "CANCELED: the job was canceled" in err and "FAILED" not in err and "lost" not in err,
                 "round %d: the attached flinc run exits 1 and its last word is the cancel" % rnd,
                 "exit %s, stderr %r" % (rc, err))
    st, ex = c.request("GET", "/jobs/%s/exceptions" % jid)
    root = ex.get("root-exception") if st == 200 and isinstance(ex, dict) else "(HTTP %d %s)" % (st, ex)
    ok &= chk.ok(root and "canceled" in root and "lost" not in root,
                 "round %d: the root exception is the cancel" % rnd, root)
    tm = c.tms[0]
    ok &= chk.ok(tm.alive(), "round %d: the task manager is alive" % rnd,
                 "exit %s; log tail:\n%s" % (tm.proc.returncode, tm.tail(60)))
    if not tm.alive():
        return False
    try:
        cluster.wait_until(lambda: c.overview().get("taskmanagers") == 1 and
                           c.overview().get("slots-available") == 2, 30, "both slots free", interval=0.05)
        chk.ok(True, "round %d: one task manager, both slots free" % rnd)
    except cluster.ClusterError as e:
        ok &= chk.fail("round %d: %s (overview %s)" % (rnd, e, c.overview()))
    return ok


def failover_round(c, chk, job):
    """A job that failed over once (its task manager killed, the job restarted
    on a new one) and is then canceled: its last word is the cancel, not the
    lost task manager of the earlier attempt."""
    proc = c.flinc_popen("run", "-p", "2", "-D", "state.backend=hashmap", job, "--query", "5",
                         "--events", "1000000000", "--rate", "200000")
    first = proc.stdout.readline()
    jid = cluster.job_id_of(first)
    if not jid:
        proc.kill()
        return chk.fail("failover round: flinc run prints the job id: %r %r" % (first, proc.stderr.read()))
    rest = []
    drain = threading.Thread(target=lambda: rest.append(proc.stdout.read()), daemon=True)
    drain.start()
    try:
        c.wait_running(jid, timeout=60)
        victim = len(c.tms) - 1
        c.kill_taskmanager(victim)
        c.start_taskmanager(wait=False)
        cluster.wait_until(lambda: c.job(jid).get("state") != "RUNNING", 30, "the job to leave RUNNING")
        c.wait_running(jid, timeout=60)
    except cluster.ClusterError as e:
        proc.kill()
        return chk.fail("failover round: %s" % e)
    st, ex = c.request("GET", "/jobs/%s/exceptions" % jid)
    before = ex.get("root-exception") if st == 200 and isinstance(ex, dict) else None
    chk.ok(before and "lost" in before, "failover round: restarted after the lost task manager", before)
    p = c.flinc("cancel", jid, timeout=90)
    chk.ok(p.returncode == 0 and "CANCELED" in p.stdout, "failover round: flinc cancel exits 0 saying CANCELED",
           p.stdout + p.stderr)
    try:
        rc = proc.wait(timeout=30)
    except Exception:
        proc.kill()
        rc = None
    drain.join(5)
    err = proc.stderr.read().strip()
    chk.ok(rc == 1 and "CANCELED: the job was canceled" in err and "lost" not in err,
           "failover round: the attached flinc run's last word is the cancel, not the older failure",
           "exit %s, stderr %r" % (rc, err))
    st, ex = c.request("GET", "/jobs/%s/exceptions" % jid)
    alls = [e.get("exception", "") for e in ex.get("all-exceptions", [])] if st == 200 else []
    chk.ok(any("lost" in m for m in alls), "failover round: the earlier failure is still listed", alls)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--max-delay", type=float, default=3.0,
                    help="longest run before the cancel, in s (delays spread from 0 to it)")
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    job = os.path.join(build, "jobs", "nexmark.so")
    chk = cluster.Checks()
    rng = random.Random(a.seed)
    t_start = time.monotonic()
    with cluster.Cluster(build, taskmanagers=1, slots=2, name="cancel-loop", keep=a.keep) as c:
        c.conf.update({"state.checkpoints.dir": c.path("checkpoints"),
                       "execution.checkpointing.interval": "200ms"})
        c.start()
        # Delays spread over the whole range, in a shuffled order.
        delays = [a.max_delay * (k + rng.random()) / a.rounds for k in range(a.rounds)]
        rng.shuffle(delays)
        for r, delay in enumerate(delays, 1):
            if not one_round(c, chk, job, r, delay):
                break
        if not chk.errors:
            failover_round(c, chk, job)
        log = "".join(d.log_text() for d in c.tms)
        marks = [m for m in SANITIZER_MARKS if m in log]
        chk.ok(not marks, "the task manager's log has no sanitizer or allocator report", marks)
        if chk.errors:
            c.failed = True
    print("%d rounds in %.1f s" % (a.rounds, time.monotonic() - t_start))
    print("%d checks failed" % len(chk.errors) if chk.errors else "all checks passed")
    return 1 if chk.errors else 0


if __name__ == "__main__":
    sys.exit(main())
