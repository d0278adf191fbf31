#!/usr/bin/env python3
"""probe_config - configuration is checked before anything runs (issue 15,
findings 5 and 9, and the small items of 8 and 9).

Against a job manager and one task manager with 2 slots on 127.0.0.1:
  submit     POST /jars/:jarid/run with one bad flinkConfiguration entry at a
             time (execution.buffer-size 1, a negative and a garbage
             duration, unknown enum values, a typo'd key, a cluster key):
             each a 400 naming the key (and the range or the closest key),
             answered at once, no job created; a job's own 'user.' key is
             accepted. The old behaviour was a 200 and restarts without end.
  cli        flinc local -D state.backnd=rocksdb and -D execution.buffer-size=1:
             exit 2, one line naming the key (and 'state.backend'); flinc run
             -D with a typo: exit 2 and nothing uploaded.
  daemons    flinc-jobmanager and flinc-taskmanager with a bad -D (a typo, a
             value out of range): exit 2 at once with one line.
  file       a configuration file with an unknown key: the job manager and
             flinc local start anyway and print exactly one warning naming it
             and its line.
  slots      a job waiting for slots logs what it waits for.
  output     a refused flinc run and a refused flinc local leave no --output
             folder behind.

Usage: probe_config.py --build BUILD_DIR [--keep]
"""

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import cluster  # noqa: E402


def run(argv, timeout=20):
    t0 = time.monotonic()
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace",
                       timeout=timeout, env=cluster.cli_env())
    return p, time.monotonic() - t0


def one_line(p):
    return p.stderr.count("\n") == 1 and p.stderr.endswith("\n")


def probe_submit(c, chk, jar, inp):
    print("submit: bad settings in flinkConfiguration", flush=True)
    cases = [
        ({"execution.buffer-size": "1"}, ["execution.buffer-size", "1kb", "64mb"]),
        ({"execution.checkpointing.interval": "-5s"}, ["execution.checkpointing.interval", "duration"]),
        ({"execution.buffer-timeout": "soon"}, ["execution.buffer-timeout", "duration"]),
        ({"slot.request.timeout": "0"}, ["slot.request.timeout"]),
        ({"state.backend": "oracle"}, ["state.backend", "hashmap", "rocksdb"]),
        ({"execution.checkpointing.mode": "SOMETIMES"}, ["execution.checkpointing.mode", "EXACTLY_ONCE"]),
        ({"restart-strategy": "sometimes"}, ["restart-strategy", "fixed-delay"]),
        ({"execution.checkpointing.tolerable-failed-checkpoints": "-7"},
         ["execution.checkpointing.tolerable-failed-checkpoints"]),
        ({"parallelism.default": "0"}, ["parallelism.default", "1"]),
        ({"state.backnd": "rocksdb"}, ["state.backnd", "did you mean 'state.backend'"]),
        ({"rest.port": "1"}, ["rest.port", "cluster setting"]),
        ({"state.savepoints.allow-any-dir": "true"}, ["state.savepoints.allow-any-dir", "cluster setting"]),
    ]
    before = c.get("/jobs/overview").get("jobs", [])
    for conf, words in cases:
        t0 = time.monotonic()
        st, body = c.request("POST", "/jars/%s/run" % jar,
                             {"programArgsList": ["--input", inp], "flinkConfiguration": conf}, timeout=30)
        dt = time.monotonic() - t0
        msg = cluster.error_message(body) or ""
        chk.ok(st == 400 and all(w in msg for w in words) and dt < 5,
               "%s -> 400 naming %s in %.2f s" % (conf, words, dt), (st, body))
        print("    %s" % msg, flush=True)
    time.sleep(1.0)  # a job created anyway would have shown up by now
    after = c.get("/jobs/overview").get("jobs", [])
    chk.ok(len(after) == len(before), "no job was created by the refused requests", (len(before), len(after)))
    # a job's own key passes; a good value too
    st, body = c.request("POST", "/jars/%s/run" % jar,
                         {"programArgsList": ["--input", inp],
                          "flinkConfiguration": {"user.threshold": "anything", "execution.buffer-size": "64kb"}},
                         timeout=30)
    if chk.ok(st == 200 and isinstance(body, dict) and "jobid" in body, "user.* keys and good values: 200",
              (st, body)):
        try:
            c.wait_job(body["jobid"], {"FINISHED"}, timeout=60)
            chk.ok(True, "that job FINISHED")
        except cluster.ClusterError as e:
            chk.fail(str(e))


def probe_cli(c, chk, build, inp, tmp):
    print("cli: -D typos and bad values", flush=True)
    wc = os.path.join(build, "jobs", "wordcount.so")
    flinc = os.path.join(build, "bin", "flinc")
    p, dt = run([flinc, "local", "-D", "state.backnd=rocksdb", wc, "--input", inp])
    chk.ok(p.returncode == 2 and one_line(p) and "unknown configuration key 'state.backnd'" in p.stderr and
           "did you mean 'state.backend'?" in p.stderr,
           "flinc local -D state.backnd=rocksdb: exit 2, one line with the closest key", (p.returncode, p.stderr))
    print("    %s" % p.stderr.strip())
    p, dt = run([flinc, "local", "-D", "execution.buffer-size=1", wc, "--input", inp])
    chk.ok(p.returncode == 2 and one_line(p) and "execution.buffer-size" in p.stderr and "1kb" in p.stderr,
           "flinc local -D execution.buffer-size=1: exit 2, one line with the range", (p.returncode, p.stderr))
    jars = sorted(x["id"] for x in c.get("/jars").get("files", []))
    p = c.flinc("run", "-D", "state.backnd=rocksdb", wc, "--input", inp)
    chk.ok(p.returncode == 2 and "did you mean 'state.backend'?" in p.stderr and cluster.job_id_of(p.stdout) is None,
           "flinc run -D state.backnd=rocksdb: exit 2 with the closest key", (p.returncode, p.stderr))
    chk.ok(sorted(x["id"] for x in c.get("/jars").get("files", [])) == jars, "flinc run uploaded nothing")


def probe_daemons(chk, build):
    print("daemons: a bad -D is exit 2 at once", flush=True)
    jm = os.path.join(build, "bin", "flinc-jobmanager")
    tm = os.path.join(build, "bin", "flinc-taskmanager")
    port = cluster.free_port()
    for argv, words in (
            ([jm, "-D", "rest.port=%d" % port, "-D", "state.backnd=rocksdb"], ["did you mean 'state.backend'?"]),
            ([jm, "-D", "rest.port=%d" % port, "-D", "heartbeat.interval=-1s"], ["heartbeat.interval"]),
            ([jm, "-D", "rest.port=%d" % port, "-D", "execution.buffer-size=1"], ["execution.buffer-size", "1kb"]),
            ([tm, "-D", "jobmanager.rpc.port=1", "-D", "taskmanager.numberOfTaskSlot=2"],
             ["did you mean 'taskmanager.numberOfTaskSlots'?"]),
            ([tm, "-D", "jobmanager.rpc.port=1", "-D", "taskmanager.numberOfTaskSlots=0"],
             ["taskmanager.numberOfTaskSlots", "1 to 4096"])):
        try:
            p, dt = run(argv, timeout=10)
        except subprocess.TimeoutExpired:
            chk.fail("%s did not exit within 10 s" % " ".join(argv[1:]))
            continue
        chk.ok(p.returncode == 2 and all(w in p.stderr for w in words) and p.stderr.count("\n") == 1 and dt < 5,
               "%s %s: exit 2, one line (%.2f s)" % (os.path.basename(argv[0]), argv[-1], dt),
               (p.returncode, p.stderr))
        print("    %s" % p.stderr.strip())


def probe_file(chk, build, inp, tmp):
    print("file: an unknown key in a configuration file is one warning", flush=True)
    conf = os.path.join(tmp, "newer.conf")
    rest, rpc = cluster.free_port(), cluster.free_port()
    with open(conf, "w") as f:
        f.write("# a file from a newer flinc\nrest.port: %d\njobmanager.rpc.port: %d\n"
                "rest.bind-address: 127.0.0.1\nsome.future.key: 42\n" % (rest, rpc))
    log = os.path.join(tmp, "jm-file.log")
    d = cluster.Daemon("jobmanager", [os.path.join(build, "bin", "flinc-jobmanager"), "--config", conf,
                                      "-D", "jobmanager.blob.dir=%s" % os.path.join(tmp, "blobs")], log, tmp)
    try:
        up = cluster.wait_rest(d, rest, 30)
        chk.ok(up, "the job manager starts with the file")
        warns = [ln for ln in d.log_text().splitlines() if "some.future.key" in ln]
        chk.ok(len(warns) == 1 and "warning" in warns[0] and "line 5" in warns[0],
               "exactly one warning naming the key and its line", warns)
        if warns:
            print("    %s" % warns[0])
    finally:
        d.stop()
    p, dt = run([os.path.join(build, "bin", "flinc"), "local", "--config", conf,
                 os.path.join(build, "jobs", "wordcount.so"), "--input", inp])
    warns = [ln for ln in p.stderr.splitlines() if "some.future.key" in ln]
    chk.ok(p.returncode == 0 and len(warns) == 1, "flinc local --config runs, with one warning", (p.returncode, warns))


def probe_slots(c, chk, jar, inp, big):
    print("slots: a waiting job says what it waits for", flush=True)
    a = c.run_jar(jar, ["--input", big, "--rate", "2000"], parallelism=2)
    c.wait_running(a)
    b = c.run_jar(jar, ["--input", inp], parallelism=2,
                  conf={"slot.request.wait": "true", "slot.request.timeout": "60s"})
    line = cluster.poll(lambda: next((ln for ln in c.jm.log_text().splitlines()
                                      if b in ln and "waits for 2 slots" in ln), None), 15)
    chk.ok(line and "0 free of 2 in 1 task manager" in line, "the job manager logs the wait", line)
    if line:
        print("    %s" % line.split(" jobmanager: ", 1)[-1])
    for jid in (b, a):
        c.request("PATCH", "/jobs/%s?mode=cancel" % jid)
    for jid in (a, b):
        try:
            c.wait_job(jid, {"CANCELED"}, timeout=30)
        except cluster.ClusterError as e:
            chk.fail(str(e))


def probe_output(c, chk, build, inp, tmp):
    print("output: a refused run leaves no folder", flush=True)
    wc = os.path.join(build, "jobs", "wordcount.so")
    out = os.path.join(tmp, "out-refused-run")
    p = c.flinc("run", "-p", "8", wc, "--input", inp, "--output", out)
    chk.ok(p.returncode == 1 and not os.path.exists(out), "flinc run -p 8 on 2 slots: exit 1, no %s" % out,
           (p.returncode, p.stderr, os.path.exists(out)))
    out = os.path.join(tmp, "out-refused-local")
    p, _ = run([os.path.join(build, "bin", "flinc"), "local", "-s", os.path.join(tmp, "no-such-savepoint"),
                "-D", "state.checkpoints.dir=%s" % os.path.join(tmp, "chk-local"), wc, "--input", inp,
                "--output", out])
    chk.ok(p.returncode == 1 and not os.path.exists(out), "a refused flinc local: exit 1, no %s" % out,
           (p.returncode, p.stderr, os.path.exists(out)))


def main():
    a = cluster.arg_parser(__doc__).parse_args()
    why = cluster.missing(a.build, "bin/flinc", "bin/flinc-jobmanager", "bin/flinc-taskmanager", "jobs/wordcount.so")
    if why:
        print(why)
        return 1
    chk = cluster.Checks()
    with cluster.Cluster(a.build, taskmanagers=1, slots=2, name="probe-config", keep=a.keep, checks=chk) as c:
        c.start()
        inp = cluster.write_input(c.path("input.txt"), 5, 2000)
        big = cluster.write_input(c.path("big.txt"), 6, 200000)
        jar = c.upload_jar(c.plugin())
        probe_submit(c, chk, jar, inp)
        probe_cli(c, chk, a.build, inp, c.tmp)
        probe_daemons(chk, a.build)
        probe_file(chk, a.build, inp, c.tmp)
        probe_slots(c, chk, jar, inp, big)
        probe_output(c, chk, a.build, inp, c.tmp)
        log = len(c.jm.log_text())
        print("job manager log: %d bytes" % log)
        chk.ok(c.jm.alive(), "the job manager is up")
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
