import { useEffect, useMemo, useState } from "preact/hooks";
import { LineChart } from "../chart";
import { Aggregate, Anomaly, FraudAlert, Rate, SEEDS, Seed, connection, store, subscribe } from "../seeds";
import { fmtDuration, fmtNum, fmtTime, stateClass } from "../util";

// The seed dashboards (the seed platform's React dashboard, rebuilt on the
// jobs' live output): fraud alerts by type over time and the latest alerts,
// transactions per second, sensors with anomalies, user events by type and
// sessions; quick filters; a connected/disconnected indicator. Fed by
// Server-Sent Events (seeds.ts), rendered at most once a second.

const FRAUD_TYPES: [string, string][] = [
  ["VELOCITY_FRAUD", "#d64545"],
  ["STRUCTURING_FRAUD", "#8e44ad"],
  ["GEO_ANOMALY", "#2f6fdf"],
  ["CARD_TESTING", "#e0a800"],
  ["OFF_HOURS_HIGH_RISK", "#1f9d55"],
];
const ANOMALY_TYPES = ["RANGE_BREACH", "STATISTICAL_OUTLIER", "SENSOR_SILENT", "LOW_BATTERY"];
const EVENT_TYPES = ["page_view", "button_click", "form_submission", "search", "login", "logout", "purchase", "video_play"];

type View = "all" | "fraud" | "anomalies";

/** Counts per bucket of bucketS seconds over the range, one row per type:
 * uPlot's aligned data [x[], type1[], type2[], ...]. */
function byTypeOverTime(alerts: FraudAlert[], now: number, since: number, bucketS: number): number[][] {
  const b = bucketS * 1000;
  const first = Math.floor(since / b) * b;
  const n = Math.floor((now - first) / b) + 1;
  const x = Array.from({ length: n }, (_, i) => (first + i * b) / 1000);
  const rows = FRAUD_TYPES.map(() => new Array(n).fill(0));
  for (const a of alerts) {
    const k = Math.floor((a.at - first) / b);
    const t = FRAUD_TYPES.findIndex(([name]) => name === a.alertType);
    if (k >= 0 && k < n && t >= 0) rows[t][k]++;
  }
  return [x, ...rows];
}

function rateSeries(r: Rate[], since: number): number[][] {
  const p = r.filter((s) => s.at >= since);
  return [p.map((s) => s.at / 1000), p.map((s) => s.v)];
}

function countBy<T>(items: T[], key: (t: T) => string, weight: (t: T) => number = () => 1): Map<string, number> {
  const m = new Map<string, number>();
  for (const i of items) m.set(key(i), (m.get(key(i)) || 0) + weight(i));
  return m;
}

function Bars({ id, counts, order, color }: { id: string; counts: Map<string, number>; order: string[]; color: string }) {
  const keys = order.concat([...counts.keys()].filter((k) => !order.includes(k)));
  const max = Math.max(1, ...counts.values());
  return (
    <div class="bars" id={id}>
      {keys.map((k) => (
        <div class="bar-row" data-key={k}>
          <span class="bar-label">{k}</span>
          <span class="bar-track">
            <span class="bar-fill" style={{ width: `${(100 * (counts.get(k) || 0)) / max}%`, background: color }} />
          </span>
          <span class="bar-value">{fmtNum(counts.get(k) || 0)}</span>
        </div>
      ))}
    </div>
  );
}

function Card({ id, label, value, sub }: { id: string; label: string; value: string; sub?: string }) {
  return (
    <div class="card" id={id}>
      <div class="label">{label}</div>
      <div class="big">{value}</div>
      {sub ? <div class="sub">{sub}</div> : null}
    </div>
  );
}

function typeBadge(t: string) {
  const c = FRAUD_TYPES.find(([n]) => n === t)?.[1] || "#6b7385";
  return (
    <span class="badge" style={{ background: c }}>
      {t}
    </span>
  );
}

function JobChips() {
  return (
    <div class="job-chips" id="dash-jobs">
      {SEEDS.map((s: Seed) => {
        const j = store.jobs[s];
        return (
          <span class="job-chip" data-seed={s}>
            {s}:{" "}
            {j ? (
              <a href={`#/job/${j.jid}/overview`}>
                <span class={stateClass(j.state)}>{j.state}</span>
              </a>
            ) : (
              <span class="muted">not running</span>
            )}
          </span>
        );
      })}
    </div>
  );
}

export function Dashboards() {
  const [, setTick] = useState(0);
  const [recent, setRecent] = useState(false);
  const [view, setView] = useState<View>("all");
  useEffect(() => subscribe(() => setTick((t) => t + 1)), []);
  const now = Date.now();
  const rangeMs = recent ? 60_000 : 10 * 60_000;
  const since = now - rangeMs;
  const conn = connection(now);

  const fraud = store.fraud.filter((a) => a.at >= since);
  const anomalies = store.anomalies.filter((a) => a.at >= since);
  const aggs = store.aggregates.filter((a) => a.at >= since);
  // The chart starts when the page first opened, not 10 minutes before.
  const fraudSeries = byTypeOverTime(fraud, now, Math.max(since, store.opened || now), recent ? 5 : 10);
  const tps = rateSeries(store.rates.fraud, since);
  const readings = rateSeries(store.rates.anomaly, since);
  const uevents = rateSeries(store.rates.aggregation, since);

  const sensors = useMemo(() => {
    const m = new Map<string, { sensorId: string; sensorType: string; n: number; last: Anomaly }>();
    for (const a of anomalies) {
      const s = m.get(a.sensorId) || { sensorId: a.sensorId, sensorType: a.sensorType, n: 0, last: a };
      s.n++;
      if (a.at >= s.last.at) s.last = a;
      m.set(a.sensorId, s);
    }
    return [...m.values()].sort((a, b) => b.n - a.n || b.last.at - a.last.at);
  }, [store.version, recent]);
  const byKind = (k: string) => aggs.filter((a: Aggregate) => a.kind === k);
  const eventTypes = countBy(byKind("user_event_counts"), (a) => a.eventType || "?", (a) => a.count);
  const sessions = byKind("session");
  const bounces = byKind("bounce");
  const latest = (k: string) => {
    const l = byKind(k);
    return l.length ? l[l.length - 1] : undefined;
  };
  const eps = latest("events_per_second");
  const active = latest("active_users");
  const conv = latest("conversion_rate");
  const avgDur = sessions.length ? sessions.reduce((s, a) => s + (a.duration || 0), 0) / sessions.length : undefined;
  const avgEvents = sessions.length ? sessions.reduce((s, a) => s + a.count, 0) / sessions.length : undefined;
  const fj = store.jobs.fraud,
    aj = store.jobs.anomaly,
    uj = store.jobs.aggregation;
  const showFraud = view !== "anomalies";
  const showSensors = view !== "fraud";
  const showUsers = view === "all";
  const qf = (id: string, label: string, on: boolean, f: () => void) => (
    <button id={id} class={on ? "qf on" : "qf"} aria-pressed={on} onClick={f}>
      {label}
    </button>
  );

  return (
    <div class="page" id="page-dashboards">
      <div class="dash-head">
        <h1>Seed dashboards</h1>
        <span class={`conn-ind conn-${conn}`} id="dash-conn" title="the live output streams of the seed jobs">
          <span class="dot" />
          {conn === "connected" ? "Connected" : conn === "connecting" ? "Connecting" : "Disconnected"}
        </span>
      </div>
      <div class="toolbar quick">
        {qf("qf-recent", "Last 1 min", recent, () => setRecent(!recent))}
        {qf("qf-fraud", "Fraud only", view === "fraud", () => setView(view === "fraud" ? "all" : "fraud"))}
        {qf("qf-anomalies", "Anomalies", view === "anomalies", () => setView(view === "anomalies" ? "all" : "anomalies"))}
        {qf("qf-all", "Everything", view === "all" && !recent, () => {
          setView("all");
          setRecent(false);
        })}
        <span class="muted">
          showing {recent ? "the last minute" : "the last 10 minutes"}, by arrival; the sinks' live output is a sample when
          they write more than 32 records per subtask and second
        </span>
      </div>
      <JobChips />
      {store.listError ? <div class="error">job list: {store.listError}</div> : null}

      <div class="cards">
        {showFraud ? (
          <>
            <Card id="card-tps" label="Transactions / s" value={fmtNum(fj?.sourceRate, 1)} sub="read by fraud" />
            <Card id="card-fraud" label="Fraud alerts" value={fmtNum(fraud.length)} sub={recent ? "last minute" : "last 10 minutes"} />
          </>
        ) : null}
        {showSensors ? (
          <>
            <Card id="card-readings" label="Sensor readings / s" value={fmtNum(aj?.sourceRate, 1)} sub="read by anomaly" />
            <Card id="card-sensors" label="Sensors with anomalies" value={fmtNum(sensors.length)} sub={`${fmtNum(anomalies.length)} anomalies`} />
          </>
        ) : null}
        {showUsers ? (
          <>
            <Card
              id="card-eps"
              label="User events / s"
              value={fmtNum(uj?.sourceRate, 1)}
              sub={eps ? `job's 10 s window: ${fmtNum(eps.value, 1)}/s` : "read by aggregation"}
            />
            <Card
              id="card-sessions"
              label="Sessions closed"
              value={fmtNum(sessions.length)}
              sub={active ? `${fmtNum(active.count)} active users (1 min)` : undefined}
            />
          </>
        ) : null}
      </div>

      {showFraud ? (
        <section id="dash-fraud">
          <h2>Fraud detection</h2>
          <div class="dash-grid">
            <div>
              <h3>Fraud alerts by type over time</h3>
              <LineChart
                key={`ft${recent}`}
                data={fraudSeries}
                series={FRAUD_TYPES.map(([label, stroke]) => ({ label, stroke }))}
                height={220}
              />
            </div>
            <div>
              <h3>Transactions per second</h3>
              <LineChart data={tps} series={[{ label: "transactions/s", stroke: "#2f6fdf" }]} height={220} />
            </div>
          </div>
          <h3>Latest alerts</h3>
          <table class="grid" id="fraud-alerts">
            <thead>
              <tr>
                <th>Time</th>
                <th>Type</th>
                <th>User</th>
                <th>Severity</th>
                <th>Description</th>
                <th>Transaction</th>
              </tr>
            </thead>
            <tbody>
              {fraud
                .slice(-15)
                .reverse()
                .map((a) => (
                  <tr key={a.alertId}>
                    <td>{fmtTime(a.ts)}</td>
                    <td>{typeBadge(a.alertType)}</td>
                    <td class="mono">{a.userId}</td>
                    <td>{a.severity.toFixed(2)}</td>
                    <td class="wrap">{a.description || a.title}</td>
                    <td class="mono">{a.transactionId.slice(0, 8)}</td>
                  </tr>
                ))}
              {fraud.length === 0 ? (
                <tr>
                  <td colSpan={6} class="empty">
                    {fj ? "Waiting for fraud alerts…" : "The fraud job is not running (scripts/demo.sh starts it)."}
                  </td>
                </tr>
              ) : null}
            </tbody>
          </table>
        </section>
      ) : null}

      {showSensors ? (
        <section id="dash-sensors">
          <h2>IoT sensors</h2>
          <div class="dash-grid">
            <div>
              <h3>Sensors with anomalies</h3>
              <table class="grid" id="sensor-table">
                <thead>
                  <tr>
                    <th>Sensor</th>
                    <th>Type</th>
                    <th>Anomalies</th>
                    <th>Latest</th>
                    <th>Value</th>
                  </tr>
                </thead>
                <tbody>
                  {sensors.slice(0, 12).map((s) => (
                    <tr key={s.sensorId}>
                      <td class="mono">{s.sensorId}</td>
                      <td>{s.sensorType}</td>
                      <td>{s.n}</td>
                      <td>{s.last.alertType}</td>
                      <td>
                        {s.last.alertType === "LOW_BATTERY"
                          ? `battery < ${s.last.threshold ?? 10} %`
                          : s.last.alertType === "SENSOR_SILENT"
                            ? "silent"
                            : `${fmtNum(s.last.value, 2)}${
                                s.last.zScore !== null
                                  ? ` (z ${s.last.zScore.toFixed(1)})`
                                  : s.last.threshold !== null
                                    ? ` (limit ${s.last.threshold})`
                                    : ""
                              }`}
                      </td>
                    </tr>
                  ))}
                  {sensors.length === 0 ? (
                    <tr>
                      <td colSpan={5} class="empty">
                        {aj ? "No anomaly yet." : "The anomaly job is not running."}
                      </td>
                    </tr>
                  ) : null}
                </tbody>
              </table>
            </div>
            <div>
              <h3>Anomalies by type</h3>
              <Bars id="anomaly-types" counts={countBy(anomalies, (a) => a.alertType)} order={ANOMALY_TYPES} color="#d64545" />
              <h3>Sensor readings per second</h3>
              <LineChart data={readings} series={[{ label: "readings/s", stroke: "#8e44ad" }]} height={160} />
            </div>
          </div>
        </section>
      ) : null}

      {showUsers ? (
        <section id="dash-users">
          <h2>User events</h2>
          <div class="dash-grid">
            <div>
              <h3>Events by type</h3>
              <Bars id="event-types" counts={eventTypes} order={EVENT_TYPES} color="#2f6fdf" />
              <div class="muted small">
                sum of the 1-minute user_event_counts windows that arrived
                {eventTypes.size === 0 ? " (the first closes a minute after the job starts)" : ""}
              </div>
              <h3>User events per second</h3>
              <LineChart data={uevents} series={[{ label: "events/s", stroke: "#1f9d55" }]} height={160} />
            </div>
            <div>
              <h3>Sessions</h3>
              <div class="cards">
                <Card id="card-session-duration" label="Average duration" value={fmtDuration(avgDur === undefined ? undefined : Math.round(avgDur))} />
                <Card id="card-session-events" label="Events per session" value={fmtNum(avgEvents, 1)} />
                <Card id="card-bounces" label="Bounces" value={fmtNum(bounces.length)} sub="single-page sessions" />
                <Card id="card-conversion" label="Conversion" value={conv?.value !== undefined ? `${(100 * conv.value).toFixed(1)} %` : "–"} sub="1 min, sliding 10 s" />
              </div>
              <table class="grid" id="sessions-table">
                <thead>
                  <tr>
                    <th>Session</th>
                    <th>Start</th>
                    <th>Duration</th>
                    <th>Events</th>
                  </tr>
                </thead>
                <tbody>
                  {sessions
                    .slice(-10)
                    .reverse()
                    .map((s) => (
                      <tr key={s.sessionId}>
                        <td class="mono">{(s.sessionId || "").slice(0, 13)}</td>
                        <td>{fmtTime(s.start)}</td>
                        <td>{fmtDuration(s.duration)}</td>
                        <td>{s.count}</td>
                      </tr>
                    ))}
                  {sessions.length === 0 ? (
                    <tr>
                      <td colSpan={4} class="empty">
                        {uj ? "No session closed yet (a session ends after a 30-minute gap in event time)." : "The aggregation job is not running."}
                      </td>
                    </tr>
                  ) : null}
                </tbody>
              </table>
            </div>
          </div>
        </section>
      ) : null}
    </div>
  );
}
