#!/usr/bin/env python3
"""wordcount_exactly_once - run wordcount.so with `flinc local` on generated
text and check that the committed output holds, for every word, exactly the
counts 1..n once each (n counted here, independently, by the same rule).

Cases:
  single  one 200,000-line file at -p 2
  folder  a folder of 3 files (plus a hidden one that must be ignored) at -p 3

Usage: wordcount_exactly_once.py --build BUILD_DIR [--keep] [--case NAME]
Exit status 0 when every case passes, 1 otherwise.
"""

import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_counts  # noqa: E402
import cluster  # noqa: E402
from cluster import text_lines, vocabulary, write_text  # noqa: E402


def special_lines():
    """Boundary words: exactly FLINC_KEY_MAX bytes (kept) and longer (rejected)."""
    return ["edge " + "k" * 256 + " edge",
            "Long " + "x" * 300 + " LONG words are rejected, " + "Y" * 257 + "!"]


def run_job(build, par, inp, out, timeout=240):
    """`flinc local -p par wordcount.so --input inp --output out`: [] when it
    exits 0, else [what went wrong]."""
    why = cluster.missing(build, "bin/flinc", "jobs/wordcount.so")
    if why:
        return [why]
    cmd = cluster.local_argv(build, "wordcount", par) + ["--input", inp, "--output", out]
    t0 = time.monotonic()
    res, why = cluster.run_cmd(cmd, timeout)
    if res is not None:
        print("  %s: exit %d in %.1fs" % (" ".join(cmd), res.returncode, time.monotonic() - t0))
    return [why] if why else []


def case_single(build, tmp):
    rng = random.Random(20240501)
    vocab = vocabulary(rng)
    lines = text_lines(rng, vocab, 200000 - 2)
    lines[1000:1000] = special_lines()
    lines[-1] = "the very last line has no newline Zebra"
    inp = os.path.join(tmp, "single.txt")
    write_text(inp, lines, crlf_every=97, final_newline=False)
    out = os.path.join(tmp, "out-single")
    return run_and_check(build, 2, inp, out)


def case_folder(build, tmp):
    rng = random.Random(77)
    vocab = vocabulary(rng, 2000)
    folder = os.path.join(tmp, "in-folder")
    os.mkdir(folder)
    sizes = [40000, 5, 25000]
    for i, n in enumerate(sizes):
        lines = text_lines(rng, vocab, n)
        # the first file ends without a newline: the next file still starts a line
        write_text(os.path.join(folder, "part-%d.txt" % i), lines, crlf_every=(13 if i == 2 else 0),
                   final_newline=(i != 0))
    write_text(os.path.join(folder, ".hidden.txt"), ["hiddenword must not be counted"])
    out = os.path.join(tmp, "out-folder")
    return run_and_check(build, 3, folder, out)


def run_and_check(build, par, inp, out):
    errors = run_job(build, par, inp, out)
    if errors:
        return errors
    expected = check_counts.expected_counts([inp])
    errors = check_counts.check_output(expected, out)
    committed = cluster.committed_files(out)
    print("  %d distinct words, %d occurrences, %d committed files" %
          (len(expected), sum(expected.values()), len(committed)))
    if not committed and expected:
        errors.append("no committed output file")
    return errors


CASES = {"single": case_single, "folder": case_folder}


def main():
    ap = cluster.arg_parser(__doc__)
    ap.add_argument("--case", choices=sorted(CASES), action="append")
    args = ap.parse_args()
    failed = False
    with cluster.scratch_dir("flinc-wordcount-", args.keep, lambda: failed) as tmp:
        for name in args.case or list(CASES):
            print("case %s" % name)
            errors = CASES[name](args.build, tmp)
            for e in errors:
                print("  FAIL: %s" % e)
            print("  %s" % ("FAILED" if errors else "ok"))
            failed |= bool(errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
