#!/usr/bin/env python3
"""The job manager's REST API, driven over HTTP (Python stdlib only).

Without task managers: every endpoint answers with Flink's fields; every bad
request (non-plugin upload, unknown jar, path traversal, malformed JSON,
wrong types, savepointPath, invalid job arguments, -p beyond the slots,
unknown job, unknown path, wrong method, missing token) gets a clear JSON
error and changes nothing; a port in use is one line and exit 1; SIGTERM
stops it cleanly and removes its private blob folder.

With flinc-taskmanager built as well: 2 task managers x 2 slots; wordcount at
-p 4 runs on both; a job that needs more slots than are free is refused at
once, or with slot.request.wait waits and fails after slot.request.timeout;
cancel ends in CANCELED within 1 s and frees the slots;
a task manager killed with SIGKILL is noticed within 1 s, the job fails with
a clear exception and the cluster keeps working; a stopped (silent) task
manager is dropped after heartbeat.timeout and registers again.

usage: jm_rest.py --build BUILD_DIR
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402
from cluster import free_port, multipart  # noqa: E402

DAEMONS = []  # every process started, killed at the end
chk = cluster.Checks()
check = chk.ok


class JM:
    """A bare job manager: only its ports set (unlike cluster.Cluster's), so
    the defaults (private blob folder, heartbeat) are what is tested."""

    def __init__(self, build, tmp, *extra, name="jm"):
        self.rest = free_port()
        self.rpc = free_port()
        self.log_path = os.path.join(tmp, name + ".log")
        args = [os.path.join(build, "bin", "flinc-jobmanager"),
                "-D", "rest.port=%d" % self.rest, "-D", "jobmanager.rpc.port=%d" % self.rpc]
        for e in extra:
            args += ["-D", e]
        self.d = cluster.Daemon(name, args, self.log_path, None)
        self.p = self.d.proc
        DAEMONS.append(self.d)
        if not cluster.wait_rest(self.d, self.rest, 10):
            raise RuntimeError("job manager exited: " + self.d.log_text())

    def request(self, method, path, body=None, headers=None):
        """(status, parsed JSON or text, headers) of one request to it."""
        return cluster.http_request(self.rest, method, path, body, headers)

    def blob_dir(self):
        m = re.search(r"blob store (\S+?),", self.d.log_text())
        return m.group(1) if m else None

    def stop(self):
        return self.d.stop()


def is_error(status, doc, code, needle=None):
    """status is `code` and doc a {"errors": [...]} body whose first message
    holds `needle` (any case)."""
    msg = cluster.error_message(doc)
    return status == code and msg is not None and (not needle or needle.lower() in msg.lower())


def job_state(jm, jid):
    return jm.request("GET", "/jobs/" + jid)[1].get("state")


def rest_without_task_managers(build, tmp, plugin):
    jm = JM(build, tmp)
    st, doc, h = jm.request("GET", "/")
    # The web UI's page, or (built without npm) one line that says so and
    # links the API; either with the content security policy.
    check(st == 200 and ('id="app"' in doc or "/overview" in doc) and "text/html" in h.get("Content-Type", "")
          and "script-src 'self'" in h.get("Content-Security-Policy", ""), "GET / is the web UI's HTML page, with a CSP")
    st, doc, _ = jm.request("GET", "/overview")
    check(st == 200 and doc.get("taskmanagers") == 0 and doc.get("slots-total") == 0 and
          {"slots-available", "jobs-running", "jobs-finished", "jobs-cancelled", "jobs-failed",
           "flink-version"} <= set(doc), "GET /overview has Flink's fields")
    st, doc, _ = jm.request("GET", "/config")
    check(st == 200 and "refresh-interval" in doc and "flink-version" in doc, "GET /config")
    st, doc, _ = jm.request("GET", "/jobmanager/config")
    keys = {e["key"]: e["value"] for e in doc} if st == 200 else {}
    check(keys.get("rest.port") == str(jm.rest) and keys.get("heartbeat.interval") == "1s",
          "GET /jobmanager/config lists the effective configuration")
    st, doc, _ = jm.request("GET", "/jobs/overview")
    check(st == 200 and doc == {"jobs": []}, "GET /jobs/overview is empty")
    st, doc, _ = jm.request("GET", "/taskmanagers")
    check(st == 200 and doc == {"taskmanagers": []}, "GET /taskmanagers is empty")
    st, doc, _ = jm.request("GET", "/jars")
    check(st == 200 and doc.get("files") == [], "GET /jars is empty")
    st, doc, h = jm.request("GET", "/metrics")
    check(st == 200 and "flinc_taskmanagers 0" in doc and 'flinc_jobs{state="RUNNING"} 0' in doc and
          "flinc_slots_available 0" in doc, "GET /metrics is Prometheus text")

    # Uploads.
    body, hdrs = multipart("jarfile", "notes.so", b"just some text\n")
    st, doc, _ = jm.request("POST", "/jars/upload", body, hdrs)
    check(is_error(st, doc, 400, "not a job plugin"), "a non-plugin upload is refused: %s" % doc)
    lib = "/lib/x86_64-linux-gnu/libc.so.6"
    if os.path.exists(lib):
        body, hdrs = multipart("jarfile", "libc.so.6", open(lib, "rb").read())
        st, doc, _ = jm.request("POST", "/jars/upload", body, hdrs)
        check(is_error(st, doc, 400, "not a flinc job"), "a shared object that is no job is refused: %s" % doc)
    body, hdrs = multipart("file", "wordcount.so", b"x")
    st, doc, _ = jm.request("POST", "/jars/upload", body, hdrs)
    check(is_error(st, doc, 400, "jarfile"), "an upload without a 'jarfile' field is refused")
    st, doc, _ = jm.request("POST", "/jars/upload", "plain", {"Content-Type": "text/plain"})
    check(is_error(st, doc, 400, "multipart"), "a non-multipart upload is refused")
    st, doc, _ = jm.request("POST", "/jars/upload", b"--x\r\nbroken", {"Content-Type": "multipart/form-data; boundary=x"})
    check(is_error(st, doc, 400), "a truncated multipart body is refused")
    st, doc, _ = jm.request("GET", "/jars/upload")
    check(is_error(st, doc, 405), "GET /jars/upload is 405")
    st, doc, _ = jm.request("GET", "/jars")
    blob = jm.blob_dir()
    check(st == 200 and doc["files"] == [] and blob and os.listdir(blob) == [],
          "refused uploads leave nothing behind")

    body, hdrs = multipart("jarfile", "../../wordcount.so", open(plugin, "rb").read())
    st, doc, _ = jm.request("POST", "/jars/upload", body, hdrs)
    ok = check(st == 200 and doc.get("status") == "success" and doc.get("filename", "").endswith("_wordcount.so")
               and os.path.dirname(doc["filename"]) == blob, "upload of wordcount.so: %s" % doc)
    if not ok:
        jm.stop()
        return
    jar = os.path.basename(doc["filename"])
    st, doc, _ = jm.request("GET", "/jars")
    check(st == 200 and [f["id"] for f in doc["files"]] == [jar] and doc["files"][0]["name"] == "wordcount.so" and
          isinstance(doc["files"][0]["uploaded"], int), "GET /jars lists the upload")

    # Bad run requests.
    run = "/jars/%s/run" % jar
    st, doc, _ = jm.request("POST", "/jars/%s_nope.so/run" % ("0" * 32), {})
    check(is_error(st, doc, 404, "not found"), "run of an unknown jar id is 404")
    st, doc, _ = jm.request("POST", "/jars/..%2F..%2Fetc%2Fpasswd/run", {})
    check(is_error(st, doc, 404), "a jar id with a path is 404")
    st, doc, _ = jm.request("POST", run, '{"parallelism": ', {"Content-Type": "application/json"})
    check(is_error(st, doc, 400, "malformed json"), "malformed JSON is 400")
    st, doc, _ = jm.request("POST", run, [1, 2])
    check(is_error(st, doc, 400, "object"), "a JSON array body is 400")
    for bad, needle in (({"parallelism": "4"}, "parallelism"), ({"parallelism": 0}, "parallelism"),
                        ({"parallelism": 1.5}, "parallelism"), ({"programArgs": 5}, "programArgs"),
                        ({"programArgsList": ["--input", 3]}, "programArgsList"),
                        ({"programArgs": "a", "programArgsList": ["a"]}, "not both"),
                        ({"programArgs": "--input 'x"}, "quote"),
                        ({"savepointPath": "/tmp/sp", "programArgsList": ["--input", os.path.abspath(__file__)]}, "cannot restore"),
                        ({"allowNonRestoredState": "yes"}, "allowNonRestoredState"),
                        ({"flinkConfiguration": {"a": [1]}}, "flinkConfiguration"),
                        ({"programArgs": "--no-such-flag 1"}, "invalid job")):
        st, doc, _ = jm.request("POST", run, bad)
        check(is_error(st, doc, 400, needle), "run %s is 400: %s" % (json.dumps(bad), doc.get("errors")))
    inp = os.path.join(tmp, "in.txt")
    st, doc, _ = jm.request("POST", run, {"programArgsList": ["--input", inp], "parallelism": 2})
    check(is_error(st, doc, 400, "needs 2 slots") and "0 slots" in doc["errors"][0],
          "-p beyond the slots (none registered) is 400 at once: %s" % doc.get("errors"))
    st, doc, _ = jm.request("GET", "/jobs/overview")
    check(doc == {"jobs": []}, "bad run requests created no job")

    # Unknown ids, paths, methods.
    jid = "0123456789abcdef0123456789abcdef"
    for method, path, code in (("GET", "/jobs/" + jid, 404), ("PATCH", "/jobs/" + jid, 404),
                               ("GET", "/jobs/not-a-job", 404), ("GET", "/jobs/%s/exceptions" % jid, 404),
                               ("GET", "/jobs/%s/vertices/abc" % jid, 404), ("GET", "/no/such/path", 404),
                               ("GET", "/taskmanagers/nope", 404), ("DELETE", "/overview", 405),
                               ("POST", "/jobs/overview", 405), ("PUT", "/jobs/" + jid, 405),
                               ("DELETE", "/jars/%s_x.so" % ("0" * 32), 404),
                               ("PATCH", "/jobs/%s?mode=explode" % jid, 400),
                               ("POST", "/jobs/%s/savepoints" % jid, 404)):
        st, doc, h = jm.request(method, path, b"" if method != "GET" else None)
        check(is_error(st, doc, code), "%s %s is %d: %s" % (method, path, code, doc))
        if code == 405:
            check(bool(h.get("Allow")), "405 names the allowed method")
    st, doc, _ = jm.request("GET", "/jobs/" + jid)
    check("Not found: /jobs/" + jid in doc["errors"][0], "404 names the path")

    # Oversized body: refused before it is read, still an error, nothing changes.
    try:
        s = socket.create_connection(("127.0.0.1", jm.rest), timeout=5)
        s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nX-Flinc-Request: 1\r\nContent-Length: 99999999999\r\n\r\n"
                   % run).encode())
        reply = s.recv(4096).decode("latin-1")
        s.close()
        check(reply.startswith("HTTP/1.1 413") and '"errors"' in reply, "a body over the limit is 413: %r" % reply[:80])
    except OSError as e:
        check(False, "oversized body: %s" % e)
    # Garbage on the socket does not hurt it.
    try:
        s = socket.create_connection(("127.0.0.1", jm.rest), timeout=5)
        s.sendall(b"\x00\xff garbage \r\n\r\n")
        s.recv(4096)
        s.close()
    except OSError:
        pass
    st, _, _ = jm.request("GET", "/overview")
    check(st == 200 and jm.p.poll() is None, "the job manager survives bad requests")

    # A port in use: one line, exit 1.
    for key, port in (("rest.port", jm.rest), ("jobmanager.rpc.port", jm.rpc)):
        other = free_port()
        args = [os.path.join(build, "bin", "flinc-jobmanager"), "-D", "%s=%d" % (key, port),
                "-D", "%s=%d" % ("jobmanager.rpc.port" if key == "rest.port" else "rest.port", other)]
        r = subprocess.run(args, capture_output=True, text=True, timeout=20)
        lines = [l for l in r.stderr.splitlines() if "already in use" in l]
        check(r.returncode == 1 and len(lines) == 1 and str(port) in lines[0],
              "%s in use: exit 1 with one line (%r)" % (key, r.stderr.strip().splitlines()[-1:]))

    rc = jm.stop()
    check(rc == 0, "SIGTERM: clean exit (status %s)" % rc)
    check(blob and not os.path.exists(blob), "the private blob folder is removed at exit")


def auth_and_options(build, tmp, plugin):
    jm = JM(build, tmp, "rest.auth.token=s3cret", name="jm-auth")
    body, hdrs = multipart("jarfile", "wordcount.so", open(plugin, "rb").read())
    st, doc, h = jm.request("POST", "/jars/upload", body, hdrs)
    check(is_error(st, doc, 401, "authorization") and "Bearer" in h.get("WWW-Authenticate", ""),
          "with rest.auth.token a mutating call without the token is 401")
    st, doc, _ = jm.request("POST", "/jars/upload", body, dict(hdrs, Authorization="Bearer wrong"))
    check(is_error(st, doc, 401), "a wrong token is 401")
    st, doc, _ = jm.request("PATCH", "/jobs/" + "0" * 32, b"")
    check(is_error(st, doc, 401), "cancel without the token is 401")
    st, doc, _ = jm.request("GET", "/jars")
    check(st == 200 and doc["files"] == [], "reads need no token; nothing was stored")
    st, doc, _ = jm.request("POST", "/jars/upload", body, dict(hdrs, Authorization="Bearer s3cret"))
    check(st == 200 and doc.get("status") == "success", "with the token the upload works")
    st, doc, _ = jm.request("GET", "/jobmanager/config")
    check(st == 200 and "s3cret" not in json.dumps(doc), "the token is not shown in /jobmanager/config")
    check(jm.stop() == 0, "auth job manager stops cleanly")

    exe = os.path.join(build, "bin", "flinc-jobmanager")
    r = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 0 and "usage:" in r.stdout, "--help")
    r = subprocess.run([exe, "--frobnicate"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 2 and "--frobnicate" in r.stderr, "an unknown option is a usage error (2)")
    r = subprocess.run([exe, "-D", "heartbeat.timeout=soon"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 2 and "heartbeat.timeout" in r.stderr, "a malformed value names its key")
    r = subprocess.run([exe, "--config", os.path.join(tmp, "missing.conf")], capture_output=True, text=True,
                       timeout=10)
    check(r.returncode == 2 and "missing.conf" in r.stderr, "a missing --config file is named")


def start_tm(build, tmp, jm, name, slots=2):
    d = cluster.Daemon(name, [os.path.join(build, "bin", "flinc-taskmanager"),
                              "-D", "jobmanager.rpc.port=%d" % jm.rpc,
                              "-D", "taskmanager.numberOfTaskSlots=%d" % slots,
                              "-D", "taskmanager.tmp.dir=%s" % tmp],
                       os.path.join(tmp, name + ".log"), None)
    DAEMONS.append(d)
    return d.proc


def with_task_managers(build, tmp, plugin):
    jm = JM(build, tmp, "heartbeat.timeout=3s", name="jm-cluster")
    tms = [start_tm(build, tmp, jm, "tm%d" % i) for i in (1, 2)]
    ok = cluster.poll(lambda: jm.request("GET", "/overview")[1].get("taskmanagers") == 2, 15)
    if not check(ok, "2 task managers registered"):
        return
    st, doc, _ = jm.request("GET", "/taskmanagers")
    tm_ids = sorted(t["id"] for t in doc["taskmanagers"])
    check(all(t["slotsNumber"] == 2 and t["freeSlots"] == 2 and "path" in t and "dataPort" in t and
              "timeSinceLastHeartbeat" in t and "cpuCores" in t["hardware"] for t in doc["taskmanagers"]),
          "GET /taskmanagers has slots, address, heartbeat, hardware")
    body, hdrs = multipart("jarfile", "wordcount.so", open(plugin, "rb").read())
    st, doc, _ = jm.request("POST", "/jars/upload", body, hdrs)
    jar = os.path.basename(doc["filename"])
    run = "/jars/%s/run" % jar
    inp = os.path.join(tmp, "in.txt")

    # A bounded job at -p 4 on 2 x 2 slots: both task managers, FINISHED.
    st, doc, _ = jm.request("POST", run, {"programArgsList": ["--input", inp, "--output", os.path.join(tmp, "o1")],
                                          "parallelism": 4})
    check(st == 200 and re.fullmatch(r"[0-9a-f]{32}", doc.get("jobid", "")), "run -p 4: %s" % doc)
    jid = doc.get("jobid", "")
    seen = set()

    def placed():
        d = jm.request("GET", "/jobs/" + jid)[1]
        for v in d.get("vertices", []):
            for s in v.get("subtasks", []):
                seen.add(s.get("taskmanager-id"))
        return d.get("state") in ("FINISHED", "FAILED", "CANCELED") and d
    d = cluster.poll(placed, 30, 0.05)
    check(d and d["state"] == "FINISHED", "the -p 4 job FINISHED (%s)" % (d and d.get("state")))
    check(sorted(seen) == tm_ids, "its subtasks ran on both task managers: %s" % sorted(seen))
    if d:
        check(all(v["parallelism"] == 4 and v["status"] == "FINISHED" and len(v["subtasks"]) == 4 and
                  {"read-records", "write-records", "read-bytes", "write-bytes",
                   "accumulated-backpressured-time"} <= set(v["metrics"]) for v in d["vertices"]),
              "vertices: parallelism, status, metrics, subtasks")
        check(d["vertices"][-1]["metrics"]["read-records"] > 0, "records in are counted (%d)" %
              d["vertices"][-1]["metrics"]["read-records"])
        check(isinstance(d.get("plan"), dict) and d["plan"].get("jid") == jid, "plan with its job id")
        vid = d["vertices"][0]["id"]
        st, vd, _ = jm.request("GET", "/jobs/%s/vertices/%s" % (jid, vid))
        check(st == 200 and vd["id"] == vid and len(vd["subtasks"]) == 4, "GET /jobs/:jid/vertices/:vid")
    st, doc, _ = jm.request("GET", "/overview")
    check(doc["slots-available"] == 4 and doc["jobs-finished"] == 1, "slots free again after FINISHED")

    slow = {"programArgsList": ["--input", inp, "--output", os.path.join(tmp, "o2"), "--rate", "200"],
            "parallelism": 4}
    st, doc, _ = jm.request("POST", run, slow)
    a = doc.get("jobid", "")
    check(cluster.poll(lambda: job_state(jm, a) == "RUNNING", 10), "a slow -p 4 job is RUNNING")
    # Within the cluster's slots but none free: refused at once, nothing changes.
    before = jm.request("GET", "/jobs/overview")[1]
    st, doc, _ = jm.request("POST", run, {"programArgsList": ["--input", inp], "parallelism": 2})
    check(is_error(st, doc, 400, "not enough free task slots") and "0 of the cluster's 4" in doc["errors"][0],
          "-p beyond the free slots is 400: %s" % doc.get("errors"))
    check([j["jid"] for j in jm.request("GET", "/jobs/overview")[1]["jobs"]] ==
          [j["jid"] for j in before["jobs"]], "no job was created")
    # With slot.request.wait (here per job): it waits, then fails clearly.
    st, doc, _ = jm.request("POST", run, {"programArgsList": ["--input", inp], "parallelism": 2,
                                          "flinkConfiguration": {"slot.request.wait": "true",
                                                                 "slot.request.timeout": "1500ms"}})
    b = doc.get("jobid", "")
    check(st == 200 and job_state(jm, b) == "CREATED", "with slot.request.wait it is accepted and waits (CREATED)")
    check(cluster.poll(lambda: job_state(jm, b) == "FAILED", 5), "it FAILED after slot.request.timeout")
    st, doc, _ = jm.request("GET", "/jobs/%s/exceptions" % b)
    check("could not acquire" in (doc.get("root-exception") or "").lower(), "root exception: %s" %
          doc.get("root-exception"))

    # Cancel: CANCELED within 1 s, slots free.
    t0 = time.time()
    st, doc, _ = jm.request("PATCH", "/jobs/%s?mode=cancel" % a, b"")
    check(st == 202, "PATCH /jobs/:jid?mode=cancel is 202")
    check(cluster.poll(lambda: job_state(jm, a) == "CANCELED", 1.0, 0.01),
          "CANCELED within 1 s (%.3f s)" % (time.time() - t0))
    check(cluster.poll(lambda: jm.request("GET", "/overview")[1]["slots-available"] == 4, 1.0),
          "slots free again after cancel")
    st, doc, _ = jm.request("PATCH", "/jobs/%s?mode=cancel" % a, b"")
    check(is_error(st, doc, 409, "already"), "cancel of an ended job is 409")

    # kill -9 of a task manager while a job runs.
    st, doc, _ = jm.request("POST", run, dict(slow, programArgsList=slow["programArgsList"][:3] + [
        os.path.join(tmp, "o3"), "--rate", "200"]))
    c = doc.get("jobid", "")
    check(cluster.poll(lambda: job_state(jm, c) == "RUNNING", 10), "another slow job is RUNNING")
    t0 = time.time()
    tms[0].send_signal(signal.SIGKILL)
    check(cluster.poll(lambda: jm.request("GET", "/overview")[1]["taskmanagers"] == 1, 1.0, 0.01),
          "the job manager noticed the SIGKILL within 1 s (%.3f s)" % (time.time() - t0))
    check(cluster.poll(lambda: job_state(jm, c) == "FAILED", 2.0, 0.02), "the job FAILED")
    st, doc, _ = jm.request("GET", "/jobs/%s/exceptions" % c)
    root = doc.get("root-exception") or ""
    # Whichever saw the loss first names it: the job manager ("TaskManager
    # ... lost: ...") or the surviving task manager, whose data connection
    # to the killed one closed ("lost connection to task manager at ...").
    check("lost" in root and ("TaskManager" in root or "task manager" in root),
          "with a clear root exception: %s" % root)
    check(len(doc.get("exceptionHistory", {}).get("entries", [])) == 1, "exceptionHistory has the failure")
    check(cluster.poll(lambda: jm.request("GET", "/overview")[1]["slots-available"] == 2, 2.0),
          "the surviving task manager's slots are free")
    st, doc, _ = jm.request("POST", run, {"programArgsList": ["--input", inp, "--output", os.path.join(tmp, "o4")],
                                          "parallelism": 2})
    d = doc.get("jobid", "")
    check(cluster.poll(lambda: job_state(jm, d) == "FINISHED", 30, 0.05), "the cluster still runs jobs")
    st, doc, _ = jm.request("GET", "/metrics")
    check('flinc_jobs{state="FAILED"} 2' in doc and "flinc_vertex_records_in_total{" in doc,
          "metrics count jobs by state and records per vertex")

    # A silent task manager (stopped, connection open): lost after heartbeat.timeout,
    # and back once it talks again.
    t0 = time.time()
    tms[1].send_signal(signal.SIGSTOP)
    gone = cluster.poll(lambda: jm.request("GET", "/overview")[1]["taskmanagers"] == 0, 6.0, 0.05)
    took = time.time() - t0
    tms[1].send_signal(signal.SIGCONT)
    # timeout 3 s counted from its last heartbeat, which came up to 1 s (the interval) before the stop
    check(gone and 1.9 <= took <= 5.0, "a silent task manager is dropped after heartbeat.timeout (%.2f s)" % took)
    check("heartbeat timed out after" in jm.d.log_text(), "the log says the heartbeat timed out")
    check(cluster.poll(lambda: jm.request("GET", "/overview")[1]["taskmanagers"] == 1, 10, 0.05),
          "it registers again when it wakes up")
    check(jm.stop() == 0, "cluster job manager stops cleanly")


def main():
    a = cluster.arg_parser(__doc__, keep=False).parse_args()
    build = a.build
    plugin = os.path.join(build, "jobs", "wordcount.so")
    tmp = tempfile.mkdtemp(prefix="flinc-jm-rest-")
    # The job's input: the job manager builds the graph too, so it must exist.
    with open(os.path.join(tmp, "in.txt"), "w") as f:
        for i in range(20000):
            f.write("line %d alpha beta gamma %d\n" % (i, i % 97))
    try:
        rest_without_task_managers(build, tmp, plugin)
        auth_and_options(build, tmp, plugin)
        if os.path.exists(os.path.join(build, "bin", "flinc-taskmanager")):
            with_task_managers(build, tmp, plugin)
        else:
            print("skip cluster checks: flinc-taskmanager is not built")
    finally:
        for d in DAEMONS:
            if d.alive():
                d.proc.kill()
                d.proc.wait()
        cluster.keep_or_remove(tmp, bool(chk.errors), what="logs in")
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
