#!/usr/bin/env python3
"""Golden test of aggregation.so (issue 17 acceptance 2) through `flinc local`.

Input tests/integration/golden/aggregation_in.jsonl, hand-written: events out
of order (5000 before 3000), window edges (59999 and 60000 fall in different
1-min windows), an event late for the 1-min windows (ts 2000 after ts 200000:
watermark 189999) which goes to the --late side output and is dropped and
counted by the fixed-size windows while the 30-min session and 5-min page
windows still take it, and a line that is not JSON (rejected). Watermarks
after every record (pipeline.auto-watermark-interval=0) make the run
deterministic. The expected output (golden/aggregation_out.jsonl) was checked
by hand against the window rules in docs/aggregation.md.

    aggregation_golden.py --build BUILD_DIR
"""
import argparse, os, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    a = ap.parse_args()
    flinc = os.path.join(a.build, "bin", "flinc")
    job = os.path.join(a.build, "jobs", "aggregation.so")
    with tempfile.TemporaryDirectory() as tmp:
        late = os.path.join(tmp, "late")
        p = subprocess.run([flinc, "local", "-D", "pipeline.auto-watermark-interval=0", job,
                            "--input", os.path.join(HERE, "golden", "aggregation_in.jsonl"),
                            "--output", "-", "--late", late],
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            sys.exit("flinc local failed (%d): %s" % (p.returncode, p.stderr[-2000:]))
        got = sorted(l for l in p.stdout.splitlines() if l.strip())
        with open(os.path.join(HERE, "golden", "aggregation_out.jsonl")) as f:
            want = sorted(l for l in f.read().splitlines() if l.strip())
        ok = True
        for l in sorted(set(want) - set(got)):
            print("missing:", l); ok = False
        for l in sorted(set(got) - set(want)):
            print("unexpected:", l); ok = False
        if len(got) != len(want):
            print("count: got %d want %d" % (len(got), len(want))); ok = False
        lates = []
        for root, _, files in os.walk(late):
            for fn in files:
                if not fn.startswith("."):
                    with open(os.path.join(root, fn)) as f:
                        lates += [l for l in f.read().splitlines() if l.strip()]
        if len(lates) != 1 or '"userId":"u9"' not in lates[0]:
            print("late side output: want the u9 event once, got", lates); ok = False
        if "1 rejected" not in p.stderr or "4 late dropped" not in p.stderr:
            print("summary: want '1 rejected' and '4 late dropped':", p.stderr.splitlines()[-1:]); ok = False
        print("aggregation golden: %d records, %s" % (len(got), "OK" if ok else "FAILED"))
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
