/* tslint:disable */
/* eslint-disable */

/** Stable error codes; branch on these, never on messages. */
export type ErrorCode =
| "NOT_CONNECTED" | "REAUTH_REQUIRED" | "INSUFFICIENT_SCOPE" | "CONNECT_STATE_INVALID"
| "CONSENT_DENIED" | "INVALID_CLIENT"
| "PROVIDER_REJECTED" | "RATE_LIMITED" | "PROVIDER_UNAVAILABLE" | "NETWORK" | "TIMEOUT"
| "BAD_PROVIDER_RESPONSE" | "COOLDOWN" | "LEASE_TIMEOUT" | "CRYPTO_MALFORMED"
| "CRYPTO_UNKNOWN_KEY" | "CRYPTO_INTEGRITY" | "CRYPTO_UNBOUND" | "STORAGE"
| "ROTATION_NOT_SAVED" | "SCHEMA_MISMATCH" | "UNAUTHORIZED" | "AUTH_UNAVAILABLE"
| "FORBIDDEN" | "NOT_FOUND" | "METHOD_NOT_ALLOWED" | "BAD_REQUEST" | "PAYLOAD_TOO_LARGE"
| "IDEMPOTENCY_CONFLICT" | "CONFIG" | "INTERNAL";

/**
 * Every rejection is a TokenManagerError. The package's entry exports the class
 * (`e instanceof TokenManagerError`); this module describes its shape.
 */
export interface TokenManagerError extends Error {
    name: "TokenManagerError";
    code: ErrorCode;
    /** The provider's HTTP status, when there was one. */
    status: number | null;
    /** The HTTP status an API should answer with. */
    httpStatus: number;
    requiresReauth: boolean;
    retryable: boolean;
    /** Seconds to wait before trying again. */
    retryAfter?: number;
    /** The provider's own Retry-After, seconds, when it sent one (retryAfter may be longer: the grant's cooldown). */
    providerRetryAfter?: number;
}

/** A connection that works but will not for long. */
export interface StatusWarning {
    code: "REFRESH_TOKEN_EXPIRING";
    message: string;
    /** The refresh token's end (epoch ms). */
    reconnectBefore: number;
}

export type ConnectionStatus = "connected" | "token_expired" | "needs_reauth" | "error" | "disconnected";

export interface StatusReport {
    provider: string;
    status: ConnectionStatus;
    connected: boolean;
    requiresReauth: boolean;
    expiresAt: number | null;
    tokenRefreshedAt: number | null;
    scopes: string[];
    hasRefreshToken: boolean;
    refreshTokenExpiresAt: number | null;
    lastErrorCode: ErrorCode | null;
    lastErrorMessage: string | null;
    lastErrorAt: number | null;
    failureCount: number;
    cooldownUntil: number | null;
    /** Who connected: the provider account. */
    accountId: string | null;
    accountEmail: string | null;
    accountName: string | null;
    /** Set when the grant ends soon (refreshTokenExpiresAt within the provider's refreshTokenWarningSeconds). */
    warning: StatusWarning | null;
}

export interface DisconnectReport {
    provider: string;
    status: StatusReport;
    revocation: "revoked" | "not_supported" | "nothing_to_revoke" | "failed";
    revocationError: { code: ErrorCode; message: string } | null;
}

export interface ErrorCodeInfo { code: ErrorCode; retryable: boolean; requiresReauth: boolean; httpStatus: number }



export interface BrowserClientOptions {
    /** e.g. https://<ref>.supabase.co/functions/v1 */
    functionsUrl: string;
    /** The user's Supabase access token, e.g. (await supabase.auth.getSession()).data.session.access_token */
    getSessionToken: () => string | Promise<string>;
    /** Refresh this long before expiry (default 60). */
    refreshMarginSeconds?: number;
    /** BroadcastChannel name shared by the app's tabs (default "oauth-token-manager"). */
    channelName?: string;
    /** Defaults to globalThis.fetch. Also sends what `client.fetch(input, init)` is given, a URL or a Request as it came. */
    fetch?: (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
    /** How long `callFunction` (and the connection helpers) wait for an edge function before TIMEOUT, ms (default 60000). */
    functionTimeoutMs?: number;
}

export interface BrowserToken {
    accessToken: string;
    /** Epoch ms on this device's clock: the request's start plus the function's `expiresIn` (its `expiresAt` from an older server). */
    expiresAt: number | null;
    tokenRefreshedAt: string | null;
    scope: string | null;
}

/** Change events: never carry the token itself. */
export type ClientChange =
| { type: "token"; provider: string; expiresAt: number | null; tokenRefreshedAt: string | null; fromOtherTab: boolean }
| { type: "marker"; provider: string; tokenRefreshedAt: string }
/** The user disconnected the provider (here or in another tab): its token is gone from the cache. */
| { type: "disconnected"; provider: string; fromOtherTab: boolean }
/** The cache was emptied: `"user-changed"` (another user's session), `"sign-out"` (this or another tab of the user called reset()). */
| { type: "reset"; reason: "user-changed" | "sign-out"; fromOtherTab: boolean }
| { type: "error"; provider: string; code: ErrorCode; message: string; requiresReauth: boolean; retryAfter?: number };



/**
 * Every error code with its properties.
 */
export function errorCodes(): ErrorCodeInfo[];

/**
 * Formats epoch milliseconds as a marker.
 */
export function formatMarker(ms: number): string;

/**
 * The header that carries the marker.
 */
export function markerHeader(): string;

/**
 * True when the marker `seen` (RFC 3339) is newer than `knownMs`.
 */
export function markerIsNewer(seen: string, known_ms?: number | null): boolean;

/**
 * Parses a marker to epoch milliseconds; `undefined` if it is not RFC 3339.
 */
export function parseMarker(marker: string): number | undefined;

export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

export interface InitOutput {
    readonly memory: WebAssembly.Memory;
    readonly __wbg_clientcore_free: (a: number, b: number) => void;
    readonly clientcore_begin: (a: number, b: any, c: number, d: number, e: number, f: number, g: number) => [number, number, number];
    readonly clientcore_checkConnection: (a: number, b: any) => [number, number];
    readonly clientcore_config: (a: number) => any;
    readonly clientcore_disconnected: (a: number, b: number, c: number, d: number, e: number) => void;
    readonly clientcore_effects: (a: number) => [number, number];
    readonly clientcore_error: (a: number, b: number, c: number, d: number, e: number, f: number) => any;
    readonly clientcore_fail: (a: number, b: number, c: any, d: number) => any;
    readonly clientcore_finish: (a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number, i: number) => [number, number, number];
    readonly clientcore_functionError: (a: number, b: number, c: number, d: number, e: number, f: number) => any;
    readonly clientcore_generation: (a: number) => number;
    readonly clientcore_message: (a: number, b: any) => void;
    readonly clientcore_new: (a: any) => [number, number, number];
    readonly clientcore_observe: (a: number, b: number, c: number, d: number, e: number, f: number, g: number) => void;
    readonly clientcore_rejected: (a: number, b: number, c: number, d: number, e: number) => number;
    readonly clientcore_reset: (a: number, b: number, c: number) => number;
    readonly clientcore_session: (a: number, b: any, c: number) => [number, number, number, number];
    readonly clientcore_tokenInfo: (a: number, b: number, c: number) => any;
    readonly clientcore_user: (a: number) => [number, number];
    readonly errorCodes: () => any;
    readonly formatMarker: (a: number) => [number, number];
    readonly markerHeader: () => [number, number];
    readonly markerIsNewer: (a: number, b: number, c: number, d: number) => number;
    readonly parseMarker: (a: number, b: number) => [number, number];
    readonly __wbindgen_malloc: (a: number, b: number) => number;
    readonly __wbindgen_realloc: (a: number, b: number, c: number, d: number) => number;
    readonly __wbindgen_free: (a: number, b: number, c: number) => void;
    readonly __wbindgen_exn_store: (a: number) => void;
    readonly __externref_table_alloc: () => number;
    readonly __wbindgen_externrefs: WebAssembly.Table;
    readonly __externref_table_dealloc: (a: number) => void;
    readonly __wbindgen_start: () => void;
}

export type SyncInitInput = BufferSource | WebAssembly.Module;

/**
 * Instantiates the given `module`, which can either be bytes or
 * a precompiled `WebAssembly.Module`.
 *
 * @param {{ module: SyncInitInput }} module - Passing `SyncInitInput` directly is deprecated.
 *
 * @returns {InitOutput}
 */
export function initSync(module: { module: SyncInitInput } | SyncInitInput): InitOutput;

/**
 * If `module_or_path` is {RequestInfo} or {URL}, makes a request and
 * for everything else, calls `WebAssembly.instantiate` directly.
 *
 * @param {{ module_or_path: InitInput | Promise<InitInput> }} module_or_path - Passing `InitInput` directly is deprecated.
 *
 * @returns {Promise<InitOutput>}
 */
export default function __wbg_init (module_or_path?: { module_or_path: InitInput | Promise<InitInput> } | InitInput | Promise<InitInput>): Promise<InitOutput>;
