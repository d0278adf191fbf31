import { usePoll } from "../util";

export function JobManager() {
  const { data: d, error } = usePoll<any[]>("/jobmanager/config", 30000);
  return (
    <div class="page" id="page-jobmanager">
      <h1>Job manager configuration</h1>
      {error ? <div class="error">{error}</div> : null}
      <table class="kv">
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
