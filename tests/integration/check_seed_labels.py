#!/usr/bin/env python3
"""check_seed_labels - an independent check of flinc-gen's seed streams
(docs/generators.md), Python 3 stdlib only.

    check_seed_labels.py transactions FILE
    check_seed_labels.py iot FILE
    check_seed_labels.py user-events FILE

Every record must be one JSON object with the DESIGN.md fields, `timestamp`
ISO-8601 UTC with milliseconds, in event-time order. Then, by mode:

transactions: each fraud rule of DESIGN.md is evaluated per user, naively,
in two readings: a strict one (the rule as the fraud job is asked to
implement it, windows exclusive: `within` 2/10/5 min, VELOCITY counting
`completed` only) and a broad one (windows inclusive, VELOCITY counting
`completed` and `approved`, GEO comparing any two records within 5 min, not
only neighbours). A record labelled with fraud type T must take part in a
strict match of T; a record not labelled must take part in no broad match of
any rule ("accidental"); a labelled record in a broad match of another type
is a "cross" match.

iot: RANGE_BREACH = value outside the type's range; STATISTICAL_OUTLIER =
|z| > 3 against the running mean and standard deviation (Welford) of the
sensor's earlier in-range readings, after 30 of them; STUCK_SENSOR = a run of
>= 10 equal consecutive values; SENSOR_SILENT = the reading after which the
sensor sends nothing for >= 60 s; LOW_BATTERY = batteryLevel < 10. Motion
sensors (0/1 values) are exempt from the value rules. Labelled readings must
match their rule; unlabelled ones must match none (a stuck run: no two equal
consecutive values at all; silence: not counted for a sensor's last reading).

user-events: sessions (by sessionId) belong to one user, their events are
< 30 min apart, a user's sessions are > 30 min apart, a session is either a
bounce (one page_view and nothing else) or has >= 2 page views.

Prints a summary and one line `RESULT {json}`; exit status 1 if a check
failed.
"""
import json
import math
import re
import sys
from collections import defaultdict

TS_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})Z$")


def ts_ms(s):
    m = TS_RE.match(s)
    if not m:
        raise ValueError("timestamp %r is not YYYY-MM-DDTHH:MM:SS.mmmZ" % s)
    y, mo, d, h, mi, se, ms = (int(x) for x in m.groups())
    # days from civil (proleptic Gregorian)
    y2 = y - (mo <= 2)
    era = y2 // 400
    yoe = y2 - era * 400
    doy = (153 * (mo - 3 if mo > 2 else mo + 9) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    return ((days * 24 + h) * 60 + mi) * 60000 + se * 1000 + ms


def load(path, fields):
    recs = []
    bad = 0
    last = None
    order_errors = 0
    with open(path) as f:
        for n, line in enumerate(f):
            try:
                r = json.loads(line)
                missing = [k for k in fields if k not in r]
                if missing:
                    raise ValueError("missing %s" % missing)
                r["_ts"] = ts_ms(r["timestamp"])
            except ValueError as e:
                bad += 1
                if bad <= 5:
                    print("  bad record %d: %s" % (n + 1, e))
                continue
            if last is not None and r["_ts"] < last:
                order_errors += 1
            last = r["_ts"]
            r["_i"] = len(recs)
            recs.append(r)
    return recs, bad, order_errors


def haversine(a, b):
    la1, lo1 = math.radians(a["lat"]), math.radians(a["lon"])
    la2, lo2 = math.radians(b["lat"]), math.radians(b["lon"])
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 6371.0 * 2 * math.atan2(math.sqrt(h), math.sqrt(1 - h))


FRAUD = ["VELOCITY_FRAUD", "STRUCTURING_FRAUD", "GEO_ANOMALY", "CARD_TESTING", "OFF_HOURS_HIGH_RISK"]
TX_FIELDS = ["timestamp", "transactionId", "userId", "amount", "currency", "merchantCategory", "paymentMethod",
             "riskScore", "isFraud", "fraudType", "status", "country", "location"]


def tx_matches(rs, strict):
    """Indexes (into rs, one user's records in time order) taking part in a
    match, per rule."""
    out = {t: set() for t in FRAUD}
    lt = (lambda d, w: d < w) if strict else (lambda d, w: d <= w)
    ok_v = ("completed",) if strict else ("completed", "approved")
    n = len(rs)

    def after(i, w):
        j = i + 1
        while j < n and rs[j]["_ts"] - rs[i]["_ts"] <= w:
            if lt(rs[j]["_ts"] - rs[i]["_ts"], w):
                yield j
            j += 1

    def before(i, w):
        j = i - 1
        while j >= 0 and rs[i]["_ts"] - rs[j]["_ts"] <= w:
            if lt(rs[i]["_ts"] - rs[j]["_ts"], w):
                yield j
            j -= 1

    for i in range(n):
        a = rs[i]
        # velocity: a successful one and >= 5 more within 2 min
        if a["status"] in ok_v:
            js = [j for j in after(i, 120000) if rs[j]["status"] in ok_v]
            if len(js) >= 5:
                out["VELOCITY_FRAUD"].update([i] + js)
        # structuring: >= 1000 then 3 of <= 100 within 10 min
        if a["amount"] >= 1000:
            js = [j for j in after(i, 600000) if rs[j]["amount"] <= 100]
            if len(js) >= 3:
                out["STRUCTURING_FRAUD"].update([i] + js)
        # card testing: >= 3 failed then a success within 10 min
        if a["status"] in ("completed", "approved"):
            fs = [j for j in before(i, 600000) if rs[j]["status"] in ("failed", "declined")]
            if len(fs) >= 3:
                out["CARD_TESTING"].update([i] + fs)
        # off hours: 22:00-06:00 UTC and risk >= 0.7
        h = (a["_ts"] // 3600000) % 24
        if (h >= 22 or h < 6) and a["riskScore"] >= 0.7 - 1e-9:
            out["OFF_HOURS_HIGH_RISK"].add(i)
        # geo: two countries within 5 min, or > 900 km/h between neighbours
        if i > 0:
            p = rs[i - 1]
            dt = a["_ts"] - p["_ts"]
            km = haversine(p["location"], a["location"])
            speed = math.inf if dt == 0 and km > 0 else (km / (dt / 3600000.0) if dt > 0 else 0)
            if (p["country"] != a["country"] and lt(dt, 300000)) or speed > 900:
                out["GEO_ANOMALY"].update([i - 1, i])
        if not strict:
            for j in range(i + 1, n):
                if rs[j]["_ts"] - a["_ts"] > 300000:
                    break
                if rs[j]["country"] != a["country"]:
                    out["GEO_ANOMALY"].update([i, j])
    return out


def check_transactions(path):
    recs, bad, order = load(path, TX_FIELDS)
    errors = []
    if bad:
        errors.append("%d malformed records" % bad)
    if order:
        errors.append("%d records out of event-time order" % order)
    ids = set(r["transactionId"] for r in recs)
    if len(ids) != len(recs):
        errors.append("%d duplicate transactionIds" % (len(recs) - len(ids)))
    for r in recs:
        if (r["fraudType"] is None) == bool(r["isFraud"]) or (r["fraudType"] not in FRAUD + [None]):
            errors.append("record %d: isFraud %r with fraudType %r" % (r["_i"] + 1, r["isFraud"], r["fraudType"]))
            break
    by_user = defaultdict(list)
    for r in recs:
        by_user[r["userId"]].append(r)
    labelled = defaultdict(int)
    unmatched = defaultdict(int)
    accidental = defaultdict(int)
    cross = defaultdict(int)
    for rs in by_user.values():
        strict = tx_matches(rs, True)
        broad = tx_matches(rs, False)
        for k, r in enumerate(rs):
            t = r["fraudType"]
            if t:
                labelled[t] += 1
                if k not in strict[t]:
                    unmatched[t] += 1
                    if unmatched[t] <= 3:
                        print("  labelled %s but matches no %s: line %d" % (t, t, r["_i"] + 1))
                for o in FRAUD:
                    if o != t and k in broad[o]:
                        cross["%s in %s" % (t, o)] += 1
            else:
                for o in FRAUD:
                    if k in broad[o]:
                        accidental[o] += 1
                        if accidental[o] <= 3:
                            print("  unlabelled line %d matches %s" % (r["_i"] + 1, o))
    nfraud = sum(labelled.values())
    print("transactions: %d records, %d users, %d labelled fraud (%.2f%%)" %
          (len(recs), len(by_user), nfraud, 100.0 * nfraud / max(1, len(recs))))
    for t in FRAUD:
        print("  %-20s labelled %6d  labelled-without-match %d  unlabelled-matching %d" %
              (t, labelled[t], unmatched[t], accidental[t]))
    if cross:
        print("  cross matches: %s" % dict(cross))
    if sum(unmatched.values()):
        errors.append("%d labelled records match no rule of their type" % sum(unmatched.values()))
    if sum(accidental.values()):
        errors.append("%d unlabelled records match a rule" % sum(accidental.values()))
    if sum(cross.values()):
        errors.append("%d labelled records match another type's rule" % sum(cross.values()))
    return errors, {"records": len(recs), "labelled": dict(labelled), "unmatched": dict(unmatched),
                    "accidental": dict(accidental), "cross": dict(cross)}


RANGES = {"temperature": (-20, 80), "humidity": (0, 100), "pressure": (0, 1000), "vibration": (0, 100),
          "light": (0, 1000), "sound": (0, 120)}
ANOM = ["RANGE_BREACH", "STATISTICAL_OUTLIER", "STUCK_SENSOR", "SENSOR_SILENT", "LOW_BATTERY"]
IOT_FIELDS = ["timestamp", "sensorId", "sensorType", "value", "unit", "location", "isAnomaly", "anomalyType",
              "batteryLevel", "deviceStatus"]
STUCK_RUN = 10
WARMUP = 30


def check_iot(path):
    recs, bad, order = load(path, IOT_FIELDS)
    errors = []
    if bad:
        errors.append("%d malformed records" % bad)
    if order:
        errors.append("%d records out of event-time order" % order)
    by_sensor = defaultdict(list)
    for r in recs:
        by_sensor[r["sensorId"]].append(r)
        if (r["anomalyType"] is None) == bool(r["isAnomaly"]) or r["anomalyType"] not in ANOM + [None]:
            errors.append("line %d: isAnomaly %r with anomalyType %r" % (r["_i"] + 1, r["isAnomaly"],
                                                                          r["anomalyType"]))
    labelled = defaultdict(int)
    unmatched = defaultdict(int)
    accidental = defaultdict(int)
    types = defaultdict(int)
    zmax_normal = 0.0
    for rs in by_sensor.values():
        st = rs[0]["sensorType"]
        types[st] += 1
        match = {t: set() for t in ANOM}
        n = len(rs)
        # silence
        for k in range(n - 1):
            if rs[k + 1]["_ts"] - rs[k]["_ts"] >= 60000:
                match["SENSOR_SILENT"].add(k)
        for k, r in enumerate(rs):
            if r["batteryLevel"] < 10:
                match["LOW_BATTERY"].add(k)
        if st != "motion":
            lo, hi = RANGES[st]
            cnt, mean, m2 = 0, 0.0, 0.0
            for k, r in enumerate(rs):
                v = r["value"]
                if v < lo or v > hi:
                    match["RANGE_BREACH"].add(k)
                    continue
                if cnt >= WARMUP:
                    sd = math.sqrt(m2 / (cnt - 1))
                    z = abs(v - mean) / sd if sd > 0 else 0
                    if z > 3:
                        match["STATISTICAL_OUTLIER"].add(k)
                    elif not r["isAnomaly"]:
                        zmax_normal = max(zmax_normal, z)
                cnt += 1
                d = v - mean
                mean += d / cnt
                m2 += d * (v - mean)
            k = 0
            while k < n:
                j = k
                while j + 1 < n and rs[j + 1]["value"] == rs[k]["value"]:
                    j += 1
                if j - k + 1 >= STUCK_RUN:
                    match["STUCK_SENSOR"].update(range(k, j + 1))
                elif j > k and not all(rs[x]["isAnomaly"] for x in range(k, j + 1)):
                    # two equal neighbours in normal traffic
                    for x in range(k, j + 1):
                        if not rs[x]["isAnomaly"]:
                            accidental["STUCK_SENSOR(pair)"] += 1
                k = j + 1
        for k, r in enumerate(rs):
            t = r["anomalyType"]
            if t:
                labelled[t] += 1
                if k not in match[t]:
                    unmatched[t] += 1
                    if unmatched[t] <= 3:
                        print("  labelled %s but matches no %s: line %d" % (t, t, r["_i"] + 1))
            else:
                for o in ANOM:
                    if k in match[o] and not (o == "SENSOR_SILENT" and k == n - 1):
                        accidental[o] += 1
                        if accidental[o] <= 3:
                            print("  unlabelled line %d matches %s" % (r["_i"] + 1, o))
    nanom = sum(labelled.values())
    print("iot: %d records, %d sensors %s, %d labelled anomalies (%.2f%%), max |z| of normal readings %.2f" %
          (len(recs), len(by_sensor), dict(types), nanom, 100.0 * nanom / max(1, len(recs)), zmax_normal))
    for t in ANOM:
        print("  %-20s labelled %6d  labelled-without-match %d  unlabelled-matching %d" %
              (t, labelled[t], unmatched[t], accidental[t]))
    if accidental.get("STUCK_SENSOR(pair)"):
        print("  equal neighbours in normal readings: %d" % accidental["STUCK_SENSOR(pair)"])
    if sum(unmatched.values()):
        errors.append("%d labelled readings match no rule of their type" % sum(unmatched.values()))
    if sum(accidental.values()):
        errors.append("%d unlabelled readings match a rule" % sum(accidental.values()))
    return errors, {"records": len(recs), "labelled": dict(labelled), "unmatched": dict(unmatched),
                    "accidental": dict(accidental), "zmax_normal": zmax_normal}


UE_FIELDS = ["timestamp", "userId", "sessionId", "eventType", "page", "country", "userAgent", "duration",
             "metadata"]
EVENT_TYPES = {"page_view", "button_click", "form_submission", "search", "login", "logout", "purchase",
               "video_play"}


def check_user_events(path):
    recs, bad, order = load(path, UE_FIELDS)
    errors = []
    if bad:
        errors.append("%d malformed records" % bad)
    if order:
        errors.append("%d records out of event-time order" % order)
    sessions = defaultdict(list)
    kinds = defaultdict(int)
    for r in recs:
        sessions[r["sessionId"]].append(r)
        kinds[r["eventType"]] += 1
        if r["eventType"] not in EVENT_TYPES:
            errors.append("line %d: eventType %r" % (r["_i"] + 1, r["eventType"]))
            break
    by_user = defaultdict(list)
    bounces = 0
    bad_sessions = 0
    for sid, rs in sessions.items():
        users = set(r["userId"] for r in rs)
        gaps = [b["_ts"] - a["_ts"] for a, b in zip(rs, rs[1:])]
        pv = sum(1 for r in rs if r["eventType"] == "page_view")
        if len(users) != 1 or any(g >= 1800000 for g in gaps):
            bad_sessions += 1
        if len(rs) == 1 and pv == 1:
            bounces += 1
        elif pv < 2:
            bad_sessions += 1
            if bad_sessions <= 3:
                print("  session %s: %d events, %d page views" % (sid, len(rs), pv))
        by_user[rs[0]["userId"]].append((rs[0]["_ts"], rs[-1]["_ts"]))
    close = 0
    for spans in by_user.values():
        spans.sort()
        for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
            if s2 - e1 <= 1800000:
                close += 1
    print("user-events: %d records, %d sessions (%d bounces, %.1f%%), %d users, events %s" %
          (len(recs), len(sessions), bounces, 100.0 * bounces / max(1, len(sessions)), len(by_user), dict(kinds)))
    print("  sessions with a bad shape %d, a user's sessions <= 30 min apart %d" % (bad_sessions, close))
    if bad_sessions:
        errors.append("%d sessions with a bad shape" % bad_sessions)
    if close:
        errors.append("%d pairs of a user's sessions <= 30 min apart" % close)
    return errors, {"records": len(recs), "sessions": len(sessions), "bounces": bounces, "kinds": dict(kinds)}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("transactions", "iot", "user-events"):
        print("usage: check_seed_labels.py transactions|iot|user-events FILE", file=sys.stderr)
        return 2
    fn = {"transactions": check_transactions, "iot": check_iot, "user-events": check_user_events}[sys.argv[1]]
    errors, summary = fn(sys.argv[2])
    summary["errors"] = errors
    for e in errors:
        print("FAIL: " + e)
    print("RESULT " + json.dumps(summary, sort_keys=True))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
