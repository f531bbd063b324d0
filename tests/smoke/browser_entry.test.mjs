// The package's browser entry (pkg/browser.js) as a page uses it, in Node:
// BrowserTokenClient with its cached answer remembered on the JS side of the
// boundary. Whatever the memo saves, the answers must be the module's: the
// session's user only, fresh only, dropped on every change. Time is Date.now,
// which the test sets (the module reads the same clock).
import assert from "node:assert/strict";
import { afterEach, beforeEach, test } from "node:test";
import init, { BrowserTokenClient, TokenManagerError } from "../../pkg/browser.js";

await init();

const realNow = Date.now;
let now = 1_800_000_000_000;
beforeEach(() => (Date.now = () => now));
afterEach(() => (Date.now = realNow));

const jwtFor = (sub) => `${btoa('{"alg":"none"}')}.${btoa(JSON.stringify({ sub }))}.sig`;
let channel = 0;

/** A client over a stand-in token function that hands out at-1, at-2, … valid for an hour. */
function client({ user = "user-a", getSessionToken, channelName } = {}) {
  const state = { user, sessions: 0, calls: [], issued: 0 };
  const c = new BrowserTokenClient({
    functionsUrl: "https://project.invalid/functions/v1",
    channelName: channelName ?? `browser-entry-${++channel}`,
    getSessionToken: getSessionToken ?? (() => {
      state.sessions++;
      return jwtFor(state.user);
    }),
    fetch: (url, init) => {
      if (url.startsWith("https://api.invalid/")) {
        state.api = (state.api ?? 0) + 1;
        return Promise.resolve(new Response("", { status: state.api === 1 ? 401 : 200 }));
      }
      state.calls.push({ url, authorization: new Headers(init.headers).get("authorization") });
      state.issued++;
      const body = {
        accessToken: `at-${state.issued}-${state.user}`,
        expiresAt: now + 3_600_000,
        tokenRefreshedAt: new Date(now).toISOString(),
        scope: "calendar",
      };
      return Promise.resolve(new Response(JSON.stringify(body), { status: 200 }));
    },
  });
  return { c, state };
}

test("a cached token is the same frozen object, the session is asked once per call", async () => {
  const { c, state } = client();
  const first = await c.getAccessToken();
  assert.equal(first.accessToken, "at-1-user-a");
  const asked = state.sessions;
  for (let i = 0; i < 5; i++) assert.equal(await c.getAccessToken(), first);
  assert.ok(Object.isFrozen(first));
  assert.equal(state.calls.length, 1);
  assert.equal(state.sessions, asked + 5);
  c.close();
});

test("another user's session never gets the cached token", async () => {
  const { c, state } = client();
  await c.getAccessToken();
  await c.getAccessToken();
  state.user = "user-b";
  const t = await c.getAccessToken();
  assert.equal(t.accessToken, "at-2-user-b");
  assert.equal(state.calls[1].authorization, `Bearer ${jwtFor("user-b")}`);
  state.user = "user-a";
  assert.equal(
    (await c.getAccessToken()).accessToken,
    "at-3-user-a",
    "user-a's token was dropped at the switch",
  );
  c.close();
});

test("the memo ends where the margin starts", async () => {
  const { c, state } = client();
  const t = await c.getAccessToken();
  now = t.expiresAt - 60_001;
  assert.equal(await c.getAccessToken(), t);
  now = t.expiresAt - 60_000;
  assert.equal((await c.getAccessToken()).accessToken, "at-2-user-a");
  assert.equal(state.calls.length, 2);
  c.close();
});

test("a newer marker, a sign-out and a 401 each end the memo", async () => {
  const { c, state } = client();
  assert.equal((await c.getAccessToken()).accessToken, "at-1-user-a");
  now += 1000;
  c.observeResponse(new Response("{}", { headers: { "x-token-refreshed-at": new Date(now).toISOString() } }));
  assert.equal((await c.getAccessToken()).accessToken, "at-2-user-a", "the server refreshed: asked again");
  c.reset();
  assert.equal((await c.getAccessToken()).accessToken, "at-3-user-a", "signed out: asked again");
  // The forced refresh after the 401 is later than the token it replaces.
  now += 1000;
  assert.equal((await c.fetch("https://api.invalid/calendar")).status, 200, "retried once after the 401");
  assert.equal(
    (await c.getAccessToken()).accessToken,
    "at-4-user-a",
    "the rejected token is not served again",
  );
  assert.equal(state.calls.length, 4);
  c.close();
});

test("another tab's newer token replaces the remembered one", async () => {
  const name = `browser-entry-shared-${++channel}`;
  const a = client({ channelName: name });
  const b = client({ channelName: name });
  const old = await b.c.getAccessToken();
  assert.equal(await b.c.getAccessToken(), old);
  now += 1000;
  const fresh = await a.c.getAccessToken({ force: true });
  await new Promise((resolve) => b.c.onChange((ch) => ch.type === "token" && ch.fromOtherTab && resolve()));
  assert.equal((await b.c.getAccessToken()).accessToken, fresh.accessToken);
  assert.equal(b.state.calls.length, 1, "taken from the other tab, not the network");
  a.c.close();
  b.c.close();
});

test("an async session works the same, and session failures are UNAUTHORIZED", async () => {
  let jwt = jwtFor("user-a");
  const { c, state } = client({ getSessionToken: () => Promise.resolve(jwt) });
  const t = await c.getAccessToken();
  assert.equal(await c.getAccessToken(), t);
  assert.equal(state.calls.length, 1);
  jwt = "";
  await assert.rejects(
    c.getAccessToken(),
    (e) => e instanceof TokenManagerError && e.code === "UNAUTHORIZED",
  );
  for (
    const getSessionToken of [() => Promise.reject(new Error("offline")), () => {
      throw new Error("no session");
    }]
  ) {
    const { c: failing } = client({ getSessionToken });
    await assert.rejects(
      failing.getAccessToken(),
      (e) => e instanceof TokenManagerError && e.code === "UNAUTHORIZED",
    );
    failing.close();
  }
  c.close();
});

test("providers are remembered apart, and force always asks", async () => {
  const { c, state } = client();
  const google = await c.getAccessToken();
  const spotify = await c.getAccessToken({ provider: "spotify" });
  assert.match(state.calls[1].url, /connections\/spotify\/token$/);
  assert.equal(await c.getAccessToken({ provider: "spotify" }), spotify);
  assert.equal(await c.getAccessToken(), google);
  await c.getAccessToken({ force: true });
  assert.equal(state.calls.length, 3);
  c.close();
});
