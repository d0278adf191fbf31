#!/usr/bin/env python3
"""cluster_kill_tm - a task manager killed with kill -9 while a job runs (a job
manager and two task managers with two slots each on 127.0.0.1; no
checkpointing, default restart strategy).

The job: wordcount.so at -p 4 over a text file read at --rate 1000 lines/s
(minutes of work), started with an attached `flinc run`, subtasks on both
task managers.

Checks (issue acceptance 4):
  - after SIGKILL of task manager 1, the job manager notices within 1 s:
    GET /taskmanagers no longer lists it (or /overview counts 1), and the
    job leaves RUNNING (FAILING or FAILED) within 1 s, both polled every 20 ms;
  - the job ends FAILED (no restart without checkpoints) and its root
    exception (GET /jobs/:jid/exceptions) names the lost task manager;
    the attached `flinc run` exits 1 printing FAILED and that exception;
  - the surviving task manager keeps running and its 2 slots are free again;
  - the cluster stays usable: a job at -p 2 runs to FINISHED with the right
    output; a new task manager registers, and then a job at -p 4 runs to
    FINISHED with the right output too.

Usage: cluster_kill_tm.py --build BUILD_DIR [--keep]
"""

import os
import random
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_counts  # noqa: E402
import cluster  # noqa: E402

NOTICE_BOUND_S = 1.0


def main():
    a = cluster.arg_parser(__doc__).parse_args()
    chk = cluster.Checks()

    with cluster.Cluster(a.build, taskmanagers=2, slots=2, name="kill-tm", keep=a.keep, checks=chk) as c:
        job = c.plugin()
        c.start()
        tms_before = {t["id"]: t for t in c.taskmanagers()}
        rng = random.Random(99)
        inp = cluster.write_words(c.path("input.txt"), rng, 2000, 200000)
        small = cluster.write_words(c.path("small.txt"), rng, 500, 20000)
        small_expected = check_counts.expected_counts([small])

        run = c.run_attached("-p", "4", job, "--input", inp, "--output", c.path("out"), "--rate", "1000")
        jid = run.jid
        if not jid:
            run.proc.kill()
            raise cluster.ClusterError("flinc run printed no job id: %r %s" % (run.first, run.proc.stderr.read()))
        c.wait_running(jid, timeout=60)
        time.sleep(1.0)
        try:
            pl = c.placements(jid)
            chk.ok(len(cluster.tms_of(pl)) == 2, "the job runs on both task managers", pl)
        except cluster.ClusterError as e:
            print("  (placement not visible: %s)" % e)

        victim = c.tms[1]
        print("kill -9 task manager 1 (pid %d)" % victim.pid, flush=True)
        seen = {}
        t0 = time.monotonic()
        os.kill(victim.pid, signal.SIGKILL)
        while time.monotonic() - t0 < 30 and not ("tm" in seen and "job" in seen):
            t = time.monotonic() - t0
            try:
                if "tm" not in seen:
                    live = [x for x in c.taskmanagers() if not x.get("lost")]
                    if len(live) < 2:
                        seen["tm"] = t
                if "job" not in seen:
                    s = c.job_state(jid)
                    if s != "RUNNING":
                        seen["job"] = t
                        seen["job_state"] = s
            except (cluster.ClusterError, OSError, ValueError) as e:
                seen.setdefault("errors", []).append(str(e))
            time.sleep(0.02)
        victim.proc.wait(5)
        print("  task manager gone from /taskmanagers after %s s; job left RUNNING after %s s (%s)" %
              (seen.get("tm"), seen.get("job"), seen.get("job_state")))
        chk.ok(seen.get("tm") is not None and seen["tm"] <= NOTICE_BOUND_S,
               "the job manager drops the task manager within %.1f s" % NOTICE_BOUND_S, seen.get("tm"))
        chk.ok(seen.get("job") is not None and seen["job"] <= NOTICE_BOUND_S,
               "the job leaves RUNNING within %.1f s" % NOTICE_BOUND_S, seen.get("job"))
        chk.ok(not seen.get("errors"), "the REST API kept answering", seen.get("errors"))

        try:
            c.wait_job(jid, {"FAILED"}, timeout=30)
            chk.ok(True, "the job ends FAILED")
        except cluster.ClusterError as e:
            chk.fail(str(e))
        ex = c.exceptions(jid)
        root = ex.get("root-exception", "") if isinstance(ex, dict) else ""
        print("  root exception: %s" % root.splitlines()[0] if root else "  exceptions: %s" % ex)
        victim_id = [i for i in tms_before if i not in {t["id"] for t in c.taskmanagers() if not t.get("lost")}]
        names_it = bool(re.search(r"task ?manager|taskmanager", root, re.I)) and \
            bool(re.search(r"lost|killed|gone|disconnect|unreachable|closed|dead", root, re.I))
        chk.ok(root and names_it, "the root exception says the task manager was lost", root)
        if victim_id:
            print("  (victim id %s %s in the exception)" % (victim_id[0], "named" if victim_id[0] in root or
                                                            str(victim.pid) in root else "not named"))
        rc, err = run.finish(15)
        print("  flinc run -> exit %s: %s" % (rc, err.strip()))
        chk.ok(rc == 1 and "FAILED" in err and err.count("\n") == 1, "the attached flinc run exits 1 with one "
               "line naming FAILED and the exception", err)

        # The survivor and its slots.
        chk.ok(c.tms[0].alive(), "the other task manager is still running")
        try:
            cluster.wait_until(lambda: (lambda o: o.get("taskmanagers") == 1 and o.get("slots-total") == 2 and
                                        o.get("slots-available") == 2)(c.overview()), 10,
                               "/overview: 1 task manager, 2 of 2 slots free")
            chk.ok(True, "/overview: 1 task manager, 2 free slots")
        except cluster.ClusterError as e:
            chk.fail(str(e))

        # Still usable.
        check_counts.cli_run(c, chk, 2, small, c.path("out-p2"), "a job at -p 2 on the survivor", small_expected)

        c.start_taskmanager(wait=True)
        ov = c.overview()
        chk.ok(ov.get("taskmanagers") == 2 and ov.get("slots-available") == 4,
               "a new task manager registers: 2 task managers, 4 free slots", ov)
        check_counts.cli_run(c, chk, 4, small, c.path("out-p4"), "a job at -p 4 (again)", small_expected)
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
