// The admin health report (the admin-health function, www/admin.html): the
// metrics' queries (metrics.ts) plus the last day's refreshes by hour and
// failures by code. Never a token: users appear as the log's hash of their id.
import type { Db } from "../db.ts";
import { hashUser } from "../log.ts";
import {
  type ConnectionCount,
  connectionsByStatus,
  expiringByProvider,
  type ExpiringConnection,
  lastRuns,
  OUTCOME_OF_KIND,
  REFRESH_KINDS,
  type RefresherRun,
  soonestExpiring,
  type WebhookBacklog,
  webhookBacklog,
} from "./metrics.ts";

const HOUR = 3_600_000;
export const HOURS = 24;
export const SOONEST = 20;
export const RUNS = 20;
export const ACCESS_WITHIN_MS = HOUR;
export const REFRESH_WITHIN_MS = 7 * 24 * HOUR;

export interface HourCount {
  /** The hour's start (epoch ms, UTC hours). */
  start: number;
  success: number;
  failure: number;
}

export interface Expiring {
  withinMs: number;
  total: number;
  byProvider: { provider: string; count: number }[];
  /** The soonest, with the user as the log's hash of the id. */
  soonest: { provider: string; user: string; status: string; expiresAt: number }[];
}

export interface HealthReport {
  generatedAt: number;
  connections: { byProviderStatus: ConnectionCount[]; total: number };
  refreshes: {
    /** The window: the last 24 hours, from the start of the hour 23 hours ago. */
    since: number;
    hourly: HourCount[];
    success: number;
    failure: number;
    failuresByCode: { code: string; count: number }[];
  };
  expiring: { accessTokens: Expiring; refreshTokens: Expiring };
  webhooks: WebhookBacklog;
  runs: RefresherRun[];
}

/** Refresh outcomes since `since` by UTC hour (the events' time index). */
async function refreshesByHour(
  db: Db,
  since: number,
): Promise<{ hour: number; kind: string; count: number }[]> {
  const rows = await db.query<Record<string, unknown>>(
    `select floor(extract(epoch from at) / 3600)::float8 as hour, kind, count(*)::float8 as n
       from public.oauth_refresh_events
      where at >= $1::timestamptz and kind in ${REFRESH_KINDS}
      group by 1, 2`,
    [new Date(since).toISOString()],
  );
  return rows.map((r) => ({ hour: Number(r.hour), kind: String(r.kind), count: Number(r.n) }));
}

/** Failed refreshes since `since` by error code, most first. */
async function failuresByCode(db: Db, since: number): Promise<{ code: string; count: number }[]> {
  const rows = await db.query<Record<string, unknown>>(
    `select coalesce(code, '') as code, count(*)::float8 as n
       from public.oauth_refresh_events
      where at >= $1::timestamptz and kind = 'failed'
      group by 1
      order by 2 desc, 1`,
    [new Date(since).toISOString()],
  );
  return rows.map((r) => ({ code: String(r.code), count: Number(r.n) }));
}

async function expiringReport(
  db: Db,
  kind: "access" | "refresh",
  now: number,
  withinMs: number,
): Promise<Expiring> {
  const [byProvider, soonest] = await Promise.all([
    expiringByProvider(db, kind, now + withinMs),
    soonestExpiring(db, kind, now + withinMs, SOONEST),
  ]);
  return {
    withinMs,
    total: byProvider.reduce((n, p) => n + p.count, 0),
    byProvider,
    soonest: await Promise.all(
      soonest.map(async (c: ExpiringConnection) => ({
        provider: c.provider,
        user: await hashUser(c.userId),
        status: c.status,
        expiresAt: c.at,
      })),
    ),
  };
}

export async function healthReport(db: Db, now: number): Promise<HealthReport> {
  const firstHour = Math.floor(now / HOUR) - (HOURS - 1);
  const since = firstHour * HOUR;
  const [byProviderStatus, hours, byCode, accessTokens, refreshTokens, webhooks, runs] = await Promise.all([
    connectionsByStatus(db),
    refreshesByHour(db, since),
    failuresByCode(db, since),
    expiringReport(db, "access", now, ACCESS_WITHIN_MS),
    expiringReport(db, "refresh", now, REFRESH_WITHIN_MS),
    webhookBacklog(db),
    lastRuns(db, RUNS),
  ]);
  const hourly: HourCount[] = Array.from({ length: HOURS }, (_, i) => ({
    start: (firstHour + i) * HOUR,
    success: 0,
    failure: 0,
  }));
  for (const h of hours) {
    const slot = hourly[h.hour - firstHour];
    const outcome = OUTCOME_OF_KIND[h.kind];
    if (slot && outcome) slot[outcome] += h.count;
  }
  return {
    generatedAt: now,
    connections: { byProviderStatus, total: byProviderStatus.reduce((n, c) => n + c.count, 0) },
    refreshes: {
      since,
      hourly,
      success: hourly.reduce((n, h) => n + h.success, 0),
      failure: hourly.reduce((n, h) => n + h.failure, 0),
      failuresByCode: byCode,
    },
    expiring: { accessTokens, refreshTokens },
    webhooks,
    runs,
  };
}
