// The package's main entry (pkg/index.js), the server build: everything its
// wasm-bindgen glue exports (TokenManager, the legacy importer, the error
// codes and marker helpers), with an `init()` that needs no argument in every
// runtime. Pages import the browser client from `oauth-token-manager/browser`,
// the build with the client alone.
import initGlue from "../pkg/oauth_token_manager.js";
import { loader } from "./load.js";

export * from "../pkg/oauth_token_manager.js";

/**
 * Loads the WebAssembly module, once. With no argument it finds the .wasm
 * beside this file; pass `{ module_or_path }` (bytes, a URL, a Response or a
 * compiled module) to load it from elsewhere.
 */
const init = loader(initGlue, new URL("oauth_token_manager_bg.wasm", import.meta.url));
export default init;
