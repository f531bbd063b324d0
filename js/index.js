// The package's main entry (pkg/index.js): everything the full build's
// wasm-bindgen glue exports (the server's TokenManager and the browser
// client), with an `init()` that needs no argument in every runtime. A page
// that needs only the client imports `oauth-token-manager/browser`, a build
// without the server manager.
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
