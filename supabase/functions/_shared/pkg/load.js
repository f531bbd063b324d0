// The loader both entries share: an `init()` that needs no argument in every
// runtime, around a wasm-bindgen glue's own init.
//
// With no argument the glue fetches its .wasm beside itself (`new URL(…,
// import.meta.url)`): right in browsers and bundlers (Vite emits the .wasm as
// an asset) and in Deno (a file: URL, so it needs --allow-read), but Node's
// fetch cannot read file: URLs. In Node the bytes are read from disk instead,
// through a module name bundlers do not try to resolve, so browser builds
// stay clean.

function isNode() {
  return typeof globalThis.process?.versions?.node === "string" && typeof globalThis.Deno === "undefined";
}

async function readFromDisk(url) {
  const name = "node:fs/promises";
  const fs = globalThis.process.getBuiltinModule?.(name) ??
    (await import(/* @vite-ignore */ /* webpackIgnore: true */ name));
  return await fs.readFile(url);
}

/**
 * `init(input?)` for a glue whose .wasm is at `wasmUrl`: loads the module
 * once; `{ module_or_path }` (bytes, a URL, a Response or a compiled module)
 * loads it from elsewhere. Bytes read from disk are compiled and
 * instantiated in place (`initSync`): the asynchronous way hands the work to
 * a background task and back, which costs a cold process 1-2 ms more.
 */
export function loader(initGlue, wasmUrl, initSync) {
  let fromDisk;
  return function init(input) {
    if (input !== undefined || !isNode()) return initGlue(input);
    fromDisk ??= readFromDisk(wasmUrl).then((bytes) => initSync({ module: new WebAssembly.Module(bytes) }));
    fromDisk.catch(() => (fromDisk = undefined));
    return fromDisk;
  };
}
