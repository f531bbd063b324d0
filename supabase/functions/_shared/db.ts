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

/** A driver error as STORAGE, with the driver's words and SQLSTATE kept for the log. */
export function asStorageError(e: unknown): AppError {
  if (e instanceof AppError) return e;
  const err = e as { message?: unknown; code?: unknown };
  const message = typeof err?.message === "string" ? err.message : String(e);
  const code = typeof err?.code === "string" ? ` [${err.code}]` : "";
  return storageError(`the database failed: ${message.slice(0, 300)}${code}`);
}

export function connectPostgres(url: string, max = 4): Db {
  const sql = postgres(url, {
    max,
    // Supabase's pooler (transaction mode) does not support prepared statements.
    prepare: false,
    onnotice: () => {},
    connect_timeout: 10,
  });
  return {
    async query<T>(text: string, params: unknown[] = []) {
      try {
        const rows = await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[]);
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
