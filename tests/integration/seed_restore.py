#!/usr/bin/env python3
"""Restore of aggregation.so (anomaly.so: anomaly_reference.py) from a checkpoint taken mid-window
and mid-state (issue 17 acceptance 2), through `flinc local`.

The golden input (golden/JOB_in.jsonl) is paced so it takes about 3 s; the
first run checkpoints every 200 ms into a folder output and is killed
(SIGKILL) after 1.8 s, in the middle of open windows, Welford statistics,
a stuck run and pending silence timers. A second run restores the newest
completed checkpoint (-s chk-N) and finishes. The committed output of both
runs together must equal golden/JOB_out.jsonl exactly, as the undisturbed
run gives it.

    seed_restore.py --build BUILD_DIR --job aggregation
"""
import argparse, glob, os, signal, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--job", required=True, choices=["aggregation"])
    a = ap.parse_args()
    flinc = os.path.join(a.build, "bin", "flinc")
    job = os.path.join(a.build, "jobs", a.job + ".so")
    inp = os.path.join(HERE, "golden", a.job + "_in.jsonl")
    with open(inp) as f:
        lines = sum(1 for l in f if l.strip())
    rate = str(max(1.0, lines / 3.0))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        base = [flinc, "local", "-D", "pipeline.auto-watermark-interval=0"]
        args = [job, "--input", inp, "--output", out, "--rate", rate]
        p = subprocess.Popen(base + ["-D", "state.checkpoints.dir=" + os.path.join(tmp, "ck1"),
                                     "-D", "execution.checkpointing.interval=200ms"] + args,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            time.sleep(1.8)
        finally:
            p.send_signal(signal.SIGKILL)
            p.wait()
        done = sorted(glob.glob(os.path.join(tmp, "ck1", "*", "chk-*", "_metadata")),
                      key=lambda x: int(x.split("chk-")[1].split(os.sep)[0]))
        if not done:
            sys.exit("no completed checkpoint in the first run")
        chk = os.path.dirname(done[-1])
        r = subprocess.run(base + ["-D", "state.checkpoints.dir=" + os.path.join(tmp, "ck2"), "-s", chk] + args,
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            sys.exit("restored run failed (%d): %s" % (r.returncode, r.stderr[-2000:]))
        got = []
        for root, _, files in os.walk(out):
            for fn in files:
                if not fn.startswith("."):
                    with open(os.path.join(root, fn)) as f:
                        got += [l for l in f.read().splitlines() if l.strip()]
        with open(os.path.join(HERE, "golden", a.job + "_out.jsonl")) as f:
            want = sorted(l for l in f.read().splitlines() if l.strip())
        got.sort()
        ok = got == want
        if not ok:
            for l in sorted(set(want) - set(got)): print("missing:", l)
            for l in sorted(set(got) - set(want)): print("unexpected:", l)
            print("count: got %d want %d" % (len(got), len(want)))
        print("%s restore from %s: %s" % (a.job, os.path.basename(chk), "OK" if ok else "FAILED"))
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
