// The workstation console end to end in headless Chromium: a lead signs in, a courier's
// phone flags a fallen elder and syncs, the flag shows up in the open console without a
// reload, the lead accepts and dispatches, the phones see it, a lead of another grid sees
// none of it, and forged or cross-site writes are refused. Screenshots in zh-Hans and en.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { World, launch, signIn, SHOTS } from "./world.mjs";

const results = [];
async function step(name, f) {
  const t = Date.now();
  try {
    await f();
    results.push(`ok   ${name} (${Date.now() - t} ms)`);
    console.log(results.at(-1));
  } catch (e) {
    console.log(`FAIL ${name}: ${e.stack || e}`);
    throw e;
  }
}
const shot = (page, name) => page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });

mkdirSync(SHOTS, { recursive: true });
const world = await World.start();
const browser = await launch();
let failed = false;
try {
  let lead, other, courier, caseId, csrf;

  await step("the sign-in page in zh-Hans and en", async () => {
    for (const lang of ["zh", "en"]) {
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      await page.goto(`${world.url}/console/lang/${lang}?back=/console/login`);
      assert.equal(await page.getAttribute("html", "lang"), lang === "zh" ? "zh-Hans" : "en");
      await shot(page, `login-${lang}`);
      await ctx.close();
    }
  });

  await step("an unknown code is refused", async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${world.url}/console`);
    assert.match(page.url(), /\/console\/login$/);
    await page.fill("#code", "AAAA-BBBB-CCCC");
    await page.click("#sign-in");
    await page.waitForSelector("#login-error");
    await ctx.close();
  });

  await step("a grid lead signs in with a one-time code; the live stream opens", async () => {
    lead = await signIn(browser, world, "lead-1", "zh");
    await lead.page.waitForSelector("body[data-live=ready]", { timeout: 5000 });
    assert.equal(await lead.page.textContent("#open-count"), "0");
    csrf = await lead.page.getAttribute("input[name=csrf]", "value");
    assert.match(csrf, /^[0-9a-f]{64}$/);
  });

  await step("a lead of another grid signs in", async () => {
    other = await signIn(browser, world, "lead-2", "en");
    await other.page.waitForSelector("body[data-live=ready]", { timeout: 5000 });
  });

  await step("a courier's flag appears in the open console within 3 s of its sync, no reload", async () => {
    courier = world.phone("courier-1");
    caseId = courier.run("flag", "--grid", "G1", "--note", "老人倒地，疑似中暑，需要轮椅",
      "--lat", "31.3181", "--lon", "121.5125", "--address", "殷行路650弄");
    const navigations = [];
    lead.page.on("framenavigated", (f) => { if (f === lead.page.mainFrame()) navigations.push(f.url()); });
    const out = courier.run("sync");
    const synced = Date.now();
    assert.match(out, /pushed 1 doc/);
    await lead.page.waitForSelector(`#open-cases tr.ls[data-id="${caseId}"]`, { timeout: 3000 });
    const ms = Date.now() - synced;
    await lead.page.waitForSelector("#alerts .alert", { timeout: 1000 });
    assert.match(await lead.page.textContent("#alerts"), /生命安全警报/);
    assert.deepEqual(navigations, [], "the page did not reload");
    console.log(`     the flag showed ${ms} ms after the courier's sync returned`);
    await shot(lead.page, "queue-zh");
  });

  await step("the lead of the other grid sees none of it", async () => {
    await other.page.waitForTimeout(1500);
    assert.equal(await other.page.$(`tr[data-id="${caseId}"]`), null);
    assert.equal(await other.page.$$eval("#alerts .alert", (a) => a.length), 0);
    await other.page.reload();
    assert.equal(await other.page.$(`tr[data-id="${caseId}"]`), null);
    const otherCsrf = await other.page.getAttribute("input[name=csrf]", "value");
    const resp = await other.page.goto(`${world.url}/console/cases/${caseId}`);
    assert.equal(resp.status(), 404);
    const act = await other.ctx.request.post(`${world.url}/console/cases/${caseId}/act`, {
      form: { csrf: otherCsrf, action: "accept" },
      headers: { Origin: world.url }, maxRedirects: 0,
    });
    assert.equal(act.status(), 404, "another grid's lead cannot act on the case either");
  });

  await step("the case page: timeline, sketch, the actions core offers", async () => {
    await lead.page.click(`#open-cases tr[data-id="${caseId}"] a`);
    await lead.page.waitForSelector("#case");
    assert.equal(await lead.page.getAttribute("#case", "data-status"), "new");
    assert.match(await lead.page.textContent("#timeline"), /上报.*王师傅/);
    await lead.page.waitForSelector("#sketch #this-case");
    for (const a of ["accept", "dispatch", "comment"]) await lead.page.waitForSelector(`#do-${a}`);
    assert.equal(await lead.page.$$eval(".withheld[data-action=follow_up] button[disabled]", (b) => b.length), 1);
    await shot(lead.page, "case-zh");
  });

  await step("a forged write (wrong CSRF token) is refused", async () => {
    const r = await lead.ctx.request.post(`${world.url}/console/cases/${caseId}/act`, {
      form: { csrf: "0".repeat(64), action: "comment", text: "forged" },
      headers: { Origin: world.url }, maxRedirects: 0,
    });
    assert.equal(r.status(), 403);
  });

  await step("a cross-site write (foreign Origin) is refused", async () => {
    const r = await lead.ctx.request.post(`${world.url}/console/cases/${caseId}/act`, {
      form: { csrf, action: "comment", text: "cross-site" },
      headers: { Origin: "http://evil.example" }, maxRedirects: 0,
    });
    assert.equal(r.status(), 403);
    const noOrigin = await lead.ctx.request.post(`${world.url}/console/cases/${caseId}/act`, {
      form: { action: "comment", text: "no token" },
      headers: { Origin: world.url }, maxRedirects: 0,
    });
    assert.equal(noOrigin.status(), 403, "no token at all");
  });

  await step("the lead accepts and dispatches to a unit with a deadline", async () => {
    await Promise.all([lead.page.waitForNavigation(), lead.page.click("#do-accept")]);
    assert.equal(await lead.page.getAttribute("#case", "data-status"), "accepted");
    await lead.page.selectOption("#dispatch-unit", "U1");
    await lead.page.fill("#dispatch-hours", "4");
    await Promise.all([lead.page.waitForNavigation(), lead.page.click("#do-dispatch")]);
    assert.equal(await lead.page.getAttribute("#case", "data-status"), "dispatched");
    assert.equal(await lead.page.textContent("#unit"), "开鲁居委会");
    const timeline = await lead.page.textContent("#timeline");
    assert.match(timeline, /已接单.*李网格长/);
    assert.match(timeline, /已派单.*李网格长/);
    assert.doesNotMatch(timeline, /forged|cross-site/, "refused writes left nothing");
  });

  await step("the courier's next sync shows the acknowledgement", async () => {
    assert.match(courier.run("sync"), /pulled [1-9]\d* change/);
    const shown = courier.run("show", caseId);
    assert.match(shown, /— dispatched/);
    assert.match(shown, /accepted\s+by lead-1/);
    assert.match(shown, /dispatched\s+by lead-1/);
  });

  await step("the responder unit's phone gets the case", async () => {
    const responder = world.phone("responder-1");
    responder.run("sync");
    assert.match(responder.run("list", "open"), new RegExp(caseId));
  });

  await step("figures in zh-Hans; the CSV export", async () => {
    await lead.page.goto(`${world.url}/console/figures`);
    await lead.page.waitForSelector("#grid-figures");
    await lead.page.waitForSelector("#trend-chart");
    await shot(lead.page, "figures-zh");
    const csv = await lead.ctx.request.get(`${world.url}/console/figures.csv`);
    assert.equal(csv.status(), 200);
    const text = await csv.text();
    assert.match(text.split("\r\n")[0], /^\uFEFFscope,id,name,total,open/);
    assert.match(text, /\ngrid,G1,/);
  });

  await step("every page in English", async () => {
    await lead.page.goto(`${world.url}/console`);
    await Promise.all([lead.page.waitForNavigation(), lead.page.click("#lang")]);
    assert.equal(await lead.page.getAttribute("html", "lang"), "en");
    await lead.page.waitForSelector(`#open-cases tr[data-id="${caseId}"]`);
    await shot(lead.page, "queue-en");
    await lead.page.goto(`${world.url}/console/cases/${caseId}`);
    await shot(lead.page, "case-en");
    await lead.page.goto(`${world.url}/console/figures`);
    await shot(lead.page, "figures-en");
  });

  await step("filters and Chinese full-text search narrow the queue", async () => {
    courier.run("report", "--category", "waste", "--title", "楼道堆物 杂物堵塞", "--grid", "G1");
    courier.run("sync");
    // The search index follows the feed a moment after a sync: look again for up to 3 s.
    const search = async (q, want) => {
      for (let i = 0; ; i++) {
        await lead.page.goto(`${world.url}/console?q=${encodeURIComponent(q)}`);
        if ((await lead.page.textContent("#open-count")) === want || i >= 30) break;
        await lead.page.waitForTimeout(100);
      }
      assert.equal(await lead.page.textContent("#open-count"), want, q);
    };
    await search("堆物", "1");
    assert.match(await lead.page.textContent("#open-cases"), /楼道堆物/);
    await search("疑似中暑", "1"); // in the flag's description only
    assert.notEqual(await lead.page.$(`tr[data-id="${caseId}"]`), null);
    await search("650弄", "1"); // its address
    await search("中暑 堆物", "0");
    await lead.page.goto(`${world.url}/console?category=person_in_distress`);
    assert.notEqual(await lead.page.$(`tr[data-id="${caseId}"]`), null);
    assert.equal(await lead.page.textContent("#open-count"), "1");
    await lead.page.goto(`${world.url}/console?status=dispatched&unit=U1`);
    assert.equal(await lead.page.textContent("#open-count"), "1");
    await lead.page.goto(`${world.url}/console?unit=U2`);
    assert.equal(await lead.page.textContent("#open-count"), "0");
  });

  await step("the responder resolves on the phone; the lead follows up with satisfaction, then reopens", async () => {
    const responder = world.phone("responder-1");
    responder.run("sync");
    responder.run("resolve", caseId, "已送医，家属陪同");
    responder.run("sync");
    await lead.page.goto(`${world.url}/console/cases/${caseId}`);
    assert.equal(await lead.page.getAttribute("#case", "data-status"), "resolved");
    await lead.page.selectOption("#follow-up-satisfaction", "5");
    await Promise.all([lead.page.waitForNavigation(), lead.page.click("#do-follow_up")]);
    assert.equal(await lead.page.getAttribute("#case", "data-status"), "closed");
    await lead.page.fill("#reopen-reason", "家属反映仍需上门照看");
    await Promise.all([lead.page.waitForNavigation(), lead.page.click("#do-reopen")]);
    assert.equal(await lead.page.getAttribute("#case", "data-status"), "reopened");
    assert.match(await lead.page.textContent("#timeline"), /Satisfaction 5\/5/);
  });

  await step("concurrent work on a case is kept and the conflict shown, as on the phone", async () => {
    const id = (await lead.page.goto(`${world.url}/console?q=${encodeURIComponent("堆物")}`),
      await lead.page.getAttribute("#open-cases tbody tr", "data-id"));
    const phone = world.phone("lead-1");
    phone.run("sync");
    phone.run("accept", id); // offline, on the lead's phone
    await lead.page.goto(`${world.url}/console/cases/${id}`);
    await Promise.all([lead.page.waitForNavigation(), lead.page.click("#do-accept")]);
    phone.run("sync");
    await lead.page.reload();
    assert.equal(await lead.page.$$eval("#timeline li[data-kind=accepted]", (l) => l.length), 2);
    assert.equal(await lead.page.$$eval("#timeline li.conflict", (l) => l.length), 1);
    await shot(lead.page, "case-conflict-en");
  });

  await step("signing out revokes the session", async () => {
    await lead.page.goto(`${world.url}/console`);
    await Promise.all([lead.page.waitForURL(/login/), lead.page.click(".bar form button")]);
    const r = await lead.ctx.request.get(`${world.url}/console`, { maxRedirects: 0 });
    assert.equal(r.status(), 303);
    assert.match(world.admin("console", "sessions"), /lead-1\s+revoked/);
  });
} catch (e) {
  failed = true;
  console.log("server log:\n" + world.log.slice(-4000));
} finally {
  await browser.close();
  world.stop();
}
console.log(`${results.length} step(s) passed; screenshots in ${SHOTS}`);
process.exit(failed ? 1 : 0);
