/* @ts-self-types="./browser.d.ts" */
// The browser build's entry (pkg/browser.js, `oauth-token-manager/browser`):
// BrowserTokenClient (js/client.js, the I/O around the module's ClientCore),
// the error codes and the marker helpers, from a wasm build with the client
// feature only — no TokenManager, sealing, provider registry or lease
// protocol to download. The same `init()` as the main entry.
import initGlue, { ClientCore, initSync } from "./browser/oauth_token_manager_browser.js";
import { useCore } from "./client.js";
import { loader } from "./load.js";

export {
  errorCodes,
  formatMarker,
  initSync,
  markerHeader,
  markerIsNewer,
  parseMarker,
} from "./browser/oauth_token_manager_browser.js";
export { BrowserTokenClient } from "./client.js";

useCore(ClientCore);

/** Loads the browser build's WebAssembly module, once (see the main entry's `init`). */
const init = loader(
  initGlue,
  new URL("browser/oauth_token_manager_browser_bg.wasm", import.meta.url),
  initSync,
);
export default init;

export { TokenManagerError } from "./errors.js";
