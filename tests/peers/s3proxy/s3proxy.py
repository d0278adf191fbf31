#!/usr/bin/env python3
"""s3proxy - a real S3-compatible server (org.gaul:s3proxy over jclouds'
filesystem or transient blob store) on a free loopback port, for the tests
of checkpoints on S3 (Python 3 stdlib only).

The jars are not in the tree: Maven resolves tests/peers/s3proxy/pom.xml from
Maven Central and the classpath is cached once, outside the tree, in
$XDG_CACHE_HOME/flinc/s3proxy-<version>.classpath (default ~/.cache/flinc).
scripts/install-deps.sh fills that cache (`s3proxy.py classpath`); a test
that finds it missing resolves it then, saying so on one line.

As a module:

    import s3proxy
    with s3proxy.S3Proxy(buckets=["flinc"], log=print) as s:   # started, then stopped
        s.endpoint                      # "http://127.0.0.1:PORT"
        s.conf()                        # the s3.* keys for flinc: {"s3.endpoint": ..., ...}
        s.keys("flinc", "chk/")         # object keys under a prefix (filesystem store)

It checks requests with AWS Signature V4 (and V2) against the access key
ACCESS and secret SECRET (s.access_key, s.secret_key). With the filesystem
store (the default) a bucket is a folder under s.dir/blobs, so a test can
see what was uploaded; store="transient" keeps everything in memory (and starts without buckets:
flinc's tests use the filesystem store).

The JVM (-Xmx256m) runs in a process group of its own that also dies with
the Python process (PR_SET_PDEATHSIG); stop() sends SIGTERM, waits, then
SIGKILL. As a command:

    s3proxy.py classpath                      resolve and cache the jars, print the file
    s3proxy.py run [--bucket B]...            run in the foreground until Ctrl-C
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

S3PROXY_VERSION = "2.6.0"
HERE = os.path.dirname(os.path.abspath(__file__))
POM = os.path.join(HERE, "pom.xml")
sys.path.insert(0, os.path.dirname(HERE))
import maven_peer  # noqa: E402 (tests/peers/maven_peer.py)
HEAP = "-Xmx256m"
ACCESS = "flinc-access"
SECRET = "flinc-secret-key-for-tests"


class S3ProxyError(Exception):
    pass


def classpath_file(version=S3PROXY_VERSION):
    return os.path.join(maven_peer.cache_dir(), "s3proxy-%s.classpath" % version)


def classpath(log=print, version=S3PROXY_VERSION):
    """The peer's classpath: from the cache, or resolved by Maven once
    (maven_peer.classpath)."""
    return maven_peer.classpath(POM, classpath_file(version), {"s3proxy.version": version},
                                "org.gaul:s3proxy %s" % version, S3ProxyError, log, "s3proxy")


class S3Proxy:
    """One s3proxy on addr:port (see the module doc)."""

    def __init__(self, buckets=(), workdir=None, log=print, store="filesystem", addr="127.0.0.1",
                 port=None, die_with_parent=True, keep=False, host=None):
        """host: run it on one of tests/netns/'s namespace hosts (its
        address instead of 127.0.0.1)."""
        if store not in ("filesystem", "transient"):
            raise ValueError("store is filesystem or transient")
        if store == "transient" and buckets:
            raise ValueError("the transient store starts empty: buckets need the filesystem store")
        self.log = log
        self.keep = keep
        self.die_with_parent = die_with_parent
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="flinc-s3proxy-")
        os.makedirs(self.dir, exist_ok=True)
        self.blobs = os.path.join(self.dir, "blobs")
        self.store = store
        self.buckets = list(buckets)
        self.host = host
        self.addr = host.addr if host else addr
        self.port = port or (maven_peer.free_port() if not host else 9000)
        self.access_key, self.secret_key = ACCESS, SECRET
        self.props = os.path.join(self.dir, "s3proxy.properties")
        self.log_path = os.path.join(self.dir, "s3proxy.log")
        self.proc = None

    @property
    def endpoint(self):
        return "http://%s:%d" % (self.addr, self.port)

    def conf(self):
        """The s3.* keys that point flinc at this server."""
        return {"s3.endpoint": self.endpoint, "s3.region": "us-east-1", "s3.access-key": self.access_key,
                "s3.secret-key": self.secret_key, "s3.path-style-access": "true"}

    def _properties(self):
        lines = ["s3proxy.endpoint=%s" % self.endpoint, "s3proxy.authorization=aws-v2-or-v4", "s3proxy.identity=%s" % self.access_key,
                 "s3proxy.credential=%s" % self.secret_key, "jclouds.provider=%s" % self.store,
                 "jclouds.identity=%s" % self.access_key, "jclouds.credential=%s" % self.secret_key]
        if self.store == "filesystem":
            lines.append("jclouds.filesystem.basedir=%s" % self.blobs)
        with open(self.props, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, timeout=90.0):
        cp = classpath(self.log)
        os.makedirs(self.blobs, exist_ok=True)
        if self.store == "filesystem":
            for b in self.buckets:  # a bucket of the filesystem store is a folder
                os.makedirs(os.path.join(self.blobs, b), exist_ok=True)
        self._properties()
        argv = ["java", HEAP, "-cp", cp, "org.gaul.s3proxy.Main", "--properties", self.props]
        if self.host:
            # its store stays in the test's folder, outside a private /tmp
            argv = self.host.wrap(argv, private_tmp=False)
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                     preexec_fn=maven_peer.child_setup(self.die_with_parent))
        logf.close()
        self.wait_ready(timeout)
        self.log("s3proxy: %s store at %s (log %s)" % (self.store, self.endpoint, self.log_path))
        return self

    def _answering(self):
        if self.host:
            with self.host.entered():  # its address is on the hosts' bridge
                return self._answering_here()
        return self._answering_here()

    def _answering_here(self):
        try:
            urllib.request.urlopen(self.endpoint + "/", timeout=2)
            return True
        except urllib.error.HTTPError:
            return True  # 403 without a signature: it answers
        except OSError:
            return False

    def wait_ready(self, timeout=90.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise S3ProxyError("s3proxy exited with %s:\n%s" % (self.proc.returncode, self.tail()))
            if self._answering():
                return
            time.sleep(0.2)
        raise S3ProxyError("s3proxy did not answer on %s within %.0f s:\n%s" % (self.endpoint, timeout, self.tail()))

    def keys(self, bucket, prefix=""):
        """Object keys under prefix, sorted (filesystem store: read from disk)."""
        root = os.path.join(self.blobs, bucket)
        out = []
        for d, _, files in os.walk(root):
            for f in files:
                k = os.path.relpath(os.path.join(d, f), root)
                if k.startswith(prefix):
                    out.append(k)
        return sorted(out)

    def object_path(self, bucket, key):
        return os.path.join(self.blobs, bucket, key)

    def tail(self, lines=40):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace=10.0):
        if not self.proc:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
        self.proc = None

    def remove(self):
        if self.own_dir and not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            self.remove()
            raise

    def __exit__(self, et, ev, tb):
        self.stop()
        self.remove()
        return False


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("classpath")
    r = sub.add_parser("run")
    r.add_argument("--bucket", action="append", default=[])
    r.add_argument("--store", default="filesystem")
    r.add_argument("--port", type=int)
    a = ap.parse_args(argv)
    if a.cmd == "classpath":
        classpath(log=lambda m: print(m, file=sys.stderr))
        print(classpath_file())
        return 0
    with S3Proxy(buckets=a.bucket, store=a.store, port=a.port, log=lambda m: print(m, file=sys.stderr)) as s:
        for k, v in s.conf().items():
            print("%s=%s" % (k, v), flush=True)
        try:
            while s.proc.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
