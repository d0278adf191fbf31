#!/usr/bin/env python3
"""End-to-end latency (latency markers) of wordcount and Nexmark q5 on a
cluster at about half their maximum throughput, for several
execution.buffer-timeout values (issue 20, acceptance 6).

A job manager and two task managers (--slots each, default 1) on 127.0.0.1,
started here (tests/integration/cluster.py); every job at -p 2, so each task
manager runs one subtask of every vertex and about half the exchanged
records cross task managers. For each job:
  1. maximum throughput: the job unthrottled on a bounded input (wordcount:
     --lines lines of a file; q5: --events generated events, output
     discarded); rate = input / (FINISHED - RUNNING timestamps), with the
     default buffer timeout (100ms);
  2. for each buffer timeout (--timeouts, default 100ms,10ms,1ms,0): the job
     with --rate = --load x that maximum (default 0.5) for about --seconds,
     metrics.latency.interval = --marker-interval (default 10ms, so a run
     folds ~1000 markers per sink subtask); while it runs the script polls
     GET /jobs/:jid/vertices/:sink/subtasks/metrics for latencyMs_p50/_p99/
     _count and keeps the last answer before the job ends.
Printed per run: the rate asked and reached, p50 (the mean of the sink
subtasks' p50), p99 (the largest of their p99s), markers counted. The
quantiles come from the histogram's fixed buckets (base/fl_lat.h: 1, 1.25,
1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k), interpolated inside a bucket.

Latency markers measure the path from a source to a sink through every
exchange and its buffer timeout, but not the time records wait inside an
operator (q5's windows; wordcount's counter emits at once), as in Flink.

--flink runs the same on Apache Flink (tests/bench/flink, built as
tests/bench/vs-flink builds it): its MiniCluster with two task managers of
one slot each (--taskmanagers 2), the same jobs at -p 2 on the same inputs
(wordcount: the same file to a file sink; q5: the same generator inside the
job, output discarded into a checksum), its maximum measured the same way
(input / Flink's net run time) and each run at --load x that maximum
(Throttle.java, chained after the source),
with setBufferTimeout and metrics.latency.interval; its latency markers'
histograms (every marker of the run: metrics.latency.history-size) are
printed by LatencyReporter.java when the job ends, and p50/p99 are taken
over the two sink ("sink: Writer") subtasks as for flinc. Flink measures in
whole milliseconds (System.currentTimeMillis at source and sink); flinc's
histogram has fixed buckets.

Usage: latency_bench.py [--build DIR] [--jobs wordcount,q5] [--seconds 10]
                        [--timeouts 100ms,10ms,1ms,0] [--load 0.5] [--lines N] [--events N]
                        [--flink] [--flink-only]
"""
import argparse
import importlib.machinery
import importlib.util
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import cluster  # noqa: E402


def run_time(c, jid):
    job = c.wait_job(jid, {"FINISHED"}, timeout=900, interval=0.1)
    ts = job.get("timestamps", {})
    if ts.get("RUNNING") and ts.get("FINISHED"):
        return (ts["FINISHED"] - ts["RUNNING"]) / 1000.0
    return job["duration"] / 1000.0


def sink_vertex(job):
    vs = job["vertices"]
    return next((v for v in vs if "Sink" in v["name"]), vs[-1])


def latency_run(c, jar, args, conf, par):
    jid = c.run_jar(jar, args, parallelism=par, conf=conf)
    c.wait_running(jid)
    sink = sink_vertex(c.job(jid))
    ids = "latencyMs_p50,latencyMs_p99,latencyMs_count"
    last = None
    t0 = time.monotonic()
    while True:
        try:
            st = c.job_state(jid)
            if st != "RUNNING":
                break
            ans = c.get("/jobs/%s/vertices/%s/subtasks/metrics?get=%s" % (jid, sink["id"], ids))
            m = {x["id"]: x for x in ans}
            if m.get("latencyMs_count", {}).get("min", 0) > 0:
                last = m
        except (cluster.ClusterError, OSError, ValueError):
            pass
        time.sleep(0.25)
    secs = run_time(c, jid)
    del t0
    return last, secs


HERE = os.path.dirname(os.path.abspath(__file__))
FLINK_RE = re.compile(r"FLINK-BENCH .*net_seconds=([0-9.]+)")
FLINK_LAT_RE = re.compile(r"FLINK-LATENCY operator=(.*) subtask=(\d+) count=(\d+) p50=([0-9.]+) p99=([0-9.]+)")


def vs_flink():
    """tests/bench/vs-flink as a module (its Maven build of the Flink jobs)."""
    loader = importlib.machinery.SourceFileLoader("vs_flink", os.path.join(HERE, "vs-flink"))
    spec = importlib.util.spec_from_loader("vs_flink", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def ms(timeout):
    """'100ms' -> 100, '0' -> 0 (setBufferTimeout's milliseconds)."""
    if timeout.endswith("ms"):
        return int(timeout[:-2])
    if timeout.endswith("s"):
        return int(float(timeout[:-1]) * 1000)
    return int(timeout)


def flink_run(cp, job, args, par, extra=()):
    """One Flink run: (net run time in s, {'latencyMs_p50': {'avg'}, ...} over the sink subtasks or None)."""
    cmd = ["java", "-cp", cp, "io.flinc.bench.Main", "--job", job, "-p", str(par), "--taskmanagers", str(par)]
    r = subprocess.run(cmd + list(args) + list(extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=1800)
    m = FLINK_RE.search(r.stdout)
    if r.returncode != 0 or not m:
        raise RuntimeError("Flink %s failed (exit %d): %s" % (job, r.returncode, (r.stderr or r.stdout)[-2000:]))
    sinks = [x for x in FLINK_LAT_RE.findall(r.stdout) if x[0].startswith("sink")]
    lat = None
    if sinks:
        p50s = [float(x[3]) for x in sinks]
        lat = {"latencyMs_p50": {"avg": sum(p50s) / len(p50s)},
               "latencyMs_p99": {"max": max(float(x[4]) for x in sinks)},
               "latencyMs_count": {"sum": sum(int(x[2]) for x in sinks)}}
    return float(m.group(1)), lat


def flink_job(a, cp, results, job, label, unit, n_max, prepare, io_args):
    """One job on Flink: its maximum on about n_max records, then each buffer
    timeout at --load x it for about --seconds. prepare(n) readies an input of
    about n records and returns how many it holds; io_args(n, tag) gives the
    job's input and output arguments."""
    n = prepare(n_max)
    secs, _ = flink_run(cp, job, io_args(n, "max"), a.parallelism)
    mx = n / secs
    print("flink %s: maximum %.0f %s/s (%d %s in %.2f s)" % (job, mx, unit, n, unit, secs), flush=True)
    rate = mx * a.load
    n = prepare(int(rate * a.seconds))
    for i, to in enumerate(a.timeouts.split(",")):
        secs, m = flink_run(cp, job, io_args(n, str(i)), a.parallelism,
                            ["--rate", "%.0f" % rate, "--buffer-timeout", str(ms(to)),
                             "--latency-interval", str(ms(a.marker_interval))])
        results.append((label, to, rate, n / secs, m))
        show(results[-1])


def flink_side(a, c, results, words, write_lines):
    """The same jobs on Flink (--flink)."""
    cp = vs_flink().build_flink(os.path.abspath(a.build))
    jobs = a.jobs.split(",")
    if "wordcount" in jobs:
        flink_job(a, cp, results, "wordcount", "flink wordcount", "lines", a.lines, write_lines,
                  lambda n, tag: ["--input", words, "--output", c.path("flink-out-" + tag)])
    if "q5" in jobs:
        flink_job(a, cp, results, "q5", "flink nexmark-q5", "events", a.events, lambda n: n,
                  lambda n, tag: ["--input", "datagen", "--output", "checksum", "--events", str(n)])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--jobs", default="wordcount,q5")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--timeouts", default="100ms,10ms,1ms,0")
    ap.add_argument("--load", type=float, default=0.5)
    ap.add_argument("--marker-interval", default="10ms")
    ap.add_argument("--lines", type=int, default=2_000_000, help="wordcount lines for the maximum")
    ap.add_argument("--events", type=int, default=20_000_000, help="q5 events for the maximum")
    ap.add_argument("--slots", type=int, default=1)
    ap.add_argument("--parallelism", type=int, default=2)
    ap.add_argument("--flink", action="store_true", help="also run the same on Apache Flink")
    ap.add_argument("--flink-only", action="store_true", help="run the Flink side only")
    a = ap.parse_args()
    if a.flink_only:
        a.flink = True
    build = os.path.abspath(a.build)
    results = []
    with cluster.Cluster(build, taskmanagers=2, slots=a.slots, name="latency-bench") as c:
        if not a.flink_only:
            c.start()
        jobs = a.jobs.split(",") if not a.flink_only else []
        words = c.path("words.txt")
        block = c.path("block.txt")
        cluster.write_input(block, 7, 100_000)
        data = open(block, "rb").read()

        def write_lines(n):
            with open(words, "wb") as f:
                for _ in range(max(1, n // 100_000)):
                    f.write(data)
            return max(1, n // 100_000) * 100_000

        if "wordcount" in jobs:
            # A 100k-line block repeated: cheap to write, words Zipf-like.
            n = write_lines(a.lines)
            jar = c.upload_jar(c.plugin("wordcount"))
            secs = run_time(c, c.run_jar(jar, ["--input", words, "--output", c.path("out-max")],
                                         parallelism=a.parallelism))
            mx = n / secs
            print("wordcount: maximum %.0f lines/s (%d lines in %.2f s)" % (mx, n, secs), flush=True)
            rate = mx * a.load
            n = write_lines(int(rate * a.seconds))
            for i, to in enumerate(a.timeouts.split(",")):
                conf = {"execution.buffer-timeout": to, "metrics.latency.interval": a.marker_interval}
                m, secs = latency_run(c, jar, ["--input", words, "--output", c.path("out-%d" % i), "--rate",
                                               "%.0f" % rate], conf, a.parallelism)
                results.append(("wordcount", to, rate, n / secs, m))
                show(results[-1])
        if "q5" in jobs:
            jar = c.upload_jar(c.plugin("nexmark"))
            secs = run_time(c, c.run_jar(jar, ["--query", "5", "--events", str(a.events)],
                                         parallelism=a.parallelism))
            mx = a.events / secs
            print("nexmark q5: maximum %.0f events/s (%d events in %.2f s)" % (mx, a.events, secs), flush=True)
            rate = mx * a.load
            n = int(rate * a.seconds)
            for to in a.timeouts.split(","):
                conf = {"execution.buffer-timeout": to, "metrics.latency.interval": a.marker_interval}
                m, secs = latency_run(c, jar, ["--query", "5", "--events", str(n), "--rate", "%.0f" % rate],
                                      conf, a.parallelism)
                results.append(("nexmark-q5", to, rate, n / secs, m))
                show(results[-1])
        if a.flink:
            flink_side(a, c, results, words, write_lines)
    print("\n| job | buffer-timeout | rate asked | rate reached | p50 ms | p99 ms | markers |")
    print("|---|---|---|---|---|---|---|")
    for job, to, rate, got, m in results:
        if not m:
            print("| %s | %s | %.0f | %.0f | - | - | 0 |" % (job, to, rate, got))
            continue
        print("| %s | %s | %.3gM/s | %.3gM/s | %.2f | %.2f | %d |" % (
            job, to, rate / 1e6, got / 1e6, m["latencyMs_p50"]["avg"], m["latencyMs_p99"]["max"],
            m["latencyMs_count"]["sum"]))
    return 0


def show(r):
    job, to, rate, got, m = r
    if not m:
        print("%s buffer-timeout %s: no latency figures" % (job, to), flush=True)
        return
    print("%s buffer-timeout %-5s rate %.0f/s (reached %.0f/s): p50 %.2f ms, p99 %.2f ms (%d markers)" % (
        job, to, rate, got, m["latencyMs_p50"]["avg"], m["latencyMs_p99"]["max"], m["latencyMs_count"]["sum"]),
        flush=True)


if __name__ == "__main__":
    sys.exit(main())
