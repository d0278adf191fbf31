#!/usr/bin/env python3
"""fraud_bounded_state - CEP state stays bounded (issue 17, acceptance 6).

fraud.so at -p 2 on 10,000,000 transactions generated inside the job
(`--input datagen`, about 2.8 hours of simulated time over the generator's
users) with a checkpoint every second on the hashmap backend. Every
"Completed checkpoint" line of `flinc local` gives the state size; the
partial matches expire with each pattern's `within`, so after the first
windows the size must stay flat: the median of the last quarter of the
checkpoints at most 1.3 times the median of the second quarter (single
checkpoints vary with the records in flight and the event-time buffers, so
medians, not maxima, are compared). The series and the process's peak RSS
are printed.

Usage: fraud_bounded_state.py --build BUILD [--count N] [--backend B] [--keep]
"""
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cluster  # noqa: E402

DONE = re.compile(r"Completed checkpoint (\d+) .*; state (\d+) bytes")


def main():
    ap = cluster.arg_parser(__doc__)
    ap.add_argument("--count", type=int, default=10000000)
    ap.add_argument("--backend", default="hashmap")
    args = ap.parse_args()
    miss = cluster.missing(args.build, "bin/flinc", "jobs/fraud.so")
    if miss:
        print(miss)
        return 1
    chk = cluster.Checks()
    tmp = tempfile.mkdtemp(prefix="flinc-bounded-")
    try:
        conf = {"state.checkpoints.dir": os.path.join(tmp, "chk"), "execution.checkpointing.interval": "1s",
                "state.backend": args.backend}
        argv = cluster.local_argv(args.build, "fraud", 2, conf) + [
            "--input", "datagen", "--count", str(args.count), "--seed", "3", "--output", os.path.join(tmp, "out")]
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1200)
        log = r.stdout.decode(errors="replace")
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        sizes = [int(m.group(2)) for m in DONE.finditer(log)]
        fin = [ln for ln in log.splitlines() if "FINISHED" in ln]
        chk.ok(r.returncode == 0 and fin, "fraud on %d generated transactions finished (%s)" %
               (args.count, fin[0].split("FINISHED", 1)[1].strip() if fin else "?"), log[-1500:])
        print("  state bytes per checkpoint: %s" % " ".join("%.1fM" % (s / 1e6) for s in sizes))
        print("  peak RSS of flinc local: %.0f MiB" % (rss / 1024))
        n = len(sizes)
        if chk.ok(n >= 8, "%d checkpoints completed (at least 8 to judge)" % n):
            q2 = statistics.median(sizes[n // 4:n // 2])
            q4 = statistics.median(sizes[3 * n // 4:])
            chk.ok(q4 <= 1.3 * q2, "state flat: median of the last quarter %.1f MB vs the second quarter %.1f MB "
                   "(ratio %.2f <= 1.3)" % (q4 / 1e6, q2 / 1e6, q4 / q2))
    finally:
        cluster.keep_or_remove(tmp, args.keep)
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
