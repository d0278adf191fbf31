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
  - the job's record leaves the job store once it ended.

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
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
