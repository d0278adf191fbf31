import { useMemo } from "preact/hooks";
import { LineChart } from "../chart";
import { fmtDuration, fmtNum, stateClass, usePoll } from "../util";

// Throughput samples kept across page changes (the last 10 minutes).
const history: { t: number[]; src: number[]; sink: number[] } = { t: [], src: [], sink: [] };

function sample(d: any) {
  const t = d.now / 1000;
  if (history.t.length && history.t[history.t.length - 1] >= t) return;
  history.t.push(t);
  history.src.push(d.sourceRecordsPerSecond);
  history.sink.push(d.sinkRecordsPerSecond);
  while (history.t.length && history.t[0] < t - 600) {
    history.t.shift();
    history.src.shift();
    history.sink.shift();
  }
}

export function Overview() {
  const { data: d, error } = usePoll<any>("/ui/overview");
  const series = useMemo(() => {
    if (d) sample(d);
    return [history.t.slice(), history.src.slice(), history.sink.slice()];
  }, [d]);
  if (!d) return <div class="page">{error ? <div class="error">{error}</div> : "Loading…"}</div>;
  const st = d["jobs-by-state"] || {};
  return (
    <div class="page" id="page-overview">
      <h1>Overview</h1>
      {error ? <div class="error">{error}</div> : null}
      <div class="cards">
        <div class="card">
          <div class="label">Task managers</div>
          <div class="big" id="tm-count">
            {d.taskmanagers}
          </div>
        </div>
        <div class="card">
          <div class="label">Task slots</div>
          <div class="big">
            <span id="slots-free">{d["slots-available"]}</span> free of <span id="slots-total">{d["slots-total"]}</span>
          </div>
        </div>
        <div class="card">
          <div class="label">Jobs</div>
          <div class="states">
            {Object.keys(st).map((k) => (
              <span class={stateClass(k)} title={k}>
                {k} {st[k]}
              </span>
            ))}
          </div>
        </div>
        <div class="card">
          <div class="label">Throughput</div>
          <div class="big">{fmtNum(d.sourceRecordsPerSecond)} rec/s</div>
          <div class="sub">read by sources; {fmtNum(d.sinkRecordsPerSecond)} rec/s into sinks</div>
        </div>
      </div>
      <h2>Cluster throughput (records per second)</h2>
      <LineChart
        data={series}
        series={[
          { label: "sources out", stroke: "#2f6fdf" },
          { label: "sinks in", stroke: "#1f9d55" },
        ]}
      />
      <h2>Running jobs</h2>
      <table class="grid">
        <thead>
          <tr>
            <th>Name</th>
            <th>State</th>
            <th>Duration</th>
            <th>Tasks</th>
          </tr>
        </thead>
        <tbody>
          {(d.jobs || []).map((j: any) => (
            <tr>
              <td>
                <a href={`#/job/${j.jid}/overview`}>{j.name}</a>
              </td>
              <td>
                <span class={stateClass(j.state)}>{j.state}</span>
              </td>
              <td>{fmtDuration(j.duration)}</td>
              <td>
                {j.tasks.running}/{j.tasks.total} running
              </td>
            </tr>
          ))}
          {(d.jobs || []).length === 0 ? (
            <tr>
              <td colSpan={4} class="empty">
                No running jobs.
              </td>
            </tr>
          ) : null}
        </tbody>
      </table>
    </div>
  );
}
