"""cluster - the harness of the integration tests: every helper two tests
need lives here, once (Python 3 standard library only).

What is in it, by section:
  command line   arg_parser(doc): --build (made absolute) and --keep;
                 missing(build, ...): a build product that is not there
  checks         Checks: ok()/fail() print each check as it goes; report()
                 prints the outcome and gives main()'s exit status
  waiting        wait_until (raises after a timeout), poll (returns the last
                 answer), free_port
  processes      Daemon (a started process, its log, stop), rss_kb, run_cmd
                 (a command with a timeout), local_argv (`flinc local`),
                 scratch_dir (a temporary folder kept when a test fails)
  HTTP           http_request, multipart, error_message ({"errors": [...]})
  the cluster    Cluster: a job manager and N task managers on free loopback
                 ports, their REST API and the CLI against them; AttachedRun
                 (`flinc run` in the background); job_id_of; cli_env
  input          the generated text of the wordcount tests (vocabulary,
                 text_lines, write_text, write_words, write_input)
  output         committed_files of a sink's output folder
  checkpoints    folders on disk (chk_folders, read_metadata, snap_files,
                 flip_middle, ...), the REST view (checkpoints, counts,
                 wait_checkpoint_after) and failover (tms_of_job, pick_victim,
                 kill9, wait_recovered)
check_counts.py is the other shared module: what a correct wordcount output
is (the oracle, with verify() and cli_run() to make checks of it), kept
apart from the machinery that runs the job.

A Cluster is one job manager and N task managers, each a real process from
BUILD/bin, with free loopback ports, a private temporary folder (working
directory, logs, uploads) and nothing shared with other tests, so cluster
tests may run in parallel. By default the daemons share a random
security.cluster.secret (a 0600 file in that folder, passed as
file:PATH), so every RPC, control and data connection authenticates;
Cluster(..., secret=False) runs them without one (loopback-only mode),
secret="VALUE" with that value. Use it as a context manager: whatever happens
(an assertion, an exception, Ctrl-C, SIGTERM from ctest), the daemons are
stopped, and when the block failed (or the Checks given to it hold a
failure) the tails of their logs are printed and the folder is kept.

    chk = cluster.Checks()
    with cluster.Cluster(build, taskmanagers=2, slots=2, checks=chk) as c:
        c.start()
        jar = c.upload_jar(plugin)           # POST /jars/upload
        jid = c.run_jar(jar, ["--input", f], parallelism=4)
        c.wait_job(jid, {"FINISHED"})
        p = c.flinc("list", "-a")            # the CLI against this cluster
    return chk.report()

The daemons also die with the test process (PR_SET_PDEATHSIG), so even a
SIGKILLed test leaves none behind.
"""

import argparse
import atexit
import contextlib
import ctypes
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

TERMINAL = {"FINISHED", "FAILED", "CANCELED"}

_live = []  # clusters not stopped yet (for atexit / signal cleanup)


FRAME_RE = re.compile(r"^#(\d+)\s+(?:0x[0-9a-f]+ in )?(\S+)")


def thread_stacks(pid, frames=10):
    """Where each thread of a live process is (gdb, when installed), one
    line a thread: its name and the functions of its innermost `frames`
    frames, for a hung daemon's failure dump."""
    gdb = shutil.which("gdb")
    if not gdb:
        return "(gdb is not installed)"
    try:
        r = subprocess.run([gdb, "-p", str(pid), "-batch", "-nx", "-ex", "set pagination off",
                            "-ex", "thread apply all bt %d" % frames],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=60, text=True)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "(gdb failed: %s)" % e
    out = []
    for ln in r.stdout.splitlines():
        if ln.startswith("Thread "):
            m = re.search(r'"([^"]*)"', ln)
            out.append((m.group(1) if m else ln.split("(")[0].strip()) + ":")
        elif out:
            m = FRAME_RE.match(ln)
            if m:
                out[-1] += " " + m.group(2)
    return "\n".join(out)[:8000]


class ClusterError(Exception):
    pass


# ---- command line and build products ---------------------------------------------

def arg_parser(doc, keep=True):
    """An ArgumentParser described by the first line of `doc` with the options
    every test takes: --build BUILD_DIR (required, made absolute) and, with
    keep, --keep. Add the test's own options, then parse_args()."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--build", required=True, type=os.path.abspath,
                    help="the CMake build folder (with bin/ and jobs/)")
    if keep:
        ap.add_argument("--keep", action="store_true", help="keep the test's temporary files")
    return ap


def missing(build, *rel):
    """The message for the first of the build products BUILD/<rel> that does
    not exist, or None when all are there."""
    for r in rel:
        p = os.path.join(build, r)
        if not os.path.exists(p):
            return "%s is missing: build the tree first" % p
    return None


# ---- checks -----------------------------------------------------------------------

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

    def report(self):
        """Print the outcome (the failed checks again, as the last lines) and
        return main()'s exit status: 0 when every check passed, else 1."""
        if not self.errors:
            print("all checks passed")
            return 0
        print("%d checks failed:" % len(self.errors))
        for e in self.errors:
            print("  " + e)
        return 1


# ---- waiting ----------------------------------------------------------------------

def free_port():
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def poll(pred, timeout, interval=0.02, ignore=(), errors=None):
    """Call pred() every `interval` s until it returns something true or
    `timeout` s passed; return its last answer (false on a timeout).
    Exceptions of the types in `ignore` count as a false answer (appended to
    `errors` when given); others propagate."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            v = pred()
        except ignore as e:
            v = None
            if errors is not None:
                errors.append(e)
        if v or time.monotonic() > deadline:
            return v
        time.sleep(interval)


def wait_until(pred, timeout, what, interval=0.05):
    """Call pred() until it returns something true (returned), or raise
    ClusterError naming `what` after `timeout` seconds. OSError, HTTP and
    JSON errors of pred count as "not yet"."""
    errs = []
    v = poll(pred, timeout, interval, (OSError, http.client.HTTPException, ValueError), errs)
    if v:
        return v
    raise ClusterError("timed out after %.1fs waiting for %s%s" %
                       (timeout, what, " (last error: %s)" % errs[-1] if errs else ""))


# ---- processes ----------------------------------------------------------------------

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
    """One started process and its log file (cwd None: the test's); its
    stdout goes to out_path when given (a task manager's .out, as
    start-cluster.sh does), else into the log too."""

    def __init__(self, name, argv, log_path, cwd, out_path=None):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.out_path = out_path
        self.log = open(log_path, "ab")
        out = open(out_path, "ab") if out_path else None
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out or self.log,
                                     stderr=self.log if out else subprocess.STDOUT,
                                     cwd=cwd, preexec_fn=_die_with_parent)
        if out:
            out.close()
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


def wait_rest(daemon, port, timeout, place=None, ssl_context=None):
    """Wait until the REST API of `daemon` answers GET /overview with 200 on
    `port` (True), or the process exited (False); ClusterError after
    `timeout` s. place: where it runs (LOOPBACK by default); ssl_context:
    https with it."""
    place = place or LOOPBACK

    def answers():
        try:
            with place.entered():
                return http_request(port, "GET", "/overview", timeout=2, host=place.addr,
                                    ssl_context=ssl_context)[0] == 200
        except OSError:
            return False

    wait_until(lambda: not daemon.alive() or answers(), timeout, "the REST API of %s" % daemon.name)
    return daemon.alive()


def run_cmd(argv, timeout):
    """Run a command to its end, output captured as text. Returns
    (CompletedProcess, None) when it exits 0, (CompletedProcess, why) for
    another status and (None, why) when it was killed after `timeout` s;
    `why` is one line plus the tail of stderr."""
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace",
                           timeout=timeout)
    except subprocess.TimeoutExpired as e:
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        return None, "timed out after %g s: %s%s" % (timeout, " ".join(argv), _tail(err))
    if r.returncode != 0:
        return r, "exit %d: %s%s" % (r.returncode, " ".join(argv), _tail(r.stderr))
    return r, None


def _tail(text, n=8):
    lines = (text or "").strip().splitlines()[-n:]
    return "".join("\n      " + ln for ln in lines)


def local_argv(build, job, parallelism, conf=(), savepoint=None):
    """argv of `flinc local -p N [-s PATH] [-D k=v]... BUILD/jobs/<job>.so`;
    conf is a dict or (key, value) pairs, in order. Append the job's args."""
    argv = [os.path.join(build, "bin", "flinc"), "local", "-p", str(parallelism)]
    if savepoint:
        argv += ["-s", savepoint]
    for k, v in (conf.items() if isinstance(conf, dict) else conf):
        argv += ["-D", "%s=%s" % (k, v)]
    return argv + [os.path.join(build, "jobs", job + ".so")]


def keep_or_remove(path, keep, say=print, what="files kept in"):
    """The end of a test's temporary folder: kept (and its path said) when
    keep, else removed."""
    if keep:
        say("%s %s" % (what, path))
    else:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def scratch_dir(prefix, keep=False, failed=None):
    """A new temporary folder for the block; removed afterwards unless keep
    is set, the block raised, or failed() (when given) is true then."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    ok = False
    try:
        yield tmp
        ok = True
    finally:
        keep_or_remove(tmp, keep or not ok or bool(failed and failed()))


# ---- HTTP ---------------------------------------------------------------------------

def http_request(port, method, path, body=None, headers=None, timeout=10.0, host="127.0.0.1", ssl_context=None):
    """One HTTP request to host:port (127.0.0.1 by default); https with
    ssl_context (an ssl.SSLContext) when given. body: bytes, str, or an object
    sent as JSON. Returns (status, parsed JSON or the text when it is not
    JSON (None for an empty body), the response headers).

    Like the CLI, it sends "X-Flinc-Request: 1", without which the job
    manager refuses changes (a web page of another site cannot send it);
    a header given as None in `headers` is left out."""
    h = {"Connection": "close", "X-Flinc-Request": "1"}
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        h["Content-Type"] = "application/json"
    if isinstance(body, str):
        body = body.encode()
    h.update(headers or {})
    h = {k: v for k, v in h.items() if v is not None}
    if ssl_context is not None:
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl_context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        status, rh = r.status, r.headers
    finally:
        conn.close()
    text = data.decode(errors="replace")
    try:
        return status, json.loads(text) if text.strip() else None, rh
    except ValueError:
        return status, text, rh


def multipart(field, filename, data):
    """A multipart/form-data body with one file: (body, headers)."""
    boundary = "----flinc-test-" + uuid.uuid4().hex
    body = (("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
             "Content-Type: application/octet-stream\r\n\r\n") % (boundary, field, filename)).encode()
    body += data + ("\r\n--%s--\r\n" % boundary).encode()
    return body, {"Content-Type": "multipart/form-data; boundary=%s" % boundary}


def error_message(body):
    """The first message of a {"errors": ["...", ...]} body (a list of
    strings, the first not blank), or None for any other body."""
    if not isinstance(body, dict):
        return None
    errs = body.get("errors")
    if not isinstance(errs, list) or not errs or not all(isinstance(e, str) for e in errs) or not errs[0].strip():
        return None
    return errs[0]


# ---- the cluster ----------------------------------------------------------------------

def tls_ca(folder, names=("node,localhost,127.0.0.1",)):
    """Make a test CA and certificates in `folder` with
    scripts/make-test-ca.sh (ca.pem; node.pem/node.key for localhost and
    127.0.0.1 by default, one pair per entry of `names`; rogue.pem/.key
    from another CA; expired.pem/.key). Returns the folder."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "make-test-ca.sh")
    r = subprocess.run(["bash", script, folder] + list(names), capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise ClusterError("make-test-ca.sh failed: %s" % (r.stderr or r.stdout).strip())
    return folder


def tls_conf(folder, name="node"):
    """The security.ssl.* keys for a daemon presenting folder/NAME.pem with
    folder/ca.pem as its truststore: TLS on every connection and on REST."""
    return {
        "security.ssl.enabled": "true",
        "security.ssl.rest.enabled": "true",
        "security.ssl.certificate": os.path.join(folder, name + ".pem"),
        "security.ssl.key": os.path.join(folder, name + ".key"),
        "security.ssl.truststore": os.path.join(folder, "ca.pem"),
    }


def write_secret_file(path, nbytes=32):
    """A new random cluster secret (base64 of nbytes random bytes) in a file
    of mode 0600 at path; returns path."""
    import base64
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(base64.b64encode(os.urandom(nbytes)).decode() + "\n")
    return path


class Loopback:
    """Where a daemon runs when no other place is given: this host, on
    127.0.0.1. tests/netns/netns.py's Host has the same three members, so a
    Cluster can put its daemons on namespace hosts instead."""

    addr = "127.0.0.1"

    @staticmethod
    def wrap(argv):
        return argv

    @staticmethod
    def entered():
        return contextlib.nullcontext()


LOOPBACK = Loopback()


class Cluster:
    """A job manager and task managers on 127.0.0.1 (see the module doc).

    conf: -D values for every daemon; jm_conf / tm_conf: for one kind only.
    checks: a Checks whose failures mark the cluster failed at the end.
    hosts: places to run the daemons on instead of 127.0.0.1 (objects with
    addr, wrap(argv) and entered(), e.g. tests/netns/netns.py's hosts): the
    job manager runs on hosts[0], task manager i on hosts[1 + i % (n - 1)];
    REST requests and the CLI go to the job manager's address from inside
    its host.
    tls: a folder made by scripts/make-test-ca.sh (tls_ca()) whose node.pem
    and node.key every daemon presents: TLS on RPC, control, data and REST
    (security.ssl.*), REST requests over https trusting its ca.pem, the CLI
    with -m https://... --cacert ca.pem.
    """

    def __init__(self, build, taskmanagers=2, slots=2, conf=None, jm_conf=None, tm_conf=None, name="cluster",
                 keep=False, log=None, checks=None, secret=True, hosts=None, tls=None):
        self.build = os.path.abspath(build)
        self.bin = os.path.join(self.build, "bin")
        self.ntm = taskmanagers
        self.slots = slots
        self.name = name
        self.keep = keep
        self.checks = checks
        self.failed = False
        self.say = log or (lambda msg: print(msg, flush=True))
        self.tmp = tempfile.mkdtemp(prefix="flinc-%s-" % name)
        self.conf = dict(conf or {})
        # The cluster secret: a file only the test's user may read.
        self.secret_file = None
        if secret is True:
            self.secret_file = write_secret_file(self.path("cluster.secret"))
            self.conf.setdefault("security.cluster.secret", "file:" + self.secret_file)
        elif secret:
            self.conf.setdefault("security.cluster.secret", secret)
        self.tls = tls
        self.rest_ssl = None
        if tls:
            import ssl
            for k, v in tls_conf(tls).items():
                self.conf.setdefault(k, v)
            self.rest_ssl = ssl.create_default_context(cafile=os.path.join(tls, "ca.pem"))
            # presented when asked (security.ssl.rest.authentication-enabled)
            self.rest_ssl.load_cert_chain(os.path.join(tls, "node.pem"), os.path.join(tls, "node.key"))
        self.jm_conf = dict(jm_conf or {})
        self.tm_conf = dict(tm_conf or {})
        self.hosts = list(hosts or [])
        if len(self.hosts) == 1:
            raise ClusterError("hosts: the job manager's and at least one for task managers")
        self.jm_place = self.hosts[0] if self.hosts else LOOPBACK
        self.tm_places = []  # place of each task manager ever started
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

    def plugin(self, name="wordcount"):
        """BUILD/jobs/<name>.so: a job the build ships."""
        return os.path.join(self.build, "jobs", name + ".so")

    def _exe(self, name):
        why = missing(self.build, os.path.join("bin", name))
        if why:
            raise ClusterError(why)
        return os.path.join(self.bin, name)

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
                "rest.bind-address": self.jm_place.addr,
                "rest.port": self.rest_port,
                "jobmanager.rpc.address": self.jm_place.addr,
                "jobmanager.rpc.port": self.rpc_port,
                # inside the test's folder: removed with it, even after a kill -9
                "jobmanager.blob.dir": self.path("jobmanager", "blobs"),
            }
            conf.update(self.conf)
            conf.update(self.jm_conf)
            self.token = conf.get("rest.auth.token")
            os.makedirs(self.path("jobmanager"), exist_ok=True)
            argv = self.jm_place.wrap([self._exe("flinc-jobmanager")] + self._dargs(conf))
            self.jm = Daemon("jobmanager", argv, self.path("flinc-jobmanager.log"), self.path("jobmanager"))
            try:
                up = wait_rest(self.jm, self.rest_port, timeout, self.jm_place, self.rest_ssl)
            except ClusterError:
                self.jm.stop(2)
                raise ClusterError("the job manager did not answer on :%d within %.0fs; its log:\n%s" %
                                   (self.rest_port, timeout, self.jm.tail()))
            if up:
                self.say("cluster: job manager pid %d, REST %s:%d, RPC :%d" %
                         (self.jm.pid, self.jm_place.addr, self.rest_port, self.rpc_port))
                return
            text = self.jm.log_text()
            self.jm.stop(1)
            if "in use" not in text:
                raise ClusterError("the job manager exited with status %s; its log:\n%s" %
                                   (self.jm.proc.returncode, self.jm.tail()))
            self.say("cluster: port taken, retrying with other ports")
        raise ClusterError("could not start the job manager on free ports")

    def restart_jobmanager(self, timeout=30.0):
        """Start the job manager again with the same command line and ports
        (after it was killed); wait for its REST API."""
        self.jm.log.close()
        self.jm = Daemon("jobmanager", self.jm.argv, self.path("flinc-jobmanager.log"), self.path("jobmanager"))
        if not wait_rest(self.jm, self.rest_port, timeout, self.jm_place, self.rest_ssl):
            raise ClusterError("the restarted job manager exited with status %s; its log:\n%s" %
                               (self.jm.proc.returncode, self.jm.tail()))

    def start_taskmanager(self, wait=True, conf=None, timeout=30.0, place=None):
        """Start one more task manager (on `place`, one of the hosts, when
        given: by default they take turns); returns its index in self.tms."""
        i = len(self.tms)
        wd = self.path("taskmanager-%d" % i)
        os.makedirs(wd, exist_ok=True)
        if place is None:
            place = self.hosts[1 + i % (len(self.hosts) - 1)] if self.hosts else LOOPBACK
        self.tm_places.append(place)
        c = {
            "jobmanager.rpc.address": self.jm_place.addr,
            "jobmanager.rpc.port": self.rpc_port,
            "taskmanager.numberOfTaskSlots": self.slots,
            "taskmanager.host": place.addr,
            "taskmanager.tmp.dir": wd,  # its plugin cache: gone with the test's folder
        }
        c.update(self.conf)
        c.update(self.tm_conf)
        c.update(conf or {})
        argv = place.wrap([self._exe("flinc-taskmanager")] + self._dargs(c))
        d = Daemon("taskmanager-%d" % i, argv, self.path("flinc-taskmanager-%d.log" % i), wd,
                   self.path("flinc-taskmanager-%d.out" % i))
        self.tms.append(d)
        self.say("cluster: task manager %d pid %d%s" % (i, d.pid, "" if place is LOOPBACK else " on " + place.addr))
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
        if self.jm and self.jm.alive():
            sys.stdout.write("---- jobmanager (pid %d) threads ----\n%s\n" %
                             (self.jm.pid, thread_stacks(self.jm.pid)))
        sys.stdout.flush()

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is not None or (self.checks is not None and self.checks.errors):
            self.failed = True
        if self.failed:
            self.dump_logs()
        self.stop()
        keep_or_remove(self.tmp, self.keep or self.failed, self.say, "cluster: files kept in")
        return False

    # ---- REST -----------------------------------------------------------

    def request(self, method, path, body=None, headers=None, timeout=10.0, token=True):
        """One HTTP request (http_request, with the cluster's token unless
        token=False). Returns (status, parsed JSON or the text)."""
        h = {}
        if token and self.token:
            h["Authorization"] = "Bearer %s" % self.token
        h.update(headers or {})
        with self.jm_place.entered():
            st, doc, _ = http_request(self.rest_port, method, path, body, h, timeout, host=self.jm_place.addr,
                                      ssl_context=self.rest_ssl)
        return st, doc

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
        body, headers = multipart(field, filename or os.path.basename(file_path), data)
        return self.request("POST", "/jars/upload", body, headers, timeout=30)

    def upload_jar(self, file_path):
        """Upload a plugin that must be accepted; returns its jar id."""
        st, ans = self.upload(file_path)
        if st != 200:
            raise ClusterError("upload of %s -> %d %s" % (file_path, st, ans))
        return self.jar_id(ans)

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
        return self.run_jar(self.upload_jar(plugin), args, parallelism, conf)

    def job(self, jid):
        return self.get("/jobs/%s" % jid)

    def job_state(self, jid):
        return self.job(jid).get("state")

    def wait_job(self, jid, states, timeout=60.0, interval=0.05):
        """Wait until the job's state is one of `states`; returns the job.
        Raises early when it ends in another terminal state."""
        states = set(states)

        def check():
            j = self.job(jid)
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

    OVERVIEW_STATE = ("taskmanagers", "slots-total", "slots-available", "jobs-running", "jobs-finished",
                      "jobs-cancelled", "jobs-failed")

    def overview_state(self):
        """The counts of /overview that a request may change: task managers,
        slots and jobs by state."""
        ov = self.overview()
        return {k: ov.get(k) for k in self.OVERVIEW_STATE}

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

    def _cli_argv(self, args):
        argv = [self._exe("flinc"), "-m", "%s%s:%d" % ("https://" if self.tls else "", self.jm_place.addr,
                                                      self.rest_port)]
        if self.tls:
            argv += ["--cacert", os.path.join(self.tls, "ca.pem")]
        if self.token:
            argv += ["--token", self.token]
        return self.jm_place.wrap(argv + [str(a) for a in args])

    def flinc(self, *args, timeout=120, check=False, env=None):
        """Run `flinc -m 127.0.0.1:REST ARGS` (with --token when the cluster
        has one); returns the CompletedProcess (text mode)."""
        argv = self._cli_argv(args)
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout,
                           env=cli_env(env))
        if check and p.returncode != 0:
            raise ClusterError("%s -> exit %d\nstdout:\n%s\nstderr:\n%s" %
                               (" ".join(argv), p.returncode, p.stdout, p.stderr))
        return p

    def flinc_popen(self, *args):
        """Start `flinc -m ... ARGS` in the background (text pipes)."""
        return subprocess.Popen(self._cli_argv(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=cli_env(), preexec_fn=_die_with_parent)

    def run_attached(self, *args):
        """`flinc run ARGS` in the background: an AttachedRun."""
        return AttachedRun(self.flinc_popen("run", *args))


def cli_env(extra=None):
    """The environment for the `flinc` CLI in a test: without FLINC_JOBMANAGER
    and FLINC_TOKEN (they would stand in for -m, --token or a config file),
    plus `extra`."""
    e = dict(os.environ)
    e.pop("FLINC_JOBMANAGER", None)
    e.pop("FLINC_TOKEN", None)
    e.update(extra or {})
    return e


class AttachedRun:
    """An attached `flinc run` started in the background: `first` is its
    first stdout line, `jid` the job id in it (None when it printed none);
    a thread drains the rest of stdout so the CLI never blocks on it."""

    def __init__(self, proc):
        self.proc = proc
        self.first = proc.stdout.readline()
        self.jid = job_id_of(self.first)
        self._rest = []
        self._drain = threading.Thread(target=lambda: self._rest.append(proc.stdout.read()), daemon=True)
        self._drain.start()

    def finish(self, timeout):
        """Wait for the CLI to exit (killed after `timeout` s): returns
        (exit status, or None when it had to be killed; its stderr)."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = None
        self._drain.join(5)
        return rc, self.proc.stderr.read()


def job_id_of(cli_stdout):
    """The id in the CLI's "Job has been submitted with JobID <id>" line."""
    for line in cli_stdout.splitlines():
        if line.startswith("Job has been submitted with JobID "):
            return line.split()[-1]
    return None


# ---- input: generated text for the wordcount tests ------------------------------------------

SEPARATORS = [" ", " ", " ", " ", ", ", ". ", "; ", " - ", "'", "\t", "_", "/", "(", ") ",
              "!", "?", "\"", " \u00e9 ", "\u00fc", "\u2014", "  "]


def vocabulary(rng, n=3000):
    """n distinct words (letters, a tenth with digits), in random order."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    digits = "0123456789"
    words = set()
    while len(words) < n:
        k = rng.choice((1, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 8, 9, 10, 12))
        pool = letters + digits if rng.random() < 0.1 else letters
        words.add("".join(rng.choice(pool) for _ in range(k)))
    words = sorted(words)
    rng.shuffle(words)
    return words


def mixed_case(rng, w):
    r = rng.random()
    if r < 0.70:
        return w
    if r < 0.85:
        return w.capitalize()
    if r < 0.92:
        return w.upper()
    return "".join(c.upper() if rng.random() < 0.5 else c for c in w)


def text_lines(rng, vocab, nlines):
    """Lines of pseudo-random text (str, without line ends)."""
    # Zipf-like: a few words are very frequent, most are rare.
    cum, acc = [], 0.0
    for i in range(len(vocab)):
        acc += 1.0 / (i + 1) ** 0.9
        cum.append(acc)
    lines = []
    for _ in range(nlines):
        r = rng.random()
        if r < 0.03:
            lines.append("")
            continue
        if r < 0.04:
            lines.append(rng.choice(["...", " \t ", "--", "\u00e9\u00e8", "  ,  "]))
            continue
        k = rng.randint(1, 14)
        ws = rng.choices(vocab, cum_weights=cum, k=k)
        parts = []
        for w in ws:
            parts.append(mixed_case(rng, w))
            parts.append(rng.choice(SEPARATORS))
        if rng.random() < 0.3:
            parts.insert(0, rng.choice(SEPARATORS))
        if rng.random() < 0.05:
            parts.append(str(rng.randint(0, 100000)))
        lines.append("".join(parts))
    return lines


def write_text(path, lines, crlf_every=0, final_newline=True):
    """Write lines as UTF-8; every crlf_every-th line ends with \\r\\n."""
    with open(path, "wb") as f:
        for i, line in enumerate(lines):
            f.write(line.encode("utf-8"))
            last = i == len(lines) - 1
            if last and not final_newline:
                break
            f.write(b"\r\n" if crlf_every and i % crlf_every == 0 else b"\n")


def write_words(path, rng, nwords, nlines, crlf_every=0):
    """nlines of text over a vocabulary of nwords, both drawn from rng, into
    path. Returns path."""
    write_text(path, text_lines(rng, vocabulary(rng, nwords), nlines), crlf_every)
    return path


def write_input(path, seed, nlines, nwords=2000):
    """write_words with a generator of its own seeded with `seed`."""
    return write_words(path, random.Random(seed), nwords, nlines)


# ---- output folders ------------------------------------------------------------------------

def committed_files(folder):
    """Sorted names of the committed files of a sink's output folder (those
    not starting with '.'); [] when there is no folder."""
    if not os.path.isdir(folder):
        return []
    return sorted(n for n in os.listdir(folder) if not n.startswith("."))


# ---- checkpoints on disk -----------------------------------------------------------------
#
# (docs/savepoints.md) Checkpoints of a job live in
# <state.checkpoints.dir>/<job id>/chk-<n>/, one <vertex id>-<subtask>.snap
# file per subtask and a _metadata file written last (a folder without
# _metadata is not a completed checkpoint); savepoints are folders with the
# same files and "is_savepoint": true in _metadata.

CHK_RE = re.compile(r"chk-([0-9]+)\Z")


def chk_folders(jobdir, completed_only=True):
    """[(id, path)] of the chk-<n> folders of a job folder, oldest first;
    with completed_only, only those with a _metadata file."""
    out = []
    try:
        names = os.listdir(jobdir)
    except OSError:
        return out
    for n in names:
        m = CHK_RE.match(n)
        if not m:
            continue
        p = os.path.join(jobdir, n)
        if completed_only and not os.path.isfile(os.path.join(p, "_metadata")):
            continue
        out.append((int(m.group(1)), p))
    return sorted(out)


def newest_completed(jobdir):
    """(id, path) of the newest completed checkpoint folder, or None."""
    f = chk_folders(jobdir)
    return f[-1] if f else None


def read_metadata(folder):
    with open(os.path.join(folder, "_metadata"), "rb") as f:
        return json.loads(f.read().decode())


def snap_files(folder):
    """The .snap files of a checkpoint or savepoint folder, largest first
    (so a corruption lands in a file with keyed state)."""
    fs = [os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".snap")]
    return sorted(fs, key=lambda p: (-os.path.getsize(p), p))


def flip_middle(path, n=16):
    """Invert n bytes in the middle of a file (in place). Returns the offset."""
    size = os.path.getsize(path)
    off = max(0, size // 2 - n // 2)
    with open(path, "r+b") as f:
        f.seek(off)
        data = f.read(n)
        f.seek(off)
        f.write(bytes(b ^ 0xFF for b in data))
        f.flush()
        os.fsync(f.fileno())
    return off


def truncate_half(path):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    return size // 2


# ---- the REST view of checkpoints ------------------------------------------------------

def checkpoints(c, jid):
    return c.get("/jobs/%s/checkpoints" % jid)


def counts(c, jid):
    return checkpoints(c, jid).get("counts", {})


def latest_completed_id(c, jid):
    """Id of the latest completed checkpoint (0 when there is none)."""
    lc = (checkpoints(c, jid).get("latest") or {}).get("completed")
    return lc.get("id", 0) if isinstance(lc, dict) else 0


def wait_checkpoint_after(c, jid, after_id, timeout=60.0):
    """Wait until a checkpoint with an id > after_id completed; returns its id.
    Raises when the job ended first."""

    def check():
        j = c.job(jid)
        if j.get("state") in TERMINAL:
            raise ClusterError("job %s ended %s while waiting for a checkpoint after %d" %
                               (jid, j.get("state"), after_id))
        i = latest_completed_id(c, jid)
        return i if i > after_id else None

    return wait_until(check, timeout, "a checkpoint of job %s after chk-%d" % (jid, after_id))


# ---- failover: task managers of a job ----------------------------------------------------

def daemon_index_of_tm(c, tm_id):
    """Index in c.tms of the task manager with this id (by its pid in
    GET /taskmanagers), or None when it is not registered."""
    for t in c.taskmanagers():
        if t.get("id") == tm_id:
            for i, d in enumerate(c.tms):
                if d.pid == t.get("pid") and d.alive():
                    return i
    return None


def tms_of(placements):
    """Sorted ids of the task managers named in Cluster.placements()."""
    return sorted({tm for v in placements.values() for tm in v.values() if tm})


def tms_of_job(c, jid):
    """Ids of the task managers that run subtasks of the job."""
    return tms_of(c.placements(jid))


def pick_victim(c, tm_ids):
    """(index in c.tms, id) of the first of these task managers whose
    process runs; ClusterError when none does."""
    for tm in tm_ids:
        i = daemon_index_of_tm(c, tm)
        if i is not None:
            return i, tm
    raise ClusterError("no live task manager process found for %s" % (tm_ids,))


def all_subtasks(job):
    return [s for v in job.get("vertices", []) for s in (v.get("subtasks") or [])]


def job_attempt(job):
    """The execution attempt the subtasks show (the job's attempt - 1)."""
    subs = all_subtasks(job)
    return max((s.get("attempt", 0) for s in subs), default=0)


def wait_recovered(c, jid, old_attempt, t0, timeout=60.0, interval=0.02):
    """After a failure at monotonic time t0: poll GET /jobs/:jid every
    `interval` s until every subtask of a newer attempt than old_attempt is
    RUNNING (or FINISHED) and the job is RUNNING (or FINISHED). Returns
    (seconds from t0, {'left_running': s or None, 'states': [...]})."""
    seen_states = []
    left = None
    deadline = time.monotonic() + timeout
    while True:
        now = time.monotonic()
        j = c.job(jid)
        s = j.get("state")
        if not seen_states or seen_states[-1] != s:
            seen_states.append(s)
        if s != "RUNNING" and left is None:
            left = now - t0
        if s == "FINISHED":
            return now - t0, {"left_running": left, "states": seen_states}
        if s in TERMINAL:
            raise ClusterError("job %s ended %s while recovering; exceptions: %s" %
                               (jid, s, c.exceptions(jid)))
        subs = all_subtasks(j)
        if (s == "RUNNING" and subs and job_attempt(j) > old_attempt and
                all(x.get("status") in ("RUNNING", "FINISHED") for x in subs)):
            return now - t0, {"left_running": left, "states": seen_states}
        if now > deadline:
            raise ClusterError("job %s did not recover within %.0fs (states seen %s)" %
                               (jid, timeout, seen_states))
        time.sleep(interval)


def kill9(c, index):
    """kill -9 task manager `index` of the cluster and reap it."""
    d = c.tms[index]
    os.kill(d.pid, signal.SIGKILL)
    d.proc.wait(10)
