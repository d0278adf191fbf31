#!/usr/bin/env python3
"""rocksdb_rss - a task manager's resident memory while one job holds GBs of
RocksDB state under taskmanager.memory.managed.size (issue 20, acceptance 4).

A job manager and one task manager (one slot) on 127.0.0.1, the task manager
started with -D taskmanager.memory.managed.size=M (default 512mb) and
state.backend: rocksdb; wordcount.so at -p 1 over a text of distinct words
(about 50 bytes of RocksDB state each, key and value, after compression:
--state-gb of it), output discarded, an incremental checkpoint every 10 s.
A sampler reads the task manager's VmRSS from /proc every 0.25 s for the
whole run. Prints the peak and the percentiles of RSS, the state size of
the last checkpoint and the size of the RocksDB folder on disk, and whether
the peak stayed under --limit (default 1024 MB). Exit status 0 when it
did and the job FINISHED, 1 otherwise.

Usage: rocksdb_rss.py --build BUILD [--state-gb 2] [--managed 512mb]
                      [--limit-mb 1024] [--keep]
"""
import argparse
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import cluster  # noqa: E402

BYTES_PER_WORD = 50  # RocksDB state per distinct word (key group, word, count) after compression, measured


def rss_mb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def du_mb(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total / 1048576.0


def write_input(path, nwords):
    """Distinct 48-byte words of scrambled hex (so that RocksDB's block
    compression does not shrink the state much), 8 per line."""
    m = (1 << 64) - 1
    with open(path, "w") as f:
        line = []
        for i in range(nwords):
            h = (i * 0x9E3779B97F4A7C15) & m
            line.append("%016x%016x%016x" % (h, (h * 0xC2B2AE3D27D4EB4F) & m, i))
            if len(line) == 8:
                f.write(" ".join(line) + "\n")
                line = []
        if line:
            f.write(" ".join(line) + "\n")


def pct(v, q):
    s = sorted(v)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--state-gb", type=float, default=2.0)
    ap.add_argument("--managed", default="512mb")
    ap.add_argument("--limit-mb", type=float, default=1024)
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    nwords = int(a.state_gb * 1024 ** 3 / BYTES_PER_WORD)
    with cluster.Cluster(build, taskmanagers=1, slots=1, name="rocksdb-rss", log=lambda m: None, keep=a.keep,
                         conf={"state.backend": "rocksdb", "taskmanager.memory.managed.size": a.managed,
                               "execution.checkpointing.interval": "10s"}) as c:
        c.conf["state.checkpoints.dir"] = c.path("chk")
        c.conf["state.backend.rocksdb.localdir"] = c.path("rocksdb")
        inp = c.path("words.txt")
        t0 = time.time()
        write_input(inp, nwords)
        print("input: %d distinct words (%.0f MB) written in %.0f s" %
              (nwords, os.path.getsize(inp) / 1048576.0, time.time() - t0), flush=True)
        c.start()
        tm = c.tms[0].pid
        samples, stop = [], threading.Event()

        def sample():
            while not stop.is_set():
                r = rss_mb(tm)
                if r is not None:
                    samples.append((time.time(), r))
                stop.wait(0.25)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        t1 = time.time()
        jid = c.submit(os.path.join(build, "jobs", "wordcount.so"), ["--input", inp, "--output", ""], parallelism=1)
        state, last_print, disk_peak = None, 0, 0.0
        while time.time() - t1 < a.timeout:
            state = c.job_state(jid)
            if state in cluster.TERMINAL:
                break
            if time.time() - last_print >= 30:
                last_print = time.time()
                disk = du_mb(c.path("rocksdb"))
                disk_peak = max(disk_peak, disk)
                print("  %4.0f s: RSS %.0f MB, RocksDB folder %.0f MB" %
                      (time.time() - t1, samples[-1][1] if samples else -1, disk), flush=True)
            time.sleep(1)
        took = time.time() - t1
        stop.set()
        th.join()
        cps = c.get("/jobs/%s/checkpoints" % jid)
        latest = (cps.get("latest") or {}).get("completed") or {}
        counts = cps.get("counts") or {}
        rss = [r for _, r in samples]
        print("job %s %s after %.0f s (%.0f words/s)" % (jid, state, took, nwords / took if took else 0))
        print("checkpoints: %s completed, %s failed; the last one: state %.0f MB (incremental: %.0f MB written)" %
              (counts.get("completed"), counts.get("failed"), (latest.get("state_size") or 0) / 1048576.0,
               (latest.get("checkpointed_size") or 0) / 1048576.0))
        print("RocksDB folder on disk: peak %.0f MB (sampled every 30 s)" % disk_peak)
        if rss:
            print("task manager RSS over %d samples: p50 %.0f MB, p99 %.0f MB, peak %.0f MB (limit %.0f MB, "
                  "managed %s)" % (len(rss), pct(rss, 0.5), pct(rss, 0.99), max(rss), a.limit_mb, a.managed))
        ok = state == "FINISHED" and rss and max(rss) < a.limit_mb
        print("RESULT: %s" % ("under the limit for the whole run" if ok else "NOT met"))
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
