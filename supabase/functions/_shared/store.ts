// The Postgres store: the package's (pkg/stores/postgres.js — the TokenStore
// contract in SQL, one statement per method, lease times on the database
// clock), over this module's Db: postgres.js in a deployment, PGlite in
// `make dev`. One copy of the SQL for the functions and for servers.
import type { Db } from "./db.ts";
// @ts-types="./pkg/stores/postgres.d.ts"
import { PostgresStore as PackageStore } from "./pkg/stores/postgres.js";

export class PostgresStore extends PackageStore {
  constructor(db: Db) {
    super({ query: async (text: string, params: unknown[]) => ({ rows: await db.query(text, params) }) });
  }
}
