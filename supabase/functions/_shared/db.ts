// The database behind the store: a tiny query interface with two adapters,
// postgres.js (Supabase's SUPABASE_DB_URL, or any DATABASE_URL) and PGlite
// (embedded, for `make dev`).
import postgres from "npm:postgres@3.4.9";

export interface Db {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
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
      const rows = await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[]);
      return rows as unknown as T[];
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
      const run = chain.then(() => pg.query<T>(text, params)).then((r) => r.rows);
      chain = run.catch(() => {});
      return run;
    },
    close: () => pg.close(),
  };
}
