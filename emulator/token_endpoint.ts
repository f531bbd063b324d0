// An RFC 6749 token endpoint (authorization_code §4.1.3 with PKCE, RFC 7636
// §4.5; refresh_token §6; JSON answers §5.1, errors §5.2), parameterized by
// what differs between Google, Spotify and Discord. GitHub answers in its own
// way (emulator/providers/github.ts).
import { fault } from "./faults.ts";
import {
  clientAuth,
  clientOk,
  formOf,
  type GrantFailure,
  isForm,
  json,
  redeemCode,
  useRefreshToken,
} from "./grants.ts";
import type { ProviderId } from "./config.ts";
import type { CodeRecord, EmulatorState, Grant } from "./state.ts";

export interface TokenEndpointSpec {
  provider: ProviderId;
  /** The error_description of an invalid_grant, by what failed: the code, the redirect URI, the PKCE
   * verifier, the refresh token; `detail` words single failures differently. */
  failures: Record<"code" | "redirect" | "verifier" | "refresh", string>;
  detail?: Partial<Record<GrantFailure, string>>;
  /** The status and error_description of invalid_client. */
  badClient: [number, string];
  /** Public clients: client_id without a secret, for codes with a PKCE challenge and their grants. */
  publicClients: boolean;
  /** Only HTTP Basic carries a secret (client_secret in the body is refused). */
  basicOnly?: boolean;
  /** Bodies other than application/x-www-form-urlencoded are refused. */
  formOnly?: boolean;
  /** Refresh answers repeat the refresh token even without rotation. */
  repeatRefreshToken?: boolean;
  /** Extra latency before each call, ms. */
  latencyMs?(s: EmulatorState): number;
  /** The grant a redeemed code creates (default: a new grant with a refresh token). */
  grantFor?(s: EmulatorState, rec: CodeRecord, publicClient: boolean): Grant;
  /** Extra fields of the answer (Google: id_token). */
  extra?(s: EmulatorState, grant: Grant, rec: CodeRecord | null, now: number): Record<string, unknown>;
}

const oauthError = (status: number, error: string, description: string) =>
  json(status, { error, error_description: description });

function invalidGrant(spec: TokenEndpointSpec, f: GrantFailure): Response {
  const group = f === "revoked" ? "refresh" : f.startsWith("redirect") ? "redirect" : f.split("_")[0];
  return oauthError(400, "invalid_grant", spec.detail?.[f] ?? spec.failures[group as "code"]);
}

/** RFC 6749 §5.1: the access token, its type and lifetime, the refresh token when there is one to give, scope. */
export function tokenBody(
  spec: TokenEndpointSpec,
  s: EmulatorState,
  grant: Grant,
  withRefresh: boolean,
  rec: CodeRecord | null,
  now = Date.now(),
): Record<string, unknown> {
  const at = s.issueAccessToken(grant, now);
  return {
    access_token: at.token,
    token_type: "Bearer",
    expires_in: at.expiresIn,
    ...(withRefresh && grant.refreshToken ? { refresh_token: grant.refreshToken } : {}),
    scope: grant.scope,
    ...spec.extra?.(s, grant, rec, now),
  };
}

export async function tokenEndpoint(
  spec: TokenEndpointSpec,
  s: EmulatorState,
  req: Request,
): Promise<Response> {
  const p = spec.provider;
  s.count(p, "tokenCalls");
  const latency = spec.latencyMs?.(s) ?? 0;
  if (latency > 0) await new Promise((r) => setTimeout(r, latency));
  const faulted = await fault(s, p, req);
  if (faulted) return faulted;
  if (req.method !== "POST") return oauthError(405, "invalid_request", "POST required");
  if (spec.formOnly && !isForm(req)) {
    return oauthError(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded");
  }
  const form = await formOf(req);
  const client = clientAuth(req, form);
  const badClient = oauthError(spec.badClient[0], "invalid_client", spec.badClient[1]);
  if (!clientOk(s, p, client, spec.publicClients) || (spec.basicOnly && client!.method === "body")) {
    return badClient;
  }
  const { id, secret } = client!;
  const now = Date.now();
  const grantType = form.get("grant_type");
  if (grantType === "authorization_code") {
    s.count(p, "codeGrants");
    const code = form.get("code") ?? "";
    if (secret === null && !s.codes.get(code)?.challenge) return badClient;
    const rec = redeemCode(s, p, code, {
      id,
      redirectUri: form.get("redirect_uri"),
      verifier: form.get("code_verifier"),
    }, now);
    if (typeof rec === "string") return invalidGrant(spec, rec);
    const grant = spec.grantFor?.(s, rec, secret === null) ??
      s.createGrant(rec.email, rec.scope, { provider: p, clientId: id, publicClient: secret === null });
    rec.grantId = grant.id;
    return json(200, tokenBody(spec, s, grant, true, rec, now));
  }
  if (grantType === "refresh_token") {
    s.count(p, "refreshGrants");
    const token = form.get("refresh_token") ?? "";
    if (secret === null && !s.grants.get(s.byRefresh.get(token) ?? "")?.publicClient) return badClient;
    const grant = useRefreshToken(s, p, token, id, now);
    if (typeof grant === "string") return invalidGrant(spec, grant);
    const rotation = s.provider(p).rotation;
    if (rotation) s.rotate(grant, now);
    return json(200, tokenBody(spec, s, grant, rotation || spec.repeatRefreshToken === true, null, now));
  }
  return oauthError(400, "unsupported_grant_type", `Invalid grant_type: ${grantType ?? ""}`);
}
