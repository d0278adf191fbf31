import { useEffect, useRef, useState } from "preact/hooks";
import { get, mutate } from "../api";
import { Dag } from "../dag";
import { Output } from "./output";
import {
  bpLevel,
  fmtBytes,
  fmtDuration,
  fmtNum,
  fmtTime,
  fmtWatermark,
  stateClass,
  usePoll,
} from "../util";

const TABS = [
  ["overview", "Overview"],
  ["exceptions", "Exceptions"],
  ["checkpoints", "Checkpoints"],
  ["configuration", "Configuration"],
  ["output", "Live output"],
];

const ENDED = ["FINISHED", "CANCELED", "FAILED"];

/** Cancel, savepoint and stop-with-savepoint; savepoints are polled to their end. */
function Actions({ job }: { job: any }) {
  const [msg, setMsg] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [dir, setDir] = useState("");
  const running = job.state === "RUNNING";
  const ended = ENDED.includes(job.state);
  const run = async (what: string, f: () => Promise<string>) => {
    setBusy(true);
    setMsg(`${what}…`);
    try {
      setMsg(await f());
    } catch (e: any) {
      setMsg(`${what} failed: ${e.message}`);
    }
    setBusy(false);
  };
  const savepoint = (stop: boolean) =>
    run(stop ? "Stop with savepoint" : "Savepoint", async () => {
      const body = stop
        ? dir
          ? { targetDirectory: dir }
          : {}
        : { "cancel-job": false, ...(dir ? { "target-directory": dir } : {}) };
      const r = await mutate("POST", `/jobs/${job.jid}/${stop ? "stop" : "savepoints"}`, body);
      for (let i = 0; i < 600; i++) {
        const s = await get(`/jobs/${job.jid}/savepoints/${r["request-id"]}`);
        if (s.status?.id === "COMPLETED") {
          const op = s.operation || {};
          if (op.location) return `${stop ? "Stopped; savepoint" : "Savepoint"} at ${op.location}`;
          throw new Error(op["failure-cause"]?.["stack-trace"] || "failed");
        }
        await new Promise((res) => setTimeout(res, 500));
      }
      throw new Error("no answer within 5 minutes");
    });
  return (
    <div class="actions">
      <input
        placeholder="savepoint folder (default: state.savepoints.dir)"
        value={dir}
        onInput={(e) => setDir((e.target as HTMLInputElement).value)}
        disabled={!running}
      />
      <button id="btn-savepoint" disabled={busy || !running} onClick={() => savepoint(false)}>
        Savepoint
      </button>
      <button id="btn-stop" disabled={busy || !running} onClick={() => savepoint(true)}>
        Stop with savepoint
      </button>
      <button
        id="btn-cancel"
        class="danger"
        disabled={busy || ended}
        onClick={() =>
          confirm(`Cancel job ${job.name}?`) &&
          run("Cancel", async () => {
            await mutate("PATCH", `/jobs/${job.jid}?mode=cancel`);
            return "Cancel requested";
          })
        }
      >
        Cancel job
      </button>
      {msg ? (
        <div class="action-msg" id="action-msg">
          {msg}
        </div>
      ) : null}
    </div>
  );
}

function Subtasks({ v }: { v: any }) {
  return (
    <div class="subtasks">
      <h3>
        {v.name} <span class="muted">({v.parallelism} subtasks)</span>
      </h3>
      <table class="grid" id="subtasks-table">
        <thead>
          <tr>
            <th>#</th>
            <th>State</th>
            <th>Task manager</th>
            <th>Records in</th>
            <th>Records out</th>
            <th>Bytes in</th>
            <th>Bytes out</th>
            <th>In/s</th>
            <th>Out/s</th>
            <th>Busy</th>
            <th>Idle</th>
            <th>Back-pressure</th>
            <th>Watermark</th>
            <th>Duration</th>
          </tr>
        </thead>
        <tbody>
          {(v.subtasks || []).map((s: any) => {
            const bp = s.backPressuredTimeMsPerSecond ?? 0;
            return (
              <tr>
                <td>{s.subtask}</td>
                <td>
                  <span class={stateClass(s.status)}>{s.status}</span>
                </td>
                <td class="mono">{s["taskmanager-id"]}</td>
                <td>{fmtNum(s.metrics["read-records"])}</td>
                <td>{fmtNum(s.metrics["write-records"])}</td>
                <td>{fmtBytes(s.metrics["read-bytes"])}</td>
                <td>{fmtBytes(s.metrics["write-bytes"])}</td>
                <td>{fmtNum(s.numRecordsInPerSecond, 1)}</td>
                <td>{fmtNum(s.numRecordsOutPerSecond, 1)}</td>
                <td class="busy">{((s.busyTimeMsPerSecond ?? 0) / 10).toFixed(0)}%</td>
                <td>{((s.idleTimeMsPerSecond ?? 0) / 10).toFixed(0)}%</td>
                <td class={`bp-${bpLevel(bp)}`}>{(bp / 10).toFixed(0)}%</td>
                <td>{fmtWatermark(s.currentInputWatermark)}</td>
                <td>{fmtDuration(s.duration)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {(v.subtasks || []).some((s: any) => s["failure-cause"]) ? (
        <ul class="errors">
          {(v.subtasks || [])
            .filter((s: any) => s["failure-cause"])
            .map((s: any) => (
              <li>
                #{s.subtask}: {s["failure-cause"]}
              </li>
            ))}
        </ul>
      ) : null}
    </div>
  );
}

function Exceptions({ ex }: { ex: any }) {
  const all = ex?.["all-exceptions"] || [];
  return (
    <div id="tab-exceptions">
      <h3>Root exception</h3>
      <pre class="exception">{ex?.["root-exception"] || "No failure."}</pre>
      <h3>History</h3>
      <table class="grid">
        <thead>
          <tr>
            <th>Time</th>
            <th>Task</th>
            <th>Location</th>
            <th>Exception</th>
          </tr>
        </thead>
        <tbody>
          {all.map((e: any) => (
            <tr>
              <td>{fmtTime(e.timestamp)}</td>
              <td>{e.task || "(job)"}</td>
              <td>{e.taskManagerId || e.location || ""}</td>
              <td class="wrap">{e.exception}</td>
            </tr>
          ))}
          {all.length === 0 ? (
            <tr>
              <td colSpan={4} class="empty">
                No exceptions.
              </td>
            </tr>
          ) : null}
        </tbody>
      </table>
    </div>
  );
}

function Checkpoints({ cp, conf }: { cp: any; conf: any }) {
  const c = cp?.counts || {};
  const latest = cp?.latest || {};
  const row = (label: string, x: any) => (
    <tr>
      <th>{label}</th>
      <td>
        {x ? (
          <>
            #{x.id} {fmtTime(x.latest_ack_timestamp || x.trigger_timestamp || x.restore_timestamp)}{" "}
            {x.external_path ? <span class="mono">{x.external_path}</span> : null}
            {x.failure_message ? <span class="error-text">{x.failure_message}</span> : null}
          </>
        ) : (
          "none"
        )}
      </td>
    </tr>
  );
  return (
    <div id="tab-checkpoints">
      <div class="cards">
        {["total", "completed", "failed", "in_progress", "restored"].map((k) => (
          <div class="card">
            <div class="label">{k.replace("_", " ")}</div>
            <div class="big" id={`cp-${k}`}>
              {c[k] ?? 0}
            </div>
          </div>
        ))}
      </div>
      <h3>Latest</h3>
      <table class="kv">
        <tbody>
          {row("Completed", latest.completed)}
          {row("Savepoint", latest.savepoint)}
          {row("Failed", latest.failed)}
          {row("Restored", latest.restored)}
        </tbody>
      </table>
      <h3>History</h3>
      <table class="grid" id="cp-history">
        <thead>
          <tr>
            <th>ID</th>
            <th>Status</th>
            <th>Type</th>
            <th>Triggered</th>
            <th>Duration</th>
            <th>State size</th>
            <th>Checkpointed</th>
            <th>Alignment</th>
            <th>Sync</th>
            <th>Async</th>
            <th>Acknowledged</th>
          </tr>
        </thead>
        <tbody>
          {(cp?.history || []).map((h: any) => (
            <tr>
              <td>{h.id}</td>
              <td>
                <span class={stateClass(h.status)}>{h.status}</span>
              </td>
              <td>{h.is_savepoint ? "savepoint" : "checkpoint"}</td>
              <td>{fmtTime(h.trigger_timestamp)}</td>
              <td>{fmtDuration(h.end_to_end_duration)}</td>
              <td>{fmtBytes(h.state_size)}</td>
              <td>{fmtBytes(h.checkpointed_size)}</td>
              <td>{fmtDuration(h.alignment_duration)}</td>
              <td>{fmtDuration(h.sync_duration)}</td>
              <td>{fmtDuration(h.async_duration)}</td>
              <td>
                {h.num_acknowledged_subtasks}/{h.num_subtasks}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Configuration</h3>
      {conf ? (
        <table class="kv">
          <tbody>
            {Object.entries(conf).map(([k, v]) => (
              <tr>
                <th>{k}</th>
                <td class="mono">{typeof v === "object" ? JSON.stringify(v) : String(v)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="muted">Checkpointing is not enabled for this job (no state.checkpoints.dir).</p>
      )}
    </div>
  );
}

function Configuration({ config, job }: { config: any; job: any }) {
  const ec = config?.["execution-config"] || {};
  const user = ec["user-config"] || {};
  return (
    <div id="tab-configuration">
      <table class="kv">
        <tbody>
          <tr>
            <th>Execution mode</th>
            <td>{ec["execution-mode"]}</td>
          </tr>
          <tr>
            <th>Restart strategy</th>
            <td>{ec["restart-strategy"]}</td>
          </tr>
          <tr>
            <th>Job parallelism</th>
            <td>{ec["job-parallelism"]}</td>
          </tr>
          <tr>
            <th>Plugin</th>
            <td class="mono">{job["jar-id"]}</td>
          </tr>
          <tr>
            <th>Arguments</th>
            <td class="mono">{(job.programArgs || []).join(" ")}</td>
          </tr>
        </tbody>
      </table>
      <h3>Configuration</h3>
      <table class="kv">
        <tbody>
          {Object.keys(user)
            .sort()
            .map((k) => (
              <tr>
                <th class="mono">{k}</th>
                <td class="mono">{user[k]}</td>
              </tr>
            ))}
        </tbody>
      </table>
    </div>
  );
}

export function JobPage({ jid, tab, vertex }: { jid: string; tab: string; vertex?: string }) {
  // One document per refresh for the whole page (GET /ui/jobs/:jid); the
  // live output tab streams instead.
  const { data: d, error } = usePoll<any>(tab === "output" ? null : `/ui/jobs/${jid}`);
  const [head, setHead] = useState<any>(null);
  useEffect(() => {
    if (d) setHead(d.job);
  }, [d]);
  useEffect(() => {
    if (tab === "output" && !head) get(`/jobs/${jid}`).then(setHead, () => {});
  }, [tab, jid]);
  const job = d?.job || head;
  const select = (vid: string) => (location.hash = `#/job/${jid}/overview/${vid}`);
  const selected = job?.vertices?.find((v: any) => v.id === vertex) || null;
  const scroller = useRef<HTMLDivElement>(null);
  if (!job) return <div class="page">{error ? <div class="error">{error}</div> : "Loading…"}</div>;
  return (
    <div class="page" id="page-job">
      <div class="job-head">
        <h1>
          {job.name} <span class={stateClass(job.state)} id="job-state">{job.state}</span>
        </h1>
        <div class="muted mono">{job.jid}</div>
        <div class="muted">
          started {fmtTime(job["start-time"])} · {fmtDuration(job.duration)} · parallelism {job.parallelism}
        </div>
        <Actions job={job} />
      </div>
      {error ? <div class="error">{error}</div> : null}
      <div class="tabs">
        {TABS.map(([id, label]) => (
          <a href={`#/job/${jid}/${id}`} class={tab === id ? "active" : ""} id={`tab-link-${id}`}>
            {label}
          </a>
        ))}
      </div>
      <div ref={scroller}>
        {tab === "overview" ? (
          <>
            <Dag job={job} selected={vertex} onSelect={select} />
            {selected ? (
              <Subtasks v={selected} />
            ) : (
              <p class="muted">Click a vertex for its subtasks.</p>
            )}
            <h3>Vertices</h3>
            <table class="grid" id="vertices-table">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Status</th>
                  <th>Parallelism</th>
                  <th>Records in</th>
                  <th>Records out</th>
                  <th>In/s</th>
                  <th>Out/s</th>
                  <th>Busy (max)</th>
                  <th>Back-pressure (max)</th>
                </tr>
              </thead>
              <tbody>
                {job.vertices.map((v: any) => (
                  <tr onClick={() => select(v.id)} class="clickable">
                    <td>{v.name}</td>
                    <td>
                      <span class={stateClass(v.status)}>{v.status}</span>
                    </td>
                    <td>{v.parallelism}</td>
                    <td class="rec-in">{fmtNum(v.metrics["read-records"])}</td>
                    <td class="rec-out">{fmtNum(v.metrics["write-records"])}</td>
                    <td>{fmtNum(v.numRecordsInPerSecond, 1)}</td>
                    <td>{fmtNum(v.numRecordsOutPerSecond, 1)}</td>
                    <td class="busy">{((v.busyTimeMsPerSecond ?? 0) / 10).toFixed(0)}%</td>
                    <td class={`bp-${bpLevel(v.backPressuredTimeMsPerSecond)}`}>
                      {(v.backPressuredTimeMsPerSecond / 10).toFixed(0)}%
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        ) : null}
        {tab === "exceptions" ? <Exceptions ex={d?.exceptions} /> : null}
        {tab === "checkpoints" ? <Checkpoints cp={d?.checkpoints} conf={d?.["checkpoint-config"]} /> : null}
        {tab === "configuration" ? <Configuration config={d?.config} job={job} /> : null}
        {tab === "output" ? <Output jid={jid} /> : null}
      </div>
    </div>
  );
}
