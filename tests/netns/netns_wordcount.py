#!/usr/bin/env python3
"""netns_wordcount - wordcount across hosts (issue 19, acceptance 1).

Four namespace hosts on a private bridge (tests/netns/netns.py): the job
manager on 10.77.0.10, one task manager with two slots on each of
10.77.0.11-13. Nothing runs on 127.0.0.1: the RPC, control and data ports
bind 0.0.0.0 (jobmanager.bind-host, taskmanager.bind-host) while the
daemons advertise their host's address (taskmanager.host), every
connection crosses the bridge and authenticates with the cluster secret.

Checks: three task managers register with their own addresses;
`flinc run -p 6 wordcount.so` (checkpoints every 500 ms) finishes; every
vertex has subtasks on all three hosts; the output holds the counts 1..n
once each for every word (check_counts.py); the task managers' data and
control addresses in /taskmanagers are their hosts' addresses.

With --tls (issue 19, acceptance 4 on the hosts): TLS on every RPC,
control, data and REST connection (security.ssl.*, certificates of a test
CA from scripts/make-test-ca.sh for the hosts' addresses); the addresses
in /taskmanagers are then tls+tcp://.

Usage: netns_wordcount.py --build BUILD_DIR [--lines N] [--tls] [--keep]
"""
import os
import random
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import check_counts  # noqa: E402
import cluster  # noqa: E402
import netns  # noqa: E402


def main():
    ap = cluster.arg_parser(__doc__)
    ap.add_argument("--lines", type=int, default=200000)
    ap.add_argument("--tls", action="store_true", help="TLS on every connection")
    a = ap.parse_args()
    chk = cluster.Checks()
    ca = None
    if a.tls:
        ca = cluster.tls_ca(tempfile.mkdtemp(prefix="flinc-netns-ca-"),
                            ["node," + ",".join("10.77.0.%d" % i for i in range(10, 20))])
    with netns.Net(4) as net, cluster.Cluster(a.build, taskmanagers=3, slots=2, name="netns-wordcount", keep=a.keep,
                                              checks=chk, hosts=net.hosts, tls=ca,
                                              jm_conf={"jobmanager.bind-host": "0.0.0.0"},
                                              tm_conf={"taskmanager.bind-host": "0.0.0.0"},
                                              conf={"execution.checkpointing.interval": "500ms"}) as c:
        c.conf["state.checkpoints.dir"] = c.path("checkpoints")
        c.start()
        tms = c.taskmanagers()
        print("  task managers: %s" % [(t.get("id"), t.get("path") or t.get("address")) for t in tms])
        chk.ok(len(tms) == 3, "3 task managers registered across the bridge", len(tms))
        text = str(tms)
        for h in net.hosts[1:]:
            chk.ok(h.addr in text, "a task manager advertises %s (its host's address)" % h.addr, text[:400])
        chk.ok("127.0.0.1" not in text, "no task manager advertises 127.0.0.1", text[:400])
        if a.tls:
            chk.ok(all(t.get("path", "").startswith("tls+tcp://") and t.get("dataAddress", "").startswith("tls+tcp://")
                       for t in tms), "control and data addresses are tls+tcp://", text[:400])
        # taskmanager.bind-host / jobmanager.bind-host 0.0.0.0: every port
        # listens on the wildcard while the advertised addresses stay the
        # hosts' own.
        for h in net.hosts:
            ss = h.run(["ss", "-Hltn"]).stdout
            wild = [ln.split()[3] for ln in ss.splitlines() if ln.split()[3].startswith("0.0.0.0:")]
            chk.ok(len(wild) >= (1 if h is net.hosts[0] else 2),
                   "%s: the flinc ports bind 0.0.0.0 (%s)" % (h.addr, ", ".join(wild)), ss)

        inp = cluster.write_words(c.path("input.txt"), random.Random(1919), 3000, a.lines)
        out = c.path("out")
        expected = check_counts.expected_counts([inp])
        proc = c.flinc_popen("run", "-p", "6", c.plugin(), "--input", inp, "--output", out)
        jid = None
        placements = None
        for line in proc.stdout:
            jid = jid or cluster.job_id_of(line)
            if jid and placements is None:
                try:
                    c.wait_running(jid, timeout=60)
                except (cluster.ClusterError, OSError, ValueError) as e:
                    # A release build can finish the job before the first
                    # poll; the finished job still names where its
                    # subtasks ran.
                    print("  job not seen RUNNING: %s" % str(e)[:200])
                try:
                    placements = c.placements(jid)
                except (cluster.ClusterError, OSError, ValueError) as e:
                    print("  placement not visible: %s" % e)
                    placements = {}
        rc = proc.wait(timeout=300)
        err = proc.stderr.read()
        chk.ok(rc == 0, "flinc run -p 6 over three hosts exits 0 (FINISHED)", err[-500:])
        if placements:
            for vid, subs in placements.items():
                chk.ok(len(set(subs.values())) == 3, "vertex %s has subtasks on all 3 task managers" % vid[:8],
                       subs)
        else:
            chk.fail("the placement of the job was visible")
        check_counts.verify(chk, expected, out, "wordcount p=6 over three hosts")
        if jid:
            cps = c.get("/jobs/%s/checkpoints" % jid).get("counts", {})
            print("  checkpoints: %s" % cps)
    if ca:
        cluster.keep_or_remove(ca, a.keep)
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
