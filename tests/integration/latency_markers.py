#!/usr/bin/env python3
"""latency_markers - end-to-end latency markers on a real cluster (issue 20,
acceptance 6; docs/metrics.md, "Latency").

A job manager and two task managers (two slots each); wordcount at -p 2 read
at --rate LINES/s (so the job runs a while) with metrics.latency.interval
100ms and execution.buffer-timeout 10ms. Checks:
  - GET /metrics has the histogram flinc_taskmanager_job_task_latencyMs for
    the sink's subtasks with Flink's labels: _count > 0, cumulative buckets
    that never go down, le="+Inf" equal to _count, a mean under 1 s;
    `promtool check metrics` (when installed) finds no error;
  - GET /jobs/:jid/vertices/:vid/subtasks/metrics?get=latencyMs_p50,... of
    the sink's vertex: count > 0 and 0 <= p50 <= p95 <= p99 < 2000 ms; the
    source's vertex has no latency (count 0);
  - the job finishes; its output is exactly the word counts (no marker
    turned into a record), and for every exchange the records the upstream
    vertex wrote (numRecordsOut) are those the downstream one read
    (numRecordsIn), the source vertex's being the input's words (markers are
    not counted);
  - with metrics.latency.interval 0 no histogram appears.

Usage: latency_markers.py --build BUILD_DIR [--lines N] [--rate R] [--keep]
"""

import os
import random
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_counts  # noqa: E402
import cluster  # noqa: E402

HIST = "flinc_taskmanager_job_task_latencyMs"


def metrics_text(c):
    st, body = c.request("GET", "/metrics")
    return body if st == 200 and isinstance(body, str) else ""


def parse_hist(text, jid):
    """{subtask_index: {"buckets": [(le, v)], "sum": x, "count": n}} of jid."""
    out = {}
    for line in text.splitlines():
        m = re.match(r'^%s_(bucket|sum|count)\{(.*)\} (\S+)$' % HIST, line)
        if not m or 'job_id="%s"' % jid not in m.group(2):
            continue
        idx = re.search(r'subtask_index="(\d+)"', m.group(2)).group(1)
        h = out.setdefault(int(idx), {"buckets": [], "sum": None, "count": None})
        v = float(m.group(3))
        if m.group(1) == "bucket":
            le = re.search(r'le="([^"]+)"', m.group(2)).group(1)
            h["buckets"].append((float("inf") if le == "+Inf" else float(le), v))
        else:
            h[m.group(1)] = v
    return out


def vertex_metrics(c, jid, vid, ids):
    ans = c.get("/jobs/%s/vertices/%s/subtasks/metrics?get=%s" % (jid, vid, ",".join(ids)))
    return {m["id"]: m for m in ans}


def main():
    ap = cluster.arg_parser(__doc__)
    ap.add_argument("--lines", type=int, default=60000)
    ap.add_argument("--rate", type=int, default=10000)
    a = ap.parse_args()
    chk = cluster.Checks()
    conf = {"metrics.latency.interval": "100ms", "execution.buffer-timeout": "10ms"}
    with cluster.Cluster(a.build, taskmanagers=2, slots=2, name="latency", keep=a.keep, checks=chk) as c:
        job = c.plugin()
        c.start()
        inp = cluster.write_words(c.path("input.txt"), random.Random(20), 2000, a.lines)
        with open(inp, "rb") as f:
            nlines = sum(1 for _ in f)
        expected = check_counts.expected_counts([inp])
        out = c.path("out")
        jid = c.submit(job, ["--input", inp, "--output", out, "--rate", str(a.rate)], parallelism=2, conf=conf)
        c.wait_running(jid)
        vs = c.job(jid)["vertices"]
        src, sink = vs[0], vs[-1]
        print("vertices: %s" % [v["name"] for v in vs], flush=True)

        def counted():
            h = parse_hist(metrics_text(c), jid)
            # both sink subtasks: a subtask's histogram appears with its first marker
            return h if sorted(h) == [0, 1] and all((x["count"] or 0) >= 5 for x in h.values()) else None

        hist = cluster.poll(counted, 30, interval=0.2) or {}
        text = metrics_text(c)
        chk.ok(sorted(hist) == [0, 1], "/metrics: %s of both sink subtasks" % HIST, sorted(hist))
        chk.ok("# TYPE %s histogram" % HIST in text, "/metrics: TYPE histogram")
        for idx, h in sorted(hist.items()):
            vals = [v for _, v in h["buckets"]]
            les = [le for le, _ in h["buckets"]]
            chk.ok(h["count"] and h["count"] > 0, "subtask %d: _count %s > 0" % (idx, h["count"]))
            chk.ok(les == sorted(les) and les[-1] == float("inf") and vals == sorted(vals),
                   "subtask %d: buckets by le, cumulative, up to +Inf" % idx, h["buckets"])
            chk.ok(vals and vals[-1] == h["count"], "subtask %d: le=+Inf equals _count" % idx,
                   (vals[-1:], h["count"]))
            mean = h["sum"] / h["count"] if h["count"] else -1
            chk.ok(0 <= mean < 1000, "subtask %d: mean latency %.3f ms (0..1000)" % (idx, mean))
        line = next((l for l in text.splitlines() if l.startswith(HIST + "_count{")), "")
        for lab in ("job_id", "job_name", "task_name", "subtask_index", "tm_id"):
            chk.ok(lab + '="' in line, "label %s on %s_count" % (lab, HIST), line)
        promtool = shutil.which("promtool")
        if promtool:
            p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                               timeout=60)
            bad = [l for l in (p.stdout + p.stderr).splitlines()
                   if l.strip() and "snake_case" not in l]
            chk.ok(p.returncode in (0, 3) and not bad, "promtool check metrics: no error", bad)
        else:
            print("  (promtool is not installed: the format check is left out)")

        ids = ["latencyMs_p50", "latencyMs_p95", "latencyMs_p99", "latencyMs_count", "latencyMs_mean"]
        m = vertex_metrics(c, jid, sink["id"], ids)
        p50, p95, p99 = (m[i]["max"] for i in ids[:3])
        print("sink vertex latency (max over subtasks): p50 %.3f ms, p95 %.3f ms, p99 %.3f ms, count %d"
              % (p50, p95, p99, m["latencyMs_count"]["sum"]), flush=True)
        chk.ok(m["latencyMs_count"]["min"] > 0, "REST: every sink subtask counted markers", m["latencyMs_count"])
        chk.ok(0 <= p50 <= p95 <= p99 < 2000, "REST: 0 <= p50 <= p95 <= p99 < 2000 ms", (p50, p95, p99))
        ms = vertex_metrics(c, jid, src["id"], ids)
        chk.ok(ms["latencyMs_count"]["sum"] == 0, "REST: the source vertex has no latency histogram",
               ms["latencyMs_count"])

        c.wait_job(jid, {"FINISHED"}, timeout=120)
        check_counts.verify(chk, expected, out, "output with latency markers on")
        vs = c.job(jid)["vertices"]
        tot = {v["id"]: v["metrics"] for v in vs}
        plan = c.get("/jobs/%s/plan" % jid)["plan"]["nodes"]
        for n in plan:
            for e in n.get("inputs", []):
                up, down = tot[e["id"]], tot[n["id"]]
                chk.ok(up["write-records"] == down["read-records"],
                       "edge %s -> %s: %d records written, %d read (no marker counted)"
                       % (e["id"][:6], n["id"][:6], up["write-records"], down["read-records"]))
        # wordcount's source is chained with its tokenizer: one record a word.
        nwords = sum(expected.values())
        chk.ok(tot[src["id"]]["write-records"] == nwords,
               "source vertex wrote %d records for %d words of %d lines"
               % (tot[src["id"]]["write-records"], nwords, nlines))

        # Off: no histogram.
        jid2 = c.submit(job, ["--input", inp, "--output", c.path("out2"), "--rate", str(a.rate * 4)],
                        parallelism=2, conf={"metrics.latency.interval": "0"})
        c.wait_running(jid2)
        time.sleep(2.5)
        h2 = parse_hist(metrics_text(c), jid2)
        chk.ok(not h2, "metrics.latency.interval=0: no histogram", h2)
        c.wait_job(jid2, {"FINISHED"}, timeout=120)
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
