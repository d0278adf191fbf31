#!/usr/bin/env python3
"""demo - the README's demo command, scripts/demo.sh (issue 17, acceptance 8).

`scripts/demo.sh start` with the build as it is (FLINC_DEMO_NO_BUILD=1), a
folder and ports of the test's own: the embedded Kafka, a job manager and two
task managers, history and live generators, fraud.so, aggregation.so and
anomaly.so. It must exit 0, having printed the output of the three jobs (it
waits at most 30 s for each),
a task manager killed with kill -9 and the jobs RUNNING again with more
distinct alerts after it, and the anomaly job restored from a savepoint.
Then `scripts/demo.sh stop` must leave no process of the demo behind (every
pid its pid files named is gone) and remove the folder.

Usage: demo.py --build BUILD [--keep]
"""
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cluster  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def pids_of(folder):
    out = {}
    for f in os.listdir(folder) if os.path.isdir(folder) else []:
        if f.endswith(".pid"):
            try:
                with open(os.path.join(folder, f)) as fh:
                    out[f] = int(fh.read().strip())
            except (OSError, ValueError):
                pass
    return out


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def main():
    a = cluster.arg_parser(__doc__).parse_args()
    chk = cluster.Checks()
    why = cluster.missing(a.build, "bin/flinc", "bin/flinc-kafka-mock", "bin/flinc-gen", "jobs/fraud.so",
                          "jobs/aggregation.so", "jobs/anomaly.so")
    if why:
        chk.fail(why)
        return chk.report()
    build = os.path.abspath(a.build)
    if build != os.path.join(ROOT, "build"):
        print("demo: scripts/demo.sh uses %s/build; this build is %s" % (ROOT, build))
    folder = os.path.join(tempfile.mkdtemp(prefix="flinc-demo-test-"), "demo")
    env = dict(os.environ, FLINC_DEMO_NO_BUILD="1", FLINC_DEMO_DIR=folder,
               FLINC_DEMO_PORT=str(cluster.free_port()), FLINC_DEMO_RPC_PORT=str(cluster.free_port()))
    demo = os.path.join(ROOT, "scripts", "demo.sh")
    seen = {}
    try:
        t0 = time.monotonic()
        p = subprocess.run(["bash", demo, "start"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=600)
        out = p.stdout.decode(errors="replace")
        print("\n".join("  | " + ln[:160] for ln in out.splitlines()[-40:]))
        chk.ok(p.returncode == 0, "scripts/demo.sh start exits 0 (%.0f s)" % (time.monotonic() - t0), out[-2000:])
        fraud = re.search(r"== first fraud alerts.*?==\n(\{.*?\"alertType\":\"[A-Z_]+\")", out, re.S)
        agg = re.search(r"== first aggregates.*?==\n(\{.*?\"kind\":\"[a-z_]+\")", out, re.S)
        chk.ok(bool(agg), "aggregates printed within 30 s")
        anom = re.search(r"== first anomaly alerts.*?==\n(\{.*?\"alertType\":\"[A-Z_]+\")", out, re.S)
        chk.ok(bool(fraud), "fraud alerts printed within 30 s")
        chk.ok(bool(anom), "anomaly alerts printed within 30 s")
        m = re.search(r"distinct fraud alerts: (\d+) before the kill, (\d+) now; anomaly alerts: (\d+) before, "
                      r"(\d+) now", out)
        chk.ok(bool(m) and int(m.group(2)) > int(m.group(1)) and int(m.group(4)) > int(m.group(3)),
               "after kill -9 of a task manager the jobs run again and both make new alerts",
               m.group(0) if m else out[-800:])
        chk.ok("restored from the savepoint" in out, "the anomaly job restored from a savepoint")
        seen = pids_of(folder)
        chk.ok(len(seen) >= 7, "the demo's processes have pid files (%s)" % ", ".join(sorted(seen)))
    finally:
        s = subprocess.run(["bash", demo, "stop"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=120)
        print("  | " + s.stdout.decode(errors="replace").strip().replace("\n", "\n  | "))
    time.sleep(0.5)
    left = {f: pid for f, pid in seen.items() if alive(pid)}
    chk.ok(s.returncode == 0 and not left, "scripts/demo.sh stop leaves no process behind", left)
    chk.ok(not os.path.exists(folder), "scripts/demo.sh stop removes its folder")
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
