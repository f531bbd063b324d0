// Types of the browser build's entry (pkg/browser.js, `oauth-token-manager/browser`):
// the client-only glue's declarations, and an `init` whose argument is optional.
import type { InitInput, InitOutput } from "./browser/oauth_token_manager_browser.js";

export * from "./browser/oauth_token_manager_browser.js";
export { BrowserTokenClient } from "./client.js";

/** Loads the browser build's WebAssembly module, once (see the main entry's `init`). */
export default function init(
  input?: { module_or_path: InitInput | Promise<InitInput> } | InitInput | Promise<InitInput>,
): Promise<InitOutput>;

export { TokenManagerError } from "./errors.js";
