"""maven_peer.py - what the Java peers' modules (kafka/broker.py,
s3proxy/s3proxy.py) share: the peer's classpath, resolved by Maven from its
pom.xml once and cached in ~/.cache/flinc (offline first, so a machine that
resolved before needs no network); a free loopback port; and the setup of a
JVM child in its own process group that dies with its parent.

Stdlib only. The peers' modules put this folder on sys.path.
"""

import ctypes
import os
import shutil
import signal
import socket
import subprocess


def cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "flinc")


def cached_classpath(path):
    """The classpath cached in path, or None when there is none or one of
    its jars is gone (the Maven repository was cleaned since)."""
    try:
        with open(path) as f:
            cp = f.read().strip()
    except OSError:
        return None
    jars = [j for j in cp.split(":") if j]
    if not jars or not all(os.path.isfile(j) for j in jars):
        return None
    return cp


def classpath(pom, path, props, what, error, log=print, prefix="peer"):
    """The classpath of pom's dependencies (with -Dkey=value for props):
    from path, or resolved by Maven into it. what names the peer in
    messages; error is the exception class raised when it cannot be had."""
    cp = cached_classpath(path)
    if cp:
        return cp
    mvn = shutil.which("mvn")
    if not mvn:
        raise error("%s's jars are not resolved and mvn is not installed (scripts/install-deps.sh)" % what)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    log("%s: resolving %s with Maven (once; cached in %s)" % (prefix, what, path))
    argv = [mvn, "-q", "-B", "-f", pom, "dependency:build-classpath", "-Dmdep.outputFile=" + tmp]
    argv += ["-D%s=%s" % kv for kv in sorted(props.items())]
    p = None
    for extra in (["-o"], []):
        p = subprocess.run(argv[:1] + extra + argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL)
        if p.returncode == 0 and cached_classpath(tmp):
            os.replace(tmp, path)
            return cached_classpath(path)
    try:
        os.unlink(tmp)
    except OSError:
        pass
    raise error("mvn could not resolve %s:\n%s" % (what, p.stdout.decode(errors="replace")[-2000:]))


def free_port(addr="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((addr, 0))
        return s.getsockname()[1]


def child_setup(die_with_parent):
    """A preexec_fn: the child in its own process group (stopping it
    signals the whole JVM), killed when its parent dies if asked."""
    def setup():
        os.setsid()
        if die_with_parent:
            try:
                ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
            except OSError:
                pass
    return setup
