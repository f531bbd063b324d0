// The connect flow's edges (RFC 6749 §4.1 with PKCE; the manager holds the
// state, the verifier and the exchange): where the browser may be sent back
// to, the callback URL registered at the providers, and the callback itself,
// a browser navigation answered with a redirect to the app or a small page.
import { type AppConfig, config } from "./env.ts";
import { AppError, badRequest, describe, plainSentence } from "./errors.ts";
import { log } from "./log.ts";
import { runtime } from "./runtime.ts";
import { REQUEST_ID_HEADER } from "./cors.ts";
import { loadWasm } from "./wasm.ts";

/** The page to return to: an absolute http(s) URL on an ALLOWED_ORIGINS origin (never "*"): no open redirect. */
export function checkReturnTo(raw: string, allowed: string[]): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw badRequest("returnTo must be an absolute http(s) URL of a page of this app");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw badRequest("returnTo must be an absolute http(s) URL of a page of this app");
  }
  if (u.username || u.password) throw badRequest("returnTo must not carry a user name or password");
  if (!allowed.includes(u.origin)) {
    throw badRequest(`returnTo's origin ${u.origin.slice(0, 100)} is not one of ALLOWED_ORIGINS`);
  }
  return u.toString();
}

/**
 * The callback's URL (the redirect_uri registered at every provider):
 * OAUTH_REDIRECT_URL, else `<SUPABASE_URL>/functions/v1/connections/callback`;
 * a local server without either derives it from the request it serves.
 */
export function redirectUri(req: Request, cfg: Pick<AppConfig, "redirectUrl">): string {
  if (cfg.redirectUrl) return cfg.redirectUrl;
  const url = new URL(req.url);
  const at = url.pathname.indexOf("/connections/");
  return `${url.origin}${url.pathname.slice(0, at)}/connections/callback`;
}

/** returnTo with the outcome in its query (its other parameters and its fragment kept). */
export function withOutcome(returnTo: string, outcome: Record<string, string>): string {
  const u = new URL(returnTo);
  for (const k of ["otm_connect", "otm_error", "otm_provider"]) u.searchParams.delete(k);
  for (const [k, v] of Object.entries(outcome)) u.searchParams.set(k, v);
  return u.toString();
}

const escape = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/** A page for the browser: a plain sentence, no script, nothing from the request but its id. */
function page(status: number, sentence: string, requestId: string): Response {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Connection not completed</title></head>
<body><main><h1>Connection not completed</h1><p>${escape(sentence)}</p>
<p><small>Reference: ${escape(requestId)}</small></p></main></body></html>
`;
  return new Response(html, {
    status,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "cache-control": "no-store",
      [REQUEST_ID_HEADER]: requestId,
    },
  });
}

function sentenceFor(code: string): string {
  if (code === "CONNECT_STATE_INVALID") {
    return "This connection link is not valid: it may have expired, been used already, or not come from this app. " +
      "Go back to the app and connect again.";
  }
  return plainSentence(code) ?? "The connection could not be completed. Go back to the app and try again.";
}

const param = (q: URLSearchParams, name: string, max: number) => {
  const v = q.get(name);
  return v !== null && v.length <= max ? v : undefined;
};

/**
 * GET /connections/callback?state&code|error: the provider sends the browser
 * here (no user JWT; the state's binding on the server is the whole security
 * of it). A known state redirects to its page with `otm_connect=<ticket>` or
 * `otm_error=<CODE>` and `otm_provider`; anything else is a page with a plain
 * sentence. Neither the state, the code nor the ticket is logged.
 */
export async function callbackPage(req: Request): Promise<Response> {
  const started = performance.now();
  const requestId = crypto.randomUUID();
  const done = (fields: Record<string, string | number | undefined>) =>
    log(fields.status === 302 ? "info" : "warn", "connect callback", {
      fn: "connections GET /callback",
      requestId,
      ...fields,
      ms: Math.round(performance.now() - started),
    });
  try {
    const q = new URL(req.url).searchParams;
    const state = param(q, "state", 512);
    if (!state) throw new AppError("CONNECT_STATE_INVALID", "the callback has no state");
    const rt = await runtime();
    const r = await rt.manager.connectCallback({
      state,
      code: param(q, "code", 4096),
      error: param(q, "error", 256),
      // RFC 9207: the issuer of the server that answered (Google sends it),
      // against mix-ups. Two of them, or one too long, match no issuer.
      iss: q.has("iss") ? q.getAll("iss").join(" ").slice(0, 2049) : undefined,
    });
    // Checked again: ALLOWED_ORIGINS may have changed since the connect began.
    checkReturnTo(r.returnTo, config().allowedOrigins);
    const outcome: Record<string, string> = r.error
      ? { otm_error: r.error.code, otm_provider: r.provider }
      : { otm_connect: r.ticket!, otm_provider: r.provider };
    done({ status: 302, provider: r.provider, code: r.error?.code ?? undefined });
    return new Response(null, {
      status: 302,
      headers: {
        location: withOutcome(r.returnTo, outcome),
        "cache-control": "no-store",
        "referrer-policy": "no-referrer",
        [REQUEST_ID_HEADER]: requestId,
      },
    });
  } catch (e) {
    await loadWasm().catch(() => {});
    const { status, body, detail } = describe(e, requestId);
    const code = String(body.code);
    done({ status, code });
    if (detail !== undefined) log("error", "error detail", { fn: "connections", requestId, code, detail });
    return page(status, sentenceFor(code), requestId);
  }
}
