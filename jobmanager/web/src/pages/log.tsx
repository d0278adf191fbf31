import { useEffect, useRef, useState } from "preact/hooks";
import { getText } from "../api";

const EVERY_MS = 5000;

/** A process's latest log lines (GET /jobmanager/log or
 * /taskmanagers/:id/log: text, the last 1000 lines the job manager keeps),
 * one request every 5 s, with a text filter; it follows the end unless
 * scrolled up. */
export function LogView({ path, id }: { path: string; id: string }) {
  const [text, setText] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [filter, setFilter] = useState("");
  const box = useRef<HTMLPreElement>(null);
  const follow = useRef(true);
  useEffect(() => {
    let stop = false;
    let timer: number | undefined;
    const ctl = new AbortController();
    const run = async () => {
      try {
        const t = await getText(path, ctl.signal);
        if (!stop) {
          setText(t);
          setError(null);
        }
      } catch (e: any) {
        if (!stop && e?.name !== "AbortError") setError(String(e?.message || e));
      }
      if (!stop) timer = window.setTimeout(run, EVERY_MS);
    };
    run();
    return () => {
      stop = true;
      ctl.abort();
      clearTimeout(timer);
    };
  }, [path]);
  useEffect(() => {
    if (follow.current && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [text, filter]);
  const f = filter.toLowerCase();
  const lines = (text || "").split("\n").filter((l) => l && (!f || l.toLowerCase().includes(f)));
  return (
    <div id={id}>
      <div class="toolbar">
        <input placeholder="filter lines" value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
        <span class="muted">
          {lines.length} lines{text === null ? "" : " (the latest the job manager keeps; refreshed every 5 s)"}
        </span>
      </div>
      {error ? <div class="error">{error}</div> : null}
      <pre
        class="output log"
        ref={box}
        onScroll={(e) => {
          const el = e.currentTarget as HTMLPreElement;
          follow.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 20;
        }}
      >
        {lines.map((l) => (
          <div class={/ (ERROR|WARN) /.test(l) ? "line " + (/ ERROR /.test(l) ? "log-error" : "log-warn") : "line"}>{l}</div>
        ))}
        {text !== null && lines.length === 0 ? <div class="empty">No line.</div> : null}
      </pre>
    </div>
  );
}
