"""seed_common - what the seed jobs' tests share (fraud_reference.py,
anomaly_reference.py): ISO-8601 times, running a job with `flinc local`
over a file into an exactly-once folder, reading its committed JSON lines,
and the crash-and-restore case."""
import datetime
import json
import os
import signal
import subprocess
import time

import cluster


def iso(ms):
    """Epoch ms as the generators write it: 2026-01-01T00:00:00.000Z."""
    d = datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def parse_ts(s):
    d = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return int(d.timestamp() * 1000 + 0.5)


def read_committed(out):
    """The JSON lines of the committed files of an output folder."""
    recs = []
    for f in cluster.committed_files(out):
        with open(os.path.join(out, f)) as fh:
            recs += [json.loads(ln) for ln in fh if ln.strip()]
    return recs


def run_job(build, job, inp, out, p, conf=()):
    """`flinc local -p P BUILD/jobs/JOB.so --input INP --output OUT`:
    (exit status, its output, the committed records)."""
    argv = cluster.local_argv(build, job, p, conf) + ["--input", inp, "--output", out]
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    return r.returncode, r.stdout.decode(errors="replace"), read_committed(out)


def restore_case(chk, build, job, tmp, inp, undisturbed, backend, key, rate=40000):
    """kill -9 of `flinc local` mid-run (checkpoints every 200 ms, input read
    at `rate` records/s; None: unthrottled) after its third checkpoint, then
    `flinc local -s` from the newest one into the same folder: the committed
    records must equal the undisturbed run's (compared by key(record)).
    inp: the --input address, or a list: the address and more job
    arguments."""
    inp = [inp] if isinstance(inp, str) else list(inp)
    out = os.path.join(tmp, "restore-out-" + backend)
    chkdir = os.path.join(tmp, "restore-chk-" + backend)
    conf = {"state.checkpoints.dir": chkdir, "execution.checkpointing.interval": "200ms", "state.backend": backend}
    argv = cluster.local_argv(build, job, 2, conf) + ["--input"] + inp + ["--output", out]
    if rate:
        argv += ["--rate", str(rate)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    jobdir = None
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60:
        if os.path.isdir(chkdir) and os.listdir(chkdir):
            jobdir = os.path.join(chkdir, os.listdir(chkdir)[0])
            n = cluster.newest_completed(jobdir)
            if n and n[0] >= 3:
                break
        time.sleep(0.02)
    running = proc.poll() is None
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    newest = cluster.newest_completed(jobdir) if jobdir else None
    chk.ok(newest is not None and running, "%s: flinc local killed with kill -9 mid-run after checkpoint %s" %
           (backend, newest[0] if newest else "none"))
    if not newest:
        return
    argv = cluster.local_argv(build, job, 2, conf, savepoint=newest[1]) + ["--input"] + inp + ["--output", out]
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    chk.ok(r.returncode == 0, "%s: restored from chk-%d and finished" % (backend, newest[0]),
           r.stdout.decode(errors="replace")[-1500:])
    got = read_committed(out)
    chk.ok(sorted(map(key, got)) == sorted(map(key, undisturbed)),
           "%s: the committed alerts after the crash and restore equal the undisturbed run's (%d)" %
           (backend, len(undisturbed)), "got %d, want %d" % (len(got), len(undisturbed)))
