// The connection's status, expiry, marker, scopes, last error and recent
// refresh events: never a token, and for the codes whose messages can hold
// internal details (database driver text, configuration) a plain sentence.
import { edgeFunction } from "../_shared/handler.ts";
import { markerOf, statusView } from "../_shared/replies.ts";

interface EventRow {
  kind: string;
  code: string | null;
  at: string;
  attempts: number | null;
  rotated: boolean | null;
  durationMs: number | null;
}

export const handler = edgeFunction("get-token-status", ["GET", "POST"], async ({ caller, rt }) => {
  const report = await rt.manager.status(caller.userId, "google");
  const events = await rt.db.query<EventRow>(
    `select kind, code, to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as at,
            attempts, rotated, duration_ms as "durationMs"
       from public.oauth_refresh_events
      where user_id = $1::uuid and provider = 'google'
      order by id desc limit 10`,
    [caller.userId],
  );
  return { body: { ...statusView(report), recentEvents: events }, marker: markerOf(report.tokenRefreshedAt) };
});

if (import.meta.main) Deno.serve(handler);
