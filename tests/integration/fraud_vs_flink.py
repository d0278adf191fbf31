#!/usr/bin/env python3
"""fraud_vs_flink - fraud.so against the same job written for Apache Flink
CEP (tests/bench/flink/.../FraudCep.java) on the same inputs (issue 17,
acceptance 4).

Both engines read the same file and write JSON lines; the alerts are
compared twice: as sets of (alertType, userId, first transaction id), the
issue's key, and as whole lines byte for byte (alertId, timestamp,
description and every other field). Every difference is printed with both
records and the user's transactions around it.

Inputs:
- golden: the hand-written transactions of fraud_reference.py (the rules'
  edges, out of order within the bound, a late one), a watermark after
  every record on both engines (flinc: pipeline.auto-watermark-interval=0;
  Flink: a WatermarkGenerator emitting on every event), -p 1; both must
  give exactly fraud_reference's expected alerts;
- edges: more hand-written cases that only compare the engines: equal
  timestamps (ordered by transaction id), overlapping and back-to-back
  matches under skip-past-last-event, card testing with a success before
  the third failure, geo at dt = 0;
- generated: flinc-gen transactions --count N (default 100,000, seed 17)
  at -p 2, and 20,000 at --fraud-rate 0.3 (seed 5: dense, overlapping
  fraud) at -p 2.

The Flink side is built with Maven as tests/bench/vs-flink builds it
(offline first; the first run resolves Flink and flink-cep from Maven
Central). Label `flink`.

Usage: fraud_vs_flink.py --build BUILD [--count N] [--seed S] [--keep]
"""
import collections
import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import cluster  # noqa: E402
import fraud_reference  # noqa: E402
from fraud_reference import tx, T0, MIN  # noqa: E402
from seed_common import parse_ts  # noqa: E402

H = 3600000


def load_vs_flink():
    path = os.path.join(REPO, "tests", "bench", "vs-flink")
    loader = importlib.machinery.SourceFileLoader("vs_flink", path)
    spec = importlib.util.spec_from_loader("vs_flink", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def edges_input(tmp):
    """Cases where CEP engines could part ways; no expected alerts here, the
    two engines must agree."""
    D = 12 * H
    recs = []
    # equal timestamps: three completed ones at one instant, ids out of
    # order in the file, then three more: the velocity match must list them
    # by id, and the geo pairs (dt = 0) depend on that order
    recs += [tx("e1", D, "e1-c", country="GB"), tx("e1", D, "e1-a", country="FR", lat=48.85, lon=2.35),
             tx("e1", D, "e1-b", country="GB")]
    recs += [tx("e1", D + 1000 * k, "e1-%d" % k) for k in range(1, 4)]
    # velocity: 12 completed within 2 min (two back-to-back matches), then
    # 7 with the 6th and 7th past the window of the first
    recs += [tx("e2", D + H + 5000 * k, "e2-%02d" % k) for k in range(12)]
    recs += [tx("e2", D + 2 * H + 30000 * k, "e2-w%d" % k) for k in range(7)]
    # structuring: two big ones, then 3 small (one match from the first,
    # the second is inside it: skipped past), then a big one whose smalls
    # come 10 min after it (none)
    recs += [tx("e3", D + 3 * H, "e3-b0", amount=5000.0), tx("e3", D + 3 * H + 1000, "e3-b1", amount=1200.0)]
    recs += [tx("e3", D + 3 * H + 60000 * k, "e3-s%d" % k, amount=10.0 * k) for k in range(1, 5)]
    recs += [tx("e3", D + 4 * H, "e3-b2", amount=1000.0)]
    recs += [tx("e3", D + 4 * H + 10 * MIN + k, "e3-t%d" % k, amount=100.0) for k in range(3)]
    # card testing: 2 failures, a success, 3 more failures, a success; then
    # 3 failures whose success comes 10 min after the first
    st = ["failed", "declined", "approved", "failed", "failed", "declined", "completed"]
    recs += [tx("e4", D + 5 * H + 30000 * k, "e4-%d" % k, status=s) for k, s in enumerate(st)]
    recs += [tx("e4", D + 6 * H + 60000 * k, "e4-x%d" % k, status="failed") for k in range(3)]
    recs += [tx("e4", D + 6 * H + 10 * MIN, "e4-x3", status="completed")]
    # geo: the same place at the same instant (no alert), another place at
    # the same instant (alert), and 901 km/h vs 899 km/h in one country
    recs += [tx("e5", D + 7 * H, "e5-0"), tx("e5", D + 7 * H, "e5-1"),
             tx("e5", D + 7 * H + 10, "e5-2", lat=51.6)]
    # off hours: 05:59:59.999 and 06:00:00.000 with risk 0.7
    recs += [tx("e6", 6 * H - 1, "e6-0", risk=0.7), tx("e6", 6 * H, "e6-1", risk=0.7)]
    recs.sort(key=lambda r: r["timestamp"])
    inp = os.path.join(tmp, "edges.json")
    with open(inp, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in recs)
    return inp


def run_flinc(build, inp, out, p, every_record):
    conf = {"pipeline.auto-watermark-interval": "0"} if every_record else {}
    argv = cluster.local_argv(build, "fraud", p, conf) + ["--input", inp, "--output", out]
    t0 = time.monotonic()
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    return r.returncode, r.stdout.decode(errors="replace"), time.monotonic() - t0


def run_flink(classpath, inp, out, p, every_record):
    argv = ["java", "-cp", classpath, "io.flinc.bench.Main", "--job", "fraud", "--input", inp, "--output", out,
            "-p", str(p)]
    if every_record:
        argv += ["--watermark-every-record", "true"]
    t0 = time.monotonic()
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900)
    return r.returncode, r.stdout.decode(errors="replace"), time.monotonic() - t0


def committed_lines(folder):
    lines = []
    for f in cluster.committed_files(folder):
        with open(os.path.join(folder, f), encoding="utf-8") as fh:
            lines += [ln.rstrip("\n") for ln in fh if ln.strip()]
    return lines


def key(a):
    return (a["alertType"], a["userId"], a["transactionIds"][0])


def explain(records, side, alert, other):
    """The difference of one alert: the record of each side and the user's
    transactions from 10 min before its first to 10 min after its last."""
    out = ["    %s only: %s" % (side, json.dumps(alert))]
    if other:
        fields = [f for f in alert if alert.get(f) != other.get(f)]
        out = ["    same key, fields differ (%s):" % ", ".join(fields),
               "      flinc: %s" % json.dumps(alert if side == "flinc" else other),
               "      flink: %s" % json.dumps(other if side == "flinc" else alert)]
    ids = set(alert["transactionIds"])
    mine = [r for r in records.get(alert["userId"], [])]
    ts = [r["_ts"] for r in mine if r["transactionId"] in ids]
    if ts:
        lo, hi = min(ts) - 10 * MIN, max(ts) + 10 * MIN
        for r in mine:
            if lo <= r["_ts"] <= hi:
                out.append("      %s %s %-9s %8.2f %s risk %.2f%s" % (
                    r["timestamp"], r["transactionId"], r["status"], r["amount"], r["country"],
                    r["riskScore"], "  <- in the alert" if r["transactionId"] in ids else ""))
    return "\n".join(out)


def compare(chk, name, inp, flinc_lines, flink_lines):
    """Key sets and whole lines; prints every difference."""
    records = collections.defaultdict(list)
    with open(inp) as f:
        for ln in f:
            r = json.loads(ln)
            r["_ts"] = parse_ts(r["timestamp"])
            records[r["userId"]].append(r)
    for rs in records.values():
        rs.sort(key=lambda r: (r["_ts"], r["transactionId"]))
    a = [json.loads(x) for x in flinc_lines]
    b = [json.loads(x) for x in flink_lines]
    ka, kb = collections.Counter(map(key, a)), collections.Counter(map(key, b))
    per_type = {t: (sum(1 for x in a if x["alertType"] == t), sum(1 for x in b if x["alertType"] == t))
                for t in fraud_reference.TYPES}
    print("  %s: %d alerts from flinc, %d from Flink; per type (flinc, Flink): %s" % (
        name, len(a), len(b), ", ".join("%s %d/%d" % (t, x, y) for t, (x, y) in per_type.items())))
    diff_keys = set((ka - kb) + (kb - ka))
    la, lb = collections.Counter(flinc_lines), collections.Counter(flink_lines)
    diff_lines = (la - lb) + (lb - la)
    by_key_a = {key(x): x for x in a}
    by_key_b = {key(x): x for x in b}
    shown = set()
    for ln in sorted(diff_lines):
        x = json.loads(ln)
        k = key(x)
        if k in shown:
            continue
        shown.add(k)
        if k in by_key_a and k in by_key_b:
            print(explain(records, "flinc", by_key_a[k], by_key_b[k]))
        else:
            print(explain(records, "flinc" if k in by_key_a else "flink", x, None))
    chk.ok(not diff_keys, "%s: the same (alertType, userId, first transaction id) set (%d)" % (name, len(ka)),
           "%d only in flinc, %d only in Flink" % (sum((ka - kb).values()), sum((kb - ka).values())))
    chk.ok(not diff_lines, "%s: the same alert lines byte for byte (alertId, timestamp, description, ...)" % name,
           "%d lines differ" % sum(diff_lines.values()))
    return a


def main():
    ap = cluster.arg_parser(__doc__)
    ap.add_argument("--count", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=17)
    a = ap.parse_args()
    chk = cluster.Checks()
    why = cluster.missing(a.build, "bin/flinc", "bin/flinc-gen", "jobs/fraud.so")
    if why:
        chk.fail(why)
        return chk.report()
    t_start = time.monotonic()
    classpath = load_vs_flink().build_flink(a.build)
    with cluster.scratch_dir("flinc-fraud-flink-", keep=a.keep, failed=lambda: chk.errors) as tmp:
        gen = os.path.join(a.build, "bin", "flinc-gen")
        g_inp, want = fraud_reference.golden_input(tmp)
        dense = os.path.join(tmp, "dense.json")
        subprocess.run([gen, "transactions", "--count", "20000", "--seed", "5", "--fraud-rate", "0.3",
                        "--output", dense], check=True, timeout=300)
        inp = os.path.join(tmp, "tx.json")
        subprocess.run([gen, "transactions", "--count", str(a.count), "--seed", str(a.seed), "--output", inp],
                       check=True, timeout=300)
        cases = [("golden", g_inp, 1, True), ("edges", edges_input(tmp), 1, True),
                 ("generated %d (seed %d)" % (a.count, a.seed), inp, 2, False),
                 ("dense 20000 (seed 5, fraud rate 0.3)", dense, 2, False)]
        for i, (name, path, p, every) in enumerate(cases):
            out_a, out_b = os.path.join(tmp, "flinc-%d" % i), os.path.join(tmp, "flink-%d" % i)
            rc, text, s = run_flinc(a.build, path, out_a, p, every)
            if not chk.ok(rc == 0, "%s: flinc local -p %d fraud.so exits 0 (%.1f s)" % (name, p, s), text[-1500:]):
                continue
            rc, text, s = run_flink(classpath, path, out_b, p, every)
            if not chk.ok(rc == 0, "%s: FraudCep on Flink's MiniCluster -p %d exits 0 (%.1f s)" % (name, p, s),
                          text[-3000:]):
                continue
            alerts = compare(chk, name, path, committed_lines(out_a), committed_lines(out_b))
            if name == "golden":
                got = sorted((x["alertType"], x["userId"], tuple(x["transactionIds"])) for x in alerts)
                chk.ok(got == want, "golden: flinc's alerts are fraud_reference's exact ones (%d)" % len(want),
                       "got %s\nwant %s" % (got, want))
    print("  fraud_vs_flink took %.0f s" % (time.monotonic() - t_start))
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
