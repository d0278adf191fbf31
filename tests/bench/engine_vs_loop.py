#!/usr/bin/env python3
"""Per-core speed of the engine against hand-written single-threaded C loops.

For wordcount and Nexmark q0, q1, q2, q5, q7 (more with --queries) it runs
`flinc local -p 1 JOB` (one thread: the whole job is one chain) and the
hand-written loop doing the same work on the same input, each --repeat times,
and prints one line per job with the median events/s of each and their ratio:

  JOB  flinc=X ev/s  loop=Y ev/s  loop/flinc=R  (events=N)

Events are input records: text lines for wordcount, Nexmark events for the
queries. Nothing is written out (discard sinks), so both sides measure the
processing. Usage: engine_vs_loop.py [--build DIR] [--events N] [--lines N]
[--queries 0,1,2,5,7] [--repeat 3] [-D KEY=VALUE]...
(-D goes to every `flinc local` run, e.g. -D pipeline.key-hash=murmur64a to
time the key hash of jobs restored from snapshots taken before XXH3.)
"""
import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile

FINISHED = re.compile(r"FINISHED in ([0-9.]+) s: (\d+) source records")


def run_flinc(build, job, args, conf=()):
    cmd = [os.path.join(build, "bin", "flinc"), "local", "-p", "1"]
    for kv in conf:
        cmd += ["-D", kv]
    cmd += [os.path.join(build, "jobs", job)] + args
    p = subprocess.run(cmd, capture_output=True, text=True)
    m = FINISHED.search(p.stderr)
    if p.returncode != 0 or not m:
        sys.exit("flinc failed: %s\n%s" % (" ".join(cmd), p.stderr))
    secs, n = float(m.group(1)), int(m.group(2))
    return n / secs, n


def run_loop(cmd, key):
    p = subprocess.run(cmd, capture_output=True, text=True)
    m = re.search(key + r"=([0-9.]+)", p.stdout)
    if p.returncode != 0 or not m:
        sys.exit("baseline failed: %s\n%s%s" % (" ".join(cmd), p.stdout, p.stderr))
    return float(m.group(1))


def make_text(path, lines, seed=7):
    rnd = random.Random(seed)
    vocab = ["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 10)))
             for _ in range(5000)]
    weights = [1.0 / (i + 1) for i in range(len(vocab))]
    with open(path, "w") as f:
        for _ in range(lines):
            words = rnd.choices(vocab, weights, k=rnd.randint(4, 12))
            f.write(" ".join(w.capitalize() if rnd.random() < 0.1 else w for w in words) + ".\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--events", type=int, default=20_000_000, help="Nexmark events per run")
    ap.add_argument("--lines", type=int, default=2_000_000, help="wordcount input lines")
    ap.add_argument("--queries", default="0,1,2,5,7")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("-D", dest="conf", action="append", default=[], metavar="KEY=VALUE",
                    help="configuration of every flinc run")
    a = ap.parse_args()
    bench = os.path.join(a.build, "bench")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        text = os.path.join(tmp, "words.txt")
        make_text(text, a.lines)
        f = [run_flinc(a.build, "wordcount.so", ["--input", text, "--output="], a.conf)[0] for _ in range(a.repeat)]
        l = [run_loop([os.path.join(bench, "wordcount_baseline"), text], "lines_per_s") for _ in range(a.repeat)]
        rows.append(("wordcount", statistics.median(f), statistics.median(l), a.lines))
    for q in [int(x) for x in a.queries.split(",") if x]:
        args = ["--query", str(q), "--events", str(a.events)]
        f = [run_flinc(a.build, "nexmark.so", args, a.conf)[0] for _ in range(a.repeat)]
        l = [run_loop([os.path.join(bench, "nexmark_baseline"), "--query", str(q), "--events", str(a.events)],
                      "rate") for _ in range(a.repeat)]
        rows.append(("nexmark-q%d" % q, statistics.median(f), statistics.median(l), a.events))
    for name, fl, lo, n in rows:
        print("%-12s flinc=%.0f ev/s  loop=%.0f ev/s  loop/flinc=%.2f  (events=%d)" % (name, fl, lo, lo / fl, n))


if __name__ == "__main__":
    main()
