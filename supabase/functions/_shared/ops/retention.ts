// Retention: refresh events older than the configured age (EVENT_RETENTION_DAYS,
// 30 by default) are deleted in bounded batches by the refresher, by the
// oauth_refresh_events (at) index; only events the metrics roll-up has counted
// (at < rolled_until), so the counters never go down. Delivered or failed
// webhook messages and refresher runs past the same age go too.
import type { Db } from "../db.ts";

export const DEFAULT_RETENTION_DAYS = 30;

export interface RetentionSettings {
  retentionMs: number;
  /** Rows per delete statement. */
  batch: number;
}

export const DEFAULT_RETENTION: RetentionSettings = {
  retentionMs: DEFAULT_RETENTION_DAYS * 86_400_000,
  batch: 5_000,
};

const ts = (p: string) => `to_timestamp(${p}::float8 / 1000)`;

/** Deletes what is past retention, batch by batch, until done or `deadline`; the events deleted. */
export async function applyRetention(
  db: Db,
  s: RetentionSettings,
  a: { now: () => number; deadline: number },
): Promise<number> {
  const cutoff = a.now() - s.retentionMs;
  let events = 0;
  for (;;) {
    const rows = await db.query(
      `delete from public.oauth_refresh_events
        where id in (
          select e.id from public.oauth_refresh_events e
           where e.at < least(${ts("$1")}, (select rolled_until from public.oauth_metrics_state))
           order by e.at limit $2)
       returning 1`,
      [cutoff, s.batch],
    );
    events += rows.length;
    if (rows.length < s.batch || a.now() >= a.deadline) break;
  }
  await db.query(
    `delete from public.oauth_webhook_outbox
      where id in (select id from public.oauth_webhook_outbox
                    where created_at < ${ts("$1")} and (delivered_at is not null or failed_at is not null)
                    order by created_at limit $2)`,
    [cutoff, s.batch],
  );
  await db.query(
    `delete from public.oauth_refresher_runs
      where id in (select id from public.oauth_refresher_runs where started_at < ${ts("$1")}
                    order by started_at limit $2)`,
    [cutoff, s.batch],
  );
  return events;
}
