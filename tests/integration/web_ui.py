#!/usr/bin/env python3
"""web_ui - the web UI in a real browser against a real cluster (issue 18, acceptance 1).

A job manager with rest.auth.token and two task managers (2 slots each);
wordcount submitted with the CLI (-p 2, checkpoints every 500 ms, a 3 s
restart delay so that RESTARTING lasts long enough to be seen). Then
web_ui.mjs drives Debian's chromium through Playwright (npm playwright-core,
installed by the UI's npm ci): the overview shows 2 task managers; the job's
DAG and rising record counts; one request per page refresh; the checkpoints
tab fills; the live output shows records (filter, pause); after kill -9 of a
task manager the page shows RESTARTING then RUNNING; a savepoint without the
token is refused; stop-with-savepoint with the token works; a job uploaded
and submitted from the UI runs. Screenshots: BUILD/test-artifacts/web/.
Skips (77) without chromium or a built UI.
"""

import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = cluster.arg_parser(__doc__)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    build = args.build
    why = cluster.missing(build, "bin/flinc-jobmanager", "bin/flinc-taskmanager", "bin/flinc", "jobs/wordcount.so")
    if why:
        print(why)
        return 1
    web_mods = os.path.join(HERE, "..", "..", "jobmanager", "web", "node_modules", "playwright-core")
    for need, what in ((os.path.join(build, "web", "index.html"), "the built web UI"),
                       (args.chromium, "chromium (scripts/install-deps.sh)"), (web_mods, "npm's playwright-core"),
                       (shutil.which("node") or "/nonexistent", "node")):
        if not os.path.exists(need):
            print("SKIP: %s is missing (%s)" % (what, need))
            return 77
    chk = cluster.Checks()
    shots = os.path.join(build, "test-artifacts", "web")
    shutil.rmtree(shots, ignore_errors=True)
    token = "web-ui-test-" + os.urandom(8).hex()
    with cluster.Cluster(build, taskmanagers=2, slots=2, name="web-ui", checks=chk, keep=args.keep,
                         jm_conf={"rest.auth.token": token}) as c:
        c.conf.update({"state.checkpoints.dir": c.path("chk"), "state.savepoints.dir": c.path("sp"),
                       "execution.checkpointing.interval": "500ms"})
        c.start()
        inp = c.path("in.txt")
        cluster.write_input(inp, 11, 600000)
        p = c.flinc("run", "-d", "-p", "2", "-D", "restart-strategy.fixed-delay.delay=3s", c.plugin(),
                    "--input", inp, "--output", c.path("out"), "--rate", "2000", check=True)
        jid = cluster.job_id_of(p.stdout)
        chk.ok(jid, "the CLI submitted the job", p.stdout)
        c.wait_running(jid)
        tms = cluster.tms_of_job(c, jid)
        victim = cluster.daemon_index_of_tm(c, sorted(tms)[0])
        cfg = {"port": c.rest_port, "jid": jid, "token": token, "killPid": c.tms[victim].pid,
               "plugin": c.plugin(), "input": inp, "output": c.path("out-ui"), "shots": shots,
               "chromium": args.chromium}
        r = subprocess.run(["node", os.path.join(HERE, "web_ui.mjs"), json.dumps(cfg)], capture_output=True,
                           text=True, timeout=400)
        sys.stdout.write(r.stdout)
        sys.stdout.write(r.stderr)
        fails = [l.strip()[6:] for l in r.stdout.splitlines() if l.strip().startswith("FAIL:")]
        for f in fails:
            chk.errors.append(f)
        chk.ok(r.returncode == 0 and not fails and "  ok:" in r.stdout, "the browser test passed", r.returncode)
        print("screenshots in %s" % shots)
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
