// The schema check at start: names every missing table or column and the
// migrations that add them, instead of failing later with a raw SQL error.
// The list of what the store needs is the package's (pkg/stores/schema.js).
import type { Db } from "./db.ts";
import { AppError } from "./errors.ts";
// @ts-types="./pkg/stores/postgres.d.ts"
import { migrationFor, missingSchema } from "./pkg/stores/postgres.js";

export async function checkSchema(db: Db): Promise<void> {
  const missing: string[] = await missingSchema({
    query: async (text, params) => ({ rows: await db.query(text, params) }),
  });
  if (missing.length > 0) {
    throw new AppError(
      "SCHEMA_MISMATCH",
      `the database is missing ${missing.join(", ")}: apply ${
        [...new Set(missing.map((m) => `supabase/migrations/${migrationFor(m)}`))].join(" and ")
      } (supabase db push)`,
    );
  }
}
