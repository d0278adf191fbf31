#!/usr/bin/env python3
"""Golden tests of window and timer semantics.

Each case runs the golden test job (tests/golden/golden_jobs.c, built as
BUILD/tests/golden.so) through `flinc local -p 1` with a watermark after
every record (pipeline.auto-watermark-interval=0), in two layouts:

  chained   everything at parallelism 1: the whole job is one chain of
            direct calls in one task
  split     the keyed operators at parallelism 2 (--keyed-parallelism 2):
            records and watermarks reach them through the hash exchange

and compares, for each run:

  - the committed output lines, sorted, with cases/BASE.expected
  - the late side output (DIR/late), sorted, with cases/BASE.late when the
    case has a late output
  - the number of records the windows dropped as late (from the job's
    FINISHED log line) with the number given below

BASE is the case's input family: variants of one case (other window function
kinds, POD or msgpack accumulators) read the same cases/BASE.input and must
give the same output. Every expected file is written by hand from Flink's
semantics; the reasoning is in the comments at the top of the input file.

Usage: run_golden.py --build BUILD_DIR [--jobs N] [--keep] [--layout L] [CASE...]
"""
import argparse
import concurrent.futures
import difflib
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CASES_DIR = os.path.join(HERE, "cases")

# case name -> (input/expected family, has a late output, late records dropped)
CASES = {
    "tumbling_ooo": ("tumbling_ooo", False, 0),
    "tumbling_ooo_reduce": ("tumbling_ooo", False, 0),
    "tumbling_ooo_process": ("tumbling_ooo", False, 0),
    "tumbling_ooo_codec": ("tumbling_ooo", False, 0),
    "tumbling_offset": ("tumbling_offset", False, 0),
    "late_dropped": ("late", False, 3),
    "late_side": ("late", True, 0),
    "lateness": ("lateness", True, 0),
    "lateness_reduce": ("lateness", True, 0),
    "lateness_process": ("lateness", True, 0),
    "lateness_codec": ("lateness", True, 0),
    "sliding": ("sliding", False, 0),
    "sliding_nomerge": ("sliding", False, 0),
    "sliding_reduce": ("sliding", False, 0),
    "sliding_process": ("sliding", False, 0),
    "sliding_lateness": ("sliding_lateness", True, 0),
    "sliding_lateness_nomerge": ("sliding_lateness", True, 0),
    "sliding_lateness_codec": ("sliding_lateness", True, 0),
    "sliding_lateness_process": ("sliding_lateness", True, 0),
    "session": ("session", True, 0),
    "session_reduce": ("session", True, 0),
    "session_process": ("session", True, 0),
    "session_codec": ("session", True, 0),
    "session_lateness": ("session_lateness", True, 0),
    "session_lateness_process": ("session_lateness", True, 0),
    "timers": ("timers", False, 0),
    "eoi": ("eoi", False, 0),
    "idle": ("idle", False, 0),
    "idle_off": ("idle", False, 0),
    "proc_session": ("proc_session", False, 0),
    "proc_session_process": ("proc_session", False, 0),
}

# Expected output of a case whose output differs from its input family's.
EXPECTED_OVERRIDE = {"idle_off": "idle_off"}

# Extra job arguments per layout. The idle cases have their own layout (a
# source of parallelism 2, the window behind an exchange) and run once.
LAYOUTS = {"chained": [], "split": ["--keyed-parallelism", "2"]}
SINGLE_LAYOUT = {"idle", "idle_off"}


def read_lines(path):
    """Lines of a hand-written file without blank lines and # comments."""
    out = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.strip() and not line.lstrip().startswith("#"):
                out.append(line.strip())
    return out


def committed_lines(folder):
    """Every line of the committed part files (names not starting with a dot)."""
    lines = []
    if not os.path.isdir(folder):
        return lines
    for name in sorted(os.listdir(folder)):
        p = os.path.join(folder, name)
        if name.startswith(".") or not os.path.isfile(p):
            continue
        with open(p) as f:
            lines.extend(l.rstrip("\n") for l in f if l.strip())
    return lines


def compare(what, expected, got):
    expected, got = sorted(expected), sorted(got)
    if expected == got:
        return []
    diff = difflib.unified_diff(expected, got, "expected", "got", lineterm="")
    return ["%s differs:" % what] + ["    " + d for d in diff]


def run_case(name, layout, build, keep):
    family, has_late, dropped = CASES[name]
    flinc = os.path.join(build, "bin", "flinc")
    plugin = os.path.join(build, "tests", "golden.so")
    tmp = tempfile.mkdtemp(prefix="golden-%s-%s-" % (name, layout))
    out = os.path.join(tmp, "out")
    scratch = os.path.join(tmp, "scratch")
    os.makedirs(scratch)
    env = dict(os.environ, GOLDEN_SCRATCH=scratch)
    cmd = [flinc, "local", "-p", "1", "-D", "pipeline.auto-watermark-interval=0", plugin,
           "--case", name, "--input", os.path.join(CASES_DIR, family + ".input"), "--output", out]
    cmd += LAYOUTS[layout]
    errors = []
    try:
        p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=240)
    except subprocess.TimeoutExpired:
        return name, layout, ["timed out: %s" % " ".join(cmd)], tmp
    if p.returncode != 0:
        errors.append("exit status %d: %s" % (p.returncode, " ".join(cmd)))
        errors.extend("    " + l for l in p.stderr.splitlines()[-30:])
        return name, layout, errors, tmp
    exp = EXPECTED_OVERRIDE.get(name, family)
    errors += compare("output", read_lines(os.path.join(CASES_DIR, exp + ".expected")), committed_lines(out))
    late_file = os.path.join(CASES_DIR, family + ".late")
    if has_late:
        want = read_lines(late_file) if os.path.exists(late_file) else []
        errors += compare("late output", want, committed_lines(os.path.join(out, "late")))
    m = re.search(r"(\d+) late dropped", p.stderr)
    if not m:
        errors.append("no 'late dropped' count in the job's log")
    elif int(m.group(1)) != dropped:
        errors.append("late dropped: expected %d, got %s" % (dropped, m.group(1)))
    if errors:
        errors.append("command: GOLDEN_SCRATCH=%s %s" % (scratch, " ".join(cmd)))
    if not errors and not keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return name, layout, errors, tmp


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True, help="the CMake build folder")
    ap.add_argument("--jobs", type=int, default=4, help="cases run at once")
    ap.add_argument("--keep", action="store_true", help="keep the output folders of passing cases")
    ap.add_argument("--layout", choices=sorted(LAYOUTS), action="append",
                    help="run only this layout (repeatable; default: all)")
    ap.add_argument("cases", nargs="*", help="cases to run (default: all)")
    a = ap.parse_args()
    names = a.cases or list(CASES)
    for n in names:
        if n not in CASES:
            print("unknown case %s (known: %s)" % (n, ", ".join(CASES)), file=sys.stderr)
            return 2
    for f in (os.path.join(a.build, "bin", "flinc"), os.path.join(a.build, "tests", "golden.so")):
        if not os.path.exists(f):
            print("missing %s: build the flinc and golden targets first" % f, file=sys.stderr)
            return 2
    layouts = a.layout or list(LAYOUTS)
    runs = [(n, l) for n in names for l in layouts if not (n in SINGLE_LAYOUT and l != "chained")]
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
        futs = [pool.submit(run_case, n, l, a.build, a.keep) for n, l in runs]
        for fut in futs:
            name, layout, errors, tmp = fut.result()
            if errors:
                failed += 1
                print("FAIL %s [%s] (files in %s)" % (name, layout, tmp))
                for e in errors:
                    print("    " + e)
            else:
                print("ok   %s [%s]" % (name, layout))
    print("%d of %d golden runs passed" % (len(runs) - failed, len(runs)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
