// The browser driver's edge-function calls (js/client.js over the browser
// build's ClientCore), in Node through the package's browser entry: which
// user and connection a call is about, its timeout, the options checked at
// construction, and what a retry after a 401 tells the token function.
import assert from "node:assert/strict";
import { test } from "node:test";
import init, { BrowserTokenClient, TokenManagerError } from "../../pkg/browser.js";
import { channelName, deferred, jwtFor, options, subOf, tokenBody } from "./driver_helpers.mjs";

await init();

test("an error about another connection is reported as that connection's, not Google's", {
  timeout: 10_000,
}, async () => {
  // An error answer may not carry X-Token-Connection: the path names it.
  const c = new BrowserTokenClient(options(() =>
    Promise.resolve(Response.json(
      { error: "reconnect spotify", code: "REAUTH_REQUIRED", requiresReauth: true },
      { status: 401 },
    ))
  ));
  const seen = [];
  c.onChange((change) => change.type === "error" && seen.push(change.provider));
  try {
    await assert.rejects(
      c.callFunction("connections/spotify/disconnect", {}),
      (e) => e.code === "REAUTH_REQUIRED",
    );
    await assert.rejects(c.callFunction("create-google-meet", {}), (e) => e.code === "REAUTH_REQUIRED");
    assert.deepEqual(seen, ["spotify", "google"]);
  } finally {
    c.close();
  }
});

test("a session given to one call or to observeResponse does not become the tab's user", {
  timeout: 10_000,
}, async () => {
  const t0 = Date.now();
  let issued = 0;
  const c = new BrowserTokenClient(options((url) => {
    if (url.endsWith("/store")) return Promise.resolve(Response.json({ ok: true }));
    return Promise.resolve(new Response(tokenBody(`at-${++issued}`, t0)));
  }, { getSessionToken: () => jwtFor("user-b") }));
  try {
    const first = await c.getAccessToken();
    // The adapter stores a sign-in's tokens with that event's own session,
    // another user's by now: the tab stays user-b's, its token cached.
    await c.callFunction("connections/google/store", { providerToken: "x" }, "POST", {
      session: jwtFor("user-a"),
    });
    // A response to user-a's request, with a newer marker: not user-b's news.
    const marked = new Response("{}", {
      headers: { "x-token-refreshed-at": new Date(t0 + 5000).toISOString() },
    });
    c.observeResponse(marked, { session: jwtFor("user-a") });
    assert.equal((await c.getAccessToken()).accessToken, first.accessToken);
    assert.equal(issued, 1, "no second token call");
    assert.throws(() => c.observeResponse(marked, { session: 7 }), (e) => e.code === "BAD_REQUEST");
  } finally {
    c.close();
  }
});

test(
  "another tab's sign-out ends a session read this tab started before it",
  { timeout: 10_000 },
  async () => {
    const channel = channelName();
    let calls = 0;
    const fetch = () => (calls++, Promise.resolve(new Response(tokenBody("at", Date.now()))));
    let pending;
    const second = new BrowserTokenClient(options(fetch, {
      channelName: channel,
      getSessionToken: () => pending?.promise ?? jwtFor("user-a"),
    }));
    const first = new BrowserTokenClient(options(fetch, { channelName: channel }));
    try {
      await first.getAccessToken();
      await second.getAccessToken();
      const asked = calls;
      pending = deferred();
      const read = second.getAccessToken({ force: true });
      const told = new Promise((resolve) =>
        second.onChange((ch) => ch.type === "reset" && ch.fromOtherTab && resolve())
      );
      first.reset();
      await told;
      pending.resolve(jwtFor("user-a"));
      await assert.rejects(read, (e) => e.code === "UNAUTHORIZED");
      assert.equal(calls, asked, "no token asked for after the sign-out");
    } finally {
      first.close();
      second.close();
    }
  },
);

test("the retry after a provider's 401 tells the token function when the rejected token was refreshed", {
  timeout: 10_000,
}, async () => {
  const t0 = Date.now();
  const bodies = [];
  let api = 0;
  const c = new BrowserTokenClient(options((url, init) => {
    if (url.startsWith("https://api.invalid/")) {
      return Promise.resolve(new Response("", { status: ++api === 1 ? 401 : 200 }));
    }
    bodies.push(init.body);
    return Promise.resolve(new Response(tokenBody(`at-${bodies.length}`, t0 + bodies.length)));
  }));
  try {
    const first = await c.getAccessToken();
    assert.equal((await c.fetch("https://api.invalid/x")).status, 200);
    assert.deepEqual(bodies, [
      "{}",
      JSON.stringify({ force: true, rejectedRefreshedAt: Date.parse(first.tokenRefreshedAt) }),
    ]);
  } finally {
    c.close();
  }
});

test("an edge function that never answers: callFunction rejects with TIMEOUT and aborts the request", {
  timeout: 10_000,
}, async () => {
  let aborted;
  const c = new BrowserTokenClient(options((_url, init) =>
    new Promise((_, reject) => {
      init.signal.addEventListener("abort", () => {
        aborted = true;
        reject(init.signal.reason);
      });
    }), { functionTimeoutMs: 20 }));
  try {
    await assert.rejects(c.callFunction("connections"), (e) => e.code === "TIMEOUT" && e.retryable === true);
    assert.equal(aborted, true);
  } finally {
    c.close();
  }
  assert.throws(
    () => new BrowserTokenClient(options(() => {}, { functionTimeoutMs: 0 })),
    (e) => e.code === "CONFIG",
  );
});

test("options the client calls are checked at construction: CONFIG naming the option", () => {
  const refused = (extra, message) =>
    assert.throws(
      () => new BrowserTokenClient(options(() => {}, extra)),
      (e) => e instanceof TokenManagerError && e.code === "CONFIG" && e.message === message,
    );
  refused({ getSessionToken: "jwt" }, "options.getSessionToken: must be a function");
  refused({ fetch: "https://x" }, "options.fetch: must be a function");
  refused(
    { functionTimeoutMs: 1.5 },
    "options.functionTimeoutMs: must be a whole number of ms from 1 to 2147483647",
  );
  refused(
    { functionTimeoutMs: 2 ** 31 },
    "options.functionTimeoutMs: must be a whole number of ms from 1 to 2147483647",
  );
  refused({ functionsUrl: "ftp://x" }, "options.functionsUrl: must be an http(s) URL");
  const realFetch = globalThis.fetch;
  globalThis.fetch = undefined;
  try {
    refused({ fetch: undefined }, "options.fetch: no global fetch in this runtime; pass one");
  } finally {
    globalThis.fetch = realFetch;
  }
});

test(
  "callFunction with options.session sends that session, not getSessionToken's",
  { timeout: 10_000 },
  async () => {
    const seen = [];
    const c = new BrowserTokenClient(options((_url, init) => {
      seen.push(subOf(new Headers(init.headers).get("authorization")));
      return Promise.resolve(Response.json({ ok: true }));
    }, { getSessionToken: () => jwtFor("user-b") }));
    try {
      await c.callFunction("connections/google/store", { providerToken: "x" }, "POST", {
        session: jwtFor("user-a"),
      });
      await c.callFunction("connections");
      assert.deepEqual(seen, ["user-a", "user-b"]);
      await assert.rejects(
        c.callFunction("connections", undefined, undefined, { session: 42 }),
        (e) => e instanceof TokenManagerError && e.code === "BAD_REQUEST",
      );
    } finally {
      c.close();
    }
  },
);

test("a connection named as a string is that connection; a wrong kind of name is BAD_REQUEST, never Google", {
  timeout: 10_000,
}, async () => {
  // Each token function answers with its own connection's token; a provider
  // API answers with the bearer it was sent.
  const sent = [];
  const c = new BrowserTokenClient(options((input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    const fn = /functions\/v1\/(.*)$/.exec(url)?.[1];
    if (fn === "refresh-google-token") {
      return Promise.resolve(new Response(tokenBody("google-token", Date.now())));
    }
    if (fn === "connections/spotify/token") {
      return Promise.resolve(new Response(tokenBody("spotify-token", Date.now())));
    }
    sent.push(new Headers(init?.headers).get("authorization"));
    return Promise.resolve(new Response("{}"));
  }));
  try {
    assert.equal((await c.getAccessToken("spotify")).accessToken, "spotify-token");
    assert.equal((await c.getAccessToken({ provider: "spotify" })).accessToken, "spotify-token");
    assert.equal((await c.getAccessToken()).accessToken, "google-token");
    await c.fetch("https://api.spotify.invalid/v1/me", {}, "spotify");
    await c.fetch("https://api.spotify.invalid/v1/me", {}, { provider: "spotify" });
    assert.deepEqual(sent, ["Bearer spotify-token", "Bearer spotify-token"]);
    assert.equal(c.tokenInfo("spotify").hasToken, true);
    assert.equal(c.tokenInfo({ provider: "spotify" }).hasToken, true);
    const bad = (e) => e instanceof TokenManagerError && e.code === "BAD_REQUEST";
    for (const wrong of [7, true, { provider: 7 }, ""]) {
      await assert.rejects(c.getAccessToken(wrong), bad, `getAccessToken(${JSON.stringify(wrong)})`);
      await assert.rejects(c.fetch("https://api.spotify.invalid/v1/me", {}, wrong), bad);
      assert.throws(() => c.tokenInfo(wrong), bad);
    }
    assert.equal(sent.length, 2, "no provider call with a token it was not meant for");
  } finally {
    c.free();
  }
});
