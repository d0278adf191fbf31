#!/usr/bin/env python3
"""gen_bench - how fast flinc-gen writes the seed streams (docs/BENCHMARKS.md).

    tests/bench/gen_bench.py --build build [--count N] [--kafka-count N] [--repeat R]
                             [--no-broker] [--dir DIR]

For each mode (transactions, user-events, iot): N records to a file in DIR
(default a temporary folder under /tmp) and to /dev/null, the median of R
runs: records/s and MB/s of wall-clock time, and CPU seconds (user+sys) of
flinc-gen. Then transactions to Kafka: to a flinc-kafka-mock topic and (unless
--no-broker) to a real Apache Kafka broker (tests/peers/kafka/broker.py, one
node, 6 partitions, acks=all, idempotent), timed until every record is
acknowledged (flinc-gen exits after rd_kafka_flush), and read back with kcat
to count them. Python 3 stdlib only.
"""
import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "peers", "kafka"))


def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(argv):
    c0, t0 = cpu(), time.perf_counter()
    p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t1, c1 = time.perf_counter(), cpu()
    if p.returncode != 0:
        raise SystemExit("failed: %s: %s" % (" ".join(argv), p.stderr.decode()[-500:]))
    return t1 - t0, c1 - c0


def measure(argv, out, repeat):
    runs = []
    size = 0
    for _ in range(repeat):
        wall, cpus = run(argv + ["--output", out])
        if out != "/dev/null":
            size = os.path.getsize(out)
        runs.append((wall, cpus))
    wall = statistics.median(r[0] for r in runs)
    cpus = statistics.median(r[1] for r in runs)
    return wall, cpus, size


def count_topic(bootstrap, topic, partitions=6):
    """Records in the topic: the sum of the partitions' end offsets (the
    mock trims old segments, so reading it back would count fewer)."""
    argv = ["kcat", "-Q", "-b", bootstrap] + sum((["-t", "%s:%d:-1" % (topic, p)] for p in range(partitions)), [])
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                       timeout=120)
    return sum(int(line.rsplit(" ", 1)[1]) for line in p.stdout.decode().splitlines() if " offset " in line)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True, type=os.path.abspath)
    ap.add_argument("--count", type=int, default=5000000)
    ap.add_argument("--kafka-count", type=int, default=1000000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-broker", action="store_true")
    ap.add_argument("--dir", default=None)
    a = ap.parse_args()
    exe = os.path.join(a.build, "bin", "flinc-gen")
    folder = a.dir or tempfile.mkdtemp(prefix="flinc-gen-bench-")
    print("flinc-gen %s records per run, median of %d; load average before: %s" %
          (a.count, a.repeat, " ".join("%.2f" % x for x in os.getloadavg())))
    print("%-14s %-10s %12s %9s %9s %12s %8s" % ("mode", "output", "records/s", "MB/s", "wall s", "records/cpu-s",
                                                 "B/rec"))
    sizes = {}
    try:
        for mode in ("transactions", "user-events", "iot"):
            argv = [exe, mode, "--count", str(a.count)]
            f = os.path.join(folder, mode + ".json")
            wall, cpus, size = measure(argv, f, a.repeat)
            sizes[mode] = size
            print("%-14s %-10s %12.0f %9.1f %9.2f %12.0f %8.0f" % (mode, "file", a.count / wall, size / wall / 1e6,
                                                                 wall, a.count / cpus, size / a.count))
            os.unlink(f)
            wall, cpus, _ = measure(argv, "/dev/null", a.repeat)
            print("%-14s %-10s %12.0f %9.1f %9.2f %12.0f %8.0f" % (mode, "/dev/null", a.count / wall,
                                                                 size / wall / 1e6, wall, a.count / cpus,
                                                                 size / a.count))
        n = a.kafka_count
        per = sizes["transactions"] / a.count
        mock = subprocess.Popen([os.path.join(a.build, "bin", "flinc-kafka-mock"), "--brokers", "1", "--topic",
                                 "tx:6"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            bs = mock.stdout.readline().decode().strip().split("=", 1)[1]
            wall, cpus = run([exe, "transactions", "--count", str(n), "--output", "kafka://%s/tx" % bs])
            got = count_topic(bs, "tx")
            print("%-14s %-10s %12.0f %9.1f %9.2f %12.0f %8.0f   (end offsets sum %d)" %
                  ("transactions", "kafka-mock", n / wall, n * per / wall / 1e6, wall, n / cpus, per, got))
        finally:
            mock.terminate()
            mock.wait()
        if not a.no_broker:
            import broker
            with broker.Broker(nodes=1, log=lambda *x: None) as b:
                b.create_topic("tx", partitions=6)
                wall, cpus = run([exe, "transactions", "--count", str(n), "--output",
                                  "kafka://%s/tx" % b.bootstrap])
                got = count_topic(b.bootstrap, "tx")
                print("%-14s %-10s %12.0f %9.1f %9.2f %12.0f %8.0f   (end offsets sum %d)" %
                      ("transactions", "broker", n / wall, n * per / wall / 1e6, wall, n / cpus, per, got))
    finally:
        if not a.dir:
            shutil.rmtree(folder, ignore_errors=True)
    print("load average after: %s" % " ".join("%.2f" % x for x in os.getloadavg()))


if __name__ == "__main__":
    main()
