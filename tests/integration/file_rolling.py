#!/usr/bin/env python3
"""file_rolling - the file sink's rolling policy (docs/file-sink.md): a part
file in progress continues across checkpoints, is truncated to its
checkpointed length on restore, and is committed only when it rolls (by
size, by time, at a savepoint or at the end of the input); the output stays
exactly-once under kill -9.

Every case runs wordcount.so with `flinc local`, checkpoints every 200 ms
(state.checkpoints.dir in the case's folder), and ends with check_counts
on the output folder (every word's counts 1..n once each, no dot-file but
the commit ledgers left) and a count of the committed files.

Cases:
  kill-continue   -p 2, 60,000 lines at --rate 6000 (about 10 s), default
                  policy (128mb, 30min). Once 5 checkpoints completed: no
                  part is committed yet and each subtask has one
                  .inprogress file (the file continued across >= 5
                  checkpoints). kill -9; a torn line is appended to every
                  .inprogress file (bytes after the checkpoint, as a crash
                  mid-write leaves them); `flinc local -s <newest chk>`
                  -p 2 finishes: the output is exact (so the torn bytes and
                  everything after the checkpoint were cut off), in exactly
                  2 committed files, named as the files in progress were
                  (the same parts were written on).
  kill-rescale    the same at -p 3, restored at -p 1: subtask 0 truncates
                  and commits the parts of old subtasks 1 and 2 at once and
                  writes on its own; exact output in 3 committed files.
  older-chk       -p 2, rollover-interval 1s, 5 checkpoints retained, 60,000
                  lines at --rate 6000; kill -9 after 12 checkpoints and
                  restore from the OLDEST retained one: parts rolled or
                  committed after it are taken back (deleted, or in
                  progress again and truncated); the output is exact.
  older-chk-rescale  the same at -p 3, restored at -p 1: subtask 0 commits
                  at once the parts old subtasks 1 and 2 had in progress
                  at that checkpoint, which a later checkpoint may have
                  committed already (the ledger then holds two lines for
                  the part; the restore keeps the file).
  size            -p 2, file-size 64kb, unthrottled: exact output; every
                  committed file but the last of each subtask holds at
                  least 64 KiB and at most 64 KiB plus one line; the count
                  is total bytes / 64 KiB within p.
  stale-writer    a restore while the failed run still writes (a task
                  manager cut off from the job manager runs its tasks
                  until its heartbeat.timeout): run 1, -p 2, 60,000 lines
                  at --rate 3000, goes on after checkpoint 5 while
                  `flinc local -s <its newest chk>` -p 2 (run 2, its own
                  checkpoint folder, unthrottled) restores into the same
                  output folder and finishes. Run 1's part files are then
                  files no name points to (/proc/<pid>/fd says
                  "(deleted)") and still grow; run 1 is killed -9 1.5 s
                  later: the output is exact. Before the restore copied
                  the checkpointed bytes, it truncated and wrote on in the
                  file run 1 held, which run 2 then committed: run 1's
                  lines landed in the committed files.
  rollover        -p 2, rollover-interval 1s, 30,000 lines at --rate 6000
                  (about 5 s, ~25 checkpoints): exact output in at least 4
                  and at most 2 * (seconds + 2) committed files, fewer
                  than the checkpoints (before issue 20: one file per
                  subtask and checkpoint).

Usage: file_rolling.py --build BUILD_DIR [--keep] [--case NAME]...
Exit status 0 when every check passes, 1 otherwise.
"""

import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_counts  # noqa: E402
import cluster  # noqa: E402

INPROGRESS_RE = re.compile(r"\.part-([0-9]+)-([0-9]+)\.inprogress\Z")
TORN = b"tornword\t999999\npartial-line-without-newl"


def conf(chkdir, extra=()):
    c = [("state.checkpoints.dir", chkdir), ("execution.checkpointing.interval", "200ms")]
    return c + list(extra)


def job_dir(chkdir):
    try:
        dirs = sorted(os.path.join(chkdir, n) for n in os.listdir(chkdir)
                      if os.path.isdir(os.path.join(chkdir, n)))
    except OSError:
        return None
    return dirs[0] if dirs else None


def inprogress(out):
    """{name: size} of the .inprogress part files of out."""
    try:
        names = os.listdir(out)
    except OSError:
        return {}
    return {n: os.path.getsize(os.path.join(out, n)) for n in names if INPROGRESS_RE.match(n)}


def committed_bytes(out):
    return sum(os.path.getsize(os.path.join(out, n)) for n in cluster.committed_files(out))


def start_run(base, n, argv):
    """Start `flinc local` (argv) with its output in run<n>.log."""
    with open(os.path.join(base, "run%d.log" % n), "wb") as lf:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT)


def wait_checkpoint(proc, chkdir, n):
    """Wait until the run's checkpoint n completed: (id, path) of the newest."""
    def done():
        if proc.poll() is not None:
            raise cluster.ClusterError("flinc local exited %s before checkpoint %d completed" %
                                       (proc.returncode, n))
        jd = job_dir(chkdir)
        nc = cluster.newest_completed(jd) if jd else None
        return nc if nc and nc[0] >= n else None

    return cluster.wait_until(done, 90, "checkpoint %d of the first run" % n, interval=0.02)


def run_to_kill(build, base, par, inp, out, chkdir, extra, kill_after, rate):
    """Start `flinc local`, wait until checkpoint kill_after completed, look
    at the folder, kill -9. Returns (ids of completed checkpoints, the
    .inprogress files then, committed files then)."""
    argv = cluster.local_argv(build, "wordcount", par, conf(chkdir, extra)) + \
        ["--input", inp, "--output", out, "--rate", str(rate)]
    proc = start_run(base, 1, argv)
    print("  run 1: flinc local -p %d %s, pid %d" % (par, " ".join("%s=%s" % kv for kv in extra), proc.pid),
          flush=True)
    try:
        wait_checkpoint(proc, chkdir, kill_after)
        # the folder as the checkpoint left it (the sink may be a few
        # records further; that is fine: they are after the checkpoint)
        files_in_progress = inprogress(out)
        committed = cluster.committed_files(out)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    ids = [i for i, _ in cluster.chk_folders(job_dir(chkdir))]
    print("  killed -9 after checkpoints %s; in progress %s; committed %s" % (ids, files_in_progress, committed),
          flush=True)
    return ids, files_in_progress, committed


def tear(out):
    """Append a torn line to every .inprogress file (bytes after the
    checkpoint that a restore must cut off). Returns how many."""
    n = 0
    for name in inprogress(out):
        with open(os.path.join(out, name), "ab") as f:
            f.write(TORN)
        n += 1
    return n


def restore(build, par, inp, out, chkdir, chk_path, extra=()):
    argv = cluster.local_argv(build, "wordcount", par, conf(chkdir, extra), savepoint=chk_path) + \
        ["--input", inp, "--output", out]
    t0 = time.monotonic()
    r, why = cluster.run_cmd(argv, 240)
    if r is None:
        raise cluster.ClusterError(why)
    print("  run 2: flinc local -s %s -p %d: exit %d in %.1f s" %
          (os.path.basename(chk_path), par, r.returncode, time.monotonic() - t0), flush=True)
    for ln in r.stderr.splitlines():
        if "file-sink" in ln or "output" in ln:
            print("    " + ln[:300])
    return r


def verify(chk, expected, out, what):
    check_counts.verify(chk, expected, out, what)
    files = cluster.committed_files(out)
    print("  %d committed files, %d bytes" % (len(files), committed_bytes(out)), flush=True)
    return files


def case_kill(build, base, chk, p1, p2):
    inp = cluster.write_input(os.path.join(base, "input.txt"), 4242 + p1, 60000)
    out, chkdir = os.path.join(base, "out"), os.path.join(base, "checkpoints")
    expected = check_counts.expected_counts([inp])
    ids, prog, committed = run_to_kill(build, base, p1, inp, out, chkdir, [], 5, 6000)
    chk.ok(not committed, "no part committed after checkpoint %d (default policy: 128mb, 30min)" % ids[-1],
           committed)
    subs = sorted(int(INPROGRESS_RE.match(n).group(1)) for n in prog)
    chk.ok(subs == list(range(p1)), "one .inprogress file per subtask, continued across the checkpoints",
           sorted(prog))
    torn = tear(out)
    chk.ok(torn == p1, "a torn line appended to each file in progress (%d)" % torn)
    newest = cluster.newest_completed(job_dir(chkdir))[1]
    r = restore(build, p2, inp, out, chkdir, newest)
    chk.ok(r.returncode == 0, "the restore run at -p %d exits 0" % p2, r.stderr[-1500:])
    files = verify(chk, expected, out, "exactly-once output after kill -9 and restore -p %d -> %d" % (p1, p2))
    want = sorted("part-%s-%s" % INPROGRESS_RE.match(n).groups() for n in prog)
    chk.ok(files == want, "the committed files are the parts that were in progress, written on: %s" % want, files)


def case_kill_continue(build, base, chk):
    case_kill(build, base, chk, 2, 2)


def case_kill_rescale(build, base, chk):
    case_kill(build, base, chk, 3, 1)


def part_fds(pid):
    """{fd path: target} of the output part files process pid holds open."""
    fds = {}
    d = "/proc/%d/fd" % pid
    try:
        for n in os.listdir(d):
            try:
                t = os.readlink(os.path.join(d, n))
            except OSError:
                continue
            if "/out/" in t and ".part-" in t:
                fds[os.path.join(d, n)] = t
    except OSError:
        pass
    return fds


def case_stale_writer(build, base, chk):
    inp = cluster.write_input(os.path.join(base, "input.txt"), 77, 60000)
    out = os.path.join(base, "out")
    chk1, chk2 = os.path.join(base, "checkpoints-1"), os.path.join(base, "checkpoints-2")
    expected = check_counts.expected_counts([inp])
    procs = []
    try:
        # run 1 goes on checkpointing while run 2 reads its chk-N: it must
        # not retire that checkpoint meanwhile (3 retained by default: under
        # TSan run 2 took long enough to start that chk-5 was gone)
        keep = [("state.checkpoints.num-retained", "1000")]
        run1 = start_run(base, 1, cluster.local_argv(build, "wordcount", 2, conf(chk1, keep)) +
                         ["--input", inp, "--output", out, "--rate", "3000"])
        procs.append(run1)
        nid, npath = wait_checkpoint(run1, chk1, 5)
        held = part_fds(run1.pid)
        chk.ok(len(held) == 2 and all(".inprogress" in t and "(deleted)" not in t for t in held.values()),
               "run 1 writes 2 part files in progress", held)
        run2 = start_run(base, 2, cluster.local_argv(build, "wordcount", 2, conf(chk2), savepoint=npath) +
                         ["--input", inp, "--output", out])
        procs.append(run2)
        print("  run 1 pid %d goes on; run 2 pid %d restores chk-%d into the same folder" %
              (run1.pid, run2.pid, nid), flush=True)
        rc = run2.wait(120)
        chk.ok(rc == 0, "run 2 exits 0", open(os.path.join(base, "run2.log"), errors="replace").read()[-1500:])
        chk.ok(run1.poll() is None, "run 1 still runs after run 2 ended")
        sizes0 = {f: os.stat(f).st_size for f in part_fds(run1.pid)}
        time.sleep(1.5)
        stale = part_fds(run1.pid)
        grew = {f: os.stat(f).st_size - sizes0.get(f, 0) for f in stale}
        print("  run 1's part files 1.5 s after run 2 ended: %s; grew by %s bytes" %
              (sorted(stale.values()), sorted(grew.values())), flush=True)
        chk.ok(len(stale) == 2 and all(t.endswith("(deleted)") for t in stale.values()),
               "run 1 writes in files no name points to", stale)
        chk.ok(all(g > 0 for g in grew.values()), "run 1 wrote on after run 2 committed", grew)
        os.kill(run1.pid, signal.SIGKILL)
        run1.wait(10)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    verify(chk, expected, out, "exactly-once output of run 2 with run 1 writing on")


def older_chk(build, base, chk, p1, p2):
    inp = cluster.write_input(os.path.join(base, "input.txt"), 99 + p1, 60000)
    out, chkdir = os.path.join(base, "out"), os.path.join(base, "checkpoints")
    expected = check_counts.expected_counts([inp])
    extra = [("sink.rolling-policy.rollover-interval", "1s"), ("state.checkpoints.num-retained", "5")]
    ids, prog, committed = run_to_kill(build, base, p1, inp, out, chkdir, extra, 12, 6000)
    folders = cluster.chk_folders(job_dir(chkdir))
    chk.ok(len(folders) >= 2, ">= 2 checkpoints retained", ids)
    chk.ok(committed, "parts were committed by time (rollover-interval 1s) before the kill", committed)
    oldest = folders[0][1]
    tear(out)
    r = restore(build, p2, inp, out, chkdir, oldest, extra)
    chk.ok(r.returncode == 0, "the restore from the oldest retained checkpoint %s at -p %d exits 0" %
           (os.path.basename(oldest), p2), r.stderr[-1500:])
    verify(chk, expected, out, "exactly-once output after restoring an older checkpoint, -p %d -> %d" % (p1, p2))


def case_older_chk(build, base, chk):
    older_chk(build, base, chk, 2, 2)


def case_older_chk_rescale(build, base, chk):
    older_chk(build, base, chk, 3, 1)


def case_size(build, base, chk):
    inp = cluster.write_input(os.path.join(base, "input.txt"), 7, 60000)
    out, chkdir = os.path.join(base, "out"), os.path.join(base, "checkpoints")
    expected = check_counts.expected_counts([inp])
    limit = 64 * 1024
    argv = cluster.local_argv(build, "wordcount", 2, conf(chkdir, [("sink.rolling-policy.file-size", "64kb")])) + \
        ["--input", inp, "--output", out]
    r, why = cluster.run_cmd(argv, 240)
    chk.ok(r is not None and r.returncode == 0, "the run with file-size 64kb exits 0", why)
    files = verify(chk, expected, out, "exactly-once output rolled at 64kb")
    last = {}
    for f in files:
        sub, seq = (int(x) for x in f.split("-")[1:3])
        if seq > last.get(sub, -1):
            last[sub] = seq
    sizes = {f: os.path.getsize(os.path.join(out, f)) for f in files}
    bad = [(f, n) for f, n in sizes.items()
           if int(f.split("-")[2]) != last[int(f.split("-")[1])] and not limit <= n <= limit + 300]
    chk.ok(files and not bad, "every part but each subtask's last holds 64 KiB to 64 KiB + one line", bad[:5])
    total = committed_bytes(out)
    chk.ok(total // limit <= len(files) <= total // limit + 2,
           "%d files for %d bytes (%d full parts of 64 KiB)" % (len(files), total, total // limit))


def case_rollover(build, base, chk):
    inp = cluster.write_input(os.path.join(base, "input.txt"), 11, 30000)
    out, chkdir = os.path.join(base, "out"), os.path.join(base, "checkpoints")
    expected = check_counts.expected_counts([inp])
    extra = [("sink.rolling-policy.rollover-interval", "1s"), ("state.checkpoints.num-retained", "1000")]
    argv = cluster.local_argv(build, "wordcount", 2, conf(chkdir, extra)) + \
        ["--input", inp, "--output", out, "--rate", "6000"]
    t0 = time.monotonic()
    r, why = cluster.run_cmd(argv, 240)
    secs = time.monotonic() - t0
    chk.ok(r is not None and r.returncode == 0, "the run with rollover-interval 1s exits 0", why)
    files = verify(chk, expected, out, "exactly-once output rolled every second")
    ncp = len(cluster.chk_folders(job_dir(chkdir)) if job_dir(chkdir) else [])
    print("  %.1f s, %d checkpoints completed" % (secs, ncp))
    chk.ok(4 <= len(files) <= 2 * (secs + 2), "%d committed files for a %.1f s run at -p 2 (4 .. %d)" %
           (len(files), secs, 2 * (secs + 2)))
    chk.ok(len(files) < ncp, "fewer files (%d) than checkpoints (%d)" % (len(files), ncp))


CASES = {
    "kill-continue": case_kill_continue,
    "kill-rescale": case_kill_rescale,
    "older-chk": case_older_chk,
    "older-chk-rescale": case_older_chk_rescale,
    "size": case_size,
    "rollover": case_rollover,
    "stale-writer": case_stale_writer,
}


def main():
    ap = cluster.arg_parser(__doc__)
    ap.add_argument("--case", choices=sorted(CASES), action="append")
    a = ap.parse_args()
    why = cluster.missing(a.build, "bin/flinc", "jobs/wordcount.so")
    if why:
        print(why)
        return 1
    chk = cluster.Checks()
    with cluster.scratch_dir("flinc-file-rolling-", a.keep, lambda: chk.errors) as tmp:
        for name in a.case or list(CASES):
            print("case %s" % name, flush=True)
            base = os.path.join(tmp, name)
            os.makedirs(base)
            try:
                CASES[name](a.build, base, chk)
            except (cluster.ClusterError, OSError, subprocess.SubprocessError) as e:
                chk.fail("case %s: %s" % (name, e))
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
