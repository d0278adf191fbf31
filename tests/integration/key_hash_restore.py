#!/usr/bin/env python3
"""key_hash_restore - a job restored from a checkpoint or savepoint taken
with MurmurHash64A (flinc's key hash before XXH3) keeps MurmurHash64A, at
any parallelism and into either state backend, with exact output.

The snapshot: wordcount.so over generated lines throttled to --rate,
`flinc local -p 2 -D pipeline.key-hash=murmur64a -D state.backend=B1
-D state.checkpoints.dir=D -D execution.checkpointing.interval=200ms`,
killed with kill -9 once 3 checkpoints completed. The newest checkpoint's
_metadata must say "key_hash": "murmur64a"; the test then removes that
field, so the folder is exactly what flinc before XXH3 wrote (no name =
murmur64a). The output folder at the kill is copied for each restore.

Sources and restores (each restore with the default configuration: no
pipeline.key-hash, so the job takes the snapshot's hash):
  hashmap (canonical snapshot)   -> -p 1 hashmap, -p 3 rocksdb
  rocksdb (native incremental)   -> -p 3 hashmap, -p 1 rocksdb

And on a cluster (a job manager, one task manager with 3 slots): a real
savepoint, `flinc stop --savepoint-path` of wordcount at -p 2 with
-D pipeline.key-hash=murmur64a and the hashmap backend, its "key_hash"
removed likewise, then `flinc run -s <it> -p 3 -D state.backend=rocksdb`
(the job manager takes the hash from the savepoint and gives it to the task
managers with the job's configuration).

Checks:
  - every restore exits 0 and check_counts passes exactly (each word's
    counts 1..n once, no gap, no duplicate, nothing uncommitted);
  - the restored run's own checkpoints name "key_hash": "murmur64a" (the
    job kept the hash), while a fresh run's name "xxh3";
  - -D pipeline.key-hash=xxh3 with the murmur snapshot is refused: exit 1,
    one line saying the key hashes differ, nothing written.

Usage: key_hash_restore.py --build BUILD_DIR [--keep]
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_counts  # noqa: E402
import cluster  # noqa: E402

LINES = 36000
RATE = 6000
KILL_AFTER = 3
SOURCES = {"hashmap": [(1, "hashmap"), (3, "rocksdb")], "rocksdb": [(3, "hashmap"), (1, "rocksdb")]}


def conf(backend, chkdir, extra=()):
    c = [("state.backend", backend), ("state.checkpoints.dir", chkdir),
         ("execution.checkpointing.interval", "200ms")]
    return c + list(extra)


def job_dirs(chkdir):
    try:
        return sorted(os.path.join(chkdir, n) for n in os.listdir(chkdir)
                      if os.path.isdir(os.path.join(chkdir, n)))
    except OSError:
        return []


def run_to_kill(build, base, backend, inp, out, chk):
    """Run 1 with murmur64a, killed after KILL_AFTER checkpoints; the newest
    completed checkpoint folder, or None."""
    chkdir = os.path.join(base, "chk1")
    argv = cluster.local_argv(build, "wordcount", 2,
                              conf(backend, chkdir, [("pipeline.key-hash", "murmur64a")]))
    argv += ["--input", inp, "--output", out, "--rate", str(RATE)]
    with open(os.path.join(base, "run1.log"), "wb") as lf:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT)
    try:
        def done():
            if proc.poll() is not None:
                raise cluster.ClusterError("flinc local exited %s before %d checkpoints"
                                           % (proc.returncode, KILL_AFTER))
            dirs = job_dirs(chkdir)
            nc = cluster.newest_completed(dirs[0]) if dirs else None
            return dirs if nc and nc[0] >= KILL_AFTER else None

        dirs = cluster.wait_until(done, 60, "%d completed checkpoints" % KILL_AFTER, interval=0.02)
        running = proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    chk.ok(running, "run 1 (%s, murmur64a) killed while running" % backend)
    newest = cluster.chk_folders(dirs[0])[-1][1]
    meta = cluster.read_metadata(newest)
    chk.ok(meta.get("key_hash") == "murmur64a" and meta.get("backend") == backend,
           "its checkpoint's _metadata names key_hash murmur64a, backend %s" % backend,
           {k: meta.get(k) for k in ("key_hash", "backend")})
    # what flinc before XXH3 wrote: no key_hash at all
    snap = os.path.join(base, "snapshot")
    shutil.copytree(newest, snap, symlinks=True)
    meta.pop("key_hash", None)
    with open(os.path.join(snap, "_metadata"), "w") as f:
        json.dump(meta, f)
    # a native (incremental RocksDB) checkpoint's SST files are under the
    # job folder's shared/; keep the copy beside them
    if meta.get("shared"):
        shutil.rmtree(snap)
        dst = os.path.join(dirs[0], "chk-legacy")
        shutil.copytree(newest, dst, symlinks=True)
        with open(os.path.join(dst, "_metadata"), "w") as f:
            json.dump(meta, f)
        snap = dst
    return snap


def restore(build, base, name, snap, par, backend, inp, out, expected, chk):
    chkdir = os.path.join(base, "chk-" + name)
    argv = cluster.local_argv(build, "wordcount", par, conf(backend, chkdir), savepoint=snap)
    argv += ["--input", inp, "--output", out]
    t0 = time.monotonic()
    r, why = cluster.run_cmd(argv, 240)
    if r is None:
        raise cluster.ClusterError(why)
    print("  restore %s: flinc local -s ... -p %d, %s: exit %d in %.1f s"
          % (name, par, backend, r.returncode, time.monotonic() - t0), flush=True)
    chk.ok(r.returncode == 0, "restore %s exits 0" % name, r.stderr[-1500:])
    check_counts.verify(chk, expected, out, "restore %s: exactly-once output" % name)
    dirs = job_dirs(chkdir)
    folders = cluster.chk_folders(dirs[0]) if dirs else []
    kh = cluster.read_metadata(folders[-1][1]).get("key_hash") if folders else None
    chk.ok(kh == "murmur64a", "restore %s: its own checkpoints keep key_hash murmur64a" % name, kh)


def run_source(build, tmp, backend, chk):
    base = os.path.join(tmp, backend)
    os.makedirs(base)
    inp = cluster.write_input(os.path.join(base, "input.txt"), 57, LINES)
    expected = check_counts.expected_counts([inp])
    out0 = os.path.join(base, "out0")
    snap = run_to_kill(build, base, backend, inp, out0, chk)
    # the snapshot holds real keyed state (counts of thousands of words)
    with open(os.path.join(base, "run1.log"), errors="replace") as f:
        sizes = [int(m) for m in re.findall(r"Completed checkpoint \d+ .*?state (\d+) bytes", f.read())]
    chk.ok(sizes and sizes[-1] > 10000, "run 1's last checkpoint holds keyed state (%s bytes)"
           % (sizes[-1] if sizes else None))

    # an explicit xxh3 does not fit the snapshot
    bad_out = os.path.join(base, "out-refused")
    shutil.copytree(out0, bad_out)
    before = cluster.committed_files(bad_out)
    argv = cluster.local_argv(build, "wordcount", 1,
                              conf(backend, os.path.join(base, "chk-refused"), [("pipeline.key-hash", "xxh3")]),
                              savepoint=snap) + ["--input", inp, "--output", bad_out]
    r, why = cluster.run_cmd(argv, 120)
    if r is None:
        raise cluster.ClusterError(why)
    lines = r.stderr.splitlines()
    chk.ok(r.returncode == 1 and len(lines) == 1 and "key hash murmur64a" in lines[0],
           "-D pipeline.key-hash=xxh3 -s <murmur snapshot>: exit 1, one line",
           "exit %d, stderr %r" % (r.returncode, r.stderr[-800:]))
    if lines:
        print("    stderr: %s" % lines[0])
    chk.ok(cluster.committed_files(bad_out) == before, "... and it wrote nothing")

    for par, b2 in SOURCES[backend]:
        name = "%s-to-p%d-%s" % (backend, par, b2)
        out = os.path.join(base, "out-" + name)
        shutil.copytree(out0, out)
        restore(build, base, name, snap, par, b2, inp, out, expected, chk)


def fresh_run(build, tmp, chk):
    """A job started without a snapshot hashes with XXH3 and says so."""
    base = os.path.join(tmp, "fresh")
    os.makedirs(base)
    inp = cluster.write_input(os.path.join(base, "input.txt"), 5, 3000)
    chkdir = os.path.join(base, "chk")
    out = os.path.join(base, "out")
    argv = cluster.local_argv(build, "wordcount", 2, conf("hashmap", chkdir)) + ["--input", inp, "--output", out]
    r, why = cluster.run_cmd(argv, 120)
    if r is None:
        raise cluster.ClusterError(why)
    chk.ok(r.returncode == 0, "a fresh run exits 0", r.stderr[-1500:])
    check_counts.verify(chk, check_counts.expected_counts([inp]), out, "fresh run: exact output")
    dirs = job_dirs(chkdir)
    folders = cluster.chk_folders(dirs[0]) if dirs else []
    kh = cluster.read_metadata(folders[-1][1]).get("key_hash") if folders else None
    chk.ok(kh == "xxh3", "a fresh run's checkpoints name key_hash xxh3", kh)


def cluster_case(build, chk, keep):
    lines = 40000
    with cluster.Cluster(build, taskmanagers=1, slots=3, name="keyhash", keep=keep, checks=chk) as c:
        job = c.plugin()
        spdir = c.path("savepoints")
        chkdir = c.path("checkpoints")
        c.conf.update({"state.checkpoints.dir": chkdir, "state.savepoints.dir": spdir,
                       "execution.checkpointing.interval": "300ms"})
        c.start()
        inp = cluster.write_input(c.path("input.txt"), 91, lines)
        out = c.path("out")
        expected = check_counts.expected_counts([inp])
        jid = c.submit(job, ["--input", inp, "--output", out, "--rate", 5000], parallelism=2,
                       conf={"state.backend": "hashmap", "pipeline.key-hash": "murmur64a"})
        c.wait_running(jid, timeout=60)
        cluster.wait_checkpoint_after(c, jid, 0, timeout=60)
        cluster.wait_checkpoint_after(c, jid, cluster.latest_completed_id(c, jid), timeout=60)
        p = c.flinc("stop", "--savepoint-path", spdir, jid)
        m = re.search(r"^Savepoint completed\. Path: (\S+)\s*$", p.stdout, re.M)
        sp = m.group(1) if m else None
        chk.ok(p.returncode == 0 and sp, "cluster: flinc stop --savepoint-path of the murmur64a job",
               "exit %d, %r %r" % (p.returncode, p.stdout[-400:], p.stderr[-400:]))
        if not sp:
            return
        c.wait_job(jid, {"FINISHED"}, timeout=30)
        meta = cluster.read_metadata(sp)
        chk.ok(meta.get("is_savepoint") is True and meta.get("key_hash") == "murmur64a",
               "cluster: the savepoint's _metadata names key_hash murmur64a",
               {k: meta.get(k) for k in ("is_savepoint", "key_hash")})
        pairs, _ = check_counts.read_output(out)
        chk.ok(0 < len(pairs) < sum(expected.values()), "cluster: the stopped job's output is partial (%d counts)"
               % len(pairs))
        meta.pop("key_hash", None)  # as flinc before XXH3 wrote it
        with open(os.path.join(sp, "_metadata"), "w") as f:
            json.dump(meta, f)
        p = c.flinc("run", "-s", sp, "-p", "3", "-D", "state.backend=rocksdb", job,
                    "--input", inp, "--output", out, timeout=240)
        jid2 = cluster.job_id_of(p.stdout)
        chk.ok(p.returncode == 0 and jid2 and "FINISHED" in p.stdout,
               "cluster: flinc run -s <savepoint> -p 3 rocksdb runs to FINISHED",
               "exit %d, %r %r" % (p.returncode, p.stdout[-400:], p.stderr[-400:]))
        check_counts.verify(chk, expected, out, "cluster: the restored job completes the counts exactly once")
        if jid2:
            folders = cluster.chk_folders(os.path.join(chkdir, jid2))
            kh = cluster.read_metadata(folders[-1][1]).get("key_hash") if folders else None
            chk.ok(kh == "murmur64a", "cluster: the restored job's checkpoints keep key_hash murmur64a", kh)


def main():
    ap = cluster.arg_parser(__doc__)
    a = ap.parse_args()
    why = cluster.missing(a.build, "bin/flinc", "jobs/wordcount.so")
    if why:
        print(why)
        return 1
    chk = cluster.Checks()
    with cluster.scratch_dir("flinc-keyhash-", a.keep, lambda: chk.errors) as tmp:
        try:
            fresh_run(a.build, tmp, chk)
        except (cluster.ClusterError, OSError, subprocess.SubprocessError) as e:
            chk.fail("fresh run: %s" % e)
        for backend in SOURCES:
            print("source %s (murmur64a)" % backend, flush=True)
            try:
                run_source(a.build, tmp, backend, chk)
            except (cluster.ClusterError, OSError, subprocess.SubprocessError) as e:
                chk.fail("source %s: %s" % (backend, e))
    print("cluster: a savepoint of flinc stop, restored by flinc run -s", flush=True)
    try:
        cluster_case(a.build, chk, a.keep)
    except (cluster.ClusterError, OSError, subprocess.SubprocessError, ValueError) as e:
        chk.fail("cluster: %s" % e)
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
