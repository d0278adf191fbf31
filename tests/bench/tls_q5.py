#!/usr/bin/env python3
"""tls_q5 - the cost of TLS on a cluster (issue 19, acceptance 6): Nexmark
q5 on a job manager and three task managers (2 slots each), with and
without TLS on every connection (security.ssl.*, certificates from
scripts/make-test-ca.sh), on loopback or (--hosts, root) across network
namespace hosts (tests/netns/netns.py).

The job: `nexmark.so --query 5 --events N` at -p 6 to an output folder,
timed from submission until FINISHED; key_by auction sends the records
across the exchange between task managers, which TLS encrypts. The runs
alternate (plain, TLS, plain, TLS, ...) so that a noisy machine hurts both
alike. Prints events/s per run and the medians.

Usage: tls_q5.py --build BUILD [--events N] [--repeat R] [--hosts]
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "netns"))
import cluster  # noqa: E402


def run_once(build, events, tls, hosts, what):
    with cluster.Cluster(build, taskmanagers=3, slots=2, name="tls-q5", tls=tls, hosts=hosts,
                         log=lambda m: None) as c:
        c.start()
        out = c.path("out")
        t0 = time.monotonic()
        jid = c.submit(c.plugin("nexmark"), ["--query", "5", "--events", str(events), "--output", out],
                       parallelism=6)
        c.wait_job(jid, {"FINISHED"}, timeout=1800, interval=0.02)
        took = time.monotonic() - t0
        rate = events / took
        print("  %-5s %d events in %.2f s: %.0f events/s" % (what, events, took, rate), flush=True)
        return rate


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True)
    ap.add_argument("--events", type=int, default=5000000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--hosts", action="store_true", help="across network namespace hosts (root)")
    a = ap.parse_args()
    ca = tempfile.mkdtemp(prefix="flinc-tls-q5-")
    # the hosts' addresses too: REST is checked against the name dialed
    names = "node,localhost,127.0.0.1," + ",".join("10.77.0.%d" % i for i in range(10, 20))
    cluster.tls_ca(ca, [names])
    res = {"plain": [], "tls": []}
    try:
        for _ in range(a.repeat):
            for what, tls in (("plain", None), ("tls", ca)):
                if a.hosts:
                    import netns
                    with netns.Net(4, say=lambda m: None) as net:
                        res[what].append(run_once(a.build, a.events, tls, net.hosts, what))
                else:
                    res[what].append(run_once(a.build, a.events, tls, None, what))
    finally:
        cluster.keep_or_remove(ca, False)
    pl, tl = statistics.median(res["plain"]), statistics.median(res["tls"])
    print("q5 -p 6 %s, %d events, medians of %d: plain %.0f events/s, TLS %.0f events/s (%.2fx)" %
          ("across namespace hosts" if a.hosts else "on loopback", a.events, a.repeat, pl, tl, tl / pl))
    return 0


if __name__ == "__main__":
    sys.exit(main())
