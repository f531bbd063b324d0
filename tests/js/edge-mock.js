// A fetch that plays the edge functions and Google Calendar for the browser
// client's wasm tests. refresh-google-token hands out at-1, at-2, … and
// records which user (the session JWT's sub) each was issued to; the
// calendar answers 401 to tokens marked rejected.

/** An unsigned JWT-shaped session token for `sub` (the client never verifies). */
export function jwtFor(sub) {
  const b64 = (o) => btoa(JSON.stringify(o)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  return `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ sub, role: "authenticated" })}.sig`;
}

function subOf(authorization) {
  const jwt = (authorization ?? "").replace(/^Bearer /, "");
  const payload = jwt.split(".")[1] ?? "";
  try {
    return JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/"))).sub ?? null;
  } catch {
    return null;
  }
}

export function edgeMock() {
  const state = {
    calls: [],
    refreshCalls: 0,
    forced: 0,
    rejected: new Set(),
    calendarTokens: [],
    /** token -> the user it was issued to */
    issuedTo: new Map(),
    /** token -> the connection it was issued for */
    issuedFor: new Map(),
    /** bodies posted to connections/complete */
    completed: [],
    nextError: null,
    /** Marker to put on the next create-google-meet response. */
    markerOnNext: null,
    /** How long each next calendar request takes to answer (ms), in order; then 0. */
    calendarDelays: [],
  };
  const fetchFn = (url, init = {}) => {
    const headers = new Headers(init.headers);
    state.calls.push({ url, method: init.method ?? "GET", auth: headers.get("authorization") });
    const route = /\/connections\/([a-z0-9_-]+)\/(token|disconnect)$/.exec(url);
    if (url.endsWith("/connections/complete")) {
      state.completed.push(JSON.parse(init.body ?? "{}"));
      return Promise.resolve(Response.json({ provider: "spotify", status: "connected", accountName: "Ada" }));
    }
    if (route?.[2] === "disconnect") {
      return Promise.resolve(
        Response.json({ provider: route[1], revocation: "revoked", status: { status: "disconnected" } }),
      );
    }
    if (url.endsWith("/refresh-google-token") || route?.[2] === "token") {
      if (state.nextError) {
        const e = state.nextError;
        state.nextError = null;
        return Promise.resolve(new Response(JSON.stringify(e.body), { status: e.status }));
      }
      state.refreshCalls++;
      const body = JSON.parse(init.body ?? "{}");
      if (body.force) state.forced++;
      const refreshedAt = new Date(Date.now() + state.refreshCalls).toISOString();
      state.issuedTo.set(`at-${state.refreshCalls}`, subOf(headers.get("authorization")));
      state.issuedFor.set(`at-${state.refreshCalls}`, route ? route[1] : "google");
      return new Promise((resolve) =>
        setTimeout(() =>
          resolve(
            new Response(
              JSON.stringify({
                accessToken: `at-${state.refreshCalls}`,
                expiresAt: Date.now() + 3_600_000,
                tokenRefreshedAt: refreshedAt,
                scope: "calendar",
              }),
              {
                status: 200,
                headers: {
                  "x-token-refreshed-at": refreshedAt,
                  ...(route ? { "x-token-connection": route[1] } : {}),
                },
              },
            ),
          ), 5)
      );
    }
    if (url.endsWith("/create-google-meet")) {
      const marker = state.markerOnNext;
      state.markerOnNext = null;
      return Promise.resolve(
        new Response(JSON.stringify({ eventId: "e1" }), {
          status: 201,
          headers: marker ? { "x-token-refreshed-at": marker } : {},
        }),
      );
    }
    if (url.startsWith("https://calendar.test/")) {
      const token = (headers.get("authorization") ?? "").replace(/^Bearer /, "");
      state.calendarTokens.push(token);
      const answer = state.rejected.has(token)
        ? new Response('{"error":{"code":401}}', { status: 401 })
        : new Response('{"items":[]}', { status: 200 });
      const delay = state.calendarDelays.shift() ?? 0;
      return delay
        ? new Promise((resolve) => setTimeout(() => resolve(answer), delay))
        : Promise.resolve(answer);
    }
    return Promise.resolve(new Response("{}", { status: 404 }));
  };
  return { fetch: fetchFn, state };
}

const sessions = new WeakMap();

/** Options for one tab, signed in as `sub` (default "user-a"). */
export function clientOptions(mock, channelName, sub = "user-a") {
  const session = { sub };
  const opts = {
    functionsUrl: "https://project.test/functions/v1",
    getSessionToken: () => Promise.resolve(jwtFor(session.sub)),
    channelName,
    fetch: mock.fetch,
  };
  sessions.set(opts, session);
  return opts;
}

/** The tab made with `opts` is now signed in as `sub`. */
export function signInAs(opts, sub) {
  sessions.get(opts).sub = sub;
}

export function issuedFor(mock, token) {
  return mock.state.issuedFor.get(token) ?? null;
}

export function completedTickets(mock) {
  return mock.state.completed.map((b) => b.ticket);
}

export function issuedTo(mock, token) {
  return mock.state.issuedTo.get(token) ?? null;
}

export function refreshCalls(mock) {
  return mock.state.refreshCalls;
}

export function forcedCalls(mock) {
  return mock.state.forced;
}

export function delayCalendar(mock, delays) {
  mock.state.calendarDelays.push(...delays);
}

export function rejectToken(mock, token) {
  mock.state.rejected.add(token);
}

export function calendarTokens(mock) {
  return mock.state.calendarTokens.slice();
}

export function failNextRefresh(mock, status, body) {
  mock.state.nextError = { status, body };
}

export function markerOnNextCall(mock, marker) {
  mock.state.markerOnNext = marker;
}

export function recorder() {
  const changes = [];
  return { changes, listener: (c) => changes.push(c) };
}

export function changes(rec) {
  return rec.changes;
}

export function listenerOf(rec) {
  return rec.listener;
}

export function tick(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

export function uniqueChannel() {
  return `otm-test-${Math.random().toString(36).slice(2)}`;
}
