// The Supabase Auth stand-in's model (users, identities, flows, sessions), its
// options and counters, its errors and small helpers; see supabase_auth.ts.

export interface AuthProvider {
  authUrl: string;
  tokenUrl: string;
  userinfoUrl: string;
  clientId: string;
  clientSecret: string;
  /** How the token endpoint wants the client: HTTP Basic, or client_id/client_secret in the body (GitHub). */
  clientAuth: "basic" | "body";
  /** GoTrue's scopes for the provider, before the ones the app asks for. */
  scopes: string[];
  /** How to read the user info. */
  identity: "oidc" | "spotify" | "discord" | "github";
}

export interface AuthStandInOptions {
  /** The project URL the browser sees (`supabaseUrl`); the issuer is `<url>/auth/v1`. */
  url: string;
  jwtSecret: string;
  /** The `apikey` values the API gateway accepts (publishable and secret keys). */
  apiKeys: string[];
  /** Where to send the browser when redirect_to is missing or not allowed. */
  siteUrl: string;
  /** Origins redirect_to may point at besides the site URL's. */
  redirectOrigins?: string[];
  providers: Record<string, AuthProvider>;
  /**
   * Users that exist already (auth.users rows), found by email; `appMetadata`
   * is what an operator set with the admin API (e.g. {role: "admin"}), carried
   * in the user's access tokens' app_metadata claim as Supabase does.
   */
  users?: { id: string; email: string; appMetadata?: Record<string, unknown> }[];
  /** Called for every user the stand-in creates (the dev stack adds it to auth.users). */
  onUser?: (user: { id: string; email: string | null }) => Promise<void> | void;
  accessTokenSeconds?: number;
}

export interface Identity {
  identity_id: string;
  id: string;
  user_id: string;
  identity_data: Record<string, unknown>;
  provider: string;
  email: string | null;
  last_sign_in_at: string;
  created_at: string;
  updated_at: string;
}

export interface User {
  id: string;
  email: string | null;
  created_at: string;
  updated_at: string;
  last_sign_in_at: string | null;
  user_metadata: Record<string, unknown>;
  /** app_metadata set by an operator (beside provider/providers, which Auth keeps). */
  app_metadata?: Record<string, unknown>;
  identities: Identity[];
}

export interface Flow {
  id: string;
  provider: string;
  redirectTo: string;
  challenge: string | null;
  method: "s256" | "plain" | null;
  linkUserId: string | null;
  expiresAt: number;
  /** Set by the callback (PKCE): the code for /token and what it hands over. */
  authCode?: string;
  userId?: string;
  providerToken?: string;
  providerRefreshToken?: string;
}

export interface Session {
  id: string;
  userId: string;
  /** The refresh token in use; older ones of the session are revoked. */
  current: string;
}

export interface AuthCounters {
  authorize: number;
  linkAuthorize: number;
  callbacks: number;
  pkceGrants: number;
  refreshGrants: number;
  logouts: number;
  userCalls: number;
}

export const FLOW_SECONDS = 300;
/** GoTrue lets a just-rotated refresh token be used again this long (tabs refreshing at once). */
export const REUSE_INTERVAL_MS = 10_000;

export const now = () => new Date().toISOString();
export const randomToken = (bytes = 24) =>
  btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(bytes))))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

export async function s256(verifier: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  return btoa(String.fromCharCode(...digest)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export class AuthError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

/** GoTrue's error status → the OAuth error a redirect carries (errors.go oauthErrorMap). */
export const OAUTH_ERROR: Record<number, string> = {
  400: "invalid_request",
  401: "unauthorized_client",
  403: "access_denied",
  422: "invalid_request",
  500: "server_error",
  501: "temporarily_unavailable",
};
