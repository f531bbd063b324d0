// Google Calendar v3 events (insert, get, list, patch, delete) on the
// primary calendar, with Meet conference data and Google's error shapes.
import { hang } from "./faults.ts";
import type { CalendarEvent, CalendarFault, EmulatorState } from "./state.ts";

/** A Meet on the event: its link and entry point (ConferenceData). */
function addMeet(event: CalendarEvent): void {
  const code = meetCode();
  event.hangoutLink = `https://meet.google.com/${code}`;
  event.conferenceData = {
    ...event.conferenceData,
    entryPoints: [{ entryPointType: "video", uri: event.hangoutLink, label: `meet.google.com/${code}` }],
    conferenceSolution: { key: { type: "hangoutsMeet" }, name: "Google Meet" },
    conferenceId: code,
  };
}

/** When an event's start or end is: its dateTime, or an all-day event's date (midnight UTC). */
const instant = (t: Record<string, string> | undefined) => Date.parse(t?.dateTime ?? t?.date ?? "");

/**
 * A start or end is a dateTime (timed) or a date (all-day), not both and not
 * neither (Events resource: "start.date", "start.dateTime"); Google answers
 * 400 otherwise.
 */
function timeError(t: Record<string, string> | undefined): Response | null {
  if (!t || (!t.dateTime && !t.date)) return gerror(400, "required", "Missing end time.");
  if (t.dateTime && t.date) return gerror(400, "invalid", "Invalid start time.");
  return null;
}

/** Each of start and end valid, and of one kind: Google refuses a date beside a dateTime. */
function timesError(
  start: Record<string, string> | undefined,
  end: Record<string, string> | undefined,
): Response | null {
  const bad = timeError(start) ?? timeError(end);
  if (bad) return bad;
  if (!start!.date !== !end!.date) {
    return gerror(400, "invalid", "Start and end times must either both be date or both be dateTime.");
  }
  return null;
}

function gerror(
  status: number,
  reason: string,
  message: string,
  extra: Record<string, string> = {},
): Response {
  const statusName: Record<number, string> = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    410: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
  };
  return new Response(
    JSON.stringify({
      error: {
        code: status,
        message,
        errors: [{ message, domain: "global", reason, ...extra }],
        status: statusName[status] ?? "UNKNOWN",
      },
    }),
    { status, headers: { "content-type": "application/json; charset=UTF-8" } },
  );
}

const unauthenticated = () =>
  gerror(
    401,
    "authError",
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
    { location: "Authorization", locationType: "header" },
  );

const ok = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=UTF-8" },
  });

const EVENT_ID = /^[a-v0-9]{5,1024}$/;

function meetCode(): string {
  const letters = "abcdefghijklmnopqrstuvwxyz";
  const pick = (n: number) =>
    Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => letters[b % letters.length]).join("");
  return `${pick(3)}-${pick(4)}-${pick(3)}`;
}

function attendeesOf(v: unknown): { email: string; responseStatus: string }[] | undefined {
  if (!Array.isArray(v)) return undefined;
  return v.map((a) => ({
    email: String((a as { email?: string }).email ?? ""),
    responseStatus: "needsAction",
  }));
}

const CALENDAR_SCOPES =
  "https://www.googleapis.com/auth/calendar https://www.googleapis.com/auth/calendar.events";

/** What Google answers a token without the scope the method needs (Calendar v3, 2025). */
function insufficientScope(f: Pick<CalendarFault, "scope" | "challenge">): Response {
  const headers: Record<string, string> = { "content-type": "application/json; charset=UTF-8" };
  if (f.challenge !== false) {
    headers["www-authenticate"] =
      `Bearer realm="https://accounts.google.com/", error="insufficient_scope", ` +
      `scope="${f.scope ?? CALENDAR_SCOPES}"`;
  }
  return new Response(
    JSON.stringify({
      error: {
        code: 403,
        message: "Request had insufficient authentication scopes.",
        errors: [{ message: "Insufficient Permission", domain: "global", reason: "insufficientPermissions" }],
        status: "PERMISSION_DENIED",
        details: [{
          "@type": "type.googleapis.com/google.rpc.ErrorInfo",
          reason: "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
          domain: "googleapis.com",
          metadata: { method: "calendar.v3.Events.Insert", service: "calendar-json.googleapis.com" },
        }],
      },
    }),
    { status: 403, headers },
  );
}

async function serveCalendarFault(f: CalendarFault, req: Request): Promise<Response> {
  switch (f.kind) {
    case "scope":
      return insufficientScope(f);
    case "forbidden":
      return gerror(403, "forbidden", "Forbidden");
    case "401":
      return unauthenticated();
    case "429": {
      const r = gerror(429, "rateLimitExceeded", "Rate Limit Exceeded");
      r.headers.set("retry-after", String(f.retryAfter ?? 30));
      return r;
    }
    case "500":
      return gerror(500, "backendError", "Backend Error");
    case "503": {
      const r = gerror(503, "backendError", "The service is currently unavailable.");
      if (f.retryAfter) r.headers.set("retry-after", String(f.retryAfter));
      return r;
    }
    case "html":
      return new Response("<!DOCTYPE html><html><body>Proxy error</body></html>", {
        status: 200,
        headers: { "content-type": "text/html" },
      });
    case "empty":
      return new Response(null, { status: 200, headers: { "content-type": "application/json" } });
    case "reset": {
      // The status line, headers and a first part of the body, then the connection is dropped.
      let sent = false;
      return new Response(
        new ReadableStream<Uint8Array>({
          pull(c) {
            if (!sent) {
              sent = true;
              c.enqueue(new TextEncoder().encode('{"kind": "calendar#event", "id": "'));
              return new Promise((r) => setTimeout(r, 50));
            }
            c.error(new Error("connection reset by emulator"));
          },
        }),
        { status: 200, headers: { "content-type": "application/json; charset=UTF-8" } },
      );
    }
    case "hang":
      await hang(f, req);
      return gerror(503, "backendError", "The service is currently unavailable.");
  }
}

export async function calendarEndpoint(s: EmulatorState, req: Request, path: string): Promise<Response> {
  s.counters.calendarCalls++;
  const bearer = /^Bearer (.+)$/.exec(req.headers.get("authorization") ?? "")?.[1];
  if (bearer) s.calendarTokens.push(bearer);
  const fault = s.takeCalendarFault();
  if (fault) return await serveCalendarFault(fault, req);
  const at = bearer ? s.accessTokens.get(bearer) : undefined;
  const grant = at ? s.grants.get(at.grantId) : undefined;
  if (!at || !grant || grant.provider !== "google" || grant.revoked || at.expiresAt <= Date.now()) {
    s.counters.calendar401++;
    return unauthenticated();
  }
  // Google checks the token's scopes per method: reads take a read-only scope too.
  const granted = grant.scope.split(" ");
  const full = [
    "https://www.googleapis.com/auth/calendar",
    "https://www.googleapis.com/auth/calendar.events",
  ];
  const readOnly = [
    "https://www.googleapis.com/auth/calendar.readonly",
    "https://www.googleapis.com/auth/calendar.events.readonly",
  ];
  const allowed = req.method === "GET" ? [...full, ...readOnly] : full;
  if (!granted.some((g) => allowed.includes(g))) {
    s.counters.calendarScope403++;
    return insufficientScope({});
  }
  const m = /^\/calendar\/v3\/calendars\/primary\/events(?:\/([^/]+))?$/.exec(path);
  if (!m) return gerror(404, "notFound", "Not Found");
  const cal = s.calendar(at.email);
  const url = new URL(req.url);
  const id = m[1] ? decodeURIComponent(m[1]) : undefined;
  const withMeet = url.searchParams.get("conferenceDataVersion") === "1";
  const now = new Date().toISOString();

  if (!id && req.method === "GET") {
    const timeMin = url.searchParams.get("timeMin");
    const items = [...cal.values()]
      .filter((e) => e.status !== "cancelled")
      .filter((e) => !timeMin || instant(e.end) >= Date.parse(timeMin))
      .sort((a, b) => instant(a.start) - instant(b.start));
    return ok(200, { kind: "calendar#events", items });
  }
  if (!id && req.method === "POST") {
    let body: Record<string, unknown>;
    try {
      body = await req.json();
    } catch {
      return gerror(400, "parseError", "Parse Error");
    }
    const newId = typeof body.id === "string" ? body.id : s.random("").replace(/[^a-v0-9]/g, "").slice(0, 26);
    if (!EVENT_ID.test(newId)) return gerror(400, "invalid", "Invalid resource id value.");
    if (cal.has(newId)) return gerror(409, "duplicate", "The requested identifier already exists.");
    const start = body.start as Record<string, string> | undefined;
    const end = body.end as Record<string, string> | undefined;
    const bad = timesError(start, end);
    if (bad) return bad;
    if (instant(end) < instant(start)) {
      return gerror(400, "timeRangeEmpty", "The specified time range is empty.");
    }
    const event: CalendarEvent = {
      id: newId,
      status: "confirmed",
      summary: body.summary as string | undefined,
      description: body.description as string | undefined,
      start,
      end,
      attendees: attendeesOf(body.attendees),
      created: now,
      updated: now,
      htmlLink: `https://www.google.com/calendar/event?eid=${btoa(newId)}`,
    };
    const createRequest = (body.conferenceData as { createRequest?: { requestId?: string } } | undefined)
      ?.createRequest;
    if (withMeet && createRequest?.requestId) {
      const status = s.config.meetStatus ?? "success";
      event.conferenceData = {
        createRequest: {
          requestId: createRequest.requestId,
          conferenceSolutionKey: { type: "hangoutsMeet" },
          status: { statusCode: status },
        },
      };
      if (status === "success") addMeet(event);
    }
    cal.set(newId, event);
    return ok(200, event);
  }
  if (!id) return gerror(404, "notFound", "Not Found");
  const existing = cal.get(id);
  if (!existing || existing.purged) return gerror(404, "notFound", "Not Found");
  if (existing.status === "cancelled") {
    return req.method === "GET" ? ok(200, existing) : gerror(410, "deleted", "Resource has been deleted");
  }
  if (req.method === "GET") {
    // A Meet made asynchronously is there by the event's next read.
    const request = existing.conferenceData?.createRequest as
      | { status?: { statusCode?: string } }
      | undefined;
    if (request?.status?.statusCode === "pending") {
      request.status.statusCode = "success";
      addMeet(existing);
    }
    return ok(200, existing);
  }
  if (req.method === "PATCH") {
    let body: Record<string, unknown>;
    try {
      body = await req.json();
    } catch {
      return gerror(400, "parseError", "Parse Error");
    }
    for (const k of ["summary", "description"] as const) {
      if (body[k] !== undefined) (existing as unknown as Record<string, unknown>)[k] = body[k];
    }
    // Patch semantics ("Events: patch"): the fields given replace, the others
    // stay, and null clears one, inside start and end too. An all-day event
    // given a dateTime keeps its date unless the patch clears it: 400.
    const merged: Record<string, Record<string, string>> = {};
    for (const k of ["start", "end"] as const) {
      const given = body[k] as Record<string, string | null> | undefined;
      const next: Record<string, string> = { ...existing[k] };
      for (const [f, v] of Object.entries(given ?? {})) {
        if (v === null) delete next[f];
        else next[f] = v;
      }
      merged[k] = next;
    }
    const bad = timesError(merged.start, merged.end);
    if (bad) return bad;
    if (instant(merged.end) < instant(merged.start)) {
      return gerror(400, "timeRangeEmpty", "The specified time range is empty.");
    }
    existing.start = merged.start;
    existing.end = merged.end;
    if (body.attendees !== undefined) existing.attendees = attendeesOf(body.attendees);
    existing.updated = now;
    return ok(200, existing);
  }
  if (req.method === "DELETE") {
    existing.status = "cancelled";
    existing.updated = now;
    return new Response(null, { status: 204 });
  }
  return gerror(404, "notFound", "Not Found");
}
