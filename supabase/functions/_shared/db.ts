// The database behind the store: a tiny query interface with two adapters,
// postgres.js (Supabase's SUPABASE_DB_URL, or any DATABASE_URL) and PGlite
// (embedded, for `make dev`).
// Every failure of the database (refused connection, timeout, SQL error) is
// a STORAGE error: retryable, answered 503, its driver text logged only.
import postgres from "npm:postgres@3.4.9";
import { AppError, storageError } from "./errors.ts";

export interface Db {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

/**
 * A driver error as STORAGE, with the driver's words and SQLSTATE kept for
 * the log, and the SQLSTATE as `sqlstate` for the store to read (a missing
 * table or column is SCHEMA_MISMATCH, not a retry).
 */
export function asStorageError(e: unknown): AppError {
  if (e instanceof AppError) return e;
  const err = e as { message?: unknown; code?: unknown };
  const message = typeof err?.message === "string" ? err.message : String(e);
  const code = typeof err?.code === "string" ? ` [${err.code}]` : "";
  const out = storageError(`the database failed: ${message.slice(0, 300)}${code}`);
  return typeof err?.code === "string" ? Object.assign(out, { sqlstate: err.code }) : out;
}

/**
 * Whether statements are prepared on `url`'s connections. A prepared
 * statement is parsed and planned once per connection and then runs in one
 * round trip; an unnamed one takes two, because postgres.js asks the server
 * to describe its parameters before it binds them (half of each statement's
 * time on loopback: `make bench`, the lone refresh).
 *
 * A transaction pooler hands each transaction another server connection,
 * where a statement prepared on the last one does not exist ("prepared
 * statement does not exist"): Supabase's transaction pooler (port 6543), and
 * any URL marked `pgbouncer=true`, run unprepared. SUPABASE_DB_URL, the
 * connection Supabase hands every function, is a direct one.
 * DATABASE_PREPARE=true or false decides instead.
 */
export function preparesStatements(url: string, setting: boolean | null = null): boolean {
  if (setting !== null) return setting;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  return u.port !== "6543" && u.searchParams.get("pgbouncer") !== "true";
}

/**
 * A Postgres array literal of `xs` (one dimension: strings, numbers, null),
 * for a `text[]`, `uuid[]` or `float8[]` parameter. Every element is quoted,
 * with `\` and `"` escaped, so commas, braces, spaces and the word NULL stay
 * data.
 */
export function arrayLiteral(xs: unknown): string {
  if (!Array.isArray(xs)) return String(xs);
  return `{${
    xs.map((x) => (x === null || x === undefined ? "NULL" : `"${
      String(x).replace(/[\\"]/g, (c) => `\\${c}`)
    }"`))
      .join(",")
  }}`;
}

/**
 * A one-dimensional array as Postgres writes it (`{a,"b c",NULL}`), each
 * element read by `element`. Anything else (several dimensions, bounds) is
 * returned as the text it was.
 */
export function parseArray(text: string, element: (s: string) => unknown = (s) => s): unknown {
  if (text[0] !== "{" || text[1] === "{" || text[1] === undefined) return text;
  const out: unknown[] = [];
  let i = 1;
  if (text[i] === "}") return out;
  while (i < text.length) {
    let value: string | null;
    if (text[i] === '"') {
      let s = "";
      for (i++; i < text.length && text[i] !== '"'; i++) {
        if (text[i] === "\\") i++;
        s += text[i];
      }
      i++; // the closing quote
      value = s;
    } else {
      let j = i;
      while (j < text.length && text[j] !== "," && text[j] !== "}") j++;
      value = text.slice(i, j) === "NULL" ? null : text.slice(i, j);
      i = j;
    }
    out.push(value === null ? null : element(value));
    if (text[i] === "}" && i === text.length - 1) return out;
    if (text[i] !== ",") return text;
    i++;
  }
  return text;
}

// The array types the statements use, text[], uuid[] and float8[], known
// here: postgres.js would otherwise learn them from the catalog with a query
// of its own on every new connection (its fetch_types: about 6 ms of a cold
// isolate's first request).
const ARRAY_TYPES = {
  strings: { to: 1009, from: [1009, 2951], serialize: arrayLiteral, parse: (x: string) => parseArray(x) },
  numbers: { to: 1022, from: [1022], serialize: arrayLiteral, parse: (x: string) => parseArray(x, Number) },
};

/**
 * `url` without the `pgbouncer` marker: postgres.js sends every query
 * parameter it does not know to the server as a setting, which Postgres
 * refuses ("unrecognized configuration parameter") and so does PgBouncer.
 */
export function withoutMarkers(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url;
  }
  if (!u.searchParams.has("pgbouncer")) return url;
  u.searchParams.delete("pgbouncer");
  return u.toString();
}

/** `prepare`: DATABASE_PREPARE's setting; null decides by the URL (preparesStatements). */
export function connectPostgres(url: string, max = 4, setting: boolean | null = null): Db {
  const prepare = preparesStatements(url, setting);
  const sql = postgres(withoutMarkers(url), {
    max,
    prepare,
    fetch_types: false,
    types: ARRAY_TYPES,
    onnotice: () => {},
    connect_timeout: 10,
    // An isolate left idle gives its connections back (many isolates of ten
    // functions share the project's connection slots).
    idle_timeout: 60,
  });
  // `unsafe` (our statements are fixed text with parameters) prepares only when asked.
  const options = { prepare };
  return {
    async query<T>(text: string, params: unknown[] = []) {
      try {
        const rows = await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[], options);
        return rows as unknown as T[];
      } catch (e) {
        throw asStorageError(e);
      }
    },
    close: () => sql.end({ timeout: 2 }),
  };
}

/** Adapts anything with PGlite's `query(text, params) → {rows}`. */
export function fromPglite(
  pg: { query<T>(text: string, params?: unknown[]): Promise<{ rows: T[] }>; close(): Promise<void> },
): Db {
  // PGlite is one connection: serialise statements so a lease statement never
  // interleaves with another caller's.
  let chain: Promise<unknown> = Promise.resolve();
  return {
    query<T>(text: string, params: unknown[] = []) {
      const run = chain.then(() => pg.query<T>(text, params)).then((r) => r.rows, (e) => {
        throw asStorageError(e);
      });
      chain = run.catch(() => {});
      return run;
    },
    close: () => pg.close(),
  };
}
