// web_ui.mjs - the browser half of web_ui.py: Playwright (npm playwright-core)
// driving Debian's chromium against the cluster web_ui.py started.
//
//   node web_ui.mjs '{"port":..., "jid":..., "token":..., "killPid":..., "plugin":...,
//                     "input":..., "output":..., "shots":..., "chromium":...}'
//
// Prints one "  ok: ..." or "  FAIL: ..." line per check and exits 1 when
// one failed. Screenshots go to <shots>/NN-name.png.
import { harness, num, sleep, textOf } from "./web_common.mjs";

const cfg = JSON.parse(process.argv[2]);
const t = await harness(cfg, { viewport: { width: 1400, height: 900 }, fullPage: false, pollMs: 100 });
const { base, check, browser, page, errors, offsite, requests, shot, waitFor } = t;
let dialogs = 0;
page.on("dialog", (d) => d.accept()); // confirm() of the cancel button
const text = (sel) => textOf(page, sel);

try {
  // 1. The overview: 2 task managers.
  await page.goto(`${base}/#/overview`);
  const tms = await waitFor(async () => (await text("#tm-count")) === "2", 15000, "the overview shows 2 task managers");
  if (tms) check(true, "the overview shows 2 task managers");
  check(num(await text("#slots-total")) === 4, "the overview shows 4 slots in all");
  await sleep(2500); // a second point of the throughput chart
  await shot("overview");
  {
    const t0 = Date.now();
    await sleep(6500);
    const seen = requests.filter((r) => r.t >= t0).map((r) => r.path);
    check(seen.length >= 2 && seen.length <= 4 && seen.every((p) => p === "/ui/overview"),
      `the overview makes one request per refresh (${seen.length} in 6.5 s, all /ui/overview)`, seen);
  }

  // 2. The job submitted with the CLI: its DAG and rising record counts.
  await page.goto(`${base}/#/job/${cfg.jid}/overview`);
  await waitFor(async () => (await page.locator("svg.dag g.vertex").count()) === 2, 15000, "the DAG has 2 vertices");
  const labels = await page.locator("svg.dag g.vertex").allTextContents();
  check(labels.length === 2 && labels.every((l) => l.includes("Parallelism: 2")) && labels[0].includes("Source"),
    "the DAG shows each vertex's name and parallelism", labels);
  check(labels.every((l) => /in [\d.]+.*\/s · out/.test(l) && l.includes("Back-pressured") && l.includes("watermark")),
    "each vertex shows records in/out per second, back-pressure and the low watermark", labels);
  check((await page.locator("svg.dag g.vertex.bp-ok, svg.dag g.vertex.bp-low, svg.dag g.vertex.bp-high").count()) === 2,
    "each vertex is coloured by its back-pressure level");
  const r1 = num(await text("#vertices-table tbody tr:nth-child(2) td.rec-in"));
  await sleep(3500);
  const r2 = num(await text("#vertices-table tbody tr:nth-child(2) td.rec-in"));
  check(r2 > r1 && r1 > 0, `the sink's record count rises (${r1} -> ${r2})`);
  await page.locator("svg.dag g.vertex").nth(1).click();
  await waitFor(async () => (await page.locator("#subtasks-table tbody tr").count()) === 2, 5000, "the subtasks table");
  const subRows = await page.locator("#subtasks-table tbody tr").allTextContents();
  check(subRows.length === 2 && subRows.every((r) => r.includes("RUNNING") && r.includes("127.0.0.1:")),
    "the subtasks table: state and task manager of each subtask", subRows);
  await shot("job-dag");
  {
    const t0 = Date.now();
    await sleep(6500);
    const seen = requests.filter((r) => r.t >= t0).map((r) => r.path);
    check(seen.length >= 2 && seen.length <= 4 && seen.every((p) => p === `/ui/jobs/${cfg.jid}`),
      `the job page makes one request per refresh, not one per vertex (${seen.length} in 6.5 s)`, seen);
  }

  // 3. The checkpoints tab fills.
  await page.click("#tab-link-checkpoints");
  await waitFor(async () => num(await text("#cp-completed")) > 0, 15000, "completed checkpoints appear");
  check(num(await text("#cp-completed")) > 0, `the checkpoints tab counts completed checkpoints (${await text("#cp-completed")})`);
  check((await page.locator("#cp-history tbody tr").count()) > 0, "the checkpoint history has rows");
  await shot("checkpoints");

  // 4. The live output: records arrive, the filter and pause work.
  await page.click("#tab-link-output");
  const got = await waitFor(async () => {
    const m = /(\d+) of (\d+)/.exec(await text("#output-count"));
    return m && Number(m[2]) > 0 ? Number(m[2]) : null;
  }, 20000, "the live output shows records");
  check(got > 0, `the live output shows records arriving (${got})`);
  check((await text("#output-conn")) === "connected", "the live output is connected");
  await page.click("#output-pause");
  await sleep(300);
  const pausedAt = await text("#output-count");
  await sleep(2500);
  check((await text("#output-count")) === pausedAt && /Resume \(\d+ waiting\)/.test(await text("#output-pause")),
    "pause holds the view while records wait", [pausedAt, await text("#output-pause")]);
  await page.click("#output-pause");
  const first = await page.locator("#output-lines .line .rec").first().textContent();
  const word = (first || "").split("\t")[0];
  await page.fill("#output-filter", word);
  await sleep(300);
  const shown = await page.locator("#output-lines .line .rec").allTextContents();
  check(word && shown.length > 0 && shown.every((s) => s.includes(word)), `the filter shows only records with '${word}'`);
  await shot("live-output");
  await page.fill("#output-filter", "");

  // 5. kill -9 of a task manager: RESTARTING, then RUNNING.
  await page.click("#tab-link-overview");
  const states = [];
  process.kill(cfg.killPid, "SIGKILL");
  const end = Date.now() + 60000;
  let shotRestarting = false;
  while (Date.now() < end) {
    const s = (await text("#job-state").catch(() => "")) || "";
    if (states[states.length - 1] !== s) states.push(s);
    if (s === "RESTARTING" && !shotRestarting) {
      shotRestarting = true;
      await shot("restarting");
    }
    if (states.includes("RESTARTING") && s === "RUNNING") break;
    await sleep(100);
  }
  check(states.includes("RESTARTING") && states[states.length - 1] === "RUNNING",
    "after kill -9 of a task manager the page shows RESTARTING, then RUNNING", states);
  await sleep(2500);
  await shot("running-again");

  // 6. Mutations need the token: refused without it, asked for once.
  await page.click("#btn-savepoint");
  await page.waitForSelector("#token-input", { timeout: 5000 });
  dialogs++;
  await shot("token-asked");
  await page.click(".modal-box button[type=button]"); // give up
  await waitFor(async () => /failed/.test(await text("#action-msg")), 5000, "a savepoint without the token fails");
  check(/Savepoint failed: Unauthorized/.test(await text("#action-msg")),
    "without the token the savepoint is refused (401)", await text("#action-msg"));
  check((await text("#job-state")) === "RUNNING", "and the job runs on");
  const wrongAuth = requests.filter((r) => r.method !== "GET" && r.auth);
  check(wrongAuth.length === 0, "no request carried a token before it was given");

  // 7. Stop with savepoint from the UI, with the token.
  await page.click("#btn-stop");
  await page.waitForSelector("#token-input", { timeout: 5000 });
  dialogs++;
  await page.fill("#token-input", cfg.token);
  await page.click("#token-ok");
  const sp = await waitFor(async () => /savepoint at /.test(await text("#action-msg")) && (await text("#action-msg")),
    60000, "stop with savepoint completes");
  check(sp, `stop with savepoint from the UI: ${sp}`);
  await waitFor(async () => (await text("#job-state")) === "FINISHED", 20000, "the stopped job is FINISHED");
  check((await text("#job-state")) === "FINISHED", "the stopped job is FINISHED");
  await shot("stopped-with-savepoint");

  // 8. A job submitted from the UI runs (the token is not asked again).
  await page.goto(`${base}/#/submit`);
  await page.setInputFiles("#jar-file", cfg.plugin);
  await page.click("#jar-upload");
  await waitFor(async () => /Uploaded/.test(await text("#submit-msg")), 20000, "the upload is accepted");
  await page.fill("#run-args", `--input ${cfg.input} --output ${cfg.output} --rate 1000`);
  await page.fill("#run-parallelism", "1");
  await shot("submit");
  await page.click("#run-submit");
  const newJid = await waitFor(async () => {
    const m = /#\/job\/([0-9a-f]{32})\//.exec(page.url());
    return m && m[1] !== cfg.jid ? m[1] : null;
  }, 30000, "the UI opens the submitted job");
  if (newJid) {
    await waitFor(async () => (await text("#job-state")) === "RUNNING", 30000, "the job submitted from the UI runs");
    check((await text("#job-state")) === "RUNNING", `the job submitted from the UI runs (${newJid})`);
    await sleep(2500);
    await shot("submitted-job");
  }
  check(dialogs === 2 && (await page.locator("#token-input").count()) === 0,
    "the token was asked for once after it was given (upload and run did not ask)");
  const mut = requests.filter((r) => r.method !== "GET");
  check(mut.every((r) => !/token|Bearer/i.test(r.path)), "the token never appears in a URL");

  // 9. The logs: the job manager's and a task manager's, one request per refresh.
  await page.goto(`${base}/#/jobmanager/log`);
  await waitFor(async () => (await page.locator("#jm-log .line").count()) > 0, 10000, "the job manager's log shows");
  check((await page.locator("#jm-log .line", { hasText: "registered" }).count()) > 0,
    "the job manager's log shows its lines (task managers registered)");
  await shot("jobmanager-log");
  await page.goto(`${base}/#/taskmanagers`);
  await page.locator(".tm-log-link").first().click();
  await waitFor(async () => (await page.locator("#tm-log .line").count()) > 0, 10000, "a task manager's log shows");
  check((await page.locator("#tm-log .line", { hasText: "registered with the job manager" }).count()) > 0,
    "a task manager's log shows its lines (from its heartbeats)");
  {
    const t0 = Date.now();
    await sleep(6000);
    const seen = requests.filter((r) => r.t >= t0).map((r) => r.path);
    check(seen.length >= 1 && seen.length <= 2 && seen.every((p) => /^\/taskmanagers\/[^/]+\/log$/.test(p)),
      `the log page makes one request per refresh (${seen.length} in 6 s)`, seen);
  }
  await shot("taskmanager-log");
  await page.goto(`${base}/#/taskmanagers`);
  await page.locator(".tm-stdout-link").first().click();
  await waitFor(async () => (await page.locator("#tm-stdout-file").count()) > 0, 10000, "a task manager's stdout page shows");
  check(/flinc-taskmanager-\d+\.out\./.test((await page.locator("#tm-stdout-file").textContent()) || "") &&
    (await page.locator("#tm-stdout").count()) === 1,
    "a task manager's stdout page names its .out file", await page.locator("#tm-stdout-file").textContent());

  // 10. The other pages render.
  for (const [hash, sel, name] of [
    ["#/jobs/completed", "#jobs-table tbody tr", "jobs-completed"],
    ["#/jobs/running", "#jobs-table tbody tr", "jobs-running"],
    ["#/taskmanagers", "#page-taskmanagers tbody tr", "taskmanagers"],
    ["#/jobmanager", "#page-jobmanager tr", "jobmanager"],
  ]) {
    await page.goto(`${base}/${hash}`);
    await waitFor(async () => (await page.locator(sel).count()) > 0, 10000, `${hash} renders`);
    check((await page.locator(sel).count()) > 0, `${hash} renders rows`);
    await shot(name);
  }
} catch (e) {
  check(false, "the browser test ran to its end", String(e && e.stack || e));
  await shot("error").catch(() => {});
} finally {
  check(offsite.length === 0, "nothing was loaded from another origin", offsite);
  check(errors.filter((e) => !/401|Unauthorized/.test(e)).length === 0, "no script error in the page", errors);
  await browser.close();
}
process.exit(t.failed ? 1 : 0);
