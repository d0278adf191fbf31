import { useEffect, useRef, useState } from "preact/hooks";
import { get } from "./api";

export const REFRESH_MS = 2000;

/** Poll one document: the page's one request per refresh. */
export function usePoll<T>(path: string | null, everyMs = REFRESH_MS) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const tick = useRef(0);
  const [bump, setBump] = useState(0);
  useEffect(() => {
    if (!path) return;
    let stop = false;
    let timer: number | undefined;
    const ctl = new AbortController();
    const run = async () => {
      const my = ++tick.current;
      try {
        const d = await get<T>(path, ctl.signal);
        if (!stop && my === tick.current) {
          setData(d);
          setError(null);
        }
      } catch (e: any) {
        if (!stop && e?.name !== "AbortError") setError(String(e?.message || e));
      }
      if (!stop) timer = window.setTimeout(run, everyMs);
    };
    run();
    return () => {
      stop = true;
      ctl.abort();
      clearTimeout(timer);
    };
  }, [path, everyMs, bump]);
  return { data, error, reload: () => setBump((b) => b + 1) };
}

export function fmtNum(n: number | undefined | null, digits = 0): string {
  if (n === undefined || n === null || !isFinite(n)) return "–";
  if (Math.abs(n) >= 1e9) return (n / 1e9).toFixed(1) + " G";
  if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(1) + " M";
  if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(1) + " k";
  return n.toFixed(digits);
}

export function fmtBytes(n: number | undefined | null): string {
  if (n === undefined || n === null || n < 0) return "–";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

export function fmtTime(ms: number | undefined | null): string {
  if (!ms || ms < 0) return "–";
  const d = new Date(ms);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "");
}

export function fmtDuration(ms: number | undefined | null): string {
  if (ms === undefined || ms === null || ms < 0) return "–";
  if (ms < 1000) return `${ms} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  return `${h}h ${m % 60}m`;
}

export const NO_WATERMARK = -9223372036854775808;

export function fmtWatermark(w: number | undefined): string {
  if (w === undefined || w <= -9007199254740991) return "no watermark";
  return fmtTime(w);
}

/** ok ≤ 10 %, low ≤ 50 %, high: Flink's levels. */
export function bpLevel(msPerSecond: number): "ok" | "low" | "high" {
  const r = msPerSecond / 1000;
  return r <= 0.1 ? "ok" : r <= 0.5 ? "low" : "high";
}

export function stateClass(s: string): string {
  return "state state-" + (s || "").toLowerCase();
}
