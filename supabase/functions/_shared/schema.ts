// The schema check at start: names every missing table or column and the
// migrations that add them, instead of failing later with a raw SQL error.
import type { Db } from "./db.ts";
import { AppError } from "./errors.ts";

const FIRST = "supabase/migrations/20261122000000_oauth_connections.sql";
const CONNECT = "supabase/migrations/20261124090000_oauth_connect.sql";

/** The migration that adds a table or a column (`table` or `table.column`); FIRST when not listed. */
export const ADDED_BY: Record<string, string> = {
  "oauth_connections.account_id": CONNECT,
  "oauth_connections.account_email": CONNECT,
  "oauth_connections.account_name": CONNECT,
  oauth_connect_attempts: CONNECT,
};

export const EXPECTED: Record<string, string[]> = {
  oauth_connections: [
    "user_id",
    "provider",
    "access_token_sealed",
    "refresh_token_sealed",
    "expires_at",
    "refresh_token_expires_at",
    "scope",
    "status",
    "last_error_code",
    "last_error_message",
    "last_error_at",
    "failure_count",
    "cooldown_until",
    "token_refreshed_at",
    "version",
    "lease_owner",
    "lease_until",
    "updated_at",
    "account_id",
    "account_email",
    "account_name",
  ],
  oauth_refresh_events: [
    "user_id",
    "provider",
    "kind",
    "code",
    "message",
    "at",
    "duration_ms",
    "attempts",
    "rotated",
    "scopes_added",
    "scopes_removed",
    "instance",
  ],
  oauth_connect_attempts: [
    "state_hash",
    "user_id",
    "provider",
    "verifier_sealed",
    "redirect_uri",
    "return_to",
    "scopes",
    "created_at",
    "expires_at",
    "code_sealed",
    "ticket_hash",
    "claimed_at",
  ],
};

/** Lists what is missing, as `table` or `table.column`. */
export async function missingSchema(db: Db): Promise<string[]> {
  const rows = await db.query<{ table_name: string; column_name: string }>(
    `select table_name::text, column_name::text from information_schema.columns
      where table_schema = 'public' and table_name = any($1::text[])`,
    [Object.keys(EXPECTED)],
  );
  const have = new Set(rows.map((r) => `${r.table_name}.${r.column_name}`));
  const tables = new Set(rows.map((r) => r.table_name));
  const missing: string[] = [];
  for (const [table, columns] of Object.entries(EXPECTED)) {
    if (!tables.has(table)) {
      missing.push(table);
      continue;
    }
    for (const c of columns) if (!have.has(`${table}.${c}`)) missing.push(`${table}.${c}`);
  }
  return missing;
}

export async function checkSchema(db: Db): Promise<void> {
  const missing = await missingSchema(db);
  if (missing.length > 0) {
    throw new AppError(
      "SCHEMA_MISMATCH",
      `the database is missing ${missing.join(", ")}: apply ${
        [...new Set(missing.map((m) => ADDED_BY[m] ?? FIRST))].join(" and ")
      } (supabase db push)`,
    );
  }
}
