// Prometheus metrics (text format 0.0.4), computed from the database on each
// scrape: refresh outcomes and durations, connections by status, tokens about
// to expire, the webhook backlog and the background refresher's last run.
// GET, service callers only: a secret key (`apikey: sb_secret_…`) or the
// legacy service role key, as for the refresher; see README ("Metrics").
import { edgeFunction } from "../_shared/handler.ts";
import { PROMETHEUS_CONTENT_TYPE, renderMetrics } from "../_shared/ops/metrics.ts";

export const handler = edgeFunction(
  "metrics",
  ["GET"],
  async ({ rt }) => ({
    text: { body: await renderMetrics(rt.db, Date.now()), contentType: PROMETHEUS_CONTENT_TYPE },
    headers: { "cache-control": "no-store" },
  }),
  { serviceRole: true },
);

if (import.meta.main) Deno.serve(handler);
