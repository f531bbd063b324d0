// A routed function: one function (one cold start, one wasm instantiate)
// serving several paths under its name, `/functions/v1/<name>/<path>` (or
// `/<name>/<path>` as Supabase's runtime passes it). Routes are
// `"<METHOD> /segment/:param"`; API routes run through serve() (CORS, caller
// JWT, JSON errors); page routes are browser navigations that answer for
// themselves (no CORS, no JWT). An unknown path is 404 NOT_FOUND, a known
// path with another method 405 METHOD_NOT_ALLOWED.
import { methodNotAllowed, notFound } from "./errors.ts";
import { type FunctionOptions, type Handler, serve, type Work } from "./handler.ts";

export interface Route {
  /** e.g. "POST /:provider/connect" or "GET /". */
  route: string;
  /** An API route: JSON, CORS, the caller's JWT. */
  work?: Work;
  opts?: FunctionOptions;
  /** A page route: a browser navigation that builds its own response. */
  page?: Handler;
}

interface Compiled extends Route {
  methods: string[];
  segments: string[];
}

/** The path's segments after the function's name, decoded; null when undecodable. */
function segmentsAfter(name: string, pathname: string): string[] | null {
  const all = pathname.split("/").filter(Boolean);
  const at = all.indexOf(name);
  try {
    return (at >= 0 ? all.slice(at + 1) : all).map(decodeURIComponent);
  } catch {
    return null;
  }
}

function match(pattern: string[], path: string[]): Record<string, string> | null {
  if (pattern.length !== path.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i].startsWith(":")) params[pattern[i].slice(1)] = path[i];
    else if (pattern[i] !== path[i]) return null;
  }
  return params;
}

export function routedFunction(name: string, routes: Route[]): Handler {
  const table: Compiled[] = routes.map((r) => {
    const [methods, path] = r.route.split(" ");
    return { ...r, methods: methods.split(","), segments: path.split("/").filter(Boolean) };
  });
  /** The route for a request: its page, or its API work; throws NOT_FOUND or METHOD_NOT_ALLOWED. */
  const find = (req: Request) => {
    const path = segmentsAfter(name, new URL(req.url).pathname);
    const hits = path === null ? [] : table.flatMap((r) => {
      const params = match(r.segments, path);
      return params ? [{ r, params }] : [];
    });
    if (hits.length === 0) {
      throw notFound(`no such route: ${req.method} /${name}/${(path ?? []).join("/").slice(0, 200)}`);
    }
    const hit = hits.find(({ r }) => r.methods.includes(req.method));
    if (!hit) {
      const methods = [...new Set(hits.flatMap(({ r }) => r.methods))];
      throw methodNotAllowed(req.method, methods, hits.some(({ r }) => r.work && r.methods.includes("GET")));
    }
    return hit;
  };
  const api = serve(name, (req) => {
    const { r, params } = find(req);
    // A page reaches here only as a HEAD (serve() asks as GET): a page acts
    // on its GET (a provider's callback takes its code), so it answers no HEAD.
    if (!r.work) throw methodNotAllowed("HEAD", r.methods, false);
    return { work: r.work, opts: r.opts, params, name: `${name} ${r.route}` };
  });
  return (req) => {
    try {
      const { r } = find(req);
      if (r.page) return r.page(req);
    } catch { /* serve() answers it, with CORS and the JSON error */ }
    return api(req);
  };
}
