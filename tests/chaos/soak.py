#!/usr/bin/env python3
"""soak - random faults on namespace hosts while checkpointed jobs run, in
the spirit of Jepsen (issue 19, acceptance 5).

Hosts (tests/netns/netns.py): the job manager on h0 (with
high-availability.storageDir, so a killed job manager is started again and
resumes its jobs), one task manager with 3 slots on each of h1..h3, and a
real Apache Kafka broker (tests/peers/kafka/) on h4. Three wordcount jobs
at -p 2 read generated text at --rate lines/s each, for about --minutes,
with checkpoints every 500 ms: two from files to exactly-once file output,
one on the hashmap (memory) state backend and one on RocksDB, and one on
RocksDB from a Kafka topic to a Kafka topic, exactly-once (transactions).
--no-kafka leaves the Kafka job and the broker out.

Until the jobs have read their input, one fault after another, at random:
  tm-kill   kill -9 of a task manager; a new one starts on its host
  jm-kill   kill -9 of the job manager; started again on its host and ports
  cut       a task-manager host cut off (no FIN, process alive) for 2-8 s
  loss      5 % of the packets of a task-manager host dropped for 3-8 s
            (nftables; left out when `nft` is missing)
  delay     200 ms on a task-manager host's link for 3-8 s (netem; left
            out on kernels without sch_netem, which the CI machine's is)
After each fault: the time until the jobs run again with every subtask
RUNNING (the recovery time: from the kill, or from the start of a cut,
loss or delay until the jobs run again, on the other hosts after a restart
or where they were once the fault ends; a job with subtasks on a killed
task manager, or on a host cut for longer than heartbeat.timeout, must
have restarted), then a pause of 0.5-3 s. Kinds are dealt from a shuffled
deck, so every kind comes. The broker's host gets no faults.

At the end every job must be FINISHED and its committed output (the
folders; the topic read with read_committed) must pass the 1..n check
(every word's counts once each: nothing lost, nothing doubled). The
history of faults and recoveries is printed, with the median and worst
recovery time per kind. --min-faults sets how many faults must have been
injected (the issue: 40 in 10 minutes).

Usage: soak.py --build BUILD [--minutes M] [--rate R] [--min-faults N] [--seed S] [--no-kafka] [--keep]
CI runs a short version (1 minute); the issue's soak: --minutes 10 --min-faults 40.
"""
import os
import random
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "netns"))
sys.path.insert(0, os.path.join(HERE, "..", "peers", "kafka"))
import broker  # noqa: E402
import check_counts  # noqa: E402
import cluster  # noqa: E402
import netns  # noqa: E402


class Soak:
    def __init__(self, c, hosts, jobs, rng, say):
        self.c = c
        self.hosts = hosts  # the job manager's, then the task managers' 
        self.jobs = jobs  # [(jid, backend)]
        self.rng = rng
        self.say = say
        self.history = []  # (t, kind, target, recovery s or None, note, restarted jobs)
        self.t0 = time.monotonic()
        kinds = ["tm-kill", "tm-kill", "jm-kill", "cut", "cut"]  # dealt as a shuffled deck
        if netns.nft_available():
            kinds.append("loss")
        if netns.netem_available():
            kinds.append("delay")
        self.kinds = kinds
        self.deck = []
        self.done = set()  # jobs seen FINISHED

    def running(self):
        """Every job RUNNING with every subtask RUNNING, or FINISHED (a
        restarted job manager shows a job that ended before from the job
        store's results)."""
        for jid, _ in self.jobs:
            if jid in self.done:
                continue
            j = self.c.job(jid)
            s = j.get("state")
            if s == "FINISHED":
                self.done.add(jid)
                continue
            if s in cluster.TERMINAL:
                raise cluster.ClusterError("job %s ended %s: %s" % (jid, s, self.c.exceptions(jid)))
            subs = cluster.all_subtasks(j)
            if s != "RUNNING" or not subs or not all(x.get("status") in ("RUNNING", "FINISHED") for x in subs):
                return False
        return True

    def finished(self):
        for jid, _ in self.jobs:
            if jid in self.done:
                continue
            try:
                if self.c.job_state(jid) != "FINISHED":
                    return False
            except (OSError, ValueError, cluster.ClusterError):
                return False
            self.done.add(jid)
        return True

    def attempts(self):
        return {jid: cluster.job_attempt(self.c.job(jid)) if jid not in self.done else 1 << 30
                for jid, _ in self.jobs}

    def affected_by(self, tm_id):
        """Jobs with subtasks on that task manager."""
        out = []
        for jid, _ in self.jobs:
            try:
                if tm_id in cluster.tms_of_job(self.c, jid):
                    out.append(jid)
            except (OSError, ValueError, cluster.ClusterError):
                pass
        return out

    def wait_recovered(self, before, must_restart, timeout=90):
        """Both jobs running again; the jobs in must_restart on a newer
        attempt than `before` first (a job manager that has not noticed the
        fault yet still shows the old attempt RUNNING)."""
        def ok():
            if not self.running():
                return False
            now = self.attempts()
            return all(now[j] > before[j] for j in must_restart if j not in self.done)
        if not cluster.poll(ok, timeout=timeout, interval=0.05,
                            ignore=(OSError, ValueError, cluster.http.client.HTTPException)):
            raise cluster.ClusterError("the jobs did not run again within %d s" % timeout)

    def tm_on(self, host):
        """(index, id) of the live task manager on host, or (None, None)."""
        for t in self.c.taskmanagers():
            if t.get("host") == host.addr:
                i = cluster.daemon_index_of_tm(self.c, t.get("id"))
                if i is not None:
                    return i, t.get("id")
        return None, None

    def fault(self):
        if not self.deck:
            self.deck = list(self.kinds)
            self.rng.shuffle(self.deck)
        kind = self.deck.pop()
        c = self.c
        host = self.rng.choice(self.hosts[1:])
        idx, tm_id = self.tm_on(host)
        before = self.attempts()
        affected = self.affected_by(tm_id) if tm_id else []
        note, must, back = "", [], None
        t = time.monotonic()
        if kind == "tm-kill":
            if idx is None:
                return
            cluster.kill9(c, idx)
            c.start_taskmanager(wait=False, place=host)
            target, must = host.addr, affected
        elif kind == "jm-kill":
            c.jm.proc.kill()
            c.jm.proc.wait(10)
            c.restart_jobmanager(timeout=30)
            target = self.hosts[0].addr
        else:
            secs = self.rng.uniform(2, 8)
            if kind == "cut":
                host.cut()
            elif kind == "loss":
                host.loss(5)
                note = "5% "
            else:
                host.delay(200)
                note = "200 ms "
            # while the fault lasts: did the jobs restart on the other hosts?
            back = None
            end = t + secs
            while time.monotonic() < end:
                if back is None and affected:
                    try:
                        now = self.attempts()
                        if all(now[j] > before[j] for j in affected) and self.running():
                            back = time.monotonic()
                    except (OSError, ValueError, cluster.ClusterError, cluster.http.client.HTTPException):
                        pass
                time.sleep(0.05)
            host.heal()
            target, note = host.addr, note + "for %.1f s" % secs
            # a cut longer than heartbeat.timeout (5 s) and one interval
            # must have made the jobs on that host restart
            if kind == "cut" and secs > 6.5:
                must = affected
        try:
            self.wait_recovered(before, must)
        except cluster.ClusterError as e:
            self.history.append((t - self.t0, kind, target, None, note + " " + str(e), ""))
            raise
        # the outage: from the kill or the start of the cut/loss/delay until
        # the jobs ran again (on the other hosts, or after the heal)
        rec = (back if kind not in ("tm-kill", "jm-kill") and back else time.monotonic()) - t
        after = self.attempts() if kind != "jm-kill" else before
        restarted = [j[:8] for j in before if after.get(j, 0) > before[j]]
        if kind == "jm-kill":
            restarted = ["all"]
        self.history.append((t - self.t0, kind, target, rec, note, ",".join(restarted)))
        self.say("fault %3d at %6.1f s: %-7s %-12s %-14s jobs running again after %.2f s%s" %
                 (len(self.history), t - self.t0, kind, target, note, rec,
                  " (restarted: %s)" % ",".join(restarted) if restarted else " (no restart)"))

    def report(self):
        self.say("history: %d faults" % len(self.history))
        for kind in sorted({h[1] for h in self.history}):
            recs = [h[3] for h in self.history if h[1] == kind and h[3] is not None]
            if recs:
                self.say("  %-8s %3d faults, recovery median %.2f s, worst %.2f s" %
                         (kind, len(recs), statistics.median(recs), max(recs)))
        recs = [h[3] for h in self.history if h[3] is not None]
        if recs:
            self.say("  all      %3d faults, recovery median %.2f s, worst %.2f s" %
                     (len(recs), statistics.median(recs), max(recs)))


def main():
    ap = cluster.arg_parser(__doc__)
    ap.add_argument("--minutes", type=float, default=1.0)
    ap.add_argument("--rate", type=int, default=2000, help="lines/s read by each job")
    ap.add_argument("--min-faults", type=int, default=4)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--no-kafka", action="store_true", help="leave the Kafka job out")
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else int(time.time()) % 100000
    print("soak: seed %d, %.1f minutes, %d lines/s per job" % (seed, a.minutes, a.rate), flush=True)
    rng = random.Random(seed)
    chk = cluster.Checks()
    lines = int(a.rate * a.minutes * 60)
    kafka = not a.no_kafka
    with netns.Net(5 if kafka else 4) as net, cluster.Cluster(a.build, taskmanagers=3, slots=3, name="soak",
                                                              keep=a.keep, checks=chk, hosts=net.hosts[:4]) as c:
        c.conf.update({"state.checkpoints.dir": c.path("checkpoints"),
                       "execution.checkpointing.interval": "500ms"})
        c.jm_conf.update({"high-availability.storageDir": c.path("ha")})
        b = None
        if kafka:
            b = broker.Broker(workdir=c.path("broker"), host=net.hosts[4], log=lambda m: print(m, flush=True))
            b.start()
        try:
            c.start()
            jobs, outs = [], []
            for k, backend in enumerate(("hashmap", "rocksdb")):
                inp = cluster.write_words(c.path("input-%s.txt" % backend), random.Random(seed + k), 3000, lines)
                out = c.path("out-" + backend)
                jid = c.submit(c.plugin(), ["--input", inp, "--output", out, "--rate", str(a.rate)],
                               parallelism=2, conf={"state.backend": backend})
                print("job %s: wordcount -p 2 on %s, %d lines at %d lines/s" % (jid, backend, lines, a.rate),
                      flush=True)
                jobs.append((jid, backend))
                outs.append((backend, inp, out))
            if kafka:
                inp = cluster.write_words(c.path("input-kafka.txt"), random.Random(seed + 7), 3000, lines)
                with open(inp, "rb") as f:
                    text = [ln for ln in f.read().split(b"\n") if ln]
                b.create_topic("lines", partitions=4)
                b.create_topic("counts", partitions=2)
                b.produce("lines", text, timeout=600)
                kin = "kafka://%s/lines?bounded=true" % b.bootstrap
                kout = "kafka://%s/counts?delivery=exactly-once" % b.bootstrap
                jid = c.submit(c.plugin(), ["--input", kin, "--output", kout, "--rate", str(a.rate)],
                               parallelism=2, conf={"state.backend": "rocksdb"})
                print("job %s: wordcount -p 2 on rocksdb from Kafka to Kafka (exactly-once, broker on %s), "
                      "%d lines at %d lines/s" % (jid, net.hosts[4].addr, len(text), a.rate), flush=True)
                jobs.append((jid, "kafka"))
                outs.append(("kafka", inp, None))
            soak(chk, a, c, net, jobs, rng, outs, b)
        finally:
            if b:
                b.stop()
                b.remove()
    return chk.report()


def soak(chk, a, c, net, jobs, rng, outs, b):
    """Faults until the jobs end; then the checks of their outputs."""
    s = Soak(c, net.hosts[:4], jobs, rng, lambda m: print(m, flush=True))
    print("fault kinds: %s" % ", ".join(sorted(set(s.kinds))), flush=True)
    try:
        cluster.wait_until(s.running, 60, "the jobs RUNNING")
        cluster.wait_checkpoint_after(c, jobs[0][0], 0, timeout=60)
        while not s.finished():
            s.fault()
            time.sleep(rng.uniform(0.5, 3.0))
        for jid, backend in jobs:
            chk.ok(jid in s.done, "the %s job ends FINISHED" % backend)
    except cluster.ClusterError as e:
        chk.fail("after %d faults: %s" % (len(s.history), e))
        c.dump_logs(30)
    finally:
        for h in net.hosts:
            h.heal()
    s.report()
    chk.ok(len(s.history) >= a.min_faults,
           "%d faults injected (at least %d)" % (len(s.history), a.min_faults))
    for backend, inp, out in outs:
        expected = check_counts.expected_counts([inp])
        what = "wordcount on %s after %d faults" % (backend, len(s.history))
        if out:
            check_counts.verify(chk, expected, out, what)
            continue
        lines = b.consume("counts", isolation="read_committed", timeout=300)
        pairs = []
        for ln in lines:
            w, _, n = ln.partition("\t")
            pairs.append((w.encode(), int(n)))
        errs = check_counts.check_counts(expected, pairs)
        chk.ok(not errs, "%s: read_committed holds every count exactly once (%d records)" % (what, len(lines)),
               "; ".join(errs[:8]))


if __name__ == "__main__":
    sys.exit(main())
