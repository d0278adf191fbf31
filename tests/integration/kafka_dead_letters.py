#!/usr/bin/env python3
"""kafka_dead_letters - malformed transactions reach the dead letters (issue 16, acceptance 5).

On the real Apache Kafka broker (tests/peers/kafka/broker.py): a 3-partition
topic of transaction JSON lines, good ones interleaved with malformed ones
(not JSON, wrong types, missing required fields, a 900 KB garbage record,
invalid UTF-8, a NUL byte inside a string), each partition written in a known
order so every record's offset is known. tests/plugins/txn_pipe.so (parse ->
key_by userId -> running count -> sink) reads it:

  cluster  2 task managers, -p 3, exactly-once Kafka output, checkpoints every
           500 ms, --dead-letter kafka://.../dead (an unbounded read: the job
           must stay RUNNING). Checks: every good transaction in the output
           (read_committed) exactly once with seq 1..n per user; every bad
           record in the dead-letter topic once, with its reason, operator,
           topic, partition, offset, size and bytes; the job RUNNING; the
           vertex metrics rejected-records and dead-letters in GET /jobs/:jid
           equal to the number of bad records.
  local    `flinc local -p 2`, bounded read, --dead-letter to a file: the same
           checks on the file, and the end summary's counts.
  file     the same records in a file read by the file source, dead letters to
           a folder (one file per subtask): each names the input file and the
           byte offset of its line.

The broker gets message.max.bytes=2 MB: the default (1 MB) holds a 900 KB
record, but only just, once batch overhead is counted.
"""

import base64
import collections
import json
import os
import random
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "peers", "kafka"))
import broker  # noqa: E402
import cluster  # noqa: E402

PARTITIONS = 3
RECORD_MAX = 64 * 1024  # bytes of a rejected record kept in its dead letter


def good_txn(i, rnd):
    return json.dumps({
        "timestamp": "2024-10-03T%02d:%02d:%02dZ" % (i // 3600 % 24, i // 60 % 60, i % 60),
        "transactionId": "txn-%06d" % i,
        "userId": "user%d" % rnd.randrange(40),
        "amount": round(rnd.uniform(1, 500), 2),
        "currency": "USD",
        "merchantCategory": rnd.choice(["electronics", "grocery", "travel"]),
        "paymentMethod": "credit_card",
        "riskScore": round(rnd.random(), 3),
        "isFraud": False,
        "status": rnd.choice(["completed", "approved", "failed", "declined"]),
        "country": "US",
        "location": {"lat": 37.7749, "lon": -122.4194},
    }, separators=(",", ":")).encode()


def bad_records(rnd):
    """(bytes, reason or reason prefix + '*') of the malformed inputs."""
    base = {"timestamp": "2024-10-03T17:10:05Z", "transactionId": "bad", "userId": "u1", "amount": 9.99}

    def j(**kw):
        d = dict(base)
        for k, v in kw.items():
            if v is None:
                d.pop(k)
            else:
                d[k] = v
        return json.dumps(d, separators=(",", ":")).encode()

    garbage = bytes(rnd.choice([b for b in range(256) if b != 10]) for _ in range(900 * 1024))
    return [
        (b"this is not JSON", "not a JSON object"),
        (b"[1,2,3]", "not a JSON object"),
        (b'{"timestamp":"2024-10-03T17:10:05Z","transactionId":', "unexpected end of input at byte 52"),
        (j(amount="12.50"), "amount: expected a number"),
        (j(userId=12345), "userId: expected a string"),
        (j(timestamp="yesterday"), "timestamp: expected an ISO-8601 timestamp"),
        (j(userId=None), "missing field userId"),
        (j(transactionId=None, amount=None), "missing field transactionId"),
        (b"G" + garbage[1:], "not a JSON object"),
        (b'{"userId":"' + garbage[11:], "*"),  # garbage inside a string: some byte-level reason
        (j(userId="caf\udce9").replace(b"\\udce9", b"\xe9"), "invalid UTF-8 at byte*"),
        (j(userId="a\udcffb").replace(b"\\udcff", b"\x00"), "control character in a string at byte*"),
    ]


def build_partitions(n_good, seed=16):
    """Per partition, the list of (value, None | reason) in offset order."""
    rnd = random.Random(seed)
    parts = [[] for _ in range(PARTITIONS)]
    bad = bad_records(rnd)
    bad_at = set(rnd.sample(range(n_good), len(bad)))
    k = 0
    for i in range(n_good):
        parts[i % PARTITIONS].append((good_txn(i, rnd), None))
        if i in bad_at:
            parts[(i + 1) % PARTITIONS].append(bad[k])
            k += 1
    return parts


def produce(b, topic, parts):
    for p, recs in enumerate(parts):
        data = b"".join(v + b"\n" for v, _ in recs)
        argv = ["kcat", "-P", "-b", b.bootstrap, "-t", topic, "-p", str(p), "-X", "acks=all",
                "-X", "message.max.bytes=2000000"]
        r = subprocess.run(argv, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        if r.returncode != 0:
            raise broker.BrokerError("kcat -P %s/%d: %s" % (topic, p, r.stderr.decode(errors="replace")))


def reason_ok(got, want):
    if want.endswith("*"):
        return bool(got) and got.startswith(want[:-1])
    return got == want


def check_output(chk, lines, parts, what):
    """Every good transaction once; seq 1..n per user."""
    want = {}
    for recs in parts:
        for v, r in recs:
            if r is None:
                d = json.loads(v)
                want[d["transactionId"]] = d["userId"]
    seen = collections.Counter()
    seqs = collections.defaultdict(list)
    bad = 0
    for ln in lines:
        try:
            d = json.loads(ln)
            seen[d["transactionId"]] += 1
            seqs[d["userId"]].append(d["seq"])
        except (ValueError, KeyError):
            bad += 1
    missing = [t for t in want if seen[t] == 0]
    dup = [t for t, n in seen.items() if n > 1]
    extra = [t for t in seen if t not in want]
    chk.ok(not missing and not dup and not extra and not bad,
           "%s: every good transaction in the output exactly once (%d records)" % (what, len(lines)),
           "missing %s, duplicated %s, unexpected %s, %d malformed" % (missing[:5], dup[:5], extra[:5], bad))
    gaps = [u for u, s in seqs.items() if sorted(s) != list(range(1, len(s) + 1))]
    chk.ok(not gaps, "%s: per user the running counts are 1..n, once each" % what, gaps[:5])


def check_dead_letters(chk, lines, parts, topic, what, kafka=True):
    expected = {}
    for p, recs in enumerate(parts):
        for off, (v, r) in enumerate(recs):
            if r is not None:
                expected[(p, off)] = (v, r)
    got = {}
    errs = []
    for ln in lines:
        try:
            d = json.loads(ln)
        except ValueError:
            errs.append("not JSON: %r" % ln[:100])
            continue
        if kafka:
            key = (d.get("partition"), d.get("offset"))
            if d.get("topic") != topic:
                errs.append("topic %r" % d.get("topic"))
        else:
            key = (d.get("partition"), d.get("offset"))
        if key in got:
            errs.append("dead letter for %s twice" % (key,))
        got[key] = d
    for key, (v, want) in expected.items():
        d = got.get(key)
        if d is None:
            errs.append("no dead letter for partition %d offset %d (%s)" % (key[0], key[1], want))
            continue
        if not reason_ok(d.get("reason"), want):
            errs.append("%s: reason %r, want %r" % (key, d.get("reason"), want))
        if d.get("operator") != "parse" or not isinstance(d.get("subtask"), int):
            errs.append("%s: operator %r subtask %r" % (key, d.get("operator"), d.get("subtask")))
        if d.get("size") != len(v) or d.get("truncated") != (len(v) > RECORD_MAX):
            errs.append("%s: size %r truncated %r for %d bytes" % (key, d.get("size"), d.get("truncated"), len(v)))
        if "record" in d:
            kept = d["record"].encode("utf-8", "surrogatepass")
        elif "recordBase64" in d:
            kept = base64.b64decode(d["recordBase64"])
        else:
            kept = None
        if kept is None or not v.startswith(kept) or len(kept) < min(len(v), RECORD_MAX) - 3:
            errs.append("%s: the record's bytes are not in the dead letter" % (key,))
    unexpected = [k for k in got if k not in expected]
    if unexpected:
        errs.append("dead letters for good records: %s" % unexpected[:5])
    chk.ok(not errs, "%s: each of the %d malformed records in the dead letters once, with its reason, "
           "position and bytes (%d dead letters)" % (what, len(expected), len(lines)), "; ".join(errs[:8]))
    return len(expected)


def vertex_sums(j, key):
    return sum(int((v.get("metrics") or {}).get(key, 0)) for v in j.get("vertices") or [])


def case_cluster(chk, a, b, parts, n_good, n_bad, plugin):
    bs = b.bootstrap
    args = ["--input", "kafka://%s/txns" % bs,
            "--output", "kafka://%s/out-cluster?delivery=exactly-once" % bs,
            "--dead-letter", "kafka://%s/dead" % bs]
    with cluster.Cluster(a.build, taskmanagers=2, slots=2, name="kafka-dl", keep=a.keep, checks=chk) as c:
        c.conf.update({"state.checkpoints.dir": c.path("checkpoints"),
                       "execution.checkpointing.interval": "500ms"})
        c.start()
        jid = c.submit(plugin, args, parallelism=3)
        print("job %s: txn_pipe -p 3, Kafka to Kafka exactly-once, dead letters to topic dead" % jid, flush=True)
        try:
            c.wait_running(jid, timeout=90)

            def done():
                out = b.consume("out-cluster", isolation="read_committed", timeout=60)
                return out if len(out) >= n_good else None
            out = cluster.wait_until(done, 180, "the output to hold %d records" % n_good, interval=1.0)
            j = c.job(jid)
            chk.ok(j.get("state") == "RUNNING", "the job stays RUNNING after the malformed records (%s)" %
                   j.get("state"), c.exceptions(jid))

            def counted():
                jj = c.job(jid)
                r, d = vertex_sums(jj, "rejected-records"), vertex_sums(jj, "dead-letters")
                return (r, d) if r == n_bad and d == n_bad else None
            try:
                r, d = cluster.wait_until(counted, 30, "the metrics to count the dead letters", interval=0.5)
                chk.ok(True, "GET /jobs/:jid: rejected-records %d, dead-letters %d (= %d malformed)" % (r, d, n_bad))
            except cluster.ClusterError:
                jj = c.job(jid)
                chk.fail("GET /jobs/:jid: rejected-records %d, dead-letters %d, want %d each" %
                         (vertex_sums(jj, "rejected-records"), vertex_sums(jj, "dead-letters"), n_bad))
        except cluster.ClusterError as e:
            chk.fail(str(e))
            out = b.consume("out-cluster", isolation="read_committed", timeout=60)
        time.sleep(1.0)  # let the last output transaction commit
        out = b.consume("out-cluster", isolation="read_committed", timeout=60)
        dead = b.consume("dead", isolation="read_committed", timeout=120)
        c.request("PATCH", "/jobs/%s?mode=cancel" % jid)
    check_output(chk, out, parts, "cluster")
    check_dead_letters(chk, dead, parts, "txns", "cluster, dead letters to Kafka")


def case_local(chk, a, b, parts, n_good, n_bad, plugin, tmp):
    dl = os.path.join(tmp, "dead-letters.jsonl")
    argv = [os.path.join(a.build, "bin", "flinc"), "local", "-p", "2", plugin,
            "--input", "kafka://%s/txns?bounded=true" % b.bootstrap,
            "--output", "kafka://%s/out-local" % b.bootstrap, "--dead-letter", dl]
    t0 = time.monotonic()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    text = p.stdout.decode(errors="replace")
    chk.ok(p.returncode == 0, "flinc local -p 2 finished (%.1f s)" % (time.monotonic() - t0), text[-3000:])
    m = re.search(r"(\d+) rejected, (\d+) dead letters", text)
    chk.ok(m and int(m.group(1)) == n_bad and int(m.group(2)) == n_bad,
           "flinc local's summary counts %d rejected and %d dead letters" % (n_bad, n_bad),
           m.group(0) if m else text[-1000:])
    warns = text.count("rejected a record")
    chk.ok(0 < warns <= 5, "the log names the first rejects only (%d lines for %d rejects)" % (warns, n_bad))
    out = b.consume("out-local", isolation="read_committed", timeout=120)
    check_output(chk, out, parts, "local")
    lines = []
    if os.path.exists(dl):
        with open(dl, "rb") as f:
            lines = [ln.decode() for ln in f.read().split(b"\n") if ln]
    check_dead_letters(chk, lines, parts, "txns", "local, dead letters to a file")


def case_file(chk, a, parts, n_good, n_bad, plugin, tmp):
    """File in, folder out: each dead letter names the file and the byte offset of its line."""
    inp = os.path.join(tmp, "txns.jsonl")
    recs = [rv for recs in parts for rv in recs]
    offsets = {}
    with open(inp, "wb") as f:
        for v, r in recs:
            if r is not None:
                offsets[f.tell()] = (v, r)
            f.write(v + b"\n")
    dl = os.path.join(tmp, "dead-folder") + "/"
    out = os.path.join(tmp, "out-file")
    argv = [os.path.join(a.build, "bin", "flinc"), "local", "-p", "2", plugin, "--input", inp, "--output", out,
            "--dead-letter", dl]
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    text = p.stdout.decode(errors="replace")
    chk.ok(p.returncode == 0, "file: flinc local -p 2 finished", text[-3000:])
    lines = []
    for name in sorted(os.listdir(out)) if os.path.isdir(out) else []:
        if not name.startswith("."):
            with open(os.path.join(out, name)) as f:
                lines += [ln for ln in f.read().split("\n") if ln]
    check_output(chk, lines, parts, "file")
    dead, errs = [], []
    files = sorted(os.listdir(dl)) if os.path.isdir(dl) else []
    for name in files:
        with open(os.path.join(dl, name), "rb") as f:
            dead += [json.loads(ln) for ln in f.read().split(b"\n") if ln]
    seen = set()
    for d in dead:
        off = d.get("byte")
        if d.get("file") != inp or off not in offsets or off in seen:
            errs.append("dead letter at %r of %r: not a malformed line, or twice" % (off, d.get("file")))
            continue
        seen.add(off)
        v, want = offsets[off]
        if not reason_ok(d.get("reason"), want) or d.get("size") != len(v):
            errs.append("byte %d: reason %r size %r, want %r %d" % (off, d.get("reason"), d.get("size"), want, len(v)))
    missing = [o for o in offsets if o not in seen]
    chk.ok(not errs and not missing and files and all(n.startswith("dead-letters-") for n in files),
           "file: every malformed line in the dead-letter folder once, with file, byte offset, reason and size "
           "(%d dead letters in %d files)" % (len(dead), len(files)), "; ".join(errs[:5]) + " missing %s" % missing[:5])


def main():
    ap = cluster.arg_parser(__doc__)
    ap.add_argument("--case", action="append", choices=("cluster", "local", "file"))
    ap.add_argument("--good", type=int, default=3000, help="good transactions (default 3000)")
    a = ap.parse_args()
    cases = a.case or ["file", "local", "cluster"]
    chk = cluster.Checks()
    plugin = os.path.join(a.build, "tests", "plugins", "txn_pipe.so")
    why = cluster.missing(a.build, "bin/flinc", "tests/plugins/txn_pipe.so")
    if why:
        chk.fail(why)
        return chk.report()
    parts = build_partitions(a.good)
    n_bad = sum(1 for recs in parts for _, r in recs if r is not None)
    with cluster.scratch_dir("flinc-kafka-dl-", keep=a.keep, failed=lambda: chk.errors) as tmp:
        if "file" in cases:
            case_file(chk, a, parts, a.good, n_bad, plugin, tmp)
        if cases == ["file"]:
            return chk.report()
        conf = {"message.max.bytes": 2 << 20, "replica.fetch.max.bytes": 2 << 20}
        with broker.Broker(nodes=1, workdir=os.path.join(tmp, "broker"), keep=a.keep, conf=conf) as b:
            for t in ("txns", "out-local", "out-cluster", "dead"):
                b.create_topic(t, partitions=PARTITIONS)
            produce(b, "txns", parts)
            print("topic txns: %d good and %d malformed records in %d partitions" % (a.good, n_bad, PARTITIONS),
                  flush=True)
            if "local" in cases:
                case_local(chk, a, b, parts, a.good, n_bad, plugin, tmp)
            if "cluster" in cases:
                case_cluster(chk, a, b, parts, a.good, n_bad, plugin)
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
