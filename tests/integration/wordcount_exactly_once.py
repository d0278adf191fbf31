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

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_counts  # noqa: E402

SEPARATORS = [" ", " ", " ", " ", ", ", ". ", "; ", " - ", "'", "\t", "_", "/", "(", ") ",
              "!", "?", "\"", " \u00e9 ", "\u00fc", "\u2014", "  "]


def vocabulary(rng, n=3000):
    letters = "abcdefghijklmnopqrstuvwxyz"
    digits = "0123456789"
    words = set()
    while len(words) < n:
        k = rng.choice((1, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 8, 9, 10, 12))
        pool = letters + digits if rng.random() < 0.1 else letters
        words.add("".join(rng.choice(pool) for _ in range(k)))
    words = sorted(words)
    rng.shuffle(words)
    return words


def mixed_case(rng, w):
    r = rng.random()
    if r < 0.70:
        return w
    if r < 0.85:
        return w.capitalize()
    if r < 0.92:
        return w.upper()
    return "".join(c.upper() if rng.random() < 0.5 else c for c in w)


def text_lines(rng, vocab, nlines):
    """Lines of pseudo-random text (str, without line ends)."""
    # Zipf-like: a few words are very frequent, most are rare.
    cum, acc = [], 0.0
    for i in range(len(vocab)):
        acc += 1.0 / (i + 1) ** 0.9
        cum.append(acc)
    lines = []
    for _ in range(nlines):
        r = rng.random()
        if r < 0.03:
            lines.append("")
            continue
        if r < 0.04:
            lines.append(rng.choice(["...", " \t ", "--", "\u00e9\u00e8", "  ,  "]))
            continue
        k = rng.randint(1, 14)
        ws = rng.choices(vocab, cum_weights=cum, k=k)
        parts = []
        for w in ws:
            parts.append(mixed_case(rng, w))
            parts.append(rng.choice(SEPARATORS))
        if rng.random() < 0.3:
            parts.insert(0, rng.choice(SEPARATORS))
        if rng.random() < 0.05:
            parts.append(str(rng.randint(0, 100000)))
        lines.append("".join(parts))
    return lines


def write_text(path, lines, crlf_every=0, final_newline=True):
    """Write lines as UTF-8; every crlf_every-th line ends with \\r\\n."""
    with open(path, "wb") as f:
        for i, line in enumerate(lines):
            f.write(line.encode("utf-8"))
            last = i == len(lines) - 1
            if last and not final_newline:
                break
            f.write(b"\r\n" if crlf_every and i % crlf_every == 0 else b"\n")


def special_lines():
    """Boundary words: exactly FLINC_KEY_MAX bytes (kept) and longer (rejected)."""
    return ["edge " + "k" * 256 + " edge",
            "Long " + "x" * 300 + " LONG words are rejected, " + "Y" * 257 + "!"]


def run_job(build, par, inp, out, timeout=240):
    flinc = os.path.join(build, "bin", "flinc")
    job = os.path.join(build, "jobs", "wordcount.so")
    for p in (flinc, job):
        if not os.path.exists(p):
            return ["%s is missing: build the tree first" % p]
    cmd = [flinc, "local", "-p", str(par), job, "--input", inp, "--output", out]
    t0 = time.monotonic()
    try:
        res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return ["%s timed out after %ds; stderr:\n%s" % (" ".join(cmd), timeout,
                                                          (e.stderr or b"").decode(errors="replace")[-4000:])]
    took = time.monotonic() - t0
    print("  %s: exit %d in %.1fs" % (" ".join(cmd), res.returncode, took))
    if res.returncode != 0:
        return ["exit status %d; stderr:\n%s" % (res.returncode, res.stderr.decode(errors="replace")[-4000:])]
    return []


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
    committed = [n for n in os.listdir(out) if not n.startswith(".")]
    print("  %d distinct words, %d occurrences, %d committed files" %
          (len(expected), sum(expected.values()), len(committed)))
    if not committed and expected:
        errors.append("no committed output file")
    return errors


CASES = {"single": case_single, "folder": case_folder}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True, help="the CMake build folder")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--case", choices=sorted(CASES), action="append")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    tmp = tempfile.mkdtemp(prefix="flinc-wordcount-")
    failed = False
    try:
        for name in args.case or list(CASES):
            print("case %s" % name)
            errors = CASES[name](build, tmp)
            for e in errors:
                print("  FAIL: %s" % e)
            print("  %s" % ("FAILED" if errors else "ok"))
            failed |= bool(errors)
    finally:
        if args.keep or failed:
            print("files kept in %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
