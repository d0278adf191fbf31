#!/usr/bin/env python3
"""checkpoint_faults - damaged checkpoint storage under a running cluster job
(a job manager and two task managers with two slots each on 127.0.0.1;
state.checkpoints.num-retained 3, checkpoint every 300 ms).

Each case runs wordcount.so at -p 2 over 70,000 generated lines throttled
to --rate 7000 lines/s (about 10 s without failures), its own output folder.

Cases:
  corrupt   once >= 3 checkpoints completed, pick the newest completed
            chk-<n> folder, flip bytes in the middle of its largest .snap
            file and at once kill -9 a task manager that runs subtasks of
            the job (and start a new one). The restart must pass over chk-<n>:
            the job manager's log says "checkpoint <that folder> is unusable"
            and "falling back to the previous completed checkpoint", then
            "restoring from checkpoint <m>" with <m> the newest older
            completed checkpoint. When another checkpoint completed between
            the pick and the kill (the restart then rightly uses it), the
            case says so and tries again (at most 4 times).
            Then the job FINISHES and check_counts passes exactly.
  missing   the same with the largest .snap file of chk-<n> deleted.
  shared    (state.backend rocksdb: incremental checkpoints) the same with
            an SST file deleted from <job folder>/shared/ that chk-<n> lists
            and the previous checkpoint does not (a file new in chk-<n>).
  sst       (rocksdb) the same with bytes flipped in the middle of such a
            file (its size unchanged: found by the CRC32C recorded at
            upload).
            shared and sst run by default only with --backend rocksdb.
  folder    (tolerable-failed-checkpoints -1) while the job runs,
            <state.checkpoints.dir>/<job id> is renamed
            away and a regular file put at its path: counts.failed in
            GET /jobs/:jid/checkpoints grows by >= 2 while the job stays
            RUNNING on its first attempt (no restart) and no checkpoint
            completes; with the folder put back, checkpoints complete again
            (counts.completed grows by >= 2, new chk-<n> folders with
            _metadata on disk); the job FINISHES and check_counts passes.

Usage: checkpoint_faults.py --build BUILD_DIR [--backend hashmap|rocksdb] [--keep]
                            [--case corrupt|missing|shared|sst|folder]...
"""

import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_counts  # noqa: E402
import cluster  # noqa: E402

LINES = 70000
RATE = 7000
TRIES = 4


def start_job(c, name, seed, conf=None):
    inp = cluster.write_input(c.path("input-%s.txt" % name), seed, LINES)
    out = c.path("out-%s" % name)
    jid = c.submit(c.plugin(), ["--input", inp, "--output", out, "--rate", RATE], parallelism=2, conf=conf)
    print("  job %s: wordcount -p 2, %d lines at %d lines/s" % (jid, LINES, RATE), flush=True)
    c.wait_running(jid, timeout=60)
    return jid, inp, out


def finish_and_check(c, chk, jid, inp, out):
    try:
        c.wait_job(jid, {"FINISHED"}, timeout=180)
        chk.ok(True, "the job ends FINISHED")
    except cluster.ClusterError as e:
        chk.fail(str(e))
        return
    check_counts.verify(chk, check_counts.expected_counts([inp]), out)


def restore_lines(c, jid):
    """The job manager's 'restoring from checkpoint <id>' lines of a job: [(id, line)]."""
    out = []
    for line in c.jm.log_text().splitlines():
        if jid in line:
            m = re.search(r"restoring from checkpoint ([0-9]+)", line)
            if m:
                out.append((int(m.group(1)), line))
    return out


def case_damaged(c, chk, how):
    """corrupt / missing: damage the newest completed checkpoint, kill a task
    manager, and check the restart falls back to the previous one."""
    jid, inp, out = start_job(c, how, {"corrupt": 11, "missing": 12, "shared": 14, "sst": 15}[how])
    jobdir = os.path.join(c.path("checkpoints"), jid)
    cluster.wait_until(lambda: (cluster.counts(c, jid).get("completed", 0) >= 3 and
                                len(cluster.chk_folders(jobdir)) >= 3),
                       60, "3 completed checkpoints of job %s" % jid)
    done = False
    damaged = set()  # ids of the folders damaged by earlier tries
    for attempt in range(1, TRIES + 1):
        c.wait_running(jid, timeout=60)
        if len(cluster.chk_folders(jobdir)) < 2:
            cluster.wait_checkpoint_after(c, jid, cluster.latest_completed_id(c, jid), timeout=60)
        j = c.job(jid)
        old_attempt = cluster.job_attempt(j)
        idx, tm = cluster.pick_victim(c, cluster.tms_of_job(c, jid))
        n_restores = len(restore_lines(c, jid))
        # pick, damage, kill: as close together as possible
        folders = cluster.chk_folders(jobdir)
        n, victim_dir = folders[-1]
        older = [i for i, _ in folders[:-1] if i not in damaged]
        if how in ("shared", "sst"):
            new = sorted(set(shared_list(victim_dir)) - set(shared_list(folders[-2][1])))
            if not new:
                print("  try %d: chk-%d lists no shared file the previous one does not; trying again" %
                      (attempt, n), flush=True)
                cluster.wait_checkpoint_after(c, jid, n, timeout=60)
                continue
            snap = os.path.join(jobdir, new[-1])
        else:
            snap = cluster.snap_files(victim_dir)[0]
        damaged.add(n)
        if how in ("corrupt", "sst"):
            cluster.flip_middle(snap)
        else:
            os.unlink(snap)
        t0 = time.monotonic()
        cluster.kill9(c, idx)
        c.start_taskmanager(wait=False)
        print("  try %d: %s %s of chk-%d, then kill -9 task manager %d (%s); older usable: %s" %
              (attempt, "flipped bytes in" if how in ("corrupt", "sst") else "deleted", os.path.basename(snap), n, idx, tm,
               older), flush=True)
        took, info = cluster.wait_recovered(c, jid, old_attempt, t0, timeout=60)
        print("  every subtask RUNNING again %.3f s after the kill (%s)" % (took, " -> ".join(info["states"])),
              flush=True)
        c.wait_taskmanagers(len(c.live_taskmanagers()), timeout=30)
        rl = cluster.wait_until(lambda: restore_lines(c, jid)[n_restores:], 10,
                                "a 'restoring from checkpoint' line in the job manager's log")
        rid, rline = rl[0]
        print("  job manager: %s" % rline.split("  ", 1)[-1], flush=True)
        if rid > n:
            print("  (chk-%d completed between the pick and the kill; the restart used it: trying again)" % rid,
                  flush=True)
            continue
        unusable = [ln for ln in c.jm.log_text().splitlines()
                    if "checkpoint %s is unusable" % victim_dir in ln]
        chk.ok(rid != n, "the restart does not restore the damaged chk-%d" % n, rline)
        chk.ok(unusable, "the job manager's log says checkpoint %s is unusable" % victim_dir)
        if unusable:
            print("  job manager: %s" % unusable[0].split("  ", 1)[-1])
            chk.ok("falling back to the previous" in unusable[0], "... and that the previous one is tried",
                   unusable[0])
            chk.ok(os.path.basename(snap) in unusable[0], "... naming the damaged file", unusable[0])
        chk.ok(older and rid == older[-1], "it restores the previous completed checkpoint chk-%s" %
               (older[-1] if older else "?"), rline)
        done = True
        break
    if not done:
        chk.fail("another checkpoint completed between the pick and the kill in all %d tries" % TRIES)
    cnt = cluster.counts(c, jid)
    chk.ok(cnt.get("restored", 0) >= 1, "/checkpoints counts.restored >= 1", cnt)
    finish_and_check(c, chk, jid, inp, out)


def shared_list(folder):
    """The shared files a completed checkpoint's _metadata lists (paths
    relative to the job folder)."""
    try:
        with open(os.path.join(folder, "_metadata")) as f:
            return json.load(f).get("shared") or []
    except (OSError, ValueError):
        return []


def case_folder(c, chk):
    # Tolerate any number of failed checkpoints (Flink's default, 0, fails
    # the job over at the first one: tests/security/probe_checkpoints.py).
    jid, inp, out = start_job(c, "folder", 13, {"execution.checkpointing.tolerable-failed-checkpoints": "-1"})
    jobdir = os.path.join(c.path("checkpoints"), jid)
    away = jobdir + ".away"
    first = cluster.wait_checkpoint_after(c, jid, 0, timeout=60)
    attempt0 = cluster.job_attempt(c.job(jid))
    cnt0 = cluster.counts(c, jid)
    os.rename(jobdir, away)
    with open(jobdir, "w") as f:
        f.write("not a folder\n")
    t0 = time.monotonic()
    print("  after chk-%d: %s renamed away, a regular file in its place; counts %s" % (first, jobdir, cnt0),
          flush=True)
    states = set()
    attempts = set()

    def failed_grew():
        j = c.job(jid)
        states.add(j.get("state"))
        attempts.add(cluster.job_attempt(j))
        if j.get("state") in cluster.TERMINAL:
            raise cluster.ClusterError("job %s ended %s while its checkpoint folder was gone" %
                                       (jid, j.get("state")))
        cn = cluster.counts(c, jid)
        return cn if cn.get("failed", 0) >= cnt0.get("failed", 0) + 2 else None

    try:
        cnt1 = cluster.wait_until(failed_grew, 30, "2 more failed checkpoints", interval=0.02)
        chk.ok(True, "counts.failed grows while the folder is unusable (%d -> %d, %.1f s)" %
               (cnt0.get("failed", 0), cnt1.get("failed", 0), time.monotonic() - t0))
    except cluster.ClusterError as e:
        chk.fail(str(e))
        cnt1 = cluster.counts(c, jid)
    chk.ok(states == {"RUNNING"} and attempts == {attempt0},
           "the job stays RUNNING on its first attempt meanwhile", (sorted(states), sorted(attempts)))
    chk.ok(cnt1.get("completed") == cnt0.get("completed"), "no checkpoint completes meanwhile",
           (cnt0, cnt1))
    cp = cluster.checkpoints(c, jid)
    lf = (cp.get("latest") or {}).get("failed")
    print("  latest failed checkpoint: %s" % lf)
    # put it back
    os.unlink(jobdir)
    os.rename(away, jobdir)
    print("  folder put back; counts %s" % cnt1, flush=True)
    try:
        cnt2 = cluster.wait_until(
            lambda: (lambda cn: cn if cn.get("completed", 0) >= cnt1.get("completed", 0) + 2 else None)(
                cluster.counts(c, jid)), 30, "2 more completed checkpoints")
        chk.ok(True, "checkpoints complete again once the folder is back (completed %d -> %d)" %
               (cnt1.get("completed", 0), cnt2.get("completed", 0)))
        newest = cluster.newest_completed(jobdir)
        chk.ok(newest and newest[0] > first, "a newer chk-<n> with _metadata is on disk", newest)
    except cluster.ClusterError as e:
        chk.fail(str(e))
    chk.ok(cluster.job_attempt(c.job(jid)) == attempt0 and cluster.counts(c, jid).get("restored", 0) == 0,
           "the job never restarted", cluster.counts(c, jid))
    finish_and_check(c, chk, jid, inp, out)


CASES = ("corrupt", "missing", "shared", "sst", "folder")


def main():
    ap = cluster.arg_parser(__doc__)
    ap.add_argument("--case", choices=CASES, action="append")
    ap.add_argument("--backend", choices=("hashmap", "rocksdb"), default="hashmap")
    a = ap.parse_args()
    chk = cluster.Checks()

    with cluster.Cluster(a.build, taskmanagers=2, slots=2, name="chk-faults", keep=a.keep, checks=chk) as c:
        c.conf.update({"state.checkpoints.dir": c.path("checkpoints"),
                       "execution.checkpointing.interval": "300ms",
                       "state.checkpoints.num-retained": "3",
                       "state.backend": a.backend})
        c.start()
        cases = a.case or [k for k in CASES if k not in ("shared", "sst") or a.backend == "rocksdb"]
        for name in cases:
            print("case %s" % name, flush=True)
            try:
                if name == "folder":
                    case_folder(c, chk)
                else:
                    case_damaged(c, chk, name)
            except cluster.ClusterError as e:
                chk.fail("case %s: %s" % (name, e))
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
