// A test city for the browser tests: a real outpost-server process on loopback (SQLite in a
// temporary data directory), its administration commands, and phones as `outpost` CLI
// stores. Paths come from scripts/suites/browser.sh.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run scripts/suites/browser.sh`);
  return v;
};
export const SERVER = env("OUTPOST_SERVER");
export const CLI = env("OUTPOST_CLI");
export const SHOTS = env("OUTPOST_SHOTS");
export const playwright = createRequire(env("OUTPOST_NODE_MODULES") + "/")("playwright-core");

export const DIRECTORY = {
  grids: [
    { id: "S", name: "殷行街道", level: "street" },
    { id: "C1", name: "第一综合网格", level: "comprehensive", parent: "S" },
    { id: "G1", name: "开鲁新村网格", level: "grid", parent: "C1" },
    { id: "G2", name: "工农新村网格", level: "grid", parent: "C1" },
  ],
  units: [
    { id: "U1", name: "开鲁居委会" },
    { id: "U2", name: "殷行城管中队" },
  ],
  members: [
    { id: "courier-1", name: "王师傅", role: "courier" },
    { id: "lead-1", name: "李网格长", role: "grid_lead", grids: ["G1"] },
    { id: "lead-2", name: "赵网格长", role: "grid_lead", grids: ["G2"] },
    { id: "responder-1", name: "居委会张主任", role: "responder", unit: "U1" },
    { id: "member-1", name: "网格员小陈", role: "grid_member", grids: ["G1"] },
  ],
};

export class World {
  static async start() {
    const w = new World();
    w.dir = mkdtempSync(join(tmpdir(), "outpost-browser-"));
    w.data = join(w.dir, "data");
    const file = join(w.dir, "directory.json");
    writeFileSync(file, JSON.stringify(DIRECTORY));
    w.admin("directory", "import", file);
    w.proc = spawn(SERVER, ["--data-dir", w.data, "serve", "--listen", "127.0.0.1:0"], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, RUST_LOG: "warn" },
    });
    w.log = "";
    w.proc.stderr.on("data", (d) => { w.log += d; });
    w.url = await new Promise((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error("server did not start: " + w.log)), 20000);
      w.proc.stdout.on("data", (d) => {
        out += d;
        const m = out.match(/listening on (http:\/\/[^\s]+)/);
        if (m) { clearTimeout(timer); resolve(m[1]); }
      });
      w.proc.on("exit", (c) => reject(new Error(`server exited ${c}: ${w.log}`)));
    });
    return w;
  }

  admin(...args) {
    return execFileSync(SERVER, ["--data-dir", this.data, ...args], { encoding: "utf8" }).trim();
  }

  /** A phone: the CLI's store for `member`, enrolled with an invite code (once). */
  phone(member) {
    this.phones ??= new Map();
    if (this.phones.has(member)) return this.phones.get(member);
    const db = join(this.dir, `${member}.db`);
    const run = (...args) => execFileSync(CLI, ["--db", db, ...args], { encoding: "utf8" }).trim();
    run("enroll", this.url, this.admin("invite", member), "--name", `${member}-phone`);
    const phone = { member, run };
    this.phones.set(member, phone);
    return phone;
  }

  stop() {
    if (this.proc && this.proc.exitCode === null) this.proc.kill("SIGTERM");
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function launch() {
  return playwright.chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

/** Signs `member` in on a new browser context with a one-time code from the admin CLI. */
export async function signIn(browser, world, member, lang = "zh") {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await page.goto(`${world.url}/console/lang/${lang}?back=/console/login`);
  await page.fill("#code", world.admin("invite", "--console", member));
  await Promise.all([page.waitForURL(/\/console$/), page.click("#sign-in")]);
  return { ctx, page };
}
