#!/usr/bin/env python3
"""Reference test for nexmark.so: flinc's answers against a plain Python
computation of each query over the same events.

1. `flinc-gen nexmark` writes a file of events (docs/nexmark.md line format);
   a few hand-made lines are added to it: one malformed line (must be
   rejected and skipped), and for q7 a bid tying the first window's highest
   price plus a bid at exactly that window's end with the same price (the
   SQL's BETWEEN includes both ends).
2. This script computes q0-q9, q11, q12, q14, q21 and q22 over the whole
   stream the way the Nexmark Flink SQL queries define them (docs/nexmark.md:
   how updating results are written). q12 groups by processing time, so its
   rows differ from run to run: it is compared by the bids per bidder summed
   over its windows, and every window must be 10 s long.
3. `flinc local -p P nexmark.so --query N --input FILE --output DIR` runs for
   P = 1 and 2; the committed output files (names not starting with '.') are
   compared with the reference as sorted, JSON-normalised lines. The built-in
   generator (no --input) is checked against the same file for q0, q5 and q9.

Exits 0 when everything matches, 1 with a summary of the differences
otherwise, 2 on a usage error. Python 3 standard library only.
"""
import collections
import json
import os
import re
import sys
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402

WINDOW = 10000  # q5 window size, q7 and q8 tumbling windows (ms)
SLIDE = 2000    # q5 slide (ms)
QUERIES = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 14, 21, 22)


# ---- the event file ---------------------------------------------------

def parse_file(path):
    """Events as dicts; malformed lines are skipped (and counted)."""
    events, bad = [], 0
    with open(path, encoding="utf-8", newline="\n") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if line.endswith("\r"):
                line = line[:-1]
            ev = parse_line(line)
            if ev is None:
                bad += 1
            else:
                events.append(ev)
    return events, bad


def parse_line(line):
    f = line.split("\t")
    try:
        if f[0] == "P" and len(f) == 9:
            return {"kind": "P", "id": int(f[1]), "name": f[2], "email": f[3], "creditCard": f[4],
                    "city": f[5], "state": f[6], "dateTime": int(f[7]), "extra": f[8]}
        if f[0] == "A" and len(f) == 11:
            return {"kind": "A", "id": int(f[1]), "itemName": f[2], "description": f[3],
                    "initialBid": int(f[4]), "reserve": int(f[5]), "dateTime": int(f[6]),
                    "expires": int(f[7]), "seller": int(f[8]), "category": int(f[9]), "extra": f[10]}
        if f[0] == "B" and len(f) == 8:
            return {"kind": "B", "auction": int(f[1]), "bidder": int(f[2]), "price": int(f[3]),
                    "channel": f[4], "url": f[5], "dateTime": int(f[6]), "extra": f[7]}
    except ValueError:
        return None
    return None


def bid_line(b):
    return "\t".join(["B", str(b["auction"]), str(b["bidder"]), str(b["price"]), b["channel"], b["url"],
                      str(b["dateTime"]), b["extra"]])


def craft(src, dst):
    """Copy src to dst with the hand-made lines described at the top."""
    with open(src, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    events = [parse_line(l) for l in lines]
    bids = [(i, e) for i, e in enumerate(events) if e and e["kind"] == "B"]
    if not bids:
        raise SystemExit("nexmark_ref: the generated file has no bids")
    w0 = bids[0][1]["dateTime"] // WINDOW * WINDOW
    in_w0 = [(i, e) for i, e in bids if w0 <= e["dateTime"] < w0 + WINDOW]
    imax, top = max(in_w0, key=lambda ie: ie[1]["price"])
    tie = dict(top, bidder=top["bidder"] + 1, extra="tie")
    edge = dict(top, bidder=top["bidder"] + 2, extra="edge", dateTime=w0 + WINDOW)
    # Insert the edge bid after the last line with dateTime <= w0 + WINDOW
    # (keeping the file ordered by time), the tie right after the max.
    after = imax
    for i, e in enumerate(events):
        if e and e["dateTime"] <= w0 + WINDOW:
            after = i
    out = list(lines)
    out.insert(after + 1, bid_line(edge))
    out.insert(imax + 1, bid_line(tie))
    out.insert(0, "X\tthis line is not an event")
    with open(dst, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


# ---- the queries (Nexmark Flink SQL semantics over the whole stream) ----

def jrow(**kv):
    return json.dumps(kv, separators=(",", ":"))


def q0(events):
    return [jrow(auction=b["auction"], bidder=b["bidder"], price=b["price"], dateTime=b["dateTime"],
                 extra=b["extra"]) for b in events if b["kind"] == "B"]


def q1(events):
    rows = []
    for b in events:
        if b["kind"] != "B":
            continue
        price = Decimal(b["price"]) * Decimal("0.908")  # DECIMAL(23,3), exact
        rows.append('{"auction":%d,"bidder":%d,"price":%s,"dateTime":%d,"extra":%s}' % (
            b["auction"], b["bidder"], format(price.quantize(Decimal("0.001")), "f"), b["dateTime"],
            json.dumps(b["extra"])))
    return rows


def q2(events):
    return [jrow(auction=b["auction"], price=b["price"]) for b in events
            if b["kind"] == "B" and b["auction"] % 123 == 0]


def q3(events):
    persons = collections.defaultdict(list)
    for p in events:
        if p["kind"] == "P" and p["state"] in ("OR", "ID", "CA"):
            persons[p["id"]].append(p)
    rows = []
    for a in events:
        if a["kind"] == "A" and a["category"] == 10:
            for p in persons.get(a["seller"], ()):
                rows.append(jrow(name=p["name"], city=p["city"], state=p["state"], id=a["id"]))
    return rows


def q5(events):
    counts = collections.Counter()  # (window start, auction) -> bids
    for b in events:
        if b["kind"] != "B":
            continue
        ts = b["dateTime"]
        start = ts - ts % SLIDE
        while start > ts - WINDOW:  # every hop window holding ts
            counts[(start, b["auction"])] += 1
            start -= SLIDE
    best = {}
    for (start, _), n in counts.items():
        best[start] = max(best.get(start, 0), n)
    return [jrow(auction=auction, num=n, starttime=start, endtime=start + WINDOW)
            for (start, auction), n in counts.items() if n >= best[start]]


def q7(events):
    bids = [b for b in events if b["kind"] == "B"]
    maxprice = {}
    by_price = collections.defaultdict(list)
    for b in bids:
        w = b["dateTime"] - b["dateTime"] % WINDOW
        maxprice[w] = max(maxprice.get(w, b["price"]), b["price"])
        by_price[b["price"]].append(b)
    rows = []
    # JOIN ON price = maxprice WHERE dateTime BETWEEN end - 10 s AND end.
    for start, m in maxprice.items():
        end = start + WINDOW
        for b in by_price[m]:
            if start <= b["dateTime"] <= end:
                rows.append(jrow(auction=b["auction"], price=b["price"], bidder=b["bidder"],
                                 dateTime=b["dateTime"], extra=b["extra"]))
    return rows


def q8(events):
    people = set()   # GROUP BY id, name, window
    sellers = set()  # GROUP BY seller, window
    for e in events:
        w = e["dateTime"] - e["dateTime"] % WINDOW
        if e["kind"] == "P":
            people.add((e["id"], e["name"], w))
        elif e["kind"] == "A":
            sellers.add((e["seller"], w))
    return [jrow(id=i, name=n, stime=w) for (i, n, w) in people if (i, w) in sellers]


def closed_auctions(events):
    """The inner join of q4, q6 and q9: each auction with the bids made
    between its dateTime and its expiry (both included); auctions without
    such a bid are left out (inner join). (auction, [bids])."""
    bids = collections.defaultdict(list)
    for b in events:
        if b["kind"] == "B":
            bids[b["auction"]].append(b)
    out = []
    for a in events:
        if a["kind"] == "A":
            mine = [b for b in bids.get(a["id"], ()) if a["dateTime"] <= b["dateTime"] <= a["expires"]]
            if mine:
                out.append((a, mine))
    return out


def q4(events):
    # AVG(final) GROUP BY category, as an updating result: one row per
    # category and closing time, the average over the auctions closed by then.
    by_cat = collections.defaultdict(list)
    for a, bids in closed_auctions(events):
        by_cat[a["category"]].append((a["expires"], max(b["price"] for b in bids)))
    rows = []
    for cat, closed in by_cat.items():
        closed.sort()
        total = n = 0
        for i, (t, final) in enumerate(closed):
            total += final
            n += 1
            if i + 1 == len(closed) or closed[i + 1][0] != t:
                rows.append(jrow(category=cat, avg=total // n, dateTime=t))
    return rows


def q6(events):
    # AVG(final) OVER (PARTITION BY seller ORDER BY closing time ROWS
    # BETWEEN 10 PRECEDING AND CURRENT ROW); ties ordered by auction id.
    by_seller = collections.defaultdict(list)
    for a, bids in closed_auctions(events):
        by_seller[a["seller"]].append((a["expires"], a["id"], max(b["price"] for b in bids)))
    rows = []
    for seller, closed in by_seller.items():
        closed.sort()
        for i, (t, _, _) in enumerate(closed):
            last = [f for _, _, f in closed[max(0, i - 10):i + 1]]
            rows.append(jrow(seller=seller, avg=sum(last) // len(last), dateTime=t))
    return rows


def q9(events):
    rows = []
    for a, bids in closed_auctions(events):
        w = min(bids, key=lambda b: (-b["price"], b["dateTime"], b["bidder"], b["extra"].encode()))
        rows.append(jrow(id=a["id"], itemName=a["itemName"], description=a["description"],
                         initialBid=a["initialBid"], reserve=a["reserve"], dateTime=a["dateTime"],
                         expires=a["expires"], seller=a["seller"], category=a["category"], extra=a["extra"],
                         auction=w["auction"], bidder=w["bidder"], price=w["price"], bid_dateTime=w["dateTime"],
                         bid_extra=w["extra"]))
    return rows


def q11(events):
    times = collections.defaultdict(list)
    for b in events:
        if b["kind"] == "B":
            times[b["bidder"]].append(b["dateTime"])
    rows = []
    for bidder, ts in times.items():
        ts.sort()
        start = prev = ts[0]
        n = 0
        for t in ts:
            if t - prev >= WINDOW:  # the gap closes the session
                rows.append(jrow(bidder=bidder, bid_count=n, starttime=start, endtime=prev + WINDOW))
                start, n = t, 0
            n += 1
            prev = t
        rows.append(jrow(bidder=bidder, bid_count=n, starttime=start, endtime=prev + WINDOW))
    return rows


def q12(events):
    # Processing-time windows: compared as bids per bidder (see the top).
    n = collections.Counter(b["bidder"] for b in events if b["kind"] == "B")
    return [jrow(bidder=k, bid_count=v) for k, v in n.items()]


def q12_fold(rows):
    """q12's output as q12() gives it: counts summed per bidder; a window
    that is not 10 s long makes a row that never matches."""
    n = collections.Counter()
    bad = []
    for l in rows:
        r = json.loads(l)
        if r["endtime"] - r["starttime"] != WINDOW or r["starttime"] % WINDOW:
            bad.append(l)
        n[r["bidder"]] += r["bid_count"]
    return [jrow(bidder=k, bid_count=v) for k, v in n.items()] + bad


def hour_type(ts):
    h = ts // 3600000 % 24
    if 8 <= h <= 18:
        return "dayTime"
    if h <= 6 or h >= 20:
        return "nightTime"
    return "otherTime"


def q14(events):
    rows = []
    for b in events:
        if b["kind"] != "B":
            continue
        price = Decimal(b["price"]) * Decimal("0.908")
        if not (1000000 < price < 50000000):
            continue
        rows.append('{"auction":%d,"bidder":%d,"price":%s,"bidTimeType":%s,"dateTime":%d,"extra":%s,"c_counts":%d}' % (
            b["auction"], b["bidder"], format(price.quantize(Decimal("0.001")), "f"),
            json.dumps(hour_type(b["dateTime"])), b["dateTime"], json.dumps(b["extra"]), b["extra"].count("c")))
    return rows


CHANNEL_ID = re.compile(r"(&|^)channel_id=([^&]*)")
HOT_CHANNELS = {"apple": "0", "google": "1", "facebook": "2", "baidu": "3"}


def q21(events):
    rows = []
    for b in events:
        if b["kind"] != "B":
            continue
        m = CHANNEL_ID.search(b["url"])
        cid = HOT_CHANNELS.get(b["channel"].lower(), m.group(2) if m else None)
        if cid is not None:
            rows.append(jrow(auction=b["auction"], bidder=b["bidder"], price=b["price"], channel=b["channel"],
                             channel_id=cid))
    return rows


def q22(events):
    rows = []
    for b in events:
        if b["kind"] != "B":
            continue
        parts = b["url"].split("/")
        if len(parts) >= 6:
            rows.append(jrow(auction=b["auction"], bidder=b["bidder"], price=b["price"], channel=b["channel"],
                             dir1=parts[3], dir2=parts[4], dir3=parts[5]))
    return rows


REFERENCE = {0: q0, 1: q1, 2: q2, 3: q3, 4: q4, 5: q5, 6: q6, 7: q7, 8: q8, 9: q9, 11: q11, 12: q12, 14: q14,
             21: q21, 22: q22}


# ---- running flinc and comparing ----------------------------------------

def normalise(lines):
    out = []
    for l in lines:
        l = l.strip()
        if l:
            out.append(json.dumps(json.loads(l), sort_keys=True, separators=(",", ":")))
    return sorted(out)


def read_output(folder):
    lines = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            with open(os.path.join(root, name), encoding="utf-8") as f:
                lines.extend(f.read().splitlines())
    return lines


def run_flinc(build, p, args, outdir, timeout):
    """`flinc local -p p nexmark.so ARGS --output outdir`: (its output lines,
    None), or (None, what went wrong)."""
    _, why = cluster.run_cmd(cluster.local_argv(build, "nexmark", p) + args + ["--output", outdir], timeout)
    return (None, why) if why else (read_output(outdir), None)


def diff_summary(expected, got, limit=5):
    e, g = collections.Counter(expected), collections.Counter(got)
    missing, extra = list((e - g).elements()), list((g - e).elements())
    msg = ["expected %d rows, got %d: %d missing, %d unexpected" % (len(expected), len(got), len(missing), len(extra))]
    msg += ["      missing:    " + m for m in missing[:limit]]
    msg += ["      unexpected: " + x for x in extra[:limit]]
    return "\n".join(msg)


def main():
    ap = cluster.arg_parser(__doc__)
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=7)
    # 997 events/s of event time: 20000 events span 20 s (several windows),
    # and some bids fall exactly on window boundaries.
    ap.add_argument("--rate", type=int, default=997, help="events per second of event time")
    ap.add_argument("--queries", default=",".join(map(str, QUERIES)))
    ap.add_argument("--parallelism", default="1,2")
    ap.add_argument("--timeout", type=int, default=120, help="seconds per flinc run")
    a = ap.parse_args()
    try:
        queries = [int(q) for q in a.queries.split(",")]
        pars = [int(p) for p in a.parallelism.split(",")]
    except ValueError:
        ap.error("--queries and --parallelism take comma-separated integers")
    for q in queries:
        if q not in REFERENCE:
            ap.error("no reference for query %d" % q)
    why = cluster.missing(a.build, "bin/flinc", "bin/flinc-gen", "jobs/nexmark.so")
    if why:
        print("nexmark_ref: %s" % why, file=sys.stderr)
        return 2
    with cluster.scratch_dir("nexmark_ref.", a.keep) as work:
        return compare(a, queries, pars, work)


def compare(a, queries, pars, work):
    """Generate the events into `work`, run every query at every
    parallelism and compare with the reference. Returns the exit status."""
    gen_file = os.path.join(work, "events.txt")
    in_file = os.path.join(work, "events-crafted.txt")
    _, why = cluster.run_cmd([os.path.join(a.build, "bin", "flinc-gen"), "nexmark", "--events", str(a.events),
                              "--seed", str(a.seed), "--rate", str(a.rate), "--output", gen_file], a.timeout)
    if why:
        print("nexmark_ref: flinc-gen failed: %s" % why, file=sys.stderr)
        return 1
    craft(gen_file, in_file)
    generated, _ = parse_file(gen_file)
    crafted, bad = parse_file(in_file)
    assert bad == 1, bad

    failures, checks = [], 0
    runs = []  # (label, query, p, flinc args, events the reference uses)
    for q in queries:
        for p in pars:
            runs.append(("q%d file -p %d" % (q, p), q, p, ["--query", str(q), "--input", in_file], crafted))
    for q in (0, 5, 9):
        if q in queries:
            p = max(pars)
            runs.append(("q%d datagen -p %d" % (q, p), q, p,
                         ["--query", str(q), "--events", str(a.events), "--seed", str(a.seed),
                          "--event-rate", str(a.rate)], generated))
    expected_cache = {}
    for label, q, p, args, events in runs:
        key = (q, id(events))
        if key not in expected_cache:
            expected_cache[key] = normalise(REFERENCE[q](events))
        expected = expected_cache[key]
        outdir = os.path.join(work, label.replace(" ", "_"))
        got, err = run_flinc(a.build, p, args, outdir, a.timeout)
        checks += 1
        if err:
            failures.append("%s: flinc failed, %s" % (label, err))
            print("FAIL %s" % label)
            continue
        try:
            got = normalise(q12_fold(got) if q == 12 else got)
        except ValueError as ex:
            failures.append("%s: output is not JSON lines (%s)" % (label, ex))
            print("FAIL %s" % label)
            continue
        if got != expected:
            failures.append("%s: %s" % (label, diff_summary(expected, got)))
            print("FAIL %s" % label)
        else:
            print("ok   %s (%d rows)" % (label, len(got)))

    if failures:
        print("\nnexmark_ref: %d of %d runs differ from the reference:" % (len(failures), checks))
        for f in failures:
            print("  " + f)
        return 1
    print("nexmark_ref: all %d runs match the reference" % checks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
