// The built pkg/ imported from Deno, refreshing against a loopback server.
import assert from "node:assert/strict";
import init, { TokenManager } from "../../pkg/oauth_token_manager.js";
import { MemoryStore } from "../js/memory-store.js";
import { tokenEndpoint } from "./token_server.mjs";

await init({
  module_or_path: await Deno.readFile(new URL("../../pkg/oauth_token_manager_bg.wasm", import.meta.url)),
});

const KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

async function withServer(
  fn: (url: string, state: ReturnType<typeof tokenEndpoint>["state"]) => Promise<void>,
) {
  const { state, handle } = tokenEndpoint();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const r = handle(req.method, await req.text());
    return new Response(r.body, { status: r.status, headers: r.headers ?? {} });
  });
  try {
    await fn(`http://127.0.0.1:${server.addr.port}/token`, state);
  } finally {
    await server.shutdown();
  }
}

function manager(tokenUrl: string, store: MemoryStore, events: unknown[] = []) {
  return new TokenManager(
    {
      providers: { google: { clientId: "smoke-client", clientSecret: "smoke-secret", tokenUrl } },
      encryptionKeys: [{ id: "k1", key: KEY }],
    },
    store,
    { onEvent: (e) => events.push(e) },
  );
}

Deno.test("pkg refreshes an expired token over real HTTP, once for 50 callers", async () => {
  await withServer(async (url, state) => {
    const store = new MemoryStore();
    const events: { kind: string }[] = [];
    const m = manager(url, store, events);
    await m.storeTokens("u1", "google", { accessToken: "old", refreshToken: "rt-smoke", expiresIn: 0 });
    const results = await Promise.all(Array.from({ length: 50 }, () => m.getValidToken("u1", "google")));
    assert.equal(state.calls, 1);
    assert.ok(results.every((r) => r.accessToken === "served-1"));
    const form = new URLSearchParams(state.bodies[0]);
    assert.equal(form.get("refresh_token"), "rt-smoke");
    assert.equal(form.get("client_id"), "smoke-client");
    assert.ok(events.some((e) => e.kind === "refreshed"));
    assert.ok(!JSON.stringify(events).includes("rt-smoke"));
  });
});

Deno.test("pkg maps invalid_grant to REAUTH_REQUIRED", async () => {
  await withServer(async (url, state) => {
    const store = new MemoryStore();
    const m = manager(url, store);
    await m.storeTokens("u1", "google", { accessToken: "old", refreshToken: "rt", expiresIn: 0 });
    state.next.push({ status: 400, body: JSON.stringify({ error: "invalid_grant" }) });
    await assert.rejects(
      m.getValidToken("u1", "google"),
      (e: Error & { code: string; requiresReauth: boolean }) => {
        assert.equal(e.code, "REAUTH_REQUIRED");
        assert.equal(e.requiresReauth, true);
        return true;
      },
    );
    assert.equal((await m.status("u1", "google")).status, "needs_reauth");
  });
});
