// oauth-token-manager/supabase: supabase-js glue for the browser client.
import type { SupabaseClient } from "@supabase/supabase-js";
import type { BrowserClientOptions, StatusReport } from "../pkg/browser/oauth_token_manager_browser.js";
import type { BrowserTokenClient } from "./client.js";

/** What the adapter uses of a supabase-js client (any `SupabaseClient` fits). */
export interface SupabaseAuthClient {
  auth: Pick<
    SupabaseClient["auth"],
    "onAuthStateChange" | "getSession" | "getUserIdentities" | "signInWithOAuth" | "linkIdentity"
  >;
}

/** How to connect one Supabase Auth provider, and which connection its tokens are stored as. */
export interface SupabaseProviderOptions {
  /** The connection id in the functions' OAUTH_PROVIDERS (default: the Supabase provider name). */
  connection?: string;
  /** Scopes to ask for beyond Supabase's defaults for the provider, space-separated. */
  scopes?: string;
  /** Authorization request parameters, added to the provider's defaults (Google: access_type=offline, prompt=consent, include_granted_scopes=true). */
  queryParams?: Record<string, string>;
}

/** Where the adapter keeps what it must remember across reloads and tabs (never a token). */
export interface AdapterStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface AttachOptions {
  /**
   * The Supabase Auth providers whose tokens are stored, by Supabase's
   * provider name (`google`, `spotify`, `discord`, `github`, …). Default:
   * `{ google: {} }`. Sign-ins with other providers are left alone.
   */
  providers?: Record<string, SupabaseProviderOptions>;
  /**
   * Where connect() returns to (default: this page without its fragment and without an earlier return's
   * `error`, `code` and `sb` parameters; Supabase falls back to the Site URL).
   */
  redirectTo?: string;
  /** Default: localStorage (shared by the tabs), else memory. */
  storage?: AdapterStorage;
  /** The pending connect, per tab. Default: sessionStorage, else `storage`. */
  pendingStorage?: AdapterStorage;
  /** Provider tokens were stored; `status` is the connection's status (never a token). */
  onStored?: (result: { provider: string; connection: string; status: StatusReport }) => void;
  /**
   * Storing failed (default: console.error); the next SIGNED_IN carrying the same tokens tries again,
   * unless the functions refused it for good (a 4xx other than 401, 408 and 429).
   */
  onError?: (error: unknown, about: { provider: string; connection: string }) => void;
}

export interface ConnectOptions {
  /** More scopes for this connect, space-separated. */
  scopes?: string;
  /** More authorization request parameters for this connect. */
  queryParams?: Record<string, string>;
  /** Where to come back to (default: the attach option, else this page). */
  redirectTo?: string;
  /** Do not leave the page; `url` is where the browser would go. */
  skipBrowserRedirect?: boolean;
}

export interface SupabaseConnections {
  /**
   * Connects (or reconnects) a provider through Supabase Auth:
   * signInWithOAuth when signed out or when the provider is already linked,
   * linkIdentity when signed in without it. In a browser the page leaves
   * for the provider; back on it, the tokens are stored once.
   */
  connect(
    provider: string,
    options?: ConnectOptions,
  ): Promise<{ provider: string; method: "signInWithOAuth" | "linkIdentity"; url: string | null }>;
  /** Resolves when every store started so far has finished. */
  settled(): Promise<void>;
  /** Stops listening to supabase-js. */
  detach(): void;
}

/** Google's parameters for a refresh token; other providers need none. */
export const PROVIDER_DEFAULTS: Readonly<Record<string, Readonly<SupabaseProviderOptions>>>;

/**
 * The signed-in user's Supabase access token, or "" when signed out: the browser client's `getSessionToken`.
 * When supabase-js could not reach Supabase Auth to refresh the session it throws an error with
 * `code: "AUTH_UNAVAILABLE"`, which the client reports as that retryable code, not as a sign-out.
 */
export function sessionToken(
  supabase: { auth: Pick<SupabaseClient["auth"], "getSession"> },
): () => Promise<string>;

/** The browser client's options with `getSessionToken` read from supabase-js. */
export function browserClientOptions(
  supabase: { auth: Pick<SupabaseClient["auth"], "getSession"> },
  options: Omit<BrowserClientOptions, "getSessionToken">,
): BrowserClientOptions;

/**
 * Stores provider tokens once at SIGNED_IN (after signInWithOAuth or
 * linkIdentity), resets the client at SIGNED_OUT and when the user changes,
 * and connects providers through Supabase Auth.
 */
export function attachSupabase(
  supabase: SupabaseAuthClient,
  client: Pick<BrowserTokenClient, "callFunction" | "reset">,
  options?: AttachOptions,
): SupabaseConnections;
