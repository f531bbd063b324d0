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
    /** Defaults to globalThis.fetch. */
    fetch?: (input: string, init: RequestInit) => Promise<Response>;
}

export interface BrowserToken {
    accessToken: string;
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
 * The browser's token client.
 */
export class BrowserTokenClient {
    free(): void;
    /**
     * Calls an edge function with the session JWT and JSON; observes its
     * marker. Rejects with a `TokenManagerError` carrying the server's code.
     */
    callFunction(name: string, body: any, method?: string | null): Promise<any>;
    /**
     * Stops listening to other tabs.
     */
    close(): void;
    /**
     * Back from a provider's consent page: completes the connect with this
     * session (the ticket only this user can use), or reports the error the
     * callback sent. Reads `otm_connect` / `otm_error` from `url` (default:
     * this page) and removes them from the address bar. Resolves to `null`
     * when the page was not a connect's return.
     */
    completeConnect(url?: string | null): Promise<{ provider: string; status: StatusReport | null; error: { code: ErrorCode; message: string } | null } | null>;
    /**
     * Connect or reconnect a provider: asks the functions for the
     * authorization URL (state and PKCE stay on the server) and, in a
     * browser, goes there. Back on `returnTo` (default: this page), call
     * `completeConnect()`.
     */
    connect(provider: string, options?: { returnTo?: string; scopes?: string[]; navigate?: boolean }): Promise<{ authorizationUrl: string }>;
    /**
     * The status of every connection of the user (`GET connections`): status,
     * account, scopes, expiry, last error, `requiresReauth`. Never a token.
     */
    connections(): Promise<StatusReport[]>;
    /**
     * Disconnect a provider: revoked there where it can be, erased here; the
     * report says what happened at the provider. Drops the cached token,
     * here and in the user's other tabs.
     */
    disconnect(provider: string): Promise<DisconnectReport>;
    /**
     * `fetch` for provider APIs (Google Calendar, Spotify, …): attaches the
     * connection's bearer token and retries once when the provider answers
     * 401, with a forced refresh unless a newer token came meanwhile.
     * `options.provider` names the connection.
     */
    fetch(input: string, init?: RequestInit, options?: { provider?: string }): Promise<Response>;
    /**
     * A valid access token for a connection (`provider`, default `google`):
     * cached, or one call to its token function shared by all callers.
     * `getSessionToken` is asked once per call. While the token is unchanged
     * the same frozen object is returned.
     */
    getAccessToken(options?: { force?: boolean; provider?: string } | null): Promise<BrowserToken>;
    constructor(options: BrowserClientOptions);
    /**
     * Reads `X-Token-Refreshed-At` (and `X-Token-Connection`) from an
     * edge-function response made with the current user's session.
     */
    observeResponse(response: any): void;
    offChange(listener: Function): void;
    /**
     * Listens for token, marker, reset and error changes. Returns a function
     * that stops listening.
     */
    onChange(listener: (change: ClientChange) => void): () => void;
    /**
     * Sign-out: drops this tab's tokens and tells this user's other tabs to
     * drop theirs. Call it on Supabase's `SIGNED_OUT`.
     */
    reset(): void;
    /**
     * What the client holds for a connection (default `google`), without the token.
     */
    tokenInfo(provider?: string | null): { hasToken: boolean; expiresAt: number | null; tokenRefreshedAt: string | null };
}

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
    readonly __wbg_browsertokenclient_free: (a: number, b: number) => void;
    readonly browsertokenclient__answer: (a: number, b: any, c: number, d: number, e: number) => any;
    readonly browsertokenclient__generation: (a: number) => number;
    readonly browsertokenclient__memo: (a: number, b: any, c: number, d: number) => any;
    readonly browsertokenclient_callFunction: (a: number, b: number, c: number, d: any, e: number, f: number) => any;
    readonly browsertokenclient_close: (a: number) => void;
    readonly browsertokenclient_completeConnect: (a: number, b: number, c: number) => any;
    readonly browsertokenclient_connect: (a: number, b: number, c: number, d: number) => any;
    readonly browsertokenclient_connections: (a: number) => any;
    readonly browsertokenclient_disconnect: (a: number, b: number, c: number) => any;
    readonly browsertokenclient_fetch: (a: number, b: number, c: number, d: number, e: number) => any;
    readonly browsertokenclient_getAccessToken: (a: number, b: number) => any;
    readonly browsertokenclient_new: (a: any) => [number, number, number];
    readonly browsertokenclient_observeResponse: (a: number, b: any) => void;
    readonly browsertokenclient_offChange: (a: number, b: any) => void;
    readonly browsertokenclient_onChange: (a: number, b: any) => any;
    readonly browsertokenclient_reset: (a: number) => void;
    readonly browsertokenclient_tokenInfo: (a: number, b: number, c: number) => any;
    readonly errorCodes: () => any;
    readonly formatMarker: (a: number) => [number, number];
    readonly markerHeader: () => [number, number];
    readonly markerIsNewer: (a: number, b: number, c: number, d: number) => number;
    readonly parseMarker: (a: number, b: number) => [number, number];
    readonly wasm_bindgen__convert__closures_____invoke__h60702a48838d1764: (a: number, b: number, c: any) => [number, number];
    readonly wasm_bindgen__convert__closures_____invoke__hb98d63cc49481475: (a: number, b: number, c: any, d: any) => void;
    readonly wasm_bindgen__convert__closures_____invoke__hef4160e7b650d91b: (a: number, b: number, c: any) => void;
    readonly wasm_bindgen__convert__closures_____invoke__h2234b58cc400b040: (a: number, b: number) => void;
    readonly __wbindgen_malloc: (a: number, b: number) => number;
    readonly __wbindgen_realloc: (a: number, b: number, c: number, d: number) => number;
    readonly __wbindgen_free: (a: number, b: number, c: number) => void;
    readonly __wbindgen_exn_store: (a: number) => void;
    readonly __externref_table_alloc: () => number;
    readonly __wbindgen_externrefs: WebAssembly.Table;
    readonly __wbindgen_destroy_closure: (a: number, b: number) => void;
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
