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



export interface LegacyImporterConfig {
    /** The old system's key(s): 32 bytes as 64 hex digits or base64, or a 32-character string. */
    legacyKeys: string[];
    /** The keyring the manager uses; the first key seals. */
    encryptionKeys: { id: string; key: string }[];
}

export interface KeyRotationConfig {
    /** The keyring the manager uses (TOKEN_ENCRYPTION_KEYS): the first key seals, every key opens. */
    encryptionKeys: { id: string; key: string }[];
}



/**
 * A key rotation's second half (`make rekey`): a value sealed with an older
 * key of the ring, opened and sealed again with the current one, bound to
 * the same row and column, so the older key can leave the ring.
 */
export class KeyRotation {
    free(): void;
    /**
     * The key id of a `v1.<kid>.…` value; `undefined` for any other format.
     */
    static keyIdOf(value: string): string | undefined;
    /**
     * Throws `CONFIG` naming the bad field; never echoes key bytes.
     */
    constructor(config: KeyRotationConfig);
    /**
     * The value sealed with the current key, bound to (user, provider,
     * field) as before; `undefined` when it already is. Throws
     * `CRYPTO_UNKNOWN_KEY` (its key is not in the ring), `CRYPTO_INTEGRITY`
     * (not this row's or column's), `CRYPTO_MALFORMED`, `CRYPTO_UNBOUND`.
     */
    rekey(value: string, user_id: string, provider: string, field_name: "access_token" | "refresh_token"): string | undefined;
    /**
     * The key that seals: the ring's first.
     */
    readonly currentKeyId: string;
}

export class LegacyImporter {
    free(): void;
    /**
     * True when the value is in the legacy format.
     */
    static isLegacy(value: string): boolean;
    /**
     * Throws `CONFIG` naming the bad field; never echoes key bytes.
     */
    constructor(config: LegacyImporterConfig);
    /**
     * Opens a legacy value with the legacy key and seals it bound to
     * (user, provider, field). Throws `CRYPTO_MALFORMED` or `CRYPTO_INTEGRITY`.
     */
    reseal(value: string, user_id: string, provider: string, field_name: "access_token" | "refresh_token"): string;
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
    readonly __wbg_keyrotation_free: (a: number, b: number) => void;
    readonly __wbg_legacyimporter_free: (a: number, b: number) => void;
    readonly errorCodes: () => any;
    readonly formatMarker: (a: number) => [number, number];
    readonly keyrotation_currentKeyId: (a: number) => [number, number];
    readonly keyrotation_keyIdOf: (a: number, b: number) => [number, number];
    readonly keyrotation_new: (a: any) => [number, number, number];
    readonly keyrotation_rekey: (a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number, i: number) => [number, number, number, number];
    readonly legacyimporter_isLegacy: (a: number, b: number) => number;
    readonly legacyimporter_new: (a: any) => [number, number, number];
    readonly legacyimporter_reseal: (a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number, i: number) => [number, number, number, number];
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
