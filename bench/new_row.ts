// Cost of reading a row the manager has not seen as that object: each
// request's SELECT returns a new object, so this is the per-request price
// of crossing the boundary (JSON.stringify of the row, then core::json and
// the field reader) plus the memo check. Prints ns/op.
//   deno run --allow-read bench/new_row.ts [N] [pkg dir]
import { MemoryStore } from "../tests/js/memory-store.js";

const dir = new URL(`../${Deno.args[1] ?? "pkg"}/`, import.meta.url);
const { default: init, TokenManager } = await import(new URL("index.js", dir).href);
await init({ module_or_path: await Deno.readFile(new URL("oauth_token_manager_bg.wasm", dir)) });
const store = new MemoryStore();
const m = new TokenManager({
  providers: { google: { clientId: "id", clientSecret: "secret", tokenUrl: "http://127.0.0.1:9/token" } },
  encryptionKeys: [{ id: "k1", key: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" }],
}, store);
await m.storeTokens("u1", "google", { accessToken: "ya29.bench", refreshToken: "1//rt", expiresIn: 3600 });
const row = await store.load({ userId: "u1", provider: "google" });
const N = Number(Deno.args[0] ?? 20000);
let hits = 0;
for (let i = 0; i < 2000; i++) hits += m._memo({ ...row }, "u1", "google") ? 1 : 0;
if (hits !== 2000) throw new Error("the memo did not answer for a fresh row");
const t0 = performance.now();
for (let i = 0; i < N; i++) m._memo({ ...row }, "u1", "google");
const t1 = performance.now();
console.log(((t1 - t0) * 1e6 / N).toFixed(0));
