// An in-memory TokenStore: the whole store contract in one process, for tests,
// development and single-process servers. Nothing survives a restart; several
// processes need a shared store (the Postgres store) for the lease to hold.

/** @typedef {import("../oauth_token_manager.js").ConnectionRow} ConnectionRow */
/** @typedef {import("../oauth_token_manager.js").ConnectAttempt} ConnectAttempt */
/** @typedef {import("../oauth_token_manager.js").TokenWrite} TokenWrite */
/** @typedef {import("../oauth_token_manager.js").FailureWrite} FailureWrite */
/** @typedef {import("../oauth_token_manager.js").RefreshEvent} RefreshEvent */
/** @typedef {import("../oauth_token_manager.js").LeaseOutcome} LeaseOutcome */

import { MAX_CONNECTS_PER_USER } from "./schema.js";

const DAY_MS = 24 * 60 * 60 * 1000;
const ACCOUNT_FIELDS = /** @type {const} */ (["accountId", "accountEmail", "accountName"]);

/** @implements {import("../oauth_token_manager.js").TokenStore} */
export class MemoryStore {
  /** @type {Map<string, ConnectionRow>} */
  #rows = new Map();
  /**
   * Connect attempts by state hash, with whether the callback claimed them.
   * @type {Map<string, { attempt: ConnectAttempt; claimed: boolean }>}
   */
  #connects = new Map();
  #maxEvents;

  /**
   * @param {{ maxEvents?: number }} [options] how many of the latest refresh
   *   events `events` keeps (default 1000)
   */
  constructor(options = {}) {
    this.#maxEvents = options.maxEvents ?? 1000;
    /**
     * The latest refresh events, oldest first.
     * @type {RefreshEvent[]}
     */
    this.events = [];
  }

  /** @param {string} userId @param {string} provider */
  #key(userId, provider) {
    return `${userId}\u0000${provider}`;
  }

  /** @param {{ userId: string; provider: string }} a */
  load({ userId, provider }) {
    const r = this.#rows.get(this.#key(userId, provider));
    return r ? { ...r } : null;
  }

  /**
   * @param {{ userId: string; provider: string; owner: string; now: number; until: number }} a
   * @returns {LeaseOutcome}
   */
  tryLease({ userId, provider, owner, now, until }) {
    const r = this.#rows.get(this.#key(userId, provider));
    if (!r) return { outcome: "missing" };
    if (r.leaseUntil === null || r.leaseUntil <= now || r.leaseOwner === owner) {
      r.leaseOwner = owner;
      r.leaseUntil = until;
      return { outcome: "acquired", row: { ...r } };
    }
    return { outcome: "busy", row: { ...r } };
  }

  /** @param {ConnectionRow} r @param {TokenWrite} w */
  #apply(r, w) {
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
    // null keeps the stored account (a refresh never sets one), unless the
    // write forgets it (a new grant of an account not read).
    for (const k of ACCOUNT_FIELDS) {
      if (w.forgetStoredAccount === true) r[k] = w[k] ?? null;
      else if (w[k] !== null && w[k] !== undefined) r[k] = w[k];
    }
  }

  /** @param {{ write: TokenWrite; expectedVersion: number; event?: RefreshEvent }} a */
  commitRefresh({ write, expectedVersion, event }) {
    const r = this.#rows.get(this.#key(write.userId, write.provider));
    if (!r || r.version !== expectedVersion) return false;
    // A refresh cannot add scopes: a missing scope's flag stays, in this write.
    const flagged = r.status === "needs_reauth" && r.lastErrorCode === "INSUFFICIENT_SCOPE";
    const flag = flagged ? [r.status, r.lastErrorCode, r.lastErrorMessage, r.lastErrorAt] : null;
    this.#apply(r, write);
    if (flag) [r.status, r.lastErrorCode, r.lastErrorMessage, r.lastErrorAt] = flag;
    if (event) this.appendEvent(event);
    return true;
  }

  /** commitRefresh records the event it is given. */
  get commitsEvents() {
    return true;
  }

  /** @param {FailureWrite} f */
  recordFailure(f) {
    const r = this.#rows.get(this.#key(f.userId, f.provider));
    // Not over tokens saved since the failed refresh began.
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

  /** @param {{ userId: string; provider: string; owner: string }} a */
  releaseLease({ userId, provider, owner }) {
    const r = this.#rows.get(this.#key(userId, provider));
    if (r && r.leaseOwner === owner) Object.assign(r, { leaseOwner: null, leaseUntil: null });
  }

  /**
   * @param {TokenWrite} w
   * @returns {ConnectionRow}
   */
  saveTokens(w) {
    const k = this.#key(w.userId, w.provider);
    let r = this.#rows.get(k);
    // The row's refresh token (and its lease) as it is now, when there is a
    // row (an insert takes the write's).
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
        accountId: null,
        accountEmail: null,
        accountName: null,
        signinDigest: null,
      });
      this.#rows.set(k, r);
    }
    this.#apply(r, w);
    // A write without one (a connect's) keeps the last sign-in's.
    if (w.signinDigest != null) r.signinDigest = w.signinDigest;
    // A refresh token rotated since the caller read the row stays, or another
    // sign-in's that landed first, of the same account (see TokenWrite).
    if (w.keepStoredRefreshToken && kept && sameAccount) {
      [r.refreshTokenSealed, r.refreshTokenExpiresAt, r.leaseOwner, r.leaseUntil] = kept;
    }
    return { ...r };
  }

  /** @param {{ userId: string; provider: string; at: number }} a */
  disconnect({ userId, provider, at }) {
    const r = this.#rows.get(this.#key(userId, provider));
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

  /** @param {RefreshEvent} e */
  appendEvent(e) {
    this.events.push(e);
    if (this.events.length > this.#maxEvents) this.events.splice(0, this.events.length - this.#maxEvents);
  }

  /**
   * Records a connect in progress, and forgets the attempts expired for more
   * than a day and, beyond the user's MAX_CONNECTS_PER_USER, the ones expired
   * first, then the oldest not yet back from the provider (as the Postgres
   * store does).
   * @param {ConnectAttempt} a
   */
  putConnect(a) {
    for (const [k, c] of this.#connects) {
      if (c.attempt.expiresAt < a.createdAt - DAY_MS) this.#connects.delete(k);
    }
    const live = (c) => c.attempt.expiresAt > a.createdAt;
    const mine = [...this.#connects.values()].filter((c) => c.attempt.userId === a.userId)
      .sort((x, y) =>
        Number(live(y)) - Number(live(x)) || Number(y.claimed) - Number(x.claimed) ||
        y.attempt.createdAt - x.attempt.createdAt || (x.attempt.stateHash < y.attempt.stateHash ? -1 : 1)
      );
    for (const old of mine.slice(MAX_CONNECTS_PER_USER - 1)) this.#connects.delete(old.attempt.stateHash);
    this.#connects.set(a.stateHash, { attempt: { ...a }, claimed: false });
  }

  /**
   * The callback's claim: the first claim of a state attaches the code and
   * ticket ("claimed", with the attempt as it was); a later one is "used".
   * @param {{ stateHash: string; codeSealed: string | null; ticketHash: string | null; now: number }} a
   */
  claimConnect({ stateHash, codeSealed, ticketHash }) {
    const c = this.#connects.get(stateHash);
    if (!c) return { outcome: /** @type {const} */ ("missing") };
    if (c.claimed) return { outcome: /** @type {const} */ ("used"), attempt: { ...c.attempt } };
    const before = { ...c.attempt };
    Object.assign(c.attempt, { codeSealed, ticketHash });
    c.claimed = true;
    return { outcome: /** @type {const} */ ("claimed"), attempt: before };
  }

  /**
   * Removes and returns the attempt holding this ticket (single use).
   * @param {{ ticketHash: string }} a
   */
  takeConnect({ ticketHash }) {
    for (const [k, c] of this.#connects) {
      if (c.attempt.ticketHash === ticketHash) {
        this.#connects.delete(k);
        return { ...c.attempt };
      }
    }
    return null;
  }

  /**
   * Every connection of a user, in provider order.
   * @param {{ userId: string }} a
   */
  loadAll({ userId }) {
    return [...this.#rows.values()]
      .filter((r) => r.userId === userId)
      .sort((a, b) => (a.provider < b.provider ? -1 : a.provider > b.provider ? 1 : 0))
      .map((r) => ({ ...r }));
  }

  /** @param {{ before: number; now: number; limit: number }} a */
  listExpiring({ before, now, limit }) {
    return [...this.#rows.values()]
      .filter((r) =>
        r.refreshTokenSealed && r.expiresAt !== null && r.expiresAt < before &&
        !["needs_reauth", "disconnected"].includes(r.status) &&
        (r.cooldownUntil === null || r.cooldownUntil <= now)
      )
      .sort((a, b) => /** @type {number} */ (a.expiresAt) - /** @type {number} */ (b.expiresAt))
      .slice(0, limit)
      .map((r) => ({ userId: r.userId, provider: r.provider }));
  }
}
