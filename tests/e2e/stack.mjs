// The `make dev` stack for a Playwright test file: PGlite, the provider
// emulator, the edge functions and www/ on free ports, and one Chromium
// context (its tabs share localStorage and BroadcastChannel, like one browser
// profile). Screenshots go to test-output/e2e/.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchChromium } from "./chromium.mjs";

const ROOT = new URL("../../", import.meta.url).pathname;
const SHOTS = join(ROOT, "test-output/e2e");

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

/** `env`: more environment for scripts/dev.ts (e.g. DATABASE_URL: a Postgres the test seeds). */
export async function startDevStack({ env = {} } = {}) {
  mkdirSync(SHOTS, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), "otm-e2e-"));
  const [fn, webPort, emuPort] = [await freePort(), await freePort(), await freePort()];
  const web = `http://127.0.0.1:${webPort}/`;
  const emulator = `http://127.0.0.1:${emuPort}`;
  const stack = spawn(join(ROOT, "node_modules/.bin/deno"), ["run", "-A", "scripts/dev.ts"], {
    cwd: ROOT,
    env: {
      ...process.env,
      NO_COLOR: "1",
      OTM_DEV_DIR: dir,
      OTM_FUNCTIONS_PORT: String(fn),
      OTM_WEB_PORT: String(webPort),
      OTM_EMULATOR_PORT: String(emuPort),
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dev stack did not start:\n${out}`)), 60_000);
    const onData = (d) => {
      out += d;
      if (out.includes("dev stack is up")) {
        clearTimeout(timer);
        resolve();
      }
    };
    stack.stdout.on("data", onData);
    stack.stderr.on("data", onData);
    stack.on("exit", (code) => reject(new Error(`dev stack exited ${code}:\n${out}`)));
  });
  const browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1100, height: 1200 } });

  /** The emulator's control API: GET without a body, POST with one. */
  async function emu(path, body) {
    const res = await fetch(`${emulator}/control/${path}`, {
      method: body === undefined ? "GET" : "POST",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return await res.json();
  }

  /** A new tab on `path` of the web server (default: the app), once the page is ready. */
  async function openTab(path = "") {
    const page = await context.newPage();
    page.on("pageerror", (e) => console.error("page error:", e.message));
    await page.goto(new URL(path, web).toString());
    await page.waitForSelector("body[data-ready=true]");
    return page;
  }

  const shot = (page, name) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

  async function stop() {
    await browser?.close();
    stack.kill("SIGINT");
    await new Promise((r) => (stack.exitCode !== null ? r() : stack.on("exit", r)));
    rmSync(dir, { recursive: true, force: true });
  }

  return { web, emulator, context, emu, openTab, shot, stop };
}
