#!/usr/bin/env python3
"""web_scale - the web UI at scale in a real browser (issue 18, acceptance 2).

wide_chain.so (tests/plugins: 200 unchained vertices) uploaded once through
REST; N short jobs of it (--vertices 2 --count 10, default 1000) submitted
through POST /jars/:id/run and waited for until FINISHED; one 200-vertex job
left running (200 records/s, so that its 200 task threads leave the 2 cores
to the browser). web_scale.mjs then times, in chromium, the job page of the
200-vertex job and the completed-jobs list (the median of 3 loads of each
must render in under 1 s) and counts the requests per refresh. Prints the
measured times.
Skips (77) without chromium or a built UI.
"""

import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = cluster.arg_parser(__doc__)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--jobs", type=int, default=1000)
    args = ap.parse_args()
    build = args.build
    plugin = os.path.join(build, "tests", "plugins", "wide_chain.so")
    why = cluster.missing(build, "bin/flinc-jobmanager", "bin/flinc-taskmanager", "tests/plugins/wide_chain.so")
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
    shots = os.path.join(build, "test-artifacts", "web-scale")
    shutil.rmtree(shots, ignore_errors=True)
    with cluster.Cluster(build, taskmanagers=1, slots=4, name="web-scale", checks=chk, keep=args.keep,
                         jm_conf={"jobstore.max-capacity": str(args.jobs + 10)}) as c:
        c.start()
        with open(plugin, "rb") as f:
            body, hdrs = cluster.multipart("jarfile", "wide_chain.so", f.read())
        st, js, _ = cluster.http_request(c.rest_port, "POST", "/jars/upload", body, hdrs, timeout=60)
        chk.ok(st == 200, "wide_chain.so uploaded", js)
        jar = os.path.basename(js["filename"])
        t0 = time.time()
        jids = []
        for i in range(args.jobs):
            st, js, _ = cluster.http_request(c.rest_port, "POST", "/jars/%s/run" % jar,
                                             {"programArgsList": ["--vertices", "2", "--count", "10"],
                                              "parallelism": 1}, timeout=30)
            if st != 200:
                # slots full: wait a little for earlier jobs to finish
                time.sleep(0.05)
                st, js, _ = cluster.http_request(c.rest_port, "POST", "/jars/%s/run" % jar,
                                                 {"programArgsList": ["--vertices", "2", "--count", "10"],
                                                  "parallelism": 1}, timeout=30)
            if st == 200:
                jids.append(js["jobid"])
        chk.ok(len(jids) == args.jobs, "%d short jobs submitted" % args.jobs, len(jids))

        def all_finished():
            st, js, _ = cluster.http_request(c.rest_port, "GET", "/jobs")
            return st == 200 and sum(1 for j in js["jobs"] if j["status"] == "FINISHED") >= len(jids)
        cluster.wait_until(all_finished, 600, "every short job FINISHED")
        print("%d short jobs submitted and finished in %.1f s" % (len(jids), time.time() - t0))
        st, js, _ = cluster.http_request(c.rest_port, "POST", "/jars/%s/run" % jar,
                                         {"programArgsList": ["--vertices", "200", "--count", "0", "--rate", "200"],
                                          "parallelism": 1}, timeout=60)
        chk.ok(st == 200, "the 200-vertex job submitted", js)
        big = js.get("jobid") if isinstance(js, dict) else None
        if big:
            c.wait_running(big)
            cfg = {"port": c.rest_port, "jid": big, "jobs": len(jids), "shots": shots, "chromium": args.chromium}
            r = subprocess.run(["node", os.path.join(HERE, "web_scale.mjs"), json.dumps(cfg)],
                               capture_output=True, text=True, timeout=300)
            sys.stdout.write(r.stdout)
            sys.stdout.write(r.stderr)
            fails = [l.strip()[6:] for l in r.stdout.splitlines() if l.strip().startswith("FAIL:")]
            chk.errors.extend(fails)
            chk.ok(r.returncode == 0 and not fails and "  ok:" in r.stdout, "the browser test passed", r.returncode)
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
