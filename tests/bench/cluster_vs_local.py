#!/usr/bin/env python3
"""Nexmark q0 and q5 at p=2: a two-task-manager cluster against local mode.

For each query it runs, --repeat times each:
  local    `flinc local -p 2 nexmark.so --query Q --events N` (two threads per
           vertex in one process; exchanges are in-process channels);
           time = the run's own wall time as flinc local reports it;
  cluster  the same job with -p 2 on a job manager and two task managers
           (--slots per task manager, default 1) on 127.0.0.1, started by this
           script (tests/integration/cluster.py); time = from the job's RUNNING
           timestamp to its FINISHED timestamp (GET /jobs/:jid "timestamps"),
           so the upload, the plugin download and the deployment are not
           counted (the submit-to-FINISHED time is printed as well);
and prints events/s (input events / time) for each, the median of each, and
cluster/local. Nothing is written out (discard sinks).

Where the records go: the benchmark reads the placement (taskmanager-id of
every subtask in GET /jobs/:jid) and every subtask's write-records, and
counts, for every edge between vertices of the plan, the records that
cross task managers (HASH/REBALANCE: a producer subtask's records spread
evenly over the consumer subtasks; FORWARD: subtask i to i). It prints the
records exchanged between vertices and the share of them that crossed the
network. q0 is one chained vertex (source -> filter -> sink), so it has no
exchange at all: its cluster run measures running the job split over two
processes. q5 has two HASH exchanges (source -> q5-count, q5-count ->
q5-max); with slot sharing every task manager runs one subtask of each
vertex, so about half of the exchanged records cross the network.

A third row, "exchange" (skip it with --no-exchange), runs
tests/plugins/slow_sink.so without any sleep: a source of records with a
32-byte payload -> rebalance -> a sink that checks each payload, so every
record goes through an exchange and, on the cluster, half of them over the
network: what the network data plane costs, without q5's window work.

Usage: cluster_vs_local.py [--build DIR] [--events N] [--queries 0,5] [--repeat 3]
                           [--slots 1] [--conf key=value]... [--no-exchange]
Goal (the cluster issue): cluster >= 60% of local.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import cluster  # noqa: E402

FINISHED = re.compile(r"FINISHED in ([0-9.]+) s: (\d+) source records")


def run_local(build, plugin, args, par, conf):
    cmd = [os.path.join(build, "bin", "flinc"), "local", "-p", str(par)]
    for kv in conf:
        cmd += ["-D", kv]
    cmd += [plugin] + [str(x) for x in args]
    p = subprocess.run(cmd, capture_output=True, text=True)
    m = FINISHED.search(p.stderr)
    if p.returncode != 0 or not m:
        sys.exit("flinc local failed: %s\n%s" % (" ".join(cmd), p.stderr))
    secs, n = float(m.group(1)), int(m.group(2))
    return n / secs, secs


def cross_traffic(job):
    """(records exchanged between vertices, records that crossed task
    managers) from the job's plan, placement and subtask metrics."""
    vs = {v["id"]: v for v in job.get("vertices", [])}
    total = cross = 0.0
    for node in (job.get("plan") or {}).get("nodes", []):
        cons = vs.get(node["id"])
        if not cons:
            continue
        ctms = [s.get("taskmanager-id") for s in cons.get("subtasks", [])]
        for inp in node.get("inputs", []):
            prod = vs.get(inp["id"])
            if not prod:
                continue
            for s in prod.get("subtasks", []):
                r = float((s.get("metrics") or {}).get("write-records") or 0)
                tm = s.get("taskmanager-id")
                if inp.get("ship_strategy") == "FORWARD":
                    i = s.get("subtask", 0)
                    c = r if i < len(ctms) and ctms[i] != tm else 0.0
                else:
                    c = r * sum(1 for t in ctms if t != tm) / max(len(ctms), 1)
                total += r
                cross += c
    return total, cross


def run_cluster(c, jar, args, events, par, conf):
    jid = c.run_jar(jar, args, parallelism=par, conf=dict(kv.split("=", 1) for kv in conf) or None)
    job = c.wait_job(jid, {"FINISHED"}, timeout=900, interval=0.1)
    time.sleep(0.3)  # the last metrics come with the final status reports
    job = c.job(jid)
    ts = job.get("timestamps", {})
    if ts.get("RUNNING") and ts.get("FINISHED"):
        secs = (ts["FINISHED"] - ts["RUNNING"]) / 1000.0
    else:
        secs = job["duration"] / 1000.0
    total_secs = job["duration"] / 1000.0
    placement = {v["name"]: [s.get("taskmanager-id") for s in v.get("subtasks", [])] for v in job["vertices"]}
    exchanged, crossed = cross_traffic(job)
    return events / secs, secs, total_secs, placement, exchanged, crossed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--events", type=int, default=20_000_000)
    ap.add_argument("--queries", default="0,5")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--parallelism", type=int, default=2)
    ap.add_argument("--slots", type=int, default=1, help="slots per task manager")
    ap.add_argument("--conf", action="append", default=[], help="key=value for the job (local and cluster)")
    ap.add_argument("--no-exchange", action="store_true", help="skip the slow_sink.so exchange row")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    nexmark = os.path.join(build, "jobs", "nexmark.so")
    exchange = os.path.join(build, "tests", "plugins", "slow_sink.so")
    jobs = [("nexmark-q%d" % q, nexmark, ["--query", q, "--events", a.events])
            for q in (int(x) for x in a.queries.split(",") if x)]
    if not a.no_exchange:
        jobs.append(("exchange", exchange, ["--count", a.events]))
    rows = []
    with cluster.Cluster(build, taskmanagers=2, slots=a.slots, name="bench", log=lambda m: None) as c:
        c.start()
        jars = {}
        tm_names = {t["id"]: "tm%d" % i for i, t in enumerate(c.taskmanagers())}
        for name, plugin, args in jobs:
            if plugin not in jars:
                st, up = c.upload(plugin)
                if st != 200:
                    sys.exit("upload of %s failed: %d %s" % (plugin, st, up))
                jars[plugin] = c.jar_id(up)
            loc, clu = [], []
            xshare = 0.0
            for r in range(a.repeat):
                rate, secs = run_local(build, plugin, args, a.parallelism, a.conf)
                loc.append(rate)
                print("%s local   run %d: %.3f s  %.0f ev/s" % (name, r + 1, secs, rate), flush=True)
                rate, secs, tot, pl, ex, cr = run_cluster(c, jars[plugin], [str(x) for x in args], a.events,
                                                          a.parallelism, a.conf)
                clu.append(rate)
                print("%s cluster run %d: %.3f s RUNNING->FINISHED (%.3f s from submit)  %.0f ev/s" %
                      (name, r + 1, secs, tot, rate), flush=True)
                if r == 0:
                    print("   placement: %s" % "; ".join("%s: %s" % (n, ",".join(tm_names.get(t, str(t)) for t in s))
                                                       for n, s in pl.items()))
                    print("   records exchanged between vertices: %d, crossing task managers: %d (%.0f%%)" %
                          (ex, cr, 100.0 * cr / ex if ex else 0.0), flush=True)
                    xshare = cr / ex if ex else 0.0
            rows.append((name, statistics.median(loc), statistics.median(clu), xshare))
    print()
    print("p=%d, %d events, median of %d, 2 task managers x %d slot(s) vs flinc local" %
          (a.parallelism, a.events, a.repeat, a.slots))
    for name, lo, cl, xs in rows:
        print("%-11s local=%.0f ev/s  cluster=%.0f ev/s  cluster/local=%.2f  (%.0f%% of exchanged records "
              "crossed task managers)%s" % (name, lo, cl, cl / lo, 100 * xs, "" if cl / lo >= 0.6 else "  BELOW 0.60"))


if __name__ == "__main__":
    main()
