// The Postgres store: the TokenStore contract in SQL (connections, their
// events, and the connect flow's attempts), one statement per method, over
// the tables of the package's migrations. Lease times use the database clock,
// so instances with skewed clocks agree on when a lease expires.
//
// Ported from the edge functions' store (supabase/functions/_shared/store.ts);
// the SQL is the same.
import { MAX_CONNECTS_PER_USER, migrationFor, missingSchema as missingWith } from "./schema.js";

export { MAX_CONNECTS_PER_USER, migrationFor };

/** @typedef {import("../oauth_token_manager.js").ConnectAttempt} ConnectAttempt */
/** @typedef {import("../oauth_token_manager.js").ConnectionRow} ConnectionRow */
/** @typedef {import("../oauth_token_manager.js").FailureWrite} FailureWrite */
/** @typedef {import("../oauth_token_manager.js").LeaseOutcome} LeaseOutcome */
/** @typedef {import("../oauth_token_manager.js").RefreshEvent} RefreshEvent */
/** @typedef {import("../oauth_token_manager.js").TokenWrite} TokenWrite */
/** @typedef {(text: string, params: unknown[]) => Promise<any[]>} Query */

/** @param {string} col */
const ms = (col) => `floor(extract(epoch from ${col}) * 1000)::float8`;
/** @param {string} param */
const ts = (param) => `to_timestamp(${param}::float8 / 1000.0)`;

const COLUMNS = `
  user_id::text as "userId", provider,
  access_token_sealed as "accessTokenSealed", refresh_token_sealed as "refreshTokenSealed",
  ${ms("expires_at")} as "expiresAt", ${ms("refresh_token_expires_at")} as "refreshTokenExpiresAt",
  scope, status, last_error_code as "lastErrorCode", last_error_message as "lastErrorMessage",
  ${ms("last_error_at")} as "lastErrorAt", failure_count as "failureCount",
  ${ms("cooldown_until")} as "cooldownUntil", ${ms("token_refreshed_at")} as "tokenRefreshedAt",
  version::float8 as version, lease_owner as "leaseOwner", ${ms("lease_until")} as "leaseUntil",
  account_id as "accountId", account_email as "accountEmail", account_name as "accountName",
  signin_digest as "signinDigest"`;

/**
 * The row projection every method returns (ConnectionRow), for queries of
 * your own over public.oauth_connections, e.g. a refresher's claim whose rows
 * go to TokenManager.getValidTokenFor.
 */
export const ROW_COLUMNS = COLUMNS;

const T = "public.oauth_connections";
const A = "public.oauth_connect_attempts";

const ATTEMPT = `
  state_hash as "stateHash", user_id::text as "userId", provider, verifier_sealed as "verifierSealed",
  redirect_uri as "redirectUri", return_to as "returnTo", to_json(scopes) as scopes,
  ${ms("created_at")} as "createdAt", ${ms("expires_at")} as "expiresAt",
  code_sealed as "codeSealed", ticket_hash as "ticketHash"`;

/**
 * An event row's columns and values from parameter $first on (12 of them);
 * `from` makes it an INSERT … SELECT (e.g. only when a CTE wrote a row).
 */
function eventValues(first, from = "") {
  const p = (i) => `$${first + i}`;
  const values = `${p(0)}::uuid, ${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${ts(p(5))}, ${p(6)}::int, ${p(7)}::int,
          ${p(8)}::boolean, ${p(9)}::text[], ${p(10)}::text[], ${p(11)}`;
  return `(user_id, provider, kind, code, message, at, duration_ms, attempts, rotated,
          scopes_added, scopes_removed, instance)
       ${from ? `select ${values} ${from}` : `values (${values})`}`;
}

/** @param {RefreshEvent} e */
function eventParams(e) {
  return [
    e.userId,
    e.provider,
    e.kind,
    e.code,
    e.message,
    e.at,
    e.durationMs,
    e.attempts,
    e.rotated,
    e.scopesAdded ?? [],
    e.scopesRemoved ?? [],
    e.instance,
  ];
}

/** The token columns a write sets, parameters $3..$8. */
const TOKEN_SET = `
  access_token_sealed = $3, refresh_token_sealed = $4,
  expires_at = ${ts("$5")}, refresh_token_expires_at = ${ts("$6")}, scope = $7,
  status = 'connected', last_error_code = null, last_error_message = null, last_error_at = null,
  failure_count = 0, cooldown_until = null, token_refreshed_at = ${ts("$8")},
  lease_owner = null, lease_until = null, updated_at = now()`;

/** A connection flagged for a missing scope: a refresh cannot add scopes, so commitRefresh keeps the flag. */
const SCOPE_FLAGGED = "(status = 'needs_reauth' and last_error_code = 'INSUFFICIENT_SCOPE')";

/** commitRefresh's columns: TOKEN_SET, keeping a missing scope's flag (status and error) in the same write. */
const COMMIT_SET = TOKEN_SET.replace(
  "status = 'connected', last_error_code = null, last_error_message = null, last_error_at = null,",
  () =>
    `status = case when ${SCOPE_FLAGGED} then status else 'connected' end,
  last_error_code = case when ${SCOPE_FLAGGED} then last_error_code end,
  last_error_message = case when ${SCOPE_FLAGGED} then last_error_message end,
  last_error_at = case when ${SCOPE_FLAGGED} then last_error_at end,`,
);

/**
 * saveTokens' columns: TOKEN_SET, where $12 (keepStoredRefreshToken) keeps the
 * refresh token the row holds at this moment, its end and its lease, over $4 and $6
 * (the copy read before: a refresh may have rotated it since, or erased it,
 * dead, after invalid_grant or a disconnect: none then, not the dead copy).
 */
// Kept for the row's own account only (or one not known on either side): a
// sign-in that read no row keeps the refresh token another sign-in's insert
// brought meanwhile, not another account's.
const KEEP = "($12::boolean and (excluded.account_id is null or c.account_id is null " +
  "or c.account_id = excluded.account_id))";
const SAVE_SET = TOKEN_SET
  .replace(
    "refresh_token_sealed = $4,",
    () => `refresh_token_sealed = case when ${KEEP} then c.refresh_token_sealed else $4 end,`,
  )
  .replace(
    `refresh_token_expires_at = ${ts("$6")},`,
    () =>
      `refresh_token_expires_at = case when ${KEEP} then c.refresh_token_expires_at else ${ts("$6")} end,`,
  )
  // Keeping the refresh token, it keeps its lease too: its holder is
  // refreshing with that token, which no one else may send meanwhile.
  .replace(
    "lease_owner = null, lease_until = null,",
    () =>
      `lease_owner = case when ${KEEP} then c.lease_owner end,
  lease_until = case when ${KEEP} then c.lease_until end,`,
  );
if (
  !SAVE_SET.includes(`${KEEP} then c.refresh_token_expires_at`) ||
  !SAVE_SET.includes("then c.lease_owner")
) {
  throw new Error("postgres store: SAVE_SET did not apply");
}

/** @param {TokenWrite} w */
function writeParams(w) {
  return [
    w.userId,
    w.provider,
    w.accessTokenSealed,
    w.refreshTokenSealed,
    w.expiresAt,
    w.refreshTokenExpiresAt,
    w.scope,
    w.refreshedAt,
  ];
}

/**
 * An Error with a code the manager keeps (`STORAGE`, `SCHEMA_MISMATCH`).
 * @param {string} code
 * @param {string} message
 */
function coded(code, message) {
  return Object.assign(new Error(message), { code });
}

/**
 * A driver failure (refused connection, timeout, SQL error) as STORAGE, with
 * the driver's words and SQLSTATE; statements carry sealed tokens only as
 * parameters, which drivers do not put in their messages.
 * @param {unknown} e
 */
function storageError(e) {
  const err = /** @type {{ message?: unknown; code?: unknown; sqlstate?: unknown }} */ (e);
  // The SQLSTATE: a driver's `code`, or `sqlstate` beside a query function's
  // own STORAGE error (the edge functions' database wraps the driver's).
  const state = typeof err?.sqlstate === "string" ? err.sqlstate : err?.code;
  // undefined_column, undefined_table: a database behind this version's
  // migrations, which no retry mends (checkSchema() names what is missing).
  if (state === "42703" || state === "42P01") {
    return coded(
      "SCHEMA_MISMATCH",
      "the database lacks a table or column this store needs: apply oauth-token-manager/migrations/ " +
        "(checkSchema() names the migration)",
    );
  }
  const message = typeof err?.message === "string" ? err.message : String(e);
  // Worded already by the query function: as it is.
  if (err?.code === "STORAGE") return coded("STORAGE", message);
  const sqlstate = typeof err?.code === "string" ? ` [${err.code}]` : "";
  return coded("STORAGE", `the database failed: ${message.slice(0, 300)}${sqlstate}`);
}

/**
 * The query function for a client: postgres.js (`sql.unsafe`), or anything
 * with node-postgres's `query(text, values)` answering `{ rows }`.
 * @param {any} sql
 * @returns {Query}
 */
function queryOf(sql) {
  if (typeof sql?.unsafe === "function") {
    return async (text, params) => [...(await sql.unsafe(text, params))];
  }
  if (typeof sql?.query === "function") {
    return async (text, params) => (await sql.query(text, params)).rows;
  }
  throw new TypeError("PostgresStore: pass a postgres.js `sql` (or a client with query(text, values))");
}

/** @implements {import("../oauth_token_manager.js").TokenStore} */
export class PostgresStore {
  /** @type {Query} */
  #run;

  /**
   * @param {any} sql a postgres.js instance, `postgres(url, { prepare: false })`
   *   behind a transaction pooler; or a node-postgres Pool / Client
   */
  constructor(sql) {
    this.#run = queryOf(sql);
  }

  /**
   * @param {string} text
   * @param {unknown[]} params
   * @returns {Promise<any[]>}
   */
  async #query(text, params) {
    try {
      return await this.#run(text, params);
    } catch (e) {
      throw storageError(e);
    }
  }

  /**
   * Rejects with code `SCHEMA_MISMATCH` naming every missing table or column
   * and the migration that adds it; call it at start.
   */
  async checkSchema() {
    const missing = await missingWith((text, params) => this.#query(text, params));
    if (missing.length > 0) {
      const files = [...new Set(missing.map(migrationFor))];
      throw coded(
        "SCHEMA_MISMATCH",
        `the database is missing ${missing.join(", ")}: apply ${files.join(" and ")} ` +
          "(oauth-token-manager/migrations/)",
      );
    }
  }

  /**
   * @param {{ userId: string; provider: string }} a
   * @returns {Promise<ConnectionRow | null>}
   */
  async load({ userId, provider }) {
    const rows = await this.#query(
      `select ${COLUMNS} from ${T} where user_id = $1::uuid and provider = $2`,
      [userId, provider],
    );
    return rows[0] ?? null;
  }

  /**
   * @param {{ userId: string; provider: string; owner: string; now: number; until: number }} a
   * @returns {Promise<LeaseOutcome>}
   */
  async tryLease(a) {
    // The common case in one plain UPDATE (cheap to plan: this runs once per
    // refresh); only when the lease is held or the row is missing, a read.
    const taken = await this.#query(
      `update ${T}
          set lease_owner = $3,
              lease_until = clock_timestamp() + ($4::float8 * interval '1 millisecond'),
              updated_at = now()
        where user_id = $1::uuid and provider = $2
          and (lease_until is null or lease_until <= clock_timestamp() or lease_owner = $3)
        returning ${COLUMNS}`,
      [a.userId, a.provider, a.owner, Math.max(0, a.until - a.now)],
    );
    if (taken[0]) return { outcome: "acquired", row: taken[0] };
    // Held by another owner (it may be released by now: the caller waits and asks again).
    const row = await this.load(a);
    return row ? { outcome: "busy", row } : { outcome: "missing" };
  }

  /**
   * @param {{ write: TokenWrite; expectedVersion: number }} a
   * @returns {Promise<boolean>}
   */
  async commitRefresh({ write, expectedVersion, event }) {
    const commit = `update ${T} set ${COMMIT_SET}, version = version + 1
        where user_id = $1::uuid and provider = $2 and version = $9::bigint
        returning 1 as ok`;
    const params = [...writeParams(write), expectedVersion];
    // With the event: one statement, the event inserted only if the tokens were written.
    const rows = event
      ? await this.#query(
        `with c as (${commit}),
              e as (insert into public.oauth_refresh_events ${eventValues(10, "from c")})
         select ok from c`,
        [...params, ...eventParams(event)],
      )
      : await this.#query(commit, params);
    return rows.length === 1;
  }

  /** commitRefresh records the event it is given (the manager then skips appendEvent). */
  get commitsEvents() {
    return true;
  }

  /** @param {FailureWrite} f */
  async recordFailure(f) {
    await this.#query(
      `update ${T}
          set status = $4, last_error_code = $5, last_error_message = $6, last_error_at = ${ts("$7")},
              failure_count = $8::int, cooldown_until = ${ts("$9")},
              refresh_token_sealed = case when $10::boolean then null else refresh_token_sealed end,
              lease_until = case when lease_owner = $3 then null else lease_until end,
              lease_owner = case when lease_owner = $3 then null else lease_owner end,
              updated_at = now()
        where user_id = $1::uuid and provider = $2
          and ($11::bigint is null or version = $11::bigint)`,
      [
        f.userId,
        f.provider,
        f.owner,
        f.status,
        f.code,
        f.message,
        f.at,
        f.failureCount,
        f.cooldownUntil,
        f.eraseRefreshToken === true,
        f.expectedVersion ?? null,
      ],
    );
  }

  /** @param {{ userId: string; provider: string; owner: string }} a */
  async releaseLease({ userId, provider, owner }) {
    await this.#query(
      `update ${T} set lease_owner = null, lease_until = null
        where user_id = $1::uuid and provider = $2 and lease_owner = $3`,
      [userId, provider, owner],
    );
  }

  /**
   * A sign-in's or a connect's tokens; an account left null keeps the stored
   * one, unless `forgetStoredAccount` (a new grant of an account not read).
   * @param {TokenWrite} w
   * @returns {Promise<ConnectionRow>}
   */
  async saveTokens(w) {
    const rows = await this.#query(
      `insert into ${T} as c (user_id, provider, access_token_sealed, refresh_token_sealed, expires_at,
              refresh_token_expires_at, scope, status, token_refreshed_at, version,
              account_id, account_email, account_name, signin_digest)
       values ($1::uuid, $2, $3, $4, ${ts("$5")}, ${ts("$6")}, $7, 'connected', ${
        ts("$8")
      }, 1, $9, $10, $11, $14)
       on conflict (user_id, provider) do update set ${SAVE_SET}, version = c.version + 1,
              signin_digest = coalesce(excluded.signin_digest, c.signin_digest),
              account_id = case when $13::boolean then excluded.account_id
                                else coalesce(excluded.account_id, c.account_id) end,
              account_email = case when $13::boolean then excluded.account_email
                                   else coalesce(excluded.account_email, c.account_email) end,
              account_name = case when $13::boolean then excluded.account_name
                                  else coalesce(excluded.account_name, c.account_name) end
       returning ${COLUMNS}`,
      [
        ...writeParams(w),
        w.accountId ?? null,
        w.accountEmail ?? null,
        w.accountName ?? null,
        w.keepStoredRefreshToken === true,
        w.forgetStoredAccount === true,
        w.signinDigest ?? null,
      ],
    );
    return rows[0];
  }

  /** @param {{ userId: string; provider: string; at: number }} a */
  async disconnect({ userId, provider, at }) {
    await this.#query(
      `update ${T}
          set access_token_sealed = null, refresh_token_sealed = null, status = 'disconnected',
              account_id = null, account_email = null, account_name = null,
              version = version + 1, token_refreshed_at = ${ts("$3")},
              lease_owner = null, lease_until = null, updated_at = now()
        where user_id = $1::uuid and provider = $2`,
      [userId, provider, at],
    );
  }

  /**
   * @param {{ userId: string }} a
   * @returns {Promise<ConnectionRow[]>}
   */
  async loadAll({ userId }) {
    return await this.#query(
      `select ${COLUMNS} from ${T} where user_id = $1::uuid order by provider`,
      [userId],
    );
  }

  /**
   * Records a connect in progress, and deletes the attempts expired for more
   * than a day and, beyond the user's MAX_CONNECTS_PER_USER, the ones
   * expired first, then the oldest not yet back from the provider: a connect
   * the provider already sent back (claimed, waiting for its completion) is
   * kept over newer ones.
   * @param {ConnectAttempt} a
   */
  async putConnect(a) {
    await this.#query(
      `with purged as (delete from ${A} where expires_at < ${ts("$8")} - interval '1 day'),
       capped as (delete from ${A} where state_hash in (
         select state_hash from ${A} where user_id = $2::uuid
          order by expires_at > ${
        ts("$8")
      } desc, claimed_at is not null desc, created_at desc, state_hash collate "C"
          offset ${MAX_CONNECTS_PER_USER - 1}))
       insert into ${A} (state_hash, user_id, provider, verifier_sealed, redirect_uri, return_to, scopes,
              created_at, expires_at, code_sealed, ticket_hash)
       values ($1, $2::uuid, $3, $4, $5, $6, $7::text[], ${ts("$8")}, ${ts("$9")}, $10, $11)`,
      [
        a.stateHash,
        a.userId,
        a.provider,
        a.verifierSealed,
        a.redirectUri,
        a.returnTo,
        a.scopes,
        a.createdAt,
        a.expiresAt,
        a.codeSealed,
        a.ticketHash,
      ],
    );
  }

  /**
   * The callback's claim, in one statement: the first claim of a state sets the
   * code and ticket ("claimed", with the attempt as it was); a state claimed
   * before is "used" (a replay).
   * @param {{ stateHash: string; codeSealed: string | null; ticketHash: string | null; now: number }} c
   * @returns {Promise<{ outcome: "claimed" | "used"; attempt: ConnectAttempt } | { outcome: "missing" }>}
   */
  async claimConnect(c) {
    // Both CTEs see the statement's snapshot: `before` is the attempt as it was.
    const rows = await this.#query(
      `with before as (select * from ${A} where state_hash = $1),
       claimed as (
         update ${A} set code_sealed = $2, ticket_hash = $3, claimed_at = ${ts("$4")}
          where state_hash = $1 and claimed_at is null
          returning 1)
       select exists (select 1 from claimed) as claimed, ${ATTEMPT} from before`,
      [c.stateHash, c.codeSealed, c.ticketHash, c.now],
    );
    const row = rows[0];
    if (!row) return { outcome: "missing" };
    const { claimed, ...attempt } = row;
    return { outcome: claimed ? "claimed" : "used", attempt };
  }

  /**
   * Completion: removes and returns the attempt holding this ticket (single use).
   * @param {{ ticketHash: string }} a
   * @returns {Promise<ConnectAttempt | null>}
   */
  async takeConnect({ ticketHash }) {
    const rows = await this.#query(
      `delete from ${A} where ticket_hash = $1 returning ${ATTEMPT}`,
      [ticketHash],
    );
    return rows[0] ?? null;
  }

  /** @param {RefreshEvent} e */
  async appendEvent(e) {
    await this.#query(`insert into public.oauth_refresh_events ${eventValues(1)}`, eventParams(e));
  }

  /**
   * @param {{ before: number; now: number; limit: number }} a
   * @returns {Promise<{ userId: string; provider: string }[]>}
   */
  async listExpiring({ before, now, limit }) {
    return await this.#query(
      `select user_id::text as "userId", provider from ${T}
        where refresh_token_sealed is not null and expires_at < ${ts("$1")}
          and status not in ('needs_reauth', 'disconnected')
          and (cooldown_until is null or cooldown_until <= ${ts("$2")})
        order by expires_at
        limit $3::int`,
      [before, now, limit],
    );
  }
}

/**
 * What the store needs and the database lacks, as `table` or `table.column`
 * (empty when the migrations are applied).
 * @param {any} sql a postgres.js instance or a node-postgres Pool / Client
 * @returns {Promise<string[]>}
 */
export async function missingSchema(sql) {
  return await missingWith(queryOf(sql));
}
