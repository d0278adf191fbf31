#!/usr/bin/env python3
"""broker - a real Apache Kafka broker (KRaft, combined broker+controller) on
free loopback ports, for the Kafka connector's tests (Python 3 stdlib only).

The jars are not in the tree: Maven resolves tests/peers/kafka/pom.xml from
Maven Central and the classpath is cached once, outside the tree, in
$XDG_CACHE_HOME/flinc/kafka-<version>.classpath (default ~/.cache/flinc).
scripts/install-deps.sh fills that cache (`broker.py classpath`); a test that
finds it missing resolves it then, saying so on one line.

As a module:

    import broker
    with broker.Broker(nodes=1, log=print) as b:     # started, then stopped
        b.bootstrap                                   # "127.0.0.1:PORT[,...]"
        b.create_topic("in", partitions=6)
        b.produce("in", ["a", "b"]); b.consume("in", isolation="read_committed")

Each node is one JVM (-Xmx256m) in a process group of its own that also dies
with the Python process (PR_SET_PDEATHSIG). stop() sends SIGTERM to every
node at once (a 3-node KRaft cluster stops in seconds only that way), waits
`grace` seconds, then SIGKILLs the groups that are left. kill9(i) and
restart(i) serve the crash tests.

As a command (the node processes outlive it; `stop` ends them):

    broker.py start [--nodes N] [--dir DIR]   prints bootstrap.servers=... and dir=...
    broker.py stop --dir DIR
    broker.py classpath                       resolve and cache the jars, print the file
"""

import argparse
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

KAFKA_VERSION = "4.4.0"
HERE = os.path.dirname(os.path.abspath(__file__))
POM = os.path.join(HERE, "pom.xml")
sys.path.insert(0, os.path.dirname(HERE))
import maven_peer  # noqa: E402 (tests/peers/maven_peer.py)
HEAP = "-Xmx256m"

LOG4J2 = """\
status = error
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = out
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.server.name = org.apache.kafka.server
logger.server.level = INFO
"""


class BrokerError(Exception):
    pass


def classpath_file(version=KAFKA_VERSION):
    return os.path.join(maven_peer.cache_dir(), "kafka-%s.classpath" % version)


def classpath(log=print, version=KAFKA_VERSION):
    """The peer's classpath: from the cache, or resolved by Maven once
    (maven_peer.classpath)."""
    return maven_peer.classpath(POM, classpath_file(version), {"kafka.version": version},
                                "Apache Kafka %s" % version, BrokerError, log, "broker")


def _signal_group(pid, sig):
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as gone
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


class Node:
    def __init__(self, index, folder):
        self.index = index
        self.id = index + 1
        self.folder = folder
        self.port = maven_peer.free_port()
        self.cport = maven_peer.free_port()
        self.data = os.path.join(folder, "data")
        self.props = os.path.join(folder, "server.properties")
        self.log_path = os.path.join(folder, "broker.log")
        self.proc = None
        self.pid = None


class Broker:
    """N combined broker+controller nodes on loopback (see the module doc)."""

    def __init__(self, nodes=1, workdir=None, log=print, conf=None, die_with_parent=True, keep=False, host=None):
        """host: run the nodes, and the tools that talk to them, on one of
        tests/netns/'s namespace hosts (its address instead of 127.0.0.1)."""
        if nodes < 1:
            raise ValueError("nodes must be >= 1")
        self.log = log
        self.keep = keep
        self.die_with_parent = die_with_parent
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="flinc-kafka-")
        os.makedirs(self.dir, exist_ok=True)
        self.nodes = [Node(i, os.path.join(self.dir, "node%d" % i)) for i in range(nodes)]
        self.conf = dict(conf or {})
        self.host = host
        self.addr = host.addr if host else "127.0.0.1"
        # Like Kafka's Uuid.randomUuid(): never starting with '-', which
        # StorageTool's argument parser would take for an option (1 in 64).
        self.cluster_id = "-"
        while self.cluster_id.startswith("-"):
            self.cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        self.cp = None
        self.started = False

    @property
    def bootstrap(self):
        return ",".join("%s:%d" % (self.addr, n.port) for n in self.nodes)

    def _w(self, argv):
        """argv as run where the nodes are (inside the host, if any)."""
        return self.host.wrap(argv) if self.host else argv

    # ---- configuration ----------------------------------------------------------

    def _properties(self, n):
        rf = min(3, len(self.nodes))
        p = {
            "node.id": n.id,
            "process.roles": "broker,controller",
            "listeners": "PLAINTEXT://%s:%d,CONTROLLER://%s:%d" % (self.addr, n.port, self.addr, n.cport),
            "advertised.listeners": "PLAINTEXT://%s:%d" % (self.addr, n.port),
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": n.data,
            "num.partitions": 1,
            "default.replication.factor": rf,
            "min.insync.replicas": 1,
            "offsets.topic.replication.factor": rf,
            "offsets.topic.num.partitions": 4,
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": 1,
            "transaction.state.log.num.partitions": 4,
            "share.coordinator.state.topic.replication.factor": rf,
            "share.coordinator.state.topic.min.isr": 1,
            "group.initial.rebalance.delay.ms": 0,
            "auto.create.topics.enable": "true",
            # aborted transactions of killed producers are cleaned up soon
            "transaction.abort.timed.out.transaction.cleanup.interval.ms": 1000,
            "log.segment.bytes": 64 << 20,
            "num.network.threads": 2,
            "num.io.threads": 2,
            "background.threads": 2,
        }
        if len(self.nodes) == 1:
            p["controller.quorum.bootstrap.servers"] = "%s:%d" % (self.addr, n.cport)
        else:
            p["controller.quorum.voters"] = ",".join("%d@%s:%d" % (m.id, self.addr, m.cport) for m in self.nodes)
        p.update(self.conf)
        return "".join("%s=%s\n" % (k, v) for k, v in p.items())

    def _java(self, main, *args, heap=HEAP):
        return ["java", heap, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
                "-Dlog4j2.configurationFile=" + os.path.join(self.dir, "log4j2.properties"),
                "-cp", self.cp, main] + list(args)

    def _format(self, n):
        os.makedirs(n.folder, exist_ok=True)
        with open(n.props, "w") as f:
            f.write(self._properties(n))
        argv = self._java("kafka.tools.StorageTool", "format", "-t", self.cluster_id, "-c", n.props,
                          "--ignore-formatted", heap="-Xmx128m")
        if len(self.nodes) == 1:
            argv.append("--standalone")
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           timeout=120)
        if p.returncode != 0:
            raise BrokerError("StorageTool format failed for node %d:\n%s" %
                              (n.id, p.stdout.decode(errors="replace")[-2000:]))

    # ---- lifecycle ----------------------------------------------------------------

    def start(self, timeout=90.0):
        """Resolve the jars (cached), format every node's storage, start the
        nodes and wait until they all answer metadata."""
        if shutil.which("java") is None:
            raise BrokerError("java is not installed (scripts/install-deps.sh)")
        self.cp = classpath(self.log)
        with open(os.path.join(self.dir, "log4j2.properties"), "w") as f:
            f.write(LOG4J2)
        t0 = time.monotonic()
        for n in self.nodes:
            self._format(n)
        self.started = True
        for n in self.nodes:
            self._spawn(n)
        self.wait_ready(timeout)
        self.log("broker: %d node(s) ready at %s in %.1fs (folder %s)" %
                 (len(self.nodes), self.bootstrap, time.monotonic() - t0, self.dir))
        return self

    def _spawn(self, n):
        logf = open(n.log_path, "ab")
        try:
            n.proc = subprocess.Popen(self._w(self._java("kafka.Kafka", n.props)), stdin=subprocess.DEVNULL,
                                      stdout=logf,
                                      stderr=subprocess.STDOUT, preexec_fn=maven_peer.child_setup(self.die_with_parent))
        finally:
            logf.close()
        n.pid = n.proc.pid

    def brokers_answering(self, timeout_s=3):
        """How many brokers the metadata (kcat -L) lists, 0 on no answer."""
        try:
            p = subprocess.run(self._w(["kcat", "-L", "-b", self.bootstrap, "-m", str(timeout_s), "-J"]),
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                               timeout=timeout_s + 5)
        except subprocess.TimeoutExpired:
            return 0
        if p.returncode != 0:
            return 0
        try:
            return len(json.loads(p.stdout).get("brokers", []))
        except ValueError:
            return 0

    def wait_ready(self, timeout=90.0):
        if shutil.which("kcat") is None:
            raise BrokerError("kcat is not installed (scripts/install-deps.sh)")
        deadline = time.monotonic() + timeout
        while True:
            for n in self.nodes:
                if n.proc is not None and n.proc.poll() is not None:
                    raise BrokerError("broker node %d exited with %s:\n%s" % (n.id, n.proc.returncode,
                                                                             self.tail(n.index)))
            if self.brokers_answering() >= len(self.nodes):
                return
            if time.monotonic() > deadline:
                raise BrokerError("broker not answering metadata after %.0fs:\n%s" % (timeout, self.tail(0)))
            time.sleep(0.3)

    def kill9(self, i):
        """SIGKILL node i's process group (a crash); restart(i) brings it back."""
        n = self.nodes[i]
        if n.pid:
            _signal_group(n.pid, signal.SIGKILL)
            if n.proc:
                n.proc.wait()

    def restart(self, i, timeout=90.0):
        self._spawn(self.nodes[i])
        self.wait_ready(timeout)

    def stop(self, grace=20.0):
        """SIGTERM to every node together, SIGKILL after `grace` s."""
        live = [n for n in self.nodes if n.pid and _alive(n.pid)]
        for n in live:
            _signal_group(n.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for n in live:
            while _alive(n.pid) and time.monotonic() < deadline:
                if n.proc:
                    try:
                        n.proc.wait(0.1)
                    except subprocess.TimeoutExpired:
                        pass
                else:
                    time.sleep(0.1)
        for n in live:
            if _alive(n.pid):
                self.log("broker: node %d (pid %d) ignored SIGTERM for %.0fs: SIGKILL" % (n.id, n.pid, grace))
            _signal_group(n.pid, signal.SIGKILL)  # also anything it left in its group
            if n.proc:
                n.proc.wait()
        for n in self.nodes:
            n.pid = None
        self.started = False

    def tail(self, i=0, lines=40):
        try:
            with open(self.nodes[i].log_path, "rb") as f:
                return "\n".join(f.read().decode(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def remove(self):
        if self.own_dir and not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            for n in self.nodes:
                self.log("broker: node %d log tail:\n%s" % (n.id, self.tail(n.index)))
            raise

    def __exit__(self, et, ev, tb):
        self.stop()
        if et is not None:
            self.keep = True
            self.log("broker: files kept in %s" % self.dir)
        self.remove()
        return False

    # ---- the command-line peer (kcat) --------------------------------------------

    def create_topic(self, topic, partitions=1, replication=None, timeout=60):
        """Create a topic with TopicCommand (kafka-tools) and wait for its
        metadata."""
        rf = replication or min(3, len(self.nodes))
        argv = self._java("org.apache.kafka.tools.TopicCommand", "--bootstrap-server", self.bootstrap, "--create",
                          "--topic", topic, "--partitions", str(partitions), "--replication-factor", str(rf),
                          heap="-Xmx128m")
        p = subprocess.run(self._w(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           timeout=timeout)
        if p.returncode != 0:
            raise BrokerError("creating topic %s failed:\n%s" % (topic, p.stdout.decode(errors="replace")[-2000:]))

    def produce(self, topic, values, partition=None, timeout=120):
        """Write values (str or bytes, one record each, no newline inside) with kcat."""
        data = b"".join((v.encode() if isinstance(v, str) else v) + b"\n" for v in values)
        argv = ["kcat", "-P", "-b", self.bootstrap, "-t", topic, "-X", "acks=all"]
        if partition is not None:
            argv += ["-p", str(partition)]
        p = subprocess.run(self._w(argv), input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        if p.returncode != 0:
            raise BrokerError("kcat -P %s: %s" % (topic, p.stderr.decode(errors="replace").strip()))

    def consume(self, topic, isolation="read_committed", timeout=120, fmt="%s\\n"):
        """Every record value of the topic (to its end), as a list of str."""
        argv = ["kcat", "-C", "-b", self.bootstrap, "-t", topic, "-o", "beginning", "-e", "-q",
                "-X", "isolation.level=" + isolation, "-f", fmt]
        p = subprocess.run(self._w(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                           timeout=timeout)
        if p.returncode != 0:
            raise BrokerError("kcat -C %s: %s" % (topic, p.stderr.decode(errors="replace").strip()))
        out = p.stdout.decode(errors="replace")
        return out.split("\n")[:-1] if out else []


# ---- command line ----------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description="A real Apache Kafka broker on loopback for flinc's tests.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("start", help="start N nodes in the background; print bootstrap.servers=...")
    s.add_argument("--nodes", type=int, default=1)
    s.add_argument("--dir", help="working folder (default: a new temporary one)")
    t = sub.add_parser("stop", help="stop the nodes started with --dir DIR")
    t.add_argument("--dir", required=True)
    t.add_argument("--grace", type=float, default=20.0)
    sub.add_parser("classpath", help="resolve the jars with Maven (once) and print the cached classpath file")
    a = ap.parse_args(argv)
    say = lambda m: print(m, file=sys.stderr)
    try:
        if a.cmd == "classpath":
            classpath(say)
            print(classpath_file())
            return 0
        if a.cmd == "start":
            b = Broker(nodes=a.nodes, workdir=a.dir, log=say, die_with_parent=False)
            try:
                b.start()
            except BaseException:
                b.stop()
                raise
            with open(os.path.join(b.dir, "broker.json"), "w") as f:
                json.dump({"bootstrap": b.bootstrap, "pids": [n.pid for n in b.nodes]}, f)
            print("bootstrap.servers=%s" % b.bootstrap)
            print("dir=%s" % b.dir)
            return 0
        with open(os.path.join(a.dir, "broker.json")) as f:
            info = json.load(f)
        live = [p for p in info["pids"] if _alive(p)]
        for p in live:
            _signal_group(p, signal.SIGTERM)
        deadline = time.monotonic() + a.grace
        while any(_alive(p) for p in live) and time.monotonic() < deadline:
            time.sleep(0.1)
        for p in live:
            if _alive(p):
                say("broker: pid %d ignored SIGTERM for %.0fs: SIGKILL" % (p, a.grace))
            _signal_group(p, signal.SIGKILL)
        return 0
    except (BrokerError, OSError, subprocess.TimeoutExpired) as e:
        print("broker: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
