#!/usr/bin/env python3
"""tls_cluster - a cluster with TLS on every wire (issue 19, acceptance 4):
a job manager and three task managers with two slots each on 127.0.0.1,
security.ssl.* on the RPC, control, data and REST connections, every
daemon presenting a certificate of a test CA (scripts/make-test-ca.sh).

Checks:
  - the daemons listen and advertise tls+tcp:// (RPC, control, data) and
    REST answers over https with the CA; the CLI talks to it with
    -m https://... --cacert ca.pem;
  - wordcount -p 6 with checkpoints, over all three task managers, passes
    the exactly-once 1..n check (check_counts.py);
  - while it runs:
      * a task manager whose certificate comes from another CA ("rogue")
        is refused: the job manager logs one line naming its address, the
        certificate and the truststore; the rogue's own log says the peer
        refused its certificate; it never registers;
      * a TLS client without a certificate is refused with "presented no
        certificate";
      * plain-text connections to the RPC, REST, control and data ports
        get no plain-text answer and are closed, each logged as "does not
        speak TLS"; plain HTTP to REST fails;
      * the job is unaffected: never restarted, no exception;
  - REST with security.ssl.rest.authentication-enabled: the CLI with a
    certificate of the CA (from --config) is served; without one it says
    the job manager may want a client certificate, and the job manager
    logs that it presented none;
  - TLS to plain ports fails clearly: a TLS task manager pointed at a job
    manager without TLS logs that the peer did not answer the handshake
    and never registers; the CLI over https to a plain REST port says it
    does not speak TLS; the CLI with the wrong CA says the job manager's
    certificate is not signed by it; https without a CA is a usage error.

Usage: tls_cluster.py --build BUILD_DIR [--lines N] [--keep]
Exit status 0 when every check passed.
"""

import os
import random
import re
import socket
import ssl
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_counts  # noqa: E402
import cluster  # noqa: E402


def plain_probe(port, data):
    """Connect to 127.0.0.1:port in plain text, send `data`, read what comes
    back until the peer closes (5 s at most). Returns (bytes read, closed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    got = b""
    closed = False
    try:
        s.sendall(data)
        while len(got) < 4096:
            b = s.recv(4096)
            if not b:
                closed = True
                break
            got += b
    except ConnectionResetError:
        closed = True
    except socket.timeout:
        pass
    finally:
        s.close()
    return got, closed


def tls_probe_without_cert(port, ca):
    """A TLS client that trusts the CA but has no certificate. Returns the
    error the handshake (or the first read) ended with, '' if it passed."""
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw) as t:
                t.sendall(b"\0SP\0\0\x30\0\0")
                if t.recv(16):
                    return ""
                return "closed"
    except (ssl.SSLError, OSError) as e:
        return str(e) or type(e).__name__


def log_has(daemon, pattern, timeout=10.0):
    """Wait until daemon's log matches the regular expression; the match or None."""
    deadline = time.monotonic() + timeout
    while True:
        m = re.search(pattern, daemon.log_text())
        if m or time.monotonic() > deadline:
            return m
        time.sleep(0.1)


def main():
    ap = cluster.arg_parser(__doc__)
    ap.add_argument("--lines", type=int, default=40000)
    a = ap.parse_args()
    chk = cluster.Checks()
    scratch = tempfile.mkdtemp(prefix="flinc-tls-ca-")
    ca_dir = cluster.tls_ca(os.path.join(scratch, "ca"))
    ca = os.path.join(ca_dir, "ca.pem")
    conf = {
        "execution.checkpointing.interval": "300ms",
    }
    with cluster.Cluster(a.build, taskmanagers=3, slots=2, name="tls", keep=a.keep, checks=chk, tls=ca_dir,
                         conf=conf) as c:
        c.conf["state.checkpoints.dir"] = c.path("chk")
        c.start()
        jm_log = c.jm.log_text()
        chk.ok(re.search(r"RPC listening on tls\+tcp://", jm_log), "the job manager's RPC listens on tls+tcp://")
        chk.ok(re.search(r"REST API at https://", jm_log), "REST is at https://")
        tms = c.taskmanagers()
        chk.ok(len(tms) == 3 and all(t.get("path", "").startswith("tls+tcp://") and
                                     t.get("dataAddress", "").startswith("tls+tcp://") for t in tms),
               "3 task managers registered, control and data addresses tls+tcp://",
               [(t.get("path"), t.get("dataAddress")) for t in tms])
        p = c.flinc("list", "-a")
        chk.ok(p.returncode == 0 and "No jobs" in p.stdout, "flinc -m https://... --cacert ca.pem list -a",
               p.stdout + p.stderr)

        # -- wordcount -p 6, long enough for the probes below to run while it does
        inp = cluster.write_words(c.path("input.txt"), random.Random(1919), 3000, a.lines)
        out = c.path("out")
        expected = check_counts.expected_counts([inp])
        rate = max(a.lines // 8, 1000)  # about 8 s of input
        run = c.run_attached("-p", "6", c.plugin(), "--input", inp, "--output", out, "--rate", str(rate))
        jid = run.jid
        if not jid:
            run.proc.kill()
            raise cluster.ClusterError("flinc run printed no job id: %r %s" % (run.first, run.proc.stderr.read()))
        c.wait_running(jid, timeout=60)
        used = cluster.tms_of_job(c, jid)
        chk.ok(len(used) == 3, "the job's subtasks run on all 3 task managers", used)
        attempt0 = cluster.job_attempt(c.job(jid))

        # -- a task manager with a certificate of another CA
        rogue_conf = cluster.tls_conf(ca_dir, "rogue")
        i = c.start_taskmanager(wait=False, conf=rogue_conf)
        rogue = c.tms[i]
        m = log_has(c.jm, r"tls: refused a rpc connection from 127\.0\.0\.1:\d+ \(to 127\.0\.0\.1:%d\): "
                    r"its certificate \([^)]*CN=rogue[^)]*\) is not signed by a CA in "
                    r"security\.ssl\.truststore" % c.rpc_port)
        chk.ok(m, "the job manager refuses the rogue task manager in one log line (address, certificate, "
               "truststore)", m.group(0) if m else c.jm.tail(8))
        m = log_has(rogue, r"tls: rpc connection to 127\.0\.0\.1:%d failed: the peer refused our certificate "
                    r"\(TLS alert '[a-z A-Z]+'\)" % c.rpc_port)
        chk.ok(m, "the rogue task manager's log says the job manager refused its certificate",
               m.group(0) if m else rogue.tail(8))
        time.sleep(1.0)
        chk.ok(c.overview().get("taskmanagers") == 3 and "registered with the job manager" not in rogue.log_text(),
               "the rogue task manager never registers (3 task managers)", c.overview().get("taskmanagers"))
        rogue.stop()

        # -- a TLS client without a certificate
        why = tls_probe_without_cert(c.rpc_port, ca)
        chk.ok(why != "", "a TLS client without a certificate is refused on the RPC port", why)
        m = log_has(c.jm, r"tls: refused a rpc connection from 127\.0\.0\.1:\d+ .*: it presented no certificate")
        chk.ok(m, "... and the job manager says it presented no certificate", m.group(0) if m else c.jm.tail(5))

        # -- plain text to the TLS ports
        tm0 = c.taskmanagers()[0]
        ctl_port = int(tm0["path"].rsplit(":", 1)[1])
        data_port = int(tm0["dataAddress"].rsplit(":", 1)[1])
        tm_daemon = c.tms[cluster.daemon_index_of_tm(c, tm0["id"])]
        probes = [
            ("RPC", c.rpc_port, b"\0SP\0\0\x30\0\0" + b"x" * 64, c.jm, "rpc"),
            ("REST", c.rest_port, b"GET /overview HTTP/1.1\r\nHost: x\r\n\r\n", c.jm, "rest"),
            ("control", ctl_port, b"\0SP\0\0\x31\0\0" + b"x" * 64, tm_daemon, "control"),
            ("data", data_port, b"FLNC\x02" + b"x" * 64, tm_daemon, "data"),
        ]
        for name, port, data, daemon, label in probes:
            got, closed = plain_probe(port, data)
            chk.ok(closed and not re.search(rb"HTTP/1|SP\0|\{", got),
                   "a plain-text client on the %s port gets no plain-text answer and is disconnected" % name,
                   "closed=%s got=%r" % (closed, got[:60]))
            m = log_has(daemon, r"tls: refused a %s connection from 127\.0\.0\.1:\d+ \(to [0-9.:]+%d\): "
                        r"it does not speak TLS" % (label, port))
            chk.ok(m, "... logged as '%s connection ... does not speak TLS'" % label,
                   m.group(0) if m else daemon.tail(5))
        try:
            st = cluster.http_request(c.rest_port, "GET", "/overview", timeout=5)[0]
            chk.ok(False, "plain HTTP to the https REST port fails", "status %s" % st)
        except (OSError, http_error()) as e:
            chk.ok(True, "plain HTTP to the https REST port fails", repr(e))

        # -- the job: unaffected, then exactly once
        rc, err = run.finish(300)
        lines = "".join(run._rest).strip().splitlines()
        chk.ok(rc == 0 and lines and "FINISHED" in lines[-1], "flinc run (https) follows the job to FINISHED",
               "exit %s, last: %s, stderr: %s" % (rc, lines[-1:] if lines else None, err[-300:]))
        doc = c.job(jid)
        chk.ok(cluster.job_attempt(doc) == attempt0, "the job was never restarted (attempt %s)" % attempt0,
               cluster.job_attempt(doc))
        exc = c.exceptions(jid)
        chk.ok(not exc.get("root-exception"), "no exception on the job", str(exc)[:300])
        cp = cluster.counts(c, jid)
        chk.ok((cp or {}).get("completed", 0) >= 1, "checkpoints completed under TLS", cp)
        check_counts.verify(chk, expected, out, "wordcount -p 6 over TLS")

        # -- the CLI: wrong CA, no CA
        p = c.flinc("--cacert", os.path.join(ca_dir, "rogue-ca.pem"), "list")
        chk.ok(p.returncode == 1 and "certificate is not signed by a CA" in p.stderr,
               "flinc with another CA: 'the job manager's certificate is not signed by a CA in ...'", p.stderr)
        argv = [os.path.join(c.bin, "flinc"), "-m", "https://127.0.0.1:%d" % c.rest_port, "list"]
        r = cluster.run_cmd(argv, 30)[0]
        chk.ok(r is not None and r.returncode == 2 and "truststore" in r.stderr,
               "flinc -m https://... without a CA is a usage error naming the truststore",
               r.stderr if r else None)

    # -- REST with client certificates
    with cluster.Cluster(a.build, taskmanagers=0, name="tls-rest-auth", keep=a.keep, checks=chk, tls=ca_dir,
                         jm_conf={"security.ssl.rest.authentication-enabled": "true"}) as r:
        r.start_jobmanager()
        conf_file = r.path("cli.conf")
        with open(conf_file, "w") as f:
            f.write("security.ssl.rest.authentication-enabled: true\n")
            for k, v in cluster.tls_conf(ca_dir).items():
                f.write("%s: %s\n" % (k, v))
        p = r.flinc("--config", conf_file, "list")
        chk.ok(p.returncode == 0, "REST with client certificates: flinc --config (certificate and key) is served",
               p.stderr)
        p = r.flinc("list")  # --cacert only
        chk.ok(p.returncode == 1 and "may want a client certificate" in p.stderr,
               "... flinc without a certificate: 'the job manager ended the TLS handshake (it may want a client "
               "certificate ...)'", p.stderr)
        m = log_has(r.jm, r"tls: refused a rest connection from 127\.0\.0\.1:\d+ .*: it presented no certificate")
        chk.ok(m, "... and the job manager logs that it presented no certificate", m.group(0) if m else r.jm.tail(5))

    # -- TLS to plain ports: a job manager without TLS
    with cluster.Cluster(a.build, taskmanagers=0, name="tls-plain", keep=a.keep, checks=chk) as p:
        p.start_jobmanager()
        i = p.start_taskmanager(wait=False, conf=cluster.tls_conf(ca_dir))
        tm = p.tms[i]
        # nng's plain transport answers our ClientHello with its own header:
        # "does not speak TLS"; a server that just closes: "without answering".
        m = log_has(tm, r"tls: rpc connection to 127\.0\.0\.1:%d failed: (it does not speak TLS|the peer closed the "
                    r"connection without answering the TLS handshake)" % p.rpc_port)
        chk.ok(m, "a TLS task manager dialing a plain job manager says the peer does not answer TLS",
               m.group(0) if m else tm.tail(8))
        chk.ok(p.overview().get("taskmanagers") == 0, "... and never registers")
        argv = [os.path.join(p.bin, "flinc"), "-m", "https://127.0.0.1:%d" % p.rest_port, "--cacert", ca, "list"]
        r = cluster.run_cmd(argv, 30)[0]
        chk.ok(r is not None and r.returncode == 1 and "does not speak TLS" in r.stderr,
               "flinc over https to a plain REST port: 'it does not speak TLS on this port'",
               r.stderr if r else None)
    cluster.keep_or_remove(scratch, a.keep or bool(chk.errors))
    return chk.report()


def http_error():
    import http.client
    return http.client.HTTPException


if __name__ == "__main__":
    sys.exit(main())
