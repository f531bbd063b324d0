/* tslint:disable */
/* eslint-disable */
export const memory: WebAssembly.Memory;
export const __wbg_tokenmanager_free: (a: number, b: number) => void;
export const errorCodes: () => any;
export const formatMarker: (a: number) => [number, number];
export const markerHeader: () => [number, number];
export const markerIsNewer: (a: number, b: number, c: number, d: number) => number;
export const parseMarker: (a: number, b: number) => [number, number];
export const tokenmanager_disconnect: (a: number, b: number, c: number, d: number, e: number) => any;
export const tokenmanager_getValidToken: (a: number, b: number, c: number, d: number, e: number, f: number) => any;
export const tokenmanager_instanceId: (a: number) => [number, number];
export const tokenmanager_new: (a: any, b: any, c: number) => [number, number, number];
export const tokenmanager_refreshExpiring: (a: number, b: number, c: number) => any;
export const tokenmanager_status: (a: number, b: number, c: number, d: number, e: number) => any;
export const tokenmanager_storeTokens: (a: number, b: number, c: number, d: number, e: number, f: any) => any;
export const wasm_bindgen__convert__closures_____invoke__h60702a48838d1764: (a: number, b: number, c: any) => [number, number];
export const wasm_bindgen__convert__closures_____invoke__hb98d63cc49481475: (a: number, b: number, c: any, d: any) => void;
export const wasm_bindgen__convert__closures_____invoke__hcd2c6a522fec9239: (a: number, b: number) => void;
export const __wbindgen_malloc: (a: number, b: number) => number;
export const __wbindgen_realloc: (a: number, b: number, c: number, d: number) => number;
export const __wbindgen_free: (a: number, b: number, c: number) => void;
export const __wbindgen_exn_store: (a: number) => void;
export const __externref_table_alloc: () => number;
export const __wbindgen_externrefs: WebAssembly.Table;
export const __wbindgen_destroy_closure: (a: number, b: number) => void;
export const __externref_table_dealloc: (a: number) => void;
export const __wbindgen_start: () => void;
