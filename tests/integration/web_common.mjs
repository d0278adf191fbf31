// web_common.mjs - what the browser tests (web_ui.mjs, web_dashboards.mjs)
// share: one-line checks, Debian's chromium through playwright-core (npm),
// the page's errors, off-site and own requests, screenshots and polling.
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "../../jobmanager/web/package.json"));
const { chromium } = require("playwright-core");

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// "293.5 k" -> 293500
// The text of the first element sel matches. It may take a while to
// appear: a busy machine (CI beside other tests, under ASan) has taken over
// 1 s to render the overview.
export const textOf = (page, sel) => page.locator(sel).first().textContent({ timeout: 5000 });

export function num(s) {
  const m = /([\d.]+)\s*([kMG]?)/.exec(s || "");
  if (!m) return NaN;
  return parseFloat(m[1]) * ({ "": 1, k: 1e3, M: 1e6, G: 1e9 }[m[2]] || 1);
}

// A test's harness: cfg as the test got it (port, shots, chromium);
// opts.viewport, opts.fullPage (screenshots' default), opts.pollMs (waitFor).
export async function harness(cfg, opts) {
  const base = `http://127.0.0.1:${cfg.port}`;
  mkdirSync(cfg.shots, { recursive: true });
  const t = { base, failed: 0, errors: [], offsite: [], requests: [] };
  let shotNo = 0;
  t.check = (cond, what, detail) => {
    if (cond) console.log(`  ok: ${what}`);
    else {
      t.failed++;
      console.log(`  FAIL: ${what}${detail !== undefined ? ": " + JSON.stringify(detail) : ""}`);
    }
    return !!cond;
  };
  t.browser = await chromium.launch({
    executablePath: cfg.chromium,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const page = (t.page = await t.browser.newPage({ viewport: opts.viewport }));
  page.on("pageerror", (e) => t.errors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && t.errors.push(m.text()));
  page.on("request", (r) => {
    const u = new URL(r.url());
    if (u.origin !== base) t.offsite.push(r.url());
    t.requests.push({ t: Date.now(), method: r.method(), path: u.pathname + u.search, auth: r.headers()["authorization"] });
  });
  t.shot = async (name, fullPage = opts.fullPage) => {
    const f = join(cfg.shots, `${String(++shotNo).padStart(2, "0")}-${name}.png`);
    await page.screenshot({ path: f, fullPage });
  };
  t.waitFor = async (fn, ms, what) => {
    const end = Date.now() + ms;
    let last;
    while (Date.now() < end) {
      try {
        last = await fn();
        if (last) return last;
      } catch (e) {
        last = String(e);
      }
      await sleep(opts.pollMs);
    }
    t.check(false, what, last);
    return null;
  };
  return t;
}
