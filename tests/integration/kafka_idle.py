#!/usr/bin/env python3
"""kafka_idle - an idle Kafka partition does not hold back event-time windows
downstream when the source's idleness is on (`idle=`), and does when it is off
(the control); against a real Apache Kafka broker (tests/peers/kafka/).

The topic has 3 partitions, read by ONE source subtask (flinc local -p 1),
so the watermark is the source's merge of its partitions' watermarks:
  partition 0  a record every 500 ms of event time from T0 to T0+90 s, then,
               while the test watches, more every 0.25 s of processing time
               (a live partition: the source as a whole never turns idle)
  partition 1  10 records from T0 to T0+4.5 s, then nothing (silent for
               85 s of event time and more)
  partition 2  no record at all
Event time is each record's Kafka timestamp (set with kafka_produce_ts, as
kcat cannot), T0 a fixed multiple of 10 s. The job (tests/plugins/
kafka_window.c) counts records in 10 s tumbling windows and prints
"window START END COUNT" lines.

  idle=1s  partitions 1 and 2 turn idle after 1 s without records; the
           watermark follows partition 0, so the windows [T0, T0+10 s) ..
           [T0+80 s, T0+90 s) fire with counts 30, 20, ..., 20 (window 0
           holds partition 1's 10 records too), and later ones as the live
           records come.
  idle=0   the control: partition 2 has no watermark, so none fires in the
           same time.

Usage: kafka_idle.py --build BUILD [--watch SECONDS] [--keep]
"""
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "peers", "kafka"))
import broker  # noqa: E402
import cluster  # noqa: E402

T0 = 1700000000000  # a multiple of 10 s
SIZE = 10000


class Job:
    """flinc local -p 1 kafka_window.so, its stdout read as it comes."""

    def __init__(self, build, bootstrap, idle, tmp, name):
        argv = cluster.local_argv(build, "wordcount", 1, {
            "state.checkpoints.dir": os.path.join(tmp, name + "-chk"),
            "execution.checkpointing.interval": "500ms"})
        argv[-1] = os.path.join(build, "tests", "plugins", "kafka_window.so")
        argv += ["--input", "kafka://%s/ev?idle=%s&discovery=0" % (bootstrap, idle), "--size", str(SIZE),
                 "--output", "-"]
        self.name = name
        self.lines = []
        self.log = open(os.path.join(tmp, name + ".log"), "wb")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log, stdin=subprocess.DEVNULL)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for ln in self.proc.stdout:
            self.lines.append(ln.decode(errors="replace").rstrip("\n"))

    def windows(self):
        out = {}
        for ln in list(self.lines):
            f = ln.split()
            if len(f) == 4 and f[0] == "window":
                out[int(f[1])] = (int(f[2]), int(f[3]))
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.t.join(5)
        self.log.close()

    def log_tail(self, tmp):
        with open(os.path.join(tmp, self.name + ".log"), "rb") as f:
            return "\n".join(f.read().decode(errors="replace").splitlines()[-15:])


def main():
    ap = cluster.arg_parser(__doc__)
    ap.add_argument("--watch", type=float, default=20.0, help="seconds to watch the two jobs")
    a = ap.parse_args()
    chk = cluster.Checks()
    tool = os.path.join(a.build, "tests", "kafka_produce_ts")
    why = cluster.missing(a.build, "bin/flinc", "tests/plugins/kafka_window.so", "tests/kafka_produce_ts")
    if why:
        chk.fail(why)
        return chk.report()
    with cluster.scratch_dir("flinc-kafka-idle-", keep=a.keep, failed=lambda: chk.errors) as tmp:
        with broker.Broker(nodes=1, workdir=os.path.join(tmp, "broker"), keep=a.keep) as b:
            b.create_topic("ev", partitions=3)
            recs = ["0 %d p0-%d" % (T0 + i * 500, i) for i in range(181)]  # T0 .. T0+90 s
            recs += ["1 %d p1-%d" % (T0 + i * 500, i) for i in range(10)]  # T0 .. T0+4.5 s
            # The history is in the broker before the jobs start: a
            # partition that is empty and silent for 1 s at the start is
            # rightly idle, and its records would come late after that.
            first_prod = subprocess.run([tool, b.bootstrap, "ev"], input=("\n".join(recs) + "\n").encode(),
                                        stderr=subprocess.PIPE, timeout=120)
            chk.ok(first_prod.returncode == 0, "kafka_produce_ts wrote the %d records of the history" % len(recs),
                   first_prod.stderr.decode()[-500:])
            prod = subprocess.Popen([tool, b.bootstrap, "ev"], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
            produced = {}  # window start -> records produced into it
            for r in recs:
                ts = int(r.split()[1])
                produced[ts - ts % SIZE] = produced.get(ts - ts % SIZE, 0) + 1
            jobs = [Job(a.build, b.bootstrap, "1s", tmp, "idle"), Job(a.build, b.bootstrap, "0", tmp, "control")]
            try:
                live_ts = T0 + 90500
                t0 = time.monotonic()
                first = None
                while time.monotonic() - t0 < a.watch:
                    prod.stdin.write(("0 %d live\n" % live_ts).encode())
                    prod.stdin.flush()
                    produced[live_ts - live_ts % SIZE] = produced.get(live_ts - live_ts % SIZE, 0) + 1
                    live_ts += 500
                    if first is None and len(jobs[0].windows()) >= 9:
                        first = time.monotonic() - t0
                    if first is not None and time.monotonic() - t0 > first + 5:
                        break  # the control had 5 s more to fire anything
                    if any(j.proc.poll() is not None for j in jobs):
                        break
                    time.sleep(0.25)
            finally:
                prod.stdin.close()
                prod.wait(60)
                for j in jobs:
                    j.stop()
            chk.ok(prod.returncode == 0, "kafka_produce_ts wrote every live record", prod.stderr.read().decode()[-500:])
            for j in jobs:
                chk.ok(j.proc.returncode in (0, -15, 143), "%s job ran until stopped (status %s)" %
                       (j.name, j.proc.returncode), j.log_tail(tmp))
            w = jobs[0].windows()
            want = {T0 + k * SIZE: (T0 + (k + 1) * SIZE, produced[T0 + k * SIZE]) for k in range(9)}
            got = {s: w.get(s) for s in want}
            chk.ok(got == want,
                   "idle=1s: the windows up to T0+90 s fired%s with counts %s" %
                   (" %.1f s after the start" % first if first is not None else "",
                    [c for _, c in sorted(want.values())]),
                   "got %s" % sorted(w.items())[:12])
            extra = {s: v for s, v in w.items() if s not in want}
            chk.ok(all(v == (s + SIZE, produced.get(s)) for s, v in extra.items()),
                   "idle=1s: %d later window(s) fired from the live records, each with its count" % len(extra),
                   sorted(extra.items()))
            chk.ok(not jobs[1].windows(),
                   "idle=0 (the control): no window fired in %.1f s: the silent partitions hold the watermark back" %
                   (time.monotonic() - t0), sorted(jobs[1].windows().items())[:5])
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
