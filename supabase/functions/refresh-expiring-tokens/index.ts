// The background refresher: refreshes connections whose access token expires
// within `withinSeconds` (default 900), at most `limit` (default 100) per call,
// one at a time through the same lease as every request. Run it from Supabase
// Cron (pg_cron + pg_net) with a secret key (`apikey: sb_secret_…`) or the
// legacy service role key; see README.
import { badRequest } from "../_shared/errors.ts";
import { edgeFunction } from "../_shared/handler.ts";
import { optNumber, readBody } from "../_shared/validate.ts";

export const handler = edgeFunction(
  "refresh-expiring-tokens",
  ["POST"],
  async ({ req, rt }) => {
    const b = await readBody(req);
    const within = optNumber(b, "withinSeconds") ?? 900;
    const limit = optNumber(b, "limit") ?? 100;
    if (!Number.isInteger(within) || within > 86_400) {
      throw badRequest("withinSeconds must be an integer up to 86400");
    }
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw badRequest("limit must be an integer from 1 to 1000");
    }
    const report = await rt.manager.refreshExpiring(within, limit);
    return { body: report };
  },
  { serviceRole: true },
);

if (import.meta.main) Deno.serve(handler);
