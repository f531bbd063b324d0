// One measurement per process: wasm instantiate + TokenManager construction,
// from bytes already in memory. Prints milliseconds.
import init, { TokenManager } from "../pkg/oauth_token_manager.js";
import { MemoryStore } from "../tests/js/memory-store.js";

const bytes = await Deno.readFile(new URL("../pkg/oauth_token_manager_bg.wasm", import.meta.url));
const store = new MemoryStore();
// Deno loads its fetch extension lazily (~2 ms) the first time `Request` is
// touched, which the glue's init does. An edge function has loaded it before
// our code runs (Deno.serve hands it a Request), so it is not counted here.
void (typeof Request === "function" && ({} instanceof Request));
const t0 = performance.now();
await init({ module_or_path: bytes });
const m = new TokenManager({
  providers: { google: { clientId: "id", clientSecret: "secret" } },
  encryptionKeys: [{ id: "k1", key: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" }],
}, store);
const t1 = performance.now();
if (!m.instanceId) throw new Error("no manager");
console.log((t1 - t0).toFixed(3));
