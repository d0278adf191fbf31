"""netns - hosts on one machine for the multi-host tests (issue 19).

A Net is a small private network made of Linux network namespaces, all
created by the test and removed when it ends (normally, on an exception, on
SIGTERM or SIGHUP from ctest; a SIGKILLed test's namespaces are removed by
the next Net created, see cleanup_stale):

    switch namespace  fln<PID>-sw   a bridge br0, one port per host
    host namespaces   fln<PID>-h0 … fln<PID>-hN-1
                      eth0 = 10.77.0.(10+i)/24 on the bridge, lo up

Nothing is added to the test's own (root) namespace: no interface, no
route, no address. Traffic between hosts stays on the bridge, and the
hosts cannot reach anything else (no default route).

A Host runs processes inside its namespace (`wrap(argv)` prefixes
`ip netns exec`; optionally a private /tmp in a mount namespace of its
own, so that no shared local folder hides a missing upload) and lets the
test's own Python code talk to it: inside `with host.entered():` the
calling thread is in the host's network namespace, so sockets created
there (http.client, socket.create_connection) reach the host's addresses.

Faults, each undone by heal():
    host.cut()           every packet to and from the host dropped: its
                         port is taken off the bridge, so what it sends
                         ends at a port that forwards nowhere and nothing
                         reaches it; its own link stays up, processes stay
                         alive and no FIN or RST is ever sent, as when a
                         switch port dies (no kernel module needed)
    host.loss(percent)   that share of the packets to and from the host
                         dropped at random (nftables in the host's
                         namespace: `nft`, Debian's nftables)
    host.link_down()     the host's interface down (the host's own
                         sockets see "network unreachable" at once)
    host.delay(ms, jitter_ms=0, loss=0.0)
                         netem delay (and loss, in percent) on both ends;
                         needs the kernel's sch_netem (netem_available()):
                         the CI machine's kernel has none, so tests that
                         need delay say so and are not run there
    host.kill_all()      SIGKILL to every process in the namespace

Requires root (CAP_NET_ADMIN, CAP_SYS_ADMIN); available() says whether
this machine can do it (tests print SKIP-free failures otherwise: CI runs
as root).

Standard library only.
"""

import atexit
import contextlib
import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import threading

SUBNET = "10.77.0"
CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_nets = []  # Nets not closed yet


def _ip(*args, check=True):
    r = subprocess.run(["ip"] + list(args), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), r.stderr.strip()))
    return r


def _tc(ns, *args, check=True):
    r = subprocess.run(["ip", "netns", "exec", ns, "tc"] + list(args), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("tc %s (in %s): %s" % (" ".join(args), ns, r.stderr.strip()))
    return r


def available():
    """None when namespaces can be made here, else why not (one line)."""
    if os.geteuid() != 0:
        return "not root: network namespaces need CAP_NET_ADMIN"
    for tool in ("ip", "tc"):
        if not any(os.access(os.path.join(d, tool), os.X_OK) for d in ("/usr/sbin", "/sbin", "/usr/bin", "/bin")):
            return "%s (iproute2) is not installed" % tool
    return None


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _ns_pids(ns):
    r = _ip("netns", "pids", ns, check=False)
    return [int(x) for x in r.stdout.split() if x.isdigit()]


def _delete_ns(ns):
    for pid in _ns_pids(ns):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _ip("netns", "del", ns, check=False)


def cleanup_stale():
    """Remove the namespaces of earlier test processes that are gone
    (names fln<PID>-…). Returns their names."""
    r = _ip("netns", "list", check=False)
    gone = []
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.match(r"fln(\d+)-", name)
        if m and not _pid_alive(int(m.group(1))):
            _delete_ns(name)
            gone.append(name)
    return gone


_netem_ok = None


def netem_available():
    """Whether the kernel has sch_netem (tried once, in a scratch namespace)."""
    global _netem_ok
    if _netem_ok is None:
        ns = "flnprobe%d" % os.getpid()
        _ip("netns", "add", ns)
        try:
            _ip("-n", ns, "link", "set", "lo", "up")
            r = subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "lo", "root", "netem",
                                "delay", "1ms"], capture_output=True, text=True)
            _netem_ok = r.returncode == 0
        finally:
            _ip("netns", "del", ns, check=False)
    return _netem_ok


def nft_available():
    """Whether nftables' command is installed (the kernel side is assumed)."""
    return shutil.which("nft") is not None


class Host:
    """One namespace host: name, ns, addr (its address on the bridge)."""

    def __init__(self, net, index):
        self.net = net
        self.index = index
        self.name = "h%d" % index
        self.ns = "%s-h%d" % (net.prefix, index)
        self.addr = "%s.%d" % (SUBNET, 10 + index)
        self.port = "p%d" % index  # its port on the bridge (in the switch namespace)

    def wrap(self, argv, private_tmp=None):
        """argv run inside the host's namespace (the same pid: ip netns exec,
        unshare and sh exec in turn). private_tmp: a tmpfs on /tmp seen only
        by that process and its children (default: the Net's setting)."""
        if private_tmp is None:
            private_tmp = self.net.private_tmp
        pre = ["ip", "netns", "exec", self.ns]
        if private_tmp:
            pre += ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                    'mount -t tmpfs -o mode=1777 tmpfs /tmp && exec "$@"', "sh"]
        return pre + [str(a) for a in argv]

    def run(self, argv, timeout=60, **kw):
        """subprocess.run of argv inside the host; output captured as text."""
        return subprocess.run(self.wrap(argv), capture_output=True, text=True, timeout=timeout, **kw)

    @contextlib.contextmanager
    def entered(self):
        """The calling thread in the host's network namespace for the block
        (sockets made in it stay there)."""
        with self.net.lock_thread():
            own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            target = os.open("/run/netns/%s" % self.ns, os.O_RDONLY)
            try:
                if _libc.setns(target, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns into %s" % self.ns)
                try:
                    yield self
                finally:
                    if _libc.setns(own, CLONE_NEWNET) != 0:
                        # a thread stuck in the wrong namespace must not go on
                        os._exit(99)
            finally:
                os.close(target)
                os.close(own)

    # ---- faults ----------------------------------------------------------

    def _netem(self, spec):
        if spec and not netem_available():
            raise RuntimeError("netns: this kernel has no netem queueing discipline (sch_netem): "
                               "delay and loss cannot be emulated here")
        for ns, dev in ((self.ns, "eth0"), (self.net.switch, self.port)):
            _tc(ns, "qdisc", "del", "dev", dev, "root", check=False)
            if spec:
                _tc(ns, "qdisc", "add", "dev", dev, "root", "netem", *spec)

    def cut(self):
        """Drop every packet to and from the host, silently: its port off
        the bridge (see the module doc)."""
        _ip("-n", self.net.switch, "link", "set", self.port, "nomaster")

    def delay(self, ms, jitter_ms=0, loss=0.0):
        spec = ["delay", "%dms" % ms]
        if jitter_ms:
            spec += ["%dms" % jitter_ms]
        if loss:
            spec += ["loss", "%g%%" % loss]
        self._netem(spec)

    def loss(self, percent):
        """Drop `percent` % of the packets in and out of the host at random
        (nftables numgen, no queueing discipline needed)."""
        self._nft_clear()
        rules = ["add table inet fln",
                 "add chain inet fln in { type filter hook input priority 0 ; }",
                 "add chain inet fln out { type filter hook output priority 0 ; }",
                 "add rule inet fln in numgen random mod 100 < %d drop" % int(percent),
                 "add rule inet fln out numgen random mod 100 < %d drop" % int(percent)]
        r = subprocess.run(["ip", "netns", "exec", self.ns, "nft", "-f", "-"], input="\n".join(rules) + "\n",
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("nft in %s: %s" % (self.ns, r.stderr.strip()))

    def _nft_clear(self):
        if nft_available():
            subprocess.run(["ip", "netns", "exec", self.ns, "nft", "delete", "table", "inet", "fln"],
                           capture_output=True, text=True)

    def link_down(self):
        _ip("-n", self.ns, "link", "set", "eth0", "down")

    def heal(self):
        """Undo cut/delay/link_down."""
        _ip("-n", self.net.switch, "link", "set", self.port, "master", "br0")
        self._nft_clear()
        if netem_available():
            self._netem(None)
        _ip("-n", self.ns, "link", "set", "eth0", "up")
        _ip("-n", self.ns, "route", "replace", "%s.0/24" % SUBNET, "dev", "eth0", check=False)

    def pids(self):
        return _ns_pids(self.ns)

    def kill_all(self, sig=signal.SIGKILL):
        for pid in self.pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass


class Net:
    """A bridge and `hosts` namespace hosts (see the module doc). Use as a
    context manager, or call close()."""

    def __init__(self, hosts, private_tmp=False, say=None):
        why = available()
        if why:
            raise RuntimeError("netns: " + why)
        cleanup_stale()
        self.say = say or (lambda m: print(m, flush=True))
        self.prefix = "fln%d" % os.getpid()
        # a second Net in the same process gets its own names
        self.prefix += "" if not _nets else "x%d" % len(_nets)
        self.switch = self.prefix + "-sw"
        self.private_tmp = private_tmp
        self._thread_lock = threading.Lock()
        self.hosts = []
        self.closed = False
        _nets.append(self)
        try:
            self._build(hosts)
        except Exception:
            self.close()
            raise

    def _build(self, n):
        _ip("netns", "add", self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        _ip("-n", self.switch, "link", "set", "lo", "up")
        for i in range(n):
            h = Host(self, i)
            _ip("netns", "add", h.ns)
            _ip("-n", h.ns, "link", "set", "lo", "up")
            # both ends are created in the switch namespace, then the host's
            # end moves: nothing ever appears in the root namespace's view
            # for longer than these two commands
            _ip("-n", self.switch, "link", "add", h.port, "type", "veth", "peer", "name", "eth0", "netns", h.ns)
            _ip("-n", self.switch, "link", "set", h.port, "master", "br0")
            _ip("-n", self.switch, "link", "set", h.port, "up")
            _ip("-n", h.ns, "addr", "add", "%s/24" % h.addr, "dev", "eth0")
            _ip("-n", h.ns, "link", "set", "eth0", "up")
            self.hosts.append(h)
        self.say("netns: %d hosts %s on bridge %s/br0" %
                 (n, ", ".join("%s=%s" % (h.ns, h.addr) for h in self.hosts), self.switch))

    def lock_thread(self):
        """setns is per thread; entered() blocks of one Net never nest."""
        return self._thread_lock

    def close(self):
        if self.closed:
            return
        self.closed = True
        for h in self.hosts:
            _delete_ns(h.ns)
        _delete_ns(self.switch)
        # hosts created before a failure in _build
        r = _ip("netns", "list", check=False)
        for line in r.stdout.splitlines():
            name = line.split()[0] if line.split() else ""
            if name.startswith(self.prefix + "-"):
                _delete_ns(name)
        if self in _nets:
            _nets.remove(self)

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        self.close()
        return False


def _close_all():
    for n in list(_nets):
        n.close()


_previous = {}


def _on_signal(signum, frame):
    _close_all()
    sys.stderr.write("netns: %s: namespaces removed\n" % signal.Signals(signum).name)
    prev = _previous.get(signum)
    if callable(prev):  # e.g. cluster.py's, which stops its daemons and exits
        prev(signum, frame)
    os._exit(128 + signum)


atexit.register(_close_all)
for _s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
    try:
        _previous[_s] = signal.signal(_s, _on_signal)
    except ValueError:
        pass
