// One measurement per process: the package's init() in Node (the main entry,
// which reads the .wasm from disk and compiles it in place). Prints ms.
import init from "../pkg/index.js";

const t0 = performance.now();
await init();
console.log((performance.now() - t0).toFixed(3));
