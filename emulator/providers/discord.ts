// Discord under /discord: discord.com/oauth2/authorize, discord.com/api/oauth2/token
// and /token/revoke, and discord.com/api/users/@me (an API version such as
// /api/v10/ is accepted too). Sources:
//  - Discord "OAuth2" (discord.com/developers/docs/topics/oauth2): "OAuth2 URLs"; the token and revocation
//    URLs accept only application/x-www-form-urlencoded; "Authorization Code Grant": HTTP Basic or
//    client_id/client_secret in the body, state echoed, prompt; "Access Token Response": token_type Bearer,
//    expires_in 604800, refresh_token, scope; a refresh answers a fresh access token response, with a new
//    refresh token (the used one stops working; reuse is invalid_grant); "Token Revocation": token and
//    token_type_hint; revoking either token revokes every token of that authorization.
//  - discord.com/.well-known/oauth-authorization-server: code_challenge_methods_supported ["S256"]; token and
//    revocation auth methods client_secret_basic, client_secret_post and none (public clients with PKCE).
//  - Discord "User" resource, "Get Current User" (/users/@me): needs identify; email only with email.
//  - RFC 7009 §2.2: an unknown token is answered 200 as well.
import { identity } from "../accounts.ts";
import { authorize, type AuthorizeSpec } from "../authorize.ts";
import { authenticate, clientAuth, clientOk, formOf, isForm, json, scopesOf } from "../grants.ts";
import type { EmulatorState } from "../state.ts";
import { tokenBody, tokenEndpoint, type TokenEndpointSpec } from "../token_endpoint.ts";

export const DISCORD_AUTHORIZE: AuthorizeSpec = {
  provider: "discord",
  title: "Discord",
  accountLabel: "Email",
  defaultAccount: "dev@example.com",
  pkceMethods: ["S256"],
  scopeRequired: true,
  keep: ["prompt"],
  badClient: [400, "Unknown Application"],
  badRedirect: [400, "Invalid OAuth2 redirect_uri"],
};

const invalid = (what: string) => `Invalid "${what}" in request.`;

export const DISCORD_TOKEN: TokenEndpointSpec = {
  provider: "discord",
  failures: {
    code: invalid("code"),
    redirect: invalid("redirect_uri"),
    verifier: invalid("code_verifier"),
    refresh: invalid("refresh_token"),
  },
  badClient: [401, "Unknown client"],
  publicClients: true,
  formOnly: true,
  repeatRefreshToken: true,
};

/** What the control API hands a test that skips the consent page. */
export function discordGrant(s: EmulatorState, email: string, scope: string): Record<string, unknown> {
  return tokenBody(DISCORD_TOKEN, s, s.createGrant(email, scope, { provider: "discord" }), true, null);
}

const unauthorized = () => json(401, { message: "401: Unauthorized", code: 0 });

async function revoke(s: EmulatorState, req: Request): Promise<Response> {
  if (!isForm(req)) {
    return json(400, { error: "invalid_request", error_description: "Content-Type must be form-urlencoded" });
  }
  const form = await formOf(req);
  const client = clientAuth(req, form);
  if (!clientOk(s, "discord", client, true)) return json(401, { error: "invalid_client" });
  const token = form.get("token") ?? "";
  const grant = s.grants.get(s.byRefresh.get(token) ?? s.accessTokens.get(token)?.grantId ?? "");
  if (grant && grant.provider === "discord" && grant.clientId === client!.id && !grant.revoked) {
    s.count("discord", "revocations");
    s.revokeGrant(grant);
  }
  return json(200, {});
}

function me(s: EmulatorState, req: Request): Response {
  s.count("discord", "userinfoCalls");
  const auth = authenticate(s, "discord", req);
  const scopes = scopesOf(auth?.grant.scope ?? "");
  if (!auth || !scopes.includes("identify")) return unauthorized();
  const id = identity(auth.grant.email);
  return json(200, {
    id: id.longId.slice(0, 18),
    username: id.login,
    discriminator: "0",
    global_name: id.name,
    avatar: null,
    mfa_enabled: false,
    locale: "en-US",
    flags: 0,
    premium_type: 0,
    public_flags: 0,
    ...(scopes.includes("email") ? { email: id.email, verified: true } : {}),
  });
}

export async function discord(s: EmulatorState, req: Request, path: string): Promise<Response | null> {
  if (path === "/discord/oauth2/authorize") return await authorize(s, DISCORD_AUTHORIZE, req);
  const api = path.replace(/^\/discord\/api(\/v\d+)?\//, "/");
  if (api === path) return null;
  if (api === "/oauth2/token") return await tokenEndpoint(DISCORD_TOKEN, s, req);
  if (api === "/oauth2/token/revoke") return await revoke(s, req);
  if (api === "/users/@me") return me(s, req);
  return null;
}
