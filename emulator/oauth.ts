// Google's token endpoint (POST /token: authorization_code with PKCE and
// refresh_token; client auth by HTTP Basic or in the body) and revocation
// (POST /revoke). Sources: "Using OAuth 2.0 for Web Server Applications"
// (developers.google.com/identity/protocols/oauth2/web-server), Step 5
// "Exchange authorization code for refresh and access tokens", "Offline
// access", "Incremental authorization", "Refreshing an access token" and
// "Revoking a token".
import { formOf, json } from "./grants.ts";
import { idToken } from "./providers/google.ts";
import type { CodeRecord, EmulatorState } from "./state.ts";
import { tokenEndpoint as rfcTokenEndpoint, type TokenEndpointSpec } from "./token_endpoint.ts";

/**
 * The grant a code exchange creates. "Offline access": access_type=offline returns a refresh token the
 * first time the account consents for this client; again only with prompt=consent. "Incremental
 * authorization": include_granted_scopes=true makes the new grant cover what the account already granted.
 */
function grantFor(s: EmulatorState, rec: CodeRecord) {
  const live = s.grantsOf(rec.email).filter((g) => !g.revoked && g.clientId === rec.clientId);
  const consent = (rec.params.prompt ?? "").split(" ").includes("consent");
  const refresh = rec.params.access_type === "offline" && (consent || !live.some((g) => g.refreshToken));
  const scopes = new Set(rec.scope.split(" ").filter(Boolean));
  if (rec.params.include_granted_scopes === "true") {
    for (const g of live) for (const x of g.scope.split(" ").filter(Boolean)) scopes.add(x);
  }
  return s.createGrant(rec.email, [...scopes].join(" "), {
    provider: "google",
    clientId: rec.clientId,
    refresh,
  });
}

export const GOOGLE_TOKEN: TokenEndpointSpec = {
  provider: "google",
  failures: {
    code: "Bad Request",
    redirect: "Bad Request",
    verifier: "Invalid code verifier.",
    refresh: "Token has been expired or revoked.",
  },
  detail: {
    code_unknown: "Malformed auth code.",
    verifier_missing: "Missing code verifier.",
    refresh_unknown: "Bad Request",
  },
  badClient: [401, "The OAuth client was not found."],
  publicClients: false,
  latencyMs: (s) => s.config.tokenLatencyMs,
  grantFor,
  // An id_token when the scope has openid, on the code exchange and on refresh.
  extra: (s, grant, rec, now) => {
    const id = idToken(s, grant, rec?.params.nonce, now);
    return id ? { id_token: id } : {};
  },
};

export const tokenEndpoint = (s: EmulatorState, req: Request) => rfcTokenEndpoint(GOOGLE_TOKEN, s, req);

/**
 * "Revoking a token": the token (access or refresh, in the query or the form body) and with it the grant;
 * 200 on success, 400 invalid_token for a token that is unknown or already revoked.
 */
export async function revokeEndpoint(s: EmulatorState, req: Request): Promise<Response> {
  const token = new URL(req.url).searchParams.get("token") ?? (await formOf(req)).get("token") ?? "";
  const grantId = s.byRefresh.get(token) ?? s.accessTokens.get(token)?.grantId;
  const grant = grantId ? s.grants.get(grantId) : undefined;
  if (!grant || grant.provider !== "google" || grant.revoked) {
    return json(400, { error: "invalid_token", error_description: "Token expired or revoked" });
  }
  s.count("google", "revocations");
  s.revokeGrant(grant);
  return json(200, {});
}
