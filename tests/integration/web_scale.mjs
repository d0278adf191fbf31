// web_scale.mjs - the browser half of web_scale.py: times the job page of a
// 200-vertex job and the completed-jobs list of ~1000 finished jobs in
// Debian's chromium (Playwright, npm playwright-core), and counts the
// requests of one refresh.
//
//   node web_scale.mjs '{"port":..., "jid":..., "jobs":..., "shots":..., "chromium":...}'
//
// A page is "rendered" when its content is in the DOM (every DAG vertex and
// the vertices table; the list's rows and its total); the time runs from the
// navigation to that moment. Prints "  ok:"/"  FAIL:" lines and the times.
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "../../jobmanager/web/package.json"));
const { chromium } = require("playwright-core");

const cfg = JSON.parse(process.argv[2]);
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const base = `http://127.0.0.1:${cfg.port}`;
mkdirSync(cfg.shots, { recursive: true });
let failed = 0;
function check(cond, what, detail) {
  if (cond) console.log(`  ok: ${what}`);
  else {
    failed++;
    console.log(`  FAIL: ${what}${detail !== undefined ? ": " + JSON.stringify(detail) : ""}`);
  }
  return !!cond;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const browser = await chromium.launch({
  executablePath: cfg.chromium,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
const errors = [];
const requests = [];
page.on("pageerror", (e) => errors.push(String(e)));
page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
page.on("request", (r) => {
  const u = new URL(r.url());
  requests.push({ t: Date.now(), path: u.pathname + u.search });
});

// Time from navigation to `done()` (polled in the page every animation frame).
async function timed(url, done) {
  await page.goto("about:blank");
  const t0 = Date.now();
  await page.goto(url);
  await page.waitForFunction(done, null, { timeout: 30000, polling: "raf" });
  return Date.now() - t0;
}

try {
  // Load the app once so the script is cached, as for a user who opens pages.
  await page.goto(`${base}/#/overview`);
  await page.waitForSelector("#tm-count", { timeout: 15000 });

  const jobMs = [];
  for (let i = 0; i < 3; i++)
    jobMs.push(
      await timed(`${base}/#/job/${cfg.jid}/overview`, () =>
        document.querySelectorAll("svg.dag g.vertex").length === 200 &&
        document.querySelectorAll("#vertices-table tbody tr").length === 200));
  // The median of 3 loads: one load caught behind something else on the
  // 2 cores (1028 ms, with 826 and 675 beside it, in a clean-clone CI run
  // when the test still ran beside others; it runs alone now, RUN_SERIAL)
  // says nothing about the page.
  const jobMid = median(jobMs);
  console.log(`job page of 200 vertices rendered in ${jobMs.join(", ")} ms`);
  check(jobMid < 1000, `the 200-vertex job page renders in under 1 s (median ${jobMid} ms)`, jobMs);
  await page.screenshot({ path: join(cfg.shots, "job-200-vertices.png") });
  {
    const t0 = Date.now();
    await sleep(6500);
    const seen = requests.filter((r) => r.t >= t0).map((r) => r.path);
    check(seen.length >= 2 && seen.length <= 4 && seen.every((p) => p === `/ui/jobs/${cfg.jid}`),
      `the 200-vertex job page makes one request per refresh (${seen.length} in 6.5 s)`, seen);
  }

  const listMs = [];
  for (let i = 0; i < 3; i++)
    listMs.push(
      await timed(`${base}/#/jobs/completed`, () =>
        document.querySelectorAll("#jobs-table tbody tr").length > 0 &&
        /\(\d+ jobs\)/.test(document.querySelector("#jobs-total")?.textContent || "")));
  const listMid = median(listMs);
  const total = await page.locator("#jobs-total").textContent();
  console.log(`completed-jobs list (${total}) rendered in ${listMs.join(", ")} ms`);
  check(parseInt(/\((\d+) jobs\)/.exec(total)[1]) >= cfg.jobs, `the list holds the ${cfg.jobs} finished jobs`, total);
  check(listMid < 1000, `the list of ${cfg.jobs} finished jobs renders in under 1 s (median ${listMid} ms)`, listMs);
  await page.screenshot({ path: join(cfg.shots, "jobs-completed-1000.png") });
  {
    const t0 = Date.now();
    await sleep(6500);
    const seen = requests.filter((r) => r.t >= t0).map((r) => r.path);
    check(seen.length >= 2 && seen.length <= 4 && new Set(seen).size === 1,
      `the job list makes one request per refresh (${seen.length} in 6.5 s)`, seen);
  }
  check(errors.length === 0, "no page errors", errors);
} catch (e) {
  check(false, "the browser run", String(e));
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
