#!/usr/bin/env python3
"""kafka_lag - the Kafka source's lag per partition in /metrics (issue 18,
"Kafka lag per partition").

An embedded Kafka (flinc-kafka-mock) with a 2-partition topic holding
200,000 transactions (flinc-gen), a cluster of one job manager and one task
manager, and anomaly-free wordcount reading the topic at --rate 2000 at
-p 2 (so it stays far behind). /metrics must then show, per subtask and
partition, flinc_taskmanager_job_task_operator_KafkaSourceReader_KafkaConsumer_
records_lag (between 1 and 200,000, both partitions, with topic and
partition labels) and _topic_partition_currentOffset, and per subtask
operator_pendingRecords equal to the sum of its partitions' lags; a second
scrape a few seconds later shows the offsets grown. A job reading files
reports none of these.

Usage: kafka_lag.py --build BUILD [--keep]
"""
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cluster  # noqa: E402

LAG = "flinc_taskmanager_job_task_operator_KafkaSourceReader_KafkaConsumer_records_lag"
OFF = "flinc_taskmanager_job_task_operator_KafkaSourceReader_topic_partition_currentOffset"
PEND = "flinc_taskmanager_job_task_operator_pendingRecords"
LINE = re.compile(r'^(\w+)\{(.*)\} (-?[0-9.e+]+)$')


def parse(text):
    """[(name, {label: value}, value)] of the exposition lines."""
    out = []
    for ln in text.splitlines():
        m = LINE.match(ln)
        if m:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2)))
            out.append((m.group(1), labels, float(m.group(3))))
    return out


def main():
    a = cluster.arg_parser(__doc__).parse_args()
    chk = cluster.Checks()
    why = cluster.missing(a.build, "bin/flinc", "bin/flinc-kafka-mock", "bin/flinc-gen", "jobs/wordcount.so")
    if why:
        chk.fail(why)
        return chk.report()
    mock = subprocess.Popen([os.path.join(a.build, "bin", "flinc-kafka-mock"), "--brokers", "1",
                             "--topic", "tx:2"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        line = mock.stdout.readline().decode().strip()
        if not chk.ok(line.startswith("bootstrap.servers="), "flinc-kafka-mock started", line):
            return chk.report()
        bs = line.split("=", 1)[1]
        r = subprocess.run([os.path.join(a.build, "bin", "flinc-gen"), "transactions", "--count", "200000",
                            "--output", "kafka://%s/tx" % bs], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           timeout=300)
        chk.ok(r.returncode == 0, "200,000 transactions in topic tx (2 partitions)", r.stderr.decode()[-300:])
        with cluster.Cluster(a.build, taskmanagers=1, slots=4, name="kafka-lag", keep=a.keep, checks=chk) as c:
            c.start()
            jid = c.submit(c.plugin("wordcount"), ["--input", "kafka://%s/tx" % bs, "--output", c.path("out"),
                                                   "--rate", "2000"], parallelism=2)
            c.wait_running(jid, timeout=60)
            first = None
            t0 = time.monotonic()
            while time.monotonic() - t0 < 30:
                time.sleep(1)
                _, body = c.request("GET", "/metrics")
                ms = parse(body if isinstance(body, str) else str(body))
                lags = [(lb, v) for n, lb, v in ms if n == LAG and lb.get("job_id") == jid]
                if len({lb["partition"] for lb, _ in lags}) == 2:
                    first = ms
                    break
            if not chk.ok(first is not None, "records_lag reported for both partitions of tx"):
                return chk.report()
            lags = [(lb, v) for n, lb, v in first if n == LAG and lb.get("job_id") == jid]
            offs = {(lb["subtask_index"], lb["partition"]): v for n, lb, v in first if n == OFF and lb.get("job_id") == jid}
            pend = {lb["subtask_index"]: v for n, lb, v in first if n == PEND and lb.get("job_id") == jid}
            chk.ok(all(lb.get("topic") == "tx" and 1 <= v <= 200000 for lb, v in lags),
                   "lag per partition between 1 and 200,000 with topic and partition labels: %s" %
                   ", ".join("p%s=%d" % (lb["partition"], v) for lb, v in lags))
            sums = {}
            for lb, v in lags:
                sums[lb["subtask_index"]] = sums.get(lb["subtask_index"], 0) + v
            chk.ok(sums and all(abs(pend.get(s, -1) - v) < 0.5 for s, v in sums.items()),
                   "pendingRecords per subtask = the sum of its partitions' lags (%s)" % pend)
            time.sleep(4)
            _, body = c.request("GET", "/metrics")
            later = {(lb["subtask_index"], lb["partition"]): v for n, lb, v in parse(body)
                     if n == OFF and lb.get("job_id") == jid}
            chk.ok(offs and all(later.get(k, -1) > v for k, v in offs.items()),
                   "currentOffset grows while the job reads (%s -> %s)" % (offs, later))
            if shutil.which("promtool"):
                # as web_rest: errors fail, the one lint allowed is the
                # camelCase of Flink's metric names
                p = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, text=True)
                other = [ln for ln in (p.stdout + p.stderr).splitlines() if ln.strip() and not re.match(
                    r"^flinc_(taskmanager|jobmanager)_\S+ metric names should be written in 'snake_case' not "
                    r"'camelCase'$", ln)]
                chk.ok(p.returncode in (0, 3) and not other,
                       "promtool check metrics accepts the scrape with the lag metrics", other or p.returncode)
            with open(c.path("words.txt"), "w") as f:
                f.write("a b c\n" * 1000)
            file_jid = c.submit(c.plugin("wordcount"), ["--input", c.path("words.txt"), "--output", c.path("out2"),
                                                        "--rate", "200"], parallelism=1)
            c.wait_running(file_jid, timeout=60)
            time.sleep(2)
            _, body = c.request("GET", "/metrics")
            chk.ok(not [1 for n, lb, v in parse(body) if n in (LAG, OFF, PEND) and lb.get("job_id") == file_jid],
                   "a job reading a file reports no Kafka lag")
            c.request("PATCH", "/jobs/%s" % jid)
            c.request("PATCH", "/jobs/%s" % file_jid)
    finally:
        mock.kill()
        mock.wait()
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
