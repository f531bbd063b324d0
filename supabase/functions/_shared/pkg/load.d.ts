// Types of the loader the entries share (pkg/load.js).
export declare function loader(
  initGlue: (input?: unknown) => Promise<unknown>,
  wasmUrl: URL,
): (input?: unknown) => Promise<unknown>;
