// The Postgres store: the TokenStore contract in SQL (connections, their
// events, and the connect flow's attempts). Each method is one statement.
// Lease times use the database clock, so instances with skewed clocks agree
// on when a lease expires.
import type {
  ConnectAttempt,
  ConnectionRow,
  FailureWrite,
  LeaseOutcome,
  RefreshEvent,
  TokenStore,
  TokenWrite,
} from "./pkg/oauth_token_manager.js";
import type { Db } from "./db.ts";

const ms = (col: string) => `floor(extract(epoch from ${col}) * 1000)::float8`;
const ts = (param: string) => `to_timestamp(${param}::float8 / 1000.0)`;

const COLUMNS = `
  user_id::text as "userId", provider,
  access_token_sealed as "accessTokenSealed", refresh_token_sealed as "refreshTokenSealed",
  ${ms("expires_at")} as "expiresAt", ${ms("refresh_token_expires_at")} as "refreshTokenExpiresAt",
  scope, status, last_error_code as "lastErrorCode", last_error_message as "lastErrorMessage",
  ${ms("last_error_at")} as "lastErrorAt", failure_count as "failureCount",
  ${ms("cooldown_until")} as "cooldownUntil", ${ms("token_refreshed_at")} as "tokenRefreshedAt",
  version::float8 as version, lease_owner as "leaseOwner", ${ms("lease_until")} as "leaseUntil",
  account_id as "accountId", account_email as "accountEmail", account_name as "accountName"`;

const T = "public.oauth_connections";
const A = "public.oauth_connect_attempts";

const ATTEMPT = `
  state_hash as "stateHash", user_id::text as "userId", provider, verifier_sealed as "verifierSealed",
  redirect_uri as "redirectUri", return_to as "returnTo", scopes,
  ${ms("created_at")} as "createdAt", ${ms("expires_at")} as "expiresAt",
  code_sealed as "codeSealed", ticket_hash as "ticketHash"`;

/** The token columns a write sets, parameters $3..$8. */
const TOKEN_SET = `
  access_token_sealed = $3, refresh_token_sealed = $4,
  expires_at = ${ts("$5")}, refresh_token_expires_at = ${ts("$6")}, scope = $7,
  status = 'connected', last_error_code = null, last_error_message = null, last_error_at = null,
  failure_count = 0, cooldown_until = null, token_refreshed_at = ${ts("$8")},
  lease_owner = null, lease_until = null, updated_at = now()`;

function writeParams(w: TokenWrite): unknown[] {
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

export class PostgresStore implements TokenStore {
  constructor(private readonly db: Db) {}

  async load({ userId, provider }: { userId: string; provider: string }): Promise<ConnectionRow | null> {
    const rows = await this.db.query<ConnectionRow>(
      `select ${COLUMNS} from ${T} where user_id = $1::uuid and provider = $2`,
      [userId, provider],
    );
    return rows[0] ?? null;
  }

  async tryLease(
    a: { userId: string; provider: string; owner: string; now: number; until: number },
  ): Promise<LeaseOutcome> {
    const rows = await this.db.query<ConnectionRow & { acquired: boolean }>(
      `with taken as (
         update ${T}
            set lease_owner = $3,
                lease_until = clock_timestamp() + ($4::float8 * interval '1 millisecond'),
                updated_at = now()
          where user_id = $1::uuid and provider = $2
            and (lease_until is null or lease_until <= clock_timestamp() or lease_owner = $3)
          returning *)
       select true as acquired, ${COLUMNS} from taken
       union all
       select false as acquired, ${COLUMNS} from ${T}
        where user_id = $1::uuid and provider = $2 and not exists (select 1 from taken)`,
      [a.userId, a.provider, a.owner, Math.max(0, a.until - a.now)],
    );
    const row = rows[0];
    if (!row) return { outcome: "missing" };
    const { acquired, ...rest } = row;
    return acquired ? { outcome: "acquired", row: rest } : { outcome: "busy", row: rest };
  }

  async commitRefresh(
    { write, expectedVersion }: { write: TokenWrite; expectedVersion: number },
  ): Promise<boolean> {
    const rows = await this.db.query(
      `update ${T} set ${TOKEN_SET}, version = version + 1
        where user_id = $1::uuid and provider = $2 and version = $9::bigint
        returning 1 as ok`,
      [...writeParams(write), expectedVersion],
    );
    return rows.length === 1;
  }

  async recordFailure(f: FailureWrite): Promise<void> {
    await this.db.query(
      `update ${T}
          set status = $4, last_error_code = $5, last_error_message = $6, last_error_at = ${ts("$7")},
              failure_count = $8::int, cooldown_until = ${ts("$9")},
              refresh_token_sealed = case when $10::boolean then null else refresh_token_sealed end,
              lease_until = case when lease_owner = $3 then null else lease_until end,
              lease_owner = case when lease_owner = $3 then null else lease_owner end,
              updated_at = now()
        where user_id = $1::uuid and provider = $2`,
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
      ],
    );
  }

  async releaseLease({ userId, provider, owner }: { userId: string; provider: string; owner: string }) {
    await this.db.query(
      `update ${T} set lease_owner = null, lease_until = null
        where user_id = $1::uuid and provider = $2 and lease_owner = $3`,
      [userId, provider, owner],
    );
  }

  /** A sign-in's or a connect's tokens; an account left null keeps the stored one. */
  async saveTokens(w: TokenWrite): Promise<ConnectionRow> {
    const rows = await this.db.query<ConnectionRow>(
      `insert into ${T} as c (user_id, provider, access_token_sealed, refresh_token_sealed, expires_at,
              refresh_token_expires_at, scope, status, token_refreshed_at, version,
              account_id, account_email, account_name)
       values ($1::uuid, $2, $3, $4, ${ts("$5")}, ${ts("$6")}, $7, 'connected', ${ts("$8")}, 1, $9, $10, $11)
       on conflict (user_id, provider) do update set ${TOKEN_SET}, version = c.version + 1,
              account_id = coalesce(excluded.account_id, c.account_id),
              account_email = coalesce(excluded.account_email, c.account_email),
              account_name = coalesce(excluded.account_name, c.account_name)
       returning ${COLUMNS}`,
      [...writeParams(w), w.accountId ?? null, w.accountEmail ?? null, w.accountName ?? null],
    );
    return rows[0];
  }

  async disconnect({ userId, provider, at }: { userId: string; provider: string; at: number }) {
    await this.db.query(
      `update ${T}
          set access_token_sealed = null, refresh_token_sealed = null, status = 'disconnected',
              account_id = null, account_email = null, account_name = null,
              version = version + 1, token_refreshed_at = ${ts("$3")},
              lease_owner = null, lease_until = null, updated_at = now()
        where user_id = $1::uuid and provider = $2`,
      [userId, provider, at],
    );
  }

  async loadAll({ userId }: { userId: string }): Promise<ConnectionRow[]> {
    return await this.db.query<ConnectionRow>(
      `select ${COLUMNS} from ${T} where user_id = $1::uuid order by provider`,
      [userId],
    );
  }

  /** Records a connect in progress, and deletes the attempts expired for more than a day. */
  async putConnect(a: ConnectAttempt): Promise<void> {
    await this.db.query(
      `with purged as (delete from ${A} where expires_at < ${ts("$8")} - interval '1 day')
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
   */
  async claimConnect(
    c: { stateHash: string; codeSealed: string | null; ticketHash: string | null; now: number },
  ): Promise<{ outcome: "claimed" | "used"; attempt: ConnectAttempt } | { outcome: "missing" }> {
    // Both CTEs see the statement's snapshot: `before` is the attempt as it was.
    const rows = await this.db.query<ConnectAttempt & { claimed: boolean }>(
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

  /** Completion: removes and returns the attempt holding this ticket (single use). */
  async takeConnect({ ticketHash }: { ticketHash: string }): Promise<ConnectAttempt | null> {
    const rows = await this.db.query<ConnectAttempt>(
      `delete from ${A} where ticket_hash = $1 returning ${ATTEMPT}`,
      [ticketHash],
    );
    return rows[0] ?? null;
  }

  async appendEvent(e: RefreshEvent): Promise<void> {
    await this.db.query(
      `insert into public.oauth_refresh_events
         (user_id, provider, kind, code, message, at, duration_ms, attempts, rotated,
          scopes_added, scopes_removed, instance)
       values ($1::uuid, $2, $3, $4, $5, ${ts("$6")}, $7::int, $8::int, $9::boolean,
               $10::text[], $11::text[], $12)`,
      [
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
      ],
    );
  }

  async listExpiring(
    { before, now, limit }: { before: number; now: number; limit: number },
  ): Promise<{ userId: string; provider: string }[]> {
    return await this.db.query<{ userId: string; provider: string }>(
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
