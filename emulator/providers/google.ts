// Google's authorization page, its OpenID Connect user info and the id_token
// of its token endpoint. Sources:
//  - "Using OAuth 2.0 for Web Server Applications" (developers.google.com/identity/protocols/oauth2/web-server),
//    Step 1 "Set authorization parameters" (response_type, redirect_uri, scope required; access_type,
//    prompt, include_granted_scopes, login_hint; code_challenge_method S256 or plain) and
//    "Authorization errors" (invalid_client, redirect_uri_mismatch are shown to the user);
//  - "OpenID Connect" (developers.google.com/identity/openid-connect/openid-connect), "An ID token's
//    payload" and "Obtaining user profile information"; OpenID Connect Core 1.0 §2, §5.1, §5.4.
import { Buffer } from "node:buffer";
import { createHmac } from "node:crypto";
import { identity } from "../accounts.ts";
import type { AuthorizeSpec } from "../authorize.ts";
import { authenticate, json, scopesOf } from "../grants.ts";
import type { EmulatorState, Grant } from "../state.ts";

export const GOOGLE_AUTHORIZE: AuthorizeSpec = {
  provider: "google",
  title: "Google",
  accountLabel: "Email",
  defaultAccount: "dev@example.com",
  accountHint: "login_hint",
  pkceMethods: ["S256", "plain"],
  scopeRequired: true,
  keep: ["access_type", "prompt", "include_granted_scopes", "nonce"],
  badClient: [401, "Error 401: invalid_client. The OAuth client was not found."],
  badRedirect: [
    400,
    "Error 400: redirect_uri_mismatch. The redirect URI in the request is missing or invalid.",
  ],
  // Google's redirects carry iss=https://accounts.google.com (RFC 9207).
  issuer: true,
};

/** The OIDC claims the grant's scopes release (OIDC Core §5.4: email → email, email_verified; profile → name, picture). */
function claims(grant: Grant): Record<string, unknown> {
  const id = identity(grant.email);
  const scopes = scopesOf(grant.scope);
  const profile = scopes.includes("profile") ||
    scopes.includes("https://www.googleapis.com/auth/userinfo.profile");
  const email = scopes.includes("email") || scopes.includes("https://www.googleapis.com/auth/userinfo.email");
  return {
    sub: id.longId,
    ...(email ? { email: id.email, email_verified: true } : {}),
    ...(profile ? { name: id.name, picture: `https://lh3.googleusercontent.com/a/emu-${id.numericId}` } : {}),
  };
}

/** GET /v1/userinfo (openidconnect.googleapis.com/v1/userinfo): the claims of the token's grant. */
export function userinfo(s: EmulatorState, req: Request): Response {
  s.count("google", "userinfoCalls");
  const auth = authenticate(s, "google", req);
  if (!auth) {
    return json(401, { error: "invalid_request", error_description: "Invalid Credentials" }, {
      "www-authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"',
    });
  }
  return json(200, claims(auth.grant));
}

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

/**
 * The id_token of a token response whose scope has openid: iss https://accounts.google.com, aud and azp the
 * client, sub, the scope's claims, iat/exp, and the request's nonce. HS256 with the client secret as the key
 * (OIDC Core §10.1); a client that got it straight from the token endpoint may read it unverified (§3.1.3.7).
 */
export function idToken(
  s: EmulatorState,
  grant: Grant,
  nonce: string | undefined,
  now: number,
): string | undefined {
  if (!scopesOf(grant.scope).includes("openid")) return undefined;
  const iat = Math.floor(now / 1000);
  const payload = {
    iss: "https://accounts.google.com",
    azp: grant.clientId,
    aud: grant.clientId,
    ...claims(grant),
    ...(nonce ? { nonce } : {}),
    iat,
    exp: iat + 3600,
  };
  const input = `${b64url({ alg: "HS256", typ: "JWT" })}.${b64url(payload)}`;
  const signature = createHmac("sha256", s.config.clientSecret).update(input).digest("base64url");
  return `${input}.${signature}`;
}

/** What Google hands Supabase at sign-in: a new grant with a refresh token (POST /control/grant). */
export function googleGrant(s: EmulatorState, email: string, scope: string): Record<string, unknown> {
  const grant = s.createGrant(email, scope);
  const at = s.issueAccessToken(grant, Date.now());
  return {
    access_token: at.token,
    refresh_token: grant.refreshToken,
    expires_in: at.expiresIn,
    scope: grant.scope,
  };
}
