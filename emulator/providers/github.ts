// GitHub under /github: github.com/login/oauth/authorize and /access_token,
// and api.github.com (/github/api): GET /user and /user/emails, DELETE
// /applications/{client_id}/grant. Sources (docs.github.com):
//  - "Generating a user access token for a GitHub App", web application flow: authorize with client_id,
//    redirect_uri, state, login, code_challenge (S256 only); exchange with client_id, client_secret, code,
//    redirect_uri, code_verifier; the answer: access_token ghu_…, expires_in 28800, refresh_token ghr_…,
//    refresh_token_expires_in 15897600, scope "" (always empty), token_type bearer.
//  - "Refreshing user access tokens": grant_type=refresh_token; "Once you use a refresh token, that
//    refresh token and the old user access token will no longer work."
//  - "Authorizing OAuth apps": codes expire after 10 minutes; the answer is form-encoded by default and
//    JSON with "Accept: application/json"; OAuth app tokens (expiringUserTokens: false) do not expire,
//    have no refresh token and a comma-separated scope.
//  - "Troubleshooting OAuth app access token request errors": errors as HTTP 200 with error,
//    error_description and error_uri: incorrect_client_credentials, redirect_uri_mismatch,
//    bad_verification_code (and bad_refresh_token for refreshes).
//  - "Troubleshooting authorization request errors": a denied request redirects with error=access_denied,
//    error_description, error_uri and the state.
//  - REST "OAuth authorizations", "Delete an app authorization": Basic client_id:client_secret, JSON body
//    {access_token}; 204, 422 on validation failure; deleting the grant deletes all the user's tokens for
//    the app. Invalid tokens are 404, as the endpoints of that page answer for them.
//  - REST "Users", "Get the authenticated user": "Authorization: Bearer" (or the older "token" scheme);
//    401 "Bad credentials" otherwise; `email` is the public email, null when the account has none.
//  - REST "Emails", "List email addresses for the authenticated user" (GET /user/emails): needs user:email
//    (an OAuth app) or the "Email addresses" permission (a GitHub App); entries email, primary, verified,
//    visibility.
import { identity } from "../accounts.ts";
import { authorize, type AuthorizeSpec } from "../authorize.ts";
import { authenticate, clientAuth, json, redeemCode, useRefreshToken } from "../grants.ts";
import { fault } from "../faults.ts";
import type { EmulatorState, Grant } from "../state.ts";

const TROUBLE = "/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors";

export const GITHUB_AUTHORIZE: AuthorizeSpec = {
  provider: "github",
  title: "GitHub",
  accountLabel: "Login",
  defaultAccount: "dev-user",
  accountHint: "login",
  pkceMethods: ["S256"],
  responseTypeOptional: true,
  badClient: [404, "Not Found"],
  badRedirect: [400, "The redirect_uri MUST match the registered callback URL for this application."],
  denied: {
    error_description: "The user has denied your application access.",
    error_uri: "/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#access-denied",
  },
};

const ERRORS = {
  incorrect_client_credentials: "The client_id and/or client_secret passed are incorrect.",
  redirect_uri_mismatch: "The redirect_uri MUST match the registered callback URL for this application.",
  bad_verification_code: "The code passed is incorrect or expired.",
  bad_refresh_token: "The refresh token passed is incorrect or expired.",
  unsupported_grant_type: "The grant type is not supported.",
};

/** JSON with Accept: application/json, else application/x-www-form-urlencoded ("Authorizing OAuth apps"). */
function answer(req: Request, body: Record<string, string | number>): Response {
  if ((req.headers.get("accept") ?? "").includes("application/json")) return json(200, body);
  const form = new URLSearchParams(Object.entries(body).map(([k, v]) => [k, String(v)]));
  return new Response(form.toString(), {
    status: 200,
    headers: {
      "content-type": "application/x-www-form-urlencoded; charset=utf-8",
      "cache-control": "no-store",
    },
  });
}

const failure = (req: Request, error: keyof typeof ERRORS) =>
  answer(req, {
    error,
    error_description: ERRORS[error],
    error_uri: `${TROUBLE}/#${error.replace(/_/g, "-")}`,
  });

/** The token answer for a grant: a GitHub App's expiring user token, or an OAuth app's lasting one. */
function tokenFields(s: EmulatorState, grant: Grant, now: number): Record<string, string | number> {
  const cfg = s.provider("github");
  if (!cfg.expiringUserTokens) {
    const at = s.issueAccessToken(grant, now, 0);
    return {
      access_token: at.token,
      scope: grant.scope.split(/[ ,]+/).filter(Boolean).join(","),
      token_type: "bearer",
    };
  }
  const at = s.issueAccessToken(grant, now);
  return {
    access_token: at.token,
    expires_in: at.expiresIn,
    refresh_token: grant.refreshToken,
    refresh_token_expires_in: cfg.refreshTokenLifetimeSeconds,
    scope: "",
    token_type: "bearer",
  };
}

const newGrant = (s: EmulatorState, login: string, scope: string) =>
  s.createGrant(login, scope, { provider: "github", refresh: s.provider("github").expiringUserTokens });

/** What the control API hands a test that skips the consent page. */
export function githubGrant(s: EmulatorState, login: string, scope: string): Record<string, unknown> {
  return tokenFields(s, newGrant(s, login, scope), Date.now());
}

async function accessToken(s: EmulatorState, req: Request): Promise<Response> {
  s.count("github", "tokenCalls");
  const faulted = await fault(s, "github", req);
  if (faulted) return faulted;
  // The parameters may come in the query or in a form body.
  const q = new URLSearchParams(new URL(req.url).search);
  for (const [k, v] of new URLSearchParams(await req.text())) if (!q.has(k)) q.set(k, v);
  const cfg = s.provider("github");
  if (
    req.method !== "POST" || q.get("client_id") !== cfg.clientId ||
    q.get("client_secret") !== cfg.clientSecret
  ) {
    return failure(req, "incorrect_client_credentials");
  }
  const now = Date.now();
  const grantType = q.get("grant_type") ?? (q.has("code") ? "authorization_code" : "");
  if (grantType === "authorization_code") {
    s.count("github", "codeGrants");
    const rec = redeemCode(s, "github", q.get("code") ?? "", {
      id: cfg.clientId,
      redirectUri: q.get("redirect_uri"),
      verifier: q.get("code_verifier"),
      redirectOptional: true,
    }, now);
    if (rec === "redirect_mismatch") return failure(req, "redirect_uri_mismatch");
    if (typeof rec === "string") return failure(req, "bad_verification_code");
    const grant = newGrant(s, rec.email, rec.scope);
    rec.grantId = grant.id;
    return answer(req, tokenFields(s, grant, now));
  }
  if (grantType === "refresh_token") {
    s.count("github", "refreshGrants");
    const grant = useRefreshToken(s, "github", q.get("refresh_token") ?? "", cfg.clientId, now);
    if (typeof grant === "string") return failure(req, "bad_refresh_token");
    // The used refresh token and the old user access token stop working.
    s.dropAccessTokens(grant);
    if (cfg.rotation) s.rotate(grant, now);
    return answer(req, tokenFields(s, grant, now));
  }
  return failure(req, "unsupported_grant_type");
}

const DOCS = "https://docs.github.com/rest";
const restError = (status: number, message: string) =>
  json(status, { message, documentation_url: DOCS, status: String(status) });

async function deleteGrant(s: EmulatorState, req: Request, clientId: string): Promise<Response> {
  const cfg = s.provider("github");
  const client = clientAuth(req, new URLSearchParams());
  if (client?.method !== "basic" || client.id !== cfg.clientId || client.secret !== cfg.clientSecret) {
    return restError(404, "Not Found");
  }
  if (clientId !== cfg.clientId) return restError(404, "Not Found");
  let token: unknown;
  try {
    token = (await req.json()).access_token;
  } catch { /* no JSON body */ }
  if (typeof token !== "string" || !token) {
    return restError(422, 'Invalid request.\n\n"access_token" wasn\'t supplied.');
  }
  const at = s.accessTokens.get(token);
  const grant = at ? s.grants.get(at.grantId) : undefined;
  if (!grant || grant.provider !== "github" || grant.revoked) return restError(404, "Not Found");
  s.count("github", "revocations");
  for (const g of s.grantsOf(grant.email, "github")) if (g.clientId === clientId) s.revokeGrant(g);
  return new Response(null, { status: 204 });
}

function user(s: EmulatorState, req: Request): Response {
  s.count("github", "userinfoCalls");
  const auth = authenticate(s, "github", req, ["Bearer", "token"]);
  if (!auth) return restError(401, "Bad credentials");
  const id = identity(auth.grant.email);
  return json(200, {
    login: id.login,
    id: id.numericId,
    node_id: `U_emu${id.numericId}`,
    avatar_url: `https://avatars.githubusercontent.com/u/${id.numericId}?v=4`,
    html_url: `https://github.com/${id.login}`,
    type: "User",
    site_admin: false,
    name: id.name,
    // The public email, which the emulator's accounts (as most) leave unset.
    email: null,
  });
}

/**
 * The account's addresses: an OAuth app's token needs user:email (or user); a
 * GitHub App's, the "Email addresses" permission, which the emulated app has.
 * Without it, 404 "Not Found", as GitHub answers for what a token cannot see.
 */
function emails(s: EmulatorState, req: Request): Response {
  const auth = authenticate(s, "github", req, ["Bearer", "token"]);
  if (!auth) return restError(401, "Bad credentials");
  const scopes = auth.grant.scope.split(/[ ,]+/);
  const app = s.provider("github").expiringUserTokens;
  if (!app && !scopes.includes("user:email") && !scopes.includes("user")) return restError(404, "Not Found");
  return json(200, [{
    email: identity(auth.grant.email).email,
    primary: true,
    verified: true,
    visibility: "private",
  }]);
}

export async function github(s: EmulatorState, req: Request, path: string): Promise<Response | null> {
  if (path === "/github/login/oauth/authorize") return await authorize(s, GITHUB_AUTHORIZE, req);
  if (path === "/github/login/oauth/access_token") return await accessToken(s, req);
  if (path === "/github/api/user") return user(s, req);
  if (path === "/github/api/user/emails") return emails(s, req);
  const m = /^\/github\/api\/applications\/([^/]+)\/grant$/.exec(path);
  if (m && req.method === "DELETE") return await deleteGrant(s, req, decodeURIComponent(m[1]));
  return null;
}
