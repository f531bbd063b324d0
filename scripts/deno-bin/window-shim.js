// wasm-bindgen-test-runner's Deno script assigns window.__wbg_test_invoke;
// Deno 2 has no `window`.
globalThis.window ??= globalThis;
