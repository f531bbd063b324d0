// Types of the package's main entry (pkg/index.js): the wasm-bindgen glue's
// declarations, and an `init` whose argument is optional in every runtime.
import type { InitInput, InitOutput } from "./oauth_token_manager.js";

export * from "./oauth_token_manager.js";

/**
 * Loads the WebAssembly module, once. With no argument it finds the .wasm
 * beside the package's entry: fetched in browsers and bundlers, read from disk
 * in Node, fetched from a file: URL in Deno (which needs `--allow-read`).
 */
export default function init(
  input?: { module_or_path: InitInput | Promise<InitInput> } | InitInput | Promise<InitInput>,
): Promise<InitOutput>;

export { TokenManagerError } from "./errors.js";
