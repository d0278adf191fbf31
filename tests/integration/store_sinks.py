#!/usr/bin/env python3
"""store_sinks - the influxdb:// and postgresql:// outputs (docs/sinks.md)
against a real PostgreSQL 15 and a real InfluxDB 1.x, each started by the
test on free loopback ports with its files in the test's temporary folder
(PostgreSQL as the user nobody when the test runs as root) and stopped at
the end, whatever happens.

Input: flinc-gen transactions (COUNT, seeded) in a file. Reference: the
fraud job over it into files, undisturbed (`flinc local`).

  local    flinc local -p 2, checkpoints every 500 ms:
           txn_pipe.so (parse -> key_by userId -> running count) to
           postgresql://...?table=txn_local&id=transactionId: every
           transactionId exactly once, per user the counts 1..n, the id
           column filled from transactionId, no prepared transaction left.
           fraud.so to postgresql: the table equals the reference alerts
           row for row. fraud.so to influxdb://...: one point per reference
           alert (same alertIds); the same job again into the same database
           adds no point (points are idempotent); alertType and userId are
           tags.
  cluster  a job manager and 3 task managers (2 slots each), each job at
           --rate transactions/s with KILLS task managers killed with
           kill -9 while it runs (a new one started after each kill):
           txn_pipe -p 3 to postgresql (every transactionId exactly once,
           the counts 1..n per user), fraud -p 3 to postgresql (the table
           equals the undisturbed reference run row for row), fraud -p 2
           to influxdb (exactly the reference alerts as points); no
           prepared transaction left over.
  window   the two-phase commit's windows (FLINC_TEST_FAULT, docs/sinks.md):
           the sink's process dies right after PREPARE TRANSACTION of
           checkpoint 3 (restore rolls it back), or after checkpoint 3
           completed and before COMMIT PREPARED (restore commits it): every
           transactionId exactly once. The first with
           delivery=at-least-once: rows twice, and the check sees it.
  rescale  txn_pipe -p 3 to postgresql, `flinc stop --savepoint-path`
           mid-run (the table is an exactly-once prefix), `flinc run -s` at
           -p 2 to the end: every transactionId exactly once.
  errors   refused or unreachable servers: a closed port (both sinks), an
           InfluxDB database that does not exist with create=false, a
           PostgreSQL table that does not exist with create=false, points
           InfluxDB refuses (a field type conflict; refused=skip goes on),
           and a server without prepared transactions (at-least-once works
           there): each job fails with one line naming the output, the
           password never shown, quickly.
  http     the InfluxDB sink's HTTP client against scripted servers (no
           InfluxDB): 503 answers, some closing the connection, are retried
           and every alert arrives; a server that never answers fails the
           job after the timeout of each attempt.

Usage: store_sinks.py --build BUILD [--case local|cluster|window|rescale|errors|http]... [--count N]
                      [--rate R] [--kills K] [--keep]
"""
import ctypes
import json
import os
import pwd
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cluster  # noqa: E402

PG_BIN = "/usr/lib/postgresql/15/bin"
INFLUXD = shutil.which("influxd") or "/usr/bin/influxd"


# ---- the servers -------------------------------------------------------------------

def _as_user(uid, gid):
    """preexec_fn: drop to uid/gid, then die with the test process (the
    parent-death signal is set after the credentials change, which clears
    it)."""
    def f():
        if uid is not None:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
        except OSError:
            pass
    return f


class Server:
    """A started server process with its log."""

    def __init__(self, name, argv, log_path, uid=None, gid=None):
        self.name = name
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                                     preexec_fn=_as_user(uid, gid))

    def alive(self):
        return self.proc.poll() is None

    def tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                return "\n".join(f.read().decode(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, sig=signal.SIGINT, timeout=20):
        if self.alive():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Postgres:
    """PostgreSQL 15: initdb in tmp/pg (trust authentication, user flinc),
    postgres on 127.0.0.1:PORT with its socket in tmp/pg."""

    def __init__(self, tmp, name="pg", prepared=64):
        self.dir = os.path.join(tmp, name)
        self.port = cluster.free_port()
        self.prepared = prepared
        self.server = None
        uid = gid = None
        if os.geteuid() == 0:  # postgres refuses to run as root
            pw = pwd.getpwnam("nobody")
            uid, gid = pw.pw_uid, pw.pw_gid
        self.uid, self.gid = uid, gid

    def start(self):
        os.makedirs(self.dir)
        if self.uid is not None:
            os.chown(self.dir, self.uid, self.gid)
            os.chmod(os.path.dirname(self.dir), 0o755)
        data = os.path.join(self.dir, "data")
        p = subprocess.run([os.path.join(PG_BIN, "initdb"), "-D", data, "-U", "flinc", "--auth=trust", "-E",
                            "UTF8", "--no-locale", "--no-sync"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           preexec_fn=_as_user(self.uid, self.gid), timeout=120)
        if p.returncode != 0:
            raise cluster.ClusterError("initdb failed: %s" % p.stdout.decode(errors="replace")[-2000:])
        self.server = Server("postgres", [os.path.join(PG_BIN, "postgres"), "-D", data, "-p", str(self.port),
                                          "-k", self.dir, "-c", "listen_addresses=127.0.0.1",
                                          "-c", "max_prepared_transactions=%d" % self.prepared,
                                          "-c", "fsync=off", "-c", "max_connections=100"],
                             os.path.join(self.dir, "postgres.log"), self.uid, self.gid)
        cluster.wait_until(lambda: not self.server.alive() or self._ready(), 60, "PostgreSQL to accept connections")
        if not self.server.alive():
            raise cluster.ClusterError("postgres exited: %s" % self.server.tail())
        self.sql("CREATE DATABASE flinc", db="postgres")

    def _ready(self):
        return subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "flinc", "-d", "postgres",
                               "-Atc", "SELECT 1"], capture_output=True).returncode == 0

    def sql(self, q, db="flinc"):
        """Rows of a query, each a list of text columns."""
        p = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "flinc", "-d", db, "-v",
                            "ON_ERROR_STOP=1", "-AtF", "\x1f", "-c", q], capture_output=True, timeout=300)
        if p.returncode != 0:
            raise cluster.ClusterError("psql %r: %s" % (q, p.stderr.decode(errors="replace").strip()))
        out = p.stdout.decode()
        return [ln.split("\x1f") for ln in out.split("\n") if ln != ""]

    def url(self, table, extra=""):
        return "postgresql://flinc@127.0.0.1:%d/flinc?table=%s%s" % (self.port, table, extra)

    def stop(self):
        if self.server:
            self.server.stop(signal.SIGINT)


class Influx:
    """InfluxDB 1.x (influxd) with a generated configuration: HTTP and RPC
    on free loopback ports, meta, data and WAL in tmp/influx."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "influx")
        self.port = cluster.free_port()
        self.rpc = cluster.free_port()
        self.server = None

    def start(self):
        os.makedirs(self.dir)
        conf = os.path.join(self.dir, "influxdb.conf")
        with open(conf, "w") as f:
            f.write('reporting-disabled = true\nbind-address = "127.0.0.1:%d"\n'
                    '[meta]\n  dir = "%s/meta"\n'
                    '[data]\n  dir = "%s/data"\n  wal-dir = "%s/wal"\n  query-log-enabled = false\n'
                    '[monitor]\n  store-enabled = false\n'
                    '[http]\n  enabled = true\n  bind-address = "127.0.0.1:%d"\n  log-enabled = false\n'
                    % (self.rpc, self.dir, self.dir, self.dir, self.port))
        self.server = Server("influxd", [INFLUXD, "-config", conf], os.path.join(self.dir, "influxd.log"))
        cluster.wait_until(lambda: not self.server.alive() or self._ping(), 60, "InfluxDB to answer /ping")
        if not self.server.alive():
            raise cluster.ClusterError("influxd exited: %s" % self.server.tail())

    def _ping(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/ping" % self.port, timeout=2) as r:
                return r.status == 204
        except OSError:
            return False

    def query(self, db, q):
        """The series of an InfluxQL query (a list of {name, columns, values})."""
        url = "http://127.0.0.1:%d/query?%s" % (self.port, urllib.parse.urlencode({"db": db, "q": q}))
        with urllib.request.urlopen(url, timeout=60) as r:
            body = json.loads(r.read())
        res = body["results"][0]
        if "error" in res:
            raise cluster.ClusterError("InfluxQL %r: %s" % (q, res["error"]))
        return res.get("series", [])

    def write(self, db, lines):
        """POST lines (line protocol, ns) to /write; the HTTP status."""
        for q in ("CREATE DATABASE %s" % db,):
            urllib.request.urlopen(urllib.request.Request(
                "http://127.0.0.1:%d/query?%s" % (self.port, urllib.parse.urlencode({"q": q})), method="POST"),
                timeout=30).read()
        req = urllib.request.Request("http://127.0.0.1:%d/write?db=%s&precision=ns" % (self.port, db),
                                     data=lines.encode(), method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status

    def alert_ids(self, db):
        """alertId of every point of measurement alerts."""
        ids = []
        for s in self.query(db, "SELECT alertId FROM alerts"):
            ids += [v[1] for v in s["values"]]
        return ids

    def url(self, db, extra=""):
        return "influxdb://127.0.0.1:%d/%s?measurement=alerts%s" % (self.port, db, extra)

    def stop(self):
        if self.server:
            self.server.stop(signal.SIGTERM)


# ---- helpers ------------------------------------------------------------------------

def local(a, plugin, args, p=2, conf=None, timeout=300):
    argv = [os.path.join(a.build, "bin", "flinc"), "local", "-p", str(p)]
    for k, v in (conf or {}).items():
        argv += ["-D", "%s=%s" % (k, v)]
    t0 = time.monotonic()
    r = subprocess.run(argv + [plugin] + args, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       errors="replace", timeout=timeout)
    return r, time.monotonic() - t0


def canon(lines):
    """Sorted canonical JSON texts (keys sorted) of JSON lines."""
    return sorted(json.dumps(json.loads(ln), sort_keys=True) for ln in lines)


def check_alert_table(chk, pg, table, ref_records, what):
    """The table's records equal the reference run's alerts row for row."""
    rows = [r[0] for r in pg.sql("SELECT record::text FROM %s" % table)]
    got = canon(rows)
    chk.ok(got == ref_records, "%s: table %s equals the undisturbed reference run row for row (%d rows, want %d)"
           % (what, table, len(got), len(ref_records)),
           "%d missing, %d extra" % (len(set(ref_records) - set(got)), len(set(got) - set(ref_records))))
    ids = pg.sql("SELECT count(*), count(DISTINCT id) FROM %s" % table)[0]
    chk.ok(ids[0] == ids[1] == str(len(ref_records)), "%s: %s alertIds in the id column, all distinct" % (what, ids[1]))


def check_txn_table(chk, pg, table, src_ids, per_user, what):
    """Every input transactionId exactly once in table, per user the running
    counts 1..n, the id column = transactionId. The sorted records."""
    rows = pg.sql("SELECT id, record::text FROM %s" % table)
    seen, dup, bad, seqs, idcol = set(), 0, 0, {}, 0
    records = []
    for idv, rec in rows:
        records.append(rec)
        try:
            r = json.loads(rec)
            tid, user, seq = r["transactionId"], r["userId"], int(r["seq"])
        except (ValueError, KeyError, TypeError):
            bad += 1
            continue
        idcol += idv == tid
        if tid in seen:
            dup += 1
        seen.add(tid)
        seqs.setdefault(user, []).append(seq)
    missing = len(src_ids - seen)
    extra = len(seen - src_ids)
    chk.ok(not dup and not missing and not extra and not bad,
           "%s: table %s holds every input transactionId exactly once (%d rows)" % (what, table, len(rows)),
           "%d duplicates, %d missing, %d unknown, %d malformed" % (dup, missing, extra, bad))
    wrong = [u for u, n in per_user.items() if sorted(seqs.get(u, [])) != list(range(1, n + 1))]
    chk.ok(not wrong, "%s: per user, the running counts 1..n once each (%d users)" % (what, len(per_user)),
           "%d users wrong, e.g. %s" % (len(wrong), wrong[:3]))
    chk.ok(idcol == len(rows), "%s: the id column holds each record's transactionId (%d of %d)" %
           (what, idcol, len(rows)))
    left = pg.sql("SELECT gid FROM pg_prepared_xacts")
    chk.ok(not left, "%s: no prepared transaction left over" % what, left[:5])
    return sorted(records)


def kill_loop(chk, c, jid, kills, what):
    """KILLS times: wait for RUNNING and a checkpoint newer than the last
    kill, kill -9 a task manager that runs the job, start a new one, wait
    until the job runs again."""
    killed, last_chk = 0, 0
    try:
        for k in range(kills):
            c.wait_running(jid, timeout=90)
            last_chk = cluster.wait_checkpoint_after(c, jid, last_chk, timeout=90)
            j = c.job(jid)
            if j.get("state") != "RUNNING":
                break  # finished already
            attempt = cluster.job_attempt(j)
            idx, victim = cluster.pick_victim(c, cluster.tms_of_job(c, jid))
            t1 = time.monotonic()
            cluster.kill9(c, idx)
            killed += 1
            c.start_taskmanager(wait=False)
            took, _ = cluster.wait_recovered(c, jid, attempt, t1, timeout=90)
            print("%s: kill %d: kill -9 task manager %s after chk-%d; RUNNING again in %.2f s" %
                  (what, k + 1, victim, last_chk, took), flush=True)
            c.wait_taskmanagers(len(c.live_taskmanagers()), timeout=30)
    except cluster.ClusterError as e:
        chk.fail("%s: kill loop (after %d kills): %s" % (what, killed, e))
    return killed


# ---- cases --------------------------------------------------------------------------

def case_local(chk, a, pg, ix, inp, ids, per_user, ref_alerts, ref_records, tmp):
    txn = os.path.join(a.build, "tests", "plugins", "txn_pipe.so")
    fraud = os.path.join(a.build, "jobs", "fraud.so")
    conf = {"state.checkpoints.dir": os.path.join(tmp, "local-chk"), "execution.checkpointing.interval": "500ms"}
    r, took = local(a, txn, ["--input", inp, "--output", pg.url("txn_local", "&id=transactionId&batch-size=64kb")],
                    conf=conf)
    chk.ok(r.returncode == 0, "local: txn_pipe -p 2 to postgresql finished (%.1f s)" % took, r.stderr[-2000:])
    check_txn_table(chk, pg, "txn_local", ids, per_user, "local")
    r, took = local(a, fraud, ["--input", inp, "--output", pg.url("alerts_local")], conf=conf)
    chk.ok(r.returncode == 0, "local: fraud -p 2 to postgresql finished (%.1f s)" % took, r.stderr[-2000:])
    check_alert_table(chk, pg, "alerts_local", ref_records, "local")
    r, took = local(a, fraud, ["--input", inp, "--output", ix.url("local", "&batch=500")], conf=conf)
    chk.ok(r.returncode == 0, "local: fraud -p 2 to influxdb finished (%.1f s)" % took, r.stderr[-2000:])
    got = ix.alert_ids("local")
    chk.ok(sorted(got) == ref_alerts, "local: InfluxDB holds one point per alert of the reference run (%d, want %d)"
           % (len(got), len(ref_alerts)))
    r, took = local(a, fraud, ["--input", inp, "--output", ix.url("local", "&batch=500")], conf=conf)
    got = ix.alert_ids("local")
    chk.ok(r.returncode == 0 and len(got) == len(ref_alerts),
           "local: the same job again into the same database adds no point (%d)" % len(got), r.stderr[-1000:])
    tags = ix.query("local", "SHOW TAG KEYS FROM alerts")
    keys = sorted(v[0] for s in tags for v in s["values"])
    chk.ok(keys == ["alertType", "userId"], "local: alertType and userId are tags", keys)


def case_cluster(chk, a, pg, ix, inp, ids, per_user, ref_alerts, ref_records, count, rate, kills):
    txn = os.path.join(a.build, "tests", "plugins", "txn_pipe.so")
    fraud = os.path.join(a.build, "jobs", "fraud.so")
    with cluster.Cluster(a.build, taskmanagers=3, slots=2, name="store-sinks", keep=a.keep, checks=chk) as c:
        c.conf.update({"state.checkpoints.dir": c.path("checkpoints"),
                       "execution.checkpointing.interval": "500ms"})
        c.start()
        for what, plugin, out, p in (
                ("postgresql", txn, pg.url("txn_cluster", "&id=transactionId&batch-size=64kb"), 3),
                ("postgresql", fraud, pg.url("alerts_cluster", "&batch-size=4kb"), 3),
                ("influxdb", fraud, ix.url("cluster", "&batch=200"), 2)):
            t0 = time.monotonic()
            jid = c.submit(plugin, ["--input", inp, "--output", out, "--rate", str(rate)], parallelism=p)
            print("job %s: %s -p %d, %d transactions at %d/s to %s" %
                  (jid, os.path.basename(plugin), p, count, rate, what), flush=True)
            killed = kill_loop(chk, c, jid, kills, what)
            chk.ok(killed == kills, "%s: %d task managers killed with kill -9 while the job ran" % (what, killed))
            try:
                c.wait_job(jid, {"FINISHED"}, timeout=600)
                chk.ok(True, "%s: the job ends FINISHED (%.1f s after submission)" % (what, time.monotonic() - t0))
            except cluster.ClusterError as e:
                chk.fail(str(e))
            restored = cluster.counts(c, jid).get("restored", 0)
            chk.ok(restored >= killed, "%s: the job restored from a checkpoint %d times" % (what, restored))
    check_txn_table(chk, pg, "txn_cluster", ids, per_user, "cluster")
    check_alert_table(chk, pg, "alerts_cluster", ref_records, "cluster")
    got = ix.alert_ids("cluster")
    missing, extra = sorted(set(ref_alerts) - set(got)), sorted(set(got) - set(ref_alerts))
    # on a failure, the alerts themselves: which rule, user and time went missing
    lost = [r for r in ref_records if any(i in r for i in missing[:5])]
    chk.ok(sorted(got) == ref_alerts, "cluster: InfluxDB holds exactly the reference run's alerts (%d points, want %d)"
           % (len(got), len(ref_alerts)),
           "missing %s, extra %s, duplicated %d; the missing alerts: %s"
           % (missing[:5], extra[:5], len(got) - len(set(got)), [str(r)[:300] for r in lost]))


def fault_run(chk, a, inp, rate, fault, out, what):
    """txn_pipe -p 3 to `out` on a cluster whose first task managers carry
    FLINC_TEST_FAULT=fault; every task manager that dies is replaced (the
    replacements run without the fault). True when the fault fired, the job
    restored and ended FINISHED."""
    txn = os.path.join(a.build, "tests", "plugins", "txn_pipe.so")
    with cluster.Cluster(a.build, taskmanagers=3, slots=2, name="store-fault", keep=a.keep, checks=chk) as c:
        c.conf.update({"state.checkpoints.dir": c.path("checkpoints"),
                       "execution.checkpointing.interval": "500ms"})
        os.environ["FLINC_TEST_FAULT"] = fault
        try:
            c.start()
        finally:
            del os.environ["FLINC_TEST_FAULT"]
        t0 = time.monotonic()
        jid = c.submit(txn, ["--input", inp, "--output", out, "--rate", str(rate)], parallelism=3)
        seen_dead, replaced, state = set(), 0, None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            for i, d in enumerate(c.tms):
                if not d.alive() and i not in seen_dead:
                    seen_dead.add(i)
                    replaced += 1
                    c.start_taskmanager(wait=False)
            state = c.job_state(jid)
            if state in cluster.TERMINAL:
                break
            time.sleep(0.2)
        fired = sum(d.log_text().count("FLINC_TEST_FAULT:") for d in c.tms)
        logs = "".join(d.log_text() for d in c.tms)
        restored = cluster.counts(c, jid).get("restored", 0)
        print("%s: %d sink(s) died at the fault point; on restore %d prepared transaction(s) committed, "
              "%d rolled back" % (what, fired, logs.count(": committed flinc:"), logs.count(": rolled back flinc:")),
              flush=True)
        return chk.ok(state == "FINISHED" and fired >= 1 and replaced >= 1 and restored >= 1,
                      "%s: the sink's process died %d time(s) at %s, %d task manager(s) replaced, the job "
                      "restored %d time(s) and ended %s (%.1f s)" %
                      (what, fired, fault, replaced, restored, state, time.monotonic() - t0),
                      "" if state == "FINISHED" else c.exceptions(jid))


def case_window(chk, a, pg, inp, ids, per_user, rate):
    """The two-phase commit's windows: the sink's process dies (as kill -9)
    right after it prepared checkpoint 3's transaction (the checkpoint
    cannot complete: restore from 2 rolls 3 back), and once checkpoint 3
    completed before the sink committed it (restore from 3 commits it).
    Every transactionId must be in the table exactly once. Then the first
    window with delivery=at-least-once, which commits at the barrier: its
    rows come twice, and the same check sees the duplicates."""
    for kind in ("pg-sink-after-flush", "pg-sink-after-complete"):
        table = "txn_" + kind.replace("-", "_")
        if fault_run(chk, a, inp, rate, kind + ":3", pg.url(table, "&id=transactionId&batch-size=64kb"),
                     "window " + kind):
            check_txn_table(chk, pg, table, ids, per_user, "window " + kind)
    if fault_run(chk, a, inp, rate, "pg-sink-after-flush:3",
                 pg.url("txn_alo", "&id=transactionId&delivery=at-least-once"), "window at-least-once"):
        n, distinct = (int(x) for x in pg.sql("SELECT count(*), count(DISTINCT id) FROM txn_alo")[0])
        chk.ok(n > distinct == len(ids),
               "window at-least-once: the replayed rows are in the table twice (%d rows, %d distinct): the check "
               "above would see them" % (n, distinct))


def check_txn_prefix(chk, pg, table, ids, what):
    """An exactly-once prefix: no transactionId twice, none unknown, per
    user the counts 1..k. The number of rows."""
    rows = pg.sql("SELECT record::text FROM %s" % table)
    seen, dup, seqs = set(), 0, {}
    for (rec,) in rows:
        r = json.loads(rec)
        dup += r["transactionId"] in seen
        seen.add(r["transactionId"])
        seqs.setdefault(r["userId"], []).append(int(r["seq"]))
    gaps = [u for u, v in seqs.items() if sorted(v) != list(range(1, len(v) + 1))]
    chk.ok(not dup and not (seen - ids) and not gaps and 0 < len(rows) < len(ids),
           "%s: an exactly-once prefix (%d of %d rows)" % (what, len(rows), len(ids)),
           "%d duplicates, %d unknown, %d users with gaps" % (dup, len(seen - ids), len(gaps)))
    return len(rows)


SP_RE = re.compile(r"^Savepoint completed\. Path: (\S+)\s*$", re.M)


def case_rescale(chk, a, pg, inp, ids, per_user, rate):
    """txn_pipe to postgresql at -p 3, `flinc stop --savepoint-path` mid-run
    (the table is an exactly-once prefix), `flinc run -s` at -p 2 to the end:
    every transactionId exactly once (the prepared transactions of old
    subtask k are resolved by new subtask k mod 2)."""
    txn = os.path.join(a.build, "tests", "plugins", "txn_pipe.so")
    args = ["--input", inp, "--output", pg.url("txn_rescale", "&id=transactionId&batch-size=64kb"),
            "--rate", str(rate)]
    with cluster.Cluster(a.build, taskmanagers=2, slots=3, name="store-rescale", keep=a.keep, checks=chk) as c:
        c.conf.update({"state.checkpoints.dir": c.path("checkpoints"),
                       "state.savepoints.dir": c.path("savepoints"),
                       "execution.checkpointing.interval": "500ms"})
        c.start()
        jid = c.submit(txn, args, parallelism=3)
        c.wait_running(jid, timeout=90)
        cluster.wait_checkpoint_after(c, jid, 2, timeout=90)
        p = c.flinc("stop", "--savepoint-path", c.path("savepoints"), jid)
        m = SP_RE.search(p.stdout)
        chk.ok(p.returncode == 0 and m, "rescale: flinc stop --savepoint-path at -p 3", p.stdout[-500:] + p.stderr[-500:])
        if not m:
            return
        c.wait_job(jid, {"FINISHED"}, timeout=60)
        check_txn_prefix(chk, pg, "txn_rescale", ids, "rescale: after the stop at -p 3")
        left = pg.sql("SELECT count(*) FROM pg_prepared_xacts")[0][0]
        print("rescale: %s prepared transaction(s) left after the stop" % left, flush=True)
        p = c.flinc("run", "-s", m.group(1), "-p", "2", txn, *args, timeout=600)
        chk.ok(p.returncode == 0 and "FINISHED" in p.stdout, "rescale: restored at -p 2, the job runs to FINISHED",
               p.stdout[-800:] + p.stderr[-800:])
    check_txn_table(chk, pg, "txn_rescale", ids, per_user, "rescale")


class FakeInflux:
    """An HTTP server that answers like InfluxDB's /query and /write, with
    scripted failures: the first `fail_writes` writes get 503 (some with
    Connection: close), /query answers chunked. Records the points it
    accepted."""

    def __init__(self, fail_writes):
        self.fail_left = fail_writes
        self.lines = []
        self.requests = 0
        self.lock = threading.Lock()
        fake = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n).decode()
                with fake.lock:
                    fake.requests += 1
                    fail = self.path.startswith("/write") and fake.fail_left > 0
                    if fail:
                        fake.fail_left -= 1
                        close = fake.fail_left % 2 == 0
                    elif self.path.startswith("/write"):
                        fake.lines += [ln for ln in body.split("\n") if ln]
                if self.path.startswith("/query"):
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for part in (b'{"results":[', b'{"statement_id":0}]}'):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\n\r\n")
                elif fail:
                    msg = b'{"error":"overloaded, try later"}'
                    self.send_response(503)
                    self.send_header("Content-Length", str(len(msg)))
                    if close:
                        self.send_header("Connection", "close")
                        self.close_connection = True
                    self.end_headers()
                    self.wfile.write(msg)
                else:
                    self.send_response(204)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def case_http(chk, a, inp, ref_alerts):
    """The InfluxDB sink's HTTP client against scripted servers: 503
    answers (some closing the connection) are retried and the job ends with
    every point written; a server that accepts connections and never
    answers fails the job after `timeout` per attempt, with one line."""
    fraud = os.path.join(a.build, "jobs", "fraud.so")
    fake = FakeInflux(fail_writes=3)
    try:
        out = "influxdb://127.0.0.1:%d/db?measurement=alerts&batch=100&retries=3" % fake.port
        r, took = local(a, fraud, ["--input", inp, "--output", out], conf={"restart-strategy": "none"})
        retried = [ln for ln in r.stderr.splitlines() if "trying again" in ln]
        ids = sorted({ln.split("alertId=\"", 1)[1].split("\"", 1)[0] for ln in fake.lines if "alertId=" in ln})
        chk.ok(r.returncode == 0 and retried and ids == ref_alerts,
               "http: three 503 answers are retried (%d warnings), the job ends, every alert is written (%d)" %
               (len(retried), len(ids)), r.stderr[-1500:])
    finally:
        fake.stop()
    # accepts (the kernel's backlog) but never answers
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(16)
    try:
        out = "influxdb://127.0.0.1:%d/db?retries=1&timeout=1s" % mute.getsockname()[1]
        r, took = local(a, fraud, ["--input", inp, "--output", out], conf={"restart-strategy": "none"}, timeout=60)
        lines = [ln for ln in r.stderr.splitlines() if "no answer within the timeout" in ln and "failed 2 times" in ln]
        chk.ok(r.returncode != 0 and lines and took < 20,
               "http: a server that never answers fails the job in %.1f s: %s" %
               (took, lines[0][-150:] if lines else "?"), r.stderr[-1500:])
    finally:
        mute.close()


def case_errors(chk, a, pg, ix, inp, tmp):
    txn = os.path.join(a.build, "tests", "plugins", "txn_pipe.so")
    fraud = os.path.join(a.build, "jobs", "fraud.so")
    closed = cluster.free_port()
    conf = {"restart-strategy": "none"}

    def expect_fail(what, plugin, out, needle, limit=60):
        r, took = local(a, plugin, ["--input", inp, "--output", out], conf=conf, timeout=120)
        err = r.stderr
        lines = [ln for ln in err.splitlines() if needle in ln]
        chk.ok(r.returncode != 0 and lines and took < limit,
               "errors: %s: the job fails in %.1f s with: %s" % (what, took, lines[0][-200:] if lines else "?"),
               "exit %d, stderr: %s" % (r.returncode, err[-1500:]))
        chk.ok("s3cret" not in err, "errors: %s: the password is not shown" % what)

    expect_fail("postgresql on a closed port", txn,
                "postgresql://flinc:s3cret@127.0.0.1:%d/flinc?table=t" % closed, "cannot connect (3 attempts)")
    expect_fail("influxdb on a closed port", fraud,
                "influxdb://u:s3cret@127.0.0.1:%d/db?retries=1&timeout=2s" % closed, "failed 2 times")
    expect_fail("influxdb database missing, create=false", fraud, ix.url("nosuchdb", "&create=false"),
                "database not found")
    expect_fail("postgresql table missing, create=false", txn, pg.url("nosuchtable", "&create=false"),
                "does not exist")
    # a field whose type InfluxDB knows otherwise: severity a string
    ix.write("conflict", 'alerts,alertType=X severity="high" 1767225600000000000\n')
    expect_fail("influxdb refuses the points (field type conflict)", fraud, ix.url("conflict"), "refused points")
    r, took = local(a, fraud, ["--input", inp, "--output", ix.url("conflict", "&refused=skip")], conf=conf)
    said = [ln for ln in r.stderr.splitlines() if "InfluxDB refused points" in ln]
    chk.ok(r.returncode == 0 and said, "errors: ... with refused=skip the job ends and says: %s" %
           (said[0][-160:] if said else "?"), r.stderr[-1500:])
    pg0 = Postgres(tmp, name="pg0", prepared=0)
    try:
        pg0.start()
        expect_fail("postgresql without prepared transactions", txn, pg0.url("t"), "max_prepared_transactions = 0")
        r, took = local(a, txn, ["--input", inp, "--output", pg0.url("t", "&delivery=at-least-once")],
                        conf={"state.checkpoints.dir": os.path.join(tmp, "alo-chk"),
                              "execution.checkpointing.interval": "500ms"})
        n = pg0.sql("SELECT count(*) FROM t")[0][0]
        chk.ok(r.returncode == 0 and int(n) > 0, "errors: ... but delivery=at-least-once works there (%s rows)" % n,
               r.stderr[-1500:])
    finally:
        pg0.stop()


def main():
    ap = cluster.arg_parser(__doc__)
    ap.add_argument("--case", action="append", choices=["local", "cluster", "window", "rescale", "errors", "http"])
    ap.add_argument("--count", type=int, default=40000)
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--kills", type=int, default=2)
    a = ap.parse_args()
    cases = a.case or ["local", "cluster", "window", "rescale", "errors", "http"]
    chk = cluster.Checks()
    why = cluster.missing(a.build, "bin/flinc", "bin/flinc-gen", "tests/plugins/txn_pipe.so", "jobs/fraud.so")
    for path in (os.path.join(PG_BIN, "postgres"), INFLUXD):
        if not os.path.exists(path):
            why = why or "%s is missing: run scripts/install-deps.sh" % path
    if why:
        print(why, file=sys.stderr)
        return 1
    with cluster.scratch_dir("flinc-store-sinks-", keep=a.keep, failed=lambda: chk.errors) as tmp:
        os.chmod(tmp, 0o755)
        pg, ix = Postgres(tmp), Influx(tmp)
        try:
            pg.start()
            ix.start()
            print("PostgreSQL on 127.0.0.1:%d, InfluxDB on 127.0.0.1:%d" % (pg.port, ix.port), flush=True)
            inp = os.path.join(tmp, "transactions.json")
            subprocess.run([os.path.join(a.build, "bin", "flinc-gen"), "transactions", "--count", str(a.count),
                            "--seed", "17", "--output", inp], check=True, timeout=300)
            ids, per_user = set(), {}
            with open(inp) as f:
                for ln in f:
                    r = json.loads(ln)
                    ids.add(r["transactionId"])
                    per_user[r["userId"]] = per_user.get(r["userId"], 0) + 1
            # the reference alerts: the fraud job into files, undisturbed
            ref_dir = os.path.join(tmp, "fraud-ref")
            r, _ = local(a, os.path.join(a.build, "jobs", "fraud.so"), ["--input", inp, "--output", ref_dir])
            ref_lines = [ln for fn in cluster.committed_files(ref_dir) for ln in open(os.path.join(ref_dir, fn))]
            ref_alerts = sorted(json.loads(ln)["alertId"] for ln in ref_lines)
            ref_records = canon(ref_lines)
            chk.ok(r.returncode == 0 and ref_alerts, "reference: fraud wrote %d alerts to files" % len(ref_alerts),
                   r.stderr[-1500:])
            if "local" in cases:
                case_local(chk, a, pg, ix, inp, ids, per_user, ref_alerts, ref_records, tmp)
            if "cluster" in cases:
                case_cluster(chk, a, pg, ix, inp, ids, per_user, ref_alerts, ref_records, a.count, a.rate, a.kills)
            if "window" in cases:
                case_window(chk, a, pg, inp, ids, per_user, a.rate)
            if "rescale" in cases:
                case_rescale(chk, a, pg, inp, ids, per_user, a.rate)
            if "errors" in cases:
                case_errors(chk, a, pg, ix, inp, tmp)
            if "http" in cases:
                case_http(chk, a, inp, ref_alerts)
        except (cluster.ClusterError, subprocess.SubprocessError, OSError) as e:
            chk.fail("%s: %s" % (type(e).__name__, e))
        finally:
            if chk.errors:
                for s in (pg.server, ix.server):
                    if s:
                        print("---- %s log ----\n%s" % (s.name, s.tail()), flush=True)
            pg.stop()
            ix.stop()
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
