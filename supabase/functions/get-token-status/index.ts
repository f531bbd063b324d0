// The connection's status, expiry, marker, scopes and last error: never a token.
import { edgeFunction } from "../_shared/handler.ts";

export const handler = edgeFunction("get-token-status", ["GET", "POST"], async ({ caller, rt }) => {
  const report = await rt.manager.status(caller.userId, "google");
  const marker = report.tokenRefreshedAt ? new Date(report.tokenRefreshedAt).toISOString() : null;
  return { body: { ...report, tokenRefreshedAt: marker }, marker };
});

if (import.meta.main) Deno.serve(handler);
