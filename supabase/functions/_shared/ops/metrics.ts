// Prometheus metrics, computed from the database on every scrape: isolates
// come and go, so nothing is counted in memory. Refresh outcomes are the
// roll-up (oauth_metrics_rollup, events before rolled_until) plus the events
// since, so a counter never goes down when retention deletes old events
// (the refresher deletes only events before rolled_until). The other metrics
// are gauges read from their tables, each query on an index the migrations
// create. Text exposition format 0.0.4.
import type { Db } from "../db.ts";

/** The duration histogram's upper bounds (ms, `le` inclusive): the one place they live. */
export const DURATION_BUCKETS_MS: readonly number[] = Object.freeze([
  50,
  100,
  250,
  500,
  1000,
  2500,
  5000,
  10000,
  30000,
]);

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Statuses a connection can have (the table's check constraint). */
export const CONNECTION_STATUSES = [
  "connected",
  "token_expired",
  "needs_reauth",
  "error",
  "disconnected",
] as const;

/** The event kinds that are refresh outcomes, and the outcome label of each. */
export const OUTCOME_OF_KIND: Readonly<Record<string, "success" | "failure">> = Object.freeze({
  refreshed: "success",
  failed: "failure",
});

/**
 * SQL: the bucket of a duration_ms column. Bucket k holds the durations d with
 * exactly k bounds below them (bound[k-1] < d <= bound[k]: `le` is inclusive);
 * k = bounds.length is above the last bound; -1 is an event without a
 * duration (counted, not in the histogram). width_bucket counts the
 * thresholds <= d, so the thresholds are the bounds plus one (durations are
 * whole milliseconds).
 */
export function bucketSql(column: string): string {
  if (
    !DURATION_BUCKETS_MS.every((b, i) => Number.isInteger(b) && (i === 0 || b > DURATION_BUCKETS_MS[i - 1]))
  ) {
    throw new Error("DURATION_BUCKETS_MS must be increasing integers");
  }
  const thresholds = DURATION_BUCKETS_MS.map((b) => b + 1).join(",");
  return `(case when ${column} is null then -1 else width_bucket(${column}, '{${thresholds}}'::int[]) end)::smallint`;
}

const ms = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
/** SQL: the refresh outcome kinds, as a list for `kind in …`. */
export const REFRESH_KINDS = `(${Object.keys(OUTCOME_OF_KIND).map((k) => `'${k}'`).join(", ")})`;

/**
 * rolled_until as read now, as text ('-infinity' included): a lower bound of
 * its value in any later statement (it only moves forward), given to the
 * planner as a constant so it reads events by their time index.
 */
async function rolledUntilHint(db: Db): Promise<string> {
  const [row] = await db.query<{ t: string }>(
    `select rolled_until::text as t from public.oauth_metrics_state where id`,
  );
  return row?.t ?? "-infinity";
}

/**
 * Rolls the events in [rolled_until, now - lag) into oauth_metrics_rollup and
 * moves rolled_until there, in one statement: the state row is locked FOR
 * UPDATE, so concurrent calls queue and the later one starts where the
 * earlier ended (under READ COMMITTED the lock returns the row as the
 * earlier call left it): nothing is counted twice. rolled_until never moves
 * back. The lag leaves room for events still being written (their `at` is
 * set before they commit). Returns the new rolled_until (epoch ms).
 */
export async function rollUpEvents(db: Db, now: number, lagMs = 300_000): Promise<number> {
  const until = new Date(now - lagMs).toISOString();
  const hint = await rolledUntilHint(db);
  const rows = await db.query<{ rolled_until: number }>(
    `with st as (
       select rolled_until as old_until, greatest(rolled_until, $1::timestamptz) as new_until
         from public.oauth_metrics_state where id limit 1 for update
     ), moved as (
       update public.oauth_metrics_state s
          set rolled_until = st.new_until
         from st
        where s.id
       returning st.new_until
     ), agg as (
       select e.provider, e.kind, coalesce(e.code, '') as code, ${bucketSql("e.duration_ms")} as bucket,
              count(*) as n, coalesce(sum(e.duration_ms), 0) as duration_ms_sum
         from st
         join public.oauth_refresh_events e
           on e.at >= $2::text::timestamptz and e.at < $1::timestamptz
          and e.at >= st.old_until and e.at < st.new_until
        group by 1, 2, 3, 4
     ), added as (
       insert into public.oauth_metrics_rollup as r (provider, kind, code, bucket, count, duration_ms_sum)
       select provider, kind, code, bucket, n, duration_ms_sum from agg
       on conflict (provider, kind, code, bucket) do update
         set count = r.count + excluded.count,
             duration_ms_sum = r.duration_ms_sum + excluded.duration_ms_sum
       returning 1
     )
     select (extract(epoch from new_until) * 1000)::float8 as rolled_until,
            (select count(*) from added) as groups
       from moved`,
    [until, hint],
  );
  if (rows.length === 0) {
    // The migration inserts the row; without it there is nothing to roll into.
    throw new Error("oauth_metrics_state has no row: apply 20261125090000_oauth_operations.sql");
  }
  return Number(rows[0].rolled_until);
}

export interface OutcomeRow {
  provider: string;
  kind: string;
  /** The error code; "" for none. */
  code: string;
  /** The duration bucket (see bucketSql); -1 without a duration. */
  bucket: number;
  count: number;
  durationMsSum: number;
}

/**
 * Refresh outcomes (kinds refreshed and failed) since the beginning: the
 * roll-up plus the events from rolled_until on, read in one snapshot.
 */
export async function refreshOutcomes(db: Db): Promise<OutcomeRow[]> {
  const hint = await rolledUntilHint(db);
  const rows = await db.query<Record<string, unknown>>(
    `with st as (
       select coalesce((select rolled_until from public.oauth_metrics_state where id), '-infinity') as since
     ), live as (
       select e.provider, e.kind, coalesce(e.code, '') as code, ${bucketSql("e.duration_ms")} as bucket,
              count(*)::bigint as n, coalesce(sum(e.duration_ms), 0)::bigint as duration_ms_sum
         from st
         join public.oauth_refresh_events e on e.at >= $1::text::timestamptz and e.at >= st.since
        where e.kind in ${REFRESH_KINDS}
        group by 1, 2, 3, 4
     ), rolled as (
       select provider, kind, code, bucket, count as n, duration_ms_sum
         from public.oauth_metrics_rollup
        where kind in ${REFRESH_KINDS}
     )
     select provider, kind, code, bucket, sum(n)::float8 as n, sum(duration_ms_sum)::float8 as duration_ms_sum
       from (select * from live union all select * from rolled) x
      group by 1, 2, 3, 4
      order by 1, 2, 3, 4`,
    [hint],
  );
  return rows.map((r) => ({
    provider: String(r.provider),
    kind: String(r.kind),
    code: String(r.code),
    bucket: Number(r.bucket),
    count: Number(r.n),
    durationMsSum: Number(r.duration_ms_sum),
  }));
}

export interface ConnectionCount {
  provider: string;
  status: string;
  count: number;
}

/** Connections by provider and status. */
export async function connectionsByStatus(db: Db): Promise<ConnectionCount[]> {
  const rows = await db.query<Record<string, unknown>>(
    `select provider, status, count(*)::float8 as n
       from public.oauth_connections
      group by 1, 2
      order by 1, 2`,
  );
  return rows.map((r) => ({ provider: String(r.provider), status: String(r.status), count: Number(r.n) }));
}

/**
 * Which expiry: an active connection's access token (`access`: refresh token
 * held, status not needs_reauth/disconnected — the refresher's partial index
 * oauth_connections_expiring_idx), or its refresh token's own end (`refresh`:
 * oauth_connections_refresh_expiry_idx).
 */
export type ExpiryKind = "access" | "refresh";

function expiring(kind: ExpiryKind): { column: string; where: string } {
  return kind === "access"
    ? {
      column: "expires_at",
      where: `refresh_token_sealed is not null and status not in ('needs_reauth', 'disconnected')
              and expires_at < $1::timestamptz`,
    }
    : {
      column: "refresh_token_expires_at",
      where: `refresh_token_expires_at is not null and refresh_token_sealed is not null
              and status not in ('needs_reauth', 'disconnected') and refresh_token_expires_at < $1::timestamptz`,
    };
}

/** Active connections whose access (or refresh) token expires before `until` (epoch ms), by provider. */
export async function expiringByProvider(
  db: Db,
  kind: ExpiryKind,
  until: number,
): Promise<{ provider: string; count: number }[]> {
  const rows = await db.query<Record<string, unknown>>(
    `select provider, count(*)::float8 as n
       from public.oauth_connections
      where ${expiring(kind).where}
      group by 1
      order by 1`,
    [new Date(until).toISOString()],
  );
  return rows.map((r) => ({ provider: String(r.provider), count: Number(r.n) }));
}

export interface ExpiringConnection {
  provider: string;
  /** The user id: hash it before it leaves the server. */
  userId: string;
  status: string;
  /** When the token expires (epoch ms). */
  at: number;
}

/** The `limit` active connections whose access (or refresh) token expires first, before `until`. */
export async function soonestExpiring(
  db: Db,
  kind: ExpiryKind,
  until: number,
  limit: number,
): Promise<ExpiringConnection[]> {
  const { column, where } = expiring(kind);
  const rows = await db.query<Record<string, unknown>>(
    `select provider, user_id::text as user_id, status, (extract(epoch from ${column}) * 1000)::float8 as at
       from public.oauth_connections
      where ${where}
      order by ${column}
      limit $2`,
    [new Date(until).toISOString(), limit],
  );
  return rows.map((r) => ({
    provider: String(r.provider),
    userId: String(r.user_id),
    status: String(r.status),
    at: Number(r.at),
  }));
}

export interface WebhookBacklog {
  /** Messages not yet delivered to every endpoint and not given up on. */
  pending: number;
  /** Messages given up on (failed_at set). */
  failed: number;
  /** The oldest pending message's creation (epoch ms); null with none. */
  oldestPendingAt: number | null;
  /** Endpoints disabled after answering 410 Gone: their ids (SHA-256 of the URL, 16 hex digits), oldest first. */
  disabledEndpoints: { id: string; disabledAt: number }[];
}

/** The webhook outbox: pending (its partial index) and failed messages; disabled endpoints. */
export async function webhookBacklog(db: Db): Promise<WebhookBacklog> {
  const [row] = await db.query<Record<string, unknown>>(
    `select
       (select count(*) from public.oauth_webhook_outbox
         where delivered_at is null and failed_at is null)::float8 as pending,
       (select count(*) from public.oauth_webhook_outbox where failed_at is not null)::float8 as failed,
       (select (extract(epoch from min(created_at)) * 1000)::float8 from public.oauth_webhook_outbox
         where delivered_at is null and failed_at is null) as oldest`,
  );
  const disabled = await db.query<Record<string, unknown>>(
    `select endpoint_id, (extract(epoch from disabled_at) * 1000)::float8 as at
       from public.oauth_webhook_endpoints_disabled order by disabled_at, endpoint_id limit 100`,
  );
  return {
    pending: Number(row.pending),
    failed: Number(row.failed),
    oldestPendingAt: ms(row.oldest),
    disabledEndpoints: disabled.map((d) => ({ id: String(d.endpoint_id), disabledAt: Number(d.at) })),
  };
}

export interface RefresherRun {
  id: number;
  startedAt: number;
  finishedAt: number | null;
  durationMs: number | null;
  /** done | budget | limit | error; null while running. */
  stopped: string | null;
  budgetMs: number;
  concurrency: number;
  checked: number;
  refreshed: number;
  keptAlive: number;
  failed: number;
  failedByCode: Record<string, number>;
  skippedByBreaker: number;
  breakers: Record<string, unknown>;
  remaining: number | null;
  warned: number;
  webhooksDelivered: number;
  webhooksFailed: number;
  eventsDeleted: number;
}

const jsonObject = (v: unknown): Record<string, unknown> => {
  const parsed = typeof v === "string" ? JSON.parse(v) : v;
  return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
    ? parsed as Record<string, unknown>
    : {};
};

/**
 * The latest refresher runs, newest first; `finished`: only runs that ended;
 * `succeeded`: only those that ended without an error.
 */
export async function lastRuns(
  db: Db,
  limit: number,
  o: { finished?: boolean; succeeded?: boolean } = {},
): Promise<RefresherRun[]> {
  const rows = await db.query<Record<string, unknown>>(
    `select id, stopped, budget_ms, concurrency, checked, refreshed, kept_alive, failed,
            failed_by_code::text as failed_by_code, skipped_by_breaker, breakers::text as breakers, remaining,
            warned, webhooks_delivered, webhooks_failed, events_deleted,
            (extract(epoch from started_at) * 1000)::float8 as started,
            (extract(epoch from finished_at) * 1000)::float8 as finished
       from public.oauth_refresher_runs
      ${
      o.succeeded
        ? "where finished_at is not null and stopped is distinct from 'error'"
        : o.finished
        ? "where finished_at is not null"
        : ""
    }
      order by started_at desc
      limit $1`,
    [limit],
  );
  return rows.map((r) => {
    const startedAt = Number(r.started);
    const finishedAt = ms(r.finished);
    const byCode = jsonObject(r.failed_by_code);
    return {
      id: Number(r.id),
      startedAt,
      finishedAt,
      durationMs: finishedAt === null ? null : finishedAt - startedAt,
      stopped: r.stopped === null ? null : String(r.stopped),
      budgetMs: Number(r.budget_ms),
      concurrency: Number(r.concurrency),
      checked: Number(r.checked),
      refreshed: Number(r.refreshed),
      keptAlive: Number(r.kept_alive),
      failed: Number(r.failed),
      failedByCode: Object.fromEntries(Object.entries(byCode).map(([k, v]) => [k, Number(v)])),
      skippedByBreaker: Number(r.skipped_by_breaker),
      breakers: jsonObject(r.breakers),
      remaining: ms(r.remaining),
      warned: Number(r.warned),
      webhooksDelivered: Number(r.webhooks_delivered),
      webhooksFailed: Number(r.webhooks_failed),
      eventsDeleted: Number(r.events_deleted),
    };
  });
}

// ---- the text format ---------------------------------------------------------------------

type Labels = Record<string, string>;

/** A label value: backslash, double quote and line feed escaped. */
export const escapeLabelValue = (v: string) =>
  v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');

/** A HELP text: backslash and line feed escaped. */
const escapeHelp = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

/** Metric families, each written whole (HELP, TYPE, then its samples), in the order added. */
class Exposition {
  private readonly out: string[] = [];

  family(
    name: string,
    type: "counter" | "gauge" | "histogram",
    help: string,
    samples: [suffix: string, labels: Labels, value: number][],
  ): void {
    this.out.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    for (const [suffix, labels, value] of samples) {
      this.out.push(`${name}${suffix}${labelText(labels)} ${formatValue(value)}`);
    }
  }

  text(): string {
    return this.out.join("\n") + "\n";
  }
}

/** `le` of a bound in seconds, as Prometheus clients write it. */
const le = (boundMs: number) => String(boundMs / 1000);

/**
 * Sealed token values per key id (`v1.<kid>.…`; `legacy` for values in the
 * unbound legacy format): a key can leave TOKEN_ENCRYPTION_KEYS once no value
 * needs it (`make rekey` moves them to the current key).
 */
export async function sealedByKey(db: Db): Promise<{ keyId: string; count: number }[]> {
  const rows = await db.query<{ kid: string; n: number }>(
    `select case when v like 'v1.%' then split_part(v, '.', 2) else 'legacy' end as kid, count(*)::float8 as n
       from (select access_token_sealed as v from public.oauth_connections
             union all select refresh_token_sealed from public.oauth_connections) s
      where v is not null
      group by 1 order by 1`,
  );
  return rows.map((r) => ({ keyId: String(r.kid), count: Number(r.n) }));
}

/** Everything, in the text exposition format 0.0.4. `now` (epoch ms) is "now" for the expiry gauge. */
export async function renderMetrics(db: Db, now: number): Promise<string> {
  const [outcomes, connections, expiringSoon, backlog, [run], keys, [succeeded]] = await Promise.all([
    refreshOutcomes(db),
    connectionsByStatus(db),
    expiringByProvider(db, "access", now + 3_600_000),
    webhookBacklog(db),
    lastRuns(db, 1, { finished: true }),
    sealedByKey(db),
    lastRuns(db, 1, { succeeded: true }),
  ]);
  const x = new Exposition();

  // Refresh outcomes, by provider, outcome and code.
  const totals = new Map<string, { labels: Labels; n: number }>();
  for (const r of outcomes) {
    const outcome = OUTCOME_OF_KIND[r.kind];
    if (!outcome) continue;
    const key = JSON.stringify([r.provider, outcome, r.code]);
    const t = totals.get(key) ?? { labels: { provider: r.provider, outcome, code: r.code }, n: 0 };
    t.n += r.count;
    totals.set(key, t);
  }
  x.family(
    "oauth_refresh_total",
    "counter",
    "Token refreshes by provider and outcome (success, failure), failures by error code.",
    [...totals.values()].map((t) => ["", t.labels, t.n]),
  );

  // Refresh durations (successes and failures with a duration), per provider.
  const byProvider = new Map<string, { counts: number[]; sumMs: number }>();
  for (const r of outcomes) {
    if (!OUTCOME_OF_KIND[r.kind] || r.bucket < 0) continue;
    const h = byProvider.get(r.provider) ??
      { counts: new Array(DURATION_BUCKETS_MS.length + 1).fill(0), sumMs: 0 };
    h.counts[Math.min(r.bucket, DURATION_BUCKETS_MS.length)] += r.count;
    h.sumMs += r.durationMsSum;
    byProvider.set(r.provider, h);
  }
  const histogram: [string, Labels, number][] = [];
  for (const [provider, h] of byProvider) {
    let cumulative = 0;
    DURATION_BUCKETS_MS.forEach((bound, i) => {
      cumulative += h.counts[i];
      histogram.push(["_bucket", { provider, le: le(bound) }, cumulative]);
    });
    const total = cumulative + h.counts[DURATION_BUCKETS_MS.length];
    histogram.push(["_bucket", { provider, le: "+Inf" }, total]);
    histogram.push(["_sum", { provider }, h.sumMs / 1000]);
    histogram.push(["_count", { provider }, total]);
  }
  x.family(
    "oauth_refresh_duration_seconds",
    "histogram",
    "How long token refreshes took (the provider call and saving), successes and failures.",
    histogram,
  );

  // Connections: every status of every provider seen, zeros included (series do not vanish).
  const providers = [...new Set(connections.map((c) => c.provider))].sort();
  const count = new Map(connections.map((c) => [`${c.provider}\n${c.status}`, c.count]));
  x.family(
    "oauth_connections",
    "gauge",
    "Connections by provider and status.",
    providers.flatMap((provider) =>
      CONNECTION_STATUSES.map((status) =>
        ["", { provider, status }, count.get(`${provider}\n${status}`) ?? 0] as [string, Labels, number]
      )
    ),
  );
  const soon = new Map(expiringSoon.map((e) => [e.provider, e.count]));
  x.family(
    "oauth_connections_expiring_within_hour",
    "gauge",
    "Active connections (refresh token held, not needs_reauth or disconnected) whose access token expires within the hour.",
    providers.map((provider) => ["", { provider }, soon.get(provider) ?? 0]),
  );

  x.family("oauth_webhook_backlog", "gauge", "Webhook messages waiting for delivery.", [[
    "",
    {},
    backlog.pending,
  ]]);
  x.family("oauth_webhook_failed", "gauge", "Webhook messages given up on.", [["", {}, backlog.failed]]);
  x.family(
    "oauth_sealed_values",
    "gauge",
    "Sealed token values by the key id that sealed them (legacy: the unbound legacy format).",
    keys.map((k) => ["", { key_id: k.keyId }, k.count]),
  );
  x.family(
    "oauth_webhook_endpoints_disabled",
    "gauge",
    "Webhook endpoints disabled after answering 410 Gone.",
    [["", {}, backlog.disabledEndpoints.length]],
  );

  const last = (name: string, help: string, value: (r: RefresherRun) => number) =>
    x.family(name, "gauge", help, run ? [["", {}, value(run)]] : []);
  last(
    "oauth_refresher_last_run_timestamp_seconds",
    "When the last finished background refresher run ended (Unix time).",
    (r) => r.finishedAt! / 1000,
  );
  last(
    "oauth_refresher_last_run_duration_seconds",
    "How long the last finished background refresher run took.",
    (r) => r.durationMs! / 1000,
  );
  last(
    "oauth_refresher_last_run_refreshed",
    "Connections the last finished refresher run refreshed.",
    (r) => r.refreshed,
  );
  last(
    "oauth_refresher_last_run_failed",
    "Refreshes that failed in the last finished refresher run.",
    (r) => r.failed,
  );
  last(
    "oauth_refresher_last_run_error",
    "1 when the last finished refresher run ended in an error (it threw, or was stopped before it finished), else 0.",
    (r) => (r.stopped === "error" ? 1 : 0),
  );
  // Alert on this one: a refresher whose every run fails still ends runs.
  x.family(
    "oauth_refresher_last_success_timestamp_seconds",
    "gauge",
    "When the last refresher run that ended without an error ended (Unix time).",
    succeeded ? [["", {}, succeeded.finishedAt! / 1000]] : [],
  );

  return x.text();
}
