// The shape every function shares: CORS → method → caller JWT → runtime →
// the function's own work → JSON. Errors become {error, code,
// requiresReauth, retryAfter?} with the right status; every response that
// used a token carries X-Token-Refreshed-At.
import type { Caller } from "./auth.ts";
import { Cors, MARKER_HEADER } from "./cors.ts";
import { config } from "./env.ts";
import { describe, methodNotAllowed } from "./errors.ts";
import { hashUser, log } from "./log.ts";
import { type Runtime, runtime } from "./runtime.ts";

export interface Ctx {
  req: Request;
  caller: Caller;
  rt: Runtime;
}

export interface Reply {
  status?: number;
  body: unknown;
  /** The token_refreshed_at marker (RFC 3339) of the token this request used. */
  marker?: string | null;
}

export type Handler = (req: Request) => Promise<Response>;

function json(status: number, body: unknown, headers: Record<string, string>): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

export interface FunctionOptions {
  /** Callers must present the service role key instead of a user JWT (scheduled jobs). */
  serviceRole?: boolean;
}

export function edgeFunction(
  name: string,
  methods: string[],
  work: (ctx: Ctx) => Promise<Reply>,
  opts: FunctionOptions = {},
): Handler {
  return async (req: Request): Promise<Response> => {
    const started = performance.now();
    let cors: Record<string, string> = {};
    let user: string | undefined;
    try {
      cors = new Cors(config().allowedOrigins).headers(req);
      if (req.method === "OPTIONS") return new Response(null, { status: 204, headers: cors });
      if (!methods.includes(req.method)) throw methodNotAllowed(req.method, methods);
      const rt = await runtime();
      let caller: Caller;
      if (opts.serviceRole) {
        await rt.jwt.verifyServiceRole(req);
        caller = { userId: "service_role", email: null };
      } else {
        caller = await rt.jwt.verify(req);
        user = await hashUser(caller.userId);
      }
      const reply = await work({ req, caller, rt });
      const headers = { ...cors, ...(reply.marker ? { [MARKER_HEADER]: reply.marker } : {}) };
      log("info", "request", {
        fn: name,
        user,
        status: reply.status ?? 200,
        ms: Math.round(performance.now() - started),
      });
      return json(reply.status ?? 200, reply.body, headers);
    } catch (e) {
      const { status, body } = describe(e);
      log(status >= 500 ? "error" : "warn", "request failed", {
        fn: name,
        user,
        status,
        code: String(body.code),
        ms: Math.round(performance.now() - started),
      });
      if (status === 500 && body.code === "INTERNAL") {
        // The message may hold anything; log only its kind.
        log("error", "unexpected error", { fn: name, kind: e instanceof Error ? e.name : typeof e });
      }
      const headers: Record<string, string> = { ...cors };
      if (typeof body.retryAfter === "number") headers["Retry-After"] = String(body.retryAfter);
      return json(status, body, headers);
    }
  };
}
