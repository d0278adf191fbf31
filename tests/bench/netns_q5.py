#!/usr/bin/env python3
"""netns_q5 - Nexmark q5 on a cluster on loopback against the same cluster
across namespace hosts (issue 19, acceptance 6).

The same job both ways: a job manager and three task managers (2 slots
each), `flinc run -p 6 nexmark.so --query 5 --events N` to an output folder,
timed from submission until the job is FINISHED; the records cross the
exchange between task managers (key_by auction). Across hosts every task
manager is its own network namespace on a bridge (tests/netns/netns.py),
so the exchange goes through veth pairs and the bridge instead of lo.
With --delay MS each host's link also gets netem delay (only on kernels
with sch_netem; this machine's has none, which the script says).
--conf KEY=VALUE (repeatable) goes to every daemon, e.g. the TLS keys.

Prints events/s per run and the median of --repeat runs per placement.

Usage: netns_q5.py --build BUILD [--events N] [--repeat R] [--delay MS] [--conf K=V]...
"""
import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "netns"))
import cluster  # noqa: E402
import netns  # noqa: E402


def run_once(build, events, hosts, conf, what):
    with cluster.Cluster(build, taskmanagers=3, slots=2, name="q5-" + what, hosts=hosts, conf=conf,
                         log=lambda m: None) as c:
        c.start()
        out = c.path("out")
        t0 = time.monotonic()
        jid = c.submit(c.plugin("nexmark"), ["--query", "5", "--events", str(events), "--output", out],
                       parallelism=6)
        c.wait_job(jid, {"FINISHED"}, timeout=900, interval=0.02)
        took = time.monotonic() - t0
        rate = events / took
        print("  %-10s %d events in %.2f s: %.0f events/s" % (what, events, took, rate), flush=True)
        return rate


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True)
    ap.add_argument("--events", type=int, default=20000000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--conf", action="append", default=[])
    a = ap.parse_args()
    conf = dict(kv.split("=", 1) for kv in a.conf)
    if a.delay and not netns.netem_available():
        print("netns_q5: this kernel has no sch_netem; --delay cannot be emulated here", file=sys.stderr)
        return 2
    res = {"loopback": [], "hosts": []}
    for _ in range(a.repeat):
        res["loopback"].append(run_once(a.build, a.events, None, conf, "loopback"))
        with netns.Net(4, say=lambda m: None) as net:
            if a.delay:
                for h in net.hosts:
                    h.delay(a.delay)
            res["hosts"].append(run_once(a.build, a.events, net.hosts, conf, "hosts"))
    lo, ho = statistics.median(res["loopback"]), statistics.median(res["hosts"])
    print("q5 -p 6, %d events, medians of %d: loopback %.0f events/s, across hosts%s %.0f events/s (%.2fx)" %
          (a.events, a.repeat, lo, " (+%g ms)" % a.delay if a.delay else "", ho, ho / lo))
    return 0


if __name__ == "__main__":
    sys.exit(main())
