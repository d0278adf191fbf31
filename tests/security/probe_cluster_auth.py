#!/usr/bin/env python3
"""probe_cluster_auth - issue 15, finding 1: the RPC, control and data ports
honour nothing from a peer that has not proven security.cluster.secret.

A job manager and two task managers (one slot each) share a secret (the
default of tests/integration/cluster.py), with a REST token set, and run
wordcount at p=2 (rate-limited, so it runs while the cluster is attacked;
its records cross between the task managers). tests/security/rpc_attacker
then tries, each attempt printed with the refusal it got:
  - every RPC request without the handshake, and after a handshake with a
    wrong secret: a fake task manager with 64 slots, a Register under a
    live id, Registers whose control address is ws://, ipc://, inproc://,
    another host or tls+tcp://, a Heartbeat, a TaskStatus FAILED of the
    running job and a checkpoint Ack under a live id, a BlobRequest of the
    uploaded plugin, bytes that are no Envelope; and whether the job manager
    dials the control address it was given;
  - the same with the right secret (a peer of the cluster): a live id, the
    hostile addresses and another task manager's requests are still
    refused, and so is a binding forged without the session key;
  - DeployJob of the stored plugin (writing a folder), CancelJob and the
    checkpoint messages straight to each task manager's control port;
  - each data port: OPEN and DATA without AUTH, a wrong proof, a
    server-role (reflected) proof, a version-1 HELLO, OPEN without HELLO;
  - a recorded handshake replayed, on the RPC port and on a data port;
  - a flood of 2000 unauthenticated requests;
  - 2000 connections to the RPC port (1000 to each control port) that send
    a request and close before its answer.
Then: the job manager and the task managers run with the same pids, GET
/taskmanagers lists the two real task managers (registered when they
were) and nothing else, the job is RUNNING in its first attempt with no
exception, nothing was deployed (no folder, no "deploying" line), the
refusals are in the logs and the logs stay bounded; the job finishes with
exactly-once output.

A second cluster without a secret: both daemons say "no security.cluster.secret:
listening on loopback only"; a peer with the (empty) key still cannot take
a live id, speak for another task manager or pass a reflected data proof.
A task manager whose RPC connections are cut three times (through a
relay) comes back on new connections bound with its session key: still
registered (not again), its job finishes in its first attempt.
And: a job manager or task manager without a secret asked to listen on a
non-loopback address, or given a secret file others may read or a short
secret, exits 2 with one clear line.

Usage: probe_cluster_auth.py --build BUILD_DIR [--keep]
"""

import os
import random
import re
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import check_counts  # noqa: E402
import cluster  # noqa: E402

WRONG = "this-is-not-the-cluster-secret-0123"
LOG_LINES_MAX = 400       # a daemon's whole log after every attack
REFUSAL_LINES_MAX = 120   # its refusal lines (rate-limited: 5 per 10 s per site)


def attacker(build, chk, what, *args, timeout=120):
    """Run rpc_attacker; print its lines; one check that every attempt was
    refused (exit 0 and a count line). Returns its stdout."""
    exe = os.path.join(build, "tests", "rpc_attacker")
    argv = [exe] + [str(a) for a in args]
    r, why = cluster.run_cmd(argv, timeout)
    out = r.stdout if r else ""
    print("  -- rpc_attacker %s" % " ".join(str(a) for a in args[:1]), flush=True)
    for line in out.splitlines():
        print("     " + line)
    m = re.search(r"^(\d+) refused, (\d+) accepted$", out, re.M)
    chk.ok(r is not None and r.returncode == 0 and m and int(m.group(1)) > 0 and m.group(2) == "0",
           "%s: every attempt refused" % what, why or (m.group(0) if m else "no count line"))
    return out


def log_lines(daemon):
    return daemon.log_text().splitlines()


def refusal_lines(daemon):
    return [ln for ln in log_lines(daemon) if "refused" in ln or "suppressed" in ln]


def check_logs(chk, c, what):
    for d in [c.jm] + c.tms:
        n, nr = len(log_lines(d)), len(refusal_lines(d))
        chk.ok(n <= LOG_LINES_MAX and nr <= REFUSAL_LINES_MAX,
               "%s: %s log bounded (%d lines, %d refusal lines)" % (what, d.name, n, nr), (n, nr))


def show_refusals(d, n=6):
    seen = []
    for ln in refusal_lines(d):
        key = re.sub(r"^\S+ ", "", ln)[:90]
        if key not in seen:
            seen.append(key)
            print("     %s: %s" % (d.name, ln[:300]))
        if len(seen) >= n:
            break


def attacked_cluster(a, chk):
    token = "probe-token-%d" % random.randrange(1 << 30)
    with cluster.Cluster(a.build, taskmanagers=2, slots=1, name="cluster-auth", keep=a.keep, checks=chk,
                         jm_conf={"rest.auth.token": token}) as c:
        c.start()
        with open(c.secret_file) as f:
            secret = f.read().strip()
        jm_pid, tm_pids = c.jm.pid, c.tm_pids()
        tms = {t["id"]: t for t in c.taskmanagers()}
        chk.ok(len(tms) == 2, "two task managers registered with the secret", list(tms))
        jar = c.upload_jar(c.plugin())
        nlines, rate = 45000, 1000
        inp = cluster.write_words(c.path("input.txt"), random.Random(15), 2000, nlines)
        out = c.path("out")
        expected = check_counts.expected_counts([inp])
        jid = c.run_jar(jar, ["--input", inp, "--output", out, "--rate", rate], parallelism=2)
        c.wait_job(jid, {"RUNNING"}, timeout=30)
        pl = c.placements(jid)
        first_vertex = c.job(jid)["vertices"][0]["id"]
        live = pl[first_vertex][0]
        attempt = cluster.job_attempt(c.job(jid)) + 1  # the wire counts from 1
        rpc = "tcp://127.0.0.1:%d" % c.rpc_port
        print("job %s RUNNING; subtask 0 of its first vertex on %s; attacking" % (jid, live), flush=True)
        common = ["--rpc", rpc, "--tm-id", live, "--job", jid, "--attempt", attempt, "--blob", jar]

        attacker(a.build, chk, "RPC without the handshake", "rpc-unauth", *common)
        attacker(a.build, chk, "RPC after a handshake with a wrong secret", "rpc-unauth", *common,
                 "--secret", WRONG)
        attacker(a.build, chk, "RPC as a peer with the secret (ids, addresses, bindings)", "rpc-insider", *common,
                 "--secret", secret)
        deploy_out = c.path("attacker-deploy-out")
        for tid, t in tms.items():
            attacker(a.build, chk, "control port of %s" % tid, "control", "--control", t["path"], "--blob", jar,
                     "--job", jid, "--attempt", attempt, "--tm-id", tid, "--out", deploy_out, "--secret", WRONG)
            attacker(a.build, chk, "data port of %s" % tid, "data", "--data", t["dataAddress"], "--secret", secret)
        some_tm = next(iter(tms.values()))
        attacker(a.build, chk, "replayed handshakes (RPC and data)", "replay", "--rpc", rpc, "--data",
                 some_tm["dataAddress"], "--secret", secret)
        attacker(a.build, chk, "a flood of unauthenticated requests", "flood", "--rpc", rpc, "--tm-id", live,
                 "--count", 2000)
        # Requests whose connection is gone before the daemon reads them (a
        # job manager once aborted refusing one: its reply was half made).
        attacker(a.build, chk, "hit-and-run requests on the RPC port", "hit-and-run", "--rpc", rpc, "--tm-id", live,
                 "--count", 2000)
        for tid, t in tms.items():
            attacker(a.build, chk, "hit-and-run requests on the control port of %s" % tid, "hit-and-run",
                     "--control", t["path"], "--count", 1000)

        # The cluster as it was.
        chk.ok(c.jm.alive() and c.jm.pid == jm_pid, "the job manager is up, same pid %d" % jm_pid)
        chk.ok(c.tm_pids() == tm_pids, "both task managers are up, same pids", (tm_pids, c.tm_pids()))
        now = {t["id"]: t for t in c.taskmanagers()}
        chk.ok(set(now) == set(tms), "GET /taskmanagers lists the two real task managers only", list(now))
        chk.ok(all(now[i].get("registered") == tms[i].get("registered") for i in now if i in tms),
               "neither task manager was evicted or registered again")
        chk.ok(not any("attacker" in i for i in now), "no fake task manager")
        job = c.job(jid)
        chk.ok(job["state"] == "RUNNING", "the job is still RUNNING after the attacks", job["state"])
        chk.ok(cluster.job_attempt(job) == 0, "the job never restarted (first attempt)", cluster.job_attempt(job))
        st, exc = c.request("GET", "/jobs/%s/exceptions" % jid)
        chk.ok(st == 200 and not (exc or {}).get("root-exception"), "the job has no exception",
               (exc or {}).get("root-exception"))
        chk.ok(not os.path.exists(deploy_out), "the attacker's DeployJob wrote nothing (%s absent)" % deploy_out)
        for d in c.tms:
            chk.ok(not any("a77ac4" in ln or "'attacker'" in ln for ln in log_lines(d)),
                   "%s deployed nothing of the attacker's" % d.name)
        jm_log = c.jm.log_text()
        chk.ok("refused" in jm_log, "the job manager logged its refusals")
        chk.ok(not re.search(r"TaskManager attacker\S* registered", jm_log), "no attacker registration logged")
        for d in [c.jm] + c.tms:
            show_refusals(d)
        check_logs(chk, c, "after the attacks")

        # The job goes on to a correct end.
        c.wait_job(jid, {"FINISHED", "FAILED", "CANCELED"}, timeout=180)
        chk.ok(c.job_state(jid) == "FINISHED", "the job FINISHED", c.job_state(jid))
        check_counts.verify(chk, expected, out, "the job's output is exactly-once and complete")


class Proxy:
    """A TCP relay 127.0.0.1:port -> 127.0.0.1:target whose connections can
    all be cut at once (a network blip between a task manager and its job
    manager)."""

    def __init__(self, target):
        self.target = target
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.live = []
        self.mu = threading.Lock()
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                c.close()
                continue
            with self.mu:
                self.live += [c, u]
                self.accepted += 1
            threading.Thread(target=self._pump, args=(c, u), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    break
                dst.sendall(b)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.mu:
            socks, self.live = self.live, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        return len(socks) // 2

    def close(self):
        self.lsock.close()
        self.cut()


def reconnect_cluster(a, chk):
    """A task manager whose RPC connections drop comes back on new ones,
    binding them with its registration's session key: it is not lost, not
    registered again, and its job runs on in its first attempt."""
    with cluster.Cluster(a.build, taskmanagers=0, slots=1, name="cluster-blip", keep=a.keep, checks=chk) as c:
        c.start()
        proxy = Proxy(c.rpc_port)
        try:
            c.start_taskmanager(conf={"jobmanager.rpc.port": proxy.port})
            tm0 = c.taskmanagers()[0]
            jar = c.upload_jar(c.plugin())
            inp = cluster.write_words(c.path("input.txt"), random.Random(7), 500, 12000)
            out = c.path("out")
            expected = check_counts.expected_counts([inp])
            jid = c.run_jar(jar, ["--input", inp, "--output", out, "--rate", 1000], parallelism=1)
            c.wait_job(jid, {"RUNNING"}, timeout=30)
            for k in range(3):
                time.sleep(2)
                n = proxy.cut()
                print("     cut %d connection(s) between the task manager and the job manager" % n, flush=True)
            time.sleep(2.5)
            tms = c.taskmanagers()
            chk.ok(len(tms) == 1 and tms[0]["id"] == tm0["id"] and tms[0]["registered"] == tm0["registered"],
                   "after 3 cuts the task manager is still registered, not registered again",
                   [(t["id"], t["registered"]) for t in tms])
            chk.ok(proxy.accepted >= 6, "it reconnected through new connections (%d in all)" % proxy.accepted)
            chk.ok(tms and tms[0].get("lastHeartbeatAge", 1e9) < 3000, "its heartbeats arrive again",
                   tms[0].get("lastHeartbeatAge") if tms else None)
            c.wait_job(jid, {"FINISHED", "FAILED", "CANCELED"}, timeout=120)
            job = c.job(jid)
            chk.ok(job["state"] == "FINISHED" and cluster.job_attempt(job) == 0,
                   "its job FINISHED in its first attempt", (job["state"], cluster.job_attempt(job)))
            check_counts.verify(chk, expected, out, "the job's output across the cuts")
            tmlog = c.tms[0].log_text()
            chk.ok("registering again" not in tmlog and "registered with" in tmlog,
                   "the task manager never registered again")
        finally:
            proxy.close()


def loopback_cluster(a, chk):
    with cluster.Cluster(a.build, taskmanagers=2, slots=1, name="cluster-noauth", keep=a.keep, checks=chk,
                         secret=False) as c:
        c.start()
        line = "no security.cluster.secret: listening on loopback only"
        for d in [c.jm] + c.tms:
            chk.ok(line in d.log_text(), "%s says: %s" % (d.name, line))
        tms = {t["id"]: t for t in c.taskmanagers()}
        live = next(iter(tms))
        rpc = "tcp://127.0.0.1:%d" % c.rpc_port
        attacker(a.build, chk, "without a secret: a live id, another task manager's requests, hostile addresses",
                 "rpc-insider", "--rpc", rpc, "--tm-id", live, "--job", "0" * 32, "--secret", "")
        for tid, t in tms.items():
            attacker(a.build, chk, "without a secret: data port of %s" % tid, "data", "--data", t["dataAddress"])
        now = {t["id"] for t in c.taskmanagers()}
        chk.ok(now == set(tms), "GET /taskmanagers unchanged", now)
        check_logs(chk, c, "loopback cluster")


def refused_start(a, chk):
    """Daemons that must not start: (what, argv, expected words in the line)."""
    b = os.path.join(a.build, "bin")
    tmp = cluster.tempfile.mkdtemp(prefix="flinc-auth-start-")
    try:
        loose = os.path.join(tmp, "loose.secret")
        with open(loose, "w") as f:
            f.write("0123456789abcdef0123456789abcdef\n")
        os.chmod(loose, 0o644)
        cases = [
            ("job manager without a secret on 0.0.0.0",
             [os.path.join(b, "flinc-jobmanager"), "-D", "jobmanager.rpc.address=0.0.0.0",
              "-D", "jobmanager.rpc.port=%d" % cluster.free_port(), "-D", "rest.port=%d" % cluster.free_port()],
             "no security.cluster.secret"),
            ("task manager without a secret on taskmanager.host 0.0.0.0",
             [os.path.join(b, "flinc-taskmanager"), "-D", "taskmanager.host=0.0.0.0", "-D",
              "jobmanager.rpc.port=%d" % cluster.free_port()],
             "no security.cluster.secret"),
            ("job manager with a secret file others may read",
             [os.path.join(b, "flinc-jobmanager"), "-D", "security.cluster.secret=file:" + loose,
              "-D", "jobmanager.rpc.port=%d" % cluster.free_port(), "-D", "rest.port=%d" % cluster.free_port()],
             "group or others"),
            ("task manager with a 10-byte secret",
             [os.path.join(b, "flinc-taskmanager"), "-D", "security.cluster.secret=0123456789", "-D",
              "jobmanager.rpc.port=%d" % cluster.free_port()],
             "holds 10 bytes"),
        ]
        for what, argv, words in cases:
            try:
                r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
                rc, err = r.returncode, r.stderr.strip()
            except subprocess.TimeoutExpired:
                rc, err = None, "still running after 20 s"
            lines = err.splitlines()
            print("     %s -> exit %s: %s" % (what, rc, err[:400]))
            chk.ok(rc == 2 and len(lines) == 1 and words in err and "0123456789abcdef" not in err,
                   "%s: exit 2 with one clear line" % what, (rc, err[:300]))
    finally:
        cluster.shutil.rmtree(tmp, ignore_errors=True)


def main():
    a = cluster.arg_parser(__doc__).parse_args()
    why = cluster.missing(a.build, "bin/flinc-jobmanager", "bin/flinc-taskmanager", "jobs/wordcount.so",
                          "tests/rpc_attacker")
    if why:
        print(why)
        return 1
    chk = cluster.Checks()
    print("== a cluster with a secret, attacked while it runs a job ==", flush=True)
    attacked_cluster(a, chk)
    print("== a task manager whose connections to the job manager drop ==", flush=True)
    reconnect_cluster(a, chk)
    print("== a cluster without a secret (loopback only) ==", flush=True)
    loopback_cluster(a, chk)
    print("== daemons that must refuse to start ==", flush=True)
    refused_start(a, chk)
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
