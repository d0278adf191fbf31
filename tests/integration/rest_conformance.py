#!/usr/bin/env python3
"""rest_conformance - every REST path against Flink's names and the documented statuses (issue 18, acceptance 3).

Against a real cluster (a job manager with rest.auth.token, 2 task
managers x 2 slots, checkpoints every 300 ms), with wordcount uploaded and
run over REST, one job running and one canceled:

  - coverage: every route of jobmanager/rest.c, every `### METHOD /path`
    heading of docs/rest-api.md and every path of DESIGN.md's REST section
    is exercised here (a new path without a check fails this test);
  - each GET answers 200 with `application/json` (or its documented type)
    and the fields Flink's REST API names (from Flink's OpenAPI spec,
    docs/static/generated/rest_v1_dispatcher.yml: ClusterOverviewWithVersion,
    DashboardConfiguration, JobDetails, JobDetailsInfo, JobVertexDetailsInfo,
    SubtaskExecutionAttemptDetailsInfo, IOMetricsInfo, CheckpointingStatistics,
    CheckpointConfigInfo, JobExceptionsInfoWithHistory, TaskManagerInfo,
    JobVertexBackPressureInfo, JarListInfo, JarUploadResponseBody,
    JarRunResponseBody, TriggerResponse, AsynchronousOperationResult,
    MetricCollectionResponseBody, JobConfigInfo), with their JSON types;
    HEAD answers as GET without a body;
  - refusals: an unknown or malformed job, vertex, trigger, jar or task
    manager id is 404; a method the path does not take is 405 with `Allow`;
    malformed JSON and fields of the wrong type are 400; a mutation without
    the token is 401 with `WWW-Authenticate: Bearer`, without
    X-Flinc-Request (and no JSON body) 403; canceling an ended job and
    deleting a jar a running job uses are 409; unknown paths 404; every
    error is {"errors": ["one line"]} with a JSON content type; the job
    manager answers on afterwards.
"""

import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))

INT, STR, BOOL, OBJ, LIST, NUM = int, str, bool, dict, list, (int, float)
NULLABLE_STR = (str, type(None))
NULLABLE_OBJ = (dict, type(None))

# Flink's field names and JSON types, per schema (Flink's REST API spec).
FLINK = {
    "ClusterOverviewWithVersion": {"taskmanagers": INT, "slots-total": INT, "slots-available": INT,
                                   "jobs-running": INT, "jobs-finished": INT, "jobs-cancelled": INT,
                                   "jobs-failed": INT, "flink-version": STR, "flink-commit": STR},
    "DashboardConfiguration": {"refresh-interval": INT, "timezone-name": STR, "timezone-offset": INT,
                               "flink-version": STR, "flink-revision": STR, "features": OBJ},
    "Features": {"web-submit": BOOL, "web-cancel": BOOL},
    "ClusterConfigurationInfoEntry": {"key": STR, "value": STR},
    "JobIdWithStatus": {"id": STR, "status": STR},
    # /jobs/overview as Flink's JobDetails serializer writes it
    "JobDetails": {"jid": STR, "name": STR, "state": STR, "start-time": INT, "end-time": INT, "duration": INT,
                   "last-modification": INT, "tasks": OBJ},
    "JobDetailsInfo": {"jid": STR, "name": STR, "isStoppable": BOOL, "state": STR, "start-time": INT,
                       "end-time": INT, "duration": INT, "maxParallelism": INT, "now": INT, "timestamps": OBJ,
                       "vertices": LIST, "status-counts": OBJ, "plan": OBJ},
    "JobDetailsVertexInfo": {"id": STR, "name": STR, "maxParallelism": INT, "parallelism": INT, "status": STR,
                             "start-time": INT, "end-time": INT, "duration": INT, "tasks": OBJ, "metrics": OBJ},
    "JobVertexDetailsInfo": {"id": STR, "name": STR, "parallelism": INT, "maxParallelism": INT, "now": INT,
                             "subtasks": LIST},
    "SubtaskExecutionAttemptDetailsInfo": {"subtask": INT, "status": STR, "attempt": INT, "host": STR,
                                           "start-time": INT, "end-time": INT, "duration": INT, "metrics": OBJ,
                                           "taskmanager-id": STR},
    "IOMetricsInfo": {"read-bytes": INT, "read-bytes-complete": BOOL, "write-bytes": INT,
                      "write-bytes-complete": BOOL, "read-records": INT, "read-records-complete": BOOL,
                      "write-records": INT, "write-records-complete": BOOL,
                      "accumulated-backpressured-time": INT},
    "CheckpointingStatistics": {"counts": OBJ, "summary": OBJ, "latest": OBJ, "history": LIST},
    "Counts": {"restored": INT, "total": INT, "in_progress": INT, "completed": INT, "failed": INT},
    "LatestCheckpoints": {"completed": NULLABLE_OBJ, "savepoint": NULLABLE_OBJ, "failed": NULLABLE_OBJ,
                          "restored": NULLABLE_OBJ},
    "CheckpointStatistics": {"id": INT, "status": STR, "is_savepoint": BOOL, "trigger_timestamp": INT,
                             "latest_ack_timestamp": INT, "state_size": INT, "end_to_end_duration": INT,
                             "num_subtasks": INT, "num_acknowledged_subtasks": INT},
    "CheckpointConfigInfo": {"mode": STR, "interval": INT, "timeout": INT, "min_pause": INT, "max_concurrent": INT,
                             "externalization": OBJ, "state_backend": STR, "checkpoint_storage": STR,
                             "unaligned_checkpoints": BOOL, "tolerable_failed_checkpoints": INT,
                             "checkpoints_after_tasks_finish": BOOL},
    "ExternalizedCheckpointInfo": {"enabled": BOOL, "delete_on_cancellation": BOOL},
    "JobExceptionsInfoWithHistory": {"root-exception": NULLABLE_STR, "all-exceptions": LIST, "truncated": BOOL,
                                     "exceptionHistory": OBJ},
    "JobExceptionHistory": {"entries": LIST, "truncated": BOOL},
    "RootExceptionInfo": {"exceptionName": STR, "stacktrace": STR, "timestamp": INT, "taskName": NULLABLE_STR,
                          "location": NULLABLE_STR, "concurrentExceptions": LIST},
    "ExecutionExceptionInfo": {"exception": STR, "task": NULLABLE_STR, "location": NULLABLE_STR, "timestamp": INT},
    "TaskManagersInfo": {"taskmanagers": LIST},
    "TaskManagerInfo": {"id": STR, "path": STR, "dataPort": INT, "jmxPort": INT, "timeSinceLastHeartbeat": INT,
                        "slotsNumber": INT, "freeSlots": INT, "totalResource": OBJ, "freeResource": OBJ,
                        "hardware": OBJ},
    "HardwareDescription": {"cpuCores": INT, "physicalMemory": INT, "freeMemory": INT, "managedMemory": INT},
    "JobVertexBackPressureInfo": {"status": STR, "backpressure-level": STR, "end-timestamp": INT,
                                  "subtasks": LIST},
    "SubtaskBackPressureInfo": {"subtask": INT, "backpressure-level": STR, "ratio": NUM, "idleRatio": NUM,
                                "busyRatio": NUM},
    "Metric": {"id": STR, "value": STR},
    "AggregatedMetric": {"id": STR, "min": NUM, "max": NUM, "avg": NUM, "sum": NUM},
    "JobConfigInfo": {"jid": STR, "name": STR, "execution-config": OBJ},
    "ExecutionConfigInfo": {"execution-mode": STR, "restart-strategy": STR, "job-parallelism": INT,
                            "object-reuse-mode": BOOL, "user-config": OBJ},
    "JobPlanInfo": {"plan": OBJ},
    "JarListInfo": {"address": STR, "files": LIST},
    "JarFileInfo": {"id": STR, "name": STR, "uploaded": INT, "entry": LIST},
    "JarUploadResponseBody": {"filename": STR, "status": STR},
    "JarRunResponseBody": {"jobid": STR},
    "TriggerResponse": {"request-id": STR},
    "QueueStatus": {"id": STR},
}
JOB_STATES = {"INITIALIZING", "CREATED", "RUNNING", "FAILING", "FAILED", "CANCELLING", "CANCELED", "FINISHED",
              "RESTARTING", "SUSPENDED", "RECONCILING"}
TASK_STATES = {"CREATED", "SCHEDULED", "DEPLOYING", "RUNNING", "FINISHED", "CANCELING", "CANCELED", "FAILED",
               "RECONCILING", "INITIALIZING"}
HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")


class Conformance:
    def __init__(self, c, chk):
        self.c = c
        self.chk = chk
        self.covered = set()  # (METHOD, pattern)

    def req(self, method, path, body=None, headers=None, token=True):
        h = {}
        if token and self.c.token:
            h["Authorization"] = "Bearer %s" % self.c.token
        h.update(headers or {})
        return cluster.http_request(self.c.rest_port, method, path, body, h, timeout=30)

    def cover(self, method, pattern):
        self.covered.add((method, pattern))

    def fields(self, doc, schema, where):
        """doc has every field of the Flink schema with its JSON type."""
        want = FLINK[schema]
        if not isinstance(doc, dict):
            return self.chk.ok(False, "%s: a JSON object (%s)" % (where, schema), repr(doc)[:200])
        missing = [k for k in want if k not in doc]
        wrong = ["%s is %s" % (k, type(doc[k]).__name__) for k, t in want.items()
                 if k in doc and not (isinstance(doc[k], t) and not (t is INT and isinstance(doc[k], bool)))]
        return self.chk.ok(not missing and not wrong, "%s: Flink's %s fields (%d)" % (where, schema, len(want)),
                           "missing %s; wrong types %s" % (missing, wrong))

    def error_body(self, st, body, rh, want, what):
        msg = cluster.error_message(body)
        ctype = rh.get("Content-Type", "")
        one_line = msg is not None and "\n" not in msg and len(body["errors"]) == 1
        return self.chk.ok(st == want and one_line and ctype.startswith("application/json"),
                           "%s -> %d with one JSON error line" % (what, want),
                           "%s %s %r" % (st, ctype, body))

    def get_ok(self, pattern, path, schema=None, ctype="application/json"):
        """GET -> 200 (fields of schema), HEAD -> 200 without a body; returns the body."""
        self.cover("GET", pattern)
        st, body, rh = self.req("GET", path)
        self.chk.ok(st == 200 and rh.get("Content-Type", "").startswith(ctype), "GET %s -> 200 %s" % (pattern, ctype),
                    "%s %s %r" % (st, rh.get("Content-Type"), body if isinstance(body, dict) else str(body)[:200]))
        if schema:
            self.fields(body, schema, "GET " + pattern)
        hst, hbody, hrh = self.req("HEAD", path)
        self.chk.ok(hst == 200 and hbody is None, "HEAD %s -> 200 without a body" % pattern, "%s %r" % (hst, hbody))
        return body

    def wrong_method(self, pattern, path, method, allow):
        st, body, rh = self.req(method, path, body={} if method in ("POST", "PATCH", "PUT") else None)
        self.error_body(st, body, rh, 405, "%s %s (not taken)" % (method, pattern))
        got = {m.strip() for m in (rh.get("Allow") or "").split(",") if m.strip()}
        self.chk.ok(set(allow) <= got, "405 for %s %s names %s in Allow" % (method, pattern, "/".join(allow)),
                    rh.get("Allow"))

    def not_found(self, pattern, path, method="GET", body=None):
        st, b, rh = self.req(method, path, body=body)
        self.error_body(st, b, rh, 404, "%s %s, unknown id (%s)" % (method, pattern, path))


def documented_paths():
    """(method, pattern) of rest.c's routes, docs/rest-api.md's headings and
    DESIGN.md's REST section; :param names as rest.c spells them."""
    norm = lambda p: re.sub(r"\?.*$", "", p.replace(":jobid", ":jid").replace(":vertexid", ":vid")).rstrip(".,")
    routes = set()
    with open(os.path.join(ROOT, "jobmanager", "rest.c")) as f:
        src = f.read()
    table = src[src.index("static const route routes[]"):]
    table = table[:table.index("};")]
    for m in re.finditer(r'\{\s*"([A-Z]+)",\s*"([^"]+)"', table):
        routes.add((m.group(1), m.group(2)))
    docs = set()
    with open(os.path.join(ROOT, "docs", "rest-api.md")) as f:
        for line in f:
            if line.startswith("### "):
                for m in re.finditer(r"\b(GET|POST|PATCH|DELETE) (/\S*)", line):
                    docs.add((m.group(1), norm(m.group(2).strip("`"))))
    design = None  # the design document lives beside the repository, not in it
    for cand in (os.environ.get("FLINC_DESIGN_MD", ""), os.path.join(ROOT, "..", "shared", "DESIGN.md"),
                 os.path.join(ROOT, "..", "..", "shared", "DESIGN.md")):
        if cand and os.path.exists(cand):
            design = set()
            with open(cand) as f:
                text = f.read()
            sec = text[text.index("## REST API"):]
            sec = sec[:sec.index("\n## ", 5)]
            for m in re.finditer(r"`(GET|POST|PATCH|DELETE) (/[^`\s]*)", sec):
                design.add((m.group(1), norm(m.group(2))))
            break
    return routes, docs, design


def main():
    ap = cluster.arg_parser(__doc__)
    args = ap.parse_args()
    why = cluster.missing(args.build, "bin/flinc-jobmanager", "bin/flinc-taskmanager", "bin/flinc", "jobs/wordcount.so")
    if why:
        print(why)
        return 1
    chk = cluster.Checks()
    token = "conformance-" + os.urandom(8).hex()
    with cluster.Cluster(args.build, taskmanagers=2, slots=2, name="rest-conf", checks=chk, keep=args.keep,
                         jm_conf={"rest.auth.token": token}) as c:
        c.conf.update({"state.checkpoints.dir": c.path("chk"), "state.savepoints.dir": c.path("sp"),
                       "execution.checkpointing.interval": "300ms"})
        c.start()
        c.token = c.token or token
        t = Conformance(c, chk)
        inp = c.path("in.txt")
        cluster.write_input(inp, 7, 400000)
        run(t, c, chk, inp)
        # Coverage of every documented path.
        routes, docs, design = documented_paths()
        chk.ok(len(routes) >= 25, "rest.c's route table read (%d routes)" % len(routes))
        if design is None:
            print("  note: DESIGN.md not found beside the repository (FLINC_DESIGN_MD names it); its paths are "
                  "the routes of rest.c and the headings of docs/rest-api.md checked here")
        for what, paths in (("rest.c", routes), ("docs/rest-api.md", docs), ("DESIGN.md", design)):
            if paths is None:
                continue
            missing = sorted(p for p in paths if p not in t.covered)
            chk.ok(paths and not missing, "every path of %s is checked here (%d)" % (what, len(paths)), missing)
        st, body, _ = t.req("GET", "/overview")
        chk.ok(st == 200 and c.jm.alive(), "the job manager answers on after every refusal")
    return chk.report()


def run(t, c, chk, inp):
    J = "/jobs/:jid"
    unknown_jid = "0123456789abcdef0123456789abcdef"

    # ---- jars: upload, list, run ------------------------------------------------------
    t.cover("POST", "/jars/upload")
    with open(c.plugin(), "rb") as f:
        data = f.read()
    body, hdr = cluster.multipart("jarfile", "wordcount.so", data)
    st, b, rh = t.req("POST", "/jars/upload", body, hdr, token=False)
    t.error_body(st, b, rh, 401, "POST /jars/upload without the token")
    chk.ok(rh.get("WWW-Authenticate", "").startswith("Bearer"), "401 carries WWW-Authenticate: Bearer",
           rh.get("WWW-Authenticate"))
    st, b, rh = t.req("POST", "/jars/upload", body, dict(hdr, **{"X-Flinc-Request": None}))
    t.error_body(st, b, rh, 403, "POST /jars/upload without X-Flinc-Request")
    st, b, rh = t.req("POST", "/jars/upload", *cluster.multipart("other", "wordcount.so", data))
    t.error_body(st, b, rh, 400, "POST /jars/upload without the jarfile field")
    st, b, rh = t.req("POST", "/jars/upload", *cluster.multipart("jarfile", "notes.txt", b"just text\n"))
    t.error_body(st, b, rh, 400, "POST /jars/upload of a file that is not a plugin")
    st, up, rh = t.req("POST", "/jars/upload", body, hdr)
    chk.ok(st == 200, "POST /jars/upload -> 200", "%s %r" % (st, up))
    t.fields(up, "JarUploadResponseBody", "POST /jars/upload")
    chk.ok(isinstance(up, dict) and up.get("status") == "success", "upload status is 'success'", up)
    jar = os.path.basename(up["filename"]) if isinstance(up, dict) and "filename" in up else "x"
    t.wrong_method("/jars/upload", "/jars/upload", "GET", ["POST"])

    jars = t.get_ok("/jars", "/jars", "JarListInfo")
    files = jars.get("files", []) if isinstance(jars, dict) else []
    chk.ok(any(f.get("id") == jar for f in files), "GET /jars lists the upload", files)
    if files:
        t.fields(files[0], "JarFileInfo", "GET /jars files[0]")
    t.wrong_method("/jars", "/jars", "DELETE", ["GET"])

    P = "/jars/:jarid/run"
    t.cover("POST", P)
    run_path = "/jars/%s/run" % jar
    st, b, rh = t.req("POST", run_path, "{\"programArgs\": ", {"Content-Type": "application/json"})
    t.error_body(st, b, rh, 400, "POST %s with malformed JSON" % P)
    for bad in ({"parallelism": "two", "programArgsList": ["--input", inp]},
                {"programArgsList": "--input x"}, {"parallelism": 0, "programArgsList": ["--input", inp]},
                {"allowNonRestoredState": "yes", "programArgsList": ["--input", inp]},
                {"programArgsList": ["--no-input"]}):
        st, b, rh = t.req("POST", run_path, bad)
        t.error_body(st, b, rh, 400, "POST %s with %s" % (P, json.dumps(bad)))
    st, b, rh = t.req("POST", "/jars/%s_nothing.so/run" % unknown_jid, {"programArgsList": ["--input", inp]})
    t.error_body(st, b, rh, 404, "POST %s of an unknown jar" % P)
    st, b, rh = t.req("POST", "/jars/..%2f..%2fetc%2fpasswd/run", {"programArgsList": ["--input", inp]})
    chk.ok(st in (400, 404) and cluster.error_message(b), "POST %s with a path as jar id -> 400/404" % P, (st, b))
    st, b, rh = t.req("POST", run_path, {"programArgsList": ["--input", inp]}, token=False)
    t.error_body(st, b, rh, 401, "POST %s without the token" % P)
    t.wrong_method(P, run_path, "GET", ["POST"])
    args = ["--input", inp, "--output", c.path("out"), "--rate", "3000"]
    st, r1, rh = t.req("POST", run_path, {"programArgsList": args, "parallelism": 2})
    chk.ok(st == 200, "POST %s -> 200" % P, (st, r1))
    t.fields(r1, "JarRunResponseBody", "POST " + P)
    jid = r1.get("jobid", "") if isinstance(r1, dict) else ""
    chk.ok(HEX32.match(jid), "the job id is 32 hex digits", jid)
    c.wait_running(jid)
    # A second job, canceled: for 409s and a finished entry.
    st, r2, _ = t.req("POST", run_path, {"programArgs": "--input %s --output %s --rate 100" % (inp, c.path("o2")),
                                         "parallelism": 1})
    jid2 = r2.get("jobid") if isinstance(r2, dict) else None
    chk.ok(st == 200 and jid2, "a second job runs (programArgs as one string)", (st, r2))
    if jid2:
        c.wait_running(jid2)
    # Wait for a completed checkpoint of the first.
    cluster.wait_until(lambda: c.get("/jobs/%s/checkpoints" % jid)["counts"]["completed"] > 0, 30,
                       "a completed checkpoint")
    time.sleep(2.5)  # a few heartbeats: rates and time shares cover intervals

    # ---- cluster ----------------------------------------------------------------------
    ov = t.get_ok("/overview", "/overview", "ClusterOverviewWithVersion")
    chk.ok(ov.get("taskmanagers") == 2 and ov.get("slots-total") == 4, "/overview: 2 task managers, 4 slots", ov)
    t.wrong_method("/overview", "/overview", "POST", ["GET"])
    cfg = t.get_ok("/config", "/config", "DashboardConfiguration")
    if isinstance(cfg, dict):
        t.fields(cfg.get("features"), "Features", "GET /config features")
    jmc = t.get_ok("/jobmanager/config", "/jobmanager/config")
    chk.ok(isinstance(jmc, list) and jmc and all(set(e) >= {"key", "value"} and all(isinstance(e[k], str) for k in
                                                                                      ("key", "value")) for e in jmc),
           "GET /jobmanager/config: Flink's [{key, value}] (ClusterConfigurationInfoEntry)", str(jmc)[:200])
    chk.ok(isinstance(jmc, list) and any(e.get("key") == "rest.auth.token" and e.get("value") == "******" for e in jmc)
           and c.token not in json.dumps(jmc), "the token shows as ******, never in clear")
    t.wrong_method("/jobmanager/config", "/jobmanager/config", "PATCH", ["GET"])
    t.cover("GET", "/jobmanager/log")
    st, text, rh = t.req("GET", "/jobmanager/log")
    chk.ok(st == 200 and rh.get("Content-Type", "").startswith("text/plain") and isinstance(text, str) and
           "TaskManager" in text and "registered" in text and c.token not in text,
           "GET /jobmanager/log -> 200 text/plain, the job manager's log lines", (st, str(text)[:200]))
    st, b, rh = t.req("GET", "/jobmanager/log?lines=100000")
    t.error_body(st, b, rh, 400, "GET /jobmanager/log?lines=100000")
    t.wrong_method("/jobmanager/log", "/jobmanager/log", "POST", ["GET"])
    tms = t.get_ok("/taskmanagers", "/taskmanagers", "TaskManagersInfo")
    tml = tms.get("taskmanagers", []) if isinstance(tms, dict) else []
    for tm in tml[:1]:
        t.fields(tm, "TaskManagerInfo", "GET /taskmanagers[0]")
        t.fields(tm.get("hardware"), "HardwareDescription", "GET /taskmanagers[0].hardware")
    chk.ok(len(tml) == 2 and all(tm.get("slotsNumber") == 2 for tm in tml), "2 task managers of 2 slots", tml)
    if tml:
        tmid = tml[0]["id"]
        one = t.get_ok("/taskmanagers/:tmid", "/taskmanagers/" + tmid, "TaskManagerInfo")
        chk.ok(isinstance(one, dict) and one.get("id") == tmid, "GET /taskmanagers/:tmid is that task manager")
        TL = "/taskmanagers/:tmid/log"
        t.cover("GET", TL)
        st, text, rh = t.req("GET", "/taskmanagers/%s/log" % tmid)
        chk.ok(st == 200 and rh.get("Content-Type", "").startswith("text/plain") and isinstance(text, str) and
               "registered with the job manager" in text, "GET %s -> 200 text/plain, the task manager's log lines" % TL,
               (st, rh.get("Content-Type"), str(text)[:200]))
        st, text, rh = t.req("GET", "/taskmanagers/%s/log?lines=1" % tmid)
        chk.ok(st == 200 and isinstance(text, str) and text.count("\n") == 1, "?lines=1: one line", text)
        st, b, rh = t.req("GET", "/taskmanagers/%s/log?lines=many" % tmid)
        t.error_body(st, b, rh, 400, "GET %s?lines=many" % TL)
        t.not_found(TL, "/taskmanagers/no-such-tm/log")
        t.wrong_method(TL, "/taskmanagers/%s/log" % tmid, "DELETE", ["GET"])
        # stdout: what a job prints (the - sink) reaches the task manager's
        # .out file, and from there its heartbeats carry it to the job manager.
        TS = "/taskmanagers/:tmid/stdout"
        t.cover("GET", TS)
        chk.ok(all(str(tm.get("stdoutFile", "")).endswith(".out") for tm in tml),
               "every task manager reports its stdout file (stdoutFile: flinc-taskmanager-<i>.out)",
               [tm.get("stdoutFile") for tm in tml])
        probe = c.path("stdout-probe.txt")
        with open(probe, "w") as f:
            f.write("stdoutprobe stdoutprobe stdoutprobe\n")
        r = c.flinc("run", "-p", "1", c.plugin(), "--input", probe, "--output", "-", check=False)
        seen, deadline = {}, time.monotonic() + 20
        while time.monotonic() < deadline and not any("stdoutprobe" in v for v in seen.values()):
            time.sleep(0.5)
            for tm in tml:
                st, text, rh = t.req("GET", "/taskmanagers/%s/stdout" % tm["id"])
                seen[tm["id"]] = text if st == 200 and isinstance(text, str) else ""
        printed = [v for v in seen.values() if "stdoutprobe" in v]
        chk.ok(r.returncode == 0 and printed and "stdoutprobe\t3\n" in printed[0],
               "GET %s -> 200 text/plain: the - sink's records a job printed on that task manager" % TS,
               (r.returncode, r.stderr[-300:], {k: v[-200:] for k, v in seen.items()}))
        printer = [k for k, v in seen.items() if "stdoutprobe" in v][:1] or [tmid]
        st, text, rh = t.req("GET", "/taskmanagers/%s/stdout?lines=1" % printer[0])
        chk.ok(st == 200 and rh.get("Content-Type", "").startswith("text/plain") and text == "stdoutprobe\t3\n",
               "%s?lines=1: the last line alone" % TS, text)
        st, b, rh = t.req("GET", "/taskmanagers/%s/stdout?lines=many" % tmid)
        t.error_body(st, b, rh, 400, "GET %s?lines=many" % TS)
        t.not_found(TS, "/taskmanagers/no-such-tm/stdout")
        t.wrong_method(TS, "/taskmanagers/%s/stdout" % tmid, "POST", ["GET"])
    t.not_found("/taskmanagers/:tmid", "/taskmanagers/no-such-tm")
    t.wrong_method("/taskmanagers/:tmid", "/taskmanagers/no-such-tm", "DELETE", ["GET"])
    t.cover("GET", "/metrics")
    st, text, rh = t.req("GET", "/metrics")
    chk.ok(st == 200 and rh.get("Content-Type", "").startswith("text/plain") and isinstance(text, str) and
           "flinc_taskmanager_job_task_numRecordsIn" in text and "flinc_jobmanager_numRegisteredTaskManagers" in text
           and "flinc_taskmanager_job_task_busyTimeMsPerSecond{" in text
           and "flinc_taskmanager_job_task_idleTimeMsPerSecond{" in text,
           "GET /metrics -> 200 text/plain with Flink's metric names", (st, rh.get("Content-Type")))
    t.wrong_method("/metrics", "/metrics", "POST", ["GET"])

    # ---- jobs -------------------------------------------------------------------------
    jobs = t.get_ok("/jobs", "/jobs")
    lst = jobs.get("jobs", []) if isinstance(jobs, dict) else []
    chk.ok(len(lst) >= 2, "GET /jobs lists the jobs", jobs)
    for e in lst[:1]:
        t.fields(e, "JobIdWithStatus", "GET /jobs jobs[0]")
    t.wrong_method("/jobs", "/jobs", "DELETE", ["GET"])
    jo = t.get_ok("/jobs/overview", "/jobs/overview")
    jol = jo.get("jobs", []) if isinstance(jo, dict) else []
    mine = [e for e in jol if e.get("jid") == jid]
    chk.ok(mine, "GET /jobs/overview lists the job", jol)
    for e in mine:
        t.fields(e, "JobDetails", "GET /jobs/overview jobs[]")
        chk.ok(e.get("state") in JOB_STATES and "total" in e.get("tasks", {}), "state is Flink's; tasks.total", e)
    st, page, _ = t.req("GET", "/jobs/overview?state=running&offset=0&limit=1")
    chk.ok(st == 200 and isinstance(page, dict) and len(page.get("jobs", [])) == 1 and page.get("total", 0) >= 1,
           "GET /jobs/overview?state=running&limit=1: a page of one, with total", page)
    for q in ("state=bogus", "limit=-1", "offset=x", "state=running&state=completed"):
        st, b, rh = t.req("GET", "/jobs/overview?" + q)
        t.error_body(st, b, rh, 400, "GET /jobs/overview?%s" % q)
    t.wrong_method("/jobs/overview", "/jobs/overview", "POST", ["GET"])

    job = t.get_ok(J, "/jobs/" + jid, "JobDetailsInfo")
    vids = []
    if isinstance(job, dict):
        chk.ok(job.get("state") == "RUNNING" and job.get("jid") == jid, "GET /jobs/:jid: RUNNING", job.get("state"))
        for v in job.get("vertices", []):
            t.fields(v, "JobDetailsVertexInfo", "vertex %s" % v.get("name"))
            t.fields(v.get("metrics"), "IOMetricsInfo", "vertex metrics")
            chk.ok(HEX16.match(v.get("id", "")) and v.get("status") in TASK_STATES, "vertex id and status", v.get("id"))
            for k in ("numRecordsInPerSecond", "numRecordsOutPerSecond", "backPressuredTimeMsPerSecond",
                      "busyTimeMsPerSecond", "idleTimeMsPerSecond", "currentInputWatermark"):
                chk.ok(isinstance(v.get(k), (int, float)), "vertex has %s" % k, v.get(k))
            vids.append(v["id"])
        chk.ok(len(vids) == 2, "wordcount has 2 vertices", vids)
        vs = job.get("vertices", [])
        chk.ok(any(v["metrics"].get("accumulated-idle-time", 0) > 0 for v in vs) and
               any(v["metrics"].get("accumulated-busy-time", 0) > 0 for v in vs),
               "the vertices measure idle and busy time (a rate-limited job waits)",
               [(v["metrics"].get("accumulated-idle-time"), v["metrics"].get("accumulated-busy-time")) for v in vs])
        chk.ok(all(0 <= v["busyTimeMsPerSecond"] <= 1000 and 0 <= v["idleTimeMsPerSecond"] <= 1000 for v in vs),
               "busy and idle ms per second within 0..1000",
               [(v["busyTimeMsPerSecond"], v["idleTimeMsPerSecond"]) for v in vs])
        chk.ok(all(k in job.get("timestamps", {}) for k in ("CREATED", "RUNNING", "CANCELED", "FINISHED")),
               "timestamps per state", job.get("timestamps"))
    for bad in (unknown_jid, "not-a-job-id", "0123", "%2e%2e", "../overview".replace("/", "%2f")):
        t.not_found(J, "/jobs/" + bad)
    t.wrong_method(J, "/jobs/" + jid, "DELETE", ["GET", "PATCH"])

    plan = t.get_ok(J + "/plan", "/jobs/%s/plan" % jid, "JobPlanInfo")
    chk.ok(isinstance(plan, dict) and len(plan.get("plan", {}).get("nodes", [])) == 2, "the plan has 2 nodes")
    t.not_found(J + "/plan", "/jobs/%s/plan" % unknown_jid)
    t.wrong_method(J + "/plan", "/jobs/%s/plan" % jid, "POST", ["GET"])

    exc = t.get_ok(J + "/exceptions", "/jobs/%s/exceptions" % jid, "JobExceptionsInfoWithHistory")
    if isinstance(exc, dict):
        t.fields(exc.get("exceptionHistory"), "JobExceptionHistory", "exceptions.exceptionHistory")
        chk.ok(exc.get("root-exception") is None, "a job without failures: root-exception null", exc)
    t.not_found(J + "/exceptions", "/jobs/%s/exceptions" % unknown_jid)
    t.wrong_method(J + "/exceptions", "/jobs/%s/exceptions" % jid, "POST", ["GET"])

    jc = t.get_ok(J + "/config", "/jobs/%s/config" % jid, "JobConfigInfo")
    if isinstance(jc, dict):
        t.fields(jc.get("execution-config"), "ExecutionConfigInfo", "config.execution-config")
    t.not_found(J + "/config", "/jobs/%s/config" % unknown_jid)
    t.wrong_method(J + "/config", "/jobs/%s/config" % jid, "PATCH", ["GET"])

    cp = t.get_ok(J + "/checkpoints", "/jobs/%s/checkpoints" % jid, "CheckpointingStatistics")
    if isinstance(cp, dict):
        t.fields(cp.get("counts"), "Counts", "checkpoints.counts")
        t.fields(cp.get("latest"), "LatestCheckpoints", "checkpoints.latest")
        hist = cp.get("history") or []
        chk.ok(hist, "the checkpoint history has entries")
        for h in hist[:1]:
            t.fields(h, "CheckpointStatistics", "checkpoints.history[0]")
            chk.ok(h.get("status") in ("IN_PROGRESS", "COMPLETED", "FAILED"), "checkpoint status is Flink's", h)
        if isinstance(cp.get("latest"), dict) and cp["latest"].get("completed"):
            t.fields(cp["latest"]["completed"], "CheckpointStatistics", "checkpoints.latest.completed")
            chk.ok(isinstance(cp["latest"]["completed"].get("external_path"), str), "latest completed has external_path")
    t.not_found(J + "/checkpoints", "/jobs/%s/checkpoints" % unknown_jid)
    t.wrong_method(J + "/checkpoints", "/jobs/%s/checkpoints" % jid, "POST", ["GET"])

    cc = t.get_ok(J + "/checkpoints/config", "/jobs/%s/checkpoints/config" % jid, "CheckpointConfigInfo")
    if isinstance(cc, dict):
        t.fields(cc.get("externalization"), "ExternalizedCheckpointInfo", "checkpoints/config.externalization")
        chk.ok(cc.get("mode") in ("exactly_once", "at_least_once") and cc.get("interval") == 300,
               "checkpoint mode and interval (300 ms)", cc)
    t.not_found(J + "/checkpoints/config", "/jobs/%s/checkpoints/config" % unknown_jid)
    t.wrong_method(J + "/checkpoints/config", "/jobs/%s/checkpoints/config" % jid, "POST", ["GET"])

    # ---- vertices ---------------------------------------------------------------------
    V = J + "/vertices/:vid"
    vid = vids[-1] if vids else "0000000000000000"
    vd = t.get_ok(V, "/jobs/%s/vertices/%s" % (jid, vid), "JobVertexDetailsInfo")
    for s in (vd.get("subtasks", []) if isinstance(vd, dict) else [])[:2]:
        t.fields(s, "SubtaskExecutionAttemptDetailsInfo", "vertex subtask %s" % s.get("subtask"))
        t.fields(s.get("metrics"), "IOMetricsInfo", "subtask metrics")
        chk.ok(s.get("status") in TASK_STATES, "subtask status is Flink's", s.get("status"))
    for bad in ("ffffffffffffffff", "nope"):
        t.not_found(V, "/jobs/%s/vertices/%s" % (jid, bad))
    t.not_found(V, "/jobs/%s/vertices/%s" % (unknown_jid, vid))
    t.wrong_method(V, "/jobs/%s/vertices/%s" % (jid, vid), "POST", ["GET"])

    bp = t.get_ok(V + "/backpressure", "/jobs/%s/vertices/%s/backpressure" % (jid, vid), "JobVertexBackPressureInfo")
    if isinstance(bp, dict):
        chk.ok(bp.get("status") in ("ok", "deprecated") and bp.get("backpressure-level") in ("ok", "low", "high"),
               "backpressure status and level are Flink's", bp)
        for s in bp.get("subtasks", [])[:1]:
            t.fields(s, "SubtaskBackPressureInfo", "backpressure subtasks[0]")
            tot = s.get("ratio", 0) + s.get("idleRatio", 0) + s.get("busyRatio", 0)
            chk.ok(abs(tot - 1) < 0.01 and s.get("idleRatio", 0) > 0,
                   "back-pressured, idle and busy ratios add up to 1 (a waiting sink is idle)", s)
    t.not_found(V + "/backpressure", "/jobs/%s/vertices/ffffffffffffffff/backpressure" % jid)
    t.wrong_method(V + "/backpressure", "/jobs/%s/vertices/%s/backpressure" % (jid, vid), "POST", ["GET"])

    wm = t.get_ok(V + "/watermarks", "/jobs/%s/vertices/%s/watermarks" % (jid, vid))
    chk.ok(isinstance(wm, list) and len(wm) == 2, "watermarks: one per subtask", wm)
    for m in (wm if isinstance(wm, list) else [])[:2]:
        t.fields(m, "Metric", "watermarks[]")
        chk.ok(re.match(r"^\d+\.currentInputWatermark$", m.get("id", "")) and re.match(r"^-?\d+$", m.get("value", "")),
               "watermark id '<subtask>.currentInputWatermark', value ms as a string", m)
    t.not_found(V + "/watermarks", "/jobs/%s/vertices/ffffffffffffffff/watermarks" % jid)
    t.wrong_method(V + "/watermarks", "/jobs/%s/vertices/%s/watermarks" % (jid, vid), "POST", ["GET"])

    SM = V + "/subtasks/metrics"
    base = "/jobs/%s/vertices/%s/subtasks/metrics" % (jid, vid)
    ids = t.get_ok(SM, base)
    chk.ok(isinstance(ids, list) and {"numRecordsIn", "numRecordsInPerSecond"} <= {m.get("id") for m in ids},
           "subtasks/metrics without get: the metric ids", ids)
    st, agg, _ = t.req("GET", base + "?get=numRecordsIn,noSuchMetric&agg=min,max,avg,sum")
    chk.ok(st == 200 and isinstance(agg, list) and len(agg) == 1, "subtasks/metrics?get=: unknown ids left out", agg)
    for m in (agg if isinstance(agg, list) else [])[:1]:
        t.fields(m, "AggregatedMetric", "subtasks/metrics?get=numRecordsIn")
    st, b, rh = t.req("GET", base + "?get=numRecordsIn&agg=median")
    t.error_body(st, b, rh, 400, "subtasks/metrics?agg=median")
    t.not_found(SM, "/jobs/%s/vertices/ffffffffffffffff/subtasks/metrics" % jid)
    t.wrong_method(SM, base, "POST", ["GET"])

    # ---- the web UI's documents and the live output -----------------------------------
    uo = t.get_ok("/ui/overview", "/ui/overview", "ClusterOverviewWithVersion")
    chk.ok(isinstance(uo, dict) and all(k in uo for k in ("jobs-by-state", "sourceRecordsPerSecond", "jobs")),
           "GET /ui/overview: flinc's additions", list(uo) if isinstance(uo, dict) else uo)
    t.wrong_method("/ui/overview", "/ui/overview", "POST", ["GET"])
    uj = t.get_ok("/ui/jobs/:jid", "/ui/jobs/" + jid)
    if isinstance(uj, dict):
        t.fields(uj.get("job"), "JobDetailsInfo", "/ui/jobs/:jid job")
        t.fields(uj.get("checkpoints"), "CheckpointingStatistics", "/ui/jobs/:jid checkpoints")
        t.fields(uj.get("exceptions"), "JobExceptionsInfoWithHistory", "/ui/jobs/:jid exceptions")
    t.not_found("/ui/jobs/:jid", "/ui/jobs/" + unknown_jid)
    t.wrong_method("/ui/jobs/:jid", "/ui/jobs/" + jid, "POST", ["GET"])
    check_output(t, c, chk, jid, unknown_jid)
    t.cover("GET", "/")
    st, html, rh = t.req("GET", "/")
    chk.ok(st == 200 and rh.get("Content-Type", "").startswith("text/") and rh.get("Content-Security-Policy"),
           "GET / -> 200 text with a content security policy", (st, rh.get("Content-Type")))
    t.cover("GET", "/web/:file")
    m = re.search(r'src="/web/([^"]+)"', html) if isinstance(html, str) else None
    if m:
        st, _, rh = t.req("GET", "/web/" + m.group(1))
        chk.ok(st == 200 and "javascript" in rh.get("Content-Type", ""), "GET /web/:file -> 200 (the script)", st)
    else:
        print("  note: the UI is not built; /web/:file checked for refusals only")
    for bad in ("..%2fCMakeCache.txt", "%2e%2e", "%252e%252e", ".hidden.js", "x.exe"):
        st, b, rh = t.req("GET", "/web/" + bad)
        t.error_body(st, b, rh, 404, "GET /web/%s" % bad)
    t.wrong_method("/web/:file", "/web/app.js", "POST", ["GET"])

    # ---- savepoints, stop, disposal ---------------------------------------------------
    SP = J + "/savepoints"
    t.cover("POST", SP)
    st, b, rh = t.req("POST", "/jobs/%s/savepoints" % jid, {"cancel-job": False}, token=False)
    t.error_body(st, b, rh, 401, "POST %s without the token" % SP)
    st, b, rh = t.req("POST", "/jobs/%s/savepoints" % jid, "{", {"Content-Type": "application/json"})
    t.error_body(st, b, rh, 400, "POST %s with malformed JSON" % SP)
    st, b, rh = t.req("POST", "/jobs/%s/savepoints" % jid, {"cancel-job": "no"})
    t.error_body(st, b, rh, 400, "POST %s with cancel-job a string" % SP)
    st, b, rh = t.req("POST", "/jobs/%s/savepoints" % jid, {"target-directory": "/etc"})
    t.error_body(st, b, rh, 400, "POST %s with a target-directory outside state.savepoints.dir" % SP)
    t.not_found(SP, "/jobs/%s/savepoints" % unknown_jid, "POST", {"cancel-job": False})
    t.wrong_method(SP, "/jobs/%s/savepoints" % jid, "GET", ["POST"])
    st, trig, rh = t.req("POST", "/jobs/%s/savepoints" % jid, {"cancel-job": False})
    chk.ok(st == 202, "POST %s -> 202" % SP, (st, trig))
    t.fields(trig, "TriggerResponse", "POST " + SP)
    trigger = trig.get("request-id", "") if isinstance(trig, dict) else ""
    ST = J + "/savepoints/:triggerid"
    t.cover("GET", ST)
    done = cluster.wait_until(lambda: (lambda r: r if r.get("status", {}).get("id") == "COMPLETED" else None)(
        c.get("/jobs/%s/savepoints/%s" % (jid, trigger))), 60, "the savepoint")
    t.fields(done.get("status"), "QueueStatus", "GET " + ST + " status")
    chk.ok(isinstance(done.get("operation", {}).get("location"), str), "the savepoint's operation.location", done)
    st, _, rh = t.req("HEAD", "/jobs/%s/savepoints/%s" % (jid, trigger))
    chk.ok(st == 200, "HEAD %s -> 200" % ST, st)
    t.not_found(ST, "/jobs/%s/savepoints/%s" % (jid, unknown_jid))
    t.not_found(ST, "/jobs/%s/savepoints/not-a-trigger" % jid)
    t.wrong_method(ST, "/jobs/%s/savepoints/%s" % (jid, trigger), "DELETE", ["GET"])

    D = "/savepoint-disposal"
    t.cover("POST", D)
    st, b, rh = t.req("POST", D, {"savepoint-path": "/etc"})
    t.error_body(st, b, rh, 400, "POST %s of a path outside state.savepoints.dir" % D)
    st, b, rh = t.req("POST", D, {"savepoint-path": 7})
    t.error_body(st, b, rh, 400, "POST %s with savepoint-path a number" % D)
    st, b, rh = t.req("POST", D, {"savepoint-path": done["operation"]["location"]}, token=False)
    t.error_body(st, b, rh, 401, "POST %s without the token" % D)
    t.wrong_method(D, D, "GET", ["POST"])
    st, dtrig, _ = t.req("POST", D, {"savepoint-path": done["operation"]["location"]})
    chk.ok(st == 202, "POST %s -> 202" % D, (st, dtrig))
    t.fields(dtrig, "TriggerResponse", "POST " + D)
    DS = D + "/:triggerid"
    t.cover("GET", DS)
    dd = cluster.wait_until(lambda: (lambda r: r if r.get("status", {}).get("id") == "COMPLETED" else None)(
        c.get("%s/%s" % (D, dtrig.get("request-id")))), 30, "the disposal")
    chk.ok("failure-cause" not in dd.get("operation", {}) and not os.path.exists(done["operation"]["location"]),
           "the disposal completed and removed the savepoint", dd)
    t.not_found(DS, "%s/%s" % (D, unknown_jid))
    t.wrong_method(DS, "%s/%s" % (D, unknown_jid), "POST", ["GET"])

    STOP = J + "/stop"
    t.cover("POST", STOP)
    st, b, rh = t.req("POST", "/jobs/%s/stop" % jid, {"targetDirectory": 5})
    t.error_body(st, b, rh, 400, "POST %s with targetDirectory a number" % STOP)
    st, b, rh = t.req("POST", "/jobs/%s/stop" % jid, {}, token=False)
    t.error_body(st, b, rh, 401, "POST %s without the token" % STOP)
    t.not_found(STOP, "/jobs/%s/stop" % unknown_jid, "POST", {})
    t.wrong_method(STOP, "/jobs/%s/stop" % jid, "GET", ["POST"])

    # ---- cancel, 409s, jar deletion ---------------------------------------------------
    t.cover("PATCH", J)
    if jid2:
        for q in ("?mode=explode", "?mode=cancel&mode=cancel", "?mode=%00"):
            st, b, rh = t.req("PATCH", "/jobs/%s%s" % (jid2, q))
            t.error_body(st, b, rh, 400, "PATCH /jobs/:jid%s" % q)
        st, b, rh = t.req("PATCH", "/jobs/%s?mode=cancel" % jid2, token=False)
        t.error_body(st, b, rh, 401, "PATCH /jobs/:jid without the token")
        st, b, rh = t.req("PATCH", "/jobs/%s?mode=cancel" % jid2)
        chk.ok(st == 202, "PATCH /jobs/:jid?mode=cancel -> 202", (st, b))
        c.wait_job(jid2, {"CANCELED"}, 20)
        st, b, rh = t.req("PATCH", "/jobs/%s?mode=cancel" % jid2)
        t.error_body(st, b, rh, 409, "PATCH /jobs/:jid of a CANCELED job")
        st, b, rh = t.req("POST", "/jobs/%s/savepoints" % jid2, {"cancel-job": False})
        t.error_body(st, b, rh, 409, "POST /jobs/:jid/savepoints of a CANCELED job")
        st, b, rh = t.req("POST", "/jobs/%s/stop" % jid2, {})
        t.error_body(st, b, rh, 409, "POST /jobs/:jid/stop of a CANCELED job")
    t.not_found(J, "/jobs/%s?mode=cancel" % unknown_jid, "PATCH")
    DJ = "/jars/:jarid"
    t.cover("DELETE", DJ)
    st, b, rh = t.req("DELETE", "/jars/" + jar)
    t.error_body(st, b, rh, 409, "DELETE %s while a running job uses it" % DJ)
    st, b, rh = t.req("DELETE", "/jars/" + jar, token=False)
    t.error_body(st, b, rh, 401, "DELETE %s without the token" % DJ)
    t.not_found(DJ, "/jars/%s_nothing.so" % unknown_jid, "DELETE")
    t.wrong_method(DJ, "/jars/" + jar, "GET", ["DELETE"])
    # Stop the first job with a savepoint (202, completes), then the jar can go.
    st, strig, _ = t.req("POST", "/jobs/%s/stop" % jid, {})
    chk.ok(st == 202 and isinstance(strig, dict) and "request-id" in strig, "POST /jobs/:jid/stop -> 202", (st, strig))
    if st == 202:
        sd = cluster.wait_until(lambda: (lambda r: r if r.get("status", {}).get("id") == "COMPLETED" else None)(
            c.get("/jobs/%s/savepoints/%s" % (jid, strig["request-id"]))), 60, "stop with savepoint")
        chk.ok(isinstance(sd.get("operation", {}).get("location"), str), "stop: a savepoint location", sd)
        cluster.wait_until(lambda: c.get("/jobs/" + jid)["state"] == "FINISHED", 30, "the stopped job FINISHED")
    st, b, rh = t.req("DELETE", "/jars/" + jar)
    chk.ok(st == 200, "DELETE /jars/:jarid once no job uses it -> 200", (st, b))
    st, b, rh = t.req("DELETE", "/jars/" + jar)
    t.error_body(st, b, rh, 404, "DELETE /jars/:jarid a second time")

    # ---- unknown paths ----------------------------------------------------------------
    for p in ("/nope", "/jobs/%s/nope" % jid, "/v1/overview", "/jobs/%s/vertices" % jid, "/taskmanagers/x/logs/y",
              "/jobmanager/log/x"):
        st, b, rh = t.req("GET", p)
        t.error_body(st, b, rh, 404, "GET %s (no such path)" % p)
    st, b, rh = t.req("GET", "/overview%00")
    chk.ok(st == 400 and cluster.error_message(b), "a path that does not decode -> 400", (st, b))


def check_output(t, c, chk, jid, unknown_jid):
    """GET /jobs/:jid/output: an event stream with a "job" event at once."""
    import http.client
    O = "/jobs/:jid/output"
    t.cover("GET", O)
    conn = http.client.HTTPConnection("127.0.0.1", c.rest_port, timeout=10)
    try:
        conn.request("GET", "/jobs/%s/output" % jid)
        r = conn.getresponse()
        ctype = r.getheader("Content-Type", "")
        buf = b""
        end = time.time() + 8
        while time.time() < end and b"event: job" not in buf:
            chunk = r.fp.read1(4096) if hasattr(r.fp, "read1") else r.read(1)
            if not chunk:
                break
            buf += chunk
        chk.ok(r.status == 200 and ctype.startswith("text/event-stream"), "GET %s -> 200 text/event-stream" % O,
               (r.status, ctype))
        m = re.search(rb"event: job\ndata: (.*)\n", buf)
        d = json.loads(m.group(1)) if m else {}
        chk.ok(d.get("jid") == jid and d.get("state") in JOB_STATES and d.get("vertices") and
               all(k in d["vertices"][0] for k in ("id", "name", "numRecordsInPerSecond", "numRecordsOutPerSecond",
                                                    "read-records", "write-records")),
               "the stream's job event: state and vertex rates under Flink's names", buf[:300])
    finally:
        conn.close()
    t.not_found(O, "/jobs/%s/output" % unknown_jid)
    t.wrong_method(O, "/jobs/%s/output" % jid, "POST", ["GET"])


if __name__ == "__main__":
    sys.exit(main())
