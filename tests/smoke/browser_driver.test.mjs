// The browser client's I/O side (js/client.js over the browser build's
// ClientCore), in Node through the package's browser entry: what a page's
// own fetch, listeners and lifecycle can do to it. Each case is a way the
// driver could go wrong while the core's decisions stay right: a remembered
// answer the cache refused, a flight left open, a client that is never
// collected, a freed client still working.
import assert from "node:assert/strict";
import { test } from "node:test";
import v8 from "node:v8";
import vm from "node:vm";
import init, { BrowserTokenClient, TokenManagerError } from "../../pkg/browser.js";
import { channelName, deferred, jwtFor, options, subOf, tokenBody } from "./driver_helpers.mjs";

await init();
v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc");

test(
  "a token the cache refused is returned to its caller but never remembered",
  { timeout: 10_000 },
  async () => {
    // A normal call and a forced one are both on their way; the forced one
    // brings a newer token first, so the normal one's older answer is refused.
    const t0 = Date.now();
    const slow = deferred();
    const c = new BrowserTokenClient(options((_url, init) => {
      if (init.body === '{"force":true}') {
        return Promise.resolve(new Response(tokenBody("at-new", t0 + 2000)));
      }
      return slow.promise.then(() => new Response(tokenBody("at-old", t0 + 1000)));
    }));
    const normal = c.getAccessToken();
    const forced = await c.getAccessToken({ force: true });
    assert.equal(forced.accessToken, "at-new");
    slow.resolve();
    assert.equal((await normal).accessToken, "at-old", "its own caller gets what it asked for");
    assert.equal((await c.getAccessToken()).accessToken, "at-new", "later calls get the cache's token");
    assert.equal(c.tokenInfo().hasToken, true);
    c.close();
  },
);

test(
  "a flight whose response cannot be read ends, and the next call asks again",
  { timeout: 10_000 },
  async () => {
    let calls = 0;
    const c = new BrowserTokenClient(options(() => {
      calls++;
      if (calls === 1) {
        return Promise.resolve({
          status: 200,
          headers: null,
          text: () => Promise.resolve(null),
        });
      }
      if (calls === 2) {
        return Promise.resolve({
          status: 200,
          headers: {
            get: () => {
              throw new Error("x");
            },
          },
          text: null,
        });
      }
      return Promise.resolve(new Response(tokenBody("at-3", Date.now())));
    }));
    await assert.rejects(
      c.getAccessToken(),
      (e) => e instanceof TokenManagerError && e.code === "BAD_PROVIDER_RESPONSE",
    );
    await assert.rejects(c.getAccessToken(), (e) => e instanceof TokenManagerError && e.code === "NETWORK");
    assert.equal((await c.getAccessToken()).accessToken, "at-3");
    c.close();
  },
);

test(
  "a fetch that asks for a token while it is called joins the flight it serves",
  { timeout: 10_000 },
  async () => {
    let inner;
    let calls = 0;
    const c = new BrowserTokenClient(options(() => {
      calls++;
      inner ??= c.getAccessToken();
      return Promise.resolve(new Response(tokenBody("at-1", Date.now())));
    }));
    const outer = await c.getAccessToken();
    assert.equal(outer.accessToken, "at-1");
    assert.equal(await inner, outer);
    assert.equal(calls, 1);
    c.close();
  },
);

test(
  "effects reach other tabs in the core's order when a listener signs out",
  { timeout: 10_000 },
  async () => {
    const name = channelName("driver-order");
    const fetch = () =>
      Promise.resolve(
        new Response(tokenBody("at-1", Date.now()), {
          headers: { "x-token-refreshed-at": new Date(Date.now()).toISOString() },
        }),
      );
    const a = new BrowserTokenClient(options(fetch, { channelName: name }));
    const b = new BrowserTokenClient(options(fetch, { channelName: name }));
    await b.getAccessToken({ provider: "spotify" }); // b knows its user
    const seen = [];
    const listen = new BroadcastChannel(name);
    const both = new Promise((resolve) => {
      listen.onmessage = (ev) => {
        seen.push(ev.data.type);
        if (seen.includes("token") && seen.includes("reset")) resolve();
      };
    });
    const bReset = new Promise((resolve) =>
      b.onChange((ch) => ch.type === "reset" && ch.fromOtherTab && resolve())
    );
    a.onChange((change) => {
      if (change.type === "marker") a.reset();
    });
    await a.getAccessToken();
    await both;
    await bReset;
    listen.close();
    assert.equal(seen.at(-1), "reset", `the sign-out is the last word: ${seen.join(", ")}`);
    assert.equal(b.tokenInfo().hasToken, false, "the other tab holds no token after the sign-out");
    a.close();
    b.close();
  },
);

test(
  "a client dropped without close() is collected, and its channel closed",
  { timeout: 10_000 },
  async () => {
    let ref;
    (() => {
      const c = new BrowserTokenClient(options(() => Promise.reject(new Error("unused"))));
      ref = new WeakRef(c);
    })();
    for (let i = 0; i < 50 && ref.deref() !== undefined; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      gc();
    }
    assert.equal(ref.deref(), undefined, "the client was collected");
  },
);

test("free() at once or during a call: the call still answers, nothing rejects unhandled", {
  timeout: 10_000,
}, async () => {
  const unhandled = [];
  const onUnhandled = (e) => unhandled.push(e);
  process.on("unhandledRejection", onUnhandled);
  try {
    new BrowserTokenClient(options(() => Promise.reject(new Error("unused")))).free();
    const gate = deferred();
    const c = new BrowserTokenClient(
      options(() => gate.promise.then(() => new Response(tokenBody("at-1", Date.now())))),
    );
    const pending = c.getAccessToken();
    await new Promise((resolve) => setImmediate(resolve));
    c.free();
    c.free();
    gate.resolve();
    assert.equal((await pending).accessToken, "at-1");
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(unhandled, []);
    if (typeof Symbol.dispose === "symbol") {
      const d = new BrowserTokenClient(options(() => Promise.reject(new Error("unused"))));
      d[Symbol.dispose]();
      await assert.rejects(d.getAccessToken(), (e) => e instanceof TokenManagerError && e.code === "CONFIG");
    }
  } finally {
    process.off("unhandledRejection", onUnhandled);
  }
});

test("callFunction refuses a response without a numeric status, and names what getSessionToken threw", {
  timeout: 10_000,
}, async () => {
  const c = new BrowserTokenClient(
    options(() =>
      Promise.resolve({ status: undefined, headers: new Headers(), text: () => Promise.resolve("{}") })
    ),
  );
  await assert.rejects(c.callFunction("get-token-status"), (e) => e instanceof TokenManagerError);
  c.close();
  const d = new BrowserTokenClient(
    options(() => Promise.reject(new Error("unused")), { getSessionToken: () => Promise.reject(undefined) }),
  );
  await assert.rejects(
    d.getAccessToken(),
    (e) =>
      e instanceof TokenManagerError && e.code === "UNAUTHORIZED" &&
      e.message === "getSessionToken: unknown error",
  );
  d.close();
});

test(
  "a listener that asks for a token when the user changes joins the new user's call",
  { timeout: 10_000 },
  async () => {
    let user = "user-a";
    const c = new BrowserTokenClient(options(
      (_url, init) => {
        const sub = subOf(new Headers(init.headers).get("authorization"));
        return Promise.resolve(new Response(tokenBody(`at-${sub}`, Date.now())));
      },
      { getSessionToken: () => jwtFor(user) },
    ));
    await c.getAccessToken();
    let fromListener;
    c.onChange((change) => {
      if (change.type === "reset" && change.reason === "user-changed") fromListener = c.getAccessToken();
    });
    user = "user-b";
    const t = await c.getAccessToken();
    assert.equal(t.accessToken, "at-user-b");
    assert.equal((await fromListener).accessToken, "at-user-b");
    c.close();
  },
);

test("a session read before a sign-out is not used after it", { timeout: 10_000 }, async () => {
  const session = deferred();
  let calls = 0;
  const c = new BrowserTokenClient(options(
    () => (calls++, Promise.resolve(new Response(tokenBody("at-1", Date.now())))),
    { getSessionToken: () => session.promise },
  ));
  const pending = c.getAccessToken();
  const call = c.callFunction("get-token-status");
  c.reset();
  session.resolve(jwtFor("user-a"));
  await assert.rejects(pending, (e) => e instanceof TokenManagerError && e.code === "UNAUTHORIZED");
  await assert.rejects(call, (e) => e instanceof TokenManagerError && e.code === "UNAUTHORIZED");
  assert.equal(calls, 0, "nothing was asked with the signed-out session");
  assert.equal(c.tokenInfo().hasToken, false);
  c.close();
});

test(
  "the token call is cut at its timeout even when fetch ignores the abort",
  { timeout: 10_000 },
  async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const c = new BrowserTokenClient(options(() => new Promise(() => {})));
    const pending = c.getAccessToken();
    const late = c.getAccessToken();
    await new Promise((resolve) => setImmediate(resolve));
    t.mock.timers.tick(20_000);
    await assert.rejects(pending, (e) => e instanceof TokenManagerError && e.code === "TIMEOUT");
    await assert.rejects(late, (e) => e instanceof TokenManagerError && e.code === "TIMEOUT");
    c.close();
  },
);

test("a provider's 401 is not retried with another user's token", { timeout: 10_000 }, async () => {
  let user = "user-a";
  const api = [];
  const tokenCalls = [];
  const c = new BrowserTokenClient(options(
    (url, init) => {
      const auth = new Headers(init.headers).get("authorization");
      if (url.startsWith("https://api.invalid/")) {
        api.push(auth);
        user = "user-b"; // another user signs in while the request is on its way
        return Promise.resolve(new Response("", { status: 401 }));
      }
      tokenCalls.push(init.body);
      const sub = subOf(auth);
      return Promise.resolve(new Response(tokenBody(`at-${sub}`, Date.now())));
    },
    { getSessionToken: () => jwtFor(user) },
  ));
  await c.getAccessToken(); // user-a is known
  const r = await c.fetch("https://api.invalid/calendar", { method: "POST", body: "{}" });
  assert.equal(r.status, 401);
  assert.deepEqual(api, ["Bearer at-user-a"], "no retry as user-b");
  assert.deepEqual(tokenCalls, ["{}"], "user-b's connection is not force-refreshed for user-a's 401");
  c.close();
});

test(
  "a disconnect answered after the user changed leaves the new user's token alone",
  { timeout: 10_000 },
  async () => {
    let user = "user-a";
    const answer = deferred();
    const c = new BrowserTokenClient(options(
      (url, init) => {
        if (url.endsWith("/disconnect")) {
          return answer.promise.then(() => Response.json({ revocation: "revoked" }));
        }
        const sub = subOf(new Headers(init.headers).get("authorization"));
        return Promise.resolve(new Response(tokenBody(`at-${sub}`, Date.now())));
      },
      { getSessionToken: () => jwtFor(user) },
    ));
    await c.getAccessToken();
    const gone = c.disconnect("google");
    await new Promise((resolve) => setImmediate(resolve));
    user = "user-b";
    assert.equal((await c.getAccessToken()).accessToken, "at-user-b");
    answer.resolve();
    await gone;
    assert.equal(c.tokenInfo().hasToken, true, "user-b's token stays");
    c.close();
  },
);

test(
  "edge function failures are TokenManagerErrors, and a freed client says so",
  { timeout: 10_000 },
  async () => {
    const c = new BrowserTokenClient(options(() =>
      Promise.resolve({
        status: 200,
        headers: new Headers(),
        text: () => Promise.reject(new TypeError("reset")),
      })
    ));
    await assert.rejects(
      c.callFunction("get-token-status"),
      (e) => e instanceof TokenManagerError && e.code === "NETWORK",
    );
    c.free();
    await assert.rejects(c.getAccessToken(), (e) => e instanceof TokenManagerError && e.code === "CONFIG");
    await assert.rejects(
      c.callFunction("connections"),
      (e) => e instanceof TokenManagerError && e.code === "CONFIG",
    );
    assert.throws(() => c.tokenInfo(), (e) => e instanceof TokenManagerError && e.code === "CONFIG");
  },
);

test("a crafted connect return shows only a known code, and connect goes only to an http(s) address", {
  timeout: 10_000,
}, async () => {
  const c = new BrowserTokenClient(
    options(() => Promise.resolve(Response.json({ authorizationUrl: "javascript:alert(1)" }))),
  );
  const done = await c.completeConnect("https://app.invalid/?otm_error=YOU_HAVE_WON&otm_provider=spotify");
  assert.equal(done.error.code, "BAD_REQUEST");
  const denied = await c.completeConnect(
    "https://app.invalid/?otm_error=CONSENT_DENIED&otm_provider=spotify",
  );
  assert.equal(denied.error.code, "CONSENT_DENIED");
  const assigned = [];
  globalThis.location = { href: "https://app.invalid/", assign: (u) => assigned.push(u) };
  try {
    await c.connect("spotify");
  } finally {
    delete globalThis.location;
  }
  assert.deepEqual(assigned, []);
  c.close();
});

test(
  "the 401 retry resends a Request's headers and body; a stream body is not held for it",
  { timeout: 10_000 },
  async () => {
    let issued = 0;
    const api = [];
    const c = new BrowserTokenClient(options(async (input, init) => {
      if (typeof input === "string" && input.startsWith("https://project.invalid/")) {
        issued++;
        return new Response(tokenBody(`at-${issued}`, Date.now() + issued));
      }
      const sent = new Request(input, init); // what a real fetch sends
      api.push([sent.headers.get("authorization"), sent.headers.get("content-type"), await sent.text()]);
      if (api.length % 2 === 0) return new Response("", { status: 200 });
      const n = api.length;
      const body = new ReadableStream({
        pull: (c) => (c.enqueue(new TextEncoder().encode("denied")), c.close()),
        cancel: () => void unread.push(n),
      }, { highWaterMark: 0 });
      return new Response(body, { status: 401 });
    }));
    const unread = []; // the 401s whose body the client let go
    const request = new Request("https://api.invalid/events", {
      method: "POST",
      body: "payload",
      headers: { "content-type": "application/json" },
    });
    assert.equal((await c.fetch(request)).status, 200);
    assert.deepEqual(api, [
      ["Bearer at-1", "application/json", "payload"],
      ["Bearer at-2", "application/json", "payload"],
    ]);
    assert.deepEqual(unread, [1], "the retried 401's body is cancelled, not left open");

    // A Request whose body was read, with a body in init (which replaces it, as in fetch).
    api.length = 0;
    assert.equal(
      (await c.fetch(request, { body: "again", headers: { "content-type": "text/plain" } })).status,
      200,
    );
    assert.deepEqual(api, [
      ["Bearer at-2", "text/plain", "again"],
      ["Bearer at-3", "text/plain", "again"],
    ]);

    // A stream is sent once: a 401 on it is the answer (no copy of the upload is kept).
    api.length = 0;
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("streamed"));
        controller.close();
      },
    });
    const r = await c.fetch("https://api.invalid/events", { method: "POST", body, duplex: "half" });
    assert.equal(r.status, 401);
    assert.deepEqual(api, [["Bearer at-3", null, "streamed"]]);
    assert.equal(await r.text(), "denied", "the 401 it returns is whole");
    c.close();
  },
);

test("fetch's abort signal ends its wait for a token, and stops a forced refresh after a 401", {
  timeout: 10_000,
}, async () => {
  const token = deferred();
  const calls = [];
  let on401 = () => {};
  const c = new BrowserTokenClient(options((url, init) => {
    if (url instanceof Request || url.startsWith("https://api.invalid/")) {
      on401();
      return Promise.resolve(new Response("", { status: 401 }));
    }
    calls.push(init.body);
    return calls.length === 1
      ? token.promise.then(() => new Response(tokenBody("at-1", Date.now())))
      : Promise.resolve(new Response(tokenBody(`at-${calls.length}`, Date.now())));
  }));
  try {
    // Aborted already: no token call.
    const before = new AbortController();
    before.abort();
    await assert.rejects(
      c.fetch("https://api.invalid/x", { signal: before.signal }),
      (e) => e.name === "AbortError",
    );
    assert.equal(calls.length, 0);
    // Aborted while the token call is on its way: the caller is answered at
    // once; the call goes on for another caller sharing it.
    const waiting = new AbortController();
    const aborted = c.fetch("https://api.invalid/x", { signal: waiting.signal });
    const other = c.getAccessToken();
    await new Promise((r) => setImmediate(r));
    waiting.abort();
    await assert.rejects(aborted, (e) => e.name === "AbortError");
    token.resolve();
    assert.equal((await other).accessToken, "at-1");
    assert.equal(calls.length, 1);
    // Aborted as the 401 comes (a Request's own signal): no forced refresh.
    const late = new AbortController();
    on401 = () => late.abort();
    const request = new Request("https://api.invalid/x", { signal: late.signal });
    await assert.rejects(c.fetch(request), (e) => e.name === "AbortError");
    assert.deepEqual(calls, ["{}"], "no forced token call after the abort");
  } finally {
    token.resolve();
    c.close();
  }
});

test("a 401 is not retried when another user signed in between the token's answer and the request", {
  timeout: 10_000,
}, async () => {
  let user = "user-a";
  const api = [];
  const c = new BrowserTokenClient(options(
    (url, init) => {
      const auth = new Headers(init.headers).get("authorization");
      if (url.startsWith("https://api.invalid/")) {
        api.push(auth);
        return Promise.resolve(new Response("", { status: 401 }));
      }
      const sub = subOf(auth);
      return Promise.resolve(new Response(tokenBody(`at-${sub}`, Date.now())));
    },
    { getSessionToken: () => jwtFor(user) },
  ));
  try {
    // As user-a's token arrives, a listener's call finds user-b signed in:
    // the client switches to user-b before fetch sends user-a's request.
    let switched;
    c.onChange((change) => {
      if (change.type === "token" && user === "user-a") {
        user = "user-b";
        switched = c.getAccessToken();
      }
    });
    const r = await c.fetch("https://api.invalid/calendar", { method: "POST", body: "{}" });
    assert.equal((await switched).accessToken, "at-user-b");
    assert.equal(r.status, 401, "the 401 is the answer");
    assert.deepEqual(api, ["Bearer at-user-a"], "user-a's request is not sent again with user-b's token");
  } finally {
    c.close();
  }
});
