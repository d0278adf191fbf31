#!/usr/bin/env python3
"""seed_cluster_kill - the three seed jobs on a cluster with a task manager
killed mid-run (issue 17, acceptance 5).

Inputs written by flinc-gen (transactions, user-events, iot; fixed seeds).
Undisturbed: each job with `flinc local -p 2` over its file into a folder.
Cluster: a job manager and three task managers of two slots on loopback,
checkpoints every 300 ms; fraud.so writes its alerts to a real Kafka broker
(tests/peers/kafka, exactly-once delivery), aggregation.so and anomaly.so to
exactly-once folders; all three at -p 2, reading their files at a rate that
keeps them running for several seconds. After every job has completed a
checkpoint, one task manager running them is killed with kill -9 and a new
one started; every job must restart from its checkpoint and finish.

Checks: each job restored at least once (or never ran on the killed task
manager), and each job's committed output (Kafka read_committed for fraud,
the committed files for the others) equals the undisturbed run's record for
record (as sorted JSON lines: no loss, no duplicate, nothing changed).
PostgreSQL output is covered by the sink's own test (tests/integration,
label sink) when that sink is built.

Usage: seed_cluster_kill.py --build BUILD [--count N] [--keep]
"""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "peers", "kafka"))
import broker  # noqa: E402
import cluster  # noqa: E402
import seed_common  # noqa: E402

JOBS = [("fraud", "transactions", 1), ("aggregation", "user-events", 1), ("anomaly", "iot", 2)]


def canon(records):
    return sorted(json.dumps(r, sort_keys=True) for r in records)


def main():
    ap = cluster.arg_parser(__doc__)
    ap.add_argument("--count", type=int, default=100000, help="records per stream (iot: twice that)")
    a = ap.parse_args()
    chk = cluster.Checks()
    why = cluster.missing(a.build, "bin/flinc", "bin/flinc-gen", "jobs/fraud.so", "jobs/aggregation.so",
                          "jobs/anomaly.so")
    if why:
        chk.fail(why)
        return chk.report()
    with cluster.scratch_dir("flinc-seed-kill-", keep=a.keep, failed=lambda: chk.errors) as tmp:
        inputs, want = {}, {}
        for job, mode, mult in JOBS:
            f = os.path.join(tmp, mode + ".json")
            subprocess.run([os.path.join(a.build, "bin", "flinc-gen"), mode, "--count", str(a.count * mult),
                            "--seed", "17", "--output", f], check=True)
            inputs[job] = f
            rc, log, recs = seed_common.run_job(a.build, job, f, os.path.join(tmp, job + "-undisturbed"), 2)
            chk.ok(rc == 0 and recs, "%s: undisturbed run (flinc local -p 2): %d records" % (job, len(recs)),
                   log[-800:])
            want[job] = canon(recs)
        with broker.Broker(nodes=1, workdir=os.path.join(tmp, "broker"), keep=a.keep) as b:
            b.create_topic("fraud-alerts", partitions=2)
            with cluster.Cluster(a.build, taskmanagers=3, slots=2, name="seed-kill", keep=a.keep, checks=chk) as c:
                c.conf.update({"state.checkpoints.dir": c.path("checkpoints"),
                               "execution.checkpointing.interval": "300ms"})
                c.start()
                outs, jids = {}, {}
                for job, mode, mult in JOBS:
                    outs[job] = os.path.join(tmp, job + "-cluster")
                    out = ("kafka://%s/fraud-alerts?delivery=exactly-once" % b.bootstrap) if job == "fraud" \
                        else outs[job]
                    rate = a.count * mult // 8  # about 8 s of input
                    jids[job] = c.submit(c.plugin(job), ["--input", inputs[job], "--output", out,
                                                         "--rate", str(rate)], parallelism=2)
                try:
                    attempts = {}
                    for job, jid in jids.items():
                        c.wait_running(jid, timeout=60)
                        cluster.wait_checkpoint_after(c, jid, 0, timeout=60)
                        attempts[job] = cluster.job_attempt(c.job(jid))
                    tms = set()
                    for jid in jids.values():
                        tms |= set(cluster.tms_of_job(c, jid))
                    idx, victim = cluster.pick_victim(c, sorted(tms))
                    hit = [job for job, jid in jids.items() if victim in cluster.tms_of_job(c, jid)]
                    t1 = time.monotonic()
                    cluster.kill9(c, idx)
                    c.start_taskmanager(wait=False)
                    print("kill -9 of task manager %s (running %s) after each job's first checkpoint" %
                          (victim, ", ".join(hit)), flush=True)
                    for job in hit:
                        took, _ = cluster.wait_recovered(c, jids[job], attempts[job], t1, timeout=90)
                        chk.ok(True, "%s: RUNNING again %.2f s after the kill" % (job, took))
                    for job, jid in jids.items():
                        c.wait_job(jid, {"FINISHED"}, timeout=300)
                        restored = cluster.counts(c, jid).get("restored", 0)
                        chk.ok(job not in hit or restored >= 1,
                               "%s: FINISHED; restored from a checkpoint %d times" % (job, restored))
                except cluster.ClusterError as e:
                    chk.fail(str(e))
            for job, mode, mult in JOBS:
                if job == "fraud":
                    got = canon(json.loads(x) for x in b.consume("fraud-alerts", isolation="read_committed",
                                                                  timeout=300) if x.strip())
                    where = "Kafka read_committed"
                else:
                    got = canon(seed_common.read_committed(outs[job]))
                    where = "committed files"
                extra = sorted(set(got) - set(want[job]))[:2]
                lost = sorted(set(want[job]) - set(got))[:2]
                chk.ok(got == want[job], "%s: the %s equal the undisturbed run's (%d records)" %
                       (job, where, len(want[job])),
                       "got %d want %d; extra %s; missing %s" % (len(got), len(want[job]), extra, lost))
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
