// Google Calendar v3 with the manager's token: one forced refresh and retry
// when Google answers 401, Google's errors mapped to our codes (a missing
// scope is INSUFFICIENT_SCOPE, recorded on the connection), and every way an
// answer can be broken (reset mid-body, empty or non-JSON 200, no answer in
// time) given its own code.
import { AppError, notFound, withMarker } from "./errors.ts";
import { log } from "./log.ts";
import type { Runtime } from "./runtime.ts";

export interface CalendarResult<T> {
  status: number;
  data: T | null;
  /** The marker of the token used. */
  marker: string | null;
}

/** The scope the Calendar event calls need. */
export const CALENDAR_EVENTS_SCOPE = "https://www.googleapis.com/auth/calendar.events";

export interface GoogleError {
  error?: {
    code?: number;
    message?: string;
    status?: string;
    errors?: { reason?: string }[];
    /** google.rpc details, e.g. ErrorInfo {reason: "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}. */
    details?: { "@type"?: string; reason?: string }[];
  };
}

/** The auth-params of a `WWW-Authenticate: Bearer …` challenge (RFC 6750 §3). */
export function bearerChallenge(header: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  const m = /^\s*Bearer\b(.*)$/is.exec(header ?? "");
  if (!m) return out;
  const param = /([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g;
  for (const p of m[1].matchAll(param)) {
    out[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : p[3];
  }
  return out;
}

/**
 * The scopes a 403 says the token lacks, or null when it is not a scope
 * problem: RFC 6750's `insufficient_scope` challenge (its `scope` names
 * them), Google's `insufficientPermissions` reason or its ErrorInfo
 * `ACCESS_TOKEN_SCOPE_INSUFFICIENT` (then the scope the call needs).
 */
export function missingScopes(
  status: number,
  body: GoogleError,
  wwwAuthenticate: string | null,
  needed: string,
): string[] | null {
  const challenge = bearerChallenge(wwwAuthenticate);
  const reasons = (body.error?.errors ?? []).map((e) => e?.reason);
  const info = (body.error?.details ?? []).some((d) => d?.reason === "ACCESS_TOKEN_SCOPE_INSUFFICIENT");
  const scoped = challenge.error === "insufficient_scope" ||
    (status === 403 && (reasons.includes("insufficientPermissions") || info));
  if (!scoped) return null;
  const named = (challenge.scope ?? "").split(/\s+/).filter(Boolean);
  return named.length > 0 ? named : [needed];
}

/** Rate limits: back off and retry (Calendar API "Handle API errors"). */
const RATE_REASONS = ["rateLimitExceeded", "userRateLimitExceeded"];
/**
 * Usage limits: the user's calendar (quotaExceeded) or the project's daily
 * courtesy limit (dailyLimitExceeded) is spent, for hours: not a 30-second wait.
 */
const USAGE_REASONS = ["quotaExceeded", "dailyLimitExceeded"];
const USAGE_RETRY_SECONDS = 3600;

function retryAfterSeconds(header: string | null): number | undefined {
  if (!header) return undefined;
  const n = Number(header);
  if (Number.isFinite(n) && n > 0) return Math.ceil(n);
  const at = Date.parse(header);
  if (!isNaN(at)) return Math.max(1, Math.ceil((at - Date.now()) / 1000));
  return undefined;
}

export function googleError(status: number, body: GoogleError, retryAfter: string | null): AppError {
  const reasons = (body.error?.errors ?? []).map((e) => e?.reason ?? "");
  const message = String(body.error?.message ?? `Google Calendar answered HTTP ${status}`).slice(0, 300);
  if (status === 404 || status === 410) return notFound(`event not found (${message})`);
  if (reasons.some((r) => USAGE_REASONS.includes(r))) {
    return new AppError(
      "RATE_LIMITED",
      `Google Calendar's usage limit is reached, for some hours: ${message}`,
      retryAfterSeconds(retryAfter) ?? USAGE_RETRY_SECONDS,
    );
  }
  if (status === 429 || reasons.some((r) => RATE_REASONS.includes(r))) {
    return new AppError(
      "RATE_LIMITED",
      `Google Calendar is rate limiting: ${message}`,
      retryAfterSeconds(retryAfter) ?? 30,
    );
  }
  if (status >= 500) {
    return new AppError(
      "PROVIDER_UNAVAILABLE",
      `Google Calendar is unavailable: ${message}`,
      retryAfterSeconds(retryAfter),
    );
  }
  if (status === 400) return new AppError("BAD_REQUEST", `Google Calendar rejected the request: ${message}`);
  if (status === 403) {
    // Not a scope problem (that is handled before): the user may not do this
    // (no write access to the calendar, an event they were only invited to).
    // Refused for this caller, not an upstream failure: 403, not 502.
    return new AppError("FORBIDDEN", `Google Calendar refused the request: ${message}`);
  }
  return new AppError("PROVIDER_REJECTED", `Google Calendar answered HTTP ${status}: ${message}`);
}

function transportError(e: unknown, reading: boolean): AppError {
  const timeout = e instanceof DOMException && (e.name === "TimeoutError" || e.name === "AbortError");
  if (timeout) return new AppError("TIMEOUT", "Google Calendar did not answer in time");
  return new AppError(
    "NETWORK",
    reading
      ? "the connection to Google Calendar broke during its answer"
      : "Google Calendar could not be reached",
  );
}

export async function calendar<T>(
  rt: Runtime,
  userId: string,
  method: string,
  path: string,
  opts: { query?: Record<string, string>; body?: unknown; allow?: number[]; scope?: string } = {},
): Promise<CalendarResult<T>> {
  const url = new URL(`${rt.cfg.calendarBaseUrl}${path}`);
  for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v);
  const timeoutMs = rt.cfg.calendarTimeoutMs ?? 15_000;
  const send = async (token: string) => {
    // One deadline for the answer and its body.
    const signal = AbortSignal.timeout(timeoutMs);
    const res = await fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        accept: "application/json",
        ...(opts.body !== undefined ? { "content-type": "application/json" } : {}),
      },
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
      signal,
    }).catch((e) => {
      throw transportError(e, false);
    });
    return res;
  };

  let token = await rt.manager.getValidToken(userId, "google");
  try {
    let res = await send(token.accessToken);
    if (res.status === 401) {
      await res.body?.cancel().catch(() => {});
      // Unless another request's refresh after the same 401 already replaced it.
      const rejectedRefreshedAt = token.tokenRefreshedAtMs ?? undefined;
      token = await rt.manager.getValidToken(userId, "google", { force: true, rejectedRefreshedAt });
      res = await send(token.accessToken);
      if (res.status === 401) {
        await res.body?.cancel().catch(() => {});
        throw new AppError("PROVIDER_REJECTED", "Google Calendar rejected a freshly refreshed token");
      }
    }
    let text: string;
    try {
      text = await res.text();
    } catch (e) {
      throw transportError(e, true);
    }
    let data: unknown = undefined;
    if (text.trim()) {
      try {
        data = JSON.parse(text);
      } catch {
        data = undefined;
      }
    }
    const allowed = (opts.allow ?? []).includes(res.status);
    if (!res.ok && !allowed) {
      const body = (typeof data === "object" && data !== null ? data : {}) as GoogleError;
      const scopes = missingScopes(
        res.status,
        body,
        res.headers.get("www-authenticate"),
        opts.scope ?? CALENDAR_EVENTS_SCOPE,
      );
      if (scopes) {
        const message = `Google Calendar needs consent to ${scopes.join(" ")}: reconnect Google and grant it`;
        try {
          // The connection shows needs_reauth with the code; the token keeps being served.
          await rt.manager.recordScopeError(userId, "google", scopes);
        } catch (e) {
          log("warn", "could not record the missing scope", { code: (e as { code?: string })?.code ?? null });
        }
        throw new AppError("INSUFFICIENT_SCOPE", message, undefined, { missingScopes: scopes });
      }
      throw googleError(res.status, body, res.headers.get("retry-after"));
    }
    // A success must carry a JSON object, except a DELETE (204, no content).
    if (res.ok && res.status !== 204 && method !== "DELETE") {
      if (typeof data !== "object" || data === null || Array.isArray(data)) {
        const what = text.trim() === "" ? "an empty body" : "a body that is not JSON";
        throw new AppError(
          "BAD_PROVIDER_RESPONSE",
          `Google Calendar answered HTTP ${res.status} with ${what}`,
        );
      }
    }
    return { status: res.status, data: (data ?? null) as T | null, marker: token.tokenRefreshedAt };
  } catch (e) {
    // A failure after a token was used still tells the browser which token that was.
    throw withMarker(e, token.tokenRefreshedAt);
  }
}

export interface GoogleEvent {
  id: string;
  status?: string;
  summary?: string;
  description?: string;
  htmlLink?: string;
  hangoutLink?: string;
  start?: { dateTime?: string; date?: string; timeZone?: string };
  end?: { dateTime?: string; date?: string; timeZone?: string };
  attendees?: { email: string; responseStatus?: string }[];
  conferenceData?: {
    createRequest?: { requestId: string; status?: { statusCode: string } };
    entryPoints?: { entryPointType: string; uri: string }[];
  };
}

/** The event as our API returns it. */
export function eventView(e: GoogleEvent) {
  const video = e.conferenceData?.entryPoints?.find((p) => p.entryPointType === "video")?.uri;
  return {
    eventId: e.id,
    status: e.status ?? "confirmed",
    summary: e.summary ?? "",
    description: e.description ?? "",
    start: e.start?.dateTime ?? e.start?.date ?? null,
    end: e.end?.dateTime ?? e.end?.date ?? null,
    timeZone: e.start?.timeZone ?? null,
    attendees: (e.attendees ?? []).map((a) => ({ email: a.email, responseStatus: a.responseStatus ?? null })),
    meetUrl: e.hangoutLink ?? video ?? null,
    conferenceStatus: e.conferenceData?.createRequest?.status?.statusCode ?? (video ? "success" : null),
    htmlLink: e.htmlLink ?? null,
  };
}

/** The fields of an event insert that an idempotent retry must repeat. */
export interface EventRequest {
  summary?: string;
  description?: string;
  start: { dateTime: string; timeZone?: string };
  end: { dateTime: string; timeZone?: string };
  attendees: { email: string }[];
}

/**
 * Whether an existing event is what this insert would have created: the same
 * summary, description, instants (Google may answer them in another offset),
 * attendees (in any order, any case) and, when the request names one, time zone.
 */
export function sameRequest(existing: GoogleEvent, req: EventRequest): boolean {
  const instant = (v: string | undefined) => (v ? Date.parse(v) : NaN);
  const emails = (list: { email: string }[] | undefined) =>
    (list ?? []).map((a) => a.email.toLowerCase()).sort().join("\n");
  const tz = (want: string | undefined, have: string | undefined) => !want || want === have;
  return (existing.summary ?? "") === (req.summary ?? "") &&
    (existing.description ?? "") === (req.description ?? "") &&
    instant(existing.start?.dateTime) === instant(req.start.dateTime) &&
    instant(existing.end?.dateTime) === instant(req.end.dateTime) &&
    tz(req.start.timeZone, existing.start?.timeZone) &&
    tz(req.end.timeZone, existing.end?.timeZone) &&
    emails(existing.attendees) === emails(req.attendees);
}

/** A Google event id (base32hex, 5-1024 chars) derived from the caller's requestId: idempotent inserts. */
export async function eventIdFor(userId: string, requestId: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${userId}\u0000${requestId}`)),
  );
  const alphabet = "0123456789abcdefghijklmnopqrstuv";
  let out = "otm";
  for (const b of digest.slice(0, 20)) out += alphabet[b >> 3] + alphabet[b & 7];
  return out;
}
