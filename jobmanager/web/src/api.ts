// The REST client of the UI. Reads are plain GETs (open, as the job
// manager allows). Changes carry X-Flinc-Request (the job manager's
// forgery check) and, once the user gave it, the rest.auth.token as a
// bearer header; it is asked for once, on the first 401, kept for this
// browser tab only (sessionStorage), and never put into a URL.

const TOKEN_KEY = "flinc.token";

export class ApiError extends Error {
  constructor(public status: number, message: string) {
    super(message);
  }
}

async function errorOf(r: Response): Promise<ApiError> {
  let msg = `${r.status} ${r.statusText}`;
  try {
    const j = await r.json();
    if (j && Array.isArray(j.errors) && j.errors.length) msg = String(j.errors[0]);
  } catch {
    /* not JSON */
  }
  return new ApiError(r.status, msg);
}

/** Requests made since the page loaded, by path (for the tests and the footer). */
export const requestLog: string[] = [];

export async function get<T = any>(path: string, signal?: AbortSignal): Promise<T> {
  requestLog.push(path);
  const r = await fetch(path, { headers: { Accept: "application/json" }, signal, cache: "no-store" });
  if (!r.ok) throw await errorOf(r);
  return r.json();
}

/** A GET of a text document (the logs). */
export async function getText(path: string, signal?: AbortSignal): Promise<string> {
  requestLog.push(path);
  const r = await fetch(path, { headers: { Accept: "text/plain" }, signal, cache: "no-store" });
  if (!r.ok) throw await errorOf(r);
  return r.text();
}

export function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(t: string | null) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
}

// Set by the app: shows the token dialog and resolves with the token, or
// null when the user gave up.
let askToken: (why: string) => Promise<string | null> = async () => null;
export function onTokenNeeded(f: (why: string) => Promise<string | null>) {
  askToken = f;
}

/** A change (POST, PATCH, DELETE): JSON body or FormData. */
export async function mutate<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  for (let tries = 0; ; tries++) {
    const headers: Record<string, string> = { "X-Flinc-Request": "1", Accept: "application/json" };
    const t = token();
    if (t) headers.Authorization = `Bearer ${t}`;
    let payload: BodyInit | undefined;
    if (body instanceof FormData) payload = body;
    else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    requestLog.push(`${method} ${path}`);
    const r = await fetch(path, { method, headers, body: payload, cache: "no-store" });
    if (r.status === 401 && tries < 3) {
      const err = await errorOf(r);
      const nt = await askToken(t ? "The token was not accepted." : err.message);
      if (!nt) throw err;
      setToken(nt);
      continue;
    }
    if (!r.ok) throw await errorOf(r);
    const text = await r.text();
    return (text ? JSON.parse(text) : {}) as T;
  }
}
