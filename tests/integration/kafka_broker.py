#!/usr/bin/env python3
"""The real Kafka broker of the connector tests (tests/peers/kafka/broker.py):
one node started on free loopback ports, a 3-partition topic created with
TopicCommand, records written and read back with kcat (per partition and
all), and the broker stopped with nothing left running. Then the same
through the command line (`broker.py start` / `stop`)."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers", "kafka"))
import broker  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cluster  # noqa: E402


def main():
    cluster.arg_parser(__doc__).parse_args()
    chk = cluster.Checks()
    with broker.Broker(nodes=1) as b:
        b.create_topic("kb-test", partitions=3)
        values = ["record-%03d" % i for i in range(300)]
        for p in range(3):
            b.produce("kb-test", values[p::3], partition=p)
        got = b.consume("kb-test")
        chk.ok(sorted(got) == sorted(values), "300 records read back", "%d read" % len(got))
        byp = b.consume("kb-test", fmt="%p\\t%s\\n")
        parts = {}
        for line in byp:
            p, v = line.split("\t", 1)
            parts.setdefault(int(p), []).append(v)
        chk.ok(all(parts.get(p) == values[p::3] for p in range(3)), "each partition holds its records in order")
        pids = [n.pid for n in b.nodes]
    chk.ok(not any(broker._alive(p) for p in pids), "broker stopped")

    tool = os.path.join(HERE, "..", "peers", "kafka", "broker.py")
    with cluster.scratch_dir("flinc-kafka-cli-", failed=lambda: chk.errors) as folder:
        cli_roundtrip(chk, tool, folder)
    return chk.report()


def cli_roundtrip(chk, tool, folder):
    p = subprocess.run([sys.executable, tool, "start", "--dir", folder], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=180)
    try:
        out = p.stdout.decode()
        chk.ok(p.returncode == 0 and out.startswith("bootstrap.servers=127.0.0.1:"),
               "broker.py start prints bootstrap.servers first", out + p.stderr.decode()[-500:])
        bs = out.splitlines()[0].split("=", 1)[1] if out else ""
        if bs:
            q = subprocess.run(["kcat", "-P", "-b", bs, "-t", "cli"], input=b"x\ny\n", timeout=60)
            r = subprocess.run(["kcat", "-C", "-b", bs, "-t", "cli", "-o", "beginning", "-e", "-q"],
                               stdout=subprocess.PIPE, timeout=60)
            chk.ok(q.returncode == 0 and r.stdout == b"x\ny\n", "kcat through the CLI-started broker")
    finally:
        s = subprocess.run([sys.executable, tool, "stop", "--dir", folder], timeout=120)
    chk.ok(s.returncode == 0, "broker.py stop")
    with open(os.path.join(folder, "broker.json")) as f:
        left = [x for x in json.load(f)["pids"] if broker._alive(x)]
    chk.ok(not left, "CLI-started broker stopped", str(left))


if __name__ == "__main__":
    sys.exit(main())
