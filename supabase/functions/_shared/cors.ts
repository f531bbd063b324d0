// CORS from an allowlist. Requests without an Origin (servers, curl) pass
// without CORS headers; a browser origin outside the list gets 403 FORBIDDEN.
import { AppError } from "./errors.ts";

export const MARKER_HEADER = "X-Token-Refreshed-At";
/** The connection (provider id) a token or status answer is about, so the browser keys its marker. */
export const CONNECTION_HEADER = "X-Token-Connection";
const SUPABASE_HEADERS =
  "authorization, x-client-info, apikey, content-type, x-region, x-retry-count, traceparent, tracestate, baggage";
/** Every response names its request; error bodies carry the same id as `requestId`. */
export const REQUEST_ID_HEADER = "X-Request-Id";

export class Cors {
  constructor(private readonly allowed: string[]) {}

  /** Throws FORBIDDEN for a disallowed browser origin; returns headers to add. */
  headers(req: Request): Record<string, string> {
    const origin = req.headers.get("origin");
    if (!origin) return {};
    if (!this.allowed.includes(origin) && !this.allowed.includes("*")) {
      throw new AppError("FORBIDDEN", `origin ${origin.slice(0, 100)} is not allowed`);
    }
    return {
      "Access-Control-Allow-Origin": origin,
      // Every header supabase-js sends (its own `corsHeaders`, @supabase/supabase-js/cors):
      // functions.invoke() with trace propagation sends traceparent, tracestate and baggage,
      // and with a `region` x-region.
      "Access-Control-Allow-Headers": SUPABASE_HEADERS,
      "Access-Control-Allow-Methods": "GET, POST, PATCH, DELETE, OPTIONS",
      "Access-Control-Expose-Headers": `${MARKER_HEADER}, ${CONNECTION_HEADER}, ${REQUEST_ID_HEADER}`,
      "Access-Control-Max-Age": "600",
      "Vary": "Origin",
    };
  }
}
