#!/usr/bin/env python3
"""incremental_ckpt_bench - size, duration and alignment time of every
checkpoint of a job with a large RocksDB state of which a small part changes
between checkpoints (issue 4, acceptance 5: "with 1 GB of RocksDB state of
which 1% changes between checkpoints, a checkpoint uploads only new files").

A job manager and 1 task manager (2 slots) on 127.0.0.1, state.backend
--backend (rocksdb), a checkpoint every --interval (10s), 2 checkpoints retained.
tests/plugins/state_churn.so at -p --parallelism (2) first loads --keys keys
of --value-bytes bytes each into value state (4M x 256 B: about 1 GB), then
updates --churn-per-sec random keys per second (4000: about 1% of the keys
per 10 s) for --duration-s seconds, and finishes.

While the job runs, the script polls GET /jobs/:jid/checkpoints every 0.5 s
and prints one line per completed checkpoint: its id, trigger time since the
submit, state_size and checkpointed_size (what that checkpoint wrote new) in
MB, end_to_end_duration and alignment_duration in ms, as the job manager
reports them; then what it sees on disk right after the completion,
independently of REST: the bytes of the files under <chk>/<jid>/shared/ that
were not there (or had another size) at the previous completed checkpoint
("new shared"), the total under shared/, and the size of chk-<n>/ (the
checkpoint's private part). Sizes on disk are apparent sizes (st_size), each
path counted once, taken within about 0.5 s of the completion (with a short
interval, files of the next checkpoint may already be there). The load is
taken as finished when the keyed operator's read-records (heartbeat metrics,
so up to a heartbeat late) reach --keys; the summary gives the first
checkpoint's size and the medians of the checkpoints triggered after that.

With full snapshots every checkpoint writes the whole state (private part
~ state size, nothing under shared/); with RocksDB incremental checkpoints
only the new SST files land in shared/ and checkpointed_size drops to about
what changed.

Exits 1 with the job's root exception when the job fails (restarts are off:
restart-strategy none, so a failure is FAILED), or when it has not finished
within --timeout (it is then canceled). With --duration-s 0 the job never
ends: it is canceled at --timeout and the summary printed (exit 0).

Usage: incremental_ckpt_bench.py --build BUILD [--interval 10s] [--keys 4000000]
           [--value-bytes 256] [--churn-per-sec 4000] [--duration-s 60]
           [--parallelism 2] [--timeout SECONDS] [--keep]
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import cluster  # noqa: E402

MB = 1e6


def tree_files(root):
    """{relative path: st_size} of the regular files under root ({} when absent)."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            try:
                st = os.lstat(p)
            except FileNotFoundError:  # removed while we walk
                continue
            if not os.path.islink(p):
                out[os.path.relpath(p, root)] = st.st_size
    return out


def tree_size(root):
    """Apparent size of the files under root, or None when root is gone."""
    if not os.path.isdir(root):
        return None
    return sum(tree_files(root).values())


def fmt_mb(n, width=9):
    return ("%*.2f" % (width, n / MB)) if n is not None else "%*s" % (width, "gone")


def median(xs):
    return statistics.median(xs) if xs else None


def parse_seconds(s):
    """'10s', '500ms', '2min', '1m', '10' -> seconds (float)."""
    s = s.strip().lower()
    for suffix, mul in (("ms", 0.001), ("min", 60.0), ("s", 1.0), ("m", 60.0)):
        if s.endswith(suffix):
            return float(s[:-len(suffix)]) * mul
    return float(s)


class Bench:
    def __init__(self, c, a, jid, t_submit):
        self.c = c
        self.a = a
        self.jid = jid
        self.t_submit = t_submit
        self.jobdir = os.path.join(c.path("chk"), jid)
        self.shared_seen = {}  # shared/ files at the previous completed checkpoint
        self.done_ids = set()
        self.rows = []  # one dict per completed checkpoint
        self.t_load = None  # seconds since submit when the load was seen finished
        self.store_vid = None

    def rel(self, epoch_ms):
        return epoch_ms / 1000.0 - self.t_submit

    def header(self):
        print("%4s %8s %10s %10s %8s %8s %8s | %10s %10s %10s" %
              ("id", "trigger", "state", "ckpt", "e2e", "align", "sync", "new shared", "shared", "chk-n"), flush=True)
        print("%4s %8s %10s %10s %8s %8s %8s | %10s %10s %10s" %
              ("", "s", "MB", "MB", "ms", "ms", "ms", "MB (disk)", "MB (disk)", "MB (disk)"), flush=True)

    def check_load(self, job):
        """Note when the keyed operator has read every key once."""
        if self.t_load is not None:
            return
        for v in job.get("vertices", []):
            if self.store_vid is None and "store" in v.get("name", ""):
                self.store_vid = v["id"]
            if v["id"] == self.store_vid:
                n = (v.get("metrics") or {}).get("read-records", 0)
                if n >= self.a.keys:
                    self.t_load = time.time() - self.t_submit
                    print("-- load finished (store read %d records) at %.1f s" % (n, self.t_load), flush=True)

    def poll_checkpoints(self):
        cps = self.c.get("/jobs/%s/checkpoints" % self.jid)
        for h in sorted(cps.get("history") or [], key=lambda x: x["id"]):
            cid = h["id"]
            if cid in self.done_ids or h.get("status") == "IN_PROGRESS":
                continue
            self.done_ids.add(cid)
            if h.get("status") != "COMPLETED":
                print("%4d %8.1f  %s: %s" % (cid, self.rel(h.get("trigger_timestamp", 0)), h.get("status"),
                                             h.get("failure_message", "")), flush=True)
                continue
            # on disk, right after the completion (before the next checkpoint writes much)
            shared = tree_files(os.path.join(self.jobdir, "shared"))
            new_shared = sum(sz for p, sz in shared.items() if self.shared_seen.get(p) != sz)
            self.shared_seen = shared
            chk = h.get("external_path") or os.path.join(self.jobdir, "chk-%d" % cid)
            row = {
                "id": cid,
                "trigger": self.rel(h["trigger_timestamp"]),
                "state": h.get("state_size", 0),
                "ckpt": h.get("checkpointed_size", 0),
                "e2e": h.get("end_to_end_duration", 0),
                "align": h.get("alignment_duration", 0),
                "sync": h.get("sync_duration", 0),
                "new_shared": new_shared,
                "shared": sum(shared.values()),
                "private": tree_size(chk),
            }
            self.rows.append(row)
            print("%4d %8.1f %10.2f %10.2f %8d %8d %8d | %s %s %s" %
                  (cid, row["trigger"], row["state"] / MB, row["ckpt"] / MB, row["e2e"], row["align"], row["sync"],
                   fmt_mb(row["new_shared"], 10), fmt_mb(row["shared"], 10), fmt_mb(row["private"], 10)),
                  flush=True)

    def summary(self):
        a = self.a
        print("-- summary (%d keys x %d B, %g updates/s for %g s, -p %d, interval %s)" %
              (a.keys, a.value_bytes, a.churn_per_sec, a.duration_s, a.parallelism, a.interval))
        if not self.rows:
            print("no checkpoint completed")
            return
        first = self.rows[0]
        print("first checkpoint (%d): state %.2f MB, checkpointed %.2f MB, %d ms, alignment %d ms" %
              (first["id"], first["state"] / MB, first["ckpt"] / MB, first["e2e"], first["align"]))
        if self.t_load is None:
            print("the load was not seen finished: no checkpoint counts as after the load")
            return
        after = [r for r in self.rows if r["trigger"] >= self.t_load]
        if not after:
            print("no checkpoint completed after the load finished (at %.1f s)" % self.t_load)
            return
        mc = median([r["ckpt"] for r in after])
        ms = median([r["state"] for r in after])
        print("after the load (%d checkpoints triggered after %.1f s): median checkpointed %.2f MB of %.2f MB state "
              "(%.2f%%), median duration %d ms, median alignment %d ms (max %d ms), median synchronous part %d ms "
              "(max %d ms), median new under shared/ %.2f MB, "
              "median chk-<n> %s MB" %
              (len(after), self.t_load, mc / MB, ms / MB, 100.0 * mc / ms if ms else 0.0,
               median([r["e2e"] for r in after]), median([r["align"] for r in after]),
               max(r["align"] for r in after), median([r["sync"] for r in after]), max(r["sync"] for r in after),
               median([r["new_shared"] for r in after]) / MB,
               fmt_mb(median([r["private"] for r in after if r["private"] is not None]), 0)
               if any(r["private"] is not None for r in after) else "gone"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True, help="the build folder (bin/, tests/plugins/)")
    ap.add_argument("--interval", default="10s", help="execution.checkpointing.interval (default 10s)")
    ap.add_argument("--keys", type=int, default=4000000)
    ap.add_argument("--value-bytes", type=int, default=256)
    ap.add_argument("--churn-per-sec", type=float, default=4000)
    ap.add_argument("--duration-s", type=float, default=60, help="churn phase; 0 = until --timeout")
    ap.add_argument("--parallelism", type=int, default=2)
    ap.add_argument("--backend", choices=("rocksdb", "hashmap"), default="rocksdb",
                    help="state.backend (hashmap: full snapshots, for comparison)")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds from submit before the job is canceled (default: duration + 1200)")
    ap.add_argument("--keep", action="store_true", help="keep the cluster's folder (checkpoints, logs)")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    plugin = os.path.join(build, "tests", "plugins", "state_churn.so")
    if not os.path.exists(plugin):
        sys.exit("incremental_ckpt_bench: %s is missing: build the tree first" % plugin)
    if a.parallelism < 1:
        sys.exit("incremental_ckpt_bench: --parallelism must be >= 1")
    try:
        parse_seconds(a.interval)
    except ValueError:
        sys.exit("incremental_ckpt_bench: --interval: not a duration: %s" % a.interval)
    timeout = a.timeout if a.timeout is not None else a.duration_s + 1200

    conf = {"state.backend": a.backend, "state.checkpoints.dir": "", "execution.checkpointing.interval": a.interval,
            "state.checkpoints.num-retained": 2, "restart-strategy": "none"}
    with cluster.Cluster(build, taskmanagers=1, slots=max(2, a.parallelism), name="incr-ckpt-bench",
                         conf=conf, keep=a.keep, log=lambda m: None) as c:
        c.conf["state.checkpoints.dir"] = c.path("chk")
        c.start()
        print("state_churn: %d keys x %d B (~%.0f MB of values), %g updates/s (per interval: updates = %.2f%% of "
              "the keys) for %g s, -p %d, checkpoint interval %s, %s" %
              (a.keys, a.value_bytes, a.keys * a.value_bytes / MB, a.churn_per_sec,
               100.0 * a.churn_per_sec * parse_seconds(a.interval) / a.keys, a.duration_s, a.parallelism,
               a.interval, a.backend), flush=True)
        t_submit = time.time()
        jid = c.submit(plugin, ["--keys", a.keys, "--value-bytes", a.value_bytes, "--churn-per-sec",
                                "%g" % a.churn_per_sec, "--duration-s", "%g" % a.duration_s],
                       parallelism=a.parallelism)
        print("job %s, checkpoints in %s" % (jid, os.path.join(c.path("chk"), jid)), flush=True)
        b = Bench(c, a, jid, t_submit)
        b.header()
        state = None
        rc = 0
        error = None  # why the run failed
        while True:
            job = c.job(jid)
            state = job.get("state")
            b.check_load(job)
            b.poll_checkpoints()
            if state in cluster.TERMINAL:
                break
            if time.time() - t_submit > timeout:
                if a.duration_s > 0:
                    error = "the job did not finish within %.0f s: canceled" % timeout
                c.request("PATCH", "/jobs/%s?mode=cancel" % jid)
                c.wait_job(jid, cluster.TERMINAL, timeout=60)
                b.poll_checkpoints()
                state = c.job_state(jid)
                break
            time.sleep(0.5)
        print("-- job %s after %.1f s" % (state, time.time() - t_submit), flush=True)
        b.summary()
        if state == "FAILED":
            root = c.exceptions(jid)
            if isinstance(root, dict):
                root = root.get("root-exception")
            error = "the job FAILED: %s" % root
            c.failed = True  # keep the folder and print the daemons' log tails
        elif state == "CANCELED" and error is None and a.duration_s > 0:
            error = "the job was canceled from outside"
        if error:
            print("incremental_ckpt_bench: %s" % error, flush=True)
            rc = 1
        tmp = c.tmp
    if error and c.failed:  # again below the log tails the cluster printed on the way out
        sys.stderr.write("incremental_ckpt_bench: %s (files kept in %s)\n" % (error, tmp))
    elif a.keep:
        print("files kept in %s" % tmp)
    return rc


if __name__ == "__main__":
    sys.exit(main())
