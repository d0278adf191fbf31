#!/usr/bin/env python3
"""wordcount with each key hash, alternated: `flinc local -p 1 wordcount.so
--output=` over engine_vs_loop.py's input, with -D pipeline.key-hash=xxh3
and =murmur64a in turn (the order swapped every round, so a change in the
machine's load hits both), printing every run and the median of each.

Usage: key_hash_wordcount.py [--build DIR] [--lines N] [--rounds N]
"""
import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engine_vs_loop  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--lines", type=int, default=2_000_000)
    ap.add_argument("--rounds", type=int, default=6)
    a = ap.parse_args()
    res = {"xxh3": [], "murmur64a": []}
    with tempfile.TemporaryDirectory() as tmp:
        text = os.path.join(tmp, "words.txt")
        engine_vs_loop.make_text(text, a.lines)
        for r in range(a.rounds):
            for kh in ("xxh3", "murmur64a") if r % 2 == 0 else ("murmur64a", "xxh3"):
                v = engine_vs_loop.run_flinc(a.build, "wordcount.so", ["--input", text, "--output="],
                                             ["pipeline.key-hash=" + kh])[0]
                res[kh].append(v)
                print("round %d %-10s %.0f lines/s" % (r, kh, v), flush=True)
    for kh, v in res.items():
        print("%-10s median %.0f lines/s (%s)" % (kh, statistics.median(v), " ".join("%.0f" % x for x in v)))


if __name__ == "__main__":
    main()
