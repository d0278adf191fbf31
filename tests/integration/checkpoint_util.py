"""checkpoint_util - helpers shared by the checkpoint, failover and savepoint
tests (cluster_chaos.py, cluster_savepoint.py, checkpoint_faults.py,
checkpoint_local.py).

On disk (docs/savepoints.md): checkpoints of a job live in
<state.checkpoints.dir>/<job id>/chk-<n>/, one <vertex id>-<subtask>.snap
file per subtask and a _metadata file written last (a folder without
_metadata is not a completed checkpoint); savepoints are folders with the
same files and "is_savepoint": true in _metadata.
"""

import json
import os
import re
import signal
import time

import cluster

CHK_RE = re.compile(r"chk-([0-9]+)\Z")


# ---- input ------------------------------------------------------------------

def write_input(path, seed, nlines, nwords=2000):
    """Generated text (the generator of wordcount_exactly_once.py)."""
    import random
    import wordcount_exactly_once as wc
    rng = random.Random(seed)
    wc.write_text(path, wc.text_lines(rng, wc.vocabulary(rng, nwords), nlines))
    return path


# ---- checkpoint folders -------------------------------------------------------

def chk_folders(jobdir, completed_only=True):
    """[(id, path)] of the chk-<n> folders of a job folder, oldest first;
    with completed_only, only those with a _metadata file."""
    out = []
    try:
        names = os.listdir(jobdir)
    except OSError:
        return out
    for n in names:
        m = CHK_RE.match(n)
        if not m:
            continue
        p = os.path.join(jobdir, n)
        if completed_only and not os.path.isfile(os.path.join(p, "_metadata")):
            continue
        out.append((int(m.group(1)), p))
    return sorted(out)


def newest_completed(jobdir):
    """(id, path) of the newest completed checkpoint folder, or None."""
    f = chk_folders(jobdir)
    return f[-1] if f else None


def read_metadata(folder):
    with open(os.path.join(folder, "_metadata"), "rb") as f:
        return json.loads(f.read().decode())


def snap_files(folder):
    """The .snap files of a checkpoint or savepoint folder, largest first
    (so a corruption lands in a file with keyed state)."""
    fs = [os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".snap")]
    return sorted(fs, key=lambda p: (-os.path.getsize(p), p))


def flip_middle(path, n=16):
    """Invert n bytes in the middle of a file (in place). Returns the offset."""
    size = os.path.getsize(path)
    off = max(0, size // 2 - n // 2)
    with open(path, "r+b") as f:
        f.seek(off)
        data = f.read(n)
        f.seek(off)
        f.write(bytes(b ^ 0xFF for b in data))
        f.flush()
        os.fsync(f.fileno())
    return off


def truncate_half(path):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    return size // 2


# ---- the REST view of checkpoints ------------------------------------------------

def checkpoints(c, jid):
    return c.get("/jobs/%s/checkpoints" % jid)


def counts(c, jid):
    return checkpoints(c, jid).get("counts", {})


def latest_completed_id(c, jid):
    """Id of the latest completed checkpoint (0 when there is none)."""
    lc = (checkpoints(c, jid).get("latest") or {}).get("completed")
    return lc.get("id", 0) if isinstance(lc, dict) else 0


def wait_checkpoint_after(c, jid, after_id, timeout=60.0):
    """Wait until a checkpoint with an id > after_id completed; returns its id.
    Raises when the job ended first."""

    def check():
        j = c.job(jid)
        if j.get("state") in cluster.TERMINAL:
            raise cluster.ClusterError("job %s ended %s while waiting for a checkpoint after %d" %
                                       (jid, j.get("state"), after_id))
        i = latest_completed_id(c, jid)
        return i if i > after_id else None

    return cluster.wait_until(check, timeout, "a checkpoint of job %s after chk-%d" % (jid, after_id))


# ---- task managers -------------------------------------------------------------------

def daemon_index_of_tm(c, tm_id):
    """Index in c.tms of the task manager with this id (by its pid in
    GET /taskmanagers), or None when it is not registered."""
    for t in c.taskmanagers():
        if t.get("id") == tm_id:
            for i, d in enumerate(c.tms):
                if d.pid == t.get("pid") and d.alive():
                    return i
    return None


def tms_of_job(c, jid):
    """Ids of the task managers that run subtasks of the job."""
    pl = c.placements(jid)
    return sorted({tm for v in pl.values() for tm in v.values() if tm})


def all_subtasks(job):
    return [s for v in job.get("vertices", []) for s in (v.get("subtasks") or [])]


def job_attempt(job):
    """The execution attempt the subtasks show (the job's attempt - 1)."""
    subs = all_subtasks(job)
    return max((s.get("attempt", 0) for s in subs), default=0)


def wait_recovered(c, jid, old_attempt, t0, timeout=60.0, interval=0.02):
    """After a failure at monotonic time t0: poll GET /jobs/:jid every
    `interval` s until every subtask of a newer attempt than old_attempt is
    RUNNING (or FINISHED) and the job is RUNNING (or FINISHED). Returns
    (seconds from t0, {'left_running': s or None, 'states': [...]})."""
    seen_states = []
    left = None
    deadline = time.monotonic() + timeout
    while True:
        now = time.monotonic()
        j = c.job(jid)
        s = j.get("state")
        if not seen_states or seen_states[-1] != s:
            seen_states.append(s)
        if s != "RUNNING" and left is None:
            left = now - t0
        if s == "FINISHED":
            return now - t0, {"left_running": left, "states": seen_states}
        if s in cluster.TERMINAL:
            raise cluster.ClusterError("job %s ended %s while recovering; exceptions: %s" %
                                       (jid, s, c.exceptions(jid)))
        subs = all_subtasks(j)
        if (s == "RUNNING" and subs and job_attempt(j) > old_attempt and
                all(x.get("status") in ("RUNNING", "FINISHED") for x in subs)):
            return now - t0, {"left_running": left, "states": seen_states}
        if now > deadline:
            raise cluster.ClusterError("job %s did not recover within %.0fs (states seen %s)" %
                                       (jid, timeout, seen_states))
        time.sleep(interval)


def kill9(c, index):
    """kill -9 task manager `index` of the cluster and reap it."""
    d = c.tms[index]
    os.kill(d.pid, signal.SIGKILL)
    d.proc.wait(10)
