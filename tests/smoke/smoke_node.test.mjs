// The built pkg/ imported from Node, refreshing against a loopback server.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { test } from "node:test";
import init, { TokenManager } from "../../pkg/oauth_token_manager.js";
import { MemoryStore } from "../js/memory-store.js";
import { tokenEndpoint } from "./token_server.mjs";

await init({
  module_or_path: await readFile(new URL("../../pkg/oauth_token_manager_bg.wasm", import.meta.url)),
});

async function withServer(fn) {
  const { state, handle } = tokenEndpoint();
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const r = handle(req.method, body);
      res.writeHead(r.status, r.headers ?? {});
      res.end(r.body);
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    await fn(`http://127.0.0.1:${server.address().port}/token`, state);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

test("pkg refreshes over real HTTP from Node, with Basic client auth", async () => {
  await withServer(async (url, state) => {
    const m = new TokenManager(
      {
        providers: { spotify: { clientId: "id", clientSecret: "se:cret", tokenUrl: url } },
        encryptionKeys: [{
          id: "k1",
          key: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        }],
      },
      new MemoryStore(),
    );
    await m.storeTokens("u1", "spotify", { accessToken: "old", refreshToken: "rt", expiresIn: 0 });
    const results = await Promise.all(Array.from({ length: 20 }, () => m.getValidToken("u1", "spotify")));
    assert.equal(state.calls, 1);
    assert.ok(results.every((r) => r.accessToken === "served-1" && r.tokenRefreshedAt.endsWith("Z")));
    assert.equal(
      new URLSearchParams(state.bodies[0]).get("client_secret"),
      null,
      "Basic auth keeps the secret out of the body",
    );
  });
});

test("pkg reports a 503 as PROVIDER_UNAVAILABLE after retries", async () => {
  await withServer(async (url, state) => {
    const m = new TokenManager(
      {
        providers: { google: { clientId: "id", clientSecret: "s", tokenUrl: url } },
        encryptionKeys: [{
          id: "k1",
          key: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        }],
        backoffBaseMs: 1,
        backoffCapMs: 5,
      },
      new MemoryStore(),
    );
    await m.storeTokens("u1", "google", { accessToken: "old", refreshToken: "rt", expiresIn: 0 });
    for (let i = 0; i < 3; i++) state.next.push({ status: 503, body: "<html>down</html>" });
    await assert.rejects(m.getValidToken("u1", "google"), { code: "PROVIDER_UNAVAILABLE" });
    assert.equal(state.calls, 3);
  });
});
