// The refresher's SQL on oauth_connections: claiming due connections (FOR
// UPDATE SKIP LOCKED, then sweep_until, so parallel invocations split the work
// and a crashed invocation's claims lapse), counting what is left, and the
// refresh-token expiry warnings. Every instant is a parameter (epoch ms) from
// the pass's clock.
import type { Db } from "../db.ts";
import type { ConnectionRow } from "../pkg/oauth_token_manager.js";
// @ts-types="../pkg/stores/postgres.d.ts"
import { ROW_COLUMNS } from "../pkg/stores/postgres.js";

/** The connections a refresh can help: a refresh token, a grant not known dead. */
const ACTIVE = `refresh_token_sealed is not null and status not in ('needs_reauth', 'disconnected')`;
const ts = (p: string) => `to_timestamp(${p}::float8 / 1000)`;
/** Not claimed by a running invocation, not cooling down after a failure. */
const FREE = `(sweep_until is null or sweep_until < ${ts("$3")})
  and (cooldown_until is null or cooldown_until <= ${ts("$3")})`;

export interface Claimed {
  userId: string;
  provider: string;
  /** The row as claimed (the store's projection): the refresh starts from it, not from another read. */
  row: ConnectionRow;
  /** Claimed for keep-alive: its access token is still valid. */
  keepAlive: boolean;
}

/**
 * Claims up to `limit` connections whose access token expires before
 * `before`, soonest first, among `providers`, until `until`. `from` (epoch
 * ms) starts the index scan where the previous claim of the same pass ended,
 * so a pass never walks again over the index entries its own refreshes left
 * behind (each refresh moves expires_at: the old entry is dead but still
 * scanned), which made claims grow with the pass.
 */
export async function claimExpiring(
  db: Db,
  a: { before: number; providers: string[]; now: number; limit: number; until: number; from?: number },
): Promise<Claimed[]> {
  if (a.providers.length === 0 || a.limit <= 0) return [];
  const rows = await db.query<ConnectionRow>(
    `with due as (
       select id from public.oauth_connections
        where ${ACTIVE} and expires_at < ${ts("$1")} and expires_at >= ${ts("$6")}
          and provider = any($2::text[]) and ${FREE}
        order by expires_at
        limit $4
        for update skip locked)
     update public.oauth_connections c set sweep_until = ${ts("$5")}
       from due where c.id = due.id
     returning ${ROW_COLUMNS}`,
    [a.before, a.providers, a.now, a.limit, a.until, a.from ?? 0],
  );
  return rows.map((row) => ({ userId: row.userId, provider: row.provider, row, keepAlive: false }));
}

/**
 * Claims up to `limit` connections of `provider` not refreshed since
 * `idleSince` (keep-alive), longest idle first, until `until`.
 */
export async function claimIdle(
  db: Db,
  a: { provider: string; idleSince: number; now: number; limit: number; until: number },
): Promise<Claimed[]> {
  if (a.limit <= 0) return [];
  const rows = await db.query<ConnectionRow>(
    `with due as (
       select id from public.oauth_connections
        where ${ACTIVE} and provider = $2
          and coalesce(token_refreshed_at, created_at) < ${ts("$1")} and ${FREE}
        order by coalesce(token_refreshed_at, created_at)
        limit $4
        for update skip locked)
     update public.oauth_connections c set sweep_until = ${ts("$5")}
       from due where c.id = due.id
     returning ${ROW_COLUMNS}`,
    [a.idleSince, a.provider, a.now, a.limit, a.until],
  );
  return rows.map((row) => ({ userId: row.userId, provider: row.provider, row, keepAlive: true }));
}

/**
 * Gives claims back (connections skipped by a breaker) so the next pass may
 * take them: only those still this pass's (claimed `until` it), not one
 * another pass claimed after this one's lapsed.
 */
export async function releaseClaims(db: Db, claims: Claimed[], until: number): Promise<void> {
  if (claims.length === 0) return;
  await db.query(
    `update public.oauth_connections c set sweep_until = null
       from unnest($1::uuid[], $2::text[]) as r(user_id, provider)
      where c.user_id = r.user_id and c.provider = r.provider and c.sweep_until = ${ts("$3")}`,
    [claims.map((c) => c.userId), claims.map((c) => c.provider), until],
  );
}

/** Due connections no invocation holds: what this pass leaves to the next. */
export async function countDue(
  db: Db,
  a: { before: number; providers: string[]; now: number; idle: { provider: string; idleSince: number }[] },
): Promise<number> {
  if (a.providers.length === 0) return 0;
  const [row] = await db.query<{ n: number }>(
    `select count(*)::int as n from public.oauth_connections
       left join unnest($4::text[], $5::float8[]) as idle(provider, since_ms) using (provider)
      where ${ACTIVE} and provider = any($2::text[]) and ${FREE}
        and (expires_at < ${ts("$1")} or coalesce(token_refreshed_at, created_at) < ${ts("idle.since_ms")})`,
    [a.before, a.providers, a.now, a.idle.map((i) => i.provider), a.idle.map((i) => i.idleSince)],
  );
  return row?.n ?? 0;
}

/**
 * Marks connections whose refresh token ends within their provider's notice,
 * once per grant end, and writes an event for each, in one statement: the
 * trigger adds the connection.refresh_token_expiring webhook in the same
 * transaction. Returns how many were warned.
 */
export async function warnExpiringGrants(
  db: Db,
  a: { notices: { provider: string; noticeMs: number }[]; now: number; instance: string; limit: number },
): Promise<number> {
  if (a.notices.length === 0) return 0;
  const rows = await db.query(
    `with notice as (
       select * from unnest($1::text[], $2::float8[]) as n(provider, notice_ms)),
     due as (
       select c.id from public.oauth_connections c join notice n on n.provider = c.provider
        where c.refresh_token_expires_at is not null and c.refresh_token_sealed is not null
          and c.status in ('connected', 'token_expired', 'error')
          and c.refresh_token_expires_at < ${ts("$3")} + make_interval(secs => n.notice_ms / 1000)
          -- Once per grant end: an end that moved by an hour or less is the same end
          -- (a provider that counts refresh_token_expires_in down gives one each refresh).
          and (c.refresh_expiry_warned_for is null
            or abs(extract(epoch from c.refresh_token_expires_at - c.refresh_expiry_warned_for)) > 3600)
        limit $5
        for update skip locked),
     warned as (
       update public.oauth_connections c set refresh_expiry_warned_for = c.refresh_token_expires_at
         from due where c.id = due.id
       returning c.user_id, c.provider, c.refresh_token_expires_at)
     insert into public.oauth_refresh_events (user_id, provider, kind, code, message, at, instance)
     select user_id, provider, 'refresh_token_expiring', 'REFRESH_TOKEN_EXPIRING',
            'the grant ends at ' || to_char(refresh_token_expires_at at time zone 'utc',
              'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ': reconnect before then',
            ${ts("$3")}, $4
       from warned
     returning 1`,
    [a.notices.map((n) => n.provider), a.notices.map((n) => n.noticeMs), a.now, a.instance, a.limit],
  );
  return rows.length;
}
