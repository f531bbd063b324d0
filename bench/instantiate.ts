// One measurement per process: wasm compile + instantiate + TokenManager
// construction, from bytes already in memory. Prints milliseconds:
// "<total> <compile> <instantiate> <construct>".
//
// By default the way the edge functions load it (supabase/functions/_shared/
// wasm.ts): `new WebAssembly.Module` and `initSync`, in place. With `async`:
// `WebAssembly.compile` and the glue's async `init`, as a page does.
import init, { initSync, TokenManager } from "../pkg/oauth_token_manager.js";
import { MemoryStore } from "../tests/js/memory-store.js";

const bytes = await Deno.readFile(new URL("../pkg/oauth_token_manager_bg.wasm", import.meta.url));
const store = new MemoryStore();
// Deno loads its fetch extension lazily (~2 ms) the first time `Request` is
// touched, which the glue's init does. An edge function has loaded it before
// our code runs (Deno.serve hands it a Request), so it is not counted here.
void (typeof Request === "function" && ({} instanceof Request));
// Likewise Web Crypto (0.13 ms, the first touch of `crypto`): the handler draws
// its request id with crypto.randomUUID() before it builds the runtime.
crypto.randomUUID();
const inPlace = !Deno.args.includes("async");
const t0 = performance.now();
const module = inPlace ? new WebAssembly.Module(bytes) : await WebAssembly.compile(bytes);
const t1 = performance.now();
if (inPlace) initSync({ module });
else await init({ module_or_path: module });
const t2 = performance.now();
// With `marks`, the construction is bracketed on stderr, where V8's
// --trace-wasm-compilation-times lines land between them (scripts/bench.sh
// counts the functions a first construction compiles).
if (Deno.args.includes("marks")) console.error("MARK construct");
const m = new TokenManager({
  providers: { google: { clientId: "id", clientSecret: "secret" } },
  encryptionKeys: [{ id: "k1", key: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" }],
}, store);
const t3 = performance.now();
if (Deno.args.includes("marks")) console.error("MARK end");
if (!m.instanceId) throw new Error("no manager");
console.log([t3 - t0, t1 - t0, t2 - t1, t3 - t2].map((x) => x.toFixed(3)).join(" "));
