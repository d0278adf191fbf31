// web_dashboards.mjs - the browser half of web_dashboards.py: Playwright (npm
// playwright-core) driving Debian's chromium on the seed dashboards.
//
//   node web_dashboards.mjs '{"port":..., "jids":{"fraud":..., "aggregation":..., "anomaly":...},
//                             "jmPid":..., "shots":..., "chromium":...}'
//
// Prints one "  ok: ..." or "  FAIL: ..." line per check and exits 1 when
// one failed. Screenshots go to <shots>/NN-name.png.
import { harness, num, sleep, textOf } from "./web_common.mjs";

const cfg = JSON.parse(process.argv[2]);
const t = await harness(cfg, { viewport: { width: 1400, height: 1000 }, fullPage: true, pollMs: 200 });
const { base, check, browser, page, errors, offsite, requests, shot, waitFor } = t;
const text = (sel) => textOf(page, sel);
const rows = (sel) => page.locator(`${sel} tbody tr:not(:has(td.empty))`);
const cardValue = async (id) => num(await text(`#${id} .big`));

try {
  const t0 = Date.now();
  await page.goto(`${base}/#/dashboards`);

  // 1. Connected, the three seed jobs found.
  await waitFor(async () => (await text("#dash-conn")) === "Connected", 20000, "the indicator says Connected");
  check((await text("#dash-conn")) === "Connected", "the connection indicator says Connected");
  for (const s of ["fraud", "aggregation", "anomaly"]) {
    const chip = page.locator(`#dash-jobs [data-seed=${s}]`);
    check((await chip.textContent()).includes("RUNNING") &&
      (await chip.locator("a").getAttribute("href")) === `#/job/${cfg.jids[s]}/overview`,
      `the ${s} job is found and RUNNING`, await chip.textContent());
  }
  // The page watches the jobs' output now: the harness writes the histories
  // (their alerts and windows come at once, and are only shown to a page
  // that watches: sinks keep records for watchers only) and starts the
  // live generators.
  console.log("WATCHING");

  // 2. Transactions per second, fraud alerts.
  const tps = await waitFor(async () => (await cardValue("card-tps")) > 0 && (await cardValue("card-tps")), 20000,
    "transactions per second shown");
  check(tps > 0, `transactions per second: ${tps}`);
  await waitFor(async () => (await rows("#fraud-alerts").count()) > 0, 60000, "fraud alerts arrive");
  const types = await page.locator("#fraud-alerts tbody .badge").allTextContents();
  const five = ["VELOCITY_FRAUD", "STRUCTURING_FRAUD", "GEO_ANOMALY", "CARD_TESTING", "OFF_HOURS_HIGH_RISK"];
  check(types.length > 0 && types.every((t) => five.includes(t)), `the latest alerts table fills (${types.length} rows)`,
    types);
  check((await cardValue("card-fraud")) >= types.length, `the fraud alert count (${await text("#card-fraud .big")})`);
  check((await page.locator("#dash-fraud canvas").count()) >= 2,
    "the fraud charts are drawn (alerts by type over time, transactions per second)");

  // 3. Sensors with anomalies; readings per second.
  await waitFor(async () => (await rows("#sensor-table").count()) > 0, 60000, "sensors with anomalies appear");
  const sensorRows = await rows("#sensor-table").allTextContents();
  check(sensorRows.length > 0 && sensorRows.every((r) => /sensor\d+/.test(r)),
    `the sensors with anomalies table fills (${sensorRows.length} sensors)`, sensorRows.slice(0, 3));
  check((await cardValue("card-sensors")) >= sensorRows.length && (await cardValue("card-readings")) > 0,
    `sensors with anomalies ${await text("#card-sensors .big")}, readings/s ${await text("#card-readings .big")}`);

  // 4. User events by type and sessions (the history's windows and sessions close at once).
  const evTotal = async () =>
    (await page.locator("#event-types .bar-value").allTextContents()).reduce((s, v) => s + num(v), 0);
  await waitFor(async () => (await evTotal()) > 0, 90000, "user events by type fill");
  const evRows = await page.locator("#event-types .bar-row").evaluateAll((els) =>
    els.map((e) => [e.getAttribute("data-key"), e.querySelector(".bar-value").textContent]));
  check((await evTotal()) > 0 && evRows.some(([k, v]) => k === "page_view" && num(v) > 0),
    "user events by type: counts per eventType", evRows);
  await waitFor(async () => (await rows("#sessions-table").count()) > 0, 90000, "sessions appear");
  check((await rows("#sessions-table").count()) > 0 && (await cardValue("card-sessions")) > 0,
    `sessions: ${await text("#card-sessions .big")} closed, average ${await text("#card-session-duration .big")}`);
  check((await cardValue("card-eps")) > 0, `user events per second: ${await text("#card-eps .big")}`);
  await sleep(3000);
  await shot("dashboards");
  await shot("dashboards-top", false);

  // 5. Pushed, not polled: one job list every 5 s, one stream per job, nothing per vertex.
  {
    const seen = requests.filter((r) => r.t >= t0 && !r.path.startsWith("/web/") && r.path !== "/");
    const streams = seen.filter((r) => /^\/jobs\/[0-9a-f]{32}\/output$/.test(r.path));
    const lists = seen.filter((r) => r.path === "/jobs/overview?state=running&limit=100");
    const other = seen.filter((r) => !streams.includes(r) && !lists.includes(r));
    const secs = (Date.now() - t0) / 1000;
    check(streams.length === 3 && new Set(streams.map((r) => r.path)).size === 3,
      `one live output stream per seed job (${streams.length})`, streams.map((r) => r.path));
    check(other.length === 0 && lists.length <= secs / 5 + 2,
      `no polling per vertex: ${lists.length} job lists in ${secs.toFixed(0)} s and nothing else`,
      other.map((r) => r.path));
  }

  // 6. Quick filters.
  const allAlerts = await cardValue("card-fraud");
  await page.click("#qf-fraud");
  await sleep(300);
  check((await page.locator("#dash-fraud").count()) === 1 && (await page.locator("#dash-sensors").count()) === 0 &&
    (await page.locator("#dash-users").count()) === 0 && (await page.getAttribute("#qf-fraud", "aria-pressed")) === "true",
    "'Fraud only' shows the fraud dashboard alone");
  await shot("fraud-only", false);
  await page.click("#qf-anomalies");
  await sleep(300);
  check((await page.locator("#dash-fraud").count()) === 0 && (await page.locator("#dash-sensors").count()) === 1 &&
    (await page.locator("#dash-users").count()) === 0, "'Anomalies' shows the sensors dashboard alone");
  await shot("anomalies", false);
  await page.click("#qf-anomalies"); // off again: everything
  await page.click("#qf-recent");
  await sleep(1500);
  const lastMin = await cardValue("card-fraud");
  check((await page.getAttribute("#qf-recent", "aria-pressed")) === "true" &&
    (await text("#card-fraud .sub")) === "last minute" && lastMin <= allAlerts + 1000,
    `'Last 1 min' counts the last minute's alerts (${lastMin}, ${allAlerts} in 10 minutes)`);
  check((await page.locator("#dash-users").count()) === 1, "with 'Last 1 min' every dashboard shows");
  await shot("last-minute", false);
  await page.click("#qf-all");
  await sleep(300);
  check((await page.getAttribute("#qf-recent", "aria-pressed")) === "false", "'Everything' clears the filters");

  // 7. The job manager killed: Disconnected.
  process.kill(cfg.jmPid, "SIGKILL");
  await waitFor(async () => (await text("#dash-conn")) === "Disconnected", 20000, "the indicator says Disconnected");
  check((await text("#dash-conn")) === "Disconnected", "after kill -9 of the job manager the indicator says Disconnected");
  await shot("disconnected", false);
} catch (e) {
  check(false, "the browser test ran to its end", String((e && e.stack) || e));
  await shot("error").catch(() => {});
} finally {
  check(offsite.length === 0, "nothing was loaded from another origin", offsite);
  const bad = errors.filter((e) => !/ERR_CONNECTION_REFUSED|Failed to load resource|EventSource/.test(e));
  check(bad.length === 0, "no script error in the page", bad);
  await browser.close();
}
process.exit(t.failed ? 1 : 0);
