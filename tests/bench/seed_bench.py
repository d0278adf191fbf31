#!/usr/bin/env python3
"""Throughput of aggregation.so and anomaly.so at p=1 from a file
(issue 17 acceptance 7): generates N records with flinc-gen, runs
`flinc local` with the memory (hashmap) and the RocksDB backend, output
discarded, and prints records/s as the job's summary line reports them.

    seed_bench.py --build BUILD_DIR [--count N] [--job aggregation|anomaly]
"""
import argparse, os, re, subprocess, tempfile

GEN = {"aggregation": ["user-events", "--event-rate", "2000"], "anomaly": ["iot"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--count", type=int, default=2000000)
    ap.add_argument("--job", choices=list(GEN), action="append")
    a = ap.parse_args()
    for job in a.job or list(GEN):
        with tempfile.TemporaryDirectory() as tmp:
            inp = os.path.join(tmp, "in.jsonl")
            with open(inp, "w") as f:
                subprocess.run([os.path.join(a.build, "bin", "flinc-gen")] + GEN[job] +
                               ["--count", str(a.count), "--seed", "1"], stdout=f, stderr=subprocess.DEVNULL,
                               check=True)
            for backend in ("hashmap", "rocksdb"):
                p = subprocess.run([os.path.join(a.build, "bin", "flinc"), "local", "-D", "state.backend=" + backend,
                                    "-D", "state.checkpoints.dir=" + os.path.join(tmp, "ck"),
                                    os.path.join(a.build, "jobs", job + ".so"), "--input", inp, "--output", ""],
                                   capture_output=True, text=True, check=True)
                m = re.search(r"FINISHED in ([0-9.]+) s: (\d+) source records \((\d+)/s\)", p.stderr)
                print("%-12s %-8s %s records in %s s: %s records/s" % (job, backend, m.group(2), m.group(1),
                                                                     m.group(3)))


if __name__ == "__main__":
    main()
