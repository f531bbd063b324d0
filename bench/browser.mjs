// The browser's cached getAccessToken() cost, measured in Chromium. Prints ns/op.
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { launchChromium } from "../tests/e2e/chromium.mjs";

const ROOT = new URL("../", import.meta.url).pathname;
const TYPES = { html: "text/html", js: "text/javascript", wasm: "application/wasm" };
const server = createServer(async (req, res) => {
  try {
    const path = new URL(req.url, "http://x").pathname;
    const body = await readFile(ROOT + path.slice(1));
    res.writeHead(200, { "content-type": TYPES[path.split(".").pop()] ?? "application/octet-stream" });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${server.address().port}/bench/browser.html`);
  await page.waitForSelector("body[data-ready=true]", { state: "attached" });
  const anchor = Number(process.env.BENCH_ANCHOR_NS);
  for (const kind of ["sync", "async"]) {
    console.log(
      `== cached getAccessToken() in Chromium (browser client, no network; getSessionToken ${kind})`,
    );
    const runs = [];
    for (let round = 1; round <= 5; round++) {
      const ns = await page.evaluate(([k, n]) => globalThis.bench(k, n), [kind, 50_000]);
      runs.push(ns);
      console.log(`  run ${round}: ${ns.toFixed(0)} ns/op`);
    }
    // Against google-auth-library's cached getAccessToken (bench/anchors.ts, Deno), when make bench passes it.
    if (anchor > 0) {
      const median = runs.sort((a, b) => a - b)[2];
      console.log(
        `  median ${median.toFixed(0)} ns/op: ${
          (median / anchor).toFixed(1)
        }x google-auth-library   (goal: <= 4x)`,
      );
    }
  }
} finally {
  await browser.close();
  server.close();
}
