#!/usr/bin/env python3
"""anomaly_reference - anomaly.so against a plain reference and against the
generator's labels (issue 17, acceptances 2 and 3).

Golden cases: hand-written readings with the exact alerts expected
(alertType, sensorId, timestamp, value, threshold, zScore): a range breach
above and below, low batteries, a stuck run reaching N (and one stopping
short), a silence of exactly 60 s and one of 59.999 s, a silence that no
reading ends (the input goes on for other sensors), readings out of order
within the 10 s bound (evaluated in event-time order), a late reading (on
the side output, no alert), an outlier after the warm-up, and the end of
the input proving no silence. Run at -p 1 with a watermark after every
record (pipeline.auto-watermark-interval 0), so lateness is the file's.

Reference: `flinc-gen iot --count N --seed S` (100,000 by default) through
`flinc local -p 2 anomaly.so`; a reference implementation of the rules
written here (per sensor in event-time order) gives its alerts; agreement
= |both| / |either| over (alertType, sensorId, timestamp) must be >= 0.98.
Precision and recall per type against the labels (isAnomaly/anomalyType)
are printed and must be >= 0.95: a RANGE_BREACH, STATISTICAL_OUTLIER or
LOW_BATTERY alert matches a reading labelled with its type; a STUCK_SENSOR
alert matches a labelled stuck episode (recall per episode); a
SENSOR_SILENT alert at t matches the labelled last reading at t - 60 s.

Restore: the same input read at 40,000 readings/s with checkpoints every
200 ms, `flinc local` killed with kill -9 after its third checkpoint and
started again from the newest one (-s) into the same output folder, on
the hashmap and the RocksDB backend: the committed alerts must equal the
undisturbed run's, ids included (partial state restored mid-stream:
running statistics, stuck runs, waiting readings, silence timers).

Usage: anomaly_reference.py --build BUILD [--count N] [--seed S] [--keep]
"""
import collections
import json
import math
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cluster  # noqa: E402
from seed_common import iso, parse_ts, restore_case  # noqa: E402
import seed_common  # noqa: E402

RANGES = {"temperature": (-20, 80), "humidity": (0, 100), "pressure": (0, 1000), "vibration": (0, 100),
          "light": (0, 1000), "sound": (0, 120)}
WARMUP, Z, SILENCE, STUCK = 30, 3.0, 60000, 10
TYPES = ["RANGE_BREACH", "STATISTICAL_OUTLIER", "STUCK_SENSOR", "SENSOR_SILENT", "LOW_BATTERY"]


def reference(records):
    """The rules of docs/anomaly.md, per sensor in event-time order."""
    by = collections.defaultdict(list)
    for r in records:
        by[r["sensorId"]].append(r)
    newest = max(r["_ts"] for r in records)
    out = set()
    for sid, rs in by.items():
        rs.sort(key=lambda r: r["_ts"])
        cnt, mean, m2, last, run, last_ts = 0, 0.0, 0.0, None, 0, None
        for r in rs:
            ts, v, st = r["_ts"], r["value"], r["sensorType"]
            if last_ts is not None and ts - last_ts >= SILENCE:
                out.add(("SENSOR_SILENT", sid, last_ts + SILENCE))
            if r.get("batteryLevel", 100) < 10:
                out.add(("LOW_BATTERY", sid, ts))
            if st in RANGES:
                lo, hi = RANGES[st]
                if v < lo or v > hi:
                    out.add(("RANGE_BREACH", sid, ts))
                else:
                    if cnt >= WARMUP:
                        sd = math.sqrt(m2 / (cnt - 1))
                        if sd > 0 and abs(v - mean) / sd > Z:
                            out.add(("STATISTICAL_OUTLIER", sid, ts))
                    cnt += 1
                    d = v - mean
                    mean += d / cnt
                    m2 += d * (v - mean)
                if run > 0 and v == last:
                    run += 1
                    if run == STUCK:
                        out.add(("STUCK_SENSOR", sid, ts))
                else:
                    run = 1
            last, last_ts = v, ts
        if last_ts + SILENCE <= newest - 10000:
            out.add(("SENSOR_SILENT", sid, last_ts + SILENCE))
    return out


def golden(chk, a, tmp):
    T = 1767225600000  # 2026-01-01T00:00:00Z

    def rd(sid, st, sec, v, bat=80):
        return {"timestamp": iso(T + int(sec * 1000)), "sensorId": sid, "sensorType": st, "value": v,
                "unit": "x", "location": "lab", "isAnomaly": False, "anomalyType": None, "batteryLevel": bat,
                "deviceStatus": "active"}
    recs = []
    # s1 temperature: breach above, then below; battery 9 then 10 (no alert at 10)
    recs += [rd("s1", "temperature", 1, 20.5), rd("s1", "temperature", 2, 81.25), rd("s1", "temperature", 3, -20.5),
             rd("s1", "temperature", 4, 21, 9), rd("s1", "temperature", 5, 22, 10)]
    # s2 humidity: 10 equal values -> one STUCK at the 10th; s3: 9 equal -> none
    recs += [rd("s2", "humidity", 10 + i, 50.0) for i in range(10)]
    recs += [rd("s3", "humidity", 10 + i, 40.0) for i in range(9)] + [rd("s3", "humidity", 19, 41.0)]
    # s4 pressure: a gap of exactly 60 s (silent at 100+60), then 59.999 s (not)
    recs += [rd("s4", "pressure", 100, 500.5), rd("s4", "pressure", 160, 501.5), rd("s4", "pressure", 219.999, 502.5)]
    # s5 sound: readings out of order within the bound; 30 warm-up then an outlier
    base = [rd("s5", "sound", 300 + i, 60 + (i % 3) * 0.5) for i in range(30)]
    base[10], base[11] = base[11], base[10]  # arrive swapped
    recs += base + [rd("s5", "sound", 340, 90.0)]
    # s6 light: last reading at 350; the input goes on to 500 for s7: silent at 410
    recs += [rd("s6", "light", 350, 300.5)]
    recs += [rd("s7", "motion", 360 + 10 * i, i % 2) for i in range(15)]
    # a late reading of s1 (far behind the watermark): side output, no alert
    recs += [rd("s1", "temperature", 100, 999.0)]
    # s8 vibration: last reading 5 s before the end: the end proves no silence
    recs += [rd("s8", "vibration", 495, 10.5)]
    recs.sort(key=lambda r: r["timestamp"] if r["sensorId"] != "s1" or r["value"] != 999.0 else "~")
    # the swapped pair of s5 stays swapped (sorting put it back): swap again
    i = next(k for k, r in enumerate(recs) if r["sensorId"] == "s5" and r["timestamp"] == iso(T + 310000))
    recs[i], recs[i + 1] = recs[i + 1], recs[i]
    inp = os.path.join(tmp, "golden.json")
    with open(inp, "w") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")
    nan = None
    want = sorted([
        ("RANGE_BREACH", "s1", T + 2000, 81.25, 80.0, nan),
        ("RANGE_BREACH", "s1", T + 3000, -20.5, -20.0, nan),
        ("LOW_BATTERY", "s1", T + 4000, 21.0, 10.0, nan),
        ("SENSOR_SILENT", "s1", T + 65000, 22.0, 60.0, nan),
        ("STUCK_SENSOR", "s2", T + 19000, 50.0, 10.0, nan),
        ("SENSOR_SILENT", "s2", T + 79000, 50.0, 60.0, nan),
        ("SENSOR_SILENT", "s3", T + 79000, 41.0, 60.0, nan),
        ("SENSOR_SILENT", "s4", T + 160000, 500.5, 60.0, nan),
        ("SENSOR_SILENT", "s4", T + 279999, 502.5, 60.0, nan),
        ("SENSOR_SILENT", "s5", T + 400000, 90.0, 60.0, nan),
        ("SENSOR_SILENT", "s6", T + 410000, 300.5, 60.0, nan),
    ], key=str)
    # One subtask and a watermark after every record: which reading is late
    # and where the input ends are then the file's, not the scheduler's.
    for p in (1,):
        out = os.path.join(tmp, "golden-out-%d" % p)
        rc, text, alerts = seed_common.run_job(a.build, "anomaly", inp, out, p,
                                               {"pipeline.auto-watermark-interval": "0"})
        chk.ok(rc == 0, "golden -p %d: flinc local exits 0" % p, text[-1500:])
        got = [(x["alertType"], x["sensorId"], parse_ts(x["timestamp"]), x["value"], x["threshold"], x["zScore"])
               for x in alerts if x["alertType"] != "STATISTICAL_OUTLIER"]
        outl = [x for x in alerts if x["alertType"] == "STATISTICAL_OUTLIER"]
        chk.ok(sorted(got, key=str) == want, "golden -p %d: the exact alerts (range, battery, stuck, silences)" % p,
               "got %s\nwant %s" % (sorted(got, key=str), want))
        chk.ok(len(outl) == 1 and outl[0]["sensorId"] == "s5" and parse_ts(outl[0]["timestamp"]) == T + 340000
               and outl[0]["threshold"] is None and outl[0]["zScore"] > 3,
               "golden -p %d: one STATISTICAL_OUTLIER, s5 at 340 s, with its zScore" % p, outl)
        ids = [x["alertId"] for x in alerts]
        chk.ok(len(set(ids)) == len(ids) and all(len(i) == 16 for i in ids), "golden -p %d: alert ids distinct" % p)
        chk.ok(not any(x["sensorId"] == "s1" and x["value"] == 999.0 for x in alerts),
               "golden -p %d: the late reading raised no alert" % p)


def main():
    ap = cluster.arg_parser(__doc__)
    ap.add_argument("--count", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=17)
    a = ap.parse_args()
    chk = cluster.Checks()
    why = cluster.missing(a.build, "bin/flinc", "bin/flinc-gen", "jobs/anomaly.so")
    if why:
        chk.fail(why)
        return chk.report()
    with cluster.scratch_dir("flinc-anomaly-", keep=a.keep, failed=lambda: chk.errors) as tmp:
        golden(chk, a, tmp)
        inp = os.path.join(tmp, "iot.json")
        subprocess.run([os.path.join(a.build, "bin", "flinc-gen"), "iot", "--count", str(a.count), "--seed",
                        str(a.seed), "--output", inp], check=True, timeout=300)
        records = []
        with open(inp) as f:
            for ln in f:
                r = json.loads(ln)
                r["_ts"] = parse_ts(r["timestamp"])
                records.append(r)
        rc, text, alerts = seed_common.run_job(a.build, "anomaly", inp, os.path.join(tmp, "out"), 2)
        chk.ok(rc == 0, "flinc local -p 2 anomaly.so over %d generated readings exits 0" % a.count, text[-1500:])
        for backend in ("hashmap", "rocksdb"):
            restore_case(chk, a.build, "anomaly", tmp, inp, alerts, backend,
                         lambda x: (x["alertId"], x["alertType"], x["sensorId"], x["timestamp"]))
        got = {(x["alertType"], x["sensorId"], parse_ts(x["timestamp"])) for x in alerts}
        ref = reference(records)
        agree = len(got & ref) / max(1, len(got | ref))
        chk.ok(agree >= 0.98, "agreement with the reference: %.4f (%d alerts, %d reference, %d both)" %
               (agree, len(got), len(ref), len(got & ref)), sorted(got ^ ref)[:10])
        # precision and recall against the labels
        labelled = collections.defaultdict(set)
        episodes = []
        by = collections.defaultdict(list)
        for r in records:
            by[r["sensorId"]].append(r)
            if r["anomalyType"]:
                labelled[r["anomalyType"]].add((r["sensorId"], r["_ts"]))
        for sid, rs in by.items():
            cur = None
            for r in rs:
                if r["anomalyType"] == "STUCK_SENSOR":
                    if cur is None:
                        cur = set()
                        episodes.append(cur)
                    cur.add((sid, r["_ts"]))
                else:
                    cur = None
        for t in TYPES:
            mine = {(s, ts) for (k, s, ts) in got if k == t}
            if t == "SENSOR_SILENT":
                mine = {(s, ts - SILENCE) for (s, ts) in mine}
            if t == "STUCK_SENSOR":
                hit = [e for e in episodes if e & mine]
                prec = len([m for m in mine if m in labelled[t]]) / max(1, len(mine))
                rec = len(hit) / max(1, len(episodes))
                n = len(episodes)
            else:
                prec = len(mine & labelled[t]) / max(1, len(mine))
                rec = len(mine & labelled[t]) / max(1, len(labelled[t]))
                n = len(labelled[t])
            chk.ok(prec >= 0.95 and rec >= 0.95, "%-20s precision %.4f recall %.4f (%d alerts, %d labelled%s)" %
                   (t, prec, rec, len(mine), n, " episodes" if t == "STUCK_SENSOR" else ""))
    return chk.report()


if __name__ == "__main__":
    sys.exit(main())
