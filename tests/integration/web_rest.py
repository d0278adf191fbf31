#!/usr/bin/env python3
"""web_rest - the REST paths the web UI needs, its static route and /metrics.

Against a real cluster (2 task managers, wordcount at -p 2, checkpoints on):
  - GET / and the built assets, with the content security policy and without
    a CORS header; the static route refuses traversal (plain, %2e%2e,
    double-encoded, encoded slashes, a link out of the folder) and a job
    manager whose web.dir has no UI says so in one line;
  - Flink's paths the UI reads, with Flink's field names:
    /jobs/:jid/config, /jobs/:jid/checkpoints/config,
    /jobs/:jid/vertices/:vid/subtasks/metrics (get, agg),
    /jobs/:jid/vertices/:vid/watermarks; flinc's aggregates /ui/overview and
    /ui/jobs/:jid; the paged /jobs/overview; refusals (400, 404);
  - the live output: GET /jobs/:jid/output streams Server-Sent Events with the
    records the sinks write;
  - GET /metrics under Flink's names and labels; `promtool check metrics`
    (when Debian's prometheus is installed) finds no error and no lint but
    the camelCase of Flink's names; a real Prometheus scrapes the job manager
    and rate(flinc_taskmanager_job_task_numRecordsIn[..]) is positive.
"""

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402

chk = cluster.Checks()
check = chk.ok


def raw_get(port, path, timeout=10.0):
    """GET path exactly as given (no normalization): (status, text, headers)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.putheader("Connection", "close")
        conn.endheaders()
        r = conn.getresponse()
        return r.status, r.read().decode(errors="replace"), r.headers
    finally:
        conn.close()


def static_route(c, build):
    st, html, h = raw_get(c.rest_port, "/")
    csp = h.get("Content-Security-Policy", "")
    check(st == 200 and 'id="app"' in html and "text/html" in h.get("Content-Type", ""),
          "GET / is the web UI's page", (st, html[:200]))
    for want in ("default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"):
        check(want in csp, "the page's content security policy has %s" % want, csp)
    check("unsafe-inline" not in csp and "unsafe-eval" not in csp and "http" not in csp,
          "the policy allows no inline script, no eval and no other origin", csp)
    for path in ("/", "/overview", "/web/index.html"):
        st, _, h = raw_get(c.rest_port, path)
        check("Access-Control-Allow-Origin" not in h, "no CORS header on %s" % path, h.get("Access-Control-Allow-Origin"))
    assets = re.findall(r'(?:src|href)="(/web/[^"]+)"', html)
    check(len(assets) >= 2, "the page names its script and style sheet under /web/", assets)
    for a in assets:
        st, body, h = raw_get(c.rest_port, a)
        ct = h.get("Content-Type", "")
        check(st == 200 and len(body) > 100 and ("javascript" in ct or "css" in ct),
              "%s is served (%s, %d bytes)" % (a, ct, len(body)), st)
        check("immutable" in h.get("Cache-Control", ""), "%s is cacheable (its name is its hash)" % a)
        check("https://" not in body and "http://" not in body.replace("http://www.w3.org", ""),
              "%s loads nothing from the internet" % a)

    refused = ["/web/..", "/web/%2e%2e", "/web/%2E%2E", "/web/..%2f..%2fetc%2fpasswd",
               "/web/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/web/%252e%252e%252fetc%252fpasswd",
               "/web/%252e%252e", "/web/../../etc/passwd", "/web/.%2e/.%2e/etc/passwd",
               "/web/%2fetc%2fpasswd", "/web/.hidden.js", "/web/app.exe", "/web/",
               "/web/index.html/..", "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd"]
    for p in refused:
        st, body, _ = raw_get(c.rest_port, p)
        check(st == 404 and "root:" not in body, "%s is refused (404)" % p, (st, body[:120]))
    st, body, _ = raw_get(c.rest_port, "/web/index.html%00.js")
    check(st == 400 and "root:" not in body, "/web/index.html%00.js is refused (400)", (st, body[:120]))

    # A folder of our own: a link out of it is not followed, and a folder
    # without index.html means the UI was not built.
    webdir = c.path("webcopy")
    shutil.copytree(os.path.join(build, "web"), webdir)
    os.symlink("/etc/passwd", os.path.join(webdir, "evil.js"))
    os.symlink(os.path.join(webdir, "index.html"), os.path.join(webdir, "link.html"))
    for extra, what in (({"web.dir": webdir}, "copy"), ({"web.dir": c.path("nothing-here")}, "missing")):
        port = cluster.free_port()
        argv = [os.path.join(build, "bin", "flinc-jobmanager"), "-D", "rest.port=%d" % port,
                "-D", "jobmanager.rpc.port=%d" % cluster.free_port(), "-D", "rest.bind-address=127.0.0.1",
                "-D", "jobmanager.blob.dir=%s" % c.path("jm2-" + what)]
        for k, v in extra.items():
            argv += ["-D", "%s=%s" % (k, v)]
        d = cluster.Daemon("jm-" + what, argv, c.path("jm-%s.log" % what), c.tmp)
        try:
            cluster.wait_rest(d, port, 20)
            if what == "copy":
                for p in ("/web/evil.js", "/web/link.html"):
                    st, body, _ = raw_get(port, p)
                    check(st == 404 and "root:" not in body, "%s (a symbolic link) is refused" % p, (st, body[:80]))
                st, body, _ = raw_get(port, "/")
                check(st == 200 and 'id="app"' in body, "web.dir=<a copy> serves the UI")
            else:
                st, body, h = raw_get(port, "/")
                check(st == 200 and "was not built" in body and body.count("\n") <= 1
                      and "script-src 'self'" in h.get("Content-Security-Policy", ""),
                      "without a built UI, GET / is one line saying so", body)
                st, _, _ = raw_get(port, "/web/index.html")
                check(st == 404, "without a built UI, /web/ serves nothing", st)
        finally:
            d.stop()


def completions(c, jid):
    job = c.get("/jobs/%s" % jid)
    vids = [v["id"] for v in job["vertices"]]
    for v in job["vertices"]:
        for f in ("numRecordsInPerSecond", "numRecordsOutPerSecond", "backPressuredTimeMsPerSecond",
                  "currentInputWatermark"):
            check(f in v and all(f in s for s in v["subtasks"]), "vertex %s and its subtasks have %s" % (v["id"], f))
    src = job["vertices"][0]
    check(src["numRecordsOutPerSecond"] > 0, "the source's numRecordsOutPerSecond is positive",
          src["numRecordsOutPerSecond"])

    st, doc = c.request("GET", "/jobs/%s/config" % jid)
    ec = doc.get("execution-config", {}) if isinstance(doc, dict) else {}
    check(st == 200 and doc.get("jid") == jid and doc.get("name") == "wordcount", "GET /jobs/:jid/config", doc)
    for f in ("execution-mode", "restart-strategy", "job-parallelism", "object-reuse-mode", "user-config"):
        check(f in ec, "execution-config has %s" % f, ec.keys())
    check(ec.get("job-parallelism") == 2, "job-parallelism is 2", ec.get("job-parallelism"))
    uc = ec.get("user-config", {})
    check(uc.get("security.cluster.secret") in (None, "******") and uc.get("rest.auth.token") in (None, "******"),
          "no secret in the job's configuration", uc.get("security.cluster.secret"))

    st, doc = c.request("GET", "/jobs/%s/checkpoints/config" % jid)
    check(st == 200, "GET /jobs/:jid/checkpoints/config", (st, doc))
    for f in ("mode", "interval", "timeout", "min_pause", "max_concurrent", "externalization",
              "state_backend", "checkpoint_storage", "unaligned_checkpoints", "tolerable_failed_checkpoints"):
        check(isinstance(doc, dict) and f in doc, "checkpoint config has %s" % f)
    check(doc.get("mode") == "exactly_once" and doc.get("interval") == 500,
          "mode exactly_once, interval 500 ms", (doc.get("mode"), doc.get("interval")))

    vid = vids[-1]
    st, doc = c.request("GET", "/jobs/%s/vertices/%s/subtasks/metrics" % (jid, vid))
    ids = [m.get("id") for m in doc] if isinstance(doc, list) else []
    check(st == 200 and {"numRecordsIn", "numRecordsOut", "numRecordsInPerSecond",
                         "backPressuredTimeMsPerSecond", "currentInputWatermark"} <= set(ids),
          "subtasks/metrics lists the metric ids", ids)
    st, doc = c.request("GET", "/jobs/%s/vertices/%s/subtasks/metrics?get=numRecordsIn,numRecordsInPerSecond,nope"
                        % (jid, vid))
    ok = st == 200 and isinstance(doc, list) and len(doc) == 2 and \
        all(set(m) == {"id", "min", "max", "avg", "sum"} for m in doc)
    check(ok, "subtasks/metrics?get=a,b,unknown: min/max/avg/sum of the known two", doc)
    if ok:
        m = doc[0]
        check(m["min"] <= m["avg"] <= m["max"] and abs(m["sum"] - 2 * m["avg"]) < 1e-6 * max(1, m["sum"]),
              "the aggregates agree (2 subtasks)", m)
    st, doc = c.request("GET", "/jobs/%s/vertices/%s/subtasks/metrics?get=numRecordsIn&agg=max,sum" % (jid, vid))
    check(st == 200 and doc and set(doc[0]) == {"id", "max", "sum"}, "agg=max,sum gives those two", doc)
    st, doc = c.request("GET", "/jobs/%s/vertices/%s/subtasks/metrics?get=numRecordsIn&agg=median" % (jid, vid))
    check(st == 400 and "agg" in (cluster.error_message(doc) or ""), "agg=median is a 400 naming agg", (st, doc))
    st, doc = c.request("GET", "/jobs/%s/vertices/0123456789abcdef/subtasks/metrics" % jid)
    check(st == 404, "subtasks/metrics of an unknown vertex is 404", st)

    st, doc = c.request("GET", "/jobs/%s/vertices/%s/watermarks" % (jid, vid))
    check(st == 200 and isinstance(doc, list) and [d.get("id") for d in doc] ==
          ["0.currentInputWatermark", "1.currentInputWatermark"] and all(isinstance(d.get("value"), str) for d in doc),
          "watermarks: Flink's list of <i>.currentInputWatermark", doc)

    st, doc = c.request("GET", "/jobs/overview?state=running&offset=0&limit=1")
    check(st == 200 and doc.get("total") == 1 and len(doc.get("jobs", [])) == 1 and doc["jobs"][0]["jid"] == jid,
          "/jobs/overview?state=running&limit=1: a page and the total", doc)
    st, doc = c.request("GET", "/jobs/overview?state=completed")
    check(st == 200 and doc.get("total") == 0 and doc.get("jobs") == [], "no completed job yet", doc)
    for q, name in (("state=sleeping", "state"), ("limit=ten", "limit"), ("offset=-1", "offset")):
        st, doc = c.request("GET", "/jobs/overview?" + q)
        check(st == 400 and name in (cluster.error_message(doc) or ""), "/jobs/overview?%s is a 400" % q, (st, doc))

    st, doc = c.request("GET", "/ui/overview")
    check(st == 200 and doc.get("taskmanagers") == 2 and len(doc.get("taskmanagers-list", [])) == 2
          and doc.get("jobs-by-state", {}).get("RUNNING") == 1 and doc.get("sourceRecordsPerSecond", 0) > 0
          and [j["jid"] for j in doc.get("jobs", [])] == [jid],
          "/ui/overview: task managers, jobs by state, throughput, running jobs", doc)
    st, doc = c.request("GET", "/ui/jobs/%s" % jid)
    check(st == 200 and set(doc) == {"job", "checkpoints", "exceptions", "config", "checkpoint-config"}
          and doc["job"]["jid"] == jid, "/ui/jobs/:jid: the whole job page in one document", list(doc or {}))
    for p in ("/ui/jobs/0123456789abcdef0123456789abcdef", "/jobs/0123456789abcdef0123456789abcdef/config",
              "/jobs/0123456789abcdef0123456789abcdef/checkpoints/config",
              "/jobs/0123456789abcdef0123456789abcdef/output"):
        st, doc = c.request("GET", p)
        check(st == 404 and cluster.error_message(doc), "%s of an unknown job is 404" % p, (st, doc))
    st, doc = c.request("POST", "/ui/overview", {})
    check(st == 405, "POST /ui/overview is 405", st)


def live_output(c, jid):
    s = socket.create_connection(("127.0.0.1", c.rest_port), timeout=15)
    s.sendall(("GET /jobs/%s/output HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept: text/event-stream\r\n\r\n"
               % (jid, c.rest_port)).encode())
    buf = b""
    deadline = time.time() + 15
    events = []
    try:
        while time.time() < deadline and len(events) < 2:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            events = re.findall(rb"event: records\r?\ndata: (\{.*?\})\n", buf)
    except socket.timeout:
        pass
    finally:
        s.close()
    head = buf.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
    check(head.startswith("HTTP/1.1 200") and "text/event-stream" in head, "GET /jobs/:jid/output is an event stream",
          head)
    check("Content-Security-Policy" in head, "the stream carries the content security policy too")
    docs = []
    for e in events:
        try:
            docs.append(json.loads(e))
        except ValueError:
            pass
    check(len(docs) >= 1 and all(d.get("records") for d in docs), "sink records arrive as events", buf[-300:])
    if docs:
        d = docs[0]
        check(d.get("name", "").endswith("Sink: sink") and re.match(r"^\S+\t\d+$", d["records"][0]),
              "an event names the sink and carries its records as written ('word<TAB>count')", d)
    # The watcher left: its stream is closed on the next event, and the job
    # goes on (counting is checked by the caller).


def metrics(c, build):
    st, text, h = raw_get(c.rest_port, "/metrics")
    check(st == 200 and "text/plain" in h.get("Content-Type", ""), "GET /metrics is text", st)
    for name in ("numRecordsIn", "numRecordsOut", "numRecordsInPerSecond", "numRecordsOutPerSecond",
                 "backPressuredTimeMsPerSecond", "currentInputWatermark"):
        m = re.search(r"^flinc_taskmanager_job_task_%s\{([^}]*)\} (\S+)$" % name, text, re.M)
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1))) if m else {}
        check(m and set(labels) == {"job_id", "job_name", "task_name", "subtask_index", "tm_id"},
              "flinc_taskmanager_job_task_%s with job_id, job_name, task_name, subtask_index, tm_id" % name,
              m.group(0) if m else "absent")
    for name in ("lastCheckpointDuration", "numberOfFailedCheckpoints", "numberOfCompletedCheckpoints", "numRestarts"):
        check(re.search(r"^flinc_jobmanager_job_%s\{job_id=\"[0-9a-f]{32}\",job_name=\"wordcount\"\} \d+$" % name,
                        text, re.M), "flinc_jobmanager_job_%s" % name)
    for name in ("Memory_RSS", "CPU_Load"):
        m = re.findall(r"^flinc_taskmanager_Status_%s\{tm_id=\"[^\"]+\"\} (\S+)$" % name, text, re.M)
        check(len(m) == 2, "flinc_taskmanager_Status_%s of both task managers" % name, m)
    rss = [float(x) for x in re.findall(r"^flinc_taskmanager_Status_Memory_RSS\{[^}]*\} (\S+)$", text, re.M)]
    check(rss and min(rss) > 1e6, "task manager memory is reported (> 1 MB)", rss)

    promtool = shutil.which("promtool")
    if not promtool:
        print("  (promtool is not installed: the format check is left out; scripts/install-deps.sh installs it)")
        return
    p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    lints = [l for l in (p.stdout + p.stderr).splitlines() if l.strip()]
    other = [l for l in lints if not re.match(r"^flinc_(taskmanager|jobmanager)_\S+ metric names should be written "
                                              r"in 'snake_case' not 'camelCase'$", l)]
    check(p.returncode in (0, 3) and not other,
          "promtool check metrics: no error, no lint but the camelCase of Flink's names (%d of those)" % len(lints),
          other or p.returncode)


def prometheus_scrape(c):
    prom = shutil.which("prometheus")
    if not prom:
        print("  (prometheus is not installed: the scrape test is left out)")
        return
    d = c.path("prometheus")
    os.makedirs(d)
    port = cluster.free_port()
    with open(os.path.join(d, "prometheus.yml"), "w") as f:
        f.write("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: flinc\n"
                "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % c.rest_port)
    argv = [prom, "--config.file=" + os.path.join(d, "prometheus.yml"), "--storage.tsdb.path=" + os.path.join(d, "data"),
            "--web.listen-address=127.0.0.1:%d" % port]
    daemon = cluster.Daemon("prometheus", argv, c.path("prometheus.log"), d)
    try:
        q = "sum(rate(flinc_taskmanager_job_task_numRecordsIn[5s]))"
        url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (port, urllib.parse.quote(q))

        def positive():
            with urllib.request.urlopen(url, timeout=5) as r:
                doc = json.load(r)
            res = doc.get("data", {}).get("result", [])
            return float(res[0]["value"][1]) if res and float(res[0]["value"][1]) > 0 else None

        v = cluster.poll(positive, 40, interval=1, ignore=(OSError, ValueError, KeyError, IndexError))
        check(v, "a real Prometheus scraped flinc: %s = %s" % (q, v), daemon.tail(10))
    finally:
        daemon.stop()


def main():
    args = cluster.arg_parser(__doc__).parse_args()
    build = args.build
    why = cluster.missing(build, "bin/flinc-jobmanager", "bin/flinc-taskmanager", "jobs/wordcount.so")
    if why:
        print(why)
        return 1
    if not os.path.exists(os.path.join(build, "web", "index.html")):
        print("SKIP: the web UI was not built (no npm at configure time): build/web/index.html is missing")
        return 77
    conf = {"state.checkpoints.dir": "CHK", "execution.checkpointing.interval": "500ms"}
    with cluster.Cluster(build, taskmanagers=2, slots=2, name="web-rest", checks=chk, keep=args.keep) as c:
        conf["state.checkpoints.dir"] = c.path("chk")
        c.conf.update(conf)
        c.start()
        inp = c.path("in.txt")
        cluster.write_input(inp, 7, 400000)
        jid = c.submit(c.plugin(), ["--input", inp, "--output", c.path("out"), "--rate", "3000"], parallelism=2)
        c.wait_running(jid)
        cluster.wait_until(lambda: c.job(jid)["vertices"][0]["numRecordsOutPerSecond"] > 0, 20, "a rate")
        static_route(c, build)
        completions(c, jid)
        live_output(c, jid)
        before = c.job(jid)["vertices"][-1]["metrics"]["read-records"]
        time.sleep(1.5)
        check(c.job(jid)["vertices"][-1]["metrics"]["read-records"] > before, "the job goes on after the watcher left")
        metrics(c, build)
        prometheus_scrape(c)
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
