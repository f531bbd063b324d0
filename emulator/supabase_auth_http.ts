// The Supabase Auth stand-in's HTTP responses: JSON, redirects, the gateway's
// CORS headers and GoTrue's error shapes (in a body, or on a redirect).
import { AuthError, OAUTH_ERROR } from "./supabase_auth_types.ts";

export const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
export const redirect = (location: string) =>
  new Response(null, { status: 302, headers: { location, "cache-control": "no-store" } });

/** The gateway's CORS: any origin, the headers supabase-js sends. */
export function cors(req: Request): Record<string, string> {
  const origin = req.headers.get("origin");
  if (!origin) return {};
  return {
    "access-control-allow-origin": origin,
    "access-control-allow-headers": req.headers.get("access-control-request-headers") ??
      "authorization, apikey, content-type, x-client-info, x-supabase-api-version",
    "access-control-allow-methods": "GET, POST, PUT, DELETE, OPTIONS",
    "access-control-expose-headers": "x-supabase-api-version",
    "access-control-max-age": "600",
    vary: "Origin",
  };
}

/** An error body as GoTrue writes it: {code, message} for X-Supabase-Api-Version ≥ 2024-01-01, else {code, error_code, msg}. */
export function errorBody(req: Request, e: AuthError): Response {
  const version = req.headers.get("x-supabase-api-version") ?? "";
  if (version >= "2024-01-01") {
    return json(e.status, { code: e.code, message: e.message }, { "x-supabase-api-version": "2024-01-01" });
  }
  return json(e.status, { code: e.status, error_code: e.code, msg: e.message });
}

export function errorRedirect(to: string, e: AuthError & { oauth?: string }): Response {
  const u = new URL(to);
  const error = e.oauth ?? OAUTH_ERROR[e.status] ?? "server_error";
  u.searchParams.set("error", error);
  if (e.code) u.searchParams.set("error_code", e.code);
  u.searchParams.set("error_description", e.message);
  const h = new URLSearchParams({ error });
  h.set("error_description", e.message);
  if (e.code) h.set("error_code", e.code);
  h.set("sb", "");
  u.hash = h.toString();
  return redirect(u.toString());
}
