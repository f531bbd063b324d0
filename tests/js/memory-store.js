// An in-memory TokenStore in plain JS: the store contract as the wasm
// manager sees it from JavaScript. Used by the wasm tests in every runtime
// and by the pkg smoke tests.

/** @typedef {import("../../pkg/oauth_token_manager.d.ts").ConnectionRow} ConnectionRow */
/** @typedef {import("../../pkg/oauth_token_manager.d.ts").LeaseOutcome} LeaseOutcome */
/** @typedef {import("../../pkg/oauth_token_manager.d.ts").ConnectAttempt} ConnectAttempt */

/** @implements {import("../../pkg/oauth_token_manager.d.ts").TokenStore} */
export class MemoryStore {
  constructor() {
    /** @type {Map<string, ConnectionRow>} */
    this.rows = new Map();
    this.events = [];
    this.leaseCalls = 0;
    this.failCommits = 0;
    /** Connect attempts by state hash, with whether the callback claimed them. */
    this.connects = new Map();
  }
  key(userId, provider) {
    return `${userId}\u0000${provider}`;
  }
  /** @returns {ConnectionRow | null} */
  row(userId, provider) {
    const r = this.rows.get(this.key(userId, provider));
    return r ? { ...r } : null;
  }
  /** Synchronous, as the contract allows: the manager then answers a fresh token without a promise hop. */
  load({ userId, provider }) {
    this.loads = (this.loads ?? 0) + 1;
    return this.row(userId, provider);
  }
  /** @returns {LeaseOutcome} */
  tryLease({ userId, provider, owner, now, until }) {
    this.leaseCalls++;
    const r = this.rows.get(this.key(userId, provider));
    if (!r) return { outcome: "missing" };
    if (r.leaseUntil === null || r.leaseUntil <= now || r.leaseOwner === owner) {
      r.leaseOwner = owner;
      r.leaseUntil = until;
      return { outcome: "acquired", row: { ...r } };
    }
    return { outcome: "busy", row: { ...r } };
  }
  apply(r, w) {
    Object.assign(r, {
      accessTokenSealed: w.accessTokenSealed,
      refreshTokenSealed: w.refreshTokenSealed,
      expiresAt: w.expiresAt,
      refreshTokenExpiresAt: w.refreshTokenExpiresAt,
      scope: w.scope,
      status: "connected",
      lastErrorCode: null,
      lastErrorMessage: null,
      lastErrorAt: null,
      failureCount: 0,
      cooldownUntil: null,
      tokenRefreshedAt: w.refreshedAt,
      version: r.version + 1,
      leaseOwner: null,
      leaseUntil: null,
    });
    // null keeps the stored account (a refresh never sets one).
    for (const k of ["accountId", "accountEmail", "accountName"]) {
      if (w.forgetStoredAccount === true) {
        r[k] = w[k] ?? null;
        continue;
      }
      if (w[k] !== null && w[k] !== undefined) r[k] = w[k];
    }
  }
  /** @returns {Promise<boolean>} */
  commitRefresh({ write, expectedVersion }) {
    if (this.failCommits > 0) {
      this.failCommits--;
      return Promise.reject(new Error("injected write failure"));
    }
    const r = this.rows.get(this.key(write.userId, write.provider));
    if (!r || r.version !== expectedVersion) return Promise.resolve(false);
    const flagged = r.status === "needs_reauth" && r.lastErrorCode === "INSUFFICIENT_SCOPE";
    const flag = flagged ? [r.status, r.lastErrorCode, r.lastErrorMessage, r.lastErrorAt] : null;
    this.apply(r, write);
    if (flag) [r.status, r.lastErrorCode, r.lastErrorMessage, r.lastErrorAt] = flag;
    return Promise.resolve(true);
  }
  recordFailure(f) {
    const r = this.rows.get(this.key(f.userId, f.provider));
    if (!r || (f.expectedVersion != null && r.version !== f.expectedVersion)) return;
    Object.assign(r, {
      status: f.status,
      lastErrorCode: f.code,
      lastErrorMessage: f.message,
      lastErrorAt: f.at,
      failureCount: f.failureCount,
      cooldownUntil: f.cooldownUntil,
    });
    if (f.eraseRefreshToken) r.refreshTokenSealed = null;
    if (r.leaseOwner === f.owner) Object.assign(r, { leaseOwner: null, leaseUntil: null });
  }
  releaseLease({ userId, provider, owner }) {
    const r = this.rows.get(this.key(userId, provider));
    if (r && r.leaseOwner === owner) Object.assign(r, { leaseOwner: null, leaseUntil: null });
  }
  /** @returns {ConnectionRow} */
  saveTokens(w) {
    const k = this.key(w.userId, w.provider);
    let r = this.rows.get(k);
    // The row's refresh token (and its lease) as it is now, when there is a
    // row (an insert takes the write's).
    // Kept for the row's own account only (or one not known on either side).
    const sameAccount = r?.accountId == null || w.accountId == null || r.accountId === w.accountId;
    const kept = r
      ? [
        r.refreshTokenSealed ?? null,
        r.refreshTokenExpiresAt ?? null,
        r.leaseOwner ?? null,
        r.leaseUntil ?? null,
      ]
      : null;
    if (!r) {
      r = /** @type {ConnectionRow} */ ({
        userId: w.userId,
        provider: w.provider,
        status: "connected",
        failureCount: 0,
        version: 0,
        leaseOwner: null,
        leaseUntil: null,
        signinDigest: null,
      });
      this.rows.set(k, r);
    }
    this.apply(r, w);
    if (w.signinDigest != null) r.signinDigest = w.signinDigest;
    if (w.keepStoredRefreshToken && kept && sameAccount) {
      [r.refreshTokenSealed, r.refreshTokenExpiresAt, r.leaseOwner, r.leaseUntil] = kept;
    }
    return { ...r };
  }
  disconnect({ userId, provider, at }) {
    const r = this.rows.get(this.key(userId, provider));
    if (!r) return;
    Object.assign(r, {
      accessTokenSealed: null,
      refreshTokenSealed: null,
      accountId: null,
      accountEmail: null,
      accountName: null,
      status: "disconnected",
      version: r.version + 1,
      tokenRefreshedAt: at,
      leaseOwner: null,
      leaseUntil: null,
    });
  }
  appendEvent(e) {
    this.events.push(e);
  }
  putConnect(a) {
    this.connects.set(a.stateHash, { attempt: { ...a }, claimed: false });
  }
  /** @returns {{ outcome: "claimed" | "used", attempt: ConnectAttempt } | { outcome: "missing" }} */
  claimConnect({ stateHash, codeSealed, ticketHash }) {
    const c = this.connects.get(stateHash);
    if (!c) return { outcome: "missing" };
    if (c.claimed) return { outcome: "used", attempt: { ...c.attempt } };
    const before = { ...c.attempt };
    Object.assign(c.attempt, { codeSealed, ticketHash });
    c.claimed = true;
    return { outcome: "claimed", attempt: before };
  }
  /** @returns {ConnectAttempt | null} */
  takeConnect({ ticketHash }) {
    for (const [k, c] of this.connects) {
      if (c.attempt.ticketHash === ticketHash) {
        this.connects.delete(k);
        return { ...c.attempt };
      }
    }
    return null;
  }
  loadAll({ userId }) {
    return [...this.rows.values()].filter((r) => r.userId === userId).map((r) => ({ ...r }));
  }
  /** @returns {{ userId: string, provider: string }[]} */
  listExpiring({ before, now, limit }) {
    return [...this.rows.values()]
      .filter((r) =>
        r.refreshTokenSealed && r.expiresAt !== null && r.expiresAt < before &&
        !["needs_reauth", "disconnected"].includes(r.status) &&
        (r.cooldownUntil === null || r.cooldownUntil <= now)
      )
      .sort((a, b) => a.expiresAt - b.expiresAt)
      .slice(0, limit)
      .map((r) => ({ userId: r.userId, provider: r.provider }));
  }
}

// A scriptable fetch. Each call records {url, method, headers, body} and
// answers with the next scripted reply, or a fresh token `at-N`.
// Replies: {status, body, headers}, {hang: true} (waits for abort), {reject: "msg"}.
export function scriptedFetch(options = {}) {
  const calls = [];
  const script = [];
  const fetchFn = async (url, init) => {
    calls.push({ url, method: init.method, headers: init.headers, body: init.body });
    const n = calls.length;
    const delay = options.delayMs ?? 0;
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    const next = script.shift();
    if (next?.hang) {
      return await new Promise((_, reject) => {
        init.signal.addEventListener("abort", () => {
          const e = new Error("The operation was aborted.");
          e.name = "AbortError";
          reject(e);
        });
      });
    }
    if (next?.reject) throw new TypeError(next.reject);
    const reply = next ?? {
      status: 200,
      body: JSON.stringify({
        access_token: `at-${n}`,
        token_type: "Bearer",
        expires_in: 3600,
        ...(options.rotate ? { refresh_token: `rt-${n}` } : {}),
      }),
    };
    return new Response(reply.body, {
      status: reply.status,
      headers: { "content-type": "application/json", ...(reply.headers ?? {}) },
    });
  };
  return { fetch: fetchFn, calls, script };
}

export function newMemoryStore() {
  return new MemoryStore();
}

export function callCount(f) {
  return f.calls.length;
}

export function pushReply(f, reply) {
  f.script.push(reply);
}

export function lastBody(f) {
  return f.calls.at(-1)?.body ?? null;
}

export function storedRow(store, userId, provider) {
  return store.row(userId, provider);
}

export function leaseCalls(store) {
  return store.leaseCalls;
}

/** The same store answering `load` with a promise, as a database store does. */
export function asyncLoadStore() {
  const s = new MemoryStore();
  const load = s.load.bind(s);
  s.load = (a) => new Promise((r) => setTimeout(() => r(load(a)), 0));
  return s;
}

export function loadCount(store) {
  return store.loads ?? 0;
}

export function storeWithout(method) {
  const s = new MemoryStore();
  s[method] = undefined;
  return s;
}

export function makeConfig(extra = {}) {
  return {
    providers: {
      google: { clientId: "cid", clientSecret: "csecret", tokenUrl: "http://127.0.0.1:9/token" },
      discord: { clientId: "cid", clientSecret: "csecret", tokenUrl: "http://127.0.0.1:9/discord" },
    },
    encryptionKeys: [{ id: "k1", key: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" }],
    ...extra,
  };
}

export function describeError(e) {
  return {
    isError: e instanceof Error,
    name: e.name,
    code: e.code,
    message: e.message,
    requiresReauth: e.requiresReauth,
    retryable: e.retryable,
    retryAfter: e.retryAfter ?? null,
    httpStatus: e.httpStatus,
  };
}
