"""cluster - start a flinc cluster on loopback for a test, talk to it, tear it down.

A Cluster is one job manager and N task managers, each a real process from
BUILD/bin, with free loopback ports, a private temporary folder (working
directory, logs, uploads) and nothing shared with other tests, so cluster
tests may run in parallel. Use it as a context manager: whatever happens
(an assertion, an exception, Ctrl-C, SIGTERM from ctest), the daemons are
stopped, and when the block failed the tails of their logs are printed and
the folder is kept.

    with cluster.Cluster(build, taskmanagers=2, slots=2) as c:
        c.start()
        st, body = c.upload(plugin)          # POST /jars/upload
        jid = c.run_jar(jarid, ["--input", f], parallelism=4)
        c.wait_job(jid, {"FINISHED"})
        p = c.flinc("list", "-a")            # the CLI against this cluster

The daemons also die with the test process (PR_SET_PDEATHSIG), so even a
SIGKILLed test leaves none behind.

Helpers for tests: free_port(), rss_kb(pid), Cluster.placements(jid) (which
task manager runs each subtask, from GET /jobs/:jid or
/jobs/:jid/vertices/:vid), wait_until(pred, timeout, what).
"""

import atexit
import ctypes
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

TERMINAL = {"FINISHED", "FAILED", "CANCELED"}

_live = []  # clusters not stopped yet (for atexit / signal cleanup)


class ClusterError(Exception):
    pass


def free_port():
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid):
    """Resident set size of a process in kB (VmRSS), or None when it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def wait_until(pred, timeout, what, interval=0.05):
    """Call pred() until it returns something true (returned), or raise
    ClusterError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except (OSError, http.client.HTTPException, ValueError) as e:
            last_exc = e
        if time.monotonic() > deadline:
            raise ClusterError("timed out after %.1fs waiting for %s%s" %
                               (timeout, what, " (last error: %s)" % last_exc if last_exc else ""))
        time.sleep(interval)


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL when the test process dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _cleanup_all():
    for c in list(_live):
        c.stop()


def _on_signal(signum, frame):
    _cleanup_all()
    sys.stderr.write("cluster: %s: daemons stopped\n" % signal.Signals(signum).name)
    os._exit(128 + signum)


atexit.register(_cleanup_all)
for _s in (signal.SIGTERM, signal.SIGHUP):
    try:
        signal.signal(_s, _on_signal)
    except ValueError:  # not the main thread
        pass


class Daemon:
    """One started process and its log file."""

    def __init__(self, name, argv, log_path, cwd):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=cwd, preexec_fn=_die_with_parent)
        self.pid = self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])

    def signal(self, sig):
        if self.alive():
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout=10.0):
        """SIGTERM, then SIGKILL after `timeout` s. Returns the exit status."""
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                sys.stderr.write("cluster: %s (pid %d) ignored SIGTERM for %.0fs: SIGKILL\n" %
                                 (self.name, self.pid, timeout))
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


class Cluster:
    """A job manager and task managers on 127.0.0.1 (see the module doc).

    conf: -D values for every daemon; jm_conf / tm_conf: for one kind only.
    """

    def __init__(self, build, taskmanagers=2, slots=2, conf=None, jm_conf=None, tm_conf=None, name="cluster",
                 keep=False, log=None):
        self.build = os.path.abspath(build)
        self.bin = os.path.join(self.build, "bin")
        self.ntm = taskmanagers
        self.slots = slots
        self.name = name
        self.keep = keep
        self.failed = False
        self.say = log or (lambda msg: print(msg, flush=True))
        self.tmp = tempfile.mkdtemp(prefix="flinc-%s-" % name)
        self.conf = dict(conf or {})
        self.jm_conf = dict(jm_conf or {})
        self.tm_conf = dict(tm_conf or {})
        self.jm = None
        self.tms = []  # Daemon per task manager ever started (index = its number)
        self.rest_port = None
        self.rpc_port = None
        self.token = None
        self._stopped = False
        _live.append(self)

    # ---- processes ------------------------------------------------------

    def path(self, *parts):
        """A path inside the cluster's temporary folder."""
        return os.path.join(self.tmp, *parts)

    def _exe(self, name):
        p = os.path.join(self.bin, name)
        if not os.path.exists(p):
            raise ClusterError("%s is missing: build the tree first" % p)
        return p

    @staticmethod
    def _dargs(conf):
        out = []
        for k, v in conf.items():
            out += ["-D", "%s=%s" % (k, v)]
        return out

    def start(self, timeout=30.0):
        """Start the job manager, then the task managers, and wait until
        /overview shows all of them."""
        self.start_jobmanager(timeout)
        for _ in range(self.ntm):
            self.start_taskmanager(wait=False)
        self.wait_taskmanagers(self.ntm, timeout)
        return self

    def start_jobmanager(self, timeout=30.0):
        for attempt in range(3):
            self.rest_port, self.rpc_port = free_port(), free_port()
            while self.rpc_port == self.rest_port:
                self.rpc_port = free_port()
            conf = {
                "rest.bind-address": "127.0.0.1",
                "rest.port": self.rest_port,
                "jobmanager.rpc.address": "127.0.0.1",
                "jobmanager.rpc.port": self.rpc_port,
                # inside the test's folder: removed with it, even after a kill -9
                "jobmanager.blob.dir": self.path("jobmanager", "blobs"),
            }
            conf.update(self.conf)
            conf.update(self.jm_conf)
            self.token = conf.get("rest.auth.token")
            os.makedirs(self.path("jobmanager"), exist_ok=True)
            argv = [self._exe("flinc-jobmanager")] + self._dargs(conf)
            self.jm = Daemon("jobmanager", argv, self.path("flinc-jobmanager.log"), self.path("jobmanager"))
            try:
                wait_until(lambda: not self.jm.alive() or self._overview_ok(), timeout, "the job manager's REST API")
            except ClusterError:
                self.jm.stop(2)
                raise ClusterError("the job manager did not answer on :%d within %.0fs; its log:\n%s" %
                                   (self.rest_port, timeout, self.jm.tail()))
            if self.jm.alive():
                self.say("cluster: job manager pid %d, REST 127.0.0.1:%d, RPC :%d" %
                         (self.jm.pid, self.rest_port, self.rpc_port))
                return
            text = self.jm.log_text()
            self.jm.stop(1)
            if "in use" not in text:
                raise ClusterError("the job manager exited with status %s; its log:\n%s" %
                                   (self.jm.proc.returncode, self.jm.tail()))
            self.say("cluster: port taken, retrying with other ports")
        raise ClusterError("could not start the job manager on free ports")

    def start_taskmanager(self, wait=True, conf=None, timeout=30.0):
        """Start one more task manager; returns its index in self.tms."""
        i = len(self.tms)
        wd = self.path("taskmanager-%d" % i)
        os.makedirs(wd, exist_ok=True)
        c = {
            "jobmanager.rpc.address": "127.0.0.1",
            "jobmanager.rpc.port": self.rpc_port,
            "taskmanager.numberOfTaskSlots": self.slots,
            "taskmanager.host": "127.0.0.1",
            "taskmanager.tmp.dir": wd,  # its plugin cache: gone with the test's folder
        }
        c.update(self.conf)
        c.update(self.tm_conf)
        c.update(conf or {})
        argv = [self._exe("flinc-taskmanager")] + self._dargs(c)
        d = Daemon("taskmanager-%d" % i, argv, self.path("flinc-taskmanager-%d.log" % i), wd)
        self.tms.append(d)
        self.say("cluster: task manager %d pid %d" % (i, d.pid))
        if wait:
            self.wait_taskmanagers(len(self.live_taskmanagers()), timeout)
        return i

    def live_taskmanagers(self):
        return [d for d in self.tms if d.alive()]

    def wait_taskmanagers(self, n, timeout=30.0):
        """Wait until /overview counts n task managers."""

        def ready():
            for d in [self.jm] + self.tms:
                if d is not None and not d.alive() and d.proc.returncode not in (-9, -15, 0):
                    raise ClusterError("%s exited with status %s; its log:\n%s" %
                                       (d.name, d.proc.returncode, d.tail()))
            st, ov = self.request("GET", "/overview")
            return st == 200 and ov.get("taskmanagers") == n

        wait_until(ready, timeout, "%d task manager(s) registered" % n)

    def kill_taskmanager(self, i, sig=signal.SIGKILL):
        d = self.tms[i]
        d.signal(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            try:
                d.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass

    def tm_pids(self):
        return [d.pid for d in self.tms if d.alive()]

    def stop(self):
        """Stop every daemon (task managers first). Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        for d in self.tms:
            d.stop()
        if self.jm:
            rc = self.jm.stop()
            if rc not in (0, -15, None) and not self.failed:
                self.say("cluster: note: the job manager exited with status %s on SIGTERM" % rc)
        if self in _live:
            _live.remove(self)

    def dump_logs(self, n=60):
        for d in ([self.jm] if self.jm else []) + self.tms:
            sys.stdout.write("---- %s (pid %d, %s) last %d lines of %s ----\n%s\n" %
                             (d.name, d.pid, "running" if d.alive() else "exit %s" % d.proc.returncode, n,
                              d.log_path, d.tail(n)))
        sys.stdout.flush()

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is not None:
            self.failed = True
        if self.failed:
            self.dump_logs()
        self.stop()
        if self.keep or self.failed:
            self.say("cluster: files kept in %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return False

    # ---- REST -----------------------------------------------------------

    def request(self, method, path, body=None, headers=None, timeout=10.0, token=True):
        """One HTTP request. body: bytes, str, or an object sent as JSON.
        Returns (status, parsed JSON or the text when it is not JSON)."""
        h = {"Connection": "close"}
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            h["Content-Type"] = "application/json"
        if isinstance(body, str):
            body = body.encode()
        if token and self.token:
            h["Authorization"] = "Bearer %s" % self.token
        h.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.rest_port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            status = r.status
        finally:
            conn.close()
        text = data.decode(errors="replace")
        try:
            return status, json.loads(text) if text.strip() else None
        except ValueError:
            return status, text

    def _overview_ok(self):
        try:
            st, _ = self.request("GET", "/overview", timeout=2)
            return st == 200
        except OSError:
            return False

    def get(self, path):
        """GET that must answer 200; returns the JSON."""
        st, body = self.request("GET", path)
        if st != 200:
            raise ClusterError("GET %s -> %d %s" % (path, st, body))
        return body

    def upload(self, file_path, field="jarfile", filename=None, data=None):
        """POST /jars/upload as multipart/form-data. Returns (status, body)."""
        if data is None:
            with open(file_path, "rb") as f:
                data = f.read()
        filename = filename or os.path.basename(file_path)
        boundary = "----flinc-test-" + uuid.uuid4().hex
        body = (("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                 "Content-Type: application/octet-stream\r\n\r\n") % (boundary, field, filename)).encode()
        body += data + ("\r\n--%s--\r\n" % boundary).encode()
        return self.request("POST", "/jars/upload", body,
                            {"Content-Type": "multipart/form-data; boundary=%s" % boundary}, timeout=30)

    @staticmethod
    def jar_id(upload_body):
        """The jar id of an upload answer: the last component of `filename`."""
        return upload_body["filename"].rsplit("/", 1)[-1]

    def run_jar(self, jarid, args, parallelism=None, conf=None):
        """POST /jars/:jarid/run; returns the job id (raises on refusal)."""
        body = {"programArgsList": [str(x) for x in args]}
        if parallelism:
            body["parallelism"] = parallelism
        if conf:
            body["flinkConfiguration"] = conf
        st, ans = self.request("POST", "/jars/%s/run" % jarid, body, timeout=30)
        if st != 200 or not isinstance(ans, dict) or "jobid" not in ans:
            raise ClusterError("POST /jars/%s/run -> %d %s" % (jarid, st, ans))
        return ans["jobid"]

    def submit(self, plugin, args, parallelism=None, conf=None):
        """Upload and run a plugin; returns the job id."""
        st, ans = self.upload(plugin)
        if st != 200:
            raise ClusterError("upload of %s -> %d %s" % (plugin, st, ans))
        return self.run_jar(self.jar_id(ans), args, parallelism, conf)

    def job(self, jid):
        return self.get("/jobs/%s" % jid)

    def job_state(self, jid):
        return self.job(jid).get("state")

    def wait_job(self, jid, states, timeout=60.0, interval=0.05):
        """Wait until the job's state is one of `states`; returns the job.
        Raises early when it ends in another terminal state."""
        states = set(states)
        holder = {}

        def check():
            j = self.job(jid)
            holder["job"] = j
            s = j.get("state")
            if s in states:
                return j
            if s in TERMINAL:
                raise ClusterError("job %s ended %s, waiting for %s; exceptions: %s" %
                                   (jid, s, sorted(states), self.exceptions(jid)))
            return None

        return wait_until(check, timeout, "job %s to be %s" % (jid, "/".join(sorted(states))), interval)

    def wait_running(self, jid, timeout=60.0):
        """Wait until the job and every vertex are RUNNING."""

        def check():
            j = self.job(jid)
            if j.get("state") in TERMINAL:
                raise ClusterError("job %s ended %s before it ran; exceptions: %s" %
                                   (jid, j.get("state"), self.exceptions(jid)))
            vs = j.get("vertices") or []
            return j if j.get("state") == "RUNNING" and vs and all(v.get("status") == "RUNNING" for v in vs) else None

        return wait_until(check, timeout, "job %s and its vertices to be RUNNING" % jid)

    def exceptions(self, jid):
        try:
            st, body = self.request("GET", "/jobs/%s/exceptions" % jid)
            return body if st == 200 else "(HTTP %d %s)" % (st, body)
        except OSError as e:
            return "(%s)" % e

    def overview(self):
        return self.get("/overview")

    def taskmanagers(self):
        return self.get("/taskmanagers").get("taskmanagers", [])

    def placements(self, jid):
        """{vertex id: {subtask index: task manager id}} of a job, read from
        the subtasks listed in GET /jobs/:jid or, failing that, in
        GET /jobs/:jid/vertices/:vid. Raises when neither names them."""
        job = self.job(jid)
        out = {}
        for v in job.get("vertices", []):
            subs = v.get("subtasks")
            if not subs:
                st, vd = self.request("GET", "/jobs/%s/vertices/%s" % (jid, v["id"]))
                subs = vd.get("subtasks") if st == 200 and isinstance(vd, dict) else None
            if not subs:
                raise ClusterError("neither /jobs/%s nor /jobs/%s/vertices/%s lists the subtasks of vertex %s" %
                                   (jid, jid, v["id"], v.get("name")))
            m = {}
            for k, s in enumerate(subs):
                idx = s.get("subtask", k)
                tm = (s.get("taskmanager-id") or s.get("taskmanager_id") or s.get("tm_id") or
                      s.get("resource-id") or s.get("location") or s.get("host"))
                if tm is None:
                    raise ClusterError("subtask %s of vertex %s does not name its task manager: %s" %
                                       (idx, v.get("name"), s))
                m[idx] = tm
            out[v["id"]] = m
        return out

    # ---- the CLI ----------------------------------------------------------

    def flinc(self, *args, timeout=120, check=False, env=None):
        """Run `flinc -m 127.0.0.1:REST ARGS` (with --token when the cluster
        has one); returns the CompletedProcess (text mode)."""
        argv = [self._exe("flinc"), "-m", "127.0.0.1:%d" % self.rest_port]
        if self.token:
            argv += ["--token", self.token]
        argv += [str(a) for a in args]
        e = dict(os.environ)
        e.pop("FLINC_JOBMANAGER", None)
        e.pop("FLINC_TOKEN", None)
        e.update(env or {})
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout, env=e)
        if check and p.returncode != 0:
            raise ClusterError("%s -> exit %d\nstdout:\n%s\nstderr:\n%s" %
                               (" ".join(argv), p.returncode, p.stdout, p.stderr))
        return p

    def flinc_popen(self, *args):
        """Start `flinc -m ... ARGS` in the background (text pipes)."""
        argv = [self._exe("flinc"), "-m", "127.0.0.1:%d" % self.rest_port]
        if self.token:
            argv += ["--token", self.token]
        argv += [str(a) for a in args]
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=_die_with_parent)


def job_id_of(cli_stdout):
    """The id in the CLI's "Job has been submitted with JobID <id>" line."""
    for line in cli_stdout.splitlines():
        if line.startswith("Job has been submitted with JobID "):
            return line.split()[-1]
    return None


class Checks:
    """Collects failed checks of a test; prints each check as it goes."""

    def __init__(self):
        self.errors = []

    def ok(self, cond, what, detail=""):
        if cond:
            print("  ok: %s" % what, flush=True)
        else:
            msg = what + (": " + str(detail) if detail != "" else "")
            print("  FAIL: %s" % msg, flush=True)
            self.errors.append(msg)
        return bool(cond)

    def fail(self, what):
        return self.ok(False, what)
