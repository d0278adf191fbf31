#!/usr/bin/env python3
"""netns_partition - a task-manager host cut off the network while its
process lives (issue 19, acceptance 3).

Four namespace hosts (tests/netns/netns.py): the job manager on h0, one
task manager (2 slots) on each of h1..h3. wordcount -p 4 reads its input at
--rate lines/s, checkpoints every 500 ms, exactly-once file output.

Once the job runs and a checkpoint completed, the host of a task manager
that runs subtasks of the job is cut: every packet to and from it dropped
(netem loss 100%), so no FIN or RST ever reaches anybody, as when a cable is
pulled. Checked:
  - the job manager declares the task manager lost within heartbeat.timeout
    (5 s, plus one heartbeat interval for the last heartbeat's age and
    the monitor's tick), printed;
  - the job restarts from the checkpoint on the two other hosts;
  - the cut task manager, alone, cancels its tasks once the job manager has
    been silent for heartbeat.timeout (its log says so);
  - when the link comes back, the stale task manager writes nothing into
    the job: the job manager's log shows no status, acknowledgement or
    checkpoint data taken from it for the old attempt, it registers again
    again (a registration newer than the cut) with every slot free, and the
    output passes the 1..n check (no duplicate, no gap).

Usage: netns_partition.py --build BUILD [--lines N] [--rate R] [--keep]
"""
import os
import random
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
import check_counts  # noqa: E402
import cluster  # noqa: E402
import netns  # noqa: E402

TIMEOUT_S = 5.0   # heartbeat.timeout, the job manager's default
INTERVAL_S = 1.0  # heartbeat.interval


def tm_by_id(c, tm_id):
    for t in c.taskmanagers():
        if t.get("id") == tm_id:
            return t
    return None


def partition_round(chk, c, jid, rnd, short, after_chk):
    """Cut the host of a task manager that runs the job; heal it once the
    task manager gave up its tasks (long) or right after the job manager
    declared it lost, while its stale tasks still run (short). Returns the
    newest checkpoint id seen."""
    c.wait_running(jid, timeout=60)
    chk_id = cluster.wait_checkpoint_after(c, jid, after_chk, timeout=60)
    attempt = cluster.job_attempt(c.job(jid))
    idx, victim = cluster.pick_victim(c, cluster.tms_of_job(c, jid))
    host = c.tm_places[idx]
    daemon = c.tms[idx]
    tm_mark = len(daemon.log_text())
    what = "round %d (%s cut)" % (rnd, "short" if short else "long")
    print("%s: cutting %s (task manager %s, pid %d) after chk-%d" % (what, host.addr, victim, daemon.pid, chk_id),
          flush=True)
    t0 = time.monotonic()
    cut_ms = time.time() * 1000
    host.cut()
    lost = cluster.poll(lambda: tm_by_id(c, victim) is None, timeout=30, interval=0.05)
    lost_s = time.monotonic() - t0
    chk.ok(lost, "%s: the job manager lists task manager %s no more %.2f s after the cut" % (what, victim, lost_s))
    chk.ok(lost_s <= TIMEOUT_S + INTERVAL_S + 0.5,
           "%s: declared lost within heartbeat.timeout (%.2f s <= %.1f s + one interval)" % (what, lost_s, TIMEOUT_S))
    chk.ok(daemon.alive(), "%s: the cut task manager's process still runs" % what)
    jm_mark = len(c.jm.log_text())
    if short:
        stale_running = "CANCELED" not in daemon.log_text()[tm_mark:]
        chk.ok(stale_running, "%s: the cut task manager's tasks still run when the link comes back" % what,
               daemon.tail(10))
        host.heal()
    took, info = cluster.wait_recovered(c, jid, attempt, t0, timeout=60)
    print("%s: job RUNNING again on the other hosts %.2f s after the cut (states %s)" % (what, took, info["states"]),
          flush=True)
    on = cluster.tms_of_job(c, jid)
    chk.ok(victim not in on, "%s: the new attempt runs without the cut task manager" % what, on)
    if not short:
        gave_up = cluster.poll(lambda: "CANCELED" in daemon.log_text()[tm_mark:], timeout=TIMEOUT_S * 3,
                               interval=0.2)
        chk.ok(gave_up, "%s: the cut task manager cancels its stale tasks on its own" % what, daemon.tail(15))
        time.sleep(0.5)
        print("%s: healing %s %.1f s after the cut" % (what, host.addr, time.monotonic() - t0), flush=True)
        host.heal()
    else:
        gave_up = cluster.poll(lambda: "CANCELED" in daemon.log_text()[tm_mark:], timeout=TIMEOUT_S * 4,
                               interval=0.2)
        chk.ok(gave_up, "%s: the stale task manager learns to cancel its stale tasks after the heal" % what,
               daemon.tail(15))

    def rejoined():
        for t in c.taskmanagers():
            if t.get("host") == host.addr and t.get("registered", 0) > cut_ms:
                return t
        return None
    t_back = cluster.poll(rejoined, timeout=30, interval=0.1)
    chk.ok(bool(t_back), "%s: the healed task manager registers again (a registration newer than the cut)" % what,
           c.taskmanagers())
    if t_back:
        free = cluster.poll(lambda: (tm_by_id(c, t_back["id"]) or {}).get("freeSlots") == t_back.get("slotsNumber"),
                            timeout=15, interval=0.1)
        chk.ok(free, "%s: it offers all its slots (%s)" % (what, t_back.get("slotsNumber")), tm_by_id(c, t_back["id"]))
    after = c.jm.log_text()[jm_mark:]
    stale = [ln for ln in after.splitlines()
             if victim in ln and "attempt %d" % attempt in ln
             and not re.search(r"refus|ignor|stale|drop|unknown|fenc|lost|cancel", ln, re.I)]
    chk.ok(not stale, "%s: the job manager's log shows nothing taken from the stale task manager" % what, stale[:5])
    print("%s: the stale task manager's log:\n  %s" %
          (what, "\n  ".join(daemon.log_text()[tm_mark:].strip().splitlines()[-8:])), flush=True)
    print("%s: the job manager's log after the cut:\n  %s" %
          (what, "\n  ".join([ln for ln in after.splitlines() if "checkpoint" not in ln][-8:])), flush=True)
    return cluster.latest_completed_id(c, jid) or chk_id


def main():
    ap = cluster.arg_parser(__doc__)
    ap.add_argument("--lines", type=int, default=180000)
    ap.add_argument("--rate", type=int, default=6000)
    a = ap.parse_args()
    chk = cluster.Checks()
    with netns.Net(4) as net, cluster.Cluster(a.build, taskmanagers=3, slots=2, name="netns-partition",
                                              keep=a.keep, checks=chk, hosts=net.hosts) as c:
        c.conf.update({"state.checkpoints.dir": c.path("checkpoints"),
                       "execution.checkpointing.interval": "500ms"})
        c.start()
        inp = cluster.write_words(c.path("input.txt"), random.Random(1903), 3000, a.lines)
        out = c.path("out")
        expected = check_counts.expected_counts([inp])
        jid = c.submit(c.plugin(), ["--input", inp, "--output", out, "--rate", str(a.rate)], parallelism=4)
        print("job %s: wordcount -p 4, %d lines at %d lines/s over 3 task-manager hosts" %
              (jid, a.lines, a.rate), flush=True)
        try:
            last = 0
            for rnd, short in ((1, False), (2, True)):
                last = partition_round(chk, c, jid, rnd, short, last)
            c.wait_job(jid, {"FINISHED"}, timeout=240)
            chk.ok(True, "the job ends FINISHED")
        except cluster.ClusterError as e:
            chk.fail(str(e))
            c.dump_logs()
        check_counts.verify(chk, expected, out, "wordcount p=4 with a task-manager host cut off")
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
