// Serves every edge function at /functions/v1/<name>, the paths
// `supabase functions serve` uses. One process = one isolate = one manager.
//
//   deno run -A scripts/functions-server.ts [--port 54321]
import { handler as adminHealth } from "../supabase/functions/admin-health/index.ts";
import { handler as cancelMeet } from "../supabase/functions/cancel-google-meet/index.ts";
import { handler as connections } from "../supabase/functions/connections/index.ts";
import { handler as createMeet } from "../supabase/functions/create-google-meet/index.ts";
import { handler as tokenStatus } from "../supabase/functions/get-token-status/index.ts";
import { handler as metrics } from "../supabase/functions/metrics/index.ts";
import { handler as refreshExpiring } from "../supabase/functions/refresh-expiring-tokens/index.ts";
import { handler as refreshToken } from "../supabase/functions/refresh-google-token/index.ts";
import { handler as storeTokens } from "../supabase/functions/store-google-tokens/index.ts";
import { handler as updateMeet } from "../supabase/functions/update-google-meet/index.ts";

export const FUNCTIONS: Record<string, (req: Request) => Promise<Response>> = {
  "store-google-tokens": storeTokens,
  "get-token-status": tokenStatus,
  "refresh-google-token": refreshToken,
  "create-google-meet": createMeet,
  "update-google-meet": updateMeet,
  "cancel-google-meet": cancelMeet,
  "refresh-expiring-tokens": refreshExpiring,
  connections,
  metrics,
  "admin-health": adminHealth,
};

/** Functions that route paths below their name (/functions/v1/connections/google/token). */
const ROUTED = new Set(["connections"]);

export function functionsHandler(req: Request): Promise<Response> {
  const m = /^\/functions\/v1\/([a-z-]+)(\/.*)?$/.exec(new URL(req.url).pathname);
  const sub = m?.[2] && m[2] !== "/";
  const fn = m && Object.hasOwn(FUNCTIONS, m[1]) && (!sub || ROUTED.has(m[1])) ? FUNCTIONS[m[1]] : undefined;
  if (!fn) {
    return Promise.resolve(
      new Response(JSON.stringify({ error: "no such function", code: "NOT_FOUND", requiresReauth: false }), {
        status: 404,
        headers: { "content-type": "application/json" },
      }),
    );
  }
  return fn(req);
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--port");
  const port = i >= 0 ? Number(Deno.args[i + 1]) : 54321;
  Deno.serve({
    hostname: "127.0.0.1",
    port,
    onListen: ({ port }) => console.log(JSON.stringify({ level: "info", msg: "functions listening", port })),
  }, functionsHandler);
}
