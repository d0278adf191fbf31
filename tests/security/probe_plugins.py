#!/usr/bin/env python3
"""probe_plugins - hostile plugins cannot take the job manager down (issue 15,
finding 2 and the plugin half of 3; acceptance 1 and 2).

A job manager (plugin inspection timeout 3 s, memory 256 MB, a job store)
and one task manager with four slots on 127.0.0.1; Nexmark q1 runs from
the built-in generator and must keep running throughout. Then, as an
attacker or a careless user would:

  uploads   each plugin of tests/plugins/hostile.c whose constructor or
            build() (built without arguments at upload) is hostile: writes
            a marker file, abort(), _exit(0), sleeps forever; segfaults,
            never returns, allocates without bound; and wordcount.so cut
            to its first 1000 bytes, a text file, a plugin for another
            ABI. Each must be refused (400) with its one clear line
            (printed), within the timeout; after each: the job manager is
            the same process, it has no child left (no zombie), the blob
            folder is as before (nothing stored, no temporary file), its
            log grew by a bounded amount, and the Nexmark job is RUNNING
            with its record counts still growing.
  marker    the marker plugin's constructor ran in a helper process, not in
            the job manager (acceptance 2): the pid it wrote is not the
            job manager's, its parent is the job manager, its session its
            own, under the limits (RLIMIT_AS = the memory limit unless a
            sanitizer build, CPU, CORE 0, NOFILE 64, FSIZE 1 MB), with file
            descriptors 0-3 only and an empty environment; and it is gone.
  submits   hostile_args.so, valid at upload, run with --crash segv, hang,
            oom, exit, garbage, forge: each a 400 with its line within the
            timeout (plus a margin), the job manager and the job unharmed.
  info      `flinc info` on each hostile plugin: exit 1 with exactly one
            line on stderr, never a signal, nothing on stdout.
  leaks     the job manager's open descriptors are as many at the end as at
            the start.
  stop      SIGTERM while an inspection hangs: the job manager stops at once
            (exit 0), not at the inspection's timeout, and the helper is gone.
  REST      while an upload's inspection hangs, GET /overview answers at once.
  restart   with the job manager stopped, a truncated wordcount.so is put
            into its blob folder by hand, and a job record naming it into
            its job store: the job manager starts, lists the jar, refuses to
            run it with the truncated line, drops the record it cannot
            recover (and recovers the Nexmark job through the same
            inspection).

Usage: probe_plugins.py --build BUILD_DIR [--keep]
"""

import http.client
import json
import os
import re
import subprocess
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import cluster  # noqa: E402

TIMEOUT_S = 3
MEMORY_MB = 256  # small: eating it takes a fraction of the timeout even on a busy machine
LOG_GROWTH_MAX = 4096  # bytes of job manager log per refused request


def sanitized(build):
    """Is BUILD a sanitizer build (FLINC_SANITIZER in its CMake cache)?"""
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("FLINC_SANITIZER:"):
                    return line.split("=", 1)[1].strip() != ""
    except OSError:
        pass
    return False


def children(pid):
    """Processes whose parent is pid: [(pid, state)]."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        rest = st[st.rfind(")") + 2:].split()
        if int(rest[1]) == pid:
            out.append((int(d), rest[0]))
    return out


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def listing(folder):
    try:
        return sorted(os.listdir(folder))
    except FileNotFoundError:
        return []


def log_size(c):
    try:
        return os.path.getsize(c.jm.log_path)
    except OSError:
        return 0


class Probe:
    def __init__(self, c, chk, jid):
        self.c, self.chk, self.jid = c, chk, jid
        self.jm_pid = c.jm.pid
        self.blobs = c.path("jobmanager", "blobs")

    def records(self):
        """Records the Nexmark job's vertices read and wrote so far."""
        j = self.c.job(self.jid)
        return j.get("state"), sum(v["metrics"]["read-records"] + v["metrics"]["write-records"]
                                   for v in j.get("vertices", []))

    def before(self):
        return {"blobs": listing(self.blobs), "log": log_size(self.c), "records": self.records()[1]}

    def after(self, what, snap):
        """The checks every hostile request must leave true."""
        c, chk = self.c, self.chk
        chk.ok(c.jm.alive() and c.jm.pid == self.jm_pid, "%s: the job manager is up, same pid %d" %
               (what, self.jm_pid))
        cluster.poll(lambda: not children(self.jm_pid), 2)
        kids = children(self.jm_pid)
        chk.ok(not kids, "%s: no child process of the job manager is left (no zombie)" % what, kids)
        now = listing(self.blobs)
        chk.ok(now == snap["blobs"], "%s: the blob folder is unchanged (%d files)" % (what, len(now)),
               "%s -> %s" % (snap["blobs"], now))
        grew = log_size(c) - snap["log"]
        chk.ok(0 <= grew <= LOG_GROWTH_MAX, "%s: the job manager's log grew by %d bytes (<= %d)" %
               (what, grew, LOG_GROWTH_MAX))
        st = cluster.poll(lambda: (lambda s: s if s[0] == "RUNNING" and s[1] > snap["records"] else None)(
            self.records()), 10, interval=0.2) or self.records()
        chk.ok(st[0] == "RUNNING" and st[1] > snap["records"],
               "%s: the Nexmark job is RUNNING, records %d -> %d" % (what, snap["records"], st[1]), st)

    def ask(self, request, what):
        """One request; a job manager that dies on it is a failed check (and
        the end of the probe: there is nothing left to attack)."""
        try:
            return request()
        except (OSError, http.client.HTTPException) as e:
            alive = self.c.jm.alive()
            self.chk.fail("%s: no answer (%s); the job manager is %s" %
                          (what, e, "up" if alive else "gone, exit status %s" % self.c.jm.proc.poll()))
            raise cluster.ClusterError("the job manager did not answer %s" % what)

    def rest_answers(self, what):
        """While an inspection hangs: REST answers others at once (the
        inspection holds no lock and one HTTP worker only)."""
        time.sleep(0.5)
        t0 = time.monotonic()
        st, _ = self.c.request("GET", "/overview", timeout=10)
        dt = time.monotonic() - t0
        self.chk.ok(st == 200 and dt < 1.0, "%s: GET /overview answers during the inspection (%d in %.3f s)" %
                    (what, st, dt))

    def upload(self, name, path, want, data=None, limit=TIMEOUT_S + 5, meanwhile=None):
        """Upload a hostile file: 400 and a line matching want (meanwhile(what)
        runs while the upload waits)."""
        snap = self.before()
        t0 = time.monotonic()
        res = {}
        t = threading.Thread(target=lambda: res.update(
            r=self.ask(lambda: self.c.upload(path, data=data, filename=name), "upload " + name)), daemon=True)
        t.start()
        if meanwhile:
            meanwhile("upload " + name)
        t.join(limit + 30)
        if "r" not in res:
            raise cluster.ClusterError("upload %s: no answer" % name)
        st, body = res["r"]
        dt = time.monotonic() - t0
        msg = cluster.error_message(body) or str(body)
        print("    upload %s -> %d in %.2f s: %s" % (name, st, dt, msg), flush=True)
        self.chk.ok(st == 400 and re.search(want, msg) and "\n" not in msg and name in msg,
                    "upload %s: refused (400), one line naming it and saying '%s'" % (name, want), (st, msg))
        self.chk.ok(dt < limit, "upload %s: answered in %.2f s (< %d)" % (name, dt, limit))
        self.after("upload " + name, snap)

    def run(self, jar, args, want, limit=TIMEOUT_S + 5):
        """Submit a hostile build: 400 and a line matching want."""
        snap = self.before()
        t0 = time.monotonic()
        what = "run %s" % " ".join(args)
        st, body = self.ask(lambda: self.c.request("POST", "/jars/%s/run" % jar, {"programArgsList": args},
                                                   timeout=60), what)
        dt = time.monotonic() - t0
        msg = cluster.error_message(body) or str(body)
        print("    %s -> %d in %.2f s: %s" % (what, st, dt, msg), flush=True)
        self.chk.ok(st == 400 and re.search(want, msg) and "\n" not in msg,
                    "%s: refused (400), one line saying '%s'" % (what, want), (st, msg))
        self.chk.ok(dt < limit, "%s: answered in %.2f s (< %d)" % (what, dt, limit))
        self.after(what, snap)


def check_marker(chk, c, path, jm_pid, san):
    """The marker plugin's report of the process its constructor ran in."""
    try:
        with open(path) as f:
            m = json.load(f)
    except (OSError, ValueError) as e:
        chk.fail("the marker plugin's constructor wrote %s: %s" % (path, e))
        return
    print("    marker: %s" % m, flush=True)
    chk.ok(m["pid"] != jm_pid, "acceptance 2: the constructor ran in pid %d, not the job manager's %d" %
           (m["pid"], jm_pid))
    chk.ok(m["ppid"] == jm_pid, "it ran in a child of the job manager (ppid %d)" % m["ppid"])
    chk.ok(not os.path.exists("/proc/%d" % m["pid"]), "that helper process is gone")
    chk.ok(m["sid"] == m["pid"] and m["pgid"] == m["pid"], "in a session and process group of its own")
    want_as = -1 if san else MEMORY_MB << 20
    chk.ok(m["as"] == want_as, "RLIMIT_AS %d (want %d: %s)" % (m["as"], want_as,
                                                                 "sanitizer build" if san else "the memory limit"))
    chk.ok(m["cpu"] == TIMEOUT_S + 1 and m["core"] == 0 and m["nofile"] == 64 and m["fsize"] == 1 << 20,
           "RLIMIT_CPU %s, CORE %s, NOFILE %s, FSIZE %s" % (m["cpu"], m["core"], m["nofile"], m["fsize"]))
    chk.ok(m["fds"] == [0, 1, 2, 3], "file descriptors %s: stdin, stdout, stderr, the answer pipe only" % m["fds"])
    extra = [v for v in m["env"] if v != "LD_LIBRARY_PATH" and not v.endswith("SAN_OPTIONS")]
    chk.ok(not extra, "an empty environment (but the loader's and sanitizers' own): %s" % m["env"], extra)


def check_info(chk, build, plugin, args, want):
    """`flinc info`: exit 1, one stderr line matching want, never a signal."""
    argv = [os.path.join(build, "bin", "flinc"), "info", "-D", "jobmanager.plugin-inspection.timeout=%ds" % TIMEOUT_S,
            "-D", "jobmanager.plugin-inspection.memory=%dmb" % MEMORY_MB, plugin] + args
    t0 = time.monotonic()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60,
                       env=cluster.cli_env(), cwd=os.path.dirname(plugin))
    dt = time.monotonic() - t0
    lines = p.stderr.strip().splitlines()
    name = os.path.basename(plugin) + (" " + " ".join(args) if args else "")
    print("    flinc info %s -> exit %d in %.2f s: %s" % (name, p.returncode, dt, p.stderr.strip()), flush=True)
    chk.ok(p.returncode == 1 and len(lines) == 1 and lines[0].startswith("flinc: ") and
           re.search(want, lines[0]) and not p.stdout,
           "flinc info %s: exit 1 (not a signal), one line saying '%s'" % (name, want),
           (p.returncode, p.stderr, p.stdout[:200]))


def main():
    a = cluster.arg_parser(__doc__).parse_args()
    why = cluster.missing(a.build, "bin/flinc-jobmanager", "jobs/nexmark.so", "jobs/wordcount.so",
                          "tests/plugins/hostile_args.so")
    if why:
        print(why)
        return 1
    chk = cluster.Checks()
    san = sanitized(a.build)
    plugins = os.path.join(a.build, "tests", "plugins")
    hp = lambda n: os.path.join(plugins, "hostile_%s.so" % n)  # noqa: E731
    with open(os.path.join(a.build, "jobs", "wordcount.so"), "rb") as f:
        truncated = f.read()[:1000]
    with cluster.Cluster(a.build, taskmanagers=1, slots=4, name="probe-plugins", keep=a.keep, checks=chk) as c:
        c.jm_conf.update({"jobmanager.plugin-inspection.timeout": "%ds" % TIMEOUT_S,
                          "jobmanager.plugin-inspection.memory": "%dmb" % MEMORY_MB,
                          "high-availability.storageDir": c.path("ha")})
        c.start()
        jid = c.submit(c.plugin("nexmark"), ["--query", "1", "--rate", "500"], parallelism=1)
        c.wait_running(jid)
        p = Probe(c, chk, jid)
        cluster.wait_until(lambda: p.records()[1] > 0, 30, "the Nexmark job's first records")
        time.sleep(1.5)  # let the job manager's descriptors settle (task manager connections, REST)
        fds0 = fd_count(p.jm_pid)
        print("== job manager pid %d, %d open descriptors; Nexmark job %s running" % (p.jm_pid, fds0, jid))

        print("== hostile uploads")
        marker = c.path("jobmanager", "flinc-ctor-marker.json")  # the job manager's working folder
        p.upload("hostile_ctor_marker.so", hp("ctor_marker"), r"no 'flinc_plugin_entry' symbol")
        check_marker(chk, c, marker, p.jm_pid, san)
        p.upload("hostile_ctor_abort.so", hp("ctor_abort"), r"the plugin's constructor killed the inspection "
                 r"with SIGABRT")
        p.upload("hostile_ctor_exit.so", hp("ctor_exit"), r"the plugin's constructor ended the inspection "
                 r"\(exit status 0\) without an answer")
        p.upload("hostile_ctor_sleep.so", hp("ctor_sleep"), r"the plugin's constructor did not finish within %d s"
                 % TIMEOUT_S)
        p.upload("hostile_build_segv.so", hp("build_segv"), r"the plugin's build\(\) killed the inspection with "
                 r"SIGSEGV")
        p.upload("hostile_build_hang.so", hp("build_hang"), r"the plugin's build\(\) did not finish within %d s"
                 % TIMEOUT_S, meanwhile=p.rest_answers)
        p.upload("hostile_build_oom.so", hp("build_oom"), r"the plugin's build\(\) exceeded the memory limit "
                 r"\(%d MB" % MEMORY_MB)
        p.upload("truncated.so", None, r"truncated \(1000 bytes, the ELF header says at least \d+\)",
                 data=truncated)
        p.upload("notes.so", None, r"not a job plugin \(not an ELF shared object\)", data=b"just text\n" * 10)
        p.upload("bad_abi.so", os.path.join(plugins, "bad_abi.so"), r"built for job ABI version 999, this flinc "
                 r"runs ABI version 1")

        print("== hostile builds at submit (hostile_args.so is valid at upload)")
        st, body = c.upload(hp("args"))
        chk.ok(st == 200, "hostile_args.so without arguments is accepted", (st, body))
        jar = c.jar_id(body) if st == 200 else "0" * 32 + "_hostile_args.so"
        p.run(jar, ["--crash", "segv"], r"the plugin's build\(\) killed the inspection with SIGSEGV")
        p.run(jar, ["--crash", "hang"], r"the plugin's build\(\) did not finish within %d s" % TIMEOUT_S)
        p.run(jar, ["--crash", "oom"], r"the plugin's build\(\) exceeded the memory limit")
        p.run(jar, ["--crash", "exit"], r"the plugin's build\(\) ended the inspection \(exit status 3\)")
        p.run(jar, ["--crash", "garbage"], r"the inspection's answer is malformed")
        p.run(jar, ["--crash", "forge"], r"the inspection's answer is malformed: parallelism is 100000")
        p.run(jar, ["--crash", "none", "--bogus", "1"], r"invalid job: unknown argument --bogus.*; usage: ")

        print("== flinc info on the same files")
        tfile = c.path("truncated.so")
        with open(tfile, "wb") as f:
            f.write(truncated)
        for n, want in (("ctor_marker", r"no 'flinc_plugin_entry' symbol"), ("ctor_abort", r"with SIGABRT"),
                        ("ctor_exit", r"exit status 0\) without an answer"),
                        ("ctor_sleep", r"did not finish within %d s" % TIMEOUT_S),
                        ("build_segv", r"build\(\) killed the inspection with SIGSEGV"),
                        ("build_hang", r"build\(\) did not finish within %d s" % TIMEOUT_S),
                        ("build_oom", r"build\(\) exceeded the memory limit")):
            check_info(chk, a.build, hp(n), [], want)
        check_info(chk, a.build, hp("args"), ["--crash", "segv"], r"killed the inspection with SIGSEGV")
        check_info(chk, a.build, hp("args"), ["--crash", "forge"], r"answer is malformed")
        check_info(chk, a.build, tfile, [], r"truncated \(1000 bytes")

        print("== the job manager's descriptors")
        fds1 = cluster.poll(lambda: (lambda n: n if n == fds0 else None)(fd_count(p.jm_pid)), 5) or \
            fd_count(p.jm_pid)
        chk.ok(fds1 == fds0, "no descriptor leaked: %d open before the probes, %d after" % (fds0, fds1))

        print("== SIGTERM while an inspection hangs")
        def upload_hang():
            try:
                c.upload(hp("build_hang"))
            except (OSError, http.client.HTTPException):
                pass  # the job manager stopped: no answer is expected
        hang = threading.Thread(target=upload_hang, daemon=True)
        hang.start()
        helpers = cluster.poll(lambda: children(p.jm_pid), 10)
        chk.ok(helpers, "an inspection helper runs: %s" % helpers)
        t0 = time.monotonic()
        c.jm.signal(signal.SIGTERM)
        try:
            rc = c.jm.proc.wait(30)
        except subprocess.TimeoutExpired:
            rc = None
        dt = time.monotonic() - t0
        chk.ok(rc == 0 and dt < TIMEOUT_S, "the job manager stops on SIGTERM in %.2f s (exit %s), before the "
               "inspection's timeout" % (dt, rc))
        gone = cluster.poll(lambda: not any(os.path.exists("/proc/%d" % h) for h, _ in helpers or []), 5)
        chk.ok(gone, "and its inspection helper is gone")
        hang.join(10)
        c.jm.stop()

        print("== a truncated plugin left in the blob folder, across a restart")
        bad_id = "0123456789abcdef0123456789abcdef_truncated.so"
        with open(os.path.join(p.blobs, bad_id), "wb") as f:
            f.write(truncated)
        bad_jid = "f" * 32
        os.makedirs(c.path("ha", "jobs"), exist_ok=True)
        with open(c.path("ha", "jobs", bad_jid + ".json"), "w") as f:
            json.dump({"version": 1, "jid": bad_jid, "jar_id": bad_id, "args": [], "parallelism": 1, "conf": {},
                       "allow_non_restored": False}, f)
        log0 = log_size(c)
        c.restart_jobmanager(timeout=60)
        chk.ok(c.jm.alive(), "the job manager starts with the truncated file in its blob folder (pid %d)" % c.jm.pid)
        ids = [f["id"] for f in c.get("/jars").get("files", [])]
        chk.ok(bad_id in ids, "GET /jars lists it", ids)
        st, body = c.request("POST", "/jars/%s/run" % bad_id, {"programArgsList": []}, timeout=60)
        msg = cluster.error_message(body) or str(body)
        print("    run %s -> %d: %s" % (bad_id, st, msg))
        chk.ok(st == 400 and "truncated (1000 bytes" in msg and "truncated.so" in msg,
               "running it is refused with the truncated line", (st, msg))
        with open(c.jm.log_path, "rb") as f:
            f.seek(log0)
            text = f.read().decode(errors="replace")
        chk.ok(re.search(r"cannot recover job %s: .*truncated" % bad_jid, text),
               "the job record naming it is refused at recovery with the truncated line")
        chk.ok(not os.path.exists(c.path("ha", "jobs", bad_jid + ".json")), "and dropped from the job store")
        st, body = c.request("GET", "/jobs/%s" % jid)
        chk.ok(st == 200, "the Nexmark job was recovered through the same inspection (GET /jobs/%s: %d)" % (jid, st))
        chk.ok(c.jm.alive() and not children(c.jm.pid), "the restarted job manager is up, without children")
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
