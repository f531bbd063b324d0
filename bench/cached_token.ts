// Cost of getValidToken for a fresh token from JS: a store load (the JS
// memory store) plus opening the sealed token. Prints ns/op.
import init, { TokenManager } from "../pkg/index.js";
import { MemoryStore } from "../tests/js/memory-store.js";

await init({
  module_or_path: await Deno.readFile(new URL("../pkg/oauth_token_manager_bg.wasm", import.meta.url)),
});
const m = new TokenManager({
  // A loopback token URL: no other endpoint (user-info) is configured, so nothing leaves the machine.
  providers: { google: { clientId: "id", clientSecret: "secret", tokenUrl: "http://127.0.0.1:9/token" } },
  encryptionKeys: [{ id: "k1", key: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" }],
}, new MemoryStore());
await m.storeTokens("u1", "google", { accessToken: "ya29.bench", refreshToken: "1//rt", expiresIn: 3600 });
const N = Number(Deno.args[0] ?? 20000);
for (let i = 0; i < 2000; i++) await m.getValidToken("u1", "google");
const t0 = performance.now();
for (let i = 0; i < N; i++) await m.getValidToken("u1", "google");
const t1 = performance.now();
console.log(((t1 - t0) * 1e6 / N).toFixed(0));
