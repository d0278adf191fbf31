#!/usr/bin/env python3
"""probe_files - savepoint paths a client names stay inside the job
manager's folders (issue 15, findings 3 (the FIFO half), 6 and 8).

A job manager (state.savepoints.dir SP, state.checkpoints.dir CHK) and one
task manager; a running job, and a real savepoint L of it in SP. Then:

  fifo       a savepoint folder in SP whose _metadata is a FIFO (and a copy
             of L with a .snap replaced by a FIFO): restoring from it is a
             400 at once, disposing of it fails at once, REST answers
             meanwhile (timed) and the running job is unaffected. It used
             to block REST for good.
  outside    target-directory, a job's state.savepoints.dir, savepointPath
             and savepoint-disposal outside SP (CHK too for reading): 400;
             an outside path that exists (a real savepoint, /etc) and one
             that does not get the same answer but for the path, and
             nothing outside is touched. '..' does not get out either.
  symlinks   a symlink to L, a path through a symlinked folder to a real
             savepoint outside, a savepoint with a symlinked folder inside
             (a canary file behind it) and one whose listed file is a
             symlink to a canary: restore refused, disposal refuses or
             removes only the link; every canary survives.
  contents   a _metadata that is some other file: the error does not quote
             it.
  dispose    the real savepoint L is disposed of (it still works).

Usage: probe_files.py --build BUILD_DIR [--keep]
"""

import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import cluster  # noqa: E402


def timed(fn, *args, **kw):
    t0 = time.monotonic()
    try:
        r = fn(*args, **kw)
    except OSError as e:  # a timeout: the call blocked
        r = (None, "(%s)" % e)
    return r, time.monotonic() - t0


def run_from(c, jar, inp, path, timeout=10):
    """POST /jars/:jar/run from savepointPath `path`: (status, message, seconds)."""
    (st, body), dt = timed(c.request, "POST", "/jars/%s/run" % jar,
                           {"programArgsList": ["--input", inp], "savepointPath": path}, timeout=timeout)
    return st, cluster.error_message(body) or str(body), dt


def dispose(c, path, timeout=10):
    """POST /savepoint-disposal and poll it: (status, outcome message or None for success, seconds)."""
    t0 = time.monotonic()
    try:
        st, body = c.request("POST", "/savepoint-disposal", {"savepoint-path": path}, timeout=timeout)
    except OSError as e:
        return None, "(%s)" % e, time.monotonic() - t0
    if st != 202:
        return st, cluster.error_message(body) or str(body), time.monotonic() - t0
    rid = body["request-id"]

    def done():
        s, b = c.request("GET", "/savepoint-disposal/%s" % rid)
        return b if s == 200 and b.get("status", {}).get("id") == "COMPLETED" else None

    b = cluster.wait_until(done, 30, "disposal %s" % rid)
    fc = b.get("operation", {}).get("failure-cause")
    return 202, (fc.get("stack-trace") if fc else None), time.monotonic() - t0


def take_savepoint(c, jid, target):
    st, body = c.request("POST", "/jobs/%s/savepoints" % jid, {"target-directory": target})
    if st != 202:
        raise cluster.ClusterError("savepoint: %d %s" % (st, body))
    rid = body["request-id"]

    def done():
        s, b = c.request("GET", "/jobs/%s/savepoints/%s" % (jid, rid))
        return b if s == 200 and b.get("status", {}).get("id") == "COMPLETED" else None

    b = cluster.wait_until(done, 60, "savepoint %s" % rid)
    op = b.get("operation", {})
    if "location" not in op:
        raise cluster.ClusterError("savepoint failed: %s" % op)
    return op["location"]


def same_but_path(a, b, pa, pb):
    return a.replace(pa, "<P>") == b.replace(pb, "<P>")


def responsive(c, chk, jid, what):
    (st, _), dt = timed(c.request, "GET", "/overview", timeout=5)
    chk.ok(st == 200 and dt < 1.0, "%s: GET /overview answers in %.3f s" % (what, dt), st)
    chk.ok(c.job_state(jid) == "RUNNING", "%s: the running job is unaffected" % what, c.job_state(jid))


def probe_fifo(c, chk, jar, inp, jid, sp, L):
    print("fifo: _metadata (and a .snap) that is a FIFO", flush=True)
    f = os.path.join(sp, "fifo-sp")
    os.mkdir(f)
    os.mkfifo(os.path.join(f, "_metadata"))
    st, msg, dt = run_from(c, jar, inp, f)
    chk.ok(st == 400 and "FIFO" in msg and dt < 3, "restore from it: 400 in %.3f s" % dt, (st, msg))
    print("    %s" % msg)
    responsive(c, chk, jid, "after the FIFO restore")
    st, why, dt = dispose(c, f)
    chk.ok(st == 202 and why and "FIFO" in why and dt < 3, "dispose of it: fails in %.3f s" % dt, (st, why))
    print("    %s" % why)
    chk.ok(os.path.exists(os.path.join(f, "_metadata")), "the FIFO is still there (nothing removed)")
    g = os.path.join(sp, "fifo-snap")
    shutil.copytree(L, g)
    snap = cluster.snap_files(g)[0]
    os.unlink(snap)
    os.mkfifo(snap)
    st, msg, dt = run_from(c, jar, inp, g)
    chk.ok(st == 400 and os.path.basename(snap) in msg and dt < 3, "a .snap that is a FIFO: 400 in %.3f s" % dt,
           (st, msg))
    print("    %s" % msg)
    responsive(c, chk, jid, "after the FIFO .snap")


def probe_outside(c, chk, jar, inp, jid, sp, L, outside):
    print("outside: paths outside the job manager's folders", flush=True)
    real = os.path.join(outside, "spcopy")
    shutil.copytree(L, real)
    missing = os.path.join(outside, "no-such-folder")
    # target-directory
    answers = {}
    for path in (outside, missing, "/etc", os.path.join(sp, "..", "outside")):
        st, body = c.request("POST", "/jobs/%s/savepoints" % jid, {"target-directory": path})
        answers[path] = cluster.error_message(body) or str(body)
        chk.ok(st == 400 and "state.savepoints.dir" in answers[path], "target-directory %s: 400" % path,
               (st, body))
    print("    %s" % answers[outside])
    chk.ok(same_but_path(answers[outside], answers[missing], outside, missing) and
           same_but_path(answers["/etc"], answers[missing], "/etc", missing),
           "the same answer for an existing and a missing folder", answers)
    chk.ok(os.listdir(outside) == ["spcopy"], "nothing was written outside", os.listdir(outside))
    # a job's own state.savepoints.dir
    st, body = c.request("POST", "/jars/%s/run" % jar, {"programArgsList": ["--input", inp],
                                                        "flinkConfiguration": {"state.savepoints.dir": outside}})
    chk.ok(st == 400 and "state.savepoints.dir" in (cluster.error_message(body) or ""),
           "a job's state.savepoints.dir outside: 400", (st, body))
    # savepointPath
    ans = {}
    for path in (real, missing, "/etc", os.path.join(sp, "..", "outside", "spcopy")):
        st, msg, dt = run_from(c, jar, inp, path)
        ans[path] = msg
        chk.ok(st == 400 and "cannot restore from" in msg, "savepointPath %s: 400" % path, (st, msg))
    print("    %s" % ans[real])
    chk.ok(same_but_path(ans[real], ans[missing], real, missing) and
           same_but_path(ans["/etc"], ans[missing], "/etc", missing),
           "the same answer for a real savepoint outside, /etc and a missing path", ans)
    # disposal
    ans = {}
    for path in (real, missing, "/etc", os.path.join(sp, "..", "outside", "spcopy"), sp):
        st, msg, dt = dispose(c, path)
        ans[path] = msg
        chk.ok(st == 400, "dispose of %s: 400" % path, (st, msg))
    print("    %s" % ans[real])
    chk.ok(same_but_path(ans[real], ans[missing], real, missing), "the same answer for a real savepoint and none",
           ans)
    chk.ok(os.path.exists(os.path.join(real, "_metadata")) and os.path.isdir(sp),
           "the savepoint outside (and SP itself) are untouched")
    return real


def copy_with_link(L, dst, outside, name):
    """A copy of L at dst whose first listed file is under sub/, sub being a
    symlink to outside/<name> holding canaries: (canary paths)."""
    shutil.copytree(L, dst)
    meta = cluster.read_metadata(dst)
    f0 = meta["files"][0]["path"]
    meta["files"][0]["path"] = "sub/" + f0
    with open(os.path.join(dst, "_metadata"), "w") as f:
        json.dump(meta, f)
    cdir = os.path.join(outside, name)
    os.mkdir(cdir)
    canaries = [os.path.join(cdir, f0), os.path.join(cdir, "canary.txt")]
    for p in canaries:
        with open(p, "w") as f:
            f.write("canary\n")
    os.symlink(cdir, os.path.join(dst, "sub"))
    return canaries


def probe_symlinks(c, chk, jar, inp, sp, L, outside, real):
    print("symlinks: links inside and on the way", flush=True)
    link = os.path.join(sp, "link-sp")
    os.symlink(L, link)
    st, msg, _ = run_from(c, jar, inp, link)
    chk.ok(st == 400 and "symbolic link" in msg, "restore from a symlinked savepoint: 400", (st, msg))
    print("    %s" % msg)
    st, why, _ = dispose(c, link)
    chk.ok(st in (202, 400) and why and "symbolic link" in why, "disposal of it refused", (st, why))
    chk.ok(os.path.exists(os.path.join(L, "_metadata")), "the savepoint it points to is intact")

    via = os.path.join(sp, "outlink")
    os.symlink(os.path.dirname(real), via)
    path = os.path.join(via, os.path.basename(real))
    st, msg, _ = run_from(c, jar, inp, path)
    chk.ok(st == 400 and "symbolic link" in msg, "restore through a symlinked folder: 400", (st, msg))
    st, why, _ = dispose(c, path)
    chk.ok(why and "symbolic link" in why, "disposal through it refused", (st, why))
    chk.ok(os.path.exists(os.path.join(real, "_metadata")), "the savepoint outside is intact")

    evil = os.path.join(sp, "evil-dir")
    canaries = copy_with_link(L, evil, outside, "canary-dir")
    st, msg, _ = run_from(c, jar, inp, evil)
    chk.ok(st == 400 and "symbolic link" in msg, "restore from a savepoint with a symlinked folder: 400", (st, msg))
    st, why, _ = dispose(c, evil)
    chk.ok(st == 202 and why and "symbolic link" in why, "its disposal refuses the link", (st, why))
    print("    %s" % why)
    chk.ok(all(os.path.exists(p) for p in canaries), "the canaries behind the link survive", canaries)

    evil2 = os.path.join(sp, "evil-file")
    shutil.copytree(L, evil2)
    canary = os.path.join(outside, "canary-file")
    with open(canary, "w") as f:
        f.write("canary\n")
    target = cluster.snap_files(evil2)[0]
    os.unlink(target)
    os.symlink(canary, target)
    st, msg, _ = run_from(c, jar, inp, evil2)
    chk.ok(st == 400 and "symbolic link" in msg, "restore from a savepoint with a symlinked file: 400", (st, msg))
    st, why, _ = dispose(c, evil2)
    chk.ok(st == 202 and not os.path.lexists(evil2) and os.path.exists(canary),
           "its disposal removes the link, not the canary", (st, why, os.path.lexists(evil2)))


def probe_contents(c, chk, jar, inp, sp):
    print("contents: a _metadata that is another file", flush=True)
    d = os.path.join(sp, "passwd-sp")
    os.mkdir(d)
    with open(os.path.join(d, "_metadata"), "w") as f:
        f.write("rootsecret:x:0:0:root:/root:/bin/bash\n")
    st, msg, _ = run_from(c, jar, inp, d)
    chk.ok(st == 400 and "rootsecret" not in msg and "not valid JSON" in msg, "restore: 400 without its contents",
           (st, msg))
    print("    %s" % msg)
    st, why, _ = dispose(c, d)
    chk.ok(why and "rootsecret" not in why, "disposal: refused without its contents", why)


def main():
    a = cluster.arg_parser(__doc__).parse_args()
    why = cluster.missing(a.build, "bin/flinc", "bin/flinc-jobmanager", "bin/flinc-taskmanager", "jobs/wordcount.so")
    if why:
        print(why)
        return 1
    chk = cluster.Checks()
    with cluster.Cluster(a.build, taskmanagers=1, slots=2, name="probe-files", keep=a.keep, checks=chk) as c:
        sp, chkd, outside = c.path("savepoints"), c.path("checkpoints"), c.path("outside")
        os.mkdir(outside)
        c.conf.update({"state.savepoints.dir": sp, "state.checkpoints.dir": chkd,
                       "execution.checkpointing.interval": "500ms"})
        c.start()
        inp = cluster.write_input(c.path("input.txt"), 3, 2000)
        big = cluster.write_input(c.path("big.txt"), 4, 400000)
        jar = c.upload_jar(c.plugin())
        jid = c.run_jar(jar, ["--input", big, "--rate", "2000"], parallelism=2)
        c.wait_running(jid)
        cluster.wait_checkpoint_after(c, jid, 0, timeout=60)
        L = take_savepoint(c, jid, sp)
        print("a running job %s and its savepoint %s" % (jid, L), flush=True)
        try:
            probe_fifo(c, chk, jar, inp, jid, sp, L)
            real = probe_outside(c, chk, jar, inp, jid, sp, L, outside)
            probe_symlinks(c, chk, jar, inp, sp, L, outside, real)
            probe_contents(c, chk, jar, inp, sp)
            print("dispose: the real savepoint", flush=True)
            st, why, _ = dispose(c, L)
            chk.ok(st == 202 and why is None and not os.path.exists(L), "disposal of L succeeds", (st, why))
        except cluster.ClusterError as e:
            chk.fail(str(e))
        responsive(c, chk, jid, "at the end")
        chk.ok(c.jm.alive() and len(c.taskmanagers()) == 1, "the job manager and its task manager are up")
        c.request("PATCH", "/jobs/%s?mode=cancel" % jid)
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
