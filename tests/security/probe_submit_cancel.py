#!/usr/bin/env python3
"""probe_submit_cancel - jobs submitted and cancelled in a loop, each while it
runs, with the job manager's and the task manager's threads and memory
printed before and after (issue 15, acceptance 3).

A job manager and one task manager with two slots on 127.0.0.1; the job is
nexmark.so --query 5 at -p 2 with hashmap state and checkpoints every 200 ms
(every channel in-process, a coordinator per job), an endless generator.
Each round: POST /jars/:id/run, wait until every vertex RUNS, let it run a
moment (0 to --max-delay s, varied), PATCH /jobs/:jid?mode=cancel, wait for
CANCELED and both slots free. The job store keeps 20 ended jobs
(jobstore.max-capacity), so memory the job manager may legitimately keep is
bounded and what grows beyond it is a leak.

Checks: every round ends CANCELED with the task manager alive (same pid);
after a warm-up of --warmup rounds and at the end, the threads of both
daemons (from /proc/PID/status) and their RSS are printed; threads at the
end may exceed the warm-up count by at most 2, RSS by at most 25 % + 16 MB
(release builds only: an ASan build keeps freed memory in quarantine, so its
RSS is printed but not judged); no daemon's log holds a sanitizer report.

CI runs 100 rounds (release and ASan); the acceptance run is
`probe_submit_cancel.py --build build --jobs 1000`.

Usage: probe_submit_cancel.py --build BUILD_DIR [--jobs N] [--warmup N] [--max-delay S] [--keep]
"""

import argparse
import os
import random
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import cluster  # noqa: E402

SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "ThreadSanitizer", "runtime error:",
                   "unaligned tcache", "double free", "corrupted")


def threads(pid):
    with open("/proc/%d/status" % pid) as f:
        m = re.search(r"^Threads:\s+(\d+)", f.read(), re.M)
    return int(m.group(1)) if m else -1


def sanitized(build):
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            m = re.search(r"^FLINC_SANITIZER:\w+=(.*)$", f.read(), re.M)
        return bool(m and m.group(1).strip())
    except OSError:
        return False


def snapshot(c):
    jm, tm = c.jm.proc.pid, c.tms[0].proc.pid
    return {"jm_threads": threads(jm), "tm_threads": threads(tm),
            "jm_rss_kb": cluster.rss_kb(jm), "tm_rss_kb": cluster.rss_kb(tm)}


def one_round(c, chk, jar, rnd, delay, tm_pid):
    try:
        jid = c.run_jar(jar, ["--query", "5", "--events", "1000000000", "--rate", "200000"], parallelism=2,
                        conf={"state.backend": "hashmap"})
        c.wait_running(jid, timeout=60)
    except cluster.ClusterError as e:
        return chk.fail("round %d: the job runs: %s" % (rnd, e))
    time.sleep(delay)
    st, body = c.request("PATCH", "/jobs/%s?mode=cancel" % jid)
    if st != 202:
        return chk.fail("round %d: PATCH mode=cancel answers 202: %d %s" % (rnd, st, body))
    try:
        c.wait_job(jid, {"CANCELED"}, timeout=60)
        cluster.wait_until(lambda: c.overview().get("slots-available") == 2, 30, "both slots free")
    except cluster.ClusterError as e:
        return chk.fail("round %d: %s" % (rnd, e))
    tm = c.tms[0]
    if not tm.alive() or tm.proc.pid != tm_pid:
        return chk.fail("round %d: the task manager is alive (exit %s)\n%s" %
                        (rnd, tm.proc.returncode, tm.tail(60)))
    if not c.jm.alive():
        return chk.fail("round %d: the job manager is alive\n%s" % (rnd, c.jm.tail(60)))
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--jobs", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--max-delay", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    job = os.path.join(build, "jobs", "nexmark.so")
    judge_rss = not sanitized(build)
    chk = cluster.Checks()
    rng = random.Random(a.seed)
    t0 = time.monotonic()
    done = 0
    with cluster.Cluster(build, taskmanagers=1, slots=2, name="submit-cancel", keep=a.keep) as c:
        c.checks = chk
        c.conf.update({"state.checkpoints.dir": c.path("checkpoints"),
                       "execution.checkpointing.interval": "200ms",
                       "jobstore.max-capacity": "20"})
        c.start()
        jar = c.upload_jar(job)
        tm_pid = c.tms[0].proc.pid
        start = snapshot(c)
        print("start:          %s" % start)
        warm = None
        for r in range(1, a.jobs + 1):
            if not one_round(c, chk, jar, r, a.max_delay * rng.random(), tm_pid):
                break
            done = r
            if r == min(a.warmup, a.jobs):
                warm = snapshot(c)
                print("after %4d jobs: %s" % (r, warm), flush=True)
            elif r % 100 == 0:
                print("after %4d jobs: %s (%.0f s)" % (r, snapshot(c), time.monotonic() - t0), flush=True)
        if done == a.jobs and warm:
            end = snapshot(c)
            print("after %4d jobs: %s" % (done, end))
            for who in ("jm", "tm"):
                chk.ok(end[who + "_threads"] <= warm[who + "_threads"] + 2,
                       "%s threads flat: %d after %d jobs, %d after %d" %
                       (who, warm[who + "_threads"], a.warmup, end[who + "_threads"], done))
                grow = end[who + "_rss_kb"] - warm[who + "_rss_kb"]
                limit = warm[who + "_rss_kb"] // 4 + 16 * 1024
                if judge_rss:
                    chk.ok(grow <= limit, "%s RSS flat: %d kB after %d jobs, %d kB after %d (limit +%d kB)" %
                           (who, warm[who + "_rss_kb"], a.warmup, end[who + "_rss_kb"], done, limit))
                else:
                    print("(sanitizer build: %s RSS %d -> %d kB not judged)" %
                          (who, warm[who + "_rss_kb"], end[who + "_rss_kb"]))
        logs = c.jm.log_text() + "".join(d.log_text() for d in c.tms)
        marks = [m for m in SANITIZER_MARKS if m in logs]
        chk.ok(not marks, "no daemon log holds a sanitizer or allocator report", marks)
    print("%d of %d jobs submitted and cancelled in %.1f s" % (done, a.jobs, time.monotonic() - t0))
    print("%d checks failed" % len(chk.errors) if chk.errors else "all checks passed")
    return 1 if chk.errors else 0


if __name__ == "__main__":
    sys.exit(main())
