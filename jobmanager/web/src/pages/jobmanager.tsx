import { usePoll } from "../util";
import { LogView } from "./log";

export function JobManager({ tab }: { tab: string }) {
  const log = tab === "log";
  const { data: d, error } = usePoll<any[]>(log ? null : "/jobmanager/config", 30000);
  return (
    <div class="page" id="page-jobmanager">
      <h1>Job manager</h1>
      <div class="tabs">
        <a href="#/jobmanager" class={log ? "" : "active"} id="jm-tab-config">
          Configuration
        </a>
        <a href="#/jobmanager/log" class={log ? "active" : ""} id="jm-tab-log">
          Log
        </a>
      </div>
      {log ? <LogView path="/jobmanager/log" id="jm-log" /> : null}
      {error ? <div class="error">{error}</div> : null}
      <table class="kv" style={log ? { display: "none" } : undefined}>
        <tbody>
          {(d || []).map((kv) => (
            <tr>
              <th class="mono">{kv.key}</th>
              <td class="mono">{kv.value}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
