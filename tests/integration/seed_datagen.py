#!/usr/bin/env python3
"""seed_datagen - the seed jobs' `--input datagen` (issue 17, "Every job
takes --input ... datagen").

For each seed job (fraud: transactions, aggregation: user-events, anomaly:
iot) the job run at -p 2 with `--input datagen --count N --seed S` commits
exactly what it commits from a file `flinc-gen MODE --count N --seed S`
wrote (the same generator code, byte for byte the same lines).

Restore: fraud.so on 1,500,000 generated transactions with checkpoints
every 200 ms, `flinc local` killed with kill -9 after its third checkpoint
and started again from it: the source regenerates and skips what it had
emitted, and the committed alerts equal the undisturbed run's.

Live: `--rate R` makes event time the wall clock (records released as their
time comes): anomaly's alerts carry the wall-clock time of the run, not the
generator's default 2026-01-01, and the run takes about count / rate s.

Bad input: a count that is not a number, an unknown option or generator,
and `datagen` for a job without a generator each fail the build with a
one-line message naming the problem.

Usage: seed_datagen.py --build BUILD [--count N] [--crash-count N] [--keep]
"""
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cluster  # noqa: E402
import seed_common  # noqa: E402

JOBS = [("fraud", "transactions"), ("aggregation", "user-events"), ("anomaly", "iot")]


def lines_of(out):
    return sorted(str(sorted(r.items())) for r in seed_common.read_committed(out))


def main():
    ap = cluster.arg_parser(__doc__)
    ap.add_argument("--count", type=int, default=100000)
    ap.add_argument("--crash-count", type=int, default=1500000, help="transactions of the kill -9 case")
    args = ap.parse_args()
    miss = cluster.missing(args.build, "bin/flinc", "bin/flinc-gen", "jobs/fraud.so")
    if miss:
        print(miss)
        return 1
    chk = cluster.Checks()
    tmp = tempfile.mkdtemp(prefix="flinc-datagen-")
    gen = os.path.join(args.build, "bin", "flinc-gen")
    try:
        for job, mode in JOBS:
            f = os.path.join(tmp, mode + ".json")
            subprocess.run([gen, mode, "--count", str(args.count), "--seed", "11", "--output", f], check=True)
            rc1, log1, _ = seed_common.run_job(args.build, job, f, os.path.join(tmp, job + "-file"), 2)
            argv = cluster.local_argv(args.build, job, 2) + [
                "--input", "datagen", "--count", str(args.count), "--seed", "11",
                "--output", os.path.join(tmp, job + "-datagen")]
            r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
            a, b = lines_of(os.path.join(tmp, job + "-file")), lines_of(os.path.join(tmp, job + "-datagen"))
            chk.ok(rc1 == 0 and r.returncode == 0 and a == b and len(a) > 0,
                   "%s: --input datagen commits what the flinc-gen %s file gives (%d records)" % (job, mode, len(a)),
                   "%d vs %d records; %s" % (len(a), len(b), r.stdout.decode(errors="replace")[-800:]))

        # crash and restore mid-stream
        key = lambda a: (a["alertType"], a["userId"], a["transactionIds"][0])  # noqa: E731
        inp = ["datagen", "--count", str(args.crash_count), "--seed", "5"]
        argv = cluster.local_argv(args.build, "fraud", 2) + ["--input"] + inp + [
            "--output", os.path.join(tmp, "undisturbed")]
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
        undisturbed = seed_common.read_committed(os.path.join(tmp, "undisturbed"))
        chk.ok(r.returncode == 0 and undisturbed, "fraud: undisturbed run on %d generated transactions: %d alerts" %
               (args.crash_count, len(undisturbed)), r.stdout.decode(errors="replace")[-800:])
        seed_common.restore_case(chk, args.build, "fraud", tmp, inp, undisturbed, "hashmap", key, rate=None)

        # live: event time = wall clock (iot: every step is one reading, no
        # sessions or patterns to drain at the end)
        t0 = time.time()
        out = os.path.join(tmp, "live")
        argv = cluster.local_argv(args.build, "anomaly", 1) + [
            "--input", "datagen:iot?anomaly-rate=0.05&count=60000", "--rate", "20000", "--output", out]
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        took = time.time() - t0
        recs = seed_common.read_committed(out)
        stamps = [seed_common.parse_ts(x["timestamp"]) for x in recs]
        chk.ok(r.returncode == 0 and stamps and all(t0 * 1000 - 1000 <= s <= time.time() * 1000 for s in stamps),
               "live: %d alerts, all stamped with the wall clock of the run" % len(stamps),
               (r.stdout.decode(errors="replace")[-500:], stamps[:3]))
        chk.ok(2.5 <= took <= 30, "live: 60000 readings at 20000/s took %.1f s (paced)" % took)

        # bad input
        bad = [("fraud", ["--input", "datagen", "--count", "x"], "bad value 'x' for count"),
               ("anomaly", ["--input", "datagen:iot?bogus=1"], "unknown option 'bogus'"),
               ("fraud", ["--input", "datagen:stocks"], "unknown generator 'stocks'"),
               ("wordcount", ["--input", "datagen"], "has no built-in generator"),
               ("fraud", ["--input", "datagen:transactions?users=3&event-rate=1000"], "is too few")]
        for job, a, want in bad:
            argv = cluster.local_argv(args.build, job, 1) + a
            r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            text = r.stdout.decode(errors="replace")
            chk.ok(r.returncode != 0 and want in text, "%s %s: refused (%s)" % (job, " ".join(a), want), text[-300:])
    finally:
        cluster.keep_or_remove(tmp, args.keep)
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
