// Loading the package's wasm, once per isolate. Kept apart from runtime.ts so
// that error responses (which read the code table from the wasm) can load it
// without building the whole runtime. The module and its glue are the copy in
// ./pkg/ (`make pkg` keeps it identical to the package), so a function needs
// nothing outside supabase/functions/; config.toml bundles the .wasm as a
// static file of every function.
import init from "./pkg/oauth_token_manager.js";

let wasmReady: Promise<unknown> | null = null;

/** Loads the wasm once. OTM_WASM_PATH overrides where it is read from. */
export function loadWasm(): Promise<unknown> {
  wasmReady ??= (async () => {
    const path = Deno.env.get("OTM_WASM_PATH") ??
      new URL("./pkg/oauth_token_manager_bg.wasm", import.meta.url);
    return await init({ module_or_path: await Deno.readFile(path) });
  })().catch((e) => {
    wasmReady = null;
    throw e;
  });
  return wasmReady;
}
