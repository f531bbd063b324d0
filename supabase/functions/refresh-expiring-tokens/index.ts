// The background refresher. POST runs one pass: grants about to end are
// warned, connections whose access token expires within `withinSeconds`
// (default 900) or idle past their provider's keep-alive are claimed and
// refreshed `concurrency` at a time (default 10) through the same lease as
// every request, each provider behind a breaker, claiming stops before
// `budgetSeconds` (default 60), then webhooks are delivered, metrics rolled
// up and old events deleted; the report says what is left. GET lists the last
// runs (`?limit=`, default 20). Service callers only: run it from Supabase
// Cron (pg_cron + pg_net) with a secret key (`apikey: sb_secret_…`) or the
// legacy service role key; see README.
import { badRequest } from "../_shared/errors.ts";
import { edgeFunction } from "../_shared/handler.ts";
import { passSettings, refresherPass } from "../_shared/ops/invoke.ts";
import { lastRuns } from "../_shared/ops/metrics.ts";
import { readBody } from "../_shared/validate.ts";

export const handler = edgeFunction(
  "refresh-expiring-tokens",
  ["POST", "GET"],
  async ({ req, rt }) => {
    if (req.method === "GET") {
      const raw = new URL(req.url).searchParams.get("limit") ?? "20";
      const limit = Number(raw);
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
        throw badRequest("limit must be an integer from 1 to 500");
      }
      return { body: { runs: await lastRuns(rt.db, limit) } };
    }
    return { body: await refresherPass(rt, passSettings(await readBody(req))) };
  },
  { serviceRole: true },
);

if (import.meta.main) Deno.serve(handler);
