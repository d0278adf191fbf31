import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { onTokenNeeded, setToken, token } from "./api";
import { Overview } from "./pages/overview";
import { JobList } from "./pages/jobs";
import { JobPage } from "./pages/job";
import { TaskManagerLog, TaskManagers } from "./pages/taskmanagers";
import { JobManager } from "./pages/jobmanager";
import { Submit } from "./pages/submit";
import { Dashboards } from "./pages/dashboards";

// Hash routes: #/overview, #/jobs/running, #/jobs/completed, #/job/<jid>/<tab>,
// #/taskmanagers, #/taskmanagers/<id>/log, #/taskmanagers/<id>/stdout, #/jobmanager, #/jobmanager/log,
// #/submit, #/dashboards.
function useRoute(): string[] {
  const parse = () => (location.hash.replace(/^#\/?/, "") || "overview").split("/").map(decodeURIComponent);
  const [r, setR] = useState(parse());
  useEffect(() => {
    const f = () => setR(parse());
    addEventListener("hashchange", f);
    return () => removeEventListener("hashchange", f);
  }, []);
  return r;
}

type Ask = { why: string; resolve: (t: string | null) => void } | null;

function TokenDialog({ ask, done }: { ask: NonNullable<Ask>; done: () => void }) {
  const [v, setV] = useState("");
  const submit = (e: Event) => {
    e.preventDefault();
    ask.resolve(v.trim() || null);
    done();
  };
  return (
    <div class="modal" role="dialog" aria-label="token">
      <form class="modal-box" onSubmit={submit}>
        <h3>REST token needed</h3>
        <p>{ask.why}</p>
        <p>This job manager has rest.auth.token set: give it once; it is kept for this tab only.</p>
        <input
          id="token-input"
          type="password"
          autocomplete="off"
          value={v}
          onInput={(e) => setV((e.target as HTMLInputElement).value)}
          autoFocus
        />
        <div class="buttons">
          <button type="submit" id="token-ok">
            Use token
          </button>
          <button
            type="button"
            onClick={() => {
              ask.resolve(null);
              done();
            }}
          >
            Cancel
          </button>
        </div>
      </form>
    </div>
  );
}

function App() {
  const route = useRoute();
  const [ask, setAsk] = useState<Ask>(null);
  const [hasToken, setHasToken] = useState(!!token());
  useEffect(() => {
    onTokenNeeded(
      (why) =>
        new Promise((resolve) =>
          setAsk({
            why,
            resolve: (t) => {
              setHasToken(!!t);
              resolve(t);
            },
          }),
        ),
    );
  }, []);
  const [page, ...rest] = route;
  let body;
  switch (page) {
    case "jobs":
      body = <JobList which={rest[0] === "completed" ? "completed" : "running"} page={Number(rest[1] || 0)} />;
      break;
    case "job":
      body = <JobPage jid={rest[0] || ""} tab={rest[1] || "overview"} vertex={rest[2]} />;
      break;
    case "taskmanagers":
      body =
        rest[0] && (rest[1] === "log" || rest[1] === "stdout") ? (
          <TaskManagerLog id={rest[0]} stream={rest[1]} />
        ) : (
          <TaskManagers />
        );
      break;
    case "jobmanager":
      body = <JobManager tab={rest[0] || "config"} />;
      break;
    case "submit":
      body = <Submit />;
      break;
    case "dashboards":
      body = <Dashboards />;
      break;
    default:
      body = <Overview />;
  }
  const nav = (href: string, label: string, active: boolean) => (
    <a href={href} class={active ? "active" : ""}>
      {label}
    </a>
  );
  return (
    <div class="layout">
      <nav class="side">
        <div class="brand">flinc</div>
        {nav("#/overview", "Overview", page === "overview")}
        {nav("#/jobs/running", "Running jobs", page === "jobs" && rest[0] !== "completed")}
        {nav("#/jobs/completed", "Completed jobs", page === "jobs" && rest[0] === "completed")}
        {nav("#/dashboards", "Seed dashboards", page === "dashboards")}
        {nav("#/taskmanagers", "Task managers", page === "taskmanagers")}
        {nav("#/jobmanager", "Job manager", page === "jobmanager")}
        {nav("#/submit", "Submit new job", page === "submit")}
        <div class="token-state">
          {hasToken ? (
            <button
              class="link"
              onClick={() => {
                setToken(null);
                setHasToken(false);
              }}
            >
              forget token
            </button>
          ) : null}
        </div>
      </nav>
      <main>{body}</main>
      {ask ? <TokenDialog ask={ask} done={() => setAsk(null)} /> : null}
    </div>
  );
}

render(<App />, document.getElementById("app")!);
