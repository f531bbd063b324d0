// Google Calendar v3 with the manager's token: one forced refresh and retry
// when Google answers 401, Google's errors mapped to our codes.
import { AppError, notFound } from "./errors.ts";
import type { Runtime } from "./runtime.ts";

export interface CalendarResult<T> {
  status: number;
  data: T | null;
  /** The marker of the token used. */
  marker: string | null;
}

const TIMEOUT_MS = 15_000;

interface GoogleError {
  error?: { code?: number; message?: string; errors?: { reason?: string }[] };
}

function googleError(status: number, body: GoogleError, retryAfter: string | null): AppError {
  const reason = body.error?.errors?.[0]?.reason ?? "";
  const message = (body.error?.message ?? `Google Calendar answered HTTP ${status}`).slice(0, 300);
  if (status === 404 || status === 410) return notFound(`event not found (${message})`);
  if (status === 429 || reason === "rateLimitExceeded" || reason === "userRateLimitExceeded") {
    const after = Number(retryAfter);
    return new AppError(
      "RATE_LIMITED",
      `Google Calendar is rate limiting: ${message}`,
      429,
      after > 0 ? after : 30,
    );
  }
  if (status === 403 && (reason === "insufficientPermissions" || reason === "forbidden")) {
    return new AppError("REAUTH_REQUIRED", `Google denied calendar access: ${message}`, 401);
  }
  if (status >= 500) {
    return new AppError("PROVIDER_UNAVAILABLE", `Google Calendar is unavailable: ${message}`, 503);
  }
  if (status === 400) {
    return new AppError("BAD_REQUEST", `Google Calendar rejected the request: ${message}`, 400);
  }
  return new AppError("PROVIDER_REJECTED", `Google Calendar answered HTTP ${status}: ${message}`, 502);
}

export async function calendar<T>(
  rt: Runtime,
  userId: string,
  method: string,
  path: string,
  opts: { query?: Record<string, string>; body?: unknown; allow?: number[] } = {},
): Promise<CalendarResult<T>> {
  const url = new URL(`${rt.cfg.calendarBaseUrl}${path}`);
  for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v);
  const send = (token: string) =>
    fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        accept: "application/json",
        ...(opts.body !== undefined ? { "content-type": "application/json" } : {}),
      },
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    }).catch((e) => {
      const timeout = e instanceof DOMException && e.name === "TimeoutError";
      throw new AppError(
        timeout ? "TIMEOUT" : "NETWORK",
        timeout ? "Google Calendar did not answer in time" : "Google Calendar could not be reached",
        timeout ? 504 : 503,
      );
    });

  let token = await rt.manager.getValidToken(userId, "google");
  let res = await send(token.accessToken);
  if (res.status === 401) {
    await res.body?.cancel();
    token = await rt.manager.getValidToken(userId, "google", { force: true });
    res = await send(token.accessToken);
    if (res.status === 401) {
      await res.body?.cancel();
      throw new AppError("PROVIDER_REJECTED", "Google Calendar rejected a freshly refreshed token", 502);
    }
  }
  const text = await res.text();
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok && !(opts.allow ?? []).includes(res.status)) {
    throw googleError(res.status, (data ?? {}) as GoogleError, res.headers.get("retry-after"));
  }
  return { status: res.status, data: data as T | null, marker: token.tokenRefreshedAt };
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
