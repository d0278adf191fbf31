#!/usr/bin/env python3
"""Buffer debloating: checkpoints under backpressure, and throughput without it.

Every figure is taken with taskmanager.network.memory.buffer-debloat.enabled
false and true (the job's configuration), runs alternating:

  checkpoints  on a cluster (a job manager and two task managers with two
               slots each on 127.0.0.1), tests/plugins/slow_sink.so -p 2 with
               every sink record taking 1 ms, checkpoints every --interval:
                 slow    source -> rebalance -> sink (half of the records
                         cross task managers over netx);
                 skewed  source -> key by record with --skew percent of the
                         records on one hot key -> sink: one sink subtask
                         gets most records and backpressures everything.
               For each: the completed checkpoints' end-to-end durations
               (GET /jobs/:jid/checkpoints, polled), p50 / p99 / max, and
               whether the output is exact (counts and sums of indices).
  throughput   no backpressure: `flinc local -p 2` wordcount (--lines of
               generated text) and nexmark q5 (--events), and on the cluster
               the "exchange" job (slow_sink.so without sleeps: nothing but
               the exchange, half over netx); events/s, median of --repeat.

Usage: debloat_bench.py --build DIR [--count N] [--interval 1s] [--skew 60]
                        [--lines N] [--events N] [--repeat 3] [--skip-throughput]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import cluster  # noqa: E402
from cluster_debloat import DEBLOAT, pct, run_slow  # noqa: E402
from cluster_vs_local import run_cluster, run_local  # noqa: E402
from engine_vs_loop import make_text  # noqa: E402


def fmt(durs):
    if not durs:
        return "none completed"
    return "n=%d p50 %d p99 %d max %d" % (len(durs), pct(durs, 50), pct(durs, 99), max(durs))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--count", type=int, default=60_000, help="records of each checkpoint run")
    ap.add_argument("--interval", default="1s")
    ap.add_argument("--skew", type=int, default=60)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--exchange-count", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-checkpoints", action="store_true")
    ap.add_argument("--only", choices=["off", "on", "unaligned"],
                    help="checkpoint runs with debloating off, on, or off with unaligned checkpoints only")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    modes = (("off", "false"), ("on", "true"))
    results = []

    with cluster.Cluster(build, taskmanagers=2, slots=2, name="debloat-bench",
                         conf={"heartbeat.interval": "200ms"}) as c:
        c.start()
        jar = c.upload_jar(os.path.join(build, "tests", "plugins", "slow_sink.so"))
        if not a.skip_checkpoints:
            for case, extra in (("slow", []), ("skewed", ["--skew", a.skew])):
                # "unaligned": debloating off, execution.checkpointing.unaligned
                for name in ("off", "on", "unaligned"):
                    if a.only and name != a.only:
                        continue
                    conf = {"state.checkpoints.dir": c.path("chk-%s-%s" % (case, name))}
                    if name == "unaligned":
                        conf["execution.checkpointing.unaligned"] = "true"
                    durs, exact, detail, secs = run_slow(
                        c, jar, "%s-%s" % (case, name), a.count, name == "on", a.interval, extra_args=extra,
                        conf=conf)
                    line = "checkpoints %-6s debloat %-9s: %s (ms); %.1f s; exact %s" % (
                        case, name, fmt(durs), secs, "yes" if exact else "NO: " + detail)
                    print(line, flush=True)
                    print("  durations (ms, by checkpoint id): %s" % durs, flush=True)
                    results.append(line)
        if not a.skip_throughput:
            args = ["--count", a.exchange_count]
            rates = {m: [] for m, _ in modes}
            for _ in range(a.repeat):
                for name, val in modes:
                    r = run_cluster(c, jar, args, a.exchange_count, 2, ["%s=%s" % (DEBLOAT, val)])
                    rates[name].append(r[0])
            line = "throughput exchange (cluster -p 2, %d records): off %.2fM/s, on %.2fM/s (medians of %d)" % (
                a.exchange_count, statistics.median(rates["off"]) / 1e6, statistics.median(rates["on"]) / 1e6,
                a.repeat)
            print(line, flush=True)
            results.append(line)

    if not a.skip_throughput:
        with tempfile.TemporaryDirectory(prefix="flinc-debloat-") as tmp:
            text = os.path.join(tmp, "words.txt")
            make_text(text, a.lines)
            jobs = [("wordcount", os.path.join(build, "jobs", "wordcount.so"), ["--input", text, "--output="]),
                    ("nexmark-q5", os.path.join(build, "jobs", "nexmark.so"),
                     ["--query", 5, "--events", a.events])]
            for jname, plugin, args in jobs:
                rates = {m: [] for m, _ in modes}
                for _ in range(a.repeat):
                    for name, val in modes:
                        rates[name].append(run_local(build, plugin, args, 2, ["%s=%s" % (DEBLOAT, val)])[0])
                line = "throughput %s (local -p 2): off %.2fM/s, on %.2fM/s (medians of %d; runs off %s, on %s)" % (
                    jname, statistics.median(rates["off"]) / 1e6, statistics.median(rates["on"]) / 1e6, a.repeat,
                    ["%.2f" % (x / 1e6) for x in rates["off"]], ["%.2f" % (x / 1e6) for x in rates["on"]])
                print(line, flush=True)
                results.append(line)
    print("\nsummary (load average %.1f at the end):" % os.getloadavg()[0])
    for line in results:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
