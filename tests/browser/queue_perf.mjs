// Page weight and time to interactive of the console's queue with 1,000 open cases, beside
// an empty queue measured in the same run (scripts/suites/browser.sh perf). "Interactive"
// is when the page's script has run and its live stream is open (the `outpost-live-ready`
// mark); DOMContentLoaded is reported beside it. Five loads each, medians.
import { World, launch, signIn } from "./world.mjs";

const CASES = Number(process.env.OUTPOST_PERF_CASES || 1000);
const LOADS = 5;
const world = await World.start();
const browser = await launch();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function measure(page, url, rows) {
  const runs = [];
  for (let i = 0; i < LOADS; i++) {
    await page.goto(url);
    await page.waitForSelector("body[data-live=ready]", { timeout: 30000 });
    const m = await page.evaluate(() => {
      const nav = performance.getEntriesByType("navigation")[0];
      const res = performance.getEntriesByType("resource");
      const live = performance.getEntriesByName("outpost-live-ready")[0];
      return {
        html: nav.encodedBodySize,
        assets: res.filter((r) => /static/.test(r.name)).reduce((a, r) => a + (r.decodedBodySize || 0), 0),
        ttfb: nav.responseStart - nav.startTime,
        dcl: nav.domContentLoadedEventEnd - nav.startTime,
        live: live ? live.startTime : NaN,
        rows: document.querySelectorAll("#open-cases tbody tr").length,
      };
    });
    if (m.rows !== rows) throw new Error(`expected ${rows} rows, found ${m.rows}`);
    runs.push(m);
  }
  const pick = (k) => median(runs.map((r) => r[k]));
  return { rows, html: pick("html"), assets: Math.max(...runs.map((r) => r.assets)), ttfb: pick("ttfb"), dcl: pick("dcl"), live: pick("live") };
}

try {
  const courier = world.phone("courier-1");
  const t = Date.now();
  for (let i = 0; i < CASES; i++) {
    courier.run("report", "--category", i % 3 ? "waste" : "fire_hazard", "--urgency", ["life_safety", "urgent", "normal", "low"][i % 4],
      "--title", `楼道堆物 ${i} 号楼 第${i % 7}单元`, "--grid", "G1");
  }
  courier.run("sync");
  console.log(`seeded ${CASES} open cases in G1 in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  const full = await signIn(browser, world, "lead-1");
  const empty = await signIn(browser, world, "lead-2");
  const base = await measure(empty.page, `${world.url}/console`, 0);
  const big = await measure(full.page, `${world.url}/console?limit=1000`, CASES);
  const row = (name, m) => console.log(
    `${name.padEnd(22)} ${String(m.rows).padStart(5)} rows  HTML ${(m.html / 1024).toFixed(1).padStart(7)} KiB  JS+CSS ${(m.assets / 1024).toFixed(1)} KiB  ` +
    `TTFB ${m.ttfb.toFixed(0).padStart(4)} ms  DOMContentLoaded ${m.dcl.toFixed(0).padStart(4)} ms  interactive (live) ${m.live.toFixed(0).padStart(4)} ms`);
  console.log(`median of ${LOADS} loads each, headless Chromium, debug build of the server:`);
  row("empty queue (baseline)", base);
  row(`queue, ${CASES} open cases`, big);
} finally {
  await browser.close();
  world.stop();
}
