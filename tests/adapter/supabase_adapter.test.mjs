// js/supabase.js in Node with a fake supabase-js (its auth events driven by
// hand) and a fake browser client (what it was asked to store, how often it
// was reset): provider tokens stored once per token across events, reloads
// and tabs; the provider from this tab's connect (dropped at sign-out, after
// an error redirect, and refused for another user), else the identity updated
// last (not app_metadata.provider, which Supabase keeps at the first
// identity); sign-out and a user change reset the client; connect picks
// signInWithOAuth or linkIdentity and passes each provider's parameters; a
// failed store is reported and tried again on the next event.
import assert from "node:assert/strict";
import { test } from "node:test";
import { attachSupabase, browserClientOptions, PROVIDER_DEFAULTS, sessionToken } from "../../js/supabase.js";

function memoryStorage() {
  const m = new Map();
  return {
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => void m.set(k, String(v)),
    removeItem: (k) => void m.delete(k),
    keys: () => [...m.keys()],
    dump: () => [...m.values()].join("\n"),
  };
}

const identity = (provider, at) => ({
  provider,
  id: `${provider}-sub`,
  last_sign_in_at: at,
  created_at: at,
  updated_at: at,
});

function userOf(id, identities) {
  const providers = [...new Set(identities.map((i) => i.provider))];
  return { id, app_metadata: { provider: providers[0], providers }, identities };
}

/** A supabase-js stand-in: listeners, a session, and the calls connect() makes. */
function fakeSupabase() {
  const listeners = new Set();
  const calls = [];
  const sb = {
    session: null,
    identities: [],
    calls,
    emit(event, session) {
      if (event !== "SIGNED_OUT") sb.session = session;
      else sb.session = null;
      for (const l of [...listeners]) l(event, session);
    },
    listenerCount: () => listeners.size,
    auth: {
      onAuthStateChange(cb) {
        listeners.add(cb);
        return { data: { subscription: { unsubscribe: () => listeners.delete(cb) } } };
      },
      getSession: () => Promise.resolve({ data: { session: sb.session }, error: null }),
      getUserIdentities: () => Promise.resolve({ data: { identities: sb.identities }, error: null }),
      signInWithOAuth: (args) => {
        calls.push(["signInWithOAuth", args]);
        return Promise.resolve({
          data: { provider: args.provider, url: `https://auth.example/authorize?provider=${args.provider}` },
        });
      },
      linkIdentity: (args) => {
        calls.push(["linkIdentity", args]);
        return Promise.resolve({
          data: { provider: args.provider, url: `https://${args.provider}.example/authorize` },
          error: null,
        });
      },
    },
  };
  return sb;
}

/** The browser client as the adapter sees it: callFunction and reset. */
function fakeClient({ fail = 0, failWith = null } = {}) {
  const c = {
    stores: [],
    sessions: [],
    resets: 0,
    failuresLeft: fail,
    async callFunction(name, body, method, options) {
      await tick();
      assert.equal(method, "POST");
      if (c.failuresLeft > 0) {
        c.failuresLeft--;
        throw Object.assign(new Error("network down"), failWith ?? { code: "NETWORK" });
      }
      c.stores.push({ name, body });
      c.sessions.push(options?.session);
      return { provider: name.split("/")[1], status: "connected" };
    },
    resetUsers: [],
    reset(options) {
      c.resets++;
      c.resetUsers.push(options?.user);
    },
  };
  return c;
}

const tick = () => new Promise((r) => setTimeout(r, 5));

function setup(opts = {}) {
  const sb = fakeSupabase();
  const client = fakeClient(opts.client);
  const storage = opts.storage ?? memoryStorage();
  const pendingStorage = opts.pendingStorage ?? memoryStorage();
  const stored = [];
  const errors = [];
  const link = attachSupabase(sb, client, {
    providers: opts.providers ?? { google: {}, spotify: {} },
    storage,
    pendingStorage,
    onStored: (r) => stored.push(r),
    onError: (e, about) => errors.push({ e, about }),
    ...(opts.redirectTo ? { redirectTo: opts.redirectTo } : {}),
  });
  return { sb, client, link, storage, pendingStorage, stored, errors };
}

const A = "aaaaaaaa-0000-4000-8000-000000000001";
const B = "bbbbbbbb-0000-4000-8000-000000000002";

test("SIGNED_IN with provider tokens stores them once, through connections/<provider>/store", async () => {
  const { sb, client, link, stored, storage } = setup();
  const session = {
    access_token: "jwt-a",
    provider_token: "ya29.first",
    provider_refresh_token: "1//refresh",
    user: userOf(A, [identity("google", "2026-11-23T10:00:00Z")]),
  };
  sb.emit("SIGNED_IN", session);
  assert.equal(client.stores.length, 0, "stored outside supabase-js's callback, not during it");
  await link.settled();
  assert.deepEqual(client.stores, [{
    name: "connections/google/store",
    body: { providerToken: "ya29.first", providerRefreshToken: "1//refresh" },
  }]);
  assert.deepEqual(stored, [{
    provider: "google",
    connection: "google",
    status: { provider: "google", status: "connected" },
  }]);
  // supabase-js emits the same session again: INITIAL_SESSION, a reload's SIGNED_IN, TOKEN_REFRESHED before it drops them.
  for (const event of ["INITIAL_SESSION", "SIGNED_IN", "USER_UPDATED"]) sb.emit(event, session);
  await link.settled();
  assert.equal(client.stores.length, 1, "the same tokens are stored once");
  assert.doesNotMatch(storage.dump(), /ya29|refresh/, "no token in the adapter's storage");
  // New tokens (signed in again) are stored.
  sb.emit("SIGNED_IN", { ...session, provider_token: "ya29.second", provider_refresh_token: undefined });
  await link.settled();
  assert.deepEqual(client.stores[1], {
    name: "connections/google/store",
    body: { providerToken: "ya29.second" },
  });
});

test("a session without provider tokens (a refresh, a password sign-in) stores nothing", async () => {
  const { sb, client, link } = setup();
  const user = userOf(A, [identity("google", "2026-11-23T10:00:00Z")]);
  sb.emit("INITIAL_SESSION", null);
  sb.emit("SIGNED_IN", { access_token: "jwt", user });
  sb.emit("TOKEN_REFRESHED", { access_token: "jwt2", user });
  await link.settled();
  assert.equal(client.stores.length, 0);
  assert.equal(client.resets, 0);
});

test("two tabs (one localStorage) get the same SIGNED_IN: one store", async () => {
  const storage = memoryStorage();
  const tab1 = setup({ storage });
  const tab2 = setup({ storage });
  const session = {
    provider_token: "ya29.shared",
    provider_refresh_token: "1//r",
    user: userOf(A, [identity("google", "2026-11-23T10:00:00Z")]),
  };
  // supabase-js calls this tab's listeners, then the other tab's get the broadcast.
  tab1.sb.emit("SIGNED_IN", session);
  tab2.sb.emit("SIGNED_IN", session);
  await Promise.all([tab1.link.settled(), tab2.link.settled()]);
  assert.equal(tab1.client.stores.length + tab2.client.stores.length, 1);
  // A reload of either tab later: nothing more.
  const tab3 = setup({ storage });
  tab3.sb.emit("SIGNED_IN", session);
  tab3.sb.emit("INITIAL_SESSION", session);
  await tab3.link.settled();
  assert.equal(tab3.client.stores.length, 0);
});

test("linkIdentity: the tokens belong to the provider this tab went to, not app_metadata.provider", async () => {
  const { sb, client, link } = setup();
  const google = identity("google", "2026-11-23T10:00:00Z");
  sb.session = { access_token: "jwt-a", user: userOf(A, [google]) };
  sb.identities = [google];
  const r = await link.connect("spotify", { scopes: "playlist-read-private" });
  assert.equal(r.method, "linkIdentity");
  assert.deepEqual(sb.calls.at(-1), ["linkIdentity", {
    provider: "spotify",
    options: { scopes: "playlist-read-private" },
  }]);
  // Back from Spotify: Supabase keeps app_metadata.provider at "google"; the Spotify identity
  // was created a moment ago but its clock may be behind Google's last sign-in.
  const spotify = identity("spotify", "2026-11-23T09:00:00Z");
  const user = userOf(A, [google, spotify]);
  assert.equal(user.app_metadata.provider, "google");
  sb.emit("SIGNED_IN", {
    access_token: "jwt-a2",
    provider_token: "BQ.spotify",
    provider_refresh_token: "AQ.r",
    user,
  });
  await link.settled();
  assert.deepEqual(client.stores.map((s) => s.name), ["connections/spotify/store"]);
});

test("without a pending connect (sign-in started elsewhere), the identity used last", async () => {
  const { sb, client, link } = setup();
  const user = userOf(A, [
    identity("google", "2026-11-20T10:00:00Z"),
    identity("spotify", "2026-11-23T10:00:00Z"),
  ]);
  assert.equal(user.app_metadata.provider, "google");
  sb.emit("SIGNED_IN", { provider_token: "BQ.sp", user });
  await link.settled();
  assert.deepEqual(client.stores.map((s) => s.name), ["connections/spotify/store"]);
});

test("a pending connect older than 15 minutes, or to a provider the user does not have, is ignored", async () => {
  const { sb, client, link, pendingStorage } = setup();
  pendingStorage.setItem(
    "oauth-token-manager.supabase.pending",
    JSON.stringify({ provider: "spotify", at: Date.now() - 16 * 60_000 }),
  );
  sb.emit("SIGNED_IN", {
    provider_token: "ya29.g1",
    user: userOf(A, [identity("google", "2026-11-23T10:00:00Z")]),
  });
  await link.settled();
  pendingStorage.setItem(
    "oauth-token-manager.supabase.pending",
    JSON.stringify({ provider: "spotify", at: Date.now() }),
  );
  sb.emit("SIGNED_IN", {
    provider_token: "ya29.g2",
    user: userOf(A, [identity("google", "2026-11-23T11:00:00Z")]),
  });
  await link.settled();
  assert.deepEqual(client.stores.map((s) => s.name), [
    "connections/google/store",
    "connections/google/store",
  ]);
});

test("providers map to connection ids; a provider not listed (login only) is left alone", async () => {
  const { sb, client, link } = setup({ providers: { google: { connection: "google-calendar" } } });
  sb.emit("SIGNED_IN", {
    provider_token: "gho_x",
    user: userOf(A, [identity("github", "2026-11-23T10:00:00Z")]),
  });
  await link.settled();
  assert.equal(client.stores.length, 0, "GitHub is used to sign in only");
  sb.emit("SIGNED_IN", {
    provider_token: "ya29.c",
    user: userOf(A, [identity("github", "2026-11-22T10:00:00Z"), identity("google", "2026-11-23T10:00:00Z")]),
  });
  await link.settled();
  assert.deepEqual(client.stores.map((s) => s.name), ["connections/google-calendar/store"]);
  await assert.rejects(link.connect("github"), /not one of the providers/);
});

test("SIGNED_OUT resets the client and forgets what was stored; a new user resets it too", async () => {
  const { sb, client, link, storage } = setup();
  const session = { provider_token: "ya29.a", user: userOf(A, [identity("google", "2026-11-23T10:00:00Z")]) };
  sb.emit("SIGNED_IN", session);
  await link.settled();
  assert.equal(client.resets, 0);
  sb.emit("SIGNED_OUT", null);
  assert.equal(client.resets, 1);
  assert.equal(storage.keys().length, 0, "nothing of the user is left");
  // Another user signs in on this browser: not a change from A (A signed out)…
  sb.emit("SIGNED_IN", {
    access_token: "jwt-b",
    user: userOf(B, [identity("google", "2026-11-23T12:00:00Z")]),
  });
  assert.equal(client.resets, 1);
  // …but a switch without a sign-out (another tab signed in as A) is.
  sb.emit("SIGNED_IN", {
    access_token: "jwt-a",
    user: userOf(A, [identity("google", "2026-11-23T12:00:00Z")]),
  });
  assert.equal(client.resets, 2);
  // A sign-out resets whoever it was; a switch resets only the user who left
  // (this tab may already hold the next user's token).
  assert.deepEqual(client.resetUsers, [undefined, B]);
  sb.emit("TOKEN_REFRESHED", { access_token: "jwt-a2", user: userOf(A, []) });
  assert.equal(client.resets, 2, "same user: no reset");
});

test("connect: signInWithOAuth signed out (with Google's offline parameters) or for a linked provider", async () => {
  const { sb, link } = setup({
    providers: {
      google: {
        scopes: "https://www.googleapis.com/auth/calendar.events",
        queryParams: { hd: "example.com" },
      },
      spotify: {},
    },
    redirectTo: "https://app.example/settings",
  });
  const r = await link.connect("google", { scopes: "https://www.googleapis.com/auth/calendar.readonly" });
  assert.equal(r.method, "signInWithOAuth");
  assert.equal(r.url, "https://auth.example/authorize?provider=google");
  assert.deepEqual(sb.calls.at(-1), ["signInWithOAuth", {
    provider: "google",
    options: {
      redirectTo: "https://app.example/settings",
      scopes:
        "https://www.googleapis.com/auth/calendar.events https://www.googleapis.com/auth/calendar.readonly",
      queryParams: {
        access_type: "offline",
        prompt: "consent",
        include_granted_scopes: "true",
        hd: "example.com",
      },
    },
  }]);
  assert.deepEqual(PROVIDER_DEFAULTS.google.queryParams, {
    access_type: "offline",
    prompt: "consent",
    include_granted_scopes: "true",
  });
  // Signed in, Google linked: a reconnect is a new sign-in with Google (Supabase answers with the same user).
  const google = identity("google", "2026-11-23T10:00:00Z");
  sb.session = { access_token: "jwt", user: userOf(A, [google]) };
  sb.identities = [google];
  assert.equal((await link.connect("google")).method, "signInWithOAuth");
  // Spotify not linked yet: linkIdentity, no Google parameters.
  assert.equal(
    (await link.connect("spotify", { redirectTo: "https://app.example/back" })).method,
    "linkIdentity",
  );
  assert.deepEqual(sb.calls.at(-1)[1], {
    provider: "spotify",
    options: { redirectTo: "https://app.example/back" },
  });
});

test("an error from supabase-js rejects connect and clears the pending connect", async () => {
  const { sb, link, pendingStorage } = setup();
  sb.auth.signInWithOAuth = () =>
    Promise.resolve({
      data: { provider: "google", url: null },
      error: new Error("provider disabled"),
    });
  await assert.rejects(link.connect("google"), /provider disabled/);
  assert.equal(pendingStorage.keys().length, 0);
});

test("a failed store is reported and tried again with the next event carrying the tokens", async () => {
  const { sb, client, link, errors } = setup({ client: { fail: 1 } });
  const session = { provider_token: "ya29.x", user: userOf(A, [identity("google", "2026-11-23T10:00:00Z")]) };
  sb.emit("SIGNED_IN", session);
  await link.settled();
  assert.equal(errors.length, 1);
  assert.equal(errors[0].e.code, "NETWORK");
  assert.deepEqual(errors[0].about, { provider: "google", connection: "google" });
  assert.equal(client.stores.length, 0);
  sb.emit("INITIAL_SESSION", session); // the reload
  await link.settled();
  assert.equal(client.stores.length, 1);
});

test("detach stops listening", async () => {
  const { sb, client, link } = setup();
  link.detach();
  assert.equal(sb.listenerCount(), 0);
  sb.emit("SIGNED_IN", {
    provider_token: "ya29",
    user: userOf(A, [identity("google", "2026-11-23T10:00:00Z")]),
  });
  sb.emit("SIGNED_OUT", null);
  await tick();
  assert.equal(client.stores.length, 0);
  assert.equal(client.resets, 0);
});

test("sessionToken and browserClientOptions read the session from supabase-js", async () => {
  const sb = fakeSupabase();
  const get = sessionToken(sb);
  assert.equal(await get(), "");
  sb.session = { access_token: "jwt-now" };
  assert.equal(await get(), "jwt-now");
  const opts = browserClientOptions(sb, { functionsUrl: "https://ref.supabase.co/functions/v1" });
  assert.equal(opts.functionsUrl, "https://ref.supabase.co/functions/v1");
  assert.equal(await opts.getSessionToken(), "jwt-now");
});

test("sessionToken: a session refresh that could not reach Supabase Auth is AUTH_UNAVAILABLE, not a sign-out", async () => {
  const sb = fakeSupabase();
  const answer = (error) => (sb.auth.getSession = () => Promise.resolve({ data: { session: null }, error }));
  const get = sessionToken(sb);
  // auth-js: a refresh that failed on the network (AuthRetryableFetchError, status 0) or a 5xx.
  for (
    const error of [{ name: "AuthRetryableFetchError", message: "Failed to fetch", status: 0 }, {
      status: 503,
    }]
  ) {
    answer(error);
    await assert.rejects(get(), (e) => e.code === "AUTH_UNAVAILABLE" && !/fetch/i.test(e.message));
  }
  // A refresh token the server refused: signed out.
  answer({ name: "AuthApiError", message: "Invalid Refresh Token: Refresh Token Not Found", status: 400 });
  assert.equal(await get(), "");
});

test("the identity used last is the one Supabase Auth updated last, not the one with the newest last_sign_in_at", async () => {
  // As Supabase Auth writes identities: last_sign_in_at is set when the
  // identity is created and kept; updated_at moves at each sign-in with it.
  const { sb, client, link } = setup();
  const google = {
    provider: "google",
    created_at: "2026-11-01T10:00:00Z",
    last_sign_in_at: "2026-11-01T10:00:00Z",
    updated_at: "2026-11-23T12:00:00Z",
  };
  const spotify = {
    provider: "spotify",
    created_at: "2026-11-10T10:00:00Z",
    last_sign_in_at: "2026-11-10T10:00:00Z",
    updated_at: "2026-11-10T10:00:00Z",
  };
  sb.emit("SIGNED_IN", {
    provider_token: "ya29.google",
    provider_refresh_token: "1//g",
    user: userOf(A, [google, spotify]),
  });
  await link.settled();
  assert.deepEqual(client.stores.map((s) => s.name), ["connections/google/store"]);
});

test("an abandoned connect does not claim a later sign-in: cleared at sign-out and by an error redirect", async () => {
  const pendingStorage = memoryStorage();
  const { sb, client, link } = setup({ pendingStorage });
  const google = identity("google", "2026-11-23T10:00:00Z");
  const spotify = identity("spotify", "2026-11-20T10:00:00Z");
  sb.session = { access_token: "jwt-a", user: userOf(A, [google, spotify]) };
  sb.identities = [google, spotify];
  await link.connect("spotify"); // the user cancels at Spotify
  sb.emit("SIGNED_OUT", null);
  sb.emit("SIGNED_IN", { provider_token: "ya29.g", user: userOf(A, [google, spotify]) });
  await link.settled();
  assert.deepEqual(client.stores.map((s) => s.name), ["connections/google/store"]);

  // Back on the page from a denied consent: the note is dropped when the adapter attaches.
  pendingStorage.setItem(
    "oauth-token-manager.supabase.pending",
    JSON.stringify({ provider: "spotify", at: Date.now(), user: A }),
  );
  const saved = globalThis.location;
  globalThis.location = {
    href: "https://app.example/settings?error=access_denied&error_code=provider_error",
  };
  try {
    const again = setup({ pendingStorage });
    assert.equal(pendingStorage.getItem("oauth-token-manager.supabase.pending"), null);
    again.sb.emit("SIGNED_IN", { provider_token: "ya29.g2", user: userOf(A, [google, spotify]) });
    await again.link.settled();
    assert.deepEqual(again.client.stores.map((s) => s.name), ["connections/google/store"]);
  } finally {
    globalThis.location = saved;
  }
});

test("a connect started by one user whose sign-in lands as another stores nothing and says so", async () => {
  // A reconnect where the user picked another Google account: Supabase signs
  // in whoever owns that identity.
  const { sb, client, link, errors } = setup();
  const google = identity("google", "2026-11-23T10:00:00Z");
  sb.session = { access_token: "jwt-a", user: userOf(A, [google]) };
  sb.identities = [google];
  await link.connect("google");
  sb.emit("SIGNED_IN", {
    provider_token: "ya29.other",
    user: userOf(B, [identity("google", "2026-11-23T11:00:00Z")]),
  });
  await link.settled();
  assert.equal(client.stores.length, 0);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].e.code, "FORBIDDEN", "not a session that ended: a connect of another user's");
  assert.match(errors[0].e.message, /another user/);
  assert.deepEqual(errors[0].about, { provider: "google", connection: "google" });
});

/** Runs `f` with globalThis.location at `href`. */
async function at(href, f) {
  const saved = globalThis.location;
  globalThis.location = { href };
  try {
    return await f();
  } finally {
    globalThis.location = saved;
  }
}

test("connect comes back to this page without an earlier return's error, code or fragment", async () => {
  // auth-js reads any `error` in the URL as the return's, and would drop the new code.
  await at(
    "https://app.example/settings?tab=2&error=access_denied&error_code=provider_error&error_description=x&code=old&sb=#error=access_denied&sb=",
    async () => {
      const { sb, link } = setup();
      await link.connect("google");
      assert.equal(sb.calls.at(-1)[1].options.redirectTo, "https://app.example/settings?tab=2");
    },
  );
});

test("a connect's note is honoured only on the page Supabase Auth sent back", async () => {
  const note = JSON.stringify({ provider: "spotify", at: Date.now(), user: A });
  const google = identity("google", "2026-11-23T10:00:00Z");
  const spotify = identity("spotify", "2026-11-20T10:00:00Z");
  for (
    const [href, kept, stored] of [
      // The user went back from Spotify's consent page: a later sign-in is Google's.
      ["https://app.example/settings", false, "connections/google/store"],
      ["https://app.example/settings?code=4f2a", true, "connections/spotify/store"],
      ["https://app.example/settings#access_token=x&provider_token=y", true, "connections/spotify/store"],
    ]
  ) {
    const pendingStorage = memoryStorage();
    pendingStorage.setItem("oauth-token-manager.supabase.pending", note);
    await at(href, async () => {
      const { sb, client, link } = setup({ pendingStorage });
      assert.equal(pendingStorage.getItem("oauth-token-manager.supabase.pending") !== null, kept, href);
      sb.emit("SIGNED_IN", { provider_token: `t-${href}`, user: userOf(A, [google, spotify]) });
      await link.settled();
      assert.deepEqual(client.stores.map((s) => s.name), [stored], href);
    });
  }
});

test("another user's connect: its tokens stay unstored through the events and tabs that follow", async () => {
  const storage = memoryStorage(); // localStorage, shared by the tabs
  const { sb, client, link, errors } = setup({ storage });
  const google = identity("google", "2026-11-23T10:00:00Z");
  sb.session = { access_token: "jwt-a", user: userOf(A, [google]) };
  sb.identities = [google];
  await link.connect("google");
  const asB = { provider_token: "ya29.other", user: userOf(B, [identity("google", "2026-11-23T11:00:00Z")]) };
  // auth-js: INITIAL_SESSION, then the SIGNED_IN it scheduled, then a reload.
  sb.emit("INITIAL_SESSION", asB);
  sb.emit("SIGNED_IN", asB);
  await link.settled();
  const tab = setup({ storage }); // another tab hears the SIGNED_IN, without this tab's note
  tab.sb.emit("SIGNED_IN", asB);
  await tab.link.settled();
  assert.equal(client.stores.length + tab.client.stores.length, 0);
  assert.equal(errors.length, 1, "reported once");
});

test("an onStored that throws does not undo the store", async () => {
  const sb = fakeSupabase();
  const client = fakeClient();
  const reported = [];
  const saved = globalThis.reportError;
  globalThis.reportError = (e) => reported.push(e);
  try {
    const link = attachSupabase(sb, client, {
      providers: { google: {} },
      storage: memoryStorage(),
      pendingStorage: memoryStorage(),
      onStored: () => {
        throw new Error("the app's own bug");
      },
      onError: (e) => assert.fail(`reported as a failed store: ${e.message}`),
    });
    const session = {
      provider_token: "ya29.once",
      user: userOf(A, [identity("google", "2026-11-23T10:00:00Z")]),
    };
    sb.emit("SIGNED_IN", session);
    await link.settled();
    sb.emit("TOKEN_REFRESHED", session);
    await link.settled();
    assert.equal(client.stores.length, 1, "stored once");
    assert.deepEqual(reported.map((e) => e.message), ["the app's own bug"]);
  } finally {
    globalThis.reportError = saved;
  }
});

test("a sign-in's tokens are stored with that sign-in's own session, even if another user signs in meanwhile", async () => {
  const { sb, client, link } = setup();
  sb.emit("SIGNED_IN", {
    access_token: "jwt-a",
    provider_token: "ya29.a",
    provider_refresh_token: "1//a",
    user: userOf(A, [identity("google", "2026-11-23T10:00:00Z")]),
  });
  // Before the store goes out (it waits out supabase-js's callback), B signs in.
  sb.emit("SIGNED_IN", {
    access_token: "jwt-b",
    user: userOf(B, [identity("google", "2026-11-23T11:00:00Z")]),
  });
  await link.settled();
  assert.deepEqual(client.stores.map((s) => s.body.providerToken), ["ya29.a"]);
  assert.deepEqual(client.sessions, ["jwt-a"], "A's tokens go with A's session, not the one current now");
});

test("a store the functions refuse for good (400, 404, 403) is reported once, not at every tab focus", async () => {
  for (const [httpStatus, code] of [[400, "BAD_REQUEST"], [404, "NOT_FOUND"], [403, "FORBIDDEN"]]) {
    const { sb, client, link, errors } = setup({ client: { fail: 5, failWith: { code, httpStatus } } });
    const session = {
      provider_token: "ya29.x",
      user: userOf(A, [identity("google", "2026-11-23T10:00:00Z")]),
    };
    sb.emit("SIGNED_IN", session);
    await link.settled();
    sb.emit("SIGNED_IN", session); // the next tab focus
    await link.settled();
    assert.equal(errors.length, 1, code);
    assert.equal(client.failuresLeft, 4, `${code}: asked once`);
  }
  // A rate limit or a session that had ended may pass later: tried again.
  for (const [httpStatus, code] of [[429, "RATE_LIMITED"], [401, "UNAUTHORIZED"], [503, "STORAGE"]]) {
    const { sb, client, link } = setup({ client: { fail: 1, failWith: { code, httpStatus } } });
    const session = {
      provider_token: "ya29.x",
      user: userOf(A, [identity("google", "2026-11-23T10:00:00Z")]),
    };
    sb.emit("SIGNED_IN", session);
    await link.settled();
    sb.emit("SIGNED_IN", session);
    await link.settled();
    assert.equal(client.stores.length, 1, code);
  }
});
