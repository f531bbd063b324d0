// The OAuth 2.0 token endpoint (authorization_code and refresh_token grants,
// client auth by HTTP Basic or in the body), revocation, and an automatic
// consent page for `make dev`.
import type { EmulatorState, Fault } from "./state.ts";

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers },
  });

const oauthError = (status: number, error: string, description: string) =>
  json(status, { error, error_description: description });

function clientCredentials(req: Request, form: URLSearchParams): { id: string; secret: string } | null {
  const auth = req.headers.get("authorization");
  if (auth?.startsWith("Basic ")) {
    try {
      const [id, secret] = atob(auth.slice(6)).split(":").map((s) =>
        decodeURIComponent(s.replace(/\+/g, " "))
      );
      return { id, secret: secret ?? "" };
    } catch {
      return null;
    }
  }
  const id = form.get("client_id");
  const secret = form.get("client_secret");
  return id && secret ? { id, secret } : null;
}

async function serveFault(f: Fault, req: Request): Promise<Response> {
  switch (f.kind) {
    case "500":
    case "502":
    case "503":
      return new Response(`<html><body>Error ${f.kind}</body></html>`, {
        status: Number(f.kind),
        headers: {
          "content-type": "text/html",
          ...(f.retryAfter ? { "retry-after": String(f.retryAfter) } : {}),
        },
      });
    case "429":
      return json(429, { error: "rate_limit_exceeded" }, { "retry-after": String(f.retryAfter ?? 30) });
    case "hang":
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, f.hangMs ?? 60_000);
        req.signal.addEventListener("abort", () => {
          clearTimeout(t);
          resolve();
        });
      });
      return json(503, { error: "temporarily_unavailable" });
    case "reset":
      return new Response(
        new ReadableStream({
          start(c) {
            c.error(new Error("connection reset by emulator"));
          },
        }),
        { status: 200, headers: { "content-type": "application/json" } },
      );
    case "html":
      return new Response("<!DOCTYPE html><html><body>Proxy error</body></html>", {
        status: 200,
        headers: { "content-type": "text/html" },
      });
    case "error200":
      return json(200, { error: "invalid_request", error_description: "Bad Request" });
    case "malformed":
      return new Response('{"access_token": "ya29.trunc', {
        status: 200,
        headers: { "content-type": "application/json" },
      });
    case "invalid_grant":
      return oauthError(400, "invalid_grant", "Token has been expired or revoked.");
  }
}

export async function tokenEndpoint(s: EmulatorState, req: Request): Promise<Response> {
  s.counters.tokenCalls++;
  if (s.config.tokenLatencyMs > 0) await new Promise((r) => setTimeout(r, s.config.tokenLatencyMs));
  const fault = s.takeFault();
  if (fault) return await serveFault(fault, req);
  if (req.method !== "POST") return oauthError(405, "invalid_request", "POST required");
  const form = new URLSearchParams(await req.text());
  const client = clientCredentials(req, form);
  if (!client || client.id !== s.config.clientId || client.secret !== s.config.clientSecret) {
    return oauthError(401, "invalid_client", "The OAuth client was not found.");
  }
  const now = Date.now();
  const grantType = form.get("grant_type");
  if (grantType === "authorization_code") {
    s.counters.codeGrants++;
    const code = s.codes.get(form.get("code") ?? "");
    if (!code) return oauthError(400, "invalid_grant", "Malformed auth code.");
    s.codes.delete(form.get("code")!);
    const grant = s.createGrant(code.email, code.scope);
    const at = s.issueAccessToken(grant, now);
    return json(200, {
      access_token: at.token,
      expires_in: at.expiresIn,
      refresh_token: grant.refreshToken,
      scope: grant.scope,
      token_type: "Bearer",
    });
  }
  if (grantType === "refresh_token") {
    s.counters.refreshGrants++;
    const presented = form.get("refresh_token") ?? "";
    const grant = s.grants.get(s.byRefresh.get(presented) ?? "");
    if (!grant) return oauthError(400, "invalid_grant", "Bad Request");
    if (grant.revoked) return oauthError(400, "invalid_grant", "Token has been expired or revoked.");
    if (grant.used.has(presented)) {
      // Reuse of a rotated refresh token: revoke the whole grant, as strict servers do.
      s.counters.reuseDetected++;
      s.revokeGrant(grant);
      return oauthError(400, "invalid_grant", "Token has been expired or revoked.");
    }
    if (s.config.rotation) s.rotate(grant);
    const at = s.issueAccessToken(grant, now);
    return json(200, {
      access_token: at.token,
      expires_in: at.expiresIn,
      scope: grant.scope,
      token_type: "Bearer",
      ...(s.config.rotation ? { refresh_token: grant.refreshToken } : {}),
    });
  }
  return oauthError(400, "unsupported_grant_type", `Invalid grant_type: ${grantType ?? ""}`);
}

export async function revokeEndpoint(s: EmulatorState, req: Request): Promise<Response> {
  const url = new URL(req.url);
  const token = url.searchParams.get("token") ?? new URLSearchParams(await req.text()).get("token") ?? "";
  const grantId = s.byRefresh.get(token) ?? s.accessTokens.get(token)?.grantId;
  const grant = grantId ? s.grants.get(grantId) : undefined;
  if (!grant) return oauthError(400, "invalid_token", "Token expired or revoked");
  s.counters.revocations++;
  s.revokeGrant(grant);
  return new Response(null, { status: 200 });
}

/** Consent without a screen: redirects back with a code for the login_hint account. */
export function authorizeEndpoint(s: EmulatorState, req: Request): Response {
  const url = new URL(req.url);
  const redirect = url.searchParams.get("redirect_uri");
  if (!redirect || !/^https?:\/\//.test(redirect)) return oauthError(400, "invalid_request", "redirect_uri");
  if (url.searchParams.get("client_id") !== s.config.clientId) {
    return oauthError(401, "invalid_client", "The OAuth client was not found.");
  }
  const email = url.searchParams.get("login_hint") || "dev@example.com";
  const scope = url.searchParams.get("scope") ||
    "openid email https://www.googleapis.com/auth/calendar.events";
  const code = s.random("4/emu-");
  s.codes.set(code, { email, scope });
  const back = new URL(redirect);
  back.searchParams.set("code", code);
  const state = url.searchParams.get("state");
  if (state) back.searchParams.set("state", state);
  return Response.redirect(back.toString(), 302);
}
