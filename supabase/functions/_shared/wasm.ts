// Loading the package's wasm, once per isolate. Kept apart from runtime.ts so
// that error responses (which read the code table from the wasm) can load it
// without building the whole runtime. The module and its glue are the copy in
// ./pkg/ (`make pkg` keeps it identical to the package), so a function needs
// nothing outside supabase/functions/; config.toml bundles the .wasm as a
// static file of every function.
//
// Compiled and instantiated synchronously (`initSync`): the asynchronous
// `WebAssembly.compile` and `instantiate` hand the work to a background task
// and back, which on a cold isolate cost 2.5 ms more than doing it in place
// (`make bench`, the cold start rows). The request is waiting for it either way.
import { initSync } from "./pkg/oauth_token_manager.js";

let wasmReady: Promise<unknown> | null = null;

/** Loads the wasm once. OTM_WASM_PATH overrides where it is read from. */
export function loadWasm(): Promise<unknown> {
  wasmReady ??= (async () => {
    const path = Deno.env.get("OTM_WASM_PATH") ??
      new URL("./pkg/oauth_token_manager_bg.wasm", import.meta.url);
    const bytes = await Deno.readFile(path);
    return initSync({ module: new WebAssembly.Module(bytes) });
  })().catch((e) => {
    wasmReady = null;
    throw e;
  });
  return wasmReady;
}
