#!/usr/bin/env python3
"""kafka_exactly_once - wordcount from a Kafka topic to a Kafka topic,
exactly-once, against a real Apache Kafka broker (tests/peers/kafka/), in
`flinc local` and on a cluster whose task managers are killed with kill -9.

The broker: one KRaft node on free loopback ports. The input: generated
text lines (cluster.write_input), one record each, in a 6-partition topic.
The job: wordcount.so --input kafka://B/lines?bounded=true --output
kafka://B/OUT?delivery=exactly-once, checkpoints every 500 ms.

  local    flinc local -p 2 over the whole input; the output read with
           read_committed holds, for every word with n occurrences, the
           counts 1..n once each (check_counts).
  cluster  a job manager and 3 task managers (2 slots each), -p 3, the
           input read at --rate lines/s; KILLS times: wait for RUNNING and a
           checkpoint newer than the last kill, kill -9 a task manager that
           runs the job, start a new one. The job must end FINISHED, the
           read_committed output must be exactly the counts (no duplicate, no
           gap), and a read_uncommitted consumer must see more records than
           the read_committed one: transactions of the killed processes were
           aborted, and the broker hid them.

  rescale  -p 3 on a cluster, `flinc stop --savepoint-path` mid-run (the
           read_committed output is an exactly-once prefix), `flinc run -s`
           at -p 2 to the end: every count exactly once (the old subtask 2's
           pending transactions are taken over by the new subtask 0).

CI size by default (30,000 lines, 2 kills); --full for the issue's size
(1,000,000 lines at 20,000/s, 3 kills).

Usage: kafka_exactly_once.py --build BUILD [--full] [--case local|cluster|rescale]... [--keep]
"""
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "peers", "kafka"))
import broker  # noqa: E402
import check_counts  # noqa: E402
import cluster  # noqa: E402


def read_pairs(b, topic, isolation):
    """(word bytes, count) of every record of topic, and the record count."""
    lines = b.consume(topic, isolation=isolation, timeout=300)
    pairs, bad = [], 0
    for ln in lines:
        w, _, n = ln.partition("\t")
        try:
            pairs.append((w.encode(), int(n)))
        except ValueError:
            bad += 1
    return pairs, len(lines), bad


def check_topic(chk, b, topic, expected, what):
    pairs, n, bad = read_pairs(b, topic, "read_committed")
    errs = check_counts.check_counts(expected, pairs)
    chk.ok(not errs and not bad, "%s: read_committed holds every count exactly once (%d records)" % (what, n),
           "; ".join(errs[:8]) + (" (%d malformed)" % bad if bad else ""))
    return n


def eo_args(bs, out, rate=None):
    args = ["--input", "kafka://%s/lines?bounded=true" % bs,
            "--output", "kafka://%s/%s?delivery=exactly-once" % (bs, out)]
    if rate:
        args += ["--rate", str(rate)]
    return args


def case_local(chk, a, b, expected, tmp):
    argv = cluster.local_argv(a.build, "wordcount", 2, {
        "state.checkpoints.dir": os.path.join(tmp, "local-chk"),
        "execution.checkpointing.interval": "500ms"}) + eo_args(b.bootstrap, "counts-local")
    t0 = time.monotonic()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    took = time.monotonic() - t0
    out = p.stdout.decode(errors="replace")
    chk.ok(p.returncode == 0, "flinc local -p 2 finished (%.1f s)" % took, out[-3000:])
    check_topic(chk, b, "counts-local", expected, "local")


def case_cluster(chk, a, b, expected, lines, rate, kills):
    with cluster.Cluster(a.build, taskmanagers=3, slots=2, name="kafka-eo", keep=a.keep, checks=chk) as c:
        c.conf.update({"state.checkpoints.dir": c.path("checkpoints"),
                       "execution.checkpointing.interval": "500ms"})
        c.start()
        t0 = time.monotonic()
        jid = c.submit(c.plugin(), eo_args(b.bootstrap, "counts-cluster", rate), parallelism=3)
        print("job %s: wordcount -p 3, %d lines at %d lines/s from Kafka to Kafka, exactly-once" %
              (jid, lines, rate), flush=True)
        killed = 0
        last_chk = 0
        try:
            for k in range(kills):
                c.wait_running(jid, timeout=90)
                last_chk = cluster.wait_checkpoint_after(c, jid, last_chk, timeout=90)
                j = c.job(jid)
                if j.get("state") != "RUNNING":
                    raise cluster.ClusterError("job is %s before kill %d" % (j.get("state"), k + 1))
                attempt = cluster.job_attempt(j)
                idx, victim = cluster.pick_victim(c, cluster.tms_of_job(c, jid))
                t1 = time.monotonic()
                cluster.kill9(c, idx)
                killed += 1
                c.start_taskmanager(wait=False)
                took, _ = cluster.wait_recovered(c, jid, attempt, t1, timeout=90)
                print("kill %d: kill -9 task manager %s after chk-%d; RUNNING again in %.2f s" %
                      (k + 1, victim, last_chk, took), flush=True)
                c.wait_taskmanagers(len(c.live_taskmanagers()), timeout=30)
        except cluster.ClusterError as e:
            chk.fail("kill loop (after %d kills): %s" % (killed, e))
        chk.ok(killed == kills, "%d task managers killed with kill -9 while the job ran" % kills)
        try:
            c.wait_job(jid, {"FINISHED"}, timeout=600)
            chk.ok(True, "the job ends FINISHED (%.1f s after submission)" % (time.monotonic() - t0))
        except cluster.ClusterError as e:
            chk.fail(str(e))
        restored = cluster.counts(c, jid).get("restored", 0)
        chk.ok(restored >= kills, "the job restored from a checkpoint %d times (>= %d)" % (restored, kills))
    committed = check_topic(chk, b, "counts-cluster", expected, "cluster")
    _, uncommitted, _ = read_pairs(b, "counts-cluster", "read_uncommitted")
    chk.ok(uncommitted > committed,
           "read_uncommitted sees more (%d) than read_committed (%d): aborted transactions were filtered" %
           (uncommitted, committed))


PATH_RE = re.compile(r"^Savepoint completed\. Path: (\S+)\s*$", re.M)


def case_rescale(chk, a, b, expected, lines, rate):
    with cluster.Cluster(a.build, taskmanagers=2, slots=3, name="kafka-rescale", keep=a.keep, checks=chk) as c:
        # Savepoints go under the cluster's state.savepoints.dir (issue 15).
        c.conf.update({"state.checkpoints.dir": c.path("checkpoints"),
                       "state.savepoints.dir": c.path("savepoints"),
                       "execution.checkpointing.interval": "500ms"})
        c.start()
        job = c.plugin()
        args = eo_args(b.bootstrap, "counts-rescale", rate)
        jid = c.submit(job, args, parallelism=3)
        c.wait_running(jid, timeout=90)
        cluster.wait_checkpoint_after(c, jid, 0, timeout=90)
        cluster.wait_checkpoint_after(c, jid, cluster.latest_completed_id(c, jid), timeout=90)
        p = c.flinc("stop", "--savepoint-path", c.path("savepoints"), jid)
        m = PATH_RE.search(p.stdout)
        sp = m.group(1) if m else None
        chk.ok(p.returncode == 0 and sp, "flinc stop --savepoint-path at -p 3", p.stdout[-500:] + p.stderr[-500:])
        if not sp:
            return
        c.wait_job(jid, {"FINISHED"}, timeout=60)
        pairs, n, _ = read_pairs(b, "counts-rescale", "read_committed")
        bad = check_counts.prefix_errors(expected, pairs)
        total = sum(expected.values())
        chk.ok(not bad and 0 < n < total, "after the stop: an exactly-once prefix (%d of %d counts)" % (n, total),
               bad[:5])
        p = c.flinc("run", "-s", sp, "-p", "2", job, *args, timeout=600)
        chk.ok(p.returncode == 0 and "FINISHED" in p.stdout, "restored at -p 2, the job runs to FINISHED",
               p.stdout[-800:] + p.stderr[-800:])
    check_topic(chk, b, "counts-rescale", expected, "savepoint at -p 3, restored at -p 2")


def main():
    ap = cluster.arg_parser(__doc__)
    ap.add_argument("--full", action="store_true", help="the issue's size: 1M lines, 3 kills")
    ap.add_argument("--case", action="append", choices=("local", "cluster", "rescale"))
    a = ap.parse_args()
    cases = a.case or ["local", "cluster", "rescale"]
    lines, rate, kills = (1000000, 20000, 3) if a.full else (30000, 4000, 2)
    chk = cluster.Checks()
    why = cluster.missing(a.build, "bin/flinc", "jobs/wordcount.so")
    if why:
        chk.fail(why)
        return chk.report()
    with cluster.scratch_dir("flinc-kafka-eo-", keep=a.keep, failed=lambda: chk.errors) as tmp:
        inp = cluster.write_input(os.path.join(tmp, "input.txt"), 1616, lines)
        expected = check_counts.expected_counts([inp])
        with open(inp, "rb") as f:
            text = [ln for ln in f.read().split(b"\n") if ln]
        with broker.Broker(nodes=1, workdir=os.path.join(tmp, "broker"), keep=a.keep) as b:
            b.create_topic("lines", partitions=6)
            b.create_topic("counts-local", partitions=3)
            b.create_topic("counts-cluster", partitions=3)
            b.create_topic("counts-rescale", partitions=3)
            t0 = time.monotonic()
            b.produce("lines", text, timeout=600)
            print("%d lines in topic lines (6 partitions) in %.1f s" % (len(text), time.monotonic() - t0),
                  flush=True)
            if "local" in cases:
                case_local(chk, a, b, expected, tmp)
            if "cluster" in cases:
                case_cluster(chk, a, b, expected, lines, rate, kills)
            if "rescale" in cases:
                case_rescale(chk, a, b, expected, lines, rate)
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
