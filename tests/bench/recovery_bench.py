#!/usr/bin/env python3
"""recovery_bench - time from kill -9 of a task manager to every subtask
RUNNING again, for a job with a given amount of keyed state (issue 4,
acceptance 2).

A job manager and 3 task managers (2 slots each) on 127.0.0.1; wordcount.so
at -p 2 over a text of distinct words (so the counter's keyed state grows to
about --state-mb), then a tail read slowly (--rate) so the job keeps
running; a checkpoint every 2 s. Once the state is loaded and a checkpoint
of it completed, a task manager running tasks is killed and a new one
started, --kills times; each time the script polls GET /jobs/:jid every
10 ms and prints the time until every subtask is RUNNING again (restore
included: the subtasks report RUNNING after their state is loaded). Prints
the median. The output is not checked here (the chaos tests do that).

Usage: recovery_bench.py --build BUILD [--state-mb 100] [--kills 5] [--backend hashmap]
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import cluster  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--state-mb", type=int, default=100)
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--backend", default="hashmap")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    with cluster.Cluster(build, taskmanagers=3, slots=2, name="recovery-bench", log=lambda m: None,
                         conf={"state.checkpoints.dir": "", "execution.checkpointing.interval": "2s",
                               "state.backend": a.backend}) as c:
        c.conf["state.checkpoints.dir"] = c.path("chk")
        c.start()
        inp = c.path("input.txt")
        # ~48 bytes of state per distinct word in the memory backend
        nwords = a.state_mb * 1024 * 1024 // 48
        with open(inp, "w") as f:
            for i in range(0, nwords, 8):
                f.write(" ".join("w%09dx%d" % (i + k, k) for k in range(8)) + "\n")
            for i in range(2000000):
                f.write("tail%d\n" % (i % 1000))
        loaded_lines = nwords // 8
        jid = c.submit(os.path.join(build, "jobs", "wordcount.so"),
                       ["--input", inp, "--output", c.path("out"), "--rate", "200000"], parallelism=2)
        # wait until the distinct words are read and a checkpoint after that completed
        t_load = loaded_lines / 200000.0 + 3
        time.sleep(t_load)
        # ... and the state stopped growing: two checkpoints in a row of about the same size
        seen = []

        def loaded():
            lc = c.get("/jobs/%s/checkpoints" % jid)["latest"]["completed"] or {}
            if lc.get("id") and (not seen or seen[-1]["id"] != lc["id"]):
                seen.append(lc)
                print("  checkpoint %d: state %.1f MB" % (lc["id"], lc.get("state_size", 0) / 1e6), flush=True)
            return len(seen) >= 2 and abs(seen[-1]["state_size"] - seen[-2]["state_size"]) <= 0.02 * seen[-1]["state_size"]
        cluster.wait_until(loaded, 300, "the state to be loaded and checkpointed")
        latest = seen[-1]
        size = latest.get("state_size", 0)
        print("state: %d distinct words, latest checkpoint holds %.1f MB of state (%.1f MB written for it: "
              "incremental checkpoints write only new files)" %
              (nwords, size / 1e6, latest.get("checkpointed_size", 0) / 1e6), flush=True)
        times = []
        for k in range(a.kills):
            pl = c.placements(jid)
            used = {tm for v in pl.values() for tm in v.values()}
            victim = next(i for i, d in enumerate(c.tms) if d.alive() and any(u.split(":")[1] == str(d.pid) for u in used))
            t0 = time.monotonic()
            c.kill_taskmanager(victim)
            c.start_taskmanager(wait=False)
            time.sleep(0.02)

            def all_running():
                job = c.get("/jobs/" + jid)
                if job["state"] != "RUNNING":
                    return False
                return all(s["status"] == "RUNNING" for v in job["vertices"] for s in v.get("subtasks", []))
            cluster.wait_until(all_running, 120, "every subtask RUNNING", interval=0.01)
            dt = time.monotonic() - t0
            times.append(dt)
            print("kill %d: every subtask RUNNING again after %.3f s" % (k + 1, dt), flush=True)
            cluster.wait_until(lambda: c.get("/jobs/%s/checkpoints" % jid)["counts"]["completed"] >=
                               c.get("/jobs/%s/checkpoints" % jid)["counts"]["restored"] + 1, 120, "a checkpoint")
            time.sleep(2.5)
        print("median %.3f s over %d kills (state %.1f MB, backend %s)" %
              (statistics.median(times), len(times), size / 1e6, a.backend))
        c.request("PATCH", "/jobs/%s?mode=cancel" % jid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
