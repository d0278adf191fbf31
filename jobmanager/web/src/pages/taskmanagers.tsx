import { useEffect, useState } from "preact/hooks";
import { get } from "../api";
import { fmtBytes, fmtDuration, fmtTime, usePoll } from "../util";
import { LogView } from "./log";

/** One task manager's log or stdout (#/taskmanagers/<id>/log, /stdout).
 * The stdout page asks once where that stdout goes (stdoutFile: empty when
 * it is a terminal or pipe, which is not read), then polls the lines alone. */
export function TaskManagerLog({ id, stream }: { id: string; stream: "log" | "stdout" }) {
  const base = `#/taskmanagers/${encodeURIComponent(id)}`;
  const [file, setFile] = useState<string | null>(null);
  useEffect(() => {
    if (stream !== "stdout") return;
    const ctl = new AbortController();
    get(`/taskmanagers/${encodeURIComponent(id)}`, ctl.signal)
      .then((t: any) => setFile(typeof t.stdoutFile === "string" ? t.stdoutFile : ""))
      .catch(() => {});
    return () => ctl.abort();
  }, [id, stream]);
  return (
    <div class="page" id={stream === "log" ? "page-tm-log" : "page-tm-stdout"}>
      <h1>
        Task manager <span class="mono">{id}</span>: {stream}
      </h1>
      <p>
        <a href="#/taskmanagers">← Task managers</a> ·{" "}
        {stream === "log" ? <a href={`${base}/stdout`}>Stdout</a> : <a href={`${base}/log`}>Log</a>}
      </p>
      {stream === "stdout" && file !== null ? (
        <p class="muted" id="tm-stdout-file">
          {file
            ? `What the task manager printed (the - sink, a plugin's printf) to ${file}.`
            : "This task manager's stdout is a terminal or a pipe, not a file: nothing of it is kept here " +
              "(start-cluster.sh sends it to flinc-taskmanager-<i>.out)."}
        </p>
      ) : null}
      <LogView path={`/taskmanagers/${encodeURIComponent(id)}/${stream}`} id={stream === "log" ? "tm-log" : "tm-stdout"} />
    </div>
  );
}

export function TaskManagers() {
  const { data: d, error } = usePoll<any>("/taskmanagers");
  const tms = d?.taskmanagers || [];
  return (
    <div class="page" id="page-taskmanagers">
      <h1>Task managers</h1>
      {error ? <div class="error">{error}</div> : null}
      <table class="grid">
        <thead>
          <tr>
            <th>Id</th>
            <th>Control address</th>
            <th>Data address</th>
            <th>Slots</th>
            <th>Free slots</th>
            <th>Last heartbeat</th>
            <th>CPU cores</th>
            <th>Memory</th>
            <th>RSS</th>
            <th>CPU load</th>
            <th>Registered</th>
            <th>PID</th>
            <th>Log</th>
          </tr>
        </thead>
        <tbody>
          {tms.map((t: any) => (
            <tr>
              <td class="mono">{t.id}</td>
              <td class="mono">{t.path}</td>
              <td class="mono">{t.dataAddress}</td>
              <td>{t.slotsNumber}</td>
              <td>{t.freeSlots}</td>
              <td>{fmtDuration(t.lastHeartbeatAge)} ago</td>
              <td>{t.hardware?.cpuCores || "–"}</td>
              <td>{fmtBytes(t.hardware?.physicalMemory)}</td>
              <td>{fmtBytes(t.memoryRss)}</td>
              <td>{t.cpuLoad !== undefined ? t.cpuLoad.toFixed(2) : "–"}</td>
              <td>{fmtTime(t.registered)}</td>
              <td>{t.pid}</td>
              <td>
                <a href={`#/taskmanagers/${encodeURIComponent(t.id)}/log`} class="tm-log-link">
                  log
                </a>{" "}
                <a href={`#/taskmanagers/${encodeURIComponent(t.id)}/stdout`} class="tm-stdout-link">
                  stdout
                </a>
              </td>
            </tr>
          ))}
          {d && tms.length === 0 ? (
            <tr>
              <td colSpan={13} class="empty">
                No task manager registered.
              </td>
            </tr>
          ) : null}
        </tbody>
      </table>
    </div>
  );
}
