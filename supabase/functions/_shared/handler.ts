// The shape every function shares: CORS → method → body size → caller → runtime →
// the function's own work → JSON (or the text body it names). Errors become
// {error, code, requiresReauth, retryable, retryAfter?, requestId} with the status of the
// code's row in the table; every response carries X-Request-Id, and every
// response that used a token carries X-Token-Refreshed-At.
import { type Caller, verifyService } from "./auth.ts";
import { Cors, MARKER_HEADER, REQUEST_ID_HEADER } from "./cors.ts";
import { config } from "./env.ts";
import { allowOf, describe, markerOf, methodNotAllowed } from "./errors.ts";
import { hashUser, log } from "./log.ts";
import { type Runtime, runtime, verifiers } from "./runtime.ts";
import { refuseLargeBody } from "./validate.ts";
import { loadWasm } from "./wasm.ts";

export interface Ctx {
  req: Request;
  caller: Caller;
  rt: Runtime;
  /** The route's path parameters (routed functions), e.g. {provider}. */
  params: Record<string, string>;
}

export interface Reply {
  status?: number;
  /** The JSON body (unless `text` is given). */
  body?: unknown;
  /** A body that is not JSON, sent as it is with its content type (e.g. Prometheus' text format). */
  text?: { body: string; contentType: string };
  /** The token_refreshed_at marker (RFC 3339) of the token this request used. */
  marker?: string | null;
  headers?: Record<string, string>;
}

export type Work = (ctx: Ctx) => Promise<Reply>;

export type Handler = (req: Request) => Promise<Response>;

function json(status: number, body: unknown, headers: Record<string, string>): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

export interface FunctionOptions {
  /**
   * Service callers only (scheduled jobs, admin calls): a secret key
   * (`sb_secret_…`) in `apikey`, or the legacy service role key, instead of a
   * user JWT.
   */
  serviceRole?: boolean;
}

/** What a request resolves to before the caller is checked: the work, its options, its path parameters. */
export interface Resolved {
  work: Work;
  opts?: FunctionOptions;
  params?: Record<string, string>;
  /** The name logged (a routed function's route). */
  name?: string;
}

export function edgeFunction(
  name: string,
  methods: string[],
  work: Work,
  opts: FunctionOptions = {},
): Handler {
  return serve(name, (req) => {
    if (!methods.includes(req.method)) throw methodNotAllowed(req.method, methods);
    return { work, opts };
  });
}

/**
 * CORS → resolve (method, route) → body size → caller → runtime → work → JSON. Used by
 * edgeFunction and the routed functions (router.ts).
 */
export function serve(fnName: string, resolve: (req: Request) => Resolved): Handler {
  return async (req: Request): Promise<Response> => {
    const started = performance.now();
    const requestId = crypto.randomUUID();
    // Every answer is this caller's and may carry a token (RFC 6749 §5.1:
    // no-store), and depends on Origin even when the request had none (the
    // Fetch standard's "CORS protocol and HTTP caches").
    let cors: Record<string, string> = {
      [REQUEST_ID_HEADER]: requestId,
      "cache-control": "no-store",
      "Vary": "Origin",
    };
    let user: string | undefined;
    let service: string | undefined;
    let name = fnName;
    try {
      cors = { ...cors, ...new Cors(config().allowedOrigins).headers(req) };
      if (req.method === "OPTIONS") return new Response(null, { status: 204, headers: cors });
      // HEAD is GET without the body (RFC 9110 §9.3.2), wherever GET is allowed.
      const head = req.method === "HEAD";
      // (Its headers and signal; never a body, which a GET cannot carry.)
      if (head) req = new Request(req.url, { method: "GET", headers: req.headers, signal: req.signal });
      const { work, opts = {}, params = {}, name: routeName } = resolve(req);
      name = routeName ?? fnName;
      refuseLargeBody(req);
      // The caller first: a request without valid credentials is refused
      // before the database is touched (no connection attempt, no word on
      // the service's state for anonymous callers).
      const { jwt, secretKeys } = verifiers();
      let caller: Caller;
      if (opts.serviceRole) {
        service = await verifyService(req, secretKeys, jwt);
        caller = { userId: "service_role", email: null };
      } else {
        caller = await jwt.verify(req);
        user = await hashUser(caller.userId);
      }
      const rt = await runtime();
      const reply = await work({ req, caller, rt, params });
      const headers = {
        ...cors,
        ...reply.headers,
        ...(reply.marker ? { [MARKER_HEADER]: reply.marker } : {}),
      };
      log("info", "request", {
        fn: name,
        requestId,
        user,
        service,
        status: reply.status ?? 200,
        ms: Math.round(performance.now() - started),
      });
      const res = reply.text
        ? new Response(reply.text.body, {
          status: reply.status ?? 200,
          headers: { "content-type": reply.text.contentType, ...headers },
        })
        : json(reply.status ?? 200, reply.body, headers);
      return head ? new Response(null, { status: res.status, headers: res.headers }) : res;
    } catch (e) {
      // The code table lives in the wasm: an error thrown before the runtime
      // was built (CORS, method, configuration) still needs it.
      await loadWasm().catch(() => {});
      const { status, body, detail, unknownCode } = describe(e, requestId);
      log(status >= 500 ? "error" : "warn", "request failed", {
        fn: name,
        requestId,
        user,
        status,
        code: String(body.code),
        ms: Math.round(performance.now() - started),
      });
      if (detail !== undefined) {
        // The body carries a plain sentence; the details (never a secret) are logged.
        log("error", "error detail", { fn: name, requestId, code: String(body.code), detail });
      } else if (status === 500 && body.code === "INTERNAL") {
        // The message of an unexpected error may hold anything; log only its kind.
        log("error", "unexpected error", {
          fn: name,
          requestId,
          kind: e instanceof Error ? e.name : typeof e,
        });
      }
      if (unknownCode) {
        log("error", "code missing from the code table", { fn: name, requestId, code: String(body.code) });
      }
      const headers: Record<string, string> = { ...cors };
      if (typeof body.retryAfter === "number") headers["Retry-After"] = String(body.retryAfter);
      const allow = allowOf(e);
      if (allow) headers["Allow"] = allow;
      const marker = markerOf(e);
      if (marker) headers[MARKER_HEADER] = marker;
      return json(status, body, headers);
    }
  };
}
