#!/usr/bin/env python3
"""s3_checkpoints - checkpoints, savepoints and the job store on S3
(issue 19, acceptance 2, on loopback): a real S3-compatible server
(s3proxy, tests/peers/s3proxy/, filesystem store) and a cluster whose
state.checkpoints.dir, state.savepoints.dir and high-availability.storageDir
are s3://flinc/... URLs. Every process works on a private local twin of
those folders (a fresh mkdtemp of its own, docs/checkpoints.md "Checkpoints
on S3"), so whatever one process needs of another's files must go through
the bucket.

Cases (wordcount.so, the RocksDB backend with incremental checkpoints, a
checkpoint every 300 ms):
  (a) a task manager killed with kill -9 mid-run: the job recovers from the
      checkpoint in the bucket on the others and its output passes the
      exactly-once 1..n check; the bucket holds chk-<n>/_metadata, the
      snapshot files and shared/ SST files of the job; a later checkpoint
      writes less than its state and still uses an earlier SST object
      (incremental); GET .../checkpoints/config shows the s3:// folder and
      GET /jobmanager/config hides the secret; latest.restored is
      an s3:// URL; retention and shared-file collection keep the bucket
      small (at most num-retained + 1 chk folders while it runs, every
      shared object listed by a retained checkpoint once it ended);
  (b) the job manager killed with kill -9 and started again (its job store
      and plugins only in the bucket): it recovers the job from the
      bucket, which FINISHES with exact output; the job's record leaves the
      bucket when it ends;
  (c) `flinc stop` with a savepoint into s3://flinc/sp: the printed path is
      an s3:// URL, the bucket holds its _metadata and files; `flinc run -s
      <url> -p 3 -D state.backend=hashmap` completes the counts exactly
      once; `flinc savepoint -d <url>` removes its objects;
  (d) a missing bucket refused at `flinc run` (exit 1, one line), a job's
      own s3.endpoint refused (a cluster key), a wrong secret refused by
      `flinc local` before the job runs.

Usage: s3_checkpoints.py --build BUILD_DIR [--keep] [--cases abcd]
"""

import json
import os
import re
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "peers", "s3proxy"))
import check_counts  # noqa: E402
import cluster  # noqa: E402
import s3proxy  # noqa: E402

BUCKET = "flinc"
PATH_RE = re.compile(r"^Savepoint completed\. Path: (\S+)\s*$", re.M)


def chk_ids(proxy, prefix):
    """ids of chk-<n> folders with a _metadata in the bucket under prefix."""
    out = set()
    for k in proxy.keys(BUCKET, prefix):
        m = re.match(re.escape(prefix) + r"chk-(\d+)/_metadata$", k)
        if m:
            out.add(int(m.group(1)))
    return out


def describe(p):
    return "exit %d, stdout %r, stderr %r" % (p.returncode, p.stdout[-600:], p.stderr[-600:])


def case_kill_tm(c, proxy, chk, job):
    print("(a) kill -9 of a task manager, recovery from S3", flush=True)
    # 24 s at 5000 lines/s: room for the checkpoints below when the machine is busy
    inp = cluster.write_input(c.path("input-a.txt"), 11, 120000)
    out = c.path("out-a")
    jid = c.submit(job, ["--input", inp, "--output", out, "--rate", "5000"], parallelism=4)
    prefix = "chk/%s/" % jid
    cluster.wait_until(lambda: len(chk_ids(proxy, prefix)) >= 1 and cluster.counts(c, jid)["completed"] >= 2,
                       60, "two completed checkpoints in the bucket")
    keys = proxy.keys(BUCKET, prefix)
    chk.ok(any(k.endswith(".snap") for k in keys), "the bucket holds the subtasks' snapshot files")
    chk.ok(any(k.startswith(prefix + "shared/") and k.endswith(".sst") for k in keys),
           "the bucket holds shared SST files of incremental checkpoints")
    chk.ok(any(".native/SHARED" in k for k in keys), "and the native checkpoints' SHARED lists")
    # incremental: a later checkpoint puts only what changed, and an SST
    # object of an earlier one is still used by a later one
    first_ssts = {k for k in keys if k.endswith(".sst")}
    cluster.wait_checkpoint_after(c, jid, cluster.latest_completed_id(c, jid), timeout=60)
    hist = [h for h in cluster.checkpoints(c, jid).get("history", []) if h.get("status") == "COMPLETED"]
    chk.ok(any(0 < h.get("checkpointed_size", 0) < h.get("state_size", 0) for h in hist),
           "incremental on S3: a checkpoint wrote less than the state it holds",
           [(h.get("id"), h.get("checkpointed_size"), h.get("state_size")) for h in hist])
    later = {k for k in proxy.keys(BUCKET, prefix) if k.endswith(".sst")}
    chk.ok(first_ssts & later, "an SST object in the bucket is shared by a later checkpoint")
    cfg = c.get("/jobs/%s/checkpoints/config" % jid)
    chk.ok(cfg.get("checkpoints_dir") == "s3://%s/chk/%s" % (BUCKET, jid),
           "REST shows the job's checkpoint folder as its s3:// URL", cfg.get("checkpoints_dir"))
    cc = json.dumps(c.get("/jobmanager/config"))
    chk.ok(proxy.secret_key not in cc and "s3.secret-key" in cc, "GET /jobmanager/config hides s3.secret-key")
    old_attempt = cluster.job_attempt(c.job(jid))
    victims = cluster.tms_of_job(c, jid)
    idx, _ = cluster.pick_victim(c, victims)
    t0 = time.monotonic()
    cluster.kill9(c, idx)
    c.say("cluster: killed task manager %d" % idx)
    secs, info = cluster.wait_recovered(c, jid, old_attempt, t0, timeout=90)
    c.say("cluster: recovered in %.2f s (%s)" % (secs, info["states"]))
    seen = []
    while c.job_state(jid) not in ("FINISHED", "FAILED", "CANCELED"):
        seen.append(len(chk_ids(proxy, prefix)))
        time.sleep(0.2)
    st = c.job_state(jid)
    chk.ok(st == "FINISHED", "the job FINISHES after the task manager was killed", st)
    cps = cluster.checkpoints(c, jid)
    rest = (cps["latest"].get("restored") or {}).get("external_path") or ""
    chk.ok(cps["counts"]["restored"] >= 1 and rest.startswith("s3://%s/chk/%s/chk-" % (BUCKET, jid)),
           "it restored from a checkpoint in the bucket", "%s %r" % (cps["counts"], rest))
    check_counts.verify(chk, check_counts.expected_counts([inp]), out)
    chk.ok(seen and max(seen) <= 2, "retention: at most 2 completed checkpoints in the bucket at a time",
           max(seen) if seen else None)
    # every shared object is listed by a retained checkpoint (none leaks)
    metas = [k for k in proxy.keys(BUCKET, prefix) if k.endswith("/_metadata")]
    listed = set()
    for m in metas:
        with open(proxy.object_path(BUCKET, m)) as f:
            listed |= {prefix + s for s in json.load(f).get("shared", [])}
    shared = {k for k in proxy.keys(BUCKET, prefix + "shared/")}
    chk.ok(shared <= listed, "every shared object in the bucket is listed by a retained checkpoint",
           sorted(shared - listed)[:5])
    chk.ok(not os.path.exists(c.path("chk")), "nothing was written to a local folder named like the bucket")


def case_jm_restart(c, proxy, chk, job):
    print("(b) kill -9 of the job manager, its job store on S3", flush=True)
    inp = cluster.write_input(c.path("input-b.txt"), 7, 60000)
    out = c.path("out-b")
    jid = c.submit(job, ["--input", inp, "--output", out, "--rate", "5000"], parallelism=2)
    prefix = "chk/%s/" % jid
    cluster.wait_until(lambda: len(chk_ids(proxy, prefix)) >= 1 and cluster.counts(c, jid)["completed"] >= 2,
                       60, "two completed checkpoints in the bucket")
    chk.ok("ha/jobs/%s.json" % jid in proxy.keys(BUCKET, "ha/"), "the job's record is in the bucket",
           proxy.keys(BUCKET, "ha/"))
    chk.ok(any(k.startswith("ha/blobs/") for k in proxy.keys(BUCKET, "ha/")), "and its plugin")
    c.jm.signal(signal.SIGKILL)
    c.jm.proc.wait(10)
    t_kill = time.monotonic()
    c.say("cluster: job manager killed; starting it again on the same ports")
    c.restart_jobmanager(timeout=30)
    st = c.wait_job(jid, {"RUNNING", "FINISHED"}, timeout=60)
    c.say("cluster: the job is %s again %.2f s after the kill" % (st["state"], time.monotonic() - t_kill))
    st = c.wait_job(jid, {"FINISHED"}, timeout=120)
    chk.ok(st["state"] == "FINISHED", "the recovered job FINISHES")
    cps = cluster.checkpoints(c, jid)
    rest = (cps["latest"].get("restored") or {}).get("external_path") or ""
    chk.ok(cps["counts"]["restored"] >= 1 and rest.startswith("s3://%s/chk/%s/chk-" % (BUCKET, jid)),
           "the new job manager restored it from the bucket", "%s %r" % (cps["counts"], rest))
    check_counts.verify(chk, check_counts.expected_counts([inp]), out)
    chk.ok("ha/jobs/%s.json" % jid not in proxy.keys(BUCKET, "ha/"), "the ended job left the job store")
    log = c.jm.log_text()
    chk.ok("recovered job %s, restoring from s3://" % jid in log, "its log says it restored from s3://")


def case_savepoint(c, proxy, chk, job):
    print("(c) stop with a savepoint to S3, restore from it, dispose of it", flush=True)
    inp = cluster.write_input(c.path("input-c.txt"), 5, 60000)
    out = c.path("out-c")
    expected = check_counts.expected_counts([inp])
    jid = c.submit(job, ["--input", inp, "--output", out, "--rate", "5000"], parallelism=2)
    cluster.wait_until(lambda: cluster.counts(c, jid)["completed"] >= 1, 60, "a completed checkpoint")
    p = c.flinc("stop", jid, timeout=120)
    m = PATH_RE.search(p.stdout)
    sp = m.group(1) if m else None
    chk.ok(p.returncode == 0 and sp and sp.startswith("s3://%s/sp/savepoint-" % BUCKET),
           "flinc stop prints an s3:// savepoint path", describe(p))
    if not sp:
        return
    c.wait_job(jid, {"FINISHED"}, timeout=30)
    key = sp[len("s3://%s/" % BUCKET):]
    keys = proxy.keys(BUCKET, key + "/")
    chk.ok(key + "/_metadata" in keys and any(k.endswith(".snap") for k in keys),
           "the bucket holds the savepoint's _metadata and files", keys)
    if key + "/_metadata" in keys:
        with open(proxy.object_path(BUCKET, key + "/_metadata")) as f:
            meta = json.load(f)
        chk.ok(meta.get("is_savepoint") is True and not meta.get("shared"), "it is a self-contained savepoint")
    pairs, errs = check_counts.read_output(out)
    chk.ok(pairs and len(pairs) < sum(expected.values()), "the stopped job's output is partial",
           "%d of %d" % (len(pairs), sum(expected.values())))
    p = c.flinc("run", "-s", sp, "-p", "3", "-D", "state.backend=hashmap", job, "--input", inp, "--output", out,
                timeout=240)
    jid2 = cluster.job_id_of(p.stdout)
    chk.ok(p.returncode == 0 and jid2 and "FINISHED" in p.stdout,
           "the job restored from the s3:// savepoint at -p 3 into hashmap FINISHES", describe(p))
    check_counts.verify(chk, expected, out, "the continued run completes the counts exactly once")
    if jid2:
        rest = (cluster.checkpoints(c, jid2).get("latest") or {}).get("restored") or {}
        chk.ok(rest.get("external_path") == sp and rest.get("is_savepoint") is True,
               "its latest.restored is the s3:// savepoint", rest)
    p = c.flinc("savepoint", "-d", sp)
    chk.ok(p.returncode == 0 and not proxy.keys(BUCKET, key + "/"), "flinc savepoint -d removes its objects",
           describe(p) + " left: %s" % proxy.keys(BUCKET, key + "/"))
    p = c.flinc("savepoint", "-d", sp)
    chk.ok(p.returncode == 1 and p.stderr.count("\n") == 1, "disposing of it again: exit 1, one line", describe(p))


def case_errors(c, proxy, chk, job):
    print("(d) storage that cannot work is refused before the job runs, in one line", flush=True)
    inp = cluster.write_input(c.path("input-d.txt"), 3, 100)
    p = c.flinc("run", "-d", "-D", "state.checkpoints.dir=s3://no-such-bucket/chk", job, "--input", inp,
                "--output", c.path("out-d"))
    chk.ok(p.returncode == 1 and p.stderr.count("\n") == 1 and "NoSuchBucket" in p.stderr,
           "flinc run with a missing bucket: exit 1, one line naming NoSuchBucket", describe(p))
    p = c.flinc("run", "-d", "-D", "s3.endpoint=http://127.0.0.1:1", job, "--input", inp, "--output",
                c.path("out-d"))
    chk.ok(p.returncode in (1, 2) and "cluster setting" in p.stderr,
           "a job cannot point the cluster's S3 credentials at another endpoint", describe(p))
    conf = dict(proxy.conf())
    conf["s3.secret-key"] = "wrong"
    conf["state.checkpoints.dir"] = "s3://%s/local" % BUCKET
    argv = cluster.local_argv(c.build, "wordcount", 1, conf)
    p, _ = cluster.run_cmd(argv + ["--input", inp, "--output", c.path("out-d2")], 60)
    err = p.stderr if p else ""
    chk.ok(p and p.returncode == 1 and "HTTP 403" in err and "s3.secret-key" in err,
           "flinc local with a wrong secret: exit 1 naming HTTP 403 and s3.secret-key", err[-400:])
    chk.ok(not proxy.keys(BUCKET, "local/"), "and nothing reached the bucket")


def main():
    ap = cluster.arg_parser(__doc__)
    ap.add_argument("--cases", default="abcd", help="which cases to run (letters, default abcd)")
    a = ap.parse_args()
    chk = cluster.Checks()
    with s3proxy.S3Proxy(buckets=[BUCKET], log=lambda m: print(m, flush=True), keep=a.keep) as proxy:
        conf = dict(proxy.conf())
        conf.update({"state.checkpoints.dir": "s3://%s/chk" % BUCKET,
                     "state.savepoints.dir": "s3://%s/sp" % BUCKET,
                     "execution.checkpointing.interval": "300ms",
                     "state.backend": "rocksdb"})
        # no local blob folder: the plugins live in the job store, in the bucket
        jm_conf = {"high-availability.storageDir": "s3://%s/ha" % BUCKET, "jobmanager.blob.dir": ""}
        with cluster.Cluster(a.build, taskmanagers=3, slots=2, conf=conf, jm_conf=jm_conf, name="s3-chk",
                             keep=a.keep, checks=chk) as c:
            job = c.plugin()
            # local files (RocksDB, the twins of the s3:// folders) inside the
            # test's folder: what a kill -9 leaves goes with it
            c.conf["state.backend.rocksdb.localdir"] = c.path("local")
            c.start()
            cases = dict(zip("abcd", (case_kill_tm, case_jm_restart, case_savepoint, case_errors)))
            for case in [cases[x] for x in a.cases]:
                try:
                    case(c, proxy, chk, job)
                except cluster.ClusterError as e:
                    chk.fail("%s: %s" % (case.__name__, e))
            if chk.errors:
                print(proxy.tail(20))
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
