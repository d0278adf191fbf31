#!/usr/bin/env python3
"""cluster_wordcount - wordcount on a real cluster: a job manager and two task
managers with two slots each on 127.0.0.1.

Checks (issue acceptance 1):
  - `flinc run -p 4 wordcount.so --input F --output DIR` prints
    "Job has been submitted with JobID <id>", follows the job and exits 0
    once it is FINISHED;
  - GET /jobs/:jid shows every vertex at parallelism 4 with subtasks on
    both task managers (two per task manager and vertex: slots are full);
  - the committed output holds, for every word, the counts 1..n once each
    (check_counts.py, the same check as the local and chaos tests);
  - `flinc list -a` shows the job FINISHED and `flinc list` does not show it;
  - afterwards every slot is free again, and a detached run (`run -d`)
    at -p 2 returns at once and its job finishes as well.

Usage: cluster_wordcount.py --build BUILD_DIR [--lines N] [--keep]
Exit status 0 when every check passed.
"""

import os
import random
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_counts  # noqa: E402
import cluster  # noqa: E402


def follow_placements(c, proc, found):
    """Read the CLI's stdout; once the job id is printed, poll the job's
    placement until it names every subtask (while the job runs)."""
    lines = []
    for line in proc.stdout:
        lines.append(line)
        jid = cluster.job_id_of(line)
        if jid:
            found["jid"] = jid
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and "placements" not in found:
                try:
                    found["placements"] = c.placements(jid)
                    found["state_at_placement"] = c.job_state(jid)
                except (cluster.ClusterError, OSError, ValueError) as e:
                    found["placement_error"] = str(e)
                    try:
                        if c.job_state(jid) in cluster.TERMINAL:
                            break
                    except (cluster.ClusterError, OSError, ValueError):
                        pass
                    time.sleep(0.05)
    found["stdout"] = "".join(lines)


def main():
    ap = cluster.arg_parser(__doc__)
    ap.add_argument("--lines", type=int, default=200000)
    a = ap.parse_args()
    chk = cluster.Checks()

    with cluster.Cluster(a.build, taskmanagers=2, slots=2, name="wordcount", keep=a.keep, checks=chk) as c:
        job = c.plugin()
        c.start()
        tms = {t["id"] for t in c.taskmanagers()}
        chk.ok(len(tms) == 2, "GET /taskmanagers lists 2 task managers", tms)
        ov = c.overview()
        chk.ok(ov.get("slots-total") == 4 and ov.get("slots-available") == 4, "/overview: 4 slots, all free",
               {k: ov.get(k) for k in ("taskmanagers", "slots-total", "slots-available")})

        inp = cluster.write_words(c.path("input.txt"), random.Random(4242), 3000, a.lines, crlf_every=101)
        out = c.path("out")
        expected = check_counts.expected_counts([inp])

        print("flinc run -p 4 wordcount.so (%d lines)" % a.lines, flush=True)
        t0 = time.monotonic()
        proc = c.flinc_popen("run", "-p", "4", job, "--input", inp, "--output", out)
        found = {}
        reader = threading.Thread(target=follow_placements, args=(c, proc, found), daemon=True)
        reader.start()
        try:
            rc = proc.wait(timeout=300)
        except Exception:
            proc.kill()
            raise
        reader.join(10)
        err = proc.stderr.read()
        took = time.monotonic() - t0
        stdout = found.get("stdout", "")
        print("  flinc run exited %d after %.1fs; stdout:\n    %s" %
              (rc, took, stdout.strip().replace("\n", "\n    ")), flush=True)
        if err.strip():
            print("  stderr:\n    " + err.strip().replace("\n", "\n    "))
        chk.ok(rc == 0, "flinc run exits 0", "exit %d, stderr: %s" % (rc, err.strip()))
        jid = found.get("jid")
        chk.ok(jid and re.fullmatch(r"[0-9a-f]{32}", jid), "the CLI prints 'Job has been submitted with JobID <id>'",
               stdout[:200])
        if not jid:
            return chk.report()
        chk.ok(re.search(r"FINISHED", stdout.splitlines()[-1] if stdout else ""),
               "the CLI's last line says FINISHED", stdout.splitlines()[-1:] if stdout else "")

        # -- placement
        job_doc = c.job(jid)
        chk.ok(job_doc.get("state") == "FINISHED", "GET /jobs/:jid state FINISHED", job_doc.get("state"))
        vs = job_doc.get("vertices", [])
        chk.ok(vs and all(v.get("parallelism") == 4 for v in vs), "every vertex has parallelism 4",
               [(v.get("name"), v.get("parallelism")) for v in vs])
        pl = found.get("placements")
        if pl is None:
            try:
                pl = c.placements(jid)
            except cluster.ClusterError as e:
                chk.fail("the placement of the subtasks is visible in /jobs/:jid (%s; earlier: %s)" %
                         (e, found.get("placement_error")))
        if pl is not None:
            used = set()
            per_tm = {}
            for vid, subs in pl.items():
                for sub, tm in subs.items():
                    used.add(tm)
                    per_tm[(vid, tm)] = per_tm.get((vid, tm), 0) + 1
            print("  placement (seen while %s): %s" % (found.get("state_at_placement", "FINISHED"),
                                                      {v: dict(sorted(s.items())) for v, s in pl.items()}))
            chk.ok(len(used) == 2, "subtasks run on both task managers", used)
            chk.ok(all(n == 2 for n in per_tm.values()), "each task manager runs 2 subtasks of each vertex",
                   per_tm)
            known = {t["id"] for t in c.taskmanagers()} | {t.get("path") for t in c.taskmanagers()}
            chk.ok(used <= known | {None}, "the placement names registered task managers", (used, known))

        # -- the output
        print("  output: %d committed files" % len(cluster.committed_files(out)))
        check_counts.verify(chk, expected, out, "the output holds the counts 1..n once each for every word")

        # -- flinc list
        p = c.flinc("list", "-a")
        line = [ln for ln in p.stdout.splitlines() if jid in ln]
        print("  flinc list -a:\n    " + p.stdout.strip().replace("\n", "\n    "))
        chk.ok(p.returncode == 0 and line and "FINISHED" in line[0].split(), "flinc list -a shows the job FINISHED",
               p.stdout + p.stderr)
        chk.ok(p.stdout.startswith("JOB ID") and "START TIME" in p.stdout.splitlines()[0],
               "flinc list -a prints a table with a header", p.stdout.splitlines()[:1])
        p = c.flinc("list")
        chk.ok(p.returncode == 0 and jid not in p.stdout, "flinc list (running jobs) does not show it", p.stdout)

        # -- slots free, detached run
        cluster.wait_until(lambda: c.overview().get("slots-available") == 4, 5, "all 4 slots free again")
        chk.ok(True, "all 4 slots are free after the job")
        out2 = c.path("out-detached")
        t1 = time.monotonic()
        p = c.flinc("run", "-d", "-p", "2", job, "--input", inp, "--output", out2, timeout=60)
        jid2 = cluster.job_id_of(p.stdout)
        chk.ok(p.returncode == 0 and jid2, "flinc run -d prints the job id and exits 0",
               "exit %d: %s %s" % (p.returncode, p.stdout, p.stderr))
        if jid2:
            print("  run -d returned after %.2fs" % (time.monotonic() - t1))
            try:
                c.wait_job(jid2, {"FINISHED"}, timeout=240)
                chk.ok(True, "the detached job FINISHED")
                check_counts.verify(chk, expected, out2, "the detached job's output is right too")
            except cluster.ClusterError as e:
                chk.fail(str(e))
        ov = c.overview()
        chk.ok(ov.get("jobs-finished", 0) >= 2, "/overview counts the finished jobs", ov)
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
