/* tslint:disable */
/* eslint-disable */
export const memory: WebAssembly.Memory;
export const __wbg_keyrotation_free: (a: number, b: number) => void;
export const __wbg_legacyimporter_free: (a: number, b: number) => void;
export const errorCodes: () => any;
export const formatMarker: (a: number) => [number, number];
export const keyrotation_currentKeyId: (a: number) => [number, number];
export const keyrotation_keyIdOf: (a: number, b: number) => [number, number];
export const keyrotation_new: (a: any) => [number, number, number];
export const keyrotation_rekey: (a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number, i: number) => [number, number, number, number];
export const legacyimporter_isLegacy: (a: number, b: number) => number;
export const legacyimporter_new: (a: any) => [number, number, number];
export const legacyimporter_reseal: (a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number, i: number) => [number, number, number, number];
export const markerHeader: () => [number, number];
export const markerIsNewer: (a: number, b: number, c: number, d: number) => number;
export const parseMarker: (a: number, b: number) => [number, number];
export const __wbindgen_malloc: (a: number, b: number) => number;
export const __wbindgen_realloc: (a: number, b: number, c: number, d: number) => number;
export const __wbindgen_free: (a: number, b: number, c: number) => void;
export const __wbindgen_exn_store: (a: number) => void;
export const __externref_table_alloc: () => number;
export const __wbindgen_externrefs: WebAssembly.Table;
export const __externref_table_dealloc: (a: number) => void;
export const __wbindgen_start: () => void;
