// What every provider's token endpoint and API share: client authentication
// (RFC 6749 §2.3.1), redeeming an authorization code (§4.1.3, RFC 7636 §4.6),
// using a refresh token (§6), and checking an access token on an API call.
// Each provider answers the failures in its own words.
import { createHash } from "node:crypto";
import type { ProviderId } from "./config.ts";
import type { AccessToken, CodeRecord, EmulatorState, Grant } from "./state.ts";

export interface ClientAuth {
  id: string;
  secret: string | null;
  /** basic: HTTP Basic; body: client_id and client_secret in the form; none: client_id alone (public client). */
  method: "basic" | "body" | "none";
}

/** The client credentials of a token request, or null when it names no client. */
export function clientAuth(req: Request, form: URLSearchParams): ClientAuth | null {
  const auth = req.headers.get("authorization");
  if (auth?.startsWith("Basic ")) {
    try {
      // RFC 6749 §2.3.1: id and secret are form-urlencoded before the Basic encoding.
      const [id, secret] = atob(auth.slice(6)).split(":").map((v) =>
        decodeURIComponent(v.replace(/\+/g, " "))
      );
      return id ? { id, secret: secret ?? "", method: "basic" } : null;
    } catch {
      return null;
    }
  }
  const id = form.get("client_id");
  if (!id) return null;
  const secret = form.get("client_secret");
  return secret === null ? { id, secret: null, method: "none" } : { id, secret, method: "body" };
}

/** The provider's client with its secret; a public client (no secret) only where `publicOk`. */
export function clientOk(s: EmulatorState, p: ProviderId, c: ClientAuth | null, publicOk = false): boolean {
  const cfg = s.provider(p);
  if (!c || c.id !== cfg.clientId) return false;
  return c.secret === null ? publicOk : c.secret === cfg.clientSecret;
}

export type GrantFailure =
  | "code_unknown"
  | "code_used"
  | "code_expired"
  | "redirect_mismatch"
  | "verifier_missing"
  | "verifier_wrong"
  | "refresh_unknown"
  | "refresh_reused"
  | "refresh_expired"
  | "revoked";

/** RFC 7636 §4.1 (verifier syntax) and §4.6 (S256: BASE64URL(SHA256(verifier)) equals the challenge). */
export function pkceMatches(rec: Pick<CodeRecord, "challenge" | "method">, verifier: string): boolean {
  if (!/^[A-Za-z0-9\-._~]{43,128}$/.test(verifier)) return false;
  const derived = rec.method === "plain"
    ? verifier
    : createHash("sha256").update(verifier).digest("base64url");
  return derived === rec.challenge;
}

/**
 * Redeems a code for the client that presents it (RFC 6749 §4.1.3). A code is single use: presenting it
 * again fails and revokes the grant issued from it (§4.1.2 SHOULD). It expires (codeLifetimeSeconds), is
 * bound to the redirect URI of its request, and, when the request had a code challenge, needs the matching
 * verifier (RFC 7636 §4.6). A code of another client is unknown to this one.
 */
export function redeemCode(
  s: EmulatorState,
  p: ProviderId,
  code: string,
  client: { id: string; redirectUri: string | null; verifier: string | null; redirectOptional?: boolean },
  now: number,
): CodeRecord | GrantFailure {
  const rec = s.codes.get(code);
  if (!rec || rec.provider !== p || rec.clientId !== client.id) return "code_unknown";
  if (rec.used) {
    const grant = rec.grantId ? s.grants.get(rec.grantId) : undefined;
    if (grant) s.revokeGrant(grant);
    return "code_used";
  }
  rec.used = true;
  if (rec.expiresAt <= now) return "code_expired";
  const sameRedirect = client.redirectUri === rec.redirectUri ||
    (client.redirectUri === null && client.redirectOptional === true);
  if (!sameRedirect) return "redirect_mismatch";
  if (rec.challenge) {
    if (!client.verifier) return "verifier_missing";
    if (!pkceMatches(rec, client.verifier)) return "verifier_wrong";
  }
  return rec;
}

/**
 * The grant a refresh token belongs to (RFC 6749 §6), for the client it was issued to. A used token
 * (after rotation) is reuse: counted, and the whole grant revoked where the provider is that strict.
 */
export function useRefreshToken(
  s: EmulatorState,
  p: ProviderId,
  token: string,
  clientId: string,
  now: number,
): Grant | GrantFailure {
  const grant = s.grants.get(s.byRefresh.get(token) ?? "");
  if (!grant || grant.provider !== p || grant.clientId !== clientId) return "refresh_unknown";
  if (grant.revoked) return "revoked";
  if (grant.used.has(token)) {
    s.count(p, "reuseDetected");
    if (s.provider(p).reuseRevokesGrant) s.revokeGrant(grant);
    return "refresh_reused";
  }
  if (grant.refreshExpiresAt <= now) return "refresh_expired";
  return grant;
}

/** The live access token of an API call of this provider, with its grant; null answers 401. */
export function authenticate(
  s: EmulatorState,
  p: ProviderId,
  req: Request,
  schemes = ["Bearer"],
): { token: AccessToken; grant: Grant } | null {
  const m = /^(\S+) (.+)$/.exec(req.headers.get("authorization") ?? "");
  if (!m || !schemes.some((x) => x.toLowerCase() === m[1].toLowerCase())) return null;
  const token = s.accessTokens.get(m[2]);
  const grant = token ? s.grants.get(token.grantId) : undefined;
  if (!token || !grant || grant.provider !== p || grant.revoked || token.expiresAt <= Date.now()) return null;
  return { token, grant };
}

export const scopesOf = (scope: string): string[] => scope.split(/[ ,]+/).filter(Boolean);

export const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers },
  });

/** Discord: "the token and token revocation URLs will only accept a content type of x-www-form-urlencoded". */
export const isForm = (req: Request) =>
  (req.headers.get("content-type") ?? "").startsWith("application/x-www-form-urlencoded");

/** The request body as a form (token endpoints take application/x-www-form-urlencoded, RFC 6749 §4.1.3). */
export async function formOf(req: Request): Promise<URLSearchParams> {
  return new URLSearchParams(req.method === "GET" ? "" : await req.text());
}
