// The seed dashboards' data: the live output of the three seed jobs
// (fraud.so, aggregation.so, anomaly.so), pushed by the job manager over
// Server-Sent Events (GET /jobs/:jid/output: "records" events with what the
// sinks wrote, "job" events once a second with the job's state and its
// vertices' rates). Nothing here polls a vertex: the only request made
// again and again is the job list (which jobs are the seeds), every 5 s.
//
// What the sinks write reaches the browser as a sample when a sink writes
// more than its tap keeps (32 records per sink subtask per heartbeat,
// docs/web.md "Live output"); alerts are usually all there, the
// aggregation's bursts at window ends are cut.

import { get } from "./api";

export const SEEDS = ["fraud", "aggregation", "anomaly"] as const;
export type Seed = (typeof SEEDS)[number];

/** How long the store keeps what arrived (the widest view). */
export const KEEP_MS = 10 * 60 * 1000;
const KEEP_MAX = 5000;

export type FraudAlert = {
  at: number; // arrival, browser clock ms
  ts: number; // event time ms
  alertId: string;
  alertType: string;
  userId: string;
  title: string;
  description: string;
  severity: number;
  transactionId: string;
};

export type Anomaly = {
  at: number;
  ts: number;
  alertId: string;
  alertType: string;
  sensorId: string;
  sensorType: string;
  value: number;
  threshold: number | null;
  zScore: number | null;
};

export type Aggregate = {
  at: number;
  kind: string;
  windowStart: number;
  windowEnd: number;
  userId?: string;
  eventType?: string;
  page?: string;
  sessionId?: string;
  start?: number;
  end?: number;
  duration?: number;
  count: number;
  value?: number;
};

export type Rate = { at: number; v: number };

export type SeedJob = {
  jid: string;
  name: string;
  state: string;
  conn: "connecting" | "connected" | "disconnected";
  lastMsg: number;
  sourceRate: number; // records/s the job reads (the last "job" event)
  sinkRate: number; // records/s into its sinks
};

/** The dashboards' data, kept across page changes while the page is open. */
export const store = {
  jobs: {} as Partial<Record<Seed, SeedJob>>,
  listError: null as string | null,
  fraud: [] as FraudAlert[],
  anomalies: [] as Anomaly[],
  aggregates: [] as Aggregate[],
  rates: { fraud: [] as Rate[], aggregation: [] as Rate[], anomaly: [] as Rate[] } as Record<Seed, Rate[]>,
  seen: new Set<string>(), // alert ids and aggregate keys already kept (a restart replays them)
  opened: 0, // when the dashboards first opened (browser clock ms)
  refused: 0, // records that were not the seed's JSON (late events, cut records)
  version: 0,
};

function keep<T extends { at: number }>(a: T[], now: number) {
  let cut = 0;
  while (cut < a.length && (a[cut].at < now - KEEP_MS || a.length - cut > KEEP_MAX)) cut++;
  if (cut) a.splice(0, cut);
}

function ms(ts: unknown): number {
  if (typeof ts === "number") return ts;
  const t = Date.parse(String(ts));
  return isFinite(t) ? t : 0;
}

function once(key: string): boolean {
  if (store.seen.has(key)) return false;
  store.seen.add(key);
  if (store.seen.size > 4 * KEEP_MAX) {
    // Forget the oldest half (a Set iterates in insertion order).
    let n = store.seen.size / 2;
    for (const k of store.seen) {
      if (n-- <= 0) break;
      store.seen.delete(k);
    }
  }
  return true;
}

/** One record a seed job's sink wrote; false when it is not the seed's JSON. */
export function addRecord(seed: Seed, text: string, at: number): boolean {
  let r: any;
  try {
    r = JSON.parse(text);
  } catch {
    return false;
  }
  if (!r || typeof r !== "object") return false;
  if (seed === "fraud" && typeof r.alertType === "string" && typeof r.alertId === "string") {
    if (!once("f" + r.alertId)) return true;
    store.fraud.push({
      at,
      ts: ms(r.timestamp),
      alertId: r.alertId,
      alertType: r.alertType,
      userId: String(r.userId ?? ""),
      title: String(r.title ?? ""),
      description: String(r.description ?? ""),
      severity: Number(r.severity) || 0,
      transactionId: String(r.transactionId ?? ""),
    });
    return true;
  }
  if (seed === "anomaly" && typeof r.alertType === "string" && typeof r.sensorId === "string") {
    if (!once("a" + (r.alertId ?? `${r.sensorId}/${r.timestamp}/${r.alertType}`))) return true;
    store.anomalies.push({
      at,
      ts: ms(r.timestamp),
      alertId: String(r.alertId ?? ""),
      alertType: r.alertType,
      sensorId: r.sensorId,
      sensorType: String(r.sensorType ?? ""),
      value: Number(r.value),
      threshold: typeof r.threshold === "number" ? r.threshold : null,
      zScore: typeof r.zScore === "number" ? r.zScore : null,
    });
    return true;
  }
  if (seed === "aggregation" && typeof r.kind === "string" && typeof r.windowStart === "number") {
    const key = `g${r.kind}/${r.windowStart}/${r.windowEnd}/${r.userId ?? ""}/${r.eventType ?? ""}/${r.page ?? ""}/${r.sessionId ?? ""}`;
    if (!once(key)) return true;
    store.aggregates.push({ at, ...r, count: Number(r.count) || 0 });
    return true;
  }
  return false; // e.g. the aggregation's late events (its "late" sink)
}

/** A "job" event: the job's state and its vertices' rates. */
export function addFigures(seed: Seed, d: any, at: number) {
  const j = store.jobs[seed];
  if (!j || d.jid !== j.jid) return;
  j.state = d.state;
  // The input rate: what the busiest consumer of the stream reads (the
  // non-source vertex with the most records read). A source's records out
  // count every edge it sends on (aggregation.so's source feeds eight
  // windows), so they would overstate it.
  let src = 0,
    sink = 0,
    most = -1;
  for (const v of d.vertices || []) {
    if (v.sink) sink += Number(v.numRecordsInPerSecond) || 0;
    const read = Number(v["read-records"]) || 0;
    if (!v.source && read > most) {
      most = read;
      src = Number(v.numRecordsInPerSecond) || 0;
    }
  }
  if (most < 0)
    for (const v of d.vertices || []) if (v.source) src += Number(v.numRecordsOutPerSecond) || 0;
  j.sourceRate = src;
  j.sinkRate = sink;
  store.rates[seed].push({ at, v: src });
}

function prune(now: number) {
  keep(store.fraud, now);
  keep(store.anomalies, now);
  keep(store.aggregates, now);
  for (const s of SEEDS) keep(store.rates[s], now);
}

/** Which running job is which seed: the newest job of that name that has
 * not ended. */
export function pickSeeds(jobs: any[]): Partial<Record<Seed, { jid: string; name: string; state: string }>> {
  const out: Partial<Record<Seed, any>> = {};
  const live = (s: string) => !["FINISHED", "CANCELED", "FAILED"].includes(s);
  for (const j of jobs) {
    const seed = SEEDS.find((s) => s === j.name);
    if (!seed || !live(j.state)) continue;
    const cur = out[seed];
    if (!cur || (j["start-time"] || 0) > cur.start) out[seed] = { jid: j.jid, name: j.name, state: j.state, start: j["start-time"] || 0 };
  }
  return out;
}

const streams: Partial<Record<Seed, EventSource>> = {};
let users = 0;
let listTimer: number | undefined;
let renderTimer: number | undefined;
const listeners = new Set<() => void>();

function changed() {
  store.version++;
}

function open(seed: Seed, jid: string, name: string, state: string) {
  streams[seed]?.close();
  const job: SeedJob = { jid, name, state, conn: "connecting", lastMsg: 0, sourceRate: 0, sinkRate: 0 };
  store.jobs[seed] = job;
  const es = new EventSource(`/jobs/${jid}/output`);
  streams[seed] = es;
  const alive = () => {
    job.conn = "connected";
    job.lastMsg = Date.now();
  };
  es.onopen = () => {
    alive();
    changed();
  };
  es.onerror = () => {
    job.conn = es.readyState === EventSource.CLOSED ? "disconnected" : "connecting";
    changed();
  };
  es.addEventListener("records", (ev) => {
    alive();
    const m = JSON.parse((ev as MessageEvent).data);
    const now = Date.now();
    for (const r of m.records || []) if (!addRecord(seed, r, now)) store.refused++;
    changed();
  });
  es.addEventListener("job", (ev) => {
    alive();
    addFigures(seed, JSON.parse((ev as MessageEvent).data), Date.now());
    changed();
  });
}

async function refreshList() {
  try {
    const d = await get<any>("/jobs/overview?state=running&limit=100");
    store.listError = null;
    const picked = pickSeeds(d.jobs || []);
    for (const s of SEEDS) {
      const p = picked[s];
      const cur = store.jobs[s];
      if (p && (!cur || cur.jid !== p.jid)) open(s, p.jid, p.name, p.state);
      else if (!p && cur) {
        streams[s]?.close();
        delete streams[s];
        delete store.jobs[s];
      } else if (p && cur && cur.conn === "disconnected") open(s, p.jid, p.name, p.state); // the stream gave up
    }
  } catch (e: any) {
    store.listError = String(e?.message || e);
  }
  changed();
  if (users > 0) listTimer = window.setTimeout(refreshList, 5000);
}

/** Start the streams (first user) and call f at most once a second while
 * something changed; the returned function stops (last user: streams closed). */
export function subscribe(f: () => void): () => void {
  listeners.add(f);
  if (users++ === 0) {
    if (!store.opened) store.opened = Date.now();
    refreshList();
    let seen = -1;
    const tick = () => {
      prune(Date.now());
      if (store.version !== seen) {
        seen = store.version;
        listeners.forEach((l) => l());
      }
      renderTimer = window.setTimeout(tick, 1000);
    };
    tick();
  }
  return () => {
    listeners.delete(f);
    if (--users === 0) {
      clearTimeout(listTimer);
      clearTimeout(renderTimer);
      for (const s of SEEDS) {
        streams[s]?.close();
        delete streams[s];
        if (store.jobs[s]) store.jobs[s]!.conn = "disconnected";
      }
    }
  };
}

/** Connected: the job list answers and every seed job's stream is open
 * and heard from within 12 s (a "job" event comes every second). */
export function connection(now: number): "connected" | "connecting" | "disconnected" {
  if (store.listError) return "disconnected";
  const js = SEEDS.map((s) => store.jobs[s]).filter(Boolean) as SeedJob[];
  if (!js.length) return "disconnected";
  if (js.some((j) => j.conn === "disconnected" || (j.conn === "connected" && now - j.lastMsg > 12000)))
    return "disconnected";
  if (js.some((j) => j.conn === "connecting")) return "connecting";
  return "connected";
}
