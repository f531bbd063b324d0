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



export interface ProviderConfig {
    /** Built-in template (google, google-calendar, gmail, youtube, spotify, discord, github, github-app, rfc6749); defaults to the provider's key. */
    template?: string;
    clientId: string;
    clientSecret?: string;
    /** Overriding it drops the template's other endpoints unless they are configured too. */
    tokenUrl?: string;
    /** The authorization endpoint (needed to connect). */
    authUrl?: string;
    /** The issuer its authorization responses carry as `iss` (RFC 9207), checked at the callback against mix-ups; Google's is built in; "" for none. */
    issuer?: string;
    /** The server's responses always carry `iss` (its metadata says `authorization_response_iss_parameter_supported`, RFC 9207 §3): one without is refused (§2.4). Needs `issuer`. */
    issuerRequired?: boolean;
    /** How the provider revokes a grant on disconnect. */
    revocation?: "rfc7009" | "google" | "github-grant" | "none";
    /** For github-grant it holds `{client_id}`. */
    revocationUrl?: string;
    userinfoUrl?: string;
    /** How to read the user-info answer. */
    identity?: "oidc" | "spotify" | "discord" | "github";
    /** Scopes a connect asks for by default. */
    scopes?: string[] | string;
    /** Extra authorization request parameters, over the template's own (Google's access_type=offline, prompt=consent): a key given here replaces the template's value; "" removes it. */
    authParams?: Record<string, string>;
    clientAuth?: "basic" | "body" | "none" | "client_secret_basic" | "client_secret_post";
    rotation?: "reusable" | "single-use";
    accessTokensExpire?: boolean;
    refreshMarginSeconds?: number;
    defaultExpiresInSeconds?: number;
    /** The background refresher refreshes a connection idle this long even while its token is valid (providers revoke unused grants); 0 turns it off. Default 30 days. */
    keepAliveSeconds?: number;
    /** How long before a known refresh-token end the status warns "reconnect before …". Default 3 days. */
    refreshTokenWarningSeconds?: number;
}

/** A provider's upkeep windows, for the background refresher. */
export interface ProviderUpkeep {
    provider: string;
    /** null: keep-alive is off. */
    keepAliveSeconds: number | null;
    refreshTokenWarningSeconds: number;
}

export interface ManagerConfig {
    providers: Record<string, ProviderConfig>;
    /** AES-256 keys, 32 bytes as base64 or 64 hex digits. The first seals; all open. */
    encryptionKeys: { id: string; key: string }[];
    refreshMarginSeconds?: number;
    requestTimeoutMs?: number;
    maxAttempts?: number;
    backoffBaseMs?: number;
    backoffCapMs?: number;
    cooldownBaseMs?: number;
    cooldownCapMs?: number;
    exhaustedAfter?: number;
    leaseMs?: number;
}

/** A stored connection. Tokens are sealed; instants are epoch milliseconds. */
export interface ConnectionRow {
    userId: string;
    provider: string;
    accessTokenSealed: string | null;
    refreshTokenSealed: string | null;
    expiresAt: number | null;
    refreshTokenExpiresAt: number | null;
    scope: string | null;
    status: ConnectionStatus;
    lastErrorCode: string | null;
    lastErrorMessage: string | null;
    lastErrorAt: number | null;
    failureCount: number;
    cooldownUntil: number | null;
    tokenRefreshedAt: number | null;
    version: number;
    leaseOwner: string | null;
    leaseUntil: number | null;
    accountId?: string | null;
    accountEmail?: string | null;
    accountName?: string | null;
    /**
     * The SHA-256 (base64url) of the access token of the last sign-in stored:
     * a saveTokens write that has one sets it, everything else leaves it. Optional: a
     * store without it stores the same sign-in's tokens again when they are resent.
     */
    signinDigest?: string | null;
}

/** A connect in progress; instants are epoch milliseconds. */
export interface ConnectAttempt {
    stateHash: string;
    userId: string;
    provider: string;
    verifierSealed: string;
    redirectUri: string;
    returnTo: string;
    scopes: string[];
    createdAt: number;
    expiresAt: number;
    codeSealed: string | null;
    ticketHash: string | null;
}

export interface TokenWrite {
    userId: string;
    provider: string;
    accessTokenSealed: string;
    refreshTokenSealed: string | null;
    expiresAt: number | null;
    refreshTokenExpiresAt: number | null;
    scope: string | null;
    refreshedAt: number;
    /** null keeps what is stored; only sign-ins and connects set them. */
    accountId: string | null;
    accountEmail: string | null;
    accountName: string | null;
    /**
     * saveTokens only (a sign-in without a refresh token): keep the refresh
     * token the row holds when the write lands, and its end and lease, over
     * `refreshTokenSealed` (the one read before: a refresh may have rotated it
     * since, or another sign-in's insert brought it), when the row's
     * `accountId` is the write's or either is null. A store that ignores it
     * writes the copy, as before.
     */
    keepStoredRefreshToken?: boolean;
    /**
     * saveTokens only: a new grant whose account could not be read. The
     * account columns take the write's (null) instead of keeping the stored
     * ones, which name whoever held the grant before. A store that ignores it
     * keeps them, as before.
     */
    forgetStoredAccount?: boolean;
    /** saveTokens only: the row's `signinDigest` after this write; absent: keep the row's. */
    signinDigest?: string | null;
}

export interface FailureWrite {
    userId: string;
    provider: string;
    owner: string;
    status: ConnectionStatus;
    code: ErrorCode;
    message: string;
    at: number;
    failureCount: number;
    cooldownUntil: number | null;
    /** The grant is dead: erase the stored refresh token (keep the row and its status). */
    eraseRefreshToken: boolean;
    /**
     * Write only while the row's version is still this one (a refresh's failure must not land on tokens saved
     * since it began); null: always. A store that ignores it behaves as before this field existed.
     */
    expectedVersion?: number | null;
}

export interface RefreshEvent {
    userId: string;
    provider: string;
    kind: "refreshed" | "failed" | "connected" | "insufficient_scope" | "rotation_not_saved" | "rotation_saved_late" | "rotation_kept" | "lease_lost" | "store_failed" | "stored" | "disconnected" | "recovered";
    code: ErrorCode | null;
    message: string | null;
    at: number;
    durationMs: number | null;
    attempts: number | null;
    rotated: boolean | null;
    scopesAdded?: string[];
    scopesRemoved?: string[];
    instance: string;
}

export type LeaseOutcome =
| { outcome: "acquired"; row: ConnectionRow }
| { outcome: "busy"; row: ConnectionRow }
| { outcome: "missing" };

/** The store contract. Each method is one atomic step; it only sees sealed tokens. */
export interface TokenStore {
    load(a: { userId: string; provider: string }): Promise<ConnectionRow | null> | ConnectionRow | null;
    /** Take the lease when free or expired (leaseUntil <= now), in one statement. */
    tryLease(a: { userId: string; provider: string; owner: string; now: number; until: number }): Promise<LeaseOutcome> | LeaseOutcome;
    /** Write only if version === expectedVersion; bump version, set tokenRefreshedAt = write.refreshedAt, status connected, clear error, cooldown and lease. A row flagged needs_reauth with lastErrorCode INSUFFICIENT_SCOPE keeps its status and error (a refresh cannot add scopes): in the same write, so no status change is seen in between. */
    /**
     * With `event` (given only when `commitsEvents` is true), record it in the
     * same write, and only if the tokens were written.
     */
    commitRefresh(a: { write: TokenWrite; expectedVersion: number; event?: RefreshEvent }): Promise<boolean> | boolean;
    /** True: commitRefresh records the event it is given, saving a round trip per refresh. */
    readonly commitsEvents?: boolean;
    /** Record a failure, release the owner's lease, and erase the refresh token when `eraseRefreshToken`. */
    recordFailure(f: FailureWrite): Promise<void> | void;
    releaseLease(a: { userId: string; provider: string; owner: string }): Promise<void> | void;
    /** Upsert tokens from a sign-in, as commitRefresh does but unconditionally. */
    saveTokens(w: TokenWrite): Promise<ConnectionRow> | ConnectionRow;
    disconnect(a: { userId: string; provider: string; at: number }): Promise<void> | void;
    appendEvent(e: RefreshEvent): Promise<void> | void;
    listExpiring(a: { before: number; now: number; limit: number }): Promise<{ userId: string; provider: string }[]> | { userId: string; provider: string }[];
    /**
     * Connect only: record an attempt. Bound what one user can hold: the
     * package's stores keep a user's 20 newest (MAX_CONNECTS_PER_USER),
     * evicting expired ones first, then the oldest not yet claimed.
     */
    putConnect?(a: ConnectAttempt): Promise<void> | void;
    /** Connect only, one statement: claim the attempt with this state once, attaching code and ticket. */
    claimConnect?(a: { stateHash: string; codeSealed: string | null; ticketHash: string | null; now: number }):
    | Promise<{ outcome: "claimed" | "used"; attempt: ConnectAttempt } | { outcome: "missing" }>
    | { outcome: "claimed" | "used"; attempt: ConnectAttempt } | { outcome: "missing" };
    /** Connect only: remove and return the attempt with this ticket. */
    takeConnect?(a: { ticketHash: string }): Promise<ConnectAttempt | null> | ConnectAttempt | null;
    /** Every connection of a user. */
    loadAll?(a: { userId: string }): Promise<ConnectionRow[]> | ConnectionRow[];
}

export interface ManagerOptions {
    /** Defaults to globalThis.fetch. */
    fetch?: (input: string, init: RequestInit) => Promise<Response>;
    /** Called for every refresh outcome; never receives token bytes. */
    onEvent?: (event: RefreshEvent) => void;
}

export interface ValidToken {
    accessToken: string;
    expiresAt: number | null;
    /** The marker as RFC 3339 (the X-Token-Refreshed-At header value). */
    tokenRefreshedAt: string | null;
    tokenRefreshedAtMs: number | null;
    scope: string | null;
    /**
     * This call's own provider request produced the token. Callers that shared
     * another caller's refresh (in this instance or another) get `false`.
     */
    refreshed: boolean;
    /** The token is valid but a refresh failed. */
    warning: { code: ErrorCode; message: string; retryAfter?: number; providerRetryAfter?: number } | null;
}

export interface InitialTokens {
    accessToken: string;
    refreshToken?: string | null;
    /** Seconds from now. */
    expiresIn?: number | null;
    /** Epoch milliseconds; wins over expiresIn. */
    expiresAt?: number | null;
    scope?: string | null;
}

export interface ConnectOptions {
    /** The callback URL registered at the provider. */
    redirectUri: string;
    /** The page to come back to (check it against your allowlist). */
    returnTo: string;
    scopes?: string[] | string;
}

export interface ConnectStart { authorizationUrl: string; expiresAt: number }

export interface ConnectCallbackResult {
    provider: string;
    returnTo: string;
    /** Hand it to the page; it completes the connect with the user's session. */
    ticket: string | null;
    error: { code: ErrorCode; message: string } | null;
}

export interface SweepReport { checked: number; refreshed: number; failed: number; codes: ErrorCode[] }

export interface GetOptions {
    /** Refresh now even if the token looks fresh (after a provider 401). */
    force?: boolean;
    /** Treat tokens expiring within this many seconds as stale. */
    minValiditySeconds?: number;
    /** Epoch ms: no retry of the provider call is started that could end past it (a background job's budget). */
    deadline?: number;
    /**
     * With `force`: the `tokenRefreshedAtMs` of the token the provider
     * rejected. A stored token refreshed after it is another caller's answer
     * to the same 401: served without asking the provider again.
     */
    rejectedRefreshedAt?: number;
}



/**
 * The server-side token manager.
 */
export class TokenManager {
    free(): void;
    /**
     * Connect, step 1 (the user's session): the provider's authorization URL
     * (RFC 6749 §4.1.1 with PKCE S256). Check `returnTo` against your
     * allowlist first.
     */
    beginConnect(user_id: string, provider: string, options: ConnectOptions): Promise<ConnectStart>;
    /**
     * Connect, step 3 (the user's session again): the ticket must be this
     * user's. Exchanges the code, reads who connected, stores the tokens.
     */
    completeConnect(user_id: string, ticket: string): Promise<StatusReport>;
    /**
     * Connect, step 2 (the provider's redirect, no session): consumes the
     * state. Rejects with `CONNECT_STATE_INVALID` for a state it never
     * issued; otherwise says where to send the browser, with a ticket or an error.
     */
    connectCallback(params: { state: string; code?: string | null; error?: string | null; iss?: string | null }): Promise<ConnectCallbackResult>;
    /**
     * Revokes the grant at the provider where it can (RFC 7009, Google,
     * GitHub), then erases the sealed tokens and marks the connection
     * disconnected whatever the provider said; the report says what happened there.
     */
    disconnect(user_id: string, provider: string): Promise<DisconnectReport>;
    /**
     * `getValidToken` for a connection row the caller has just read from the
     * store (a background refresher's claim returns them): the same refresh,
     * lease and checks, without reading the row again.
     */
    getValidTokenFor(row: ConnectionRow, options?: GetOptions | null): Promise<ValidToken>;
    /**
     * A valid access token: cached if fresh, else refreshed once across all callers.
     */
    getValidToken(user_id: string, provider: string, options?: GetOptions | null): Promise<ValidToken>;
    /**
     * Validates the configuration and the store; throws a `TokenManagerError`
     * with code `CONFIG` naming the offending field.
     */
    constructor(config: ManagerConfig, store: TokenStore, options?: ManagerOptions | null);
    /**
     * The provider refused an API call for lack of a scope: marks the
     * connection `needs_reauth` / `INSUFFICIENT_SCOPE` (the token keeps
     * serving the scopes it has) and writes an event.
     */
    recordScopeError(user_id: string, provider: string, missing_scopes: string[]): Promise<StatusReport>;
    /**
     * Background refresher: refreshes up to `limit` (100) connections
     * expiring within `withinSeconds`. Numbers as JavaScript gives them: a
     * missing limit, a fraction or a negative is not wrapped into another.
     */
    refreshExpiring(withinSeconds: number, limit?: number | null): Promise<SweepReport>;
    /**
     * Every configured provider's status for the user (`disconnected` where none).
     */
    statusAll(user_id: string): Promise<StatusReport[]>;
    /**
     * Status, expiry, marker, scopes and last error. Never a token.
     */
    status(user_id: string, provider: string): Promise<StatusReport>;
    /**
     * Saves the tokens a sign-in returned (Supabase `provider_token` / `provider_refresh_token`).
     * The same sign-in's tokens sent again (the same access token: a retry
     * after an answer lost on the way) write nothing and answer the status as
     * it is, unless they bring the refresh token a working grant lacks.
     */
    storeTokens(user_id: string, provider: string, tokens: InitialTokens): Promise<StatusReport>;
    /**
     * This instance's id, the prefix of its lease owner ids.
     */
    readonly instanceId: string;
    /**
     * The refresh lease in milliseconds, as derived from the timeout and
     * retry policy (or `leaseMs`): the longest one refresh may hold it.
     */
    readonly leaseMs: number;
    /**
     * Each configured provider's keep-alive and warning windows, sorted by
     * id: what the background refresher schedules by.
     */
    readonly providerUpkeep: ProviderUpkeep[];
    /**
     * One provider call's timeout in milliseconds (`requestTimeoutMs`): how
     * long a refresh begun just before a deadline may still run past it.
     */
    readonly requestTimeoutMs: number;
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
    readonly __wbg_tokenmanager_free: (a: number, b: number) => void;
    readonly errorCodes: () => any;
    readonly formatMarker: (a: number) => [number, number];
    readonly markerHeader: () => [number, number];
    readonly markerIsNewer: (a: number, b: number, c: number, d: number) => number;
    readonly parseMarker: (a: number, b: number) => [number, number];
    readonly tokenmanager__fromLoaded: (a: number, b: number, c: number, d: number, e: number, f: any) => any;
    readonly tokenmanager__generation: (a: number) => number;
    readonly tokenmanager__memo: (a: number, b: any, c: number, d: number, e: number, f: number) => any;
    readonly tokenmanager_beginConnect: (a: number, b: number, c: number, d: number, e: number, f: any) => any;
    readonly tokenmanager_completeConnect: (a: number, b: number, c: number, d: number, e: number) => any;
    readonly tokenmanager_connectCallback: (a: number, b: any) => any;
    readonly tokenmanager_disconnect: (a: number, b: number, c: number, d: number, e: number) => any;
    readonly tokenmanager_getValidToken: (a: number, b: number, c: number, d: number, e: number, f: number) => any;
    readonly tokenmanager_getValidTokenFor: (a: number, b: any, c: number) => any;
    readonly tokenmanager_instanceId: (a: number) => [number, number];
    readonly tokenmanager_leaseMs: (a: number) => number;
    readonly tokenmanager_new: (a: any, b: any, c: number) => [number, number, number];
    readonly tokenmanager_providerUpkeep: (a: number) => any;
    readonly tokenmanager_recordScopeError: (a: number, b: number, c: number, d: number, e: number, f: number, g: number) => any;
    readonly tokenmanager_refreshExpiring: (a: number, b: number, c: number, d: number, e: number) => any;
    readonly tokenmanager_requestTimeoutMs: (a: number) => number;
    readonly tokenmanager_status: (a: number, b: number, c: number, d: number, e: number) => any;
    readonly tokenmanager_statusAll: (a: number, b: number, c: number) => any;
    readonly tokenmanager_storeTokens: (a: number, b: number, c: number, d: number, e: number, f: any) => any;
    readonly wasm_bindgen__convert__closures_____invoke__h60702a48838d1764: (a: number, b: number, c: any) => [number, number];
    readonly wasm_bindgen__convert__closures_____invoke__hb98d63cc49481475: (a: number, b: number, c: any, d: any) => void;
    readonly wasm_bindgen__convert__closures_____invoke__h4043de5a458b5651: (a: number, b: number) => void;
    readonly __wbindgen_malloc: (a: number, b: number) => number;
    readonly __wbindgen_realloc: (a: number, b: number, c: number, d: number) => number;
    readonly __wbindgen_free: (a: number, b: number, c: number) => void;
    readonly __wbindgen_exn_store: (a: number) => void;
    readonly __externref_table_alloc: () => number;
    readonly __wbindgen_externrefs: WebAssembly.Table;
    readonly __wbindgen_destroy_closure: (a: number, b: number) => void;
    readonly __externref_table_dealloc: (a: number) => void;
    readonly __externref_drop_slice: (a: number, b: number) => void;
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
