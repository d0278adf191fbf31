#!/usr/bin/env python3
"""aggregation.so against a plain reference (issue 17 acceptance 3).

100k events from `flinc-gen user-events`, run through `flinc local` with
watermarks after every record; the reference below computes every aggregate
of docs/aggregation.md from the same file with the same event-time rules
(watermark = max timestamp seen - 10 s - 1, a record is dropped by a window
whose end - 1 <= the watermark when it arrives; sessions merge within a
30-min gap). Agreement = |job records & reference records| / max of the two
sizes, per kind and overall; each must be >= 0.98.

    aggregation_reference.py --build BUILD_DIR [--count N]
"""
import argparse, collections, datetime, json, os, subprocess, sys, tempfile, time

MIN = 60000


def ts_ms(s):
    if isinstance(s, (int, float)):
        return int(s)
    d = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return int(round(d.timestamp() * 1000))


def reference(events):
    out = collections.Counter()
    wm = -(1 << 62)
    user = collections.Counter(); page = collections.Counter(); eps = collections.Counter()
    pvps = collections.Counter(); conv = collections.defaultdict(lambda: [0, 0])
    seen = collections.defaultdict(set); sessions = collections.defaultdict(list)

    def late(end):
        return end - 1 <= wm

    for e in events:
        t = e["ts"]
        w = t - t % MIN
        if not late(w + MIN):
            user[(w, e["userId"], e["eventType"])] += 1
            seen[w].add(e["userId"])
        w5 = t - t % (5 * MIN)
        if not late(w5 + 5 * MIN):
            page[(w5, e["page"])] += 1
        w10 = t - t % 10000
        if not late(w10 + 10000):
            eps[w10] += 1
        if e["eventType"] == "page_view":
            w = t - t % 5000
            if not late(w + 5000):
                pvps[w] += 1
        # sliding 1 min by 10 s: slices of 10 s; a slice is late once its
        # last window (slice end + 50 s) fired, windows already fired miss it
        s0 = t - t % 10000
        for k in range(6):
            ws = s0 - k * 10000
            if not late(ws + MIN):
                c = conv[ws]
                if e["eventType"] == "purchase": c[0] += 1
                elif e["eventType"] == "page_view": c[1] += 1
        sessions[e["sessionId"]].append(t)
        wm = max(wm, t - 10000 - 1)
    for (w, u, et), n in user.items():
        out[json.dumps(["user_event_counts", w, w + MIN, u, et, n])] += 1
    for (w, p), n in page.items():
        out[json.dumps(["page_counts", w, w + 5 * MIN, p, n])] += 1
    for w, n in eps.items():
        out[json.dumps(["events_per_second", w, w + 10000, n])] += 1
    for w, n in pvps.items():
        out[json.dumps(["page_views_per_second", w, w + 5000, n])] += 1
    for w, (pu, pv) in conv.items():
        out[json.dumps(["conversion_rate", w, w + MIN, pu, round(pu / pv, 5) if pv else 0.0])] += 1
    for w, us in seen.items():
        out[json.dumps(["active_users", w, w + MIN, len(us)])] += 1
    for sid, ts in sessions.items():
        ts.sort()
        b = 0
        for i in range(1, len(ts) + 1):
            if i == len(ts) or ts[i] - ts[i - 1] >= 30 * MIN:
                first, last, n = ts[b], ts[i - 1], i - b
                out[json.dumps(["session", first, last + 30 * MIN, sid, first, last, n])] += 1
                if n == 1:
                    out[json.dumps(["bounce", first, last + 30 * MIN, sid, first, last, n])] += 1
                b = i
    return out


def canon(r):
    k = r["kind"]; ws, we = r["windowStart"], r["windowEnd"]
    if k == "user_event_counts": return [k, ws, we, r["userId"], r["eventType"], r["count"]]
    if k == "page_counts": return [k, ws, we, r["page"], r["count"]]
    if k in ("events_per_second", "page_views_per_second", "active_users"): return [k, ws, we, r["count"]]
    if k == "conversion_rate": return [k, ws, we, r["count"], round(float(r["value"]), 5)]
    return [k, ws, we, r["sessionId"], r["start"], r["end"], r["count"]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--count", type=int, default=100000)
    a = ap.parse_args()
    b = a.build
    with tempfile.TemporaryDirectory() as tmp:
        inp = os.path.join(tmp, "events.jsonl")
        with open(inp, "w") as f:
            subprocess.run([os.path.join(b, "bin", "flinc-gen"), "user-events", "--count", str(a.count),
                            "--seed", "17"], stdout=f, check=True, timeout=60)
        t0 = time.time()
        p = subprocess.run([os.path.join(b, "bin", "flinc"), "local", "-D", "pipeline.auto-watermark-interval=0",
                            os.path.join(b, "jobs", "aggregation.so"), "--input", inp, "--output", "-"],
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            sys.exit("flinc local failed (%d): %s" % (p.returncode, p.stderr[-2000:]))
        print("job: %.1f s, %s" % (time.time() - t0, p.stderr.strip().splitlines()[-1]))
        got = collections.Counter(json.dumps(canon(json.loads(l))) for l in p.stdout.splitlines() if l.strip())
        events = []
        with open(inp) as f:
            for l in f:
                r = json.loads(l)
                events.append({"ts": ts_ms(r["timestamp"]), "userId": r["userId"], "sessionId": r["sessionId"],
                               "eventType": r["eventType"], "page": r["page"]})
        want = reference(events)
    ok = True
    kinds = sorted({json.loads(k)[0] for k in list(got) + list(want)})
    for kind in kinds + [None]:
        g = collections.Counter({k: v for k, v in got.items() if kind is None or json.loads(k)[0] == kind})
        w = collections.Counter({k: v for k, v in want.items() if kind is None or json.loads(k)[0] == kind})
        both = sum((g & w).values()); n = max(sum(g.values()), sum(w.values()), 1)
        agr = both / n
        print("%-22s job %7d reference %7d agreement %.4f" % (kind or "all", sum(g.values()), sum(w.values()), agr))
        if agr < 0.98: ok = False
    if not ok:
        for k in list((want - got))[:5]: print("reference only:", k)
        for k in list((got - want))[:5]: print("job only:", k)
    print("aggregation reference:", "OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
