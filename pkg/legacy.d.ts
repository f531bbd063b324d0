// Types of the legacy importer's entry (pkg/legacy.js, `oauth-token-manager/legacy`):
// the legacy build's glue declarations, and an `init` whose argument is optional.
import type { InitInput, InitOutput } from "./legacy/oauth_token_manager_legacy.js";

export * from "./legacy/oauth_token_manager_legacy.js";

/** Loads the legacy build's WebAssembly module, once (see the main entry's `init`). */
export default function init(
  input?: { module_or_path: InitInput | Promise<InitInput> } | InitInput | Promise<InitInput>,
): Promise<InitOutput>;

export { TokenManagerError } from "./errors.js";
