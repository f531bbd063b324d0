// The browser build's entry (pkg/browser.js, `oauth-token-manager/browser`):
// BrowserTokenClient, the error codes and the marker helpers from a wasm
// build with the client feature only — no TokenManager, sealing, provider
// registry or lease protocol to download. The same `init()` as the main entry.
import initGlue from "../pkg/browser/oauth_token_manager_browser.js";
import { loader } from "./load.js";

export * from "../pkg/browser/oauth_token_manager_browser.js";

/** Loads the browser build's WebAssembly module, once (see the main entry's `init`). */
const init = loader(initGlue, new URL("browser/oauth_token_manager_browser_bg.wasm", import.meta.url));
export default init;
