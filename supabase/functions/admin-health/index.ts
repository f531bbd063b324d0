// The operations overview behind www/admin.html: connections by provider and
// status, the last day's refreshes by hour and failures by code, tokens about
// to expire, the webhook backlog and the last refresher runs. GET, for a
// signed-in user whose JWT carries the admin claim (ADMIN_CLAIM); anyone else
// is 403 FORBIDDEN. Never a token: users appear as a hash of their id.
import { edgeFunction } from "../_shared/handler.ts";
import { requireAdmin } from "../_shared/ops/admin.ts";
import { healthReport } from "../_shared/ops/health.ts";

export const handler = edgeFunction("admin-health", ["GET"], async ({ caller, rt }) => {
  requireAdmin(caller);
  return { body: await healthReport(rt.db, Date.now()), headers: { "cache-control": "no-store" } };
});

if (import.meta.main) Deno.serve(handler);
