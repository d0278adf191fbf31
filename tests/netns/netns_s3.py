#!/usr/bin/env python3
"""netns_s3 - checkpoints on S3 across hosts that share no folder (issue 19,
acceptance 2).

Five namespace hosts on a private bridge (tests/netns/netns.py): the job
manager on 10.77.0.10, a task manager with three slots on each of
10.77.0.11-13, and s3proxy (tests/peers/s3proxy/) on 10.77.0.14. Every
flinc daemon runs with a private /tmp (a tmpfs in a mount namespace of its
own) and keeps its local files there (state.backend.rocksdb.localdir:
/tmp): RocksDB, and the local twins of the s3:// folders. Checkpoints,
savepoints and the job store are s3://flinc/...; only the job's input and
output files are in a folder every host sees (as on a shared output
volume). So a file one daemon wrote reaches another only through S3.

Checks, wordcount.so -p 6 (RocksDB, incremental checkpoints every 300 ms):
  (a) a task-manager host killed mid-run (every process on it, SIGKILL):
      the job recovers from S3 on the other two hosts and the output holds
      the counts 1..n once each; it restored from an s3:// checkpoint;
  (b) the job-manager host killed mid-run and the job manager started
      again there (a new private /tmp: its job store and the plugin come
      back from the bucket): it resumes the job from S3, which FINISHES
      with exact output.

Usage: netns_s3.py --build BUILD_DIR [--keep]
"""
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "peers", "s3proxy"))
import check_counts  # noqa: E402
import cluster  # noqa: E402
import netns  # noqa: E402
import s3proxy  # noqa: E402

BUCKET = "flinc"


def completed(c, jid):
    try:
        return cluster.counts(c, jid)["completed"]
    except (cluster.ClusterError, OSError, ValueError, KeyError):
        return 0


def finish(c, chk, jid, inp, out, what):
    st = c.wait_job(jid, {"FINISHED", "FAILED", "CANCELED"}, timeout=180)
    chk.ok(st["state"] == "FINISHED", "%s: the job FINISHES" % what, st["state"])
    cps = cluster.checkpoints(c, jid)
    rest = (cps["latest"].get("restored") or {}).get("external_path") or ""
    chk.ok(cps["counts"]["restored"] >= 1 and rest.startswith("s3://%s/chk/%s/chk-" % (BUCKET, jid)),
           "%s: it restored from a checkpoint in the bucket" % what, "%s %r" % (cps["counts"], rest))
    check_counts.verify(chk, check_counts.expected_counts([inp]), out, what)


def main():
    a = cluster.arg_parser(__doc__).parse_args()
    chk = cluster.Checks()
    # The test's folder (inputs, outputs, logs) outside /tmp, which every
    # daemon sees as its own empty tmpfs.
    shared = tempfile.mkdtemp(prefix="flinc-netns-s3-", dir="/var/tmp")
    os.environ["TMPDIR"] = shared
    try:
        with netns.Net(5, private_tmp=True) as net, \
                s3proxy.S3Proxy(buckets=[BUCKET], host=net.hosts[4], workdir=os.path.join(shared, "s3proxy"),
                                log=lambda m: print(m, flush=True)) as proxy:
            conf = dict(proxy.conf())
            conf.update({"state.checkpoints.dir": "s3://%s/chk" % BUCKET,
                         "state.savepoints.dir": "s3://%s/sp" % BUCKET,
                         "execution.checkpointing.interval": "300ms",
                         "state.backend": "rocksdb",
                         "state.backend.rocksdb.localdir": "/tmp"})
            jm_conf = {"jobmanager.bind-host": "0.0.0.0", "high-availability.storageDir": "s3://%s/ha" % BUCKET,
                       "jobmanager.blob.dir": ""}
            with cluster.Cluster(a.build, taskmanagers=3, slots=3, name="netns-s3", keep=a.keep, checks=chk,
                                 hosts=net.hosts[:4], conf=conf, jm_conf=jm_conf,
                                 tm_conf={"taskmanager.bind-host": "0.0.0.0"}) as c:
                c.start(timeout=60)
                job = c.plugin()

                print("(a) a task-manager host killed", flush=True)
                inp = cluster.write_input(c.path("input-a.txt"), 21, 60000)
                out = c.path("out-a")
                jid = c.submit(job, ["--input", inp, "--output", out, "--rate", "5000"], parallelism=6)
                cluster.wait_until(lambda: completed(c, jid) >= 2, 90, "two completed checkpoints")
                chk.ok(any(k.endswith("/_metadata") for k in proxy.keys(BUCKET, "chk/%s/" % jid)),
                       "the checkpoints are in the bucket")
                old_attempt = cluster.job_attempt(c.job(jid))
                victim = net.hosts[2]
                t0 = time.monotonic()
                victim.kill_all()
                c.say("netns: killed every process on %s" % victim.addr)
                secs, info = cluster.wait_recovered(c, jid, old_attempt, t0, timeout=120)
                c.say("netns: recovered in %.2f s (%s)" % (secs, info["states"]))
                finish(c, chk, jid, inp, out, "a task-manager host killed")

                print("(b) the job-manager host killed, the job manager restarted", flush=True)
                inp = cluster.write_input(c.path("input-b.txt"), 22, 60000)
                out = c.path("out-b")
                jid = c.submit(job, ["--input", inp, "--output", out, "--rate", "5000"], parallelism=6)
                cluster.wait_until(lambda: completed(c, jid) >= 2, 90, "two completed checkpoints")
                chk.ok("ha/jobs/%s.json" % jid in proxy.keys(BUCKET, "ha/"), "the job store is in the bucket")
                net.hosts[0].kill_all()
                c.jm.proc.wait(10)
                c.say("netns: killed every process on the job manager's host; starting it again")
                c.restart_jobmanager(timeout=60)
                finish(c, chk, jid, inp, out, "the job-manager host killed")
                log = c.jm.log_text()
                chk.ok("recovered job %s, restoring from s3://" % jid in log,
                       "the new job manager recovered the job from s3://")
    finally:
        if a.keep:
            print("files kept in %s" % shared)
        else:
            shutil.rmtree(shared, ignore_errors=True)
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
