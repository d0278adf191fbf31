#!/usr/bin/env python3
"""checkpoint_local - checkpoints of `flinc local` runs, and restoring a
killed run from its newest checkpoint at another parallelism and with the
other state backend.

Each case: wordcount.so over 60,000 generated lines throttled to --rate
6000 lines/s (about 10 s), `flinc local -p P1 -D state.backend=B1
-D state.checkpoints.dir=D -D execution.checkpointing.interval=200ms`.
Once 4 checkpoints completed (chk-<n> folders with _metadata under
D/<job id>/), the flinc process is killed with kill -9. Then
`flinc local -s <newest completed chk folder> -p P2 -D state.backend=B2`
(same checkpoint settings) over the same input and output folder.

Cases:
  hashmap-to-rocksdb   P1=2 hashmap -> P2=3 rocksdb
  rocksdb-to-hashmap   P1=3 rocksdb -> P2=1 hashmap

Checks per case:
  - the first run was still running when killed, with >= 4 completed
    checkpoints (the newest's _metadata names backend B1); its committed output is an exactly-once prefix (each word's
    counts are 1..k once each) and partial;
  - a copy of the chosen checkpoint with bytes flipped in a .snap file is
    refused by `flinc local -s`: exit 1, one line on stderr naming the file,
    and nothing written to the output;
  - the restore run exits 0, says on stderr that it restores from that
    folder, and check_counts passes exactly on the output folder (no
    duplicate, no gap, no uncommitted file left).

Usage: checkpoint_local.py --build BUILD_DIR [--keep] [--case NAME]...
"""

import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_counts  # noqa: E402
import cluster  # noqa: E402

LINES = 60000
KILL_AFTER = 4  # kill -9 once chk-<KILL_AFTER> completed (>= 2 checkpoints)
RATE = 6000
CASES = {
    "hashmap-to-rocksdb": (2, "hashmap", 3, "rocksdb"),
    "rocksdb-to-hashmap": (3, "rocksdb", 1, "hashmap"),
}


def local_argv(build, par, backend, chkdir, restore=None):
    return cluster.local_argv(build, "wordcount", par, savepoint=restore,
                              conf={"state.backend": backend, "state.checkpoints.dir": chkdir,
                                    "execution.checkpointing.interval": "200ms"})


def job_dirs(chkdir):
    try:
        return sorted(os.path.join(chkdir, n) for n in os.listdir(chkdir) if os.path.isdir(os.path.join(chkdir, n)))
    except OSError:
        return []


def run_case(build, tmp, name, chk):
    p1, b1, p2, b2 = CASES[name]
    base = os.path.join(tmp, name)
    os.makedirs(base)
    inp = cluster.write_input(os.path.join(base, "input.txt"), 31 + len(name), LINES)
    out = os.path.join(base, "out")
    chkdir = os.path.join(base, "checkpoints")
    expected = check_counts.expected_counts([inp])
    total = sum(expected.values())

    argv = local_argv(build, p1, b1, chkdir) + ["--input", inp, "--output", out, "--rate", str(RATE)]
    log1 = os.path.join(base, "run1.log")
    with open(log1, "wb") as lf:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT)
    print("  run 1: flinc local -p %d, %s, pid %d" % (p1, b1, proc.pid), flush=True)
    try:
        def two_done():
            if proc.poll() is not None:
                raise cluster.ClusterError("flinc local exited %s before 2 checkpoints completed" % proc.returncode)
            dirs = job_dirs(chkdir)
            # ids count from 1; with the default num-retained 1 only the newest folder stays
            nc = cluster.newest_completed(dirs[0]) if dirs else None
            return dirs if nc and nc[0] >= KILL_AFTER else None

        dirs = cluster.wait_until(two_done, 60, "2 completed checkpoints of the local run", interval=0.02)
        running = proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    chk.ok(running and len(dirs) == 1, "killed with kill -9 while running, one job folder", dirs)
    jobdir = dirs[0]
    folders = cluster.chk_folders(jobdir)
    newest = folders[-1][1]
    print("  killed after %s; newest completed: %s" % ([i for i, _ in folders], os.path.basename(newest)),
          flush=True)
    chk.ok(folders[-1][0] >= KILL_AFTER, ">= %d checkpoints completed before the kill" % KILL_AFTER, folders)
    meta = cluster.read_metadata(newest)
    chk.ok(meta.get("backend") == b1 and meta.get("is_savepoint") is False,
           "its _metadata: a checkpoint of the %s backend" % b1,
           {k: meta.get(k) for k in ("backend", "is_savepoint")})

    pairs, _ = check_counts.read_output(out, allow_dot_files=True)
    bad = check_counts.prefix_errors(expected, pairs)
    chk.ok(not bad, "the killed run's committed output is an exactly-once prefix", bad[:5])
    chk.ok(len(pairs) < total, "... and partial (%d of %d counts)" % (len(pairs), total))
    committed_before = cluster.committed_files(out)

    # a corrupt copy of the checkpoint is refused
    bad_dir = os.path.join(base, "chk-corrupt")
    shutil.copytree(newest, bad_dir)
    snap = cluster.snap_files(bad_dir)[0]
    cluster.flip_middle(snap)
    argv = local_argv(build, p2, b2, chkdir, bad_dir) + ["--input", inp, "--output", out]
    r, why = cluster.run_cmd(argv, 120)
    if r is None:
        raise cluster.ClusterError(why)
    lines = r.stderr.splitlines()
    chk.ok(r.returncode == 1 and len(lines) == 1 and os.path.basename(snap) in lines[0],
           "flinc local -s <corrupt copy>: exit 1, one line naming %s" % os.path.basename(snap),
           "exit %d, stderr %r" % (r.returncode, r.stderr[-800:]))
    if lines:
        print("    stderr: %s" % lines[0])
    after = cluster.committed_files(out)
    chk.ok(after == committed_before, "... and it wrote nothing to the output")

    # restore from the newest checkpoint
    argv = local_argv(build, p2, b2, chkdir, newest) + ["--input", inp, "--output", out]
    t0 = time.monotonic()
    r, why = cluster.run_cmd(argv, 240)
    if r is None:
        raise cluster.ClusterError(why)
    print("  run 2: flinc local -s %s -p %d, %s: exit %d in %.1f s" %
          (os.path.basename(newest), p2, b2, r.returncode, time.monotonic() - t0), flush=True)
    chk.ok(r.returncode == 0, "the restore run exits 0", r.stderr[-1500:])
    chk.ok("restoring from %s" % newest in r.stderr, "it says it restores from %s" % newest, r.stderr[-1500:])
    check_counts.verify(chk, expected, out)
    return not chk.errors


def main():
    ap = cluster.arg_parser(__doc__)
    ap.add_argument("--case", choices=sorted(CASES), action="append")
    a = ap.parse_args()
    why = cluster.missing(a.build, "bin/flinc", "jobs/wordcount.so")
    if why:
        print(why)
        return 1
    chk = cluster.Checks()
    with cluster.scratch_dir("flinc-chk-local-", a.keep, lambda: chk.errors) as tmp:
        for name in a.case or list(CASES):
            print("case %s" % name, flush=True)
            try:
                run_case(a.build, tmp, name, chk)
            except (cluster.ClusterError, OSError, subprocess.SubprocessError) as e:
                chk.fail("case %s: %s" % (name, e))
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
