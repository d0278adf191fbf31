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
           at -p 6, stopped again with a savepoint (a prefix again), then
           `flinc run -s` at -p 2 to the end: every count exactly once (the
           old subtasks' pending transactions are taken over by subtask
           k mod p, their transactional ids fenced).

  window   the commit window (issue 16, acceptance 2): the task managers
           start with FLINC_TEST_FAULT=KIND:N:S (docs/kafka.md), so the
           process of sink subtask S (or of every sink subtask, S=-1) dies
           as with kill -9 once the job manager declared checkpoint N
           complete and before the sink committed N: `kafka-sink-after-
           complete` before anything of the commit, `kafka-sink-before-
           commit` with N's commit marker on the broker, its transaction
           open. Task managers that die are replaced; the job must end
           FINISHED after restoring, and read_committed must hold every
           count exactly once. --loop K runs K rounds, N, S and the kind
           drawn from a seeded random generator (CI: 3; on demand: 20).

  txn      issue 16's acceptance 1: flinc-gen transactions (1M with
           --full) in a 6-partition topic, txn_pipe.so (parse JSON ->
           key_by userId -> running count -> Kafka sink, exactly-once) at
           -p 3 on 3 task managers, KILLS task managers killed: read_committed
           holds every transactionId exactly once, read_uncommitted more.

  broker   the broker killed with kill -9 mid-run (twice) and restarted on
           the same port and data folder after an outage of --outage
           seconds: the job fails over (restart strategy), recovers, ends
           FINISHED, and read_committed holds every count exactly once.

CI size by default (30,000 lines, 2 kills, 3 window rounds); --full for the
issue's size (1,000,000 lines at 20,000/s, 3 kills).

Usage: kafka_exactly_once.py --build BUILD [--full] [--case local|cluster|rescale|window|broker|txn]...
                             [--loop K] [--seed S] [--outage SECONDS] [--keep]
"""
import json
import os
import random
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


def kill_loop(chk, c, jid, kills):
    """KILLS times: wait for RUNNING and a checkpoint newer than the last
    kill, kill -9 a task manager that runs the job, start a new one and wait
    until the job runs again. The number of kills done."""
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
    return killed


def case_cluster(chk, a, b, expected, lines, rate, kills):
    with cluster.Cluster(a.build, taskmanagers=3, slots=2, name="kafka-eo", keep=a.keep, checks=chk) as c:
        c.conf.update({"state.checkpoints.dir": c.path("checkpoints"),
                       "execution.checkpointing.interval": "500ms"})
        c.start()
        t0 = time.monotonic()
        jid = c.submit(c.plugin(), eo_args(b.bootstrap, "counts-cluster", rate), parallelism=3)
        print("job %s: wordcount -p 3, %d lines at %d lines/s from Kafka to Kafka, exactly-once" %
              (jid, lines, rate), flush=True)
        killed = kill_loop(chk, c, jid, kills)
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


def case_txn(chk, a, b, count, rate, kills, tmp):
    """Issue 16, acceptance 1: COUNT flinc-gen transactions in a 6-partition
    topic; txn_pipe (parse JSON -> key_by userId -> running count -> Kafka
    sink, exactly-once) at -p 3 on 3 task managers, a checkpoint every
    500 ms, KILLS task managers killed with kill -9 while it runs. The
    read_committed output holds every input transactionId exactly once (and
    per user the running counts 1..n once each); read_uncommitted sees
    more."""
    plugin = os.path.join(a.build, "tests", "plugins", "txn_pipe.so")
    gen = os.path.join(a.build, "bin", "flinc-gen")
    why = cluster.missing(a.build, "tests/plugins/txn_pipe.so", "bin/flinc-gen")
    if why:
        chk.fail(why)
        return
    src = os.path.join(tmp, "transactions.json")
    gen_args = ["transactions", "--count", str(count), "--seed", "16"]
    subprocess.run([gen] + gen_args + ["--output", src], check=True, timeout=600)
    b.create_topic("txns", partitions=6)
    b.create_topic("txn-out", partitions=3)
    t0 = time.monotonic()
    p = subprocess.run([gen] + gen_args + ["--output", "kafka://%s/txns" % b.bootstrap],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    chk.ok(p.returncode == 0, "flinc-gen wrote %d transactions to topic txns (6 partitions) in %.1f s" %
           (count, time.monotonic() - t0), p.stdout.decode(errors="replace")[-2000:])
    ids, per_user = set(), {}
    with open(src) as f:
        for ln in f:
            r = json.loads(ln)
            ids.add(r["transactionId"])
            per_user[r["userId"]] = per_user.get(r["userId"], 0) + 1
    chk.ok(len(ids) == count, "the generated transaction ids are distinct (%d)" % len(ids))
    with cluster.Cluster(a.build, taskmanagers=3, slots=2, name="kafka-txn", keep=a.keep, checks=chk) as c:
        c.conf.update({"state.checkpoints.dir": c.path("checkpoints"),
                       "execution.checkpointing.interval": "500ms"})
        c.start()
        t0 = time.monotonic()
        jid = c.submit(plugin, ["--input", "kafka://%s/txns?bounded=true" % b.bootstrap,
                                "--output", "kafka://%s/txn-out?delivery=exactly-once" % b.bootstrap,
                                "--rate", str(rate)], parallelism=3)
        print("job %s: txn_pipe -p 3, %d transactions at %d/s from Kafka to Kafka, exactly-once" %
              (jid, count, rate), flush=True)
        killed = kill_loop(chk, c, jid, kills)
        chk.ok(killed == kills, "%d task managers killed with kill -9 while the job ran" % kills)
        try:
            c.wait_job(jid, {"FINISHED"}, timeout=900)
            chk.ok(True, "the job ends FINISHED (%.1f s after submission)" % (time.monotonic() - t0))
        except cluster.ClusterError as e:
            chk.fail(str(e))
        counts = cluster.counts(c, jid)
        chk.ok(counts.get("restored", 0) >= kills,
               "the job restored from a checkpoint %d times (>= %d)" % (counts.get("restored", 0), kills))
    committed = b.consume("txn-out", isolation="read_committed", timeout=600)
    seen, dup, bad, seqs = {}, 0, 0, {}
    for ln in committed:
        try:
            r = json.loads(ln)
            tid, user, seq = r["transactionId"], r["userId"], int(r["seq"])
        except (ValueError, KeyError, TypeError):
            bad += 1
            continue
        if tid in seen:
            dup += 1
        seen[tid] = True
        seqs.setdefault(user, []).append(seq)
    missing = len(ids - seen.keys())
    extra = len(seen.keys() - ids)
    chk.ok(not dup and not missing and not extra and not bad,
           "read_committed holds every input transactionId exactly once (%d records)" % len(committed),
           "%d duplicates, %d missing, %d unknown, %d malformed" % (dup, missing, extra, bad))
    wrong = [u for u, n in per_user.items() if sorted(seqs.get(u, [])) != list(range(1, n + 1))]
    chk.ok(not wrong, "per user, the running counts 1..n once each (%d users)" % len(per_user),
           "%d users wrong, e.g. %s" % (len(wrong), wrong[:3]))
    uncommitted = len(b.consume("txn-out", isolation="read_uncommitted", timeout=600))
    chk.ok(uncommitted > len(committed),
           "read_uncommitted sees more (%d) than read_committed (%d): aborted transactions were filtered" %
           (uncommitted, len(committed)))


PATH_RE = re.compile(r"^Savepoint completed\. Path: (\S+)\s*$", re.M)


def stop_savepoint(chk, c, jid, what):
    """`flinc stop --savepoint-path` of a running job; the savepoint path or None."""
    c.wait_running(jid, timeout=90)
    cluster.wait_checkpoint_after(c, jid, 0, timeout=90)
    cluster.wait_checkpoint_after(c, jid, cluster.latest_completed_id(c, jid), timeout=90)
    p = c.flinc("stop", "--savepoint-path", c.path("savepoints"), jid)
    m = PATH_RE.search(p.stdout)
    sp = m.group(1) if m else None
    chk.ok(p.returncode == 0 and sp, "flinc stop --savepoint-path at %s" % what, p.stdout[-500:] + p.stderr[-500:])
    if sp:
        c.wait_job(jid, {"FINISHED"}, timeout=60)
    return sp


def check_prefix(chk, b, topic, expected, what):
    pairs, n, _ = read_pairs(b, topic, "read_committed")
    bad = check_counts.prefix_errors(expected, pairs)
    total = sum(expected.values())
    chk.ok(not bad and 0 < n < total, "%s: an exactly-once prefix (%d of %d counts)" % (what, n, total), bad[:5])
    return n


def case_rescale(chk, a, b, expected, lines, rate):
    """-p 3, savepoint; -p 6 from it, savepoint; -p 2 from that to the end."""
    with cluster.Cluster(a.build, taskmanagers=2, slots=3, name="kafka-rescale", keep=a.keep, checks=chk) as c:
        # Savepoints go under the cluster's state.savepoints.dir (issue 15).
        c.conf.update({"state.checkpoints.dir": c.path("checkpoints"),
                       "state.savepoints.dir": c.path("savepoints"),
                       "execution.checkpointing.interval": "500ms"})
        c.start()
        job = c.plugin()
        args = eo_args(b.bootstrap, "counts-rescale", rate)
        jid = c.submit(job, args, parallelism=3)
        sp = stop_savepoint(chk, c, jid, "-p 3")
        if not sp:
            return
        n1 = check_prefix(chk, b, "counts-rescale", expected, "after the stop at -p 3")
        p = c.flinc("run", "-d", "-s", sp, "-p", "6", job, *args)
        jid = cluster.job_id_of(p.stdout)
        chk.ok(p.returncode == 0 and jid, "restored at -p 6 (6 partitions, 6 subtasks)", p.stdout[-500:] + p.stderr[-500:])
        if not jid:
            return
        sp = stop_savepoint(chk, c, jid, "-p 6")
        if not sp:
            return
        n2 = check_prefix(chk, b, "counts-rescale", expected, "after the stop at -p 6")
        chk.ok(n2 > n1, "the output grew at -p 6 (%d -> %d counts)" % (n1, n2))
        p = c.flinc("run", "-s", sp, "-p", "2", job, *args, timeout=600)
        chk.ok(p.returncode == 0 and "FINISHED" in p.stdout, "restored at -p 2, the job runs to FINISHED",
               p.stdout[-800:] + p.stderr[-800:])
    check_topic(chk, b, "counts-rescale", expected, "savepoints at -p 3 and -p 6, restored at -p 6 and -p 2")


FAULT_KINDS = ("kafka-sink-after-complete", "kafka-sink-before-commit")


def replace_dead_taskmanagers(c, seen_dead):
    """Start a task manager (without the fault) for every one that died since."""
    dead = [i for i, d in enumerate(c.tms) if not d.alive()]
    new = [i for i in dead if i not in seen_dead]
    for i in new:
        seen_dead.add(i)
        c.start_taskmanager(wait=False)
    return len(new)


def fault_fired(c):
    return sum(d.log_text().count("FLINC_TEST_FAULT:") for d in c.tms)


def window_round(chk, a, b, expected, rate, k, kind, n, sub):
    topic = "counts-window-%d" % k
    b.create_topic(topic, partitions=3)
    fault = "%s:%d:%d" % (kind, n, sub)
    what = "round %d (%s)" % (k + 1, fault)
    with cluster.Cluster(a.build, taskmanagers=3, slots=2, name="kafka-window", keep=a.keep, checks=chk) as c:
        c.conf.update({"state.checkpoints.dir": c.path("checkpoints"),
                       "execution.checkpointing.interval": "500ms"})
        # Only the first task managers carry the fault: their replacements
        # (and the restored job) run without it.
        os.environ["FLINC_TEST_FAULT"] = fault
        try:
            c.start()
        finally:
            del os.environ["FLINC_TEST_FAULT"]
        t0 = time.monotonic()
        jid = c.submit(c.plugin(), eo_args(b.bootstrap, topic, rate), parallelism=3)
        seen_dead = set()
        replaced = 0
        state = None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            replaced += replace_dead_taskmanagers(c, seen_dead)
            state = c.job_state(jid)
            if state in cluster.TERMINAL:
                break
            time.sleep(0.2)
        fired = fault_fired(c)
        logs = "".join(d.log_text() for d in c.tms)
        print("%s: the restored sinks wrote %d checkpoint(s) again, found %d committed; %d marker read(s) "
              "waited for an open transaction" %
              (what, logs.count("writing again checkpoint"), logs.count(" was committed ("),
               logs.count("waiting for it to end")), flush=True)
        restored = cluster.counts(c, jid).get("restored", 0)
        ok = chk.ok(state == "FINISHED" and fired >= 1 and replaced >= 1 and restored >= 1,
                    "%s: the sink's process died %d time(s) in the commit window, %d task manager(s) "
                    "replaced, the job restored %d time(s) and ended %s (%.1f s)" %
                    (what, fired, replaced, restored, state, time.monotonic() - t0),
                    "" if state == "FINISHED" else c.exceptions(jid))
    if ok:
        check_topic(chk, b, topic, expected, what)


def case_window(chk, a, b, expected, rate, rounds, seed):
    rng = random.Random(seed)
    print("commit window: %d round(s), seed %d" % (rounds, seed), flush=True)
    for k in range(rounds):
        kind = FAULT_KINDS[k % 2] if rounds > 1 else FAULT_KINDS[rng.randrange(2)]
        n = rng.randint(3, 8)
        sub = rng.choice((0, 1, 2, -1))
        window_round(chk, a, b, expected, rate, k, kind, n, sub)


def case_broker(chk, a, b, expected, rate, kills, outage):
    """kill -9 of the broker mid-run, restarted on its port and folder."""
    with cluster.Cluster(a.build, taskmanagers=3, slots=2, name="kafka-broker", keep=a.keep, checks=chk) as c:
        c.conf.update({"state.checkpoints.dir": c.path("checkpoints"),
                       "execution.checkpointing.interval": "500ms",
                       "restart-strategy.fixed-delay.attempts": 1000,
                       "restart-strategy.fixed-delay.delay": "1s"})
        c.start()
        t0 = time.monotonic()
        jid = c.submit(c.plugin(), eo_args(b.bootstrap, "counts-broker", rate), parallelism=3)
        done = 0
        last = 0
        try:
            for k in range(kills):
                c.wait_running(jid, timeout=180)
                last = cluster.wait_checkpoint_after(c, jid, last, timeout=180)
                b.kill9(0)
                t1 = time.monotonic()
                time.sleep(outage)
                b.restart(0)
                done += 1
                print("broker kill %d: kill -9 after chk-%d, restarted after %.1f s outage (up in %.1f s)" %
                      (k + 1, last, outage, time.monotonic() - t1), flush=True)
        except (cluster.ClusterError, broker.BrokerError) as e:
            chk.fail("broker kill loop (after %d kills): %s" % (done, e))
        chk.ok(done == kills, "the broker killed with kill -9 and restarted %d times while the job ran" % kills)
        try:
            c.wait_job(jid, {"FINISHED"}, timeout=600)
            chk.ok(True, "the job ends FINISHED (%.1f s after submission)" % (time.monotonic() - t0))
        except cluster.ClusterError as e:
            chk.fail("%s; exceptions: %s" % (e, str(c.exceptions(jid))[:2000]))
        cnt = cluster.counts(c, jid)
        print("checkpoints: %s" % cnt, flush=True)
    check_topic(chk, b, "counts-broker", expected, "broker kill -9")


def main():
    ap = cluster.arg_parser(__doc__)
    ap.add_argument("--full", action="store_true", help="the issue's size: 1M lines, 3 kills")
    ap.add_argument("--case", action="append", choices=("local", "cluster", "rescale", "window", "broker", "txn"))
    ap.add_argument("--loop", type=int, default=3, help="rounds of the commit-window case (CI 3, on demand 20)")
    ap.add_argument("--seed", type=int, default=None, help="the window case's random seed (default: from the time)")
    ap.add_argument("--outage", type=float, default=3.0, help="seconds the broker stays down per kill")
    a = ap.parse_args()
    cases = a.case or ["local", "cluster", "rescale", "window", "broker", "txn"]
    seed = a.seed if a.seed is not None else int(time.time()) % 100000
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
            b.create_topic("counts-broker", partitions=3)
            t0 = time.monotonic()
            b.produce("lines", text, timeout=600)
            print("%d lines in topic lines (6 partitions) in %.1f s" % (len(text), time.monotonic() - t0),
                  flush=True)
            if "local" in cases:
                case_local(chk, a, b, expected, tmp)
            if "cluster" in cases:
                case_cluster(chk, a, b, expected, lines, rate, kills)
            if "rescale" in cases:
                case_rescale(chk, a, b, expected, lines, 3000)
            if "window" in cases:
                case_window(chk, a, b, expected, rate, a.loop, seed)
            if "broker" in cases:
                case_broker(chk, a, b, expected, 3000, kills, a.outage)
            if "txn" in cases:
                case_txn(chk, a, b, 1000000 if a.full else 30000, 20000 if a.full else 4000, kills, tmp)
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
