// Normalises wasm-pack's pkg/ so it is stable and useful as an npm package:
// explicit exports, and a README that does not churn with the root one.
import { readFileSync, writeFileSync } from "node:fs";

const path = new URL("../pkg/package.json", import.meta.url);
const pkg = JSON.parse(readFileSync(path, "utf8"));
const out = {
  name: "oauth-token-manager",
  version: pkg.version,
  description: pkg.description,
  license: pkg.license,
  type: "module",
  files: [
    "oauth_token_manager_bg.wasm",
    "oauth_token_manager.js",
    "oauth_token_manager.d.ts",
    "oauth_token_manager_bg.wasm.d.ts",
  ],
  main: "oauth_token_manager.js",
  types: "oauth_token_manager.d.ts",
  exports: {
    ".": { types: "./oauth_token_manager.d.ts", default: "./oauth_token_manager.js" },
    "./oauth_token_manager_bg.wasm": "./oauth_token_manager_bg.wasm",
  },
  sideEffects: ["./snippets/*"],
};
writeFileSync(path, JSON.stringify(out, null, 2) + "\n");
writeFileSync(
  new URL("../pkg/README.md", import.meta.url),
  `# oauth-token-manager

OAuth token refresh for Supabase apps: one refresh path in Rust, compiled to
WebAssembly, for Edge Functions (Deno) and the browser. Built from the
repository by \`make pkg\`; see the repository README for the API, the store
contract and the error codes.

\`\`\`ts
import init, { TokenManager } from "oauth-token-manager";
await init({ module_or_path: wasmBytesOrUrl });
const manager = new TokenManager(config, store, { onEvent });
const { accessToken } = await manager.getValidToken(userId, "google");
\`\`\`
`,
);
