import { fmtBytes, fmtDuration, fmtTime, usePoll } from "../util";
import { LogView } from "./log";

/** One task manager's log (#/taskmanagers/<id>/log). */
export function TaskManagerLog({ id }: { id: string }) {
  return (
    <div class="page" id="page-tm-log">
      <h1>
        Task manager <span class="mono">{id}</span>: log
      </h1>
      <p>
        <a href="#/taskmanagers">← Task managers</a>
      </p>
      <LogView path={`/taskmanagers/${encodeURIComponent(id)}/log`} id="tm-log" />
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
