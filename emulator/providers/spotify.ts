// Spotify under /spotify: accounts.spotify.com/authorize and /api/token, and
// api.spotify.com/v1/me. No revocation endpoint (Spotify documents none; the
// path answers 404). Sources (developer.spotify.com/documentation/web-api):
//  - "Authorization Code Flow": /authorize with client_id, response_type=code, redirect_uri (required,
//    exactly as registered), state, scope (optional); a denied request redirects with error=access_denied
//    and the state; the token request authenticates with "Authorization: Basic <client_id:client_secret>".
//  - "Authorization Code with PKCE Flow": code_challenge_method=S256; the token request and refreshes send
//    client_id in the body instead of the Basic header, with code_verifier.
//  - "Refreshing tokens": access tokens last 1 hour (expires_in 3600); the refresh answer may carry a new
//    refresh token; without one, the client keeps the one it has (here: none by default; /control/config
//    {provider: "spotify", rotation: true} returns a new one each time and the used one dies).
//  - "Get Current User's Profile" (GET /v1/me): email with user-read-email; country, product and
//    explicit_content with user-read-private.
import { identity } from "../accounts.ts";
import { authorize, type AuthorizeSpec } from "../authorize.ts";
import { authenticate, json, scopesOf } from "../grants.ts";
import type { EmulatorState } from "../state.ts";
import { tokenBody, tokenEndpoint, type TokenEndpointSpec } from "../token_endpoint.ts";

export const SPOTIFY_AUTHORIZE: AuthorizeSpec = {
  provider: "spotify",
  title: "Spotify",
  accountLabel: "Email",
  defaultAccount: "dev@example.com",
  pkceMethods: ["S256"],
  badClient: [400, "INVALID_CLIENT: Invalid client"],
  badRedirect: [400, "INVALID_CLIENT: Invalid redirect URI"],
};

export const SPOTIFY_TOKEN: TokenEndpointSpec = {
  provider: "spotify",
  failures: {
    code: "Invalid authorization code",
    redirect: "Invalid redirect URI",
    verifier: "code_verifier was incorrect",
    refresh: "Invalid refresh token",
  },
  detail: {
    code_expired: "Authorization code expired",
    verifier_missing: "code_verifier required",
    refresh_expired: "Refresh token expired",
    revoked: "Refresh token revoked",
  },
  badClient: [400, "Invalid client"],
  publicClients: true,
  basicOnly: true,
};

/** What the control API hands a test that skips the consent page. */
export function spotifyGrant(s: EmulatorState, email: string, scope: string): Record<string, unknown> {
  return tokenBody(SPOTIFY_TOKEN, s, s.createGrant(email, scope, { provider: "spotify" }), true, null);
}

function me(s: EmulatorState, req: Request): Response {
  s.count("spotify", "userinfoCalls");
  const auth = authenticate(s, "spotify", req);
  if (!auth) return json(401, { error: { status: 401, message: "Invalid access token" } });
  const id = identity(auth.grant.email);
  const scopes = scopesOf(auth.grant.scope);
  const priv = scopes.includes("user-read-private");
  return json(200, {
    ...(priv ? { country: "SE", product: "premium" } : {}),
    display_name: id.name,
    ...(scopes.includes("user-read-email") ? { email: id.email } : {}),
    ...(priv ? { explicit_content: { filter_enabled: false, filter_locked: false } } : {}),
    external_urls: { spotify: `https://open.spotify.com/user/${id.login}` },
    followers: { href: null, total: 0 },
    href: `https://api.spotify.com/v1/users/${id.login}`,
    id: id.login,
    images: [],
    type: "user",
    uri: `spotify:user:${id.login}`,
  });
}

export async function spotify(s: EmulatorState, req: Request, path: string): Promise<Response | null> {
  if (path === "/spotify/authorize") return await authorize(s, SPOTIFY_AUTHORIZE, req);
  if (path === "/spotify/api/token") return await tokenEndpoint(SPOTIFY_TOKEN, s, req);
  if (path === "/spotify/v1/me") return me(s, req);
  return null;
}
