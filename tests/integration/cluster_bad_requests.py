#!/usr/bin/env python3
"""cluster_bad_requests - bad requests to the job manager each get a clear
error and change nothing (a job manager and two task managers with two
slots each on 127.0.0.1).

Each case sends one bad request (over REST, and where the CLI can say it,
with `flinc` too) and checks:
  - the HTTP status is the documented 4xx and the body is
    {"errors": ["<one clear message>"]}, the message naming what was wrong;
  - the CLI exits 1 with exactly one line on stderr, "flinc: ...";
  - nothing changed: /overview (task managers, slots, job counts),
    /jobs/overview and the uploaded jars (GET /jars when the job manager
    has it) are the same before and after, and the daemons still run.

Cases (issue acceptance 5, plus the neighbours a user hits):
  upload   a file that is not a plugin (text; an ELF that is not a flinc
           plugin; a plugin without the entry symbol; one built for another
           ABI), an upload without the `jarfile` field, a body that is not
           multipart
  jar      run an unknown jar id, a jar id with a path in it
  json     malformed JSON to /jars/:jarid/run, a wrong type for parallelism,
           an invalid graph (bad job arguments)
  job      GET/PATCH/exceptions of an unknown job id, of a malformed job id
  slots    -p beyond the free slots (5 of 4), and -p 3 while a -p 2 job
           holds 2 of the 4 slots
  misc     an unknown path (404), a method a path does not take (405/404),
           the CLI against a port where nothing listens ("Connection refused")
  auth     (a second job manager with rest.auth.token) a mutating call
           without or with a wrong token: 401, nothing changes; reads work

Usage: cluster_bad_requests.py --build BUILD_DIR [--keep]
"""

import os
import random
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402
from cluster import error_message, multipart  # noqa: E402


def snapshot(c):
    jobs = sorted((j["jid"], j["state"]) for j in c.get("/jobs/overview").get("jobs", []))
    st, jars = c.request("GET", "/jars")
    jar_ids = sorted(f.get("id") for f in jars.get("files", [])) if st == 200 and isinstance(jars, dict) else None
    return {"overview": c.overview_state(), "jobs": jobs, "jars": jar_ids}


class Case:
    def __init__(self, c, chk):
        self.c = c
        self.chk = chk

    def rest(self, what, method, path, body=None, headers=None, status=(400,), pattern=None, before=None,
             token=True):
        """One bad REST request: expected status, a clear error, no change."""
        before = before or snapshot(self.c)
        st, ans = self.c.request(method, path, body, headers, token=token)
        msg = error_message(ans)
        print("  %s: %s %s -> %d %s" % (what, method, path, st, msg if msg else repr(ans)[:200]), flush=True)
        ok = self.chk.ok(st in status, "%s: HTTP %s" % (what, "/".join(map(str, status))), st)
        ok &= self.chk.ok(msg is not None, "%s: a JSON {\"errors\": [...]} body" % what, ans)
        if pattern and msg:
            ok &= self.chk.ok(re.search(pattern, msg, re.I), "%s: the message says what was wrong (/%s/)" %
                              (what, pattern), msg)
        ok &= self.unchanged(what, before)
        return ok

    def unchanged(self, what, before):
        after = snapshot(self.c)
        return self.chk.ok(after == before, "%s: nothing changed" % what, (before, after))

    def cli(self, what, args, pattern=None, before=None, rc=1):
        before = before or snapshot(self.c)
        p = self.c.flinc(*args, timeout=60)
        lines = p.stderr.splitlines()
        print("  %s: flinc %s -> exit %d: %s" % (what, " ".join(map(str, args[:3])), p.returncode,
                                                p.stderr.strip()[:300]), flush=True)
        self.chk.ok(p.returncode == rc, "%s (CLI): exit %d" % (what, rc), p.returncode)
        self.chk.ok(len(lines) == 1 and lines[0].startswith("flinc: "), "%s (CLI): one line on stderr" % what,
                    p.stderr)
        if pattern:
            self.chk.ok(re.search(pattern, p.stderr, re.I), "%s (CLI): the line says what was wrong (/%s/)" %
                        (what, pattern), p.stderr)
        self.unchanged(what + " (CLI)", before)
        return p


def main():
    a = cluster.arg_parser(__doc__).parse_args()
    build = a.build
    plugins = os.path.join(build, "tests", "plugins")
    chk = cluster.Checks()

    with cluster.Cluster(build, taskmanagers=2, slots=2, name="bad-requests", keep=a.keep, checks=chk) as c:
        c.start()
        wcso = c.plugin()
        k = Case(c, chk)
        rng = random.Random(5)
        inp = cluster.write_words(c.path("input.txt"), rng, 500, 20000)
        slow_inp = cluster.write_words(c.path("slow.txt"), rng, 500, 100000)

        # A good jar to aim bad run requests at.
        good = c.upload_jar(wcso)
        print("uploaded wordcount.so as %s" % good)

        print("upload", flush=True)
        text = c.path("notaplugin.so")
        with open(text, "w") as f:
            f.write("this is not a plugin\n")
        k.rest("a text file", "POST", "/jars/upload", *multipart("jarfile", "notaplugin.so", b"this is not a plugin\n"),
               pattern=r"plugin|ELF|shared object")
        k.cli("a text file", ["run", text], pattern=r"notaplugin\.so.*(plugin|ELF|shared object)")
        with open("/bin/true", "rb") as f:
            elf = f.read()
        k.rest("an ELF program", "POST", "/jars/upload", *multipart("jarfile", "true.so", elf),
               pattern=r"plugin|ELF|shared object|symbol|load")
        for name, pat in (("bad_noentry", r"flinc_plugin_entry|symbol"), ("bad_abi", r"ABI")):
            path = os.path.join(plugins, name + ".so")
            with open(path, "rb") as f:
                data = f.read()
            k.rest("plugin %s" % name, "POST", "/jars/upload", *multipart("jarfile", name + ".so", data),
                   pattern=pat)
        k.rest("no jarfile field", "POST", "/jars/upload", *multipart("file", "wordcount.so", b"x"),
               pattern=r"jarfile")
        k.rest("not multipart", "POST", "/jars/upload", b'{"jarfile": "x"}', {"Content-Type": "application/json"},
               status=(400, 415), pattern=r"multipart")
        k.rest("empty upload", "POST", "/jars/upload", b"", {"Content-Type": "multipart/form-data; boundary=x"},
               pattern=r"multipart|jarfile|empty|body")

        print("jar", flush=True)
        k.rest("unknown jar id", "POST", "/jars/%s_nosuch.so/run" % ("0" * 32), {"programArgsList": []},
               status=(404, 400), pattern=r"jar|not found|unknown")
        k.rest("jar id with a path", "POST", "/jars/..%2F..%2Fetc%2Fpasswd/run", {"programArgsList": []},
               status=(404, 400), pattern=r"jar|not found|unknown|invalid")

        print("json", flush=True)
        k.rest("malformed JSON", "POST", "/jars/%s/run" % good, b'{"programArgsList": ["--input", ',
               {"Content-Type": "application/json"}, pattern=r"json|malformed|parse")
        k.rest("JSON that is not an object", "POST", "/jars/%s/run" % good, b'[1, 2]',
               {"Content-Type": "application/json"}, pattern=r"object|json|malformed")
        k.rest("parallelism of the wrong type", "POST", "/jars/%s/run" % good,
               {"programArgsList": ["--input", inp], "parallelism": "four"}, pattern=r"parallelism")
        k.rest("parallelism 0", "POST", "/jars/%s/run" % good,
               {"programArgsList": ["--input", inp], "parallelism": 0}, pattern=r"parallelism")
        k.rest("bad job arguments", "POST", "/jars/%s/run" % good, {"programArgsList": ["--bogus", "1"]},
               pattern=r"bogus|argument|input")
        k.cli("bad job arguments", ["run", wcso, "--bogus", "1"], pattern=r"bogus|argument|input")

        print("job", flush=True)
        unknown = "%032x" % random.Random(1).getrandbits(128)
        k.rest("GET unknown job", "GET", "/jobs/%s" % unknown, status=(404,), pattern=r"job|not found")
        k.rest("cancel unknown job", "PATCH", "/jobs/%s?mode=cancel" % unknown, status=(404,),
               pattern=r"job|not found")
        k.rest("exceptions of unknown job", "GET", "/jobs/%s/exceptions" % unknown, status=(404,))
        k.rest("malformed job id", "GET", "/jobs/not-a-job-id", status=(404, 400), pattern=r"job|not found|invalid")
        k.cli("cancel unknown job", ["cancel", unknown], pattern=unknown)

        print("slots", flush=True)
        k.rest("-p beyond the slots", "POST", "/jars/%s/run" % good,
               {"programArgsList": ["--input", inp], "parallelism": 5}, status=(400, 409, 503),
               pattern=r"slot")
        k.cli("-p beyond the slots", ["run", "-p", "5", wcso, "--input", inp], pattern=r"slot")
        # Half of the slots taken by a running job: -p 3 does not fit.
        jid = c.run_jar(good, ["--input", slow_inp, "--output", c.path("out-slow"), "--rate", "1000"],
                        parallelism=2)
        c.wait_running(jid, timeout=60)
        cluster.wait_until(lambda: c.overview().get("slots-available") == 2, 5, "2 slots free")
        k.rest("-p 3 with 2 slots free", "POST", "/jars/%s/run" % good,
               {"programArgsList": ["--input", inp], "parallelism": 3}, status=(400, 409, 503), pattern=r"slot")
        chk.ok(c.job_state(jid) == "RUNNING", "the running job was not disturbed")
        # A job manager that queued the -p 3 job instead: cancel it, so that
        # the cases below start from the same state either way.
        for j in c.get("/jobs/overview").get("jobs", []):
            if j["jid"] != jid and j["state"] not in cluster.TERMINAL:
                print("  (canceling the queued job %s, %s)" % (j["jid"], j["state"]))
                c.request("PATCH", "/jobs/%s?mode=cancel" % j["jid"])
                c.wait_job(j["jid"], {"CANCELED", "FAILED"}, timeout=30)
        p = c.flinc("cancel", jid)
        chk.ok(p.returncode == 0, "cancel the running job", p.stderr)
        cluster.wait_until(lambda: c.overview().get("slots-available") == 4, 5, "4 slots free")

        print("misc", flush=True)
        k.rest("unknown path", "GET", "/no/such/path", status=(404,), pattern=r"not found|no such|unknown")
        k.rest("wrong method", "DELETE", "/overview", status=(404, 405))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            p = c.flinc("-m", "127.0.0.1:%d" % port, "list")  # nothing listens on a bound-only socket
        want = "flinc: cannot reach the job manager at 127.0.0.1:%d: Connection refused" % port
        chk.ok(p.returncode == 1 and p.stderr.strip() == want, "CLI against a closed port: '%s'" % want,
               (p.returncode, p.stderr))
        # Raw garbage on the socket: the job manager survives.
        with socket.create_connection(("127.0.0.1", c.rest_port), timeout=5) as s:
            s.sendall(b"\x16\x03\x01\x00\xa5garbage that is not HTTP\r\n\r\n")
            try:
                s.recv(1024)
            except OSError:
                pass
        time.sleep(0.2)
        chk.ok(c.jm.alive() and c.overview().get("taskmanagers") == 2,
               "after all that the job manager runs and knows both task managers")
        chk.ok(all(t.alive() for t in c.tms), "both task managers still run")
        p = c.flinc("run", "-p", "4", wcso, "--input", inp, "--output", c.path("out-final"), timeout=240)
        chk.ok(p.returncode == 0, "and a good job still runs to FINISHED at -p 4", p.stdout[-300:] + p.stderr)

    print("auth", flush=True)
    with cluster.Cluster(build, taskmanagers=0, slots=2, name="bad-requests-auth", keep=a.keep,
                         jm_conf={"rest.auth.token": "s3cret"}, checks=chk) as c:
        c.start()
        k = Case(c, chk)
        k.rest("upload without a token", "POST", "/jars/upload", *multipart("jarfile", "w.so", b"x"),
               status=(401,), pattern=r"token|auth", token=False)
        body, hdrs = multipart("jarfile", "w.so", b"x")
        hdrs["Authorization"] = "Bearer wrong"
        k.rest("upload with a wrong token", "POST", "/jars/upload", body, hdrs, status=(401,),
               pattern=r"token|auth", token=False)
        before = snapshot(c)
        st, ans = c.request("PATCH", "/jobs/%s?mode=cancel" % ("0" * 32), headers={"Authorization": "Bearer wrong"},
                            token=False)
        chk.ok(st == 401 and error_message(ans), "cancel with a wrong token: 401 with a message", (st, ans))
        k.unchanged("wrong token", before)
        st, _ = c.request("GET", "/overview", token=False)
        chk.ok(st == 200, "reads need no token", st)
        c.token = "wrong"
        k.cli("CLI with a wrong token", ["run", wcso, "--input", "x"], pattern=r"token|auth|401")
        c.token = None
        k.cli("CLI without a token", ["cancel", "0" * 32], pattern=r"token|auth|401")
        c.token = "s3cret"
        p = c.flinc("cancel", "0" * 32)
        chk.ok(p.returncode == 1 and re.search(r"not found|unknown|no job", p.stderr, re.I),
               "CLI with the right token gets past the check (unknown job)", p.stderr)

    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
