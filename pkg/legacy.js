/* @ts-self-types="./legacy.d.ts" */
// The legacy importer's entry (pkg/legacy.js, `oauth-token-manager/legacy`):
// LegacyImporter, the error codes and the marker helpers from a wasm build
// with the legacy feature only. It is an operator's one-off (`make
// import-legacy`), so the server build leaves it out: every edge function
// isolate compiles the server's .wasm at its cold start. The same `init()` as
// the main entry.
import initGlue, { initSync } from "./legacy/oauth_token_manager_legacy.js";
import { loader } from "./load.js";

export * from "./legacy/oauth_token_manager_legacy.js";

/** Loads the legacy build's WebAssembly module, once (see the main entry's `init`). */
const init = loader(
  initGlue,
  new URL("legacy/oauth_token_manager_legacy_bg.wasm", import.meta.url),
  initSync,
);
export default init;

export { TokenManagerError } from "./errors.js";
