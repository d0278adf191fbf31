#!/usr/bin/env python3
"""kafka_source_bench - the Kafka connector's throughput on a real broker
(docs/BENCHMARKS.md, "Kafka connector"). Python 3 standard library only.

Starts one Apache Kafka broker (tests/peers/kafka/broker.py), writes
`flinc-gen nexmark --events N` (about 200 bytes a line) into a topic with P
partitions once (kcat -P), then measures, alternating the runs and
repeating each --repeat times (the median is printed):

  source   flinc's Kafka source alone: `flinc local -p P passthrough.so
           --input 'kafka://B/T?bounded=true&start=earliest'` (no --output:
           every record is read, handed to the sink chained to the source and
           discarded), against `kcat -C -b B -t T -o beginning -e -q` into
           /dev/null reading the same topic in the same run. Records/s on
           the wall clock (flinc: the "FINISHED in S s" of the job; kcat: the
           process) and records per CPU-second (user + system of the whole
           process from wait4: the goal is flinc's source at least as fast
           as kcat per core).
  sink     the same lines from the file to a new topic through flinc's Kafka
           sink, `delivery=at-least-once` and `delivery=exactly-once` (both
           with a checkpoint every --interval), and `kcat -P` writing the
           file as a reference; every output topic is read back with
           read_committed and must hold exactly N records.

  tests/bench/kafka_source_bench.py [--build build] [--events 2000000]
      [--partitions 2] [--repeat 3] [--interval 1s] [--only source|sink]

Prints one line per run and a Markdown table at the end. Exit 0 when every
run finished and every count matched, 1 otherwise.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "peers", "kafka"))
import broker  # noqa: E402

FINISHED = "FINISHED in "


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def measured(cmd, stdin=None, stdout=None, timeout=1800):
    """Runs cmd; returns (exit code, wall s, CPU s of the child, its output
    text when stdout is None)."""
    out = stdout if stdout is not None else subprocess.PIPE
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=stdin if stdin is not None else subprocess.DEVNULL, stdout=out,
                         stderr=subprocess.STDOUT if stdout is None else subprocess.PIPE)
    text = b""
    if stdout is None:
        text = p.stdout.read()
    else:
        text = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, wall, ru.ru_utime + ru.ru_stime, text.decode(errors="replace")


def flinc_seconds(text):
    """(seconds, source records) from flinc local's FINISHED line, or None."""
    i = text.find(FINISHED)
    if i < 0:
        return None
    parts = text[i + len(FINISHED):].split()
    try:
        return float(parts[0]), int(parts[2])
    except (IndexError, ValueError):
        return None


def count_records(b, topic):
    """Committed records of topic (read_committed), or -1 on an error."""
    p = subprocess.run(["kcat", "-C", "-b", b.bootstrap, "-t", topic, "-o", "beginning", "-e", "-q",
                        "-X", "isolation.level=read_committed", "-f", "\\n"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=1800)
    if p.returncode != 0:
        log("kcat -C %s: %s" % (topic, p.stderr.decode(errors="replace").strip()))
        return -1
    return p.stdout.count(b"\n")


class Runs:
    def __init__(self):
        self.rows = {}  # name -> list of (records/s, records per CPU-s, wall s, CPU s)
        self.failed = False

    def add(self, name, n, secs, cpu, wall):
        rate = n / secs if secs else 0
        per_cpu = n / cpu if cpu else 0
        self.rows.setdefault(name, []).append((rate, per_cpu, secs, cpu))
        print("%-28s %10.0f rec/s %10.0f rec/CPU-s  (%.2f s, CPU %.2f s, process %.2f s)" % (
            name, rate, per_cpu, secs, cpu, wall), flush=True)

    def fail(self, msg):
        self.failed = True
        print("FAILED: " + msg, flush=True)

    def median(self, name, i):
        v = [r[i] for r in self.rows.get(name, [])]
        return statistics.median(v) if v else 0

    def table(self, n, partitions, repeat):
        lines = ["| run | records/s | records per CPU-second | CPU s |",
                 "|---|---|---|---|"]
        for name in self.rows:
            lines.append("| %s | %s | %s | %.2f |" % (name, "{:,.0f}".format(self.median(name, 0)),
                                                      "{:,.0f}".format(self.median(name, 1)),
                                                      self.median(name, 3)))
        head = "%d records (Nexmark lines, ~200 bytes), %d partitions, one broker on loopback, median of %d" % (
            n, partitions, repeat)
        return head + "\n\n" + "\n".join(lines)


def bench_source(a, b, topic, n, runs):
    src = "kafka://%s/%s?bounded=true&start=earliest" % (b.bootstrap, topic)
    flinc = os.path.join(a.build, "bin", "flinc")
    plugin = os.path.join(a.build, "tests", "plugins", "passthrough.so")
    for _ in range(a.repeat):
        with open(os.devnull, "wb") as null:
            rc, wall, cpu, err = measured(["kcat", "-C", "-b", b.bootstrap, "-t", topic, "-o", "beginning", "-e",
                                           "-q"], stdout=null)
        if rc != 0:
            runs.fail("kcat -C: %s" % err.strip())
        else:
            runs.add("kcat -C (source)", n, wall, cpu, wall)
        for p in sorted({1, a.partitions}):
            rc, wall, cpu, text = measured([flinc, "local", "-p", str(p), plugin, "--input", src])
            f = flinc_seconds(text)
            if rc != 0 or not f:
                runs.fail("flinc source p=%d: exit %d: %s" % (p, rc, text.strip()[-600:]))
            elif f[1] != n:
                runs.fail("flinc source p=%d read %d records, not %d" % (p, f[1], n))
            else:
                runs.add("flinc source p=%d" % p, n, f[0], cpu, wall)


def bench_sink(a, b, path, n, runs, work):
    flinc = os.path.join(a.build, "bin", "flinc")
    plugin = os.path.join(a.build, "tests", "plugins", "passthrough.so")
    k = 0
    for _ in range(a.repeat):
        k += 1
        topic = "kcat-out-%d" % k
        with open(path, "rb") as f:
            rc, wall, cpu, err = measured(["kcat", "-P", "-b", b.bootstrap, "-t", topic, "-X", "acks=all",
                                           "-X", "linger.ms=5"], stdin=f, stdout=subprocess.DEVNULL)
        if rc != 0:
            runs.fail("kcat -P: %s" % err.strip())
        else:
            runs.add("kcat -P (sink)", n, wall, cpu, wall)
        for delivery in ("at-least-once", "exactly-once"):
            topic = "flinc-%s-%d" % (delivery, k)
            chk = os.path.join(work, "chk-%s-%d" % (delivery, k))
            cmd = [flinc, "local", "-p", str(a.partitions),
                   "-D", "execution.checkpointing.interval=" + a.interval,
                   "-D", "execution.checkpointing.mode=EXACTLY_ONCE", "-D", "state.checkpoints.dir=" + chk,
                   plugin, "--input", path,
                   "--output", "kafka://%s/%s?delivery=%s" % (b.bootstrap, topic, delivery)]
            rc, wall, cpu, text = measured(cmd)
            shutil.rmtree(chk, ignore_errors=True)
            f = flinc_seconds(text)
            if rc != 0 or not f:
                runs.fail("flinc sink %s: exit %d: %s" % (delivery, rc, text.strip()[-600:]))
                continue
            got = count_records(b, topic)
            if got != n:
                runs.fail("flinc sink %s: the topic holds %d committed records, not %d" % (delivery, got, n))
                continue
            runs.add("flinc sink %s" % delivery, n, f[0], cpu, wall)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--events", type=int, default=2_000_000, help="records in the topic (default 2,000,000)")
    ap.add_argument("--partitions", type=int, default=2, help="partitions of the topic and flinc's -p (default 2)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--interval", default="1s", help="checkpoint interval of the sink runs (default 1s)")
    ap.add_argument("--only", choices=["source", "sink"])
    a = ap.parse_args()
    a.build = os.path.abspath(a.build)
    for tool in ("bin/flinc", "bin/flinc-gen", "tests/plugins/passthrough.so"):
        if not os.path.exists(os.path.join(a.build, tool)):
            print("kafka_source_bench: %s not built in %s" % (tool, a.build), file=sys.stderr)
            return 1
    if a.events < 1 or a.partitions < 1 or a.repeat < 1:
        ap.error("--events, --partitions and --repeat must be >= 1")

    work = tempfile.mkdtemp(prefix="flinc-kafka-bench-")
    runs = Runs()
    try:
        path = os.path.join(work, "nexmark.txt")
        r = subprocess.run([os.path.join(a.build, "bin", "flinc-gen"), "nexmark", "--events", str(a.events),
                            "--seed", "42", "--output", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            print("flinc-gen failed: %s" % r.stdout.decode(errors="replace"), file=sys.stderr)
            return 1
        log("== %d lines, %.0f MB" % (a.events, os.path.getsize(path) / 1e6))
        with broker.Broker(nodes=1, workdir=os.path.join(work, "broker"), log=log) as b:
            if a.only != "sink":
                topic = "bench-in"
                b.create_topic(topic, partitions=a.partitions)
                t0 = time.monotonic()
                with open(path, "rb") as f:
                    r = subprocess.run(["kcat", "-P", "-b", b.bootstrap, "-t", topic, "-X", "linger.ms=20",
                                        "-X", "sticky.partitioning.linger.ms=0", "-X", "batch.num.messages=10000"],
                                       stdin=f, stderr=subprocess.PIPE)
                if r.returncode != 0:
                    print("loading the topic failed: %s" % r.stderr.decode(errors="replace"), file=sys.stderr)
                    return 1
                log("== loaded in %.1f s" % (time.monotonic() - t0))
                bench_source(a, b, topic, a.events, runs)
            if a.only != "source":
                bench_sink(a, b, path, a.events, runs, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(runs.table(a.events, a.partitions, a.repeat))
    return 1 if runs.failed else 0


if __name__ == "__main__":
    sys.exit(main())
