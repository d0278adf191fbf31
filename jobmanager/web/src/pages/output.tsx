import { useEffect, useRef, useState } from "preact/hooks";

const KEEP = 1000;

type Line = { n: number; sink: string; subtask: number; text: string };

/** The latest records the job's sinks wrote, pushed by the job manager
 * over Server-Sent Events (GET /jobs/:jid/output); filter and pause are
 * local. */
export function Output({ jid }: { jid: string }) {
  const [lines, setLines] = useState<Line[]>([]);
  const [filter, setFilter] = useState("");
  const [paused, setPaused] = useState(false);
  const [conn, setConn] = useState<"connecting" | "connected" | "disconnected">("connecting");
  const [held, setHeld] = useState(0);
  const pausedRef = useRef(false);
  const buf = useRef<Line[]>([]);
  const seq = useRef(0);
  pausedRef.current = paused;
  useEffect(() => {
    const es = new EventSource(`/jobs/${jid}/output`);
    let timer: number | undefined;
    const flush = () => {
      timer = undefined;
      if (pausedRef.current) {
        setHeld(buf.current.length);
        return;
      }
      const add = buf.current;
      buf.current = [];
      setHeld(0);
      if (add.length) setLines((old) => old.concat(add).slice(-KEEP));
    };
    es.onopen = () => setConn("connected");
    es.onerror = () => setConn(es.readyState === EventSource.CLOSED ? "disconnected" : "connecting");
    es.addEventListener("records", (ev) => {
      const m = JSON.parse((ev as MessageEvent).data);
      for (const r of m.records || [])
        buf.current.push({ n: ++seq.current, sink: m.name || m.vertex, subtask: m.subtask, text: r });
      if (buf.current.length > KEEP) buf.current = buf.current.slice(-KEEP);
      if (!timer) timer = window.setTimeout(flush, 200);
    });
    return () => {
      es.close();
      clearTimeout(timer);
    };
  }, [jid]);
  const f = filter.toLowerCase();
  const shown = f ? lines.filter((l) => l.text.toLowerCase().includes(f) || l.sink.toLowerCase().includes(f)) : lines;
  return (
    <div id="tab-output">
      <div class="toolbar">
        <span class={`conn conn-${conn}`} id="output-conn">
          {conn}
        </span>
        <input
          id="output-filter"
          placeholder="filter records"
          value={filter}
          onInput={(e) => setFilter((e.target as HTMLInputElement).value)}
        />
        <button id="output-pause" onClick={() => setPaused(!paused)}>
          {paused ? `Resume (${held} waiting)` : "Pause"}
        </button>
        <button onClick={() => setLines([])}>Clear</button>
        <span class="muted" id="output-count">
          {shown.length} of {lines.length} records
        </span>
      </div>
      <div class="output" id="output-lines">
        {shown
          .slice(-300)
          .reverse()
          .map((l) => (
            <div class="line" key={l.n}>
              <span class="src">
                {l.sink} #{l.subtask}
              </span>
              <span class="rec">{l.text}</span>
            </div>
          ))}
        {lines.length === 0 ? <div class="empty">Waiting for records the sinks write…</div> : null}
      </div>
    </div>
  );
}
