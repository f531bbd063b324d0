// What the Postgres store needs from the database, and which migration adds
// it: the schema check the edge functions run at start
// (supabase/functions/_shared/schema.ts), for any server and for CI.

const FIRST = "20261122000000_oauth_connections.sql";
const CONNECT = "20261124090000_oauth_connect.sql";
const OPERATIONS = "20261125090000_oauth_operations.sql";
const ENDPOINTS_DISABLED = "20261127090000_oauth_webhook_endpoints_disabled.sql";
const SIGNIN_DIGEST = "20261129090000_oauth_signin_digest.sql";

/**
 * Connects in progress kept per user: a user (or a script with their
 * session) starting connects without end cannot grow the table without end.
 * Starting one more forgets the oldest, whose return is then refused as unknown.
 */
export const MAX_CONNECTS_PER_USER = 20;

/** The migration that adds a table or a column (`table` or `table.column`); the first when not listed. */
export const ADDED_BY = {
  "oauth_connections.account_id": CONNECT,
  "oauth_connections.account_email": CONNECT,
  "oauth_connections.account_name": CONNECT,
  oauth_connect_attempts: CONNECT,
  "oauth_connections.sweep_until": OPERATIONS,
  "oauth_connections.refresh_expiry_warned_for": OPERATIONS,
  oauth_refresher_runs: OPERATIONS,
  oauth_provider_breakers: OPERATIONS,
  oauth_webhook_outbox: OPERATIONS,
  oauth_metrics_rollup: OPERATIONS,
  oauth_metrics_state: OPERATIONS,
  oauth_webhook_endpoints_disabled: ENDPOINTS_DISABLED,
  "oauth_connections.signin_digest": SIGNIN_DIGEST,
};

/** @type {Record<string, string[]>} */
export const EXPECTED = {
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
    "sweep_until",
    "refresh_expiry_warned_for",
    "signin_digest",
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
  // The background refresher, webhooks and metrics (supabase/functions/_shared/ops/).
  oauth_refresher_runs: [
    "instance",
    "started_at",
    "finished_at",
    "stopped",
    "checked",
    "refreshed",
    "failed",
  ],
  oauth_provider_breakers: ["provider", "open_until", "reason", "opened_at"],
  oauth_webhook_outbox: ["id", "type", "body", "attempts", "next_attempt_at", "delivered_to", "delivered_at"],
  oauth_metrics_rollup: ["provider", "kind", "code", "bucket", "count", "duration_ms_sum"],
  oauth_metrics_state: ["rolled_until"],
  oauth_webhook_endpoints_disabled: ["endpoint_id", "disabled_at", "reason"],
};

/**
 * The columns of the named tables in `public` that the current role can see:
 * what `information_schema.columns` answers (the same kinds of relation, the
 * same privilege test), read from `pg_catalog` directly. The view costs a new
 * backend 11-14 ms against 4-6 ms for this, and it is a cold isolate's first
 * statement.
 */
export const COLUMNS_SQL = `
  select c.relname::text as table_name, a.attname::text as column_name
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    join pg_catalog.pg_attribute a on a.attrelid = c.oid
   where n.nspname = 'public' and c.relname = any($1::text[]) and c.relkind in ('r', 'v', 'f', 'p')
     and a.attnum > 0 and not a.attisdropped
     and (pg_catalog.pg_has_role(c.relowner, 'USAGE')
          or pg_catalog.has_column_privilege(c.oid, a.attnum, 'SELECT, INSERT, UPDATE, REFERENCES'))`;

/**
 * Lists what is missing from the `public` schema, as `table` or `table.column`.
 * @param {(text: string, params: unknown[]) => Promise<Record<string, unknown>[]>} query
 * @returns {Promise<string[]>}
 */
export async function missingSchema(query) {
  const rows = await query(COLUMNS_SQL, [Object.keys(EXPECTED)]);
  const have = new Set(rows.map((r) => `${r.table_name}.${r.column_name}`));
  const tables = new Set(rows.map((r) => r.table_name));
  /** @type {string[]} */
  const missing = [];
  for (const [table, columns] of Object.entries(EXPECTED)) {
    if (!tables.has(table)) {
      missing.push(table);
      continue;
    }
    for (const c of columns) if (!have.has(`${table}.${c}`)) missing.push(`${table}.${c}`);
  }
  return missing;
}

/**
 * The migration file that adds a missing `table` or `table.column`.
 * @param {string} item
 * @returns {string}
 */
export function migrationFor(item) {
  return /** @type {Record<string, string>} */ (ADDED_BY)[item] ?? FIRST;
}
