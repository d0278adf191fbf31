#!/usr/bin/env python3
"""cluster_backpressure - a fast source behind a slow sink on a real cluster (a
job manager and two task managers with two slots each on 127.0.0.1).

What the issue asks (acceptance 3): "a sink that takes 1 ms per record behind
a fast source; the source slows down and task-manager memory stays under a
bound, while 10M records pass without loss". 10M records at 1 ms each would
take almost three hours, so this test measures the same thing in two phases
of one job, tests/plugins/slow_sink.so at -p 2 (source -> rebalance -> sink;
with slot sharing, source 0 and sink 0 run on one task manager, source 1
and sink 1 on the other, and the rebalance sends half of every source's
records to the other task manager over the network, half locally):

  phase 1  each sink subtask takes 1 ms per record for its first
           --slow-records (default 5000) records: about 2000 records/s in
           all. Checked: during this phase the records the source emitted
           minus those the sink took (records in flight) stay under
           --inflight-bound (default 200,000; the exchange buffers, 2x2
           channels x 8 buffers x 32 kB at ~50 bytes a record, hold about
           21,000, and ~23,000 were measured), and the source's rate over the
           last 3 seconds of the phase is within 20% (+1000/s) of the sink's.
           The window is long because the source moves in bursts of whole
           32 kB buffers (~650 records) as credit returns, and a loaded
           machine (sanitizer builds, tests in parallel) stalls it and lets
           it catch up: one second measured 4072/s against 1789/s once. An
           unthrottled source would run at the baseline's millions a second.
  phase 2  then each sink subtask sleeps 1 ms every --sleep-every (default
           100) records: at most 2 x 100,000 records/s, until all --count
           (default 10,000,000) records passed. Checked: over the middle of
           the phase the source's rate stays within 15% of the sink's,
           and far below the same source's speed against a sink that never
           sleeps (measured first, with a 3M-record run of the same job:
           at least 2x the sink's pace, or the test could not tell). A
           build whose source is slower than 4x that cap (the thread
           sanitizer's: ~200k/s) gets a smaller M, so the cap is a quarter
           of its baseline, and a --count smaller in proportion.
  always   every 100 ms the VmRSS of both task managers is read from
           /proc/PID/status: it must stay within --rss-bound-mb (default 64)
           of its value before the job started (the buffers are ~1 MB per
           task manager; without backpressure the source, ~50x faster than
           the sink, would queue ~500 MB a second).
  end      the job is FINISHED; every sink subtask's count and sum of
           record indices add up to exactly --count and 0+1+...+(count-1)
           (no loss, no duplicate), equal to the source's, every payload
           checked by the sink; the job's vertex metrics agree.

The rates come from progress files the job's subtasks rewrite in place
(slow_sink.c: DIR/source-<i>, DIR/sink-<i>: count, sum, done flag), read
directly from the shared disk, so they do not depend on how often task
managers report metrics.

Usage: cluster_backpressure.py --build BUILD_DIR [--count N] [--keep] ...
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402


def read_progress(d, kind):
    """(count, sum, all done) summed over the subtasks' files of a kind."""
    count = total = 0
    done = True
    n = 0
    for name in os.listdir(d):
        if not name.startswith(kind + "-"):
            continue
        try:
            with open(os.path.join(d, name)) as f:
                parts = f.read().split()
        except OSError:
            continue
        if len(parts) != 3:
            done = False
            continue
        n += 1
        count += int(parts[0])
        total += int(parts[1])
        done = done and parts[2] == "f"
    return count, total, done and n > 0, n


class Sampler(threading.Thread):
    """Every 100 ms: source and sink progress, and the task managers' RSS."""

    def __init__(self, progress_dir, pids):
        super().__init__(daemon=True)
        self.dir = progress_dir
        self.pids = pids
        self.samples = []  # (t, source count, sink count)
        self.rss_max = {p: 0 for p in pids}
        self.stop_flag = False

    def run(self):
        t0 = time.monotonic()
        while not self.stop_flag:
            src = read_progress(self.dir, "source")[0]
            snk = read_progress(self.dir, "sink")[0]
            self.samples.append((time.monotonic() - t0, src, snk))
            for p in self.pids:
                r = cluster.rss_kb(p)
                if r is not None:
                    self.rss_max[p] = max(self.rss_max[p], r)
            time.sleep(0.1)

    def at(self, t):
        """The last sample taken at or before t."""
        best = self.samples[0]
        for s in self.samples:
            if s[0] <= t:
                best = s
        return best


def rate(a, b):
    dt = b[0] - a[0]
    return ((b[1] - a[1]) / dt, (b[2] - a[2]) / dt) if dt > 0 else (0.0, 0.0)


def vertex_records(job):
    """(source write-records, sink read-records) from GET /jobs/:jid."""
    src = snk = None
    for v in job.get("vertices", []):
        m = v.get("metrics") or {}
        if "source" in v.get("name", "").lower():
            src = m.get("write-records")
        if "sink" in v.get("name", "").lower():
            snk = m.get("read-records")
    return src, snk


def main():
    ap = cluster.arg_parser(__doc__)
    ap.add_argument("--count", type=int, default=10_000_000)
    ap.add_argument("--slow-records", type=int, default=5000, help="per sink subtask, 1 ms each")
    ap.add_argument("--sleep-every", type=int, default=100, help="phase 2: 1 ms every M records")
    ap.add_argument("--inflight-bound", type=int, default=200_000)
    ap.add_argument("--rss-bound-mb", type=int, default=64)
    ap.add_argument("--baseline-count", type=int, default=3_000_000)
    a = ap.parse_args()
    why = cluster.missing(a.build, "tests/plugins/slow_sink.so")
    if why:
        print(why)
        return 1
    chk = cluster.Checks()
    par = 2

    with cluster.Cluster(a.build, taskmanagers=2, slots=2, name="backpressure", keep=a.keep,
                         conf={"heartbeat.interval": "200ms"}, checks=chk) as c:
        c.start()
        jar = c.upload_jar(os.path.join(a.build, "tests", "plugins", "slow_sink.so"))

        # -- the source's own speed against a sink that never sleeps
        bdir = c.path("progress-baseline")
        os.makedirs(bdir)
        t0 = time.monotonic()
        jid = c.run_jar(jar, ["--count", a.baseline_count, "--progress", bdir], parallelism=par)
        job = c.wait_job(jid, {"FINISHED"}, timeout=300)
        wall = time.monotonic() - t0
        secs = (job.get("duration") or 0) / 1000.0 or wall
        base_rate = a.baseline_count / secs
        print("baseline: %d records in %.2fs (job duration; %.2fs from submit): %.0f records/s" %
              (a.baseline_count, secs, wall, base_rate), flush=True)
        cnt, tot, done, _ = read_progress(bdir, "sink")
        chk.ok(cnt == a.baseline_count and done, "baseline: the sink got every record", (cnt, done))

        # Phase 2 must be sink-bound: its cap (1 ms every M records per sink
        # subtask) at most a quarter of the source's own speed. Under the
        # thread sanitizer the source makes only ~200k records/s, no more
        # than the default cap, so M comes down there, and the record count
        # with it (phase 2 then lasts as long as in the other builds).
        sleep_every, count = a.sleep_every, a.count
        if sleep_every:
            fit = max(1, int(base_rate / 4 / (par * 1000)))
            if fit < sleep_every:
                count = max(a.slow_records * par * 4, a.count * fit // sleep_every)
                print("phase 2 scaled to this build's baseline: 1 ms every %d records (not %d), %d records "
                      "(not %d)" % (fit, sleep_every, count, a.count), flush=True)
                sleep_every = fit

        # -- the slow run
        pdir = c.path("progress")
        os.makedirs(pdir)
        pids = c.tm_pids()
        idle_rss = {p: cluster.rss_kb(p) for p in pids}
        print("task managers' RSS before the job: %s kB" % idle_rss)
        sampler = Sampler(pdir, pids)
        sampler.start()
        t_submit = time.monotonic()
        jid = c.run_jar(jar, ["--count", count, "--progress", pdir, "--slow-records", a.slow_records,
                              "--sleep-every", sleep_every], parallelism=par)
        c.wait_running(jid, timeout=60)
        try:
            pl = c.placements(jid)
            names = {v["id"]: v["name"] for v in c.job(jid)["vertices"]}
            print("placement: %s" % {names.get(k, k): dict(sorted(v.items())) for k, v in pl.items()})
            chk.ok(len(cluster.tms_of(pl)) == 2,
                   "the job's subtasks are on both task managers", pl)
        except cluster.ClusterError as e:
            print("placement not visible: %s" % e)

        # phase 1: until the sink passed ~90% of its slow records
        slow_total = a.slow_records * par
        phase1_end = None
        max_inflight = 0
        while time.monotonic() - t_submit < 120:
            time.sleep(0.1)
            if not sampler.samples:
                continue
            t, src, snk = sampler.samples[-1]
            if snk > 0:
                max_inflight = max(max_inflight, src - snk)
            if snk >= 0.9 * slow_total:
                phase1_end = t
                break
        if phase1_end is None:
            chk.fail("phase 1: the sink did not get through its slow records within 120 s")
        else:
            a1, b1 = sampler.at(phase1_end - 3.0), sampler.at(phase1_end)
            src_r, snk_r = rate(a1, b1)
            trace, next_t = [], 0.0
            for t, src, snk in sampler.samples:
                if t > phase1_end:
                    break
                if t >= next_t and snk > 0:
                    trace.append("%.1fs %d/%d" % (t, src, snk))
                    next_t = t + 0.5
            print("phase 1 source/sink counts: %s" % ", ".join(trace))
            print("phase 1 (1 ms per record): over the last 3 s source %.0f/s, sink %.0f/s; "
                  "max records in flight %d" % (src_r, snk_r, max_inflight), flush=True)
            chk.ok(max_inflight <= a.inflight_bound, "phase 1: records in flight stay <= %d" % a.inflight_bound,
                   max_inflight)
            chk.ok(src_r <= snk_r * 1.2 + 1000, "phase 1: the source is slowed to the sink's pace",
                   "source %.0f/s, sink %.0f/s" % (src_r, snk_r))

        # phase 2: until the job ends
        job = c.wait_job(jid, {"FINISHED"}, timeout=900, interval=0.5)
        sampler.stop_flag = True
        sampler.join(5)
        end_t = time.monotonic() - t_submit
        # the middle of phase 2: from phase 1's end + 20% to 80% of the rest
        if phase1_end is not None:
            p2a = phase1_end + 0.2 * (end_t - phase1_end)
            p2b = phase1_end + 0.8 * (end_t - phase1_end)
            a2, b2 = sampler.at(p2a), sampler.at(p2b)
            src_r, snk_r = rate(a2, b2)
            cap = par * sleep_every * 1000.0 if sleep_every else float("inf")
            print("phase 2 (1 ms every %d records, at most %.0f/s): source %.0f/s, sink %.0f/s over %.1f..%.1fs; "
                  "baseline %.0f/s" % (sleep_every, cap, src_r, snk_r, a2[0], b2[0], base_rate), flush=True)
            chk.ok(abs(src_r - snk_r) <= 0.15 * snk_r, "phase 2: the source runs at the sink's pace (within 15%)",
                   "source %.0f/s, sink %.0f/s" % (src_r, snk_r))
            chk.ok(base_rate >= 2 * snk_r, "phase 2: ... which is far below the source's own speed (baseline >= 2x)",
                   "baseline %.0f/s vs sink %.0f/s" % (base_rate, snk_r))
        for p in pids:
            grow = (sampler.rss_max[p] - (idle_rss.get(p) or 0)) / 1024.0
            print("task manager pid %d: RSS %d kB before, max %d kB during the job (+%.1f MB)" %
                  (p, idle_rss.get(p) or 0, sampler.rss_max[p], grow))
            chk.ok(grow <= a.rss_bound_mb, "task manager %d's memory grows by <= %d MB" % (p, a.rss_bound_mb),
                   "+%.1f MB" % grow)

        # no loss
        want_sum = count * (count - 1) // 2
        scnt, ssum, sdone, n1 = read_progress(pdir, "source")
        kcnt, ksum, kdone, n2 = read_progress(pdir, "sink")
        print("end: source %d records (sum %d, %d subtasks), sink %d records (sum %d, %d subtasks), in %.1fs" %
              (scnt, ssum, n1, kcnt, ksum, n2, end_t))
        chk.ok(scnt == count and ssum == want_sum and sdone, "the source emitted every record once",
               (scnt, ssum, sdone))
        chk.ok(kcnt == count and ksum == want_sum and kdone, "the sink got every record once (no loss, no duplicate)",
               (kcnt, ksum, kdone))
        job = c.job(jid)
        vsrc, vsnk = vertex_records(job)
        print("job metrics: source write-records %s, sink read-records %s" % (vsrc, vsnk))
        chk.ok(vsrc == count and vsnk == count, "the job's vertex metrics count %d records on both sides" %
               count, (vsrc, vsnk))
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
