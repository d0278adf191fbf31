#!/usr/bin/env python3
"""probe_rest - REST requests that cannot block or forge (issue 15, findings
2 (cross-site request forgery), 3 and 8).

A job manager and one task manager (2 slots) with a wordcount job running
through the whole probe, attacked over loopback as a hostile client or a
careless page would:

  slow      a request that stops after 5 of its 1000 body bytes, and a head
            that stops half way: 408 within rest.request-timeout, closed,
            nothing left in the blob folder
  flood     1000 idle connections: the job manager keeps at most
            rest.max-connections of them (/metrics and its open sockets),
            answers a normal client at once, and closes them all later
  sizes     a 9 KB URL: 414; a 20 KB header block, or 100 headers: 431
  forgery   a cross-origin upload (Origin: http://evil.example), an upload
            without X-Flinc-Request, a text/plain run request, a
            cross-origin cancel: 403 and nothing stored, created or
            canceled; the same upload from the job manager's own origin is
            accepted
  query     PATCH /jobs/:jid?mode=%00 (and mode=%zz, mode twice, mode=
            unknown): 400 naming the parameter; the job still RUNNING
  limits    (a second job manager with rest.max-upload-size 1mb and
            jobmanager.blob.max-size 70kb) an upload declared over the limit
            and a chunked one that grows past it: 413, no file left; a third
            jar past the quota: 507, accepted again once one is deleted
  memory    four 200 MB uploads in parallel: each answered; the job
            manager's RSS before, peak and after printed, the growth bounded
  stuck     a run request whose savepoint's _metadata is a FIFO (it blocks
            the handler that opens it): other requests are still answered
            at once, the task manager keeps its heartbeats (RPC is apart),
            the job keeps running; then SIGTERM stops the job manager within
            seconds although that handler never returns
  and       the running job was RUNNING with records flowing after every
            step; the job manager's log stayed small

usage: probe_rest.py --build BUILD_DIR [--keep]
"""
import json
import os
import re
import resource
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import cluster  # noqa: E402
from cluster import error_message, multipart  # noqa: E402

REQUEST_TIMEOUT = 3.0  # rest.request-timeout of the probed job manager (s)
IDLE_TIMEOUT = 4.0     # rest.idle-timeout
CAP = 256              # rest.max-connections (its default)
FLOOD = 1000
UPLOAD_MB = 200
PARALLEL = 4
RSS_BOUND_MB = 64      # growth allowed for the four uploads together

chk = cluster.Checks()
check = chk.ok


# ---- raw HTTP ------------------------------------------------------------------------

def raw(port, data, timeout=10.0, chunks=None, gap=0.0):
    """Send data (then each of chunks, gap s apart) and read until the peer
    closes or timeout. Returns (answer bytes, seconds until the first byte of
    the answer or None, closed by the peer)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    t0 = time.monotonic()
    first = None
    out = b""
    try:
        s.sendall(data)
        for c in chunks or ():
            if gap:
                time.sleep(gap)
            s.sendall(c)
    except OSError:
        pass  # refused early: the answer may still be there
    closed = False
    s.settimeout(0.2)
    while time.monotonic() - t0 < timeout:
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            closed = True
            break
        if not d:
            closed = True
            break
        if first is None:
            first = time.monotonic() - t0
        out += d
    s.close()
    return out, first, closed


def status_of(answer):
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", answer)
    return int(m.group(1)) if m else None


def body_of(answer):
    head, _, body = answer.partition(b"\r\n\r\n")
    try:
        return json.loads(body.decode(errors="replace"))
    except ValueError:
        return body.decode(errors="replace")


def mp_head(boundary, name="jarfile", filename="big.so"):
    return ("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n" % (boundary, name, filename)).encode()


# ---- the job manager's side ----------------------------------------------------------

def rss_kb(pid, key="VmRSS"):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def open_sockets(pid):
    n = 0
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:"):
                    n += 1
            except OSError:
                pass
    except OSError:
        return None
    return n


def metric(c, name):
    st, text = c.request("GET", "/metrics")
    m = re.search(r"^%s (\d+)$" % re.escape(name), text if isinstance(text, str) else "", re.M)
    return int(m.group(1)) if st == 200 and m else None


def blob_files(c):
    d = c.path("jobmanager", "blobs")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def records_out(c, jid):
    doc = c.job(jid)
    return sum(v.get("metrics", {}).get("write-records", 0) for v in doc.get("vertices", []))


class Job:
    """The job that must not notice the probe."""

    def __init__(self, c, jid):
        self.c = c
        self.jid = jid
        self.last = records_out(c, jid)

    def unaffected(self, after):
        st = self.c.job_state(self.jid)
        time.sleep(1.2)  # metrics come with the heartbeats
        now = records_out(self.c, self.jid)
        ok = check(st == "RUNNING" and now > self.last,
                   "after %s: the job is RUNNING and its records still flow (%d -> %d)" % (after, self.last, now),
                   st)
        self.last = now
        return ok


# ---- the steps -------------------------------------------------------------------------

def slow(c, job):
    print("slow", flush=True)
    before = blob_files(c)
    head = ("POST /jars/upload HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-Flinc-Request: 1\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000\r\n\r\nhello" % c.rest_port)
    ans, first, closed = raw(c.rest_port, head.encode(), timeout=REQUEST_TIMEOUT + 6)
    print("  Content-Length 1000, 5 bytes sent: %r after %s s" % (ans[:40], first and round(first, 2)))
    check(status_of(ans) == 408 and error_message(body_of(ans)), "a body that stops is answered 408 with a message",
          ans[:200])
    check(first is not None and first < REQUEST_TIMEOUT + 1.5,
          "... within rest.request-timeout (%.0f s): %s s" % (REQUEST_TIMEOUT, first and round(first, 2)))
    check(closed, "... and the connection is closed")
    ans, first, closed = raw(c.rest_port, b"GET /overview HTTP/1.1\r\nHo", timeout=REQUEST_TIMEOUT + 6)
    check(status_of(ans) == 408 and first is not None and first < REQUEST_TIMEOUT + 1.5 and closed,
          "a head that stops half way: 408 within the timeout, closed (%s s)" % (first and round(first, 2)), ans[:100])
    check(blob_files(c) == before, "the abandoned upload left nothing in the blob folder", blob_files(c))
    job.unaffected("slow requests")


def flood(c, job):
    print("flood", flush=True)
    pid = c.jm.pid
    base = open_sockets(pid)
    socks = []
    t0 = time.monotonic()
    for i in range(FLOOD):
        try:
            socks.append(socket.create_connection(("127.0.0.1", c.rest_port), timeout=5))
        except OSError as e:
            check(False, "connection %d of the flood: %s" % (i, e))
            break
    print("  %d idle connections opened in %.2f s" % (len(socks), time.monotonic() - t0))
    time.sleep(0.5)
    t1 = time.monotonic()
    st, doc, _ = cluster.http_request(c.rest_port, "GET", "/overview", timeout=5)
    took = time.monotonic() - t1
    check(st == 200 and doc.get("taskmanagers") == 1, "with %d idle connections open a client is answered (%.3f s)"
          % (len(socks), took), (st, doc))
    check(took < 1.0, "... promptly (%.3f s)" % took)
    held = metric(c, "flinc_rest_connections")
    jm_socks = open_sockets(pid)
    print("  the job manager holds %s REST connections (%s sockets, %s before the flood)" % (held, jm_socks, base))
    check(held is not None and held <= CAP, "it keeps at most rest.max-connections (%d): %s" % (CAP, held))
    check(jm_socks is not None and base is not None and jm_socks - base <= CAP + CAP // 4 + 8,
          "its open sockets grew by at most the cap and the closing ones: %s -> %s" % (base, jm_socks))
    evicted = metric(c, "flinc_rest_connections_evicted_total")
    check(evicted is not None and evicted >= len(socks) - CAP, "the longest-waiting ones were closed for newer ones "
          "(%s evicted)" % evicted)
    # The rest go after the request timeout (nothing was ever sent on them).
    deadline = time.monotonic() + REQUEST_TIMEOUT + 5
    while time.monotonic() < deadline and (metric(c, "flinc_rest_connections") or 0) > 2:
        time.sleep(0.2)
    left = metric(c, "flinc_rest_connections")
    check(left is not None and left <= 2, "idle connections are closed after rest.request-timeout (%s left)" % left)
    for s in socks:
        s.close()
    job.unaffected("the flood")


def sizes(c, job):
    print("sizes", flush=True)
    host = "Host: 127.0.0.1:%d\r\n" % c.rest_port
    ans, _, _ = raw(c.rest_port, ("GET /overview?x=%s HTTP/1.1\r\n%s\r\n" % ("a" * 9000, host)).encode())
    check(status_of(ans) == 414 and error_message(body_of(ans)), "a 9 KB URL: 414 with a message", ans[:120])
    ans, _, _ = raw(c.rest_port, ("GET /overview HTTP/1.1\r\n%sX-Big: %s\r\n\r\n" % (host, "b" * 20000)).encode())
    check(status_of(ans) == 431 and error_message(body_of(ans)), "a 20 KB header block: 431 with a message",
          ans[:120])
    many = "".join("X-H%d: v\r\n" % i for i in range(100))
    ans, _, _ = raw(c.rest_port, ("GET /overview HTTP/1.1\r\n%s%s\r\n" % (host, many)).encode())
    check(status_of(ans) == 431, "100 header fields: 431", ans[:120])
    ans, _, _ = raw(c.rest_port, ("GET /overview HTTP/2.0\r\n%s\r\n" % host).encode())
    check(status_of(ans) == 505, "HTTP/2.0 in a request line: 505", ans[:120])
    job.unaffected("oversized requests")


def forgery(c, job, plugin):
    print("forgery", flush=True)
    with open(plugin, "rb") as f:
        data = f.read()
    jars = c.get("/jars")["files"]
    files = blob_files(c)
    body, hdrs = multipart("jarfile", "evil.so", data)
    st, doc = c.request("POST", "/jars/upload", body, dict(hdrs, Origin="http://evil.example"))
    print("  cross-origin upload: %d %s" % (st, error_message(doc)))
    check(st == 403 and re.search(r"origin", error_message(doc) or "", re.I),
          "an upload from Origin http://evil.example: 403 naming the origin", (st, doc))
    st, doc = c.request("POST", "/jars/upload", body, dict(hdrs, **{"X-Flinc-Request": None}))
    print("  upload without X-Flinc-Request: %d %s" % (st, error_message(doc)))
    check(st == 403 and "X-Flinc-Request" in (error_message(doc) or ""),
          "a multipart upload without X-Flinc-Request (a browser's simple request): 403 naming the header",
          (st, doc))
    jar = jars[0]["id"] if jars else "0" * 32 + "_x.so"
    st, doc = c.request("POST", "/jars/%s/run" % jar, '{"programArgs": "--input /etc/hostname"}',
                        {"Content-Type": "text/plain", "X-Flinc-Request": None})
    check(st == 403, "a text/plain run request (a form could send it): 403", (st, doc))
    st, doc = c.request("PATCH", "/jobs/%s?mode=cancel" % job.jid, None,
                        {"Origin": "http://evil.example", "X-Flinc-Request": "1"})
    check(st == 403, "a cross-origin cancel: 403", (st, doc))
    check(c.get("/jars")["files"] == jars and blob_files(c) == files,
          "nothing was stored: /jars and the blob folder are unchanged")
    check(len(c.get("/jobs/overview")["jobs"]) == 1, "no job was created")
    st, doc = c.request("POST", "/jars/upload", body, dict(hdrs, Origin="http://127.0.0.1:%d" % c.rest_port))
    check(st == 200 and doc.get("status") == "success",
          "the same upload from the job manager's own origin is accepted", (st, doc))
    if st == 200:
        c.request("DELETE", "/jars/%s" % cluster.Cluster.jar_id(doc))
    job.unaffected("forged requests")


def query(c, job):
    print("query", flush=True)
    for q, what in (("mode=%00", "%00"), ("mode=%zz", "a malformed escape"), ("mode=cancel&mode=cancel", "mode twice"),
                    ("mode=explode", "an unknown mode"), ("mode=", "an empty mode"), ("mode=%63ancel%00", "a NUL at the end")):
        st, doc = c.request("PATCH", "/jobs/%s?%s" % (job.jid, q))
        msg = error_message(doc) or ""
        print("  PATCH ?%s -> %d %s" % (q, st, msg))
        check(st == 400 and "mode" in msg, "PATCH /jobs/:jid?%s (%s): 400 naming the parameter" % (q, what), (st, doc))
        check(c.job_state(job.jid) == "RUNNING", "... and the job is still RUNNING")
    job.unaffected("bad query values")


def limits(build, keep):
    print("limits", flush=True)
    # Limits from the plugin's size (a sanitizer build's is larger): two
    # jars fit in the quota, not three; an upload may be twice the plugin.
    plugin = os.path.join(os.path.abspath(build), "jobs", "wordcount.so")
    size = os.path.getsize(plugin)
    max_upload, quota = 2 * size, size * 5 // 2
    with cluster.Cluster(build, taskmanagers=0, name="probe-rest-limits", keep=keep, checks=chk,
                         jm_conf={"rest.upload.max-size": str(max_upload), "jobmanager.blob.max-size": str(quota),
                                  "rest.request-timeout": "%ds" % REQUEST_TIMEOUT}) as c:
        c.start()
        # The limit is given by its old name: read, with a warning.
        check("rest.upload.max-size is deprecated: write rest.max-upload-size" in c.jm.log_text(),
              "rest.upload.max-size still sets the limit, with a deprecation warning")
        host = "Host: 127.0.0.1:%d\r\nX-Flinc-Request: 1\r\n" % c.rest_port
        mph = mp_head("bb")
        head = ("POST /jars/upload HTTP/1.1\r\n%sContent-Type: multipart/form-data; boundary=bb\r\n"
                "Content-Length: %d\r\n\r\n" % (host, 2 << 20)).encode()
        ans, first, _ = raw(c.rest_port, head, timeout=5)
        check(status_of(ans) == 413 and "rest.max-upload-size" in (error_message(body_of(ans)) or ""),
              "an upload declared at 2 MB (limit %d bytes): 413 naming rest.max-upload-size, before the body"
              % max_upload, ans[:200])
        head = ("POST /jars/upload HTTP/1.1\r\n%sContent-Type: multipart/form-data; boundary=bb\r\n"
                "Transfer-Encoding: chunked\r\n\r\n" % host).encode()
        piece = b"\x7fELF" + b"\0" * 65532
        chunks = [b"%x\r\n%s\r\n" % (len(mph), mph)] + [b"%x\r\n%s\r\n" % (len(piece), piece)] * 32
        ans, _, _ = raw(c.rest_port, head, timeout=10, chunks=chunks)
        check(status_of(ans) == 413 and error_message(body_of(ans)),
              "a chunked upload that grows past the limit: 413 with a message", ans[:200])
        check(blob_files(c) == [], "nothing is left in the blob folder", blob_files(c))
        ids = []
        for i in range(3):
            st, doc = c.upload(plugin, filename="w%d.so" % i)
            print("  upload %d of wordcount.so (%d bytes) under a quota of %d bytes: %d %s" %
                  (i + 1, size, quota, st, error_message(doc) or ""))
            if st == 200:
                ids.append(c.jar_id(doc))
        check(len(ids) == 2, "two jars fit in the quota", ids)
        check(st == 507 and "jobmanager.blob.max-size" in (error_message(doc) or ""),
              "the third is refused with 507 naming jobmanager.blob.max-size", (st, doc))
        check(sorted(blob_files(c)) == sorted(ids), "the blob folder holds the two jars only", blob_files(c))
        if ids:
            c.request("DELETE", "/jars/%s" % ids[0])
            st, doc = c.upload(plugin, filename="w3.so")
            check(st == 200, "after one is deleted an upload fits again", (st, doc))


def uploads(c, job):
    print("memory: %d uploads of %d MB in parallel" % (PARALLEL, UPLOAD_MB), flush=True)
    pid = c.jm.pid
    before = rss_kb(pid)
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            r = rss_kb(pid)
            if r:
                peak[0] = max(peak[0], r)
            time.sleep(0.02)

    results = [None] * PARALLEL
    piece = b"\0" * (1 << 20)

    def upload(i):
        mph = mp_head("bnd%d" % i, filename="big%d.so" % i)
        tail = b"\r\n--bnd%d--\r\n" % i
        size = len(mph) + UPLOAD_MB * len(piece) + len(tail)
        head = ("POST /jars/upload HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-Flinc-Request: 1\r\n"
                "Content-Type: multipart/form-data; boundary=bnd%d\r\nContent-Length: %d\r\n\r\n"
                % (c.rest_port, i, size)).encode()
        results[i] = raw(c.rest_port, head + mph, timeout=300, chunks=[piece] * UPLOAD_MB + [tail])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.monotonic()
    threads = [threading.Thread(target=upload, args=(i,)) for i in range(PARALLEL)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - t0
    done.set()
    sampler.join()
    after = rss_kb(pid)
    mb = PARALLEL * UPLOAD_MB
    print("  %d MB uploaded in %.1f s (%.0f MB/s)" % (mb, took, mb / took))
    print("  job manager RSS: before %.1f MB, peak %.1f MB, after %.1f MB (peak - before %.1f MB)" %
          (before / 1024, peak[0] / 1024, after / 1024, (peak[0] - before) / 1024))
    for i, (ans, _, _) in enumerate(results):
        check(status_of(ans) == 400 and "not a job plugin" in (error_message(body_of(ans)) or ""),
              "upload %d (%d MB of zeros) is read whole and refused as no plugin" % (i, UPLOAD_MB), ans[:200])
    check(peak[0] - before < RSS_BOUND_MB * 1024,
          "the job manager's RSS grew by less than %d MB for %d parallel uploads of %d MB (%.1f MB)"
          % (RSS_BOUND_MB, PARALLEL, UPLOAD_MB, (peak[0] - before) / 1024))
    check(not [f for f in blob_files(c) if f.startswith(".upload-")], "no temporary upload file is left",
          blob_files(c))
    job.unaffected("the uploads")


def stuck(c, job, jar):
    print("stuck handler", flush=True)
    sp = c.path("fifo-savepoint")
    os.makedirs(sp, exist_ok=True)
    os.mkfifo(os.path.join(sp, "_metadata"))
    answer = {}

    def run():
        try:
            answer["r"] = c.request("POST", "/jars/%s/run" % jar,
                                    {"programArgsList": ["--input", c.path("input.txt")], "savepointPath": sp},
                                    timeout=60)
        except OSError as e:
            answer["r"] = ("error", str(e))

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(2.0)
    if "r" in answer:
        print("  the FIFO savepoint was answered at once: %s (nothing blocks)" % (answer["r"],))
    else:
        print("  the run request with a FIFO _metadata hangs in its handler, as expected of that file")
    worst = 0.0
    for _ in range(10):
        t1 = time.monotonic()
        st, _ = c.request("GET", "/overview")
        worst = max(worst, time.monotonic() - t1)
        check(st == 200, "GET /overview while a handler is stuck", st)
        time.sleep(0.1)
    check(worst < 1.0, "other requests are answered at once while a handler is stuck (worst %.3f s)" % worst)
    time.sleep(6.0)  # past heartbeat.timeout (5 s): a blocked RPC would lose the task manager
    tms = c.get("/taskmanagers")["taskmanagers"]
    check(len(tms) == 1 and tms[0].get("lastHeartbeatAge", 99999) < 3000,
          "the task manager keeps its heartbeats (RPC on its own threads): %s" %
          [t.get("lastHeartbeatAge") for t in tms])
    job.unaffected("a stuck handler")
    return "r" not in answer


def main():
    a = cluster.arg_parser(__doc__).parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 4096) if hard != resource.RLIM_INFINITY else 4096
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    with cluster.Cluster(a.build, taskmanagers=1, slots=2, name="probe-rest", keep=a.keep, checks=chk,
                         jm_conf={"rest.request-timeout": "%ds" % REQUEST_TIMEOUT,
                                  "rest.idle-timeout": "%ds" % IDLE_TIMEOUT}) as c:
        c.jm_conf["state.checkpoints.dir"] = c.path("checkpoints")
        c.start()
        plugin = c.plugin()
        inp = cluster.write_words(c.path("input.txt"), __import__("random").Random(15), 300, 400000)
        jar = c.upload_jar(plugin)
        jid = c.run_jar(jar, ["--input", inp, "--output", c.path("out"), "--rate", "1000"], parallelism=2)
        c.wait_running(jid, timeout=60)
        time.sleep(1.5)
        job = Job(c, jid)
        log0 = os.path.getsize(c.jm.log_path)
        print("job manager RSS with a job running: %.1f MB" % (rss_kb(c.jm.pid) / 1024))

        slow(c, job)
        flood(c, job)
        sizes(c, job)
        forgery(c, job, plugin)
        query(c, job)
        uploads(c, job)
        blocked = stuck(c, job, jar)

        log = os.path.getsize(c.jm.log_path) - log0
        lines = c.jm.log_text().count("\n")
        print("  the job manager's log grew by %d bytes (%d lines in all)" % (log, lines))
        check(log < 64 * 1024, "the job manager's log stays small through the probe (%d bytes)" % log)

        print("SIGTERM", flush=True)
        t0 = time.monotonic()
        c.jm.signal(signal.SIGTERM)
        try:
            rc = c.jm.proc.wait(15)
        except Exception:  # noqa: BLE001 - TimeoutExpired
            rc = None
        took = time.monotonic() - t0
        print("  the job manager exited with %s after %.1f s%s" % (rc, took, " (a handler stuck)" if blocked else ""))
        check(rc == 0 and took < 10.0, "SIGTERM stops the job manager within 10 s, status 0, even with a stuck "
              "handler (%.1f s, status %s)" % (took, rc))
        check("stopped" in c.jm.tail(5), "its last line says it stopped", c.jm.tail(5))
    limits(a.build, a.keep)
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
