#!/usr/bin/env python3
"""cluster_chaos - five kill -9 of task managers while a checkpointed job runs;
the job must recover from its checkpoints every time and still write
exactly-once output (a job manager and three task managers with two slots
each on 127.0.0.1).

The job: wordcount.so at -p 4 over 100,000 generated lines read at
--rate 7000 lines/s (about 15 s without failures), checkpoint every 500 ms
(state.checkpoints.dir in the test's folder), state backend from --backend,
default restart strategy (fixed-delay, unlimited, 200 ms).

Five times: wait until the job and all its subtasks are RUNNING and a
checkpoint completed since the last kill, kill -9 a task manager that runs
subtasks of the job (from the placements in GET /jobs/:jid), and start a
new task manager.

Checks:
  - the job ends FINISHED;
  - check_counts passes exactly on the output folder (every word's counts
    1..n once each: no duplicate, no gap, no uncommitted file left);
  - GET /jobs/:jid/checkpoints: counts.restored >= 5 and latest.restored
    names a checkpoint folder of the job;
  - GET /jobs/:jid/exceptions names every task manager that was killed.
Printed as information (not asserted): the time from each kill until every
subtask of the new attempt is RUNNING again (GET /jobs/:jid every 20 ms).

With --unaligned the checkpoints are unaligned
(execution.checkpointing.unaligned): barriers overtake the buffers in
flight, which go into the checkpoints; each recovery replays them. Also
checked then: the task managers' logs show in-flight data replayed after
a restore (a restore that replays nothing proves nothing about it).

Usage: cluster_chaos.py --build BUILD_DIR [--backend hashmap|rocksdb] [--unaligned] [--keep]
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_counts  # noqa: E402
import cluster  # noqa: E402

KILLS = 5
LINES = 100000
RATE = 7000


def main():
    ap = cluster.arg_parser(__doc__)
    ap.add_argument("--backend", choices=("hashmap", "rocksdb"), default="hashmap")
    ap.add_argument("--unaligned", action="store_true", help="unaligned checkpoints")
    a = ap.parse_args()
    chk = cluster.Checks()

    with cluster.Cluster(a.build, taskmanagers=3, slots=2,
                         name="chaos-" + a.backend + ("-unaligned" if a.unaligned else ""), keep=a.keep,
                         checks=chk) as c:
        job = c.plugin()
        c.conf.update({"state.checkpoints.dir": c.path("checkpoints"),
                       "execution.checkpointing.interval": "500ms",
                       "state.backend": a.backend})
        if a.unaligned:
            c.conf["execution.checkpointing.unaligned"] = "true"
        c.start()
        inp = cluster.write_input(c.path("input.txt"), 4242, LINES)
        out = c.path("out")
        expected = check_counts.expected_counts([inp])

        t_start = time.monotonic()
        jid = c.submit(job, ["--input", inp, "--output", out, "--rate", RATE], parallelism=4)
        print("job %s: wordcount -p 4, %d lines at %d lines/s, backend %s" % (jid, LINES, RATE, a.backend),
              flush=True)
        c.wait_running(jid, timeout=60)

        victims = []  # task manager ids killed
        recoveries = []
        last_chk = 0
        try:
            for k in range(KILLS):
                # RUNNING (every subtask) and a checkpoint newer than the last kill's
                c.wait_running(jid, timeout=60)
                last_chk = cluster.wait_checkpoint_after(c, jid, last_chk, timeout=60)
                j = c.job(jid)
                if j.get("state") != "RUNNING":
                    raise cluster.ClusterError("job %s is %s before kill %d" % (jid, j.get("state"), k + 1))
                attempt = cluster.job_attempt(j)
                used = cluster.tms_of_job(c, jid)
                idx, victim_id = cluster.pick_victim(c, used)
                t0 = time.monotonic()
                cluster.kill9(c, idx)
                victims.append(victim_id)
                c.start_taskmanager(wait=False)
                print("kill %d: kill -9 task manager %d (%s, pid %d) after chk-%d; job ran on %s" %
                      (k + 1, idx, victim_id, c.tms[idx].pid, last_chk, used), flush=True)
                took, info = cluster.wait_recovered(c, jid, attempt, t0, timeout=60)
                recoveries.append(took)
                print("  every subtask RUNNING again %.3f s after the kill (left RUNNING after %s s; states %s)" %
                      (took, "%.3f" % info["left_running"] if info["left_running"] is not None else "?",
                       " -> ".join(info["states"])), flush=True)
                c.wait_taskmanagers(len(c.live_taskmanagers()), timeout=30)
            chk.ok(len(victims) == KILLS, "%d task managers killed while the job ran" % KILLS)
        except cluster.ClusterError as e:
            chk.fail("chaos loop (after %d kills): %s" % (len(victims), e))

        try:
            c.wait_job(jid, {"FINISHED"}, timeout=180)
            chk.ok(True, "the job ends FINISHED (%.1f s after submission)" % (time.monotonic() - t_start))
        except cluster.ClusterError as e:
            chk.fail(str(e))

        check_counts.verify(chk, expected, out, "exactly-once output in %d committed files" %
                            len(cluster.committed_files(out)))

        cp = cluster.checkpoints(c, jid)
        cnt = cp.get("counts", {})
        print("  /checkpoints counts: %s" % json.dumps(cnt))
        chk.ok(cnt.get("restored", 0) >= KILLS, "/checkpoints counts.restored >= %d" % KILLS, cnt)
        restored = (cp.get("latest") or {}).get("restored") or {}
        jobdir = os.path.join(c.path("checkpoints"), jid)
        chk.ok(str(restored.get("external_path", "")).startswith(jobdir + "/chk-"),
               "/checkpoints latest.restored is a checkpoint of the job", restored)

        ex = c.exceptions(jid)
        text = json.dumps(ex)
        missing = [v for v in victims if v not in text]
        chk.ok(victims and not missing, "/exceptions names each killed task manager (%d)" % len(victims),
               "missing %s in %s" % (missing, text[:1500]))
        if a.unaligned:
            st, cc = c.request("GET", "/jobs/%s/checkpoints/config" % jid)
            chk.ok(st == 200 and cc.get("unaligned_checkpoints") is True,
                   "/checkpoints/config says unaligned_checkpoints: true", cc)
            replayed = []
            cdir = os.path.dirname(c.path("x"))
            for name in sorted(os.listdir(cdir)):
                if name.startswith("flinc-taskmanager") and name.endswith(".log"):
                    with open(os.path.join(cdir, name), errors="replace") as f:
                        replayed += [ln.strip() for ln in f if "in-flight buffers" in ln]
            print("  in-flight data replayed: %d subtask restores; e.g. %s" % (len(replayed), replayed[:2]))
            chk.ok(any(" replayed 0 " not in ln for ln in replayed),
                   "a restore replayed in-flight data of an unaligned checkpoint", replayed[:5])
        if recoveries:
            print("  recovery times (kill -> every subtask RUNNING): %s s; max %.3f s" %
                  (", ".join("%.3f" % t for t in recoveries), max(recoveries)))
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
