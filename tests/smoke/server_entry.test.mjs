// The package's main entry (pkg/index.js) as the edge functions use it, in
// Node: TokenManager with the module's answer for a fresh token remembered on
// the JS side. Every call must still read the store, and anything the answer
// depends on — the row (another instance refreshed, a status, a disconnect),
// the time — must reach the module. Date.now is set by the test (the module
// reads the same clock).
import assert from "node:assert/strict";
import { afterEach, beforeEach, test } from "node:test";
import init, { TokenManager, TokenManagerError } from "../../pkg/index.js";
import { MemoryStore } from "../js/memory-store.js";

await init();

const realNow = Date.now;
let now = 1_800_000_000_000;
beforeEach(() => (Date.now = () => now));
afterEach(() => (Date.now = realNow));

const CONFIG = {
  providers: { google: { clientId: "id", clientSecret: "secret", tokenUrl: "https://oauth2.invalid/token" } },
  encryptionKeys: [{ id: "k1", key: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" }],
};

/** A manager over `store` whose provider hands out fresh-1, fresh-2, … valid for an hour. */
function manager(store) {
  const provider = { calls: 0 };
  const fetch = () => {
    provider.calls++;
    const body = { access_token: `fresh-${provider.calls}`, expires_in: 3600, token_type: "Bearer" };
    return Promise.resolve(
      new Response(JSON.stringify(body), { headers: { "content-type": "application/json" } }),
    );
  };
  return { m: new TokenManager(CONFIG, store, { fetch }), provider };
}

async function connected(store = new MemoryStore()) {
  const { m, provider } = manager(store);
  await m.storeTokens("u1", "google", { accessToken: "at-0", refreshToken: "rt", expiresIn: 3600 });
  return { m, provider, store };
}

test("a fresh token is the same frozen object, and every call reads the store", async () => {
  const { m, store } = await connected();
  const first = await m.getValidToken("u1", "google");
  assert.equal(first.accessToken, "at-0");
  const loads = store.loads;
  for (let i = 0; i < 5; i++) assert.equal(await m.getValidToken("u1", "google"), first);
  assert.ok(Object.isFrozen(first));
  assert.equal(store.loads, loads + 5);
});

test("another instance's refresh is served at once", async () => {
  const { m, store } = await connected();
  await m.getValidToken("u1", "google");
  const other = manager(store).m;
  now += 1000;
  await other.getValidToken("u1", "google", { force: true });
  const t = await m.getValidToken("u1", "google");
  assert.equal(t.accessToken, "fresh-1");
  assert.equal(t.tokenRefreshedAtMs, now);
});

test("the memo ends where the margin starts: the module refreshes", async () => {
  const { m, provider } = await connected();
  const t = await m.getValidToken("u1", "google");
  now = t.expiresAt - 300_001;
  assert.equal(await m.getValidToken("u1", "google"), t);
  assert.equal(provider.calls, 0);
  now = t.expiresAt - 300_000;
  const next = await m.getValidToken("u1", "google");
  assert.equal(next.accessToken, "fresh-1");
  assert.ok(next.refreshed);
  assert.equal(provider.calls, 1);
});

test("a status or a disconnect written by others is seen on the next call", async () => {
  const { m, store } = await connected();
  await m.getValidToken("u1", "google");
  const row = store.rows.get(store.key("u1", "google"));
  row.status = "needs_reauth";
  row.lastErrorCode = "INVALID_GRANT";
  await assert.rejects(
    m.getValidToken("u1", "google"),
    (e) => e instanceof TokenManagerError && e.code === "REAUTH_REQUIRED",
  );
  row.status = "connected";
  assert.equal((await m.getValidToken("u1", "google")).accessToken, "at-0");
  await m.disconnect("u1", "google");
  await assert.rejects(m.getValidToken("u1", "google"), (e) => e.code === "NOT_CONNECTED");
});

test("users and providers are remembered apart", async () => {
  const { m } = await connected();
  await m.storeTokens("u2", "google", { accessToken: "at-u2", refreshToken: "rt2", expiresIn: 3600 });
  assert.equal((await m.getValidToken("u1", "google")).accessToken, "at-0");
  assert.equal((await m.getValidToken("u2", "google")).accessToken, "at-u2");
  assert.equal((await m.getValidToken("u1", "google")).accessToken, "at-0");
  await assert.rejects(m.getValidToken("u3", "google"), (e) => e.code === "NOT_CONNECTED");
});

test("a row sealed for another user is never served from the memo", async () => {
  const { m, store } = await connected();
  await m.storeTokens("u2", "google", { accessToken: "at-u2", refreshToken: "rt2", expiresIn: 3600 });
  await m.getValidToken("u2", "google");
  await m.getValidToken("u1", "google");
  // An attacker with write access copies u2's ciphertext into u1's row.
  const u1 = store.rows.get(store.key("u1", "google"));
  u1.accessTokenSealed = store.rows.get(store.key("u2", "google")).accessTokenSealed;
  await assert.rejects(m.getValidToken("u1", "google"), (e) => e.code.startsWith("CRYPTO"));
});

test("an async store works the same, and its failure is STORAGE", async () => {
  const { store } = await connected();
  let fail = false;
  const asyncStore = Object.assign(Object.create(store), {
    load: (key) => (fail ? Promise.reject(new Error("connection reset")) : Promise.resolve(store.load(key))),
  });
  const { m } = manager(asyncStore);
  const t = await m.getValidToken("u1", "google");
  assert.equal(await m.getValidToken("u1", "google"), t);
  fail = true;
  await assert.rejects(
    m.getValidToken("u1", "google"),
    (e) => e instanceof TokenManagerError && e.code === "STORAGE",
  );
});

test("a store that returns its numbers as BigInt (int8 columns) is read as it is", async () => {
  const { store } = await connected();
  const bigints = {
    load: async (a) => {
      const row = await store.load(a);
      return row && { ...row, version: BigInt(row.version), expiresAt: BigInt(row.expiresAt) };
    },
  };
  const wrapped = new Proxy(store, {
    get: (t, k) => (k in bigints ? bigints[k] : typeof t[k] === "function" ? t[k].bind(t) : t[k]),
  });
  const { m, provider } = manager(wrapped);
  const t = await m.getValidToken("u1", "google");
  assert.equal(t.accessToken, "at-0");
  assert.equal(provider.calls, 0);
});

test("a lease result with BigInt numbers is read too (a refresh over int8 columns)", async () => {
  const { store } = await connected();
  const big = (row) => row && { ...row, version: BigInt(row.version), expiresAt: BigInt(row.expiresAt ?? 0) };
  const wrapped = new Proxy(store, {
    get: (t, k) => {
      const f = t[k];
      if (typeof f !== "function") return f;
      if (k === "load") return async (a) => big(await f.call(t, a));
      if (k === "tryLease") {
        return async (...a) => {
          const r = await f.apply(t, a);
          return r && r.row ? { ...r, row: big(r.row) } : r;
        };
      }
      return f.bind(t);
    },
  });
  const { m, provider } = manager(wrapped);
  const t = await m.getValidToken("u1", "google", { force: true });
  assert.equal(t.accessToken, "fresh-1");
  assert.equal(provider.calls, 1);
});

test("a runtime without crypto.getRandomValues is refused at construction (CONFIG)", () => {
  const real = Object.getOwnPropertyDescriptor(globalThis, "crypto");
  for (const crypto of [undefined, {}, { getRandomValues: "not a function" }]) {
    Object.defineProperty(globalThis, "crypto", { value: crypto, configurable: true, writable: true });
    try {
      assert.throws(
        () => new TokenManager(CONFIG, new MemoryStore()),
        (e) => e instanceof TokenManagerError && e.code === "CONFIG" && /getRandomValues/.test(e.message),
      );
    } finally {
      Object.defineProperty(globalThis, "crypto", real);
    }
  }
  assert.ok(new TokenManager(CONFIG, new MemoryStore()).instanceId);
});

test("the package's MemoryStore keeps a user's newest connects only, as the Postgres store does", async () => {
  const { MemoryStore: PackageMemoryStore } = await import("../../pkg/stores/memory.js");
  const { MAX_CONNECTS_PER_USER } = await import("../../pkg/stores/postgres.js");
  const store = new PackageMemoryStore();
  const attempt = (stateHash, userId, createdAt) => ({
    stateHash,
    userId,
    provider: "spotify",
    verifierSealed: "v1.k1.x",
    redirectUri: "https://x.invalid/cb",
    returnTo: "https://app.invalid/",
    scopes: [],
    createdAt,
    expiresAt: createdAt + 600_000,
    codeSealed: null,
    ticketHash: null,
  });
  store.putConnect(attempt("b-0", "user-b", now));
  const claim = (stateHash) =>
    store.claimConnect({ stateHash, codeSealed: "c", ticketHash: null, now }).outcome;
  // The oldest is back from the provider (claimed), waiting for its completion: it stays.
  store.putConnect(attempt("a-back", "user-a", now - 1));
  assert.equal(claim("a-back"), "claimed");
  for (let i = 0; i < MAX_CONNECTS_PER_USER + 3; i++) store.putConnect(attempt(`a-${i}`, "user-a", now + i));
  for (let i = 0; i < 4; i++) assert.equal(claim(`a-${i}`), "missing", `a-${i} was among the oldest`);
  assert.equal(claim("a-back"), "used", "kept, and already claimed");
  assert.equal(claim(`a-4`), "claimed");
  assert.equal(claim(`a-${MAX_CONNECTS_PER_USER + 2}`), "claimed");
  assert.equal(claim("b-0"), "claimed", "another user's connect is kept");
});

/** The package's MemoryStore and the tests' (tests/js/memory-store.js), which must behave as Postgres does. */
async function memoryStores() {
  const { MemoryStore: PackageMemoryStore } = await import("../../pkg/stores/memory.js");
  return [new PackageMemoryStore(), new MemoryStore()];
}

/** A token write for user-a's google connection, with `o` over it. */
const memoryWrite = (o = {}) => ({
  userId: "user-a",
  provider: "google",
  accessTokenSealed: "v1.k1.a",
  refreshTokenSealed: "v1.k1.r",
  expiresAt: now + 3_600_000,
  refreshTokenExpiresAt: null,
  scope: "openid",
  refreshedAt: now,
  accountId: null,
  accountEmail: null,
  accountName: null,
  ...o,
});

test("the package's MemoryStore and the tests' keep a sign-in's digest through refreshes, disconnects and connects, as Postgres does", async () => {
  for (const store of await memoryStores()) {
    const user = { userId: "user-a", provider: "google" };
    const write = memoryWrite;
    const signedIn = await store.saveTokens(write({ signinDigest: "d1" }));
    assert.equal(signedIn.signinDigest, "d1");
    assert.ok(await store.commitRefresh({ write: write(), expectedVersion: signedIn.version }));
    assert.equal((await store.load(user)).signinDigest, "d1");
    await store.disconnect({ ...user, at: now });
    assert.equal((await store.load(user)).signinDigest, "d1");
    assert.equal((await store.saveTokens(write())).signinDigest, "d1");
    assert.equal((await store.saveTokens(write({ signinDigest: "d2" }))).signinDigest, "d2");
  }
});

test("the package's MemoryStore and the tests' keep a stored account unless a write forgets it, as Postgres does", async () => {
  for (const store of await memoryStores()) {
    const write = memoryWrite;
    const accountOf = (r) => [r.accountId, r.accountEmail, r.accountName];
    await store.saveTokens(write({ accountId: "g-42", accountEmail: "ada@example.com", accountName: "Ada" }));
    assert.deepEqual(accountOf(await store.saveTokens(write())), ["g-42", "ada@example.com", "Ada"]);
    assert.deepEqual(accountOf(await store.saveTokens(write({ forgetStoredAccount: true }))), [
      null,
      null,
      null,
    ]);
  }
});

test("refreshExpiring: the limit defaults to 100; a bad number is BAD_REQUEST, never wrapped", async () => {
  const { m, provider } = await connected();
  now += 3_600_000 - 60_000; // expiring in a minute
  // Without a limit: it refreshes (a missing limit was taken as 0, refreshing nothing).
  const r = await m.refreshExpiring(900);
  assert.deepEqual([r.checked, r.refreshed, provider.calls], [1, 1, 1]);
  for (
    const [within, limit] of [[900, -5], [900, 1.5], [-1, 10], [undefined, 10], [900, 2 ** 32]]
  ) {
    await assert.rejects(
      m.refreshExpiring(within, limit),
      (e) => e instanceof TokenManagerError && e.code === "BAD_REQUEST",
      `${within}, ${limit}`,
    );
  }
  assert.equal(provider.calls, 1);
});

test("an argument of the wrong type is a rejection with BAD_REQUEST, never a synchronous throw", async () => {
  const { m } = await connected();
  const calls = {
    getValidToken: () => m.getValidToken(undefined, "google"),
    getValidTokenWithOptions: () => m.getValidToken(7, "google", { force: true }),
    status: () => m.status(1, "google"),
    statusAll: () => m.statusAll(),
    storeTokens: () => m.storeTokens(null, "google", { accessToken: "x" }),
    recordScopeError: () => m.recordScopeError("u1", "google", [1, 2]),
    disconnect: () => m.disconnect("u1"),
  };
  for (const [name, call] of Object.entries(calls)) {
    let p;
    assert.doesNotThrow(() => (p = call()), name);
    await assert.rejects(p, (e) => e instanceof TokenManagerError && e.code === "BAD_REQUEST", name);
  }
  m.free();
  const freed = (e) => e instanceof TokenManagerError && e.code === "CONFIG";
  let p;
  assert.doesNotThrow(() => (p = m.getValidToken("u1", "google")), "a freed manager's getValidToken");
  await assert.rejects(p, freed);
  await assert.rejects(m.status("u1", "google"), freed);
});
