#!/usr/bin/env python3
"""cluster_jm_restart - kill -9 of the job manager mid-run and a restart
(issue 4, acceptance 4).

A job manager with high-availability.storageDir and two task managers (two
slots each) on 127.0.0.1; wordcount.so at -p 2 over generated text at
--rate (about 12 s of work), a checkpoint every 300 ms. Once at least two
checkpoints completed, the job manager is killed with SIGKILL and started
again with the same configuration and ports. Checks:
  - the new job manager recovers the job under the same id from the job
    store and restores it from its latest checkpoint (GET /jobs/:jid
    answers, counts.restored >= 1, latest.restored is a chk folder of the job);
  - the task managers register with the new job manager and the job runs
    to FINISHED;
  - the output passes the exactly-once 1..n check (no duplicate, no gap);
  - the job's record leaves the job store once it ended, and its result
    (results/<jid>.json) takes its place;
  - a second kill and restart: the ended job still answers under its id,
    FINISHED, with the same vertices, record counts and checkpoint counts,
    and is listed in /jobs/overview; it is not run again, even with its
    record put back beside its result (the job manager stopped between the
    two writes); an unreadable result is one log line, not a failed start.

Usage: cluster_jm_restart.py --build BUILD_DIR [--keep]
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_counts  # noqa: E402
import cluster  # noqa: E402


def main():
    a = cluster.arg_parser(__doc__).parse_args()
    chk = cluster.Checks()
    with cluster.Cluster(a.build, taskmanagers=2, slots=2, name="jm-restart", keep=a.keep, checks=chk) as c:
        job = c.plugin()
        chkdir, hadir = c.path("checkpoints"), c.path("ha")
        c.conf.update({"state.checkpoints.dir": chkdir, "execution.checkpointing.interval": "300ms"})
        c.jm_conf.update({"high-availability.storageDir": hadir})
        c.start()
        inp = cluster.write_input(c.path("input.txt"), 7, 60000)
        out = c.path("out")
        jid = c.submit(job, ["--input", inp, "--output", out, "--rate", "5000"], parallelism=2)
        jobdir = os.path.join(chkdir, jid)
        cluster.wait_until(lambda: len(cluster.chk_folders(jobdir)) >= 1 and
                           cluster.counts(c, jid)["completed"] >= 2,
                           60, "two completed checkpoints")
        chk.ok(os.path.exists(os.path.join(hadir, "jobs", jid + ".json")), "the job is in the job store")
        c.jm.signal(signal.SIGKILL)
        c.jm.proc.wait(10)
        t_kill = time.monotonic()
        c.say("cluster: job manager killed; starting it again on the same ports")
        c.restart_jobmanager(timeout=30)
        st = c.wait_job(jid, {"RUNNING"}, timeout=60)
        c.say("cluster: the job is RUNNING again %.2f s after the kill" % (time.monotonic() - t_kill))
        chk.ok(st["jid"] == jid, "the new job manager knows the job under its id")
        st = c.wait_job(jid, {"FINISHED"}, timeout=120)
        chk.ok(st["state"] == "FINISHED", "the recovered job FINISHES")
        cps = cluster.checkpoints(c, jid)
        chk.ok(cps["counts"]["restored"] >= 1, "it restored a checkpoint: counts %s" % cps["counts"])
        rest = (cps["latest"].get("restored") or {}).get("external_path") or ""
        chk.ok(cluster.CHK_RE.search(os.path.basename(rest)) is not None and jid in rest,
                  "latest.restored is a chk folder of the job: %r" % rest)
        check_counts.verify(chk, check_counts.expected_counts([inp]), out)
        chk.ok(not os.path.exists(os.path.join(hadir, "jobs", jid + ".json")),
                  "the ended job left the job store")
        result = os.path.join(hadir, "results", jid + ".json")
        chk.ok(os.path.exists(result), "its result is in the job store")
        before = c.job(jid)
        before_cps = cluster.checkpoints(c, jid)["counts"]
        out_files = sorted(os.listdir(out))
        # The job manager stopped between the result and the removal of the
        # record: both are there. And one result is garbage.
        with open(os.path.join(hadir, "jobs", jid + ".json"), "w") as f:
            f.write('{"version":1,"jid":"%s","jar_id":"x","args":[],"parallelism":2,"conf":{}}' % jid)
        bad = "f" * 32
        with open(os.path.join(hadir, "results", bad + ".json"), "w") as f:
            f.write('{"version":1,"jid":')
        c.jm.signal(signal.SIGKILL)
        c.jm.proc.wait(10)
        c.restart_jobmanager(timeout=30)
        after = c.job(jid)
        chk.ok(after["state"] == "FINISHED", "after a second restart the ended job answers FINISHED")
        chk.ok(after["end-time"] == before["end-time"] and after["start-time"] == before["start-time"],
               "with its times: %s..%s" % (after["start-time"], after["end-time"]))

        def counts_of(doc):
            return [(v["name"], v["parallelism"], v["status"], v["metrics"]["read-records"],
                     v["metrics"]["write-records"]) for v in doc["vertices"]]
        chk.ok(counts_of(after) == counts_of(before), "its vertices and record counts: %s" % counts_of(after))
        chk.ok(cluster.checkpoints(c, jid)["counts"] == before_cps,
               "its checkpoint counts: %s" % before_cps)
        ov = c.get("/jobs/overview")["jobs"]
        chk.ok([x["state"] for x in ov if x["jid"] == jid] == ["FINISHED"], "/jobs/overview lists it FINISHED")
        time.sleep(1.5)  # time for a wrongly resubmitted job to show
        chk.ok(c.job_state(jid) == "FINISHED" and sorted(os.listdir(out)) == out_files,
               "it was not run again (state FINISHED, output files unchanged)")
        chk.ok(not os.path.exists(os.path.join(hadir, "jobs", jid + ".json")),
               "its record put back was removed")
        log = c.jm.log_text()
        chk.ok("ended FINISHED before the restart; not run again" in log, "the log says why it was not run")
        chk.ok(sum(1 for ln in log.splitlines() if bad in ln) == 1,
               "the unreadable result is one log line")
        st, _ = c.request("GET", "/jobs/" + bad)
        chk.ok(st == 404, "the unreadable result is no job: %d" % st)
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
