// Types of js/client.js: the browser's token client, the I/O around the
// browser build's ClientCore.
import type {
  BrowserClientOptions,
  BrowserToken,
  ClientChange,
  DisconnectReport,
  ErrorCode,
  StatusReport,
} from "../pkg/browser/oauth_token_manager_browser.js";

/** Hands the client the ClientCore class of a loaded browser build (js/browser.js does). */
export function useCore(core: new (options: BrowserClientOptions) => unknown): void;

export class BrowserTokenClient {
  /**
   * Closes the client and frees its module memory: at once, or when the
   * calls under way have settled (they still answer). Every later call fails
   * with CONFIG.
   */
  free(): void;
  /**
   * Calls an edge function with the session JWT and JSON; observes its
   * marker. Rejects with a `TokenManagerError` carrying the server's code.
   * `options.session`: this session JWT rather than getSessionToken's (a
   * sign-in event's own, for what belongs to that user).
   */
  callFunction(
    name: string,
    // deno-lint-ignore no-explicit-any
    body?: any,
    method?: string | null,
    options?: { session?: string },
    // deno-lint-ignore no-explicit-any
  ): Promise<any>;
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
  completeConnect(
    url?: string | null,
  ): Promise<
    | { provider: string; status: StatusReport | null; error: { code: ErrorCode; message: string } | null }
    | null
  >;
  /**
   * Connect or reconnect a provider: asks the functions for the
   * authorization URL (state and PKCE stay on the server) and, in a
   * browser, goes there. Back on `returnTo` (default: this page), call
   * `completeConnect()`.
   */
  connect(
    provider: string,
    options?: { returnTo?: string; scopes?: string[]; navigate?: boolean },
  ): Promise<{ authorizationUrl: string }>;
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
   * 401, with a forced refresh unless a newer token came meanwhile. The
   * retry is the same user's: after a sign-out or another user's sign-in
   * meanwhile, the 401 is the answer. `options.provider` names the connection.
   * A `Request` keeps its own headers unless `init` gives headers (which
   * replace them, as in `fetch`), and the retry resends its body from a copy.
   * A stream given as `init.body` is sent once: a 401 on it is the answer.
   */
  fetch(
    input: string | URL | Request,
    init?: RequestInit,
    options?: string | { provider?: string } | null,
  ): Promise<Response>;
  /**
   * A valid access token for a connection (`"spotify"` or `{ provider }`, default `google`):
   * cached, or one call to its token function shared by all callers.
   * `getSessionToken` is asked once per call. While the token is unchanged
   * the same frozen object is returned. `force` after a provider's 401,
   * with `rejectedRefreshedAt` (the rejected token's `tokenRefreshedAt`): a
   * token refreshed after it (another tab's answer to the same 401) is
   * answered instead of a new refresh.
   */
  getAccessToken(
    options?: string | { force?: boolean; provider?: string; rejectedRefreshedAt?: number | string } | null,
  ): Promise<BrowserToken>;
  constructor(options: BrowserClientOptions);
  /**
   * Reads `X-Token-Refreshed-At` (and `X-Token-Connection`) from an
   * edge-function response. `options.session`: the session JWT the request
   * was made with (a response of another user's request changes nothing);
   * without it, the current user's.
   */
  observeResponse(
    response: Response | { headers: { get(name: string): string | null } },
    options?: { session?: string },
  ): void;
  offChange(listener: (change: ClientChange) => void): void;
  /**
   * Listens for token, marker, reset and error changes. Returns a function
   * that stops listening.
   */
  onChange(listener: (change: ClientChange) => void): () => void;
  /**
   * Sign-out: drops this tab's tokens and tells this user's other tabs to
   * drop theirs. Call it on Supabase's `SIGNED_OUT`. `options.user`: only
   * that user is gone (another user signed in over it): its tabs drop their
   * tokens, and this tab does only if it is still that user's.
   */
  reset(options?: { user?: string }): void;
  /**
   * What the client holds for a connection (default `google`), without the token.
   */
  tokenInfo(
    provider?: string | { provider?: string } | null,
  ): { hasToken: boolean; expiresAt: number | null; tokenRefreshedAt: string | null };
}

/**
 * Every error code with its properties.
 */
