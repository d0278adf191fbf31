import { fmtDuration, fmtTime, stateClass, usePoll } from "../util";

const PAGE = 50;

/** Running or completed jobs, a page at a time (one request per refresh). */
export function JobList({ which, page }: { which: "running" | "completed"; page: number }) {
  const path = `/jobs/overview?state=${which}&offset=${page * PAGE}&limit=${PAGE}`;
  const { data: d, error } = usePoll<any>(path);
  const total = d?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / PAGE));
  return (
    <div class="page" id="page-jobs">
      <h1>{which === "running" ? "Running jobs" : "Completed jobs"}</h1>
      {error ? <div class="error">{error}</div> : null}
      <table class="grid" id="jobs-table">
        <thead>
          <tr>
            <th>Name</th>
            <th>Job id</th>
            <th>State</th>
            <th>Start</th>
            <th>End</th>
            <th>Duration</th>
            <th>Tasks</th>
          </tr>
        </thead>
        <tbody>
          {(d?.jobs || []).map((j: any) => (
            <tr>
              <td>
                <a href={`#/job/${j.jid}/overview`}>{j.name}</a>
              </td>
              <td class="mono">{j.jid}</td>
              <td>
                <span class={stateClass(j.state)}>{j.state}</span>
              </td>
              <td>{fmtTime(j["start-time"])}</td>
              <td>{fmtTime(j["end-time"])}</td>
              <td>{fmtDuration(j.duration)}</td>
              <td>
                {j.tasks.running}/{j.tasks.total}
              </td>
            </tr>
          ))}
          {d && d.jobs.length === 0 ? (
            <tr>
              <td colSpan={7} class="empty">
                No {which} jobs.
              </td>
            </tr>
          ) : null}
        </tbody>
      </table>
      <div class="pager">
        {page > 0 ? <a href={`#/jobs/${which}/${page - 1}`}>‹ newer</a> : <span />}
        <span id="jobs-total">
          page {page + 1} of {pages} ({total} jobs)
        </span>
        {page + 1 < pages ? <a href={`#/jobs/${which}/${page + 1}`}>older ›</a> : <span />}
      </div>
    </div>
  );
}
