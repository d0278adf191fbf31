import { useState } from "preact/hooks";
import { mutate } from "../api";
import { fmtTime, usePoll } from "../util";

/** Upload a job plugin (.so) and run it with arguments, parallelism and a
 * savepoint to start from. */
export function Submit() {
  const { data: d, error, reload } = usePoll<any>("/jars", 10000);
  const [file, setFile] = useState<File | null>(null);
  const [msg, setMsg] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [jar, setJar] = useState<string | null>(null);
  const [args, setArgs] = useState("");
  const [par, setPar] = useState("");
  const [sp, setSp] = useState("");
  const [allowNR, setAllowNR] = useState(false);
  const upload = async () => {
    if (!file) return;
    setBusy(true);
    setMsg("Uploading…");
    try {
      const fd = new FormData();
      fd.append("jarfile", file, file.name);
      const r = await mutate("POST", "/jars/upload", fd);
      const id = String(r.filename).split("/").pop()!;
      setJar(id);
      setMsg(`Uploaded ${file.name}`);
      reload();
    } catch (e: any) {
      setMsg(`Upload failed: ${e.message}`);
    }
    setBusy(false);
  };
  const run = async () => {
    if (!jar) return;
    setBusy(true);
    setMsg("Submitting…");
    try {
      const body: any = { programArgs: args };
      if (par.trim()) body.parallelism = Number(par);
      if (sp.trim()) {
        body.savepointPath = sp.trim();
        body.allowNonRestoredState = allowNR;
      }
      const r = await mutate("POST", `/jars/${encodeURIComponent(jar)}/run`, body);
      location.hash = `#/job/${r.jobid}/overview`;
    } catch (e: any) {
      setMsg(`Submit failed: ${e.message}`);
    }
    setBusy(false);
  };
  return (
    <div class="page" id="page-submit">
      <h1>Submit a job</h1>
      {error ? <div class="error">{error}</div> : null}
      <div class="form">
        <label>
          Job plugin (.so)
          <input
            id="jar-file"
            type="file"
            accept=".so"
            onChange={(e) => setFile((e.target as HTMLInputElement).files?.[0] || null)}
          />
        </label>
        <button id="jar-upload" disabled={!file || busy} onClick={upload}>
          Upload
        </button>
      </div>
      <h2>Uploaded plugins</h2>
      <table class="grid" id="jars-table">
        <thead>
          <tr>
            <th />
            <th>Name</th>
            <th>Uploaded</th>
            <th>Id</th>
          </tr>
        </thead>
        <tbody>
          {(d?.files || []).map((f: any) => (
            <tr class={jar === f.id ? "selected" : ""} onClick={() => setJar(f.id)}>
              <td>
                <input type="radio" name="jar" checked={jar === f.id} onChange={() => setJar(f.id)} />
              </td>
              <td>{f.name}</td>
              <td>{fmtTime(f.uploaded)}</td>
              <td class="mono">{f.id}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div class="form run">
        <label>
          Program arguments
          <input id="run-args" value={args} onInput={(e) => setArgs((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          Parallelism
          <input
            id="run-parallelism"
            type="number"
            min="1"
            value={par}
            onInput={(e) => setPar((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          Savepoint path
          <input id="run-savepoint" value={sp} onInput={(e) => setSp((e.target as HTMLInputElement).value)} />
        </label>
        <label class="check">
          <input type="checkbox" checked={allowNR} onChange={() => setAllowNR(!allowNR)} /> Allow non-restored
          state
        </label>
        <button id="run-submit" disabled={!jar || busy} onClick={run}>
          Submit
        </button>
      </div>
      {msg ? (
        <div class="action-msg" id="submit-msg">
          {msg}
        </div>
      ) : null}
    </div>
  );
}
