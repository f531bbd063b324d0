// Types of the loader the entries share (pkg/load.js).
export declare function loader(
  initGlue: (input?: unknown) => Promise<unknown>,
  wasmUrl: URL,
  initSync: (input: { module: WebAssembly.Module }) => unknown,
): (input?: unknown) => Promise<unknown>;
