// The authorization endpoint every provider shares (RFC 6749 §4.1.1 with
// PKCE, RFC 7636 §4.3): validates the request, then shows the consent page or,
// in automatic mode (POST /control/config {authorize: "approve" | "deny"}),
// answers 302 at once. The page posts its decision back to the same path.
import { consentPage, errorPage } from "./consent_page.ts";
import { scopesOf } from "./grants.ts";
import type { AuthorizeMode, ProviderId } from "./config.ts";
import type { EmulatorState } from "./state.ts";

/** How one provider's authorization page behaves (each provider file cites its documentation). */
export interface AuthorizeSpec {
  provider: ProviderId;
  title: string;
  /** What the account input asks for, and its default. */
  accountLabel: string;
  defaultAccount: string;
  /** The request parameter that suggests the account (Google: login_hint; GitHub: login). */
  accountHint?: string;
  /** The code_challenge_method values accepted. */
  pkceMethods: ("S256" | "plain")[];
  /** GitHub's authorize URL has no response_type parameter (any given must still be code). */
  responseTypeOptional?: boolean;
  scopeRequired?: boolean;
  /** Request parameters kept with the code for the token endpoint. */
  keep?: string[];
  /** The error pages for a bad client_id and a bad redirect_uri: status and text. */
  badClient: [number, string];
  badRedirect: [number, string];
  /** Extra parameters of an access_denied redirect (GitHub adds error_description and error_uri). */
  denied?: Record<string, string>;
  /**
   * RFC 9207: every authorization response carries `iss`, the server's issuer
   * identifier (Google's is https://accounts.google.com, the origin of its
   * endpoint; here the emulator's origin).
   */
  issuer?: boolean;
}

const redirectTo = (base: URL, q: Record<string, string | null>) => {
  const url = new URL(base);
  for (const [k, v] of Object.entries(q)) if (v !== null) url.searchParams.set(k, v);
  return new Response(null, {
    status: 302,
    headers: { location: url.toString(), "cache-control": "no-store" },
  });
};

function httpUrl(v: string | null): URL | null {
  try {
    const u = new URL(v ?? "");
    return u.protocol === "http:" || u.protocol === "https:" ? u : null;
  } catch {
    return null;
  }
}

export async function authorize(s: EmulatorState, spec: AuthorizeSpec, req: Request): Promise<Response> {
  const posted = req.method === "POST";
  const q = posted ? new URLSearchParams(await req.text()) : new URL(req.url).searchParams;
  const cfg = s.provider(spec.provider);
  // §4.1.2.1: an unknown client or a missing/invalid redirect URI is shown to the user, never redirected.
  if (q.get("client_id") !== cfg.clientId) return errorPage(spec.badClient[0], spec.title, spec.badClient[1]);
  const redirect = httpUrl(q.get("redirect_uri"));
  if (!redirect) return errorPage(spec.badRedirect[0], spec.title, spec.badRedirect[1]);
  const state = q.get("state");
  const iss = spec.issuer ? new URL(req.url).origin : null;
  const fail = (error: string, description: string) =>
    redirectTo(redirect, { error, error_description: description, state, iss });

  const responseType = q.get("response_type");
  if (responseType !== "code" && !(responseType === null && spec.responseTypeOptional)) {
    return fail("unsupported_response_type", "response_type must be code");
  }
  const scope = q.get("scope") ?? "";
  if (spec.scopeRequired && !scope.trim()) return fail("invalid_scope", "Missing required parameter: scope");
  const challenge = q.get("code_challenge");
  const rawMethod = q.get("code_challenge_method");
  // RFC 7636 §4.3: the method defaults to plain; a method without a challenge is malformed.
  const method = (rawMethod ?? "plain") as "S256" | "plain";
  if (rawMethod !== null && !challenge) return fail("invalid_request", "code_challenge is required");
  if (challenge) {
    if (!spec.pkceMethods.includes(method)) {
      return fail("invalid_request", "code_challenge_method not supported");
    }
    if (!/^[A-Za-z0-9\-._~]{43,128}$/.test(challenge)) {
      return fail("invalid_request", "Invalid code_challenge");
    }
  }

  const decision: AuthorizeMode = posted
    ? (q.get("decision") === "approve" ? "approve" : "deny")
    : cfg.authorize;
  const account = q.get("account") || (spec.accountHint && q.get(spec.accountHint)) || spec.defaultAccount;
  if (decision === "page") {
    return consentPage({
      provider: spec.title,
      accountLabel: spec.accountLabel,
      account,
      scopes: scopesOf(scope),
      params: q,
    });
  }
  // §4.1.2.1: the resource owner denied the request.
  if (decision === "deny") {
    return redirectTo(redirect, { error: "access_denied", ...spec.denied, state, iss });
  }
  const params: Record<string, string> = {};
  for (const k of spec.keep ?? []) if (q.get(k) !== null) params[k] = q.get(k)!;
  const code = s.newCode({
    provider: spec.provider,
    clientId: cfg.clientId,
    redirectUri: q.get("redirect_uri")!,
    scope,
    email: account,
    ...(challenge ? { challenge, method } : {}),
    expiresAt: Date.now() + s.config.codeLifetimeSeconds * 1000,
    used: false,
    params,
  });
  // §4.1.2: the code and the state, exactly as the client sent it.
  return redirectTo(redirect, { code, state, iss });
}
