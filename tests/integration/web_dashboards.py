#!/usr/bin/env python3
"""web_dashboards - the seed dashboards in a real browser (issue 18, acceptance 6).

An embedded Kafka (flinc-kafka-mock), a job manager and two task managers
(3 slots each), live generators of transactions, user events and IoT
readings (flinc-gen --rate; user events and transactions after a history that ends now, so
sessions, the first 1-minute windows and fraud patterns close at once), and
the three seed jobs (fraud.so, aggregation.so, anomaly.so, -p 2) reading
them. The jobs start on empty topics; the histories and the live streams
go in once the page says it watches (the sinks keep what they write for
watchers only, so alerts from before would never reach it). Then
web_dashboards.mjs drives Debian's chromium through Playwright on
#/dashboards: connected; the three jobs found; transactions per second;
fraud alerts (table, by type); sensors with anomalies; user events by
type; sessions; the quick filters ("Last 1 min", "Fraud only",
"Anomalies"); nothing polled per vertex (one job list every 5 s and one
Server-Sent Events stream per job); after kill -9 of the job manager the
indicator says Disconnected. Screenshots: BUILD/test-artifacts/web-dashboards/.
Skips (77) without chromium, kcat-free: only flinc's own programs are used.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RATE = 150  # records/s of each generator


def history_span_ms(build, mode, count):
    """How much event time `count` records of a mode cover from the epoch
    (sessions keep their own clocks: far more than count / event rate)."""
    p = subprocess.run([os.path.join(build, "bin", "flinc-gen"), mode, "--count", str(count), "--seed", "1",
                        "--start-time", "0", "--output", "-"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       timeout=120, check=True)
    last = json.loads(p.stdout.decode().splitlines()[-1])["timestamp"]  # 1970-01-01THH:MM:SS.mmmZ
    h, m, s = last[11:-1].split(":")
    return int((int(h) * 3600 + int(m) * 60 + float(s)) * 1000) + 1000


HISTORIES = (("transactions", 40000, ["--fraud-rate", "0.1"]), ("user-events", 20000, []))


def feed(chk, c, build, bs, procs, spans):
    """The histories (transactions and user events that end now: fraud
    patterns, sessions and the first 1-minute windows close at once; live
    fraud patterns take 30 s to 10 min of event time by day, only the
    off-hours kind is a single record), then the live generators."""
    gen = os.path.join(build, "bin", "flinc-gen")
    for mode, count, extra in HISTORIES:
        span = spans[mode]
        now = int(time.time() * 1000)
        r = subprocess.run([gen, mode, "--count", str(count), "--seed", "1", "--start-time",
                            str(now - span)] + extra + ["--output", "kafka://%s/%s" % (bs, mode)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
        chk.ok(r.returncode == 0, "a %s history of %.0f minutes written" % (mode, span / 60000),
               r.stderr.decode()[-300:])
    for mode, topic, extra in (("transactions", "transactions", ["--fraud-rate", "0.1", "--seed", "2",
                                                                 "--population-seed", "1"]),
                               ("user-events", "user-events", ["--seed", "2"]),
                               ("iot", "iot", ["--anomaly-rate", "0.05", "--sensors", "100"])):
        procs.append(subprocess.Popen([gen, mode, "--rate", str(RATE)] + extra +
                                      ["--output", "kafka://%s/%s" % (bs, topic)],
                                      stdout=subprocess.DEVNULL, stderr=open(c.path("gen-%s.log" % mode), "w")))


def main():
    ap = cluster.arg_parser(__doc__)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    build = args.build
    why = cluster.missing(build, "bin/flinc-jobmanager", "bin/flinc-taskmanager", "bin/flinc", "bin/flinc-gen",
                          "bin/flinc-kafka-mock", "jobs/fraud.so", "jobs/aggregation.so", "jobs/anomaly.so")
    if why:
        print(why)
        return 1
    web_mods = os.path.join(HERE, "..", "..", "jobmanager", "web", "node_modules", "playwright-core")
    for need, what in ((os.path.join(build, "web", "index.html"), "the built web UI"),
                       (args.chromium, "chromium (scripts/install-deps.sh)"), (web_mods, "npm's playwright-core"),
                       (shutil.which("node") or "/nonexistent", "node")):
        if not os.path.exists(need):
            print("SKIP: %s is missing (%s)" % (what, need))
            return 77
    chk = cluster.Checks()
    shots = os.path.join(build, "test-artifacts", "web-dashboards")
    shutil.rmtree(shots, ignore_errors=True)
    procs = []
    try:
        mock = subprocess.Popen([os.path.join(build, "bin", "flinc-kafka-mock"), "--brokers", "1",
                                 "--topic", "transactions:2", "--topic", "user-events:2", "--topic", "iot:2",
                                 "--topic", "fraud-alerts:1", "--topic", "aggregates:1",
                                 "--topic", "anomaly-alerts:1"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        procs.append(mock)
        line = mock.stdout.readline().decode().strip()
        if not chk.ok(line.startswith("bootstrap.servers="), "flinc-kafka-mock started", line):
            return chk.report()
        bs = line.split("=", 1)[1]
        with cluster.Cluster(build, taskmanagers=2, slots=3, name="web-dash", checks=chk, keep=args.keep) as c:
            c.conf.update({"state.checkpoints.dir": c.path("chk"), "execution.checkpointing.interval": "2s"})
            c.start()
            jids = {}
            for job, inp, out in (("fraud", "transactions", "fraud-alerts"), ("aggregation", "user-events", "aggregates"),
                                  ("anomaly", "iot", "anomaly-alerts")):
                p = c.flinc("run", "-d", "-p", "2", c.plugin(job), "--input", "kafka://%s/%s" % (bs, inp),
                            "--output", "kafka://%s/%s" % (bs, out))
                jids[job] = cluster.job_id_of(p.stdout)
                chk.ok(jids[job], "%s submitted" % job, p.stdout + p.stderr)
            for job, jid in jids.items():
                if jid:
                    c.wait_running(jid)
            spans = {mode: history_span_ms(build, mode, count) for mode, count, _ in HISTORIES}
            cfg = {"port": c.rest_port, "jids": jids, "jmPid": c.jm.pid, "shots": shots, "chromium": args.chromium}
            node = subprocess.Popen(["node", os.path.join(HERE, "web_dashboards.mjs"), json.dumps(cfg)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            procs.append(node)
            head = []
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                line = node.stdout.readline()
                if not line:
                    break
                head.append(line)
                if line.strip() == "WATCHING":
                    break
            watching = bool(head) and head[-1].strip() == "WATCHING"
            chk.ok(watching, "the page watches the jobs' output")
            if watching:
                feed(chk, c, build, bs, procs, spans)
            try:
                out, err = node.communicate(timeout=300)
            except subprocess.TimeoutExpired:
                node.kill()
                out, err = node.communicate()
            out = "".join(l for l in head if l.strip() != "WATCHING") + out
            sys.stdout.write(out)
            sys.stdout.write(err)
            fails = [l.strip()[6:] for l in out.splitlines() if l.strip().startswith("FAIL:")]
            chk.errors.extend(fails)
            chk.ok(node.returncode == 0 and not fails and "  ok:" in out, "the browser test passed", node.returncode)
            print("screenshots in %s" % shots)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
