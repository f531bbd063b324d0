// The package's main entry (pkg/index.js): everything the wasm-bindgen glue
// exports, with an `init()` that needs no argument in every runtime.
//
// With no argument the glue fetches `new URL("oauth_token_manager_bg.wasm",
// import.meta.url)`: right in browsers and bundlers (Vite emits the .wasm as an
// asset) and in Deno (a file: URL, so it needs --allow-read), but Node's fetch
// cannot read file: URLs. In Node the bytes are read from disk instead, through
// a module name bundlers do not try to resolve, so browser builds stay clean.
import initGlue from "./oauth_token_manager.js";

export * from "./oauth_token_manager.js";

const WASM_FILE = "oauth_token_manager_bg.wasm";
/** @type {Promise<import("./oauth_token_manager.js").InitOutput> | undefined} */
let fromDisk;

function isNode() {
  return typeof globalThis.process?.versions?.node === "string" && typeof globalThis.Deno === "undefined";
}

async function readWasmFromDisk() {
  const name = "node:fs/promises";
  const fs = globalThis.process.getBuiltinModule?.(name) ??
    (await import(/* @vite-ignore */ /* webpackIgnore: true */ name));
  return await fs.readFile(new URL(WASM_FILE, import.meta.url));
}

/**
 * Loads the WebAssembly module, once. With no argument it finds the .wasm
 * beside this file; pass `{ module_or_path }` (bytes, a URL, a Response or a
 * compiled module) to load it from elsewhere.
 */
export default function init(input) {
  if (input !== undefined || !isNode()) return initGlue(input);
  fromDisk ??= readWasmFromDisk().then((bytes) => initGlue({ module_or_path: bytes }));
  fromDisk.catch(() => (fromDisk = undefined));
  return fromDisk;
}

export { TokenManagerError } from "./snippets/oauth-token-manager-a038f2a47e732acb/js/errors.js";
