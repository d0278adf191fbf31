#!/usr/bin/env python3
"""flinc-gen's seed modes end to end: 100k records of each mode checked
record by record by check_seed_labels.py (every labelled record matches its
rule, no unlabelled one matches any); the same arguments give the same
bytes; usage errors are one line with exit 2; a live stream (--rate) has
event time = wall clock and keeps its rate; records written to a
flinc-kafka-mock topic and read back with kcat equal the file output, keyed
by userId/sensorId with each key in one partition; nexmark events through
the same producer, spread over the partitions.

With --broker: the same Kafka round trip against a real Apache Kafka broker
(tests/peers/kafka/broker.py), 100k transactions into a 6-partition topic."""
import collections
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "peers", "kafka"))
import cluster  # noqa: E402

CHECKER = os.path.join(HERE, "check_seed_labels.py")
KEYS = {"transactions": "userId", "user-events": "userId", "iot": "sensorId"}


def gen(build, mode, *args, timeout=300):
    return subprocess.run([os.path.join(build, "bin", "flinc-gen"), mode] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout)


def kafka_roundtrip(chk, build, folder, bootstrap, topic, mode, count):
    p = gen(build, mode, "--count", str(count), "--seed", "3", "--output", "kafka://%s/%s" % (bootstrap, topic))
    chk.ok(p.returncode == 0, "%s: %d records to kafka://.../%s" % (mode, count, topic), p.stderr.decode()[-300:])
    f = os.path.join(folder, "%s.kafka-ref.json" % mode)
    gen(build, mode, "--count", str(count), "--seed", "3", "--output", f)
    with open(f) as fh:
        want = fh.read().splitlines()
    r = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q",
                        "-f", "%p\\t%k\\t%s\\n"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=300)
    got = [line.split("\t", 2) for line in r.stdout.decode().splitlines()]
    chk.ok(len(got) == count, "%s: kcat reads %d records" % (mode, count), len(got))
    chk.ok(sorted(g[2] for g in got) == sorted(want), "%s: the topic holds the file's records" % mode)
    keyed = all(json.loads(v)[KEYS[mode]] == k for _, k, v in got[:5000])
    chk.ok(keyed, "%s: each record's key is its %s" % (mode, KEYS[mode]))
    parts = collections.defaultdict(set)
    for pa, k, _ in got:
        parts[k].add(pa)
    chk.ok(all(len(s) == 1 for s in parts.values()), "%s: each key in one partition (%d keys over %d partitions)" %
           (mode, len(parts), len(set(pa for pa, _, _ in got))))


def with_mock(chk, build, folder):
    mock = subprocess.Popen([os.path.join(build, "bin", "flinc-kafka-mock"), "--brokers", "1", "--topic",
                             "tx:6", "--topic", "iot:4", "--topic", "ue:3", "--topic", "nx:3"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    try:
        line = mock.stdout.readline().decode().strip()
        chk.ok(line.startswith("bootstrap.servers="), "flinc-kafka-mock started", line)
        bs = line.split("=", 1)[1]
        kafka_roundtrip(chk, build, folder, bs, "tx", "transactions", 20000)
        kafka_roundtrip(chk, build, folder, bs, "iot", "iot", 20000)
        kafka_roundtrip(chk, build, folder, bs, "ue", "user-events", 20000)
        # nexmark through the same producer: no key, spread over the partitions
        p = gen(build, "nexmark", "--events", "30000", "--output", "kafka://%s/nx" % bs)
        r = subprocess.run(["kcat", "-C", "-b", bs, "-t", "nx", "-o", "beginning", "-e", "-q", "-f", "%p\\t%s\\n"],
                           stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=120)
        got = [x.split("\t", 1) for x in r.stdout.decode().splitlines()]
        want = gen(build, "nexmark", "--events", "30000").stdout.decode().splitlines()
        per = collections.Counter(pa for pa, _ in got)
        chk.ok(p.returncode == 0 and sorted(v for _, v in got) == sorted(want),
               "nexmark: 30000 events to kafka, the file's lines")
        chk.ok(len(per) == 3 and min(per.values()) > 5000, "nexmark: spread over the 3 partitions", dict(per))
        p = gen(build, "transactions", "--count", "10", "--output", "kafka://%s" % bs)
        chk.ok(p.returncode == 2 and len(p.stderr.decode().splitlines()) == 1,
               "a kafka address without a topic: one line, exit 2", p.stderr.decode())
    finally:
        mock.terminate()
        mock.wait(timeout=30)


def with_broker(chk, build, folder):
    import broker
    with broker.Broker(nodes=1) as b:
        b.create_topic("transactions", partitions=6)
        kafka_roundtrip(chk, build, folder, b.bootstrap, "transactions", "transactions", 100000)


def main():
    ap = cluster.arg_parser(__doc__)
    ap.add_argument("--broker", action="store_true", help="the real-broker round trip only")
    args = ap.parse_args()
    chk = cluster.Checks()
    with cluster.scratch_dir("flinc-gen-", keep=args.keep, failed=lambda: chk.errors) as folder:
        if args.broker:
            with_broker(chk, args.build, folder)
            return chk.report()
        for mode, extra in (("transactions", ["--fraud-rate", "0.03"]), ("iot", ["--anomaly-rate", "0.05"]),
                            ("user-events", [])):
            f = os.path.join(folder, mode + ".json")
            p = gen(args.build, mode, "--count", "100000", "--seed", "11", "--output", f, *extra)
            chk.ok(p.returncode == 0, "%s: 100000 records written" % mode, p.stderr.decode())
            c = subprocess.run([sys.executable, CHECKER, mode, f], stdout=subprocess.PIPE, timeout=600)
            out = c.stdout.decode()
            print("\n".join("    " + x for x in out.splitlines() if not x.startswith("RESULT")))
            chk.ok(c.returncode == 0, "%s: every label matches its rule, no unlabelled record matches one" % mode)
            q = gen(args.build, mode, "--count", "100000", "--seed", "11", "--output", "-", *extra)
            with open(f, "rb") as fh:
                chk.ok(q.stdout == fh.read(), "%s: same arguments, same bytes (file and stdout)" % mode)
        # a day-time transactions file, so all five fraud kinds are in large numbers
        f = os.path.join(folder, "tx-day.json")
        gen(args.build, "transactions", "--count", "100000", "--event-rate", "20", "--start-time",
            "2026-06-01T03:00:00Z", "--fraud-rate", "0.05", "--output", f)
        c = subprocess.run([sys.executable, CHECKER, "transactions", f], stdout=subprocess.PIPE, timeout=600)
        print("\n".join("    " + x for x in c.stdout.decode().splitlines() if not x.startswith("RESULT")))
        chk.ok(c.returncode == 0, "transactions 03:00-04:23 UTC, 5 % fraud: labels and rules agree")

        for bad in (["--count", "-1"], ["--bogus"], ["--rate", "abc"], ["--fraud-rate", "2"], ["--users"]):
            p = gen(args.build, "transactions", *bad)
            err = p.stderr.decode()
            chk.ok(p.returncode == 2 and len(err.splitlines()) == 1, "%s: one line, exit 2" % " ".join(bad), err)
        for mode in KEYS:
            p = gen(args.build, mode, "--help")
            chk.ok(p.returncode == 0 and p.stdout.startswith(b"usage: flinc-gen " + mode.encode()),
                   "%s --help" % mode)

        # live: 600 records at 300/s take about 2 s, stamped with the wall clock
        f = os.path.join(folder, "live.json")
        t0 = time.time()
        p = gen(args.build, "iot", "--rate", "300", "--count", "600", "--output", f, timeout=60)
        t1 = time.time()
        with open(f) as fh:
            recs = [json.loads(x) for x in fh]
        import check_seed_labels as csl
        ts = [csl.ts_ms(r["timestamp"]) / 1000.0 for r in recs]
        chk.ok(p.returncode == 0 and len(recs) == 600, "live: 600 records")
        chk.ok(1.0 <= t1 - t0 <= 6.0, "live: 600 records at --rate 300 took %.2f s" % (t1 - t0))
        chk.ok(ts and t0 - 1 <= ts[0] and ts[-1] <= t1 + 1, "live: event time within the run's wall-clock time")

        with_mock(chk, args.build, folder)

        # nothing listens on the port: a bounded complaint and exit 1
        t0 = time.time()
        p = gen(args.build, "iot", "--count", "10", "-X", "message.timeout.ms=2000", "--output",
                "kafka://127.0.0.1:%d/t" % cluster.free_port(), timeout=60)
        err = p.stderr.decode().splitlines()
        chk.ok(p.returncode == 1 and 1 <= len(err) <= 2 and "not delivered" in err[-1] and time.time() - t0 < 20,
               "an unreachable broker: exit 1 after message.timeout.ms, at most two lines", err)
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
