#!/usr/bin/env python3
"""cli_rest - the `flinc` CLI's HTTP client against a scripted fake job
manager (no daemons): answers in every framing HTTP/1.1 allows, broken
answers, and the exact requests `run`, `list`, `cancel` send.

Each case starts a one-shot loopback server that reads one request and
writes a canned answer, runs `flinc -m 127.0.0.1:PORT ...` and checks its
exit status and output:
  - Content-Length, chunked and close-delimited bodies, a 100 Continue
    before the answer: `flinc list` prints the job;
  - an answer that is not HTTP, a connection closed without an answer, a
    500 with an HTML body: exit 1, one line naming the problem;
  - `flinc run -p 3 -D k=v --token T JOB.so a b`: the upload is
    multipart/form-data with the file's exact bytes in field `jarfile`,
    the run request is POST /jars/<id>/run with programArgsList ["a","b"],
    parallelism 3 and flinkConfiguration {"k": "v"}, both with
    `Authorization: Bearer T`; a refused run deletes the upload again;
  - every request carries `X-Flinc-Request: 1` (the job manager refuses
    changes without it: docs/security.md);
  - `flinc cancel` sends PATCH /jobs/<id>?mode=cancel;
  - `flinc --config FILE list` takes the address and the token from the
    file's rest.bind-address, rest.port and rest.auth.token.

Usage: cli_rest.py --build BUILD_DIR
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402


def read_request(conn):
    """One HTTP request from a socket: (method, path, headers dict, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for ln in lines[1:]:
        k, v = ln.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(body) < n:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return method, path, headers, body


class FakeJM(threading.Thread):
    """Answers requests in turn with `answers` (bytes, or a function of the
    request returning bytes; None closes without answering)."""

    def __init__(self, answers):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.answers = list(answers)
        self.requests = []

    def run(self):
        for ans in self.answers:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                req = read_request(conn)
                self.requests.append(req)
                if callable(ans):
                    ans = ans(req)
                if ans is not None:
                    conn.sendall(ans)
        self.sock.close()


def http(status, body, headers=None, reason="OK"):
    h = "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % (status, reason, len(body))
    for k, v in (headers or {}).items():
        h += "%s: %s\r\n" % (k, v)
    return (h + "\r\n").encode() + body


def chunked(body, size=7):
    out = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    for i in range(0, len(body), size):
        c = body[i:i + size]
        out += b"%x\r\n" % len(c) + c + b"\r\n"
    return out + b"0\r\n\r\n"


JOBS = json.dumps({"jobs": [{"jid": "ab" * 16, "name": "wordcount", "state": "RUNNING",
                             "start-time": 1700000000000, "end-time": -1, "duration": 5}]}).encode()


def main():
    a = cluster.arg_parser(__doc__, keep=False).parse_args()
    flinc = os.path.join(a.build, "bin", "flinc")
    chk = cluster.Checks()

    def run(jm, *args):
        jm.start()
        p = subprocess.run([flinc, "-m", "127.0.0.1:%d" % jm.port] + list(args), capture_output=True, text=True,
                           timeout=60, env=cluster.cli_env())
        jm.join(5)
        return p

    print("framings", flush=True)
    for name, ans in (("Content-Length", http(200, JOBS)),
                      ("chunked", chunked(JOBS)),
                      ("close-delimited", b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + JOBS),
                      ("100 Continue first", b"HTTP/1.1 100 Continue\r\n\r\n" + http(200, JOBS))):
        p = run(FakeJM([ans]), "list")
        chk.ok(p.returncode == 0 and "ab" * 16 in p.stdout and "wordcount" in p.stdout,
               "list with a %s answer" % name, p.stdout + p.stderr)

    print("broken answers", flush=True)
    for name, ans, pattern in (
            ("not HTTP", b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "not HTTP"),
            ("no answer", None, "closed the connection without answering"),
            ("500 with HTML", http(500, b"<html>\n<b>boom</b></html>", {"Content-Type": "text/html"}),
             "HTTP 500: <html>"),
            ("404 with JSON errors", http(404, b'{"errors": ["Not found: /jobs/overview"]}'),
             "cannot list the jobs: Not found: /jobs/overview"),
            ("a body cut short", b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"jobs\":", "middle of its answer"),
            ("200 that is not JSON", http(200, b"<html>hello</html>"), "not JSON")):
        p = run(FakeJM([ans]), "list")
        lines = p.stderr.splitlines()
        chk.ok(p.returncode == 1 and len(lines) == 1 and pattern in lines[0] and lines[0].startswith("flinc: "),
               "list with %s: exit 1, one line with '%s'" % (name, pattern), (p.returncode, p.stderr))

    print("run", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        job = os.path.join(tmp, "my job.so")
        payload = bytes(range(256)) * 300 + b"\r\n--not-a-boundary\r\n"
        with open(job, "wb") as f:
            f.write(payload)
        jid = "cd" * 16
        finished = json.dumps({"jid": jid, "name": "j", "state": "FINISHED", "duration": 12,
                               "vertices": [{"id": "v", "name": "Source: s", "parallelism": 3,
                                             "status": "FINISHED"}]}).encode()
        jm = FakeJM([http(200, b'{"filename": "/blobs/0123_my_job.so", "status": "success"}'),
                     http(200, json.dumps({"jobid": jid}).encode()),
                     http(200, finished)])
        p = run(jm, "--token", "T0k", "run", "-p", "3", "-D", "user.k=v", "-Duser.x.y=1", job, "a", "b c")
        chk.ok(p.returncode == 0 and ("Job has been submitted with JobID %s" % jid) in p.stdout and
               "FINISHED" in p.stdout, "run: exit 0, JobID and FINISHED printed", p.stdout + p.stderr)
        reqs = jm.requests
        if chk.ok(len(reqs) == 3, "run sent 3 requests", [r[:2] for r in reqs if r]):
            m, path, h, body = reqs[0]
            ctype = h.get("content-type", "")
            ok = m == "POST" and path == "/jars/upload" and ctype.startswith("multipart/form-data; boundary=")
            if ok:
                b = ctype.split("boundary=", 1)[1].encode()
                parts = body.split(b"--" + b)
                part = parts[1] if len(parts) > 2 else b""
                hdr, _, data = part.partition(b"\r\n\r\n")
                ok = (b'name="jarfile"' in hdr and b'filename="my job.so"' in hdr and data == payload + b"\r\n" and
                      parts[-1].startswith(b"--"))
            chk.ok(ok, "the upload is multipart with the exact file bytes in 'jarfile'", (m, path, ctype))
            chk.ok(h.get("authorization") == "Bearer T0k", "the upload carries the token", h.get("authorization"))
            chk.ok(h.get("x-flinc-request") == "1", "the upload carries X-Flinc-Request: 1", h)
            m, path, h, body = reqs[1]
            try:
                rb = json.loads(body)
            except ValueError:
                rb = None
            chk.ok(m == "POST" and path == "/jars/0123_my_job.so/run" and isinstance(rb, dict) and
                   rb.get("programArgsList") == ["a", "b c"] and rb.get("parallelism") == 3 and
                   rb.get("flinkConfiguration") == {"user.k": "v", "user.x.y": "1"},
                   "the run request: path, programArgsList, parallelism, flinkConfiguration", (m, path, rb))
            chk.ok(h.get("authorization") == "Bearer T0k", "the run request carries the token")
            chk.ok(h.get("x-flinc-request") == "1", "the run request carries X-Flinc-Request: 1", h)
            chk.ok(reqs[2][0] == "GET" and reqs[2][1] == "/jobs/%s" % jid, "then it follows GET /jobs/:jid",
                   reqs[2][:2])

        jm = FakeJM([http(200, b'{"filename": "0123_my_job.so", "status": "success"}'),
                     http(400, b'{"errors": ["Not enough task slots: needs 9"]}'),
                     http(200, b"{}")])
        p = run(jm, "run", "-p", "9", job)
        chk.ok(p.returncode == 1 and p.stderr.strip().endswith("Not enough task slots: needs 9") and
               p.stderr.count("\n") == 1, "a refused run: exit 1 with the job manager's message", p.stderr)
        chk.ok(len(jm.requests) == 3 and jm.requests[2][:2] == ("DELETE", "/jars/0123_my_job.so"),
               "a refused run deletes its upload", [r[:2] for r in jm.requests if r])

    print("cancel", flush=True)
    jid = "ef" * 16
    jm = FakeJM([http(202, b"{}"), http(200, json.dumps({"jid": jid, "state": "CANCELED"}).encode())])
    p = run(jm, "cancel", jid)
    chk.ok(p.returncode == 0 and "CANCELED" in p.stdout, "cancel: exit 0", p.stdout + p.stderr)
    chk.ok(jm.requests and jm.requests[0][:2] == ("PATCH", "/jobs/%s?mode=cancel" % jid),
           "cancel sends PATCH /jobs/:jid?mode=cancel", [r[:2] for r in jm.requests if r])
    chk.ok(jm.requests and jm.requests[0][2].get("x-flinc-request") == "1",
           "cancel carries X-Flinc-Request: 1 (a bodyless change)", jm.requests[0][2] if jm.requests else None)

    print("--config", flush=True)
    jm = FakeJM([http(200, JOBS)])
    jm.start()
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as conf:
        conf.write("# client side\nrest.bind-address: 0.0.0.0\nrest.port: %d\nrest.auth.token: fromconf\n" % jm.port)
        conf.flush()
        p = subprocess.run([flinc, "--config", conf.name, "list"], capture_output=True, text=True, timeout=60,
                           env=cluster.cli_env())
    jm.join(5)
    chk.ok(p.returncode == 0 and "wordcount" in p.stdout and jm.requests and
           jm.requests[0][2].get("authorization") == "Bearer fromconf",
           "flinc --config FILE list: address and token from rest.*", (p.stdout, p.stderr))

    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
