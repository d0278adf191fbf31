#!/usr/bin/env python3
"""state_memory - keyed state within taskmanager.memory.managed.size
(issue 20, "Memory that a user can bound"; docs/state.md "Memory").

1. `flinc local -p 2 -D taskmanager.memory.managed.size=32mb` wordcount over
   3,000,000 distinct words (about 150 MB of hashmap state): the job FAILS
   within seconds with "managed memory exhausted
   (taskmanager.memory.managed.size)" and one warning naming the size,
   exit status 1 (not a signal: no OOM kill), and its peak RSS stays far
   below what the state would need.
2. The same input with 512mb: FINISHED, the counts exact (nothing of the
   accounting changes results).
3. The same 32mb with state.backend: rocksdb: FINISHED with exact counts
   (RocksDB spills to disk; its shared cache and write buffers fit the
   size).
4. A task manager started with 64mb: GET /taskmanagers reports
   hardware.managedMemory 67108864, and while a stateful job runs
   hardware.managedMemoryUsed
   grows above 0; /metrics has flinc_taskmanager_Status_Flink_Memory_Managed_
   Total and _Used.
5. A task manager given 8mb or "lots" refuses to start with one line.

Usage: state_memory.py --build BUILD [--keep]
"""
import os
import random
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import check_counts  # noqa: E402
import cluster  # noqa: E402

WORDS = 3000000


def write_input(path):
    rnd = random.Random(7)
    words = ["k%07d" % i for i in range(WORDS)]
    rnd.shuffle(words)
    with open(path, "w") as f:
        for i in range(0, WORDS, 20):
            f.write(" ".join(words[i:i + 20]) + "\n")
        # some repeats, so counts above 1 are checked too
        for i in range(0, 200000, 20):
            f.write(" ".join(words[i:i + 20]) + "\n")


def run_local(build, inp, out, conf):
    argv = cluster.local_argv(build, "wordcount", 2, conf) + ["--input", inp, "--output", out]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.monotonic()
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return r.returncode, r.stdout.decode(errors="replace"), time.monotonic() - t0, max(rss, before)


def main():
    a = cluster.arg_parser(__doc__).parse_args()
    chk = cluster.Checks()
    why = cluster.missing(a.build, "bin/flinc", "jobs/wordcount.so", "bin/flinc-taskmanager")
    if why:
        chk.fail(why)
        return chk.report()
    with cluster.scratch_dir("flinc-state-memory-", keep=a.keep, failed=lambda: chk.errors) as tmp:
        inp = os.path.join(tmp, "words.txt")
        write_input(inp)
        expected = check_counts.expected_counts([inp])

        rc, log, took, rss = run_local(a.build, inp, os.path.join(tmp, "out-32mb"),
                                       {"taskmanager.memory.managed.size": "32mb"})
        chk.ok(rc == 1 and "managed memory exhausted (taskmanager.memory.managed.size)" in log,
               "32mb, hashmap: the job fails with 'managed memory exhausted' (exit %d, %.1f s)" % (rc, took),
               log[-600:])
        chk.ok("keyed state needs more than taskmanager.memory.managed.size (32 MB" in log,
               "a warning names the size", log[-600:])

        rc, log, took, _ = run_local(a.build, inp, os.path.join(tmp, "out-512mb"),
                                     {"taskmanager.memory.managed.size": "512mb"})
        errs = check_counts.check_output(expected, os.path.join(tmp, "out-512mb")) if rc == 0 else ["exit %d" % rc]
        chk.ok(rc == 0 and not errs, "512mb, hashmap: FINISHED with exact counts (%.1f s)" % took,
               (errs[:3], log[-400:]))

        rc, log, took, _ = run_local(a.build, inp, os.path.join(tmp, "out-rocksdb"),
                                     {"taskmanager.memory.managed.size": "32mb", "state.backend": "rocksdb"})
        errs = check_counts.check_output(expected, os.path.join(tmp, "out-rocksdb")) if rc == 0 else ["exit %d" % rc]
        chk.ok(rc == 0 and not errs, "32mb, rocksdb: FINISHED with exact counts (%.1f s)" % took,
               (errs[:3], log[-400:]))

        with cluster.Cluster(a.build, taskmanagers=1, slots=2, name="managed", keep=a.keep, checks=chk,
                             tm_conf={"taskmanager.memory.managed.size": "64mb"}) as c:
            c.start()
            tms = c.taskmanagers()
            tm = tms[0] if tms else {}
            hw = tm.get("hardware", {})
            chk.ok(hw.get("managedMemory") == 64 << 20, "GET /taskmanagers: hardware.managedMemory %s (64mb)" %
                   hw.get("managedMemory"))
            jid = c.submit(c.plugin("wordcount"), ["--input", inp, "--output", os.path.join(tmp, "out-cluster"),
                                                   "--rate", "20000"], parallelism=2)
            c.wait_running(jid, timeout=60)
            used = 0
            t0 = time.monotonic()
            while time.monotonic() - t0 < 20 and used <= 0:
                time.sleep(0.5)
                tms = c.taskmanagers()
                used = tms[0].get("hardware", {}).get("managedMemoryUsed", 0) if tms else 0
            chk.ok(used > 0, "managedMemoryUsed rises while the job runs (%s bytes)" % used)
            st, body = c.request("GET", "/metrics")
            text = body if isinstance(body, str) else str(body)
            chk.ok("flinc_taskmanager_Status_Flink_Memory_Managed_Total{" in text and
                   "flinc_taskmanager_Status_Flink_Memory_Managed_Used{" in text,
                   "/metrics has the managed memory gauges")
            c.request("PATCH", "/jobs/%s" % jid)

        tmbin = os.path.join(a.build, "bin", "flinc-taskmanager")
        for bad, want in (("8mb", "too small"), ("lots", "not a size")):
            r = subprocess.run([tmbin, "-D", "taskmanager.memory.managed.size=" + bad,
                                "-D", "jobmanager.rpc.port=1"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=30)
            text = r.stdout.decode(errors="replace")
            chk.ok(r.returncode != 0 and want in text and len(text.strip().splitlines()) <= 2,
                   "a task manager given %s refuses to start (%s)" % (bad, want), text[-300:])
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
