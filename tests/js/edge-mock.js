// A fetch that plays the edge functions and Google Calendar for the browser
// client's wasm tests. refresh-google-token hands out at-1, at-2, …; the
// calendar answers 401 to tokens marked rejected.

export function edgeMock() {
  const state = {
    calls: [],
    refreshCalls: 0,
    forced: 0,
    rejected: new Set(),
    calendarTokens: [],
    nextError: null,
    /** Marker to put on the next create-google-meet response. */
    markerOnNext: null,
  };
  const fetchFn = (url, init = {}) => {
    const headers = new Headers(init.headers);
    state.calls.push({ url, method: init.method ?? "GET", auth: headers.get("authorization") });
    if (url.endsWith("/refresh-google-token")) {
      if (state.nextError) {
        const e = state.nextError;
        state.nextError = null;
        return Promise.resolve(new Response(JSON.stringify(e.body), { status: e.status }));
      }
      state.refreshCalls++;
      const body = JSON.parse(init.body ?? "{}");
      if (body.force) state.forced++;
      const refreshedAt = new Date(Date.now() + state.refreshCalls).toISOString();
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
              { status: 200, headers: { "x-token-refreshed-at": refreshedAt } },
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
      if (state.rejected.has(token)) {
        return Promise.resolve(new Response('{"error":{"code":401}}', { status: 401 }));
      }
      return Promise.resolve(new Response('{"items":[]}', { status: 200 }));
    }
    return Promise.resolve(new Response("{}", { status: 404 }));
  };
  return { fetch: fetchFn, state };
}

export function clientOptions(mock, channelName) {
  return {
    functionsUrl: "https://project.test/functions/v1",
    getSessionToken: () => Promise.resolve("session-jwt"),
    channelName,
    fetch: mock.fetch,
  };
}

export function refreshCalls(mock) {
  return mock.state.refreshCalls;
}

export function forcedCalls(mock) {
  return mock.state.forced;
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
