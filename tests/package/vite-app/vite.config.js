// As the package README says: `vite dev` pre-bundles dependencies into
// node_modules/.vite/deps/, away from the .wasm beside the package's entry;
// excluding the package keeps init()'s URL right. `vite build` needs nothing.
import { defineConfig } from "vite";

export default defineConfig({ optimizeDeps: { exclude: ["oauth-token-manager"] } });
