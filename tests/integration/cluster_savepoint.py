#!/usr/bin/env python3
"""cluster_savepoint - savepoints through the CLI: take one, stop with one,
restore from one at another parallelism and with the other state backend,
dispose of one, and refuse corrupt ones (a job manager and two task
managers with two slots each on 127.0.0.1; state.checkpoints.dir set for
the cluster, checkpoint every 500 ms).

The job: wordcount.so over 100,000 generated lines, the first run at -p 2
with the hashmap backend, throttled to --rate 5000 lines/s (20 s of work).

Checks:
  (a) after a checkpoint completed, `flinc savepoint JOBID DIR` exits 0 and
      prints "Savepoint completed. Path: <path>" with <path> a new folder
      in DIR whose _metadata says is_savepoint (and names the job); the job
      is still RUNNING; GET /jobs/:jid/checkpoints latest.savepoint is it;
  (b) `flinc stop --savepoint-path DIR JOBID` mid-run: exit 0, the path
      printed, the job FINISHED; the committed output so far is a partial
      exactly-once prefix (each word's counts are 1..k once each, k <= n,
      and some words are not complete yet; no uncommitted file left);
  (c) `flinc run -s <stop savepoint> -p 3 -D state.backend=rocksdb` over the
      same input and output folder: FINISHED, exit 0, and check_counts
      passes exactly on the output folder (the restored run completes the
      counts: nothing counted twice, nothing lost); its /checkpoints
      latest.restored is the savepoint (is_savepoint true);
  (d) `flinc savepoint -d <first savepoint>` exits 0 and the folder is gone;
      disposing of it again, or of a folder that is not a savepoint, exits 1
      with one line;
  (e) a copy of the savepoint with bytes flipped in the middle of a .snap
      file, one with a truncated .snap file, one with a .snap file missing,
      an empty folder and a path that does not exist, each given to
      `flinc run -s`: exit 1, exactly one line on stderr naming the problem
      (and the file, for the .snap cases), and no job created
      (GET /jobs/overview unchanged) and no upload left (GET /jars unchanged).

Usage: cluster_savepoint.py --build BUILD_DIR [--keep]
"""

import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_counts  # noqa: E402
import cluster  # noqa: E402

LINES = 100000
RATE = 5000
PATH_RE = re.compile(r"^Savepoint completed\. Path: (\S+)\s*$", re.M)


def savepoint_path(p):
    m = PATH_RE.search(p.stdout)
    return m.group(1) if m else None


def describe(p):
    return "exit %d, stdout %r, stderr %r" % (p.returncode, p.stdout[-600:], p.stderr[-600:])


def main():
    a = cluster.arg_parser(__doc__).parse_args()
    chk = cluster.Checks()

    with cluster.Cluster(a.build, taskmanagers=2, slots=2, name="savepoint", keep=a.keep, checks=chk) as c:
        job = c.plugin()
        spdir = c.path("savepoints")
        # Savepoints are taken, restored and disposed of under it only
        # (docs/savepoints.md, "Where savepoints may go").
        c.conf.update({"state.checkpoints.dir": c.path("checkpoints"),
                       "state.savepoints.dir": spdir,
                       "execution.checkpointing.interval": "500ms"})
        c.start()
        inp = cluster.write_input(c.path("input.txt"), 777, LINES)
        out = c.path("out")
        expected = check_counts.expected_counts([inp])

        # ---- (a) a savepoint of a running job
        print("(a) flinc savepoint of a running job", flush=True)
        jid = c.submit(job, ["--input", inp, "--output", out, "--rate", RATE], parallelism=2,
                       conf={"state.backend": "hashmap"})
        c.wait_running(jid, timeout=60)
        cluster.wait_checkpoint_after(c, jid, 0, timeout=60)
        p = c.flinc("savepoint", jid, spdir)
        sp1 = savepoint_path(p)
        chk.ok(p.returncode == 0 and sp1, "flinc savepoint exits 0 and prints the path", describe(p))
        chk.ok(c.job_state(jid) == "RUNNING", "the job is still RUNNING after the savepoint", c.job_state(jid))
        if sp1:
            chk.ok(os.path.dirname(os.path.abspath(sp1)) == os.path.abspath(spdir) and os.path.isdir(sp1),
                   "the savepoint is a folder in the given directory", sp1)
            try:
                meta = cluster.read_metadata(sp1)
            except (OSError, ValueError) as e:
                meta = {"error": str(e)}
            chk.ok(meta.get("is_savepoint") is True and meta.get("job_id") == jid,
                   "its _metadata says is_savepoint, of this job", {k: meta.get(k) for k in
                                                                     ("is_savepoint", "job_id", "error")})
            chk.ok(meta.get("files") and all(os.path.isfile(os.path.join(sp1, f["path"])) for f in meta["files"]),
                   "every file _metadata lists is in the folder", meta.get("files"))
            latest_sp = (cluster.checkpoints(c, jid).get("latest") or {}).get("savepoint") or {}
            chk.ok(latest_sp.get("external_path") == sp1 and latest_sp.get("is_savepoint") is True,
                   "/checkpoints latest.savepoint is that savepoint", latest_sp)

        # ---- (b) stop with a savepoint
        print("(b) flinc stop --savepoint-path mid-run", flush=True)
        cluster.wait_checkpoint_after(c, jid, cluster.latest_completed_id(c, jid), timeout=60)
        p = c.flinc("stop", "--savepoint-path", spdir, jid)
        sp2 = savepoint_path(p)
        chk.ok(p.returncode == 0 and sp2 and sp2 != sp1, "flinc stop exits 0 and prints a new savepoint's path",
               describe(p))
        try:
            c.wait_job(jid, {"FINISHED"}, timeout=30)
            chk.ok(True, "the stopped job is FINISHED")
        except cluster.ClusterError as e:
            chk.fail(str(e))
        if sp2:
            try:
                meta2 = cluster.read_metadata(sp2)
            except (OSError, ValueError) as e:
                meta2 = {"error": str(e)}
            chk.ok(meta2.get("is_savepoint") is True, "its _metadata says is_savepoint", meta2.get("is_savepoint"))
        pairs, errs = check_counts.read_output(out)
        chk.ok(not errs, "the output after stop holds committed files only", errs[:5])
        bad = check_counts.prefix_errors(expected, pairs)
        total = sum(expected.values())
        chk.ok(pairs and not bad, "every word's committed counts are 1..k once each (an exactly-once prefix)",
               bad[:5])
        chk.ok(0 < len(pairs) < total, "the output is partial: %d of %d counts" % (len(pairs), total))

        # ---- (c) restore at -p 3 into rocksdb
        print("(c) flinc run -s <stop savepoint> -p 3 -D state.backend=rocksdb", flush=True)
        jid2 = None
        if sp2:
            p = c.flinc("run", "-s", sp2, "-p", "3", "-D", "state.backend=rocksdb", job,
                        "--input", inp, "--output", out, timeout=240)
            jid2 = cluster.job_id_of(p.stdout)
            chk.ok(p.returncode == 0 and jid2 and "FINISHED" in p.stdout,
                   "the restored job runs to FINISHED at -p 3 with rocksdb", describe(p))
            check_counts.verify(chk, expected, out, "the continued run completes the counts exactly once")
            if jid2:
                j2 = c.job(jid2)
                chk.ok(j2.get("parallelism") == 3, "the restored job ran at parallelism 3", j2.get("parallelism"))
                rest = (cluster.checkpoints(c, jid2).get("latest") or {}).get("restored") or {}
                chk.ok(rest.get("external_path") == sp2 and rest.get("is_savepoint") is True,
                       "its /checkpoints latest.restored is the savepoint", rest)
        else:
            chk.fail("(c) skipped: no savepoint from (b)")

        # ---- (d) disposal
        print("(d) flinc savepoint -d", flush=True)
        if sp1:
            p = c.flinc("savepoint", "-d", sp1)
            chk.ok(p.returncode == 0 and not os.path.exists(sp1), "flinc savepoint -d removes the first savepoint",
                   describe(p) + "; exists: %s" % os.path.exists(sp1))
            p = c.flinc("savepoint", "-d", sp1)
            chk.ok(p.returncode == 1 and p.stderr.count("\n") == 1 and not p.stdout,
                   "disposing of it again: exit 1, one line", describe(p))
        notsp = c.path("checkpoints")
        p = c.flinc("savepoint", "-d", notsp)
        chk.ok(p.returncode == 1 and p.stderr.count("\n") == 1 and os.path.isdir(notsp),
               "disposing of a folder that is not a savepoint: exit 1, one line, folder kept", describe(p))

        # ---- (e) corrupt savepoints are refused before a job exists
        print("(e) flinc run -s with corrupt savepoints and non-savepoints", flush=True)
        if sp2:
            cases = []
            flipped = os.path.join(spdir, "sp-flipped")
            shutil.copytree(sp2, flipped)
            f = cluster.snap_files(flipped)[0]
            cluster.flip_middle(f)
            cases.append(("bytes flipped in the middle of %s" % os.path.basename(f), flipped,
                          [os.path.basename(f)], r"corrupt|checksum|crc"))
            trunc = os.path.join(spdir, "sp-truncated")
            shutil.copytree(sp2, trunc)
            f = cluster.snap_files(trunc)[0]
            cluster.truncate_half(f)
            cases.append(("%s truncated to half" % os.path.basename(f), trunc, [os.path.basename(f)],
                          r"truncat|size|corrupt"))
            missing = os.path.join(spdir, "sp-missing")
            shutil.copytree(sp2, missing)
            f = cluster.snap_files(missing)[-1]
            os.unlink(f)
            cases.append(("%s deleted" % os.path.basename(f), missing, [os.path.basename(f)],
                          r"no such file|missing|not found"))
            empty = os.path.join(spdir, "not-a-savepoint")
            os.mkdir(empty)
            cases.append(("an empty folder", empty, ["_metadata"], r"_metadata"))
            cases.append(("a path that does not exist", os.path.join(spdir, "no-such-savepoint"), [], r"."))
            ov_before = c.get("/jobs/overview")
            jars_before = sorted(x["id"] for x in c.get("/jars").get("files", []))
            for what, path, names, pattern in cases:
                p = c.flinc("run", "-s", path, "-p", "2", job, "--input", inp, "--output", c.path("out-bad"))
                lines = p.stderr.splitlines()
                one = len(lines) == 1 and p.stderr.endswith("\n")
                named = one and all(n in lines[0] for n in names) and re.search(pattern, lines[0], re.I)
                chk.ok(p.returncode == 1 and one and named and cluster.job_id_of(p.stdout) is None,
                       "run -s with %s: exit 1, one line naming the problem" % what, describe(p))
                if lines:
                    print("    stderr: %s" % lines[0])
            chk.ok(c.get("/jobs/overview") == ov_before, "no job was created (GET /jobs/overview unchanged)",
                   c.get("/jobs/overview"))
            jars_after = sorted(x["id"] for x in c.get("/jars").get("files", []))
            chk.ok(jars_after == jars_before, "no upload left behind (GET /jars unchanged)",
                   (jars_before, jars_after))
            # (building the graph to validate it creates the output folder; nothing may be written in it)
            ob = c.path("out-bad")
            chk.ok(not os.path.isdir(ob) or not os.listdir(ob), "nothing was written to the output folder",
                   os.listdir(ob) if os.path.isdir(ob) else "")
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
