// make import-legacy: the operator's import of legacy `iv:authTag:ciphertext`
// tokens (AES-256-GCM from Node's crypto, no associated data). The read path
// refuses them (CRYPTO_UNBOUND), since nothing binds them to their row; this
// command opens each with the old system's key and writes it sealed and bound
// to its row (user, provider, column) with the current TOKEN_ENCRYPTION_KEYS.
//
// Sources: legacy values already in public.oauth_connections (the default), an
// old system's table (--from-table), or a JSON-lines file (--from-jsonl). One
// transaction per row; a column that already holds a bound (v1) value is never
// overwritten. No token, key or user id is ever printed: rows that fail are
// named by a hash of the user id (as the functions' logs do) and the provider.
import { parseArgs } from "node:util";
import postgres from "npm:postgres@3.4.9";
import init, { KeyRotation, LegacyImporter } from "../pkg/legacy/oauth_token_manager_legacy.js";
import { withoutMarkers } from "../supabase/functions/_shared/db.ts";
import { hashUser } from "../supabase/functions/_shared/log.ts";
import { failedCount, formatReport, type OpenFailure, type Report } from "./import_legacy/report.ts";
import { type Field, type LegacyRow, rowsOf, type Source } from "./import_legacy/sources.ts";
import { checkCurrentKey, type Rekeyer } from "./key_check.ts";

export type { Field, LegacyRow, Source, SourceColumn } from "./import_legacy/sources.ts";
export type { Failure, OpenFailure, Report } from "./import_legacy/report.ts";
export { failedCount, formatReport } from "./import_legacy/report.ts";

const USAGE = `Usage: make import-legacy ARGS="[options]"
       deno run -A scripts/import-legacy.ts [options]

Environment:
  LEGACY_ENCRYPTION_KEY   the old system's key: 32 bytes as 64 hex digits or base64, or a 32-character string
  TOKEN_ENCRYPTION_KEYS   the current keyring (id:key,...), as the edge functions use it; the first key seals
  DATABASE_URL or SUPABASE_DB_URL   the database (or --database-url), DATABASE_URL first as in the functions

Source (default: legacy values in public.oauth_connections, i.e. token columns not starting with "v1."):
  --from-table SCHEMA.TABLE   an old system's table (or a view over it), e.g. public.user_oauth_tokens or
                              public.platform_connections; columns are found by name, or given with:
    --user-column NAME        default user_id (must hold the Supabase user's UUID)
    --provider-column NAME    default: provider, service or platform
    --access-column NAME      default: access_token_sealed, access_token, encrypted_access_token
    --refresh-column NAME     default: refresh_token_sealed, refresh_token, encrypted_refresh_token
    --expires-column NAME     default: expires_at, token_expires_at, token_expiry ("none" to ignore)
    --scope-column NAME       default: scope, scopes ("none" to ignore)
  --from-jsonl FILE           one JSON object a line: {"userId", "provider", "accessToken", "refreshToken",
                              "expiresAt"?, "scope"?} (snake_case names are accepted too)
  --provider ID               the connection id for every row (instead of the provider column)
  --provider-map OLD=NEW,...  rename the old system's provider names (e.g. GMAIL=gmail,calendar=google-calendar)

Options:
  --database-url URL   the database to write (and to read, for the table sources)
  --dry-run            open and count everything, write nothing
  --unverified-key     write even when nothing the functions sealed with the current key can show it is
                       theirs (by default refused: a key typed wrong would seal every imported token, in
                       place of its legacy value, with material no function has)
  --limit N            read at most N rows
  --progress-every N   a progress line every N rows (default 1000; also every 10 s)
  --json               print the report as JSON
  --help

Exit status: 0 when every row was imported, already bound, or skipped for a reason the report counts (a
disconnected connection; a newer legacy value in place, which the default source imports; a row changed while
importing: run again), 1 when a row could not be opened or written, 2 when the command could not run
(configuration, the key check, database unreachable).`;

const FIELDS: Field[] = ["access_token", "refresh_token"];
const COLUMN: Record<Field, "access_token_sealed" | "refresh_token_sealed"> = {
  access_token: "access_token_sealed",
  refresh_token: "refresh_token_sealed",
};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const bound = (v: string) => v.startsWith("v1.");

/** What opens and reseals: the legacy build's `LegacyImporter`. */
export interface Resealer {
  reseal(value: string, userId: string, provider: string, field: Field): string;
}

export interface ImportOptions {
  databaseUrl: string;
  source: Source;
  resealer: Resealer;
  /**
   * Checks the current key against what the functions sealed with it before
   * anything is written (the command always gives it; see checkCurrentKey).
   */
  keyCheck?: Rekeyer;
  /** Write even when nothing sealed with the current key can confirm it. */
  unverifiedKey?: boolean;
  dryRun?: boolean;
  limit?: number | null;
  provider?: string | null;
  providerMap?: Record<string, string>;
  progressEvery?: number;
  progress?: (line: string) => void;
}

/** A row-level problem: the row is counted and reported, the import goes on. */
class RowError extends Error {
  constructor(readonly kind: "open" | "write", readonly reason: string, readonly field: Field | null = null) {
    super(reason);
  }
}

function classifyOpen(e: unknown): OpenFailure {
  const err = e as { code?: unknown; message?: unknown };
  if (err?.code === "CRYPTO_INTEGRITY") return "wrong key";
  if (err?.code === "CRYPTO_MALFORMED" && /utf-?8/i.test(String(err.message))) return "not utf8";
  if (err?.code === "CRYPTO_MALFORMED") return "malformed";
  throw e; // CONFIG or a bug: not a property of this row
}

/** A database failure that belongs to one row (bad data), as opposed to the database being gone. */
function rowWriteError(e: unknown): RowError | null {
  const code = (e as { code?: unknown })?.code;
  if (typeof code !== "string" || !/^(22|23|P0)/.test(code)) return null; // data errors, trigger exceptions
  if (code === "23503") return new RowError("write", "user not in auth.users");
  if (code === "22P02") return new RowError("write", "user id is not a UUID");
  return new RowError("write", `database error ${code}`);
}

// ---------------------------------------------------------------- writing

interface Target {
  access_token_sealed: string | null;
  refresh_token_sealed: string | null;
  last_error_code: string | null;
  status: string;
}

/**
 * Writes one row's resealed values in one transaction. A column is written
 * only while it holds no bound value (and, for values read from
 * oauth_connections itself, only while it still holds the value read).
 * Returns "imported", or "already bound" when every column to write already
 * holds a bound value, or a skip reason.
 */
async function writeRow(
  sql: postgres.Sql,
  inPlace: boolean,
  row: LegacyRow,
  sealed: Partial<Record<Field, string>>,
  dryRun: boolean,
): Promise<"imported" | "already bound" | { skipped: string }> {
  const fields = FIELDS.filter((f) => sealed[f] !== undefined);
  const run = async (tx: postgres.TransactionSql | postgres.Sql) => {
    const lock = dryRun ? "" : "for update";
    const select = () =>
      tx.unsafe<Target[]>(
        `select access_token_sealed, refresh_token_sealed, last_error_code, status from public.oauth_connections
          where user_id = $1::uuid and provider = $2 ${lock}`,
        [row.userId, row.provider],
      );
    let [target] = await select();
    if (!target) {
      if (inPlace) return { skipped: "row deleted while importing" };
      if (dryRun) {
        // What the insert's foreign key would say (it exists where auth.users does).
        const [fk] = await tx.unsafe(
          `select 1 from pg_constraint where conname = 'oauth_connections_user_fk'`,
        );
        if (fk) {
          const [user] = await tx.unsafe(`select 1 from auth.users where id = $1::uuid`, [row.userId]);
          if (!user) throw new RowError("write", "user not in auth.users");
        }
        return "imported" as const;
      }
      const inserted = await tx.unsafe(
        `insert into public.oauth_connections (user_id, provider, access_token_sealed, refresh_token_sealed,
                expires_at, scope, status, token_refreshed_at, version)
         values ($1::uuid, $2, $3, $4, to_timestamp($5::float8 / 1000.0), $6, 'connected', now(), 1)
         on conflict (user_id, provider) do nothing
         returning 1`,
        [
          row.userId,
          row.provider,
          sealed.access_token ?? null,
          sealed.refresh_token ?? null,
          row.expiresAt?.getTime() ?? null,
          row.scope,
        ],
      );
      if (inserted.length === 1) return "imported" as const;
      [target] = await select(); // inserted meanwhile by a sign-in: treat as existing
    }
    // From another source: a connection its user disconnected (or whose grant died) since the
    // old system stored these tokens does not get them back.
    if (!inPlace && (target.status === "disconnected" || target.status === "needs_reauth")) {
      return { skipped: `the connection is ${target.status}` };
    }
    const writable = fields.filter((f) => {
      const current = target[COLUMN[f]];
      if (current !== null && bound(current)) return false; // never overwrite a bound value
      // An empty column takes the source's value; a legacy one only that same value (in place:
      // what was read). Another legacy value may be newer (the old system kept writing).
      return current === null ? !inPlace : current === row.tokens[f];
    });
    if (writable.length === 0) {
      if (fields.every((f) => bound(target[COLUMN[f]] ?? ""))) return "already bound" as const;
      return { skipped: inPlace ? "changed while importing" : "another legacy value is stored" };
    }
    if (dryRun) return "imported" as const;
    const sets: string[] = [];
    const params: unknown[] = [row.userId, row.provider];
    for (const f of writable) {
      params.push(sealed[f]);
      sets.push(`${COLUMN[f]} = $${params.length}`);
    }
    if (!inPlace && writable.includes("access_token")) {
      if (row.expiresAt) {
        params.push(row.expiresAt.getTime());
        sets.push(`expires_at = to_timestamp($${params.length}::float8 / 1000.0)`);
      }
      if (row.scope) {
        params.push(row.scope);
        sets.push(`scope = $${params.length}`);
      }
    }
    // The read path recorded CRYPTO_UNBOUND for this row; with no legacy value left, clear it.
    const legacyLeft = FIELDS.some((f) => {
      const v = writable.includes(f) ? null : target[COLUMN[f]];
      return v !== null && !bound(v);
    });
    if (target.last_error_code === "CRYPTO_UNBOUND" && !legacyLeft) {
      sets.push(
        `status = 'connected', last_error_code = null, last_error_message = null, last_error_at = null,
                 failure_count = 0, cooldown_until = null`,
      );
    }
    await tx.unsafe(
      `update public.oauth_connections set ${sets.join(", ")}, updated_at = now()
        where user_id = $1::uuid and provider = $2`,
      params as postgres.ParameterOrJSON<never>[],
    );
    return "imported" as const;
  };
  return dryRun ? await run(sql) : await sql.begin(run);
}

// ---------------------------------------------------------------- the import

export async function importLegacy(o: ImportOptions): Promise<Report> {
  const dryRun = o.dryRun ?? false;
  const inPlace = o.source.kind === "connections";
  if (inPlace && (o.provider || Object.keys(o.providerMap ?? {}).length > 0)) {
    // A value read from oauth_connections is bound to the provider of the row it is in.
    throw new Error("--provider and --provider-map apply to --from-table and --from-jsonl only");
  }
  const report: Report = {
    dryRun,
    source: o.source.kind === "connections"
      ? "public.oauth_connections (legacy values in place)"
      : o.source.kind === "table"
      ? o.source.table
      : o.source.path,
    read: 0,
    imported: 0,
    alreadyBound: 0,
    couldNotOpen: { "wrong key": 0, malformed: 0, "not utf8": 0 },
    couldNotWrite: {},
    skipped: {},
    failures: [],
  };
  const every = o.progressEvery ?? 1000;
  const progress = o.progress ?? (() => {});
  const started = Date.now();
  let lastProgress = started;
  const tick = () => {
    const now = Date.now();
    if (report.read % every !== 0 && now - lastProgress < 10_000) return;
    lastProgress = now;
    const rate = Math.round(report.read / Math.max(0.001, (now - started) / 1000));
    progress(
      `${report.read} read, ${report.imported} ${dryRun ? "would import" : "imported"}, ` +
        `${report.alreadyBound} already bound, ${failedCount(report)} failed (${rate} rows/s)`,
    );
  };
  const bump = (m: Record<string, number>, k: string) => (m[k] = (m[k] ?? 0) + 1);
  const fail = async (row: LegacyRow | null, ref: string | null, e: RowError) => {
    if (e.kind === "open") report.couldNotOpen[e.reason as OpenFailure]++;
    else bump(report.couldNotWrite, e.reason);
    report.failures.push({
      user: row?.userId ? await hashUser(row.userId) : "-",
      provider: row?.provider || "-",
      ref,
      field: e.field,
      reason: e.reason,
    });
  };

  // DATABASE_URL may be the transaction pooler's, marked pgbouncer=true.
  const sql = postgres(withoutMarkers(o.databaseUrl), {
    max: 3,
    prepare: false, // Supabase's pooler in transaction mode has no prepared statements
    onnotice: () => {},
    connect_timeout: 10,
    connection: { application_name: "otm-import-legacy" },
  });
  try {
    if (!dryRun && o.keyCheck) await checkCurrentKey(sql, o.keyCheck, o.unverifiedKey ?? false);
    const limit = o.limit ?? null;
    const needProvider = !o.provider;
    for await (const { row, ref } of rowsOf(sql, o.source, needProvider, limit)) {
      if (limit !== null && report.read >= limit) break;
      report.read++;
      try {
        if (!row) throw new RowError("open", "malformed"); // a line that is not a JSON object
        const given = o.provider ?? row.provider;
        row.provider = o.providerMap?.[given] ?? given;
        if (!UUID.test(row.userId)) throw new RowError("write", "user id is not a UUID");
        // Bound to the user id as the read path names it: Postgres's (and Supabase's) lower case.
        row.userId = row.userId.toLowerCase();
        if (!row.provider) throw new RowError("write", "no provider");
        const present = FIELDS.filter((f) => row.tokens[f] !== null);
        if (present.length === 0) {
          bump(report.skipped, "no token value");
          continue;
        }
        const sealed: Partial<Record<Field, string>> = {};
        for (const f of present) {
          const value = row.tokens[f]!;
          if (bound(value)) continue; // already bound where it was read
          try {
            sealed[f] = o.resealer.reseal(value, row.userId, row.provider, f);
          } catch (e) {
            throw new RowError("open", classifyOpen(e), f);
          }
        }
        if (Object.keys(sealed).length === 0) {
          report.alreadyBound++;
          continue;
        }
        let outcome;
        try {
          outcome = await writeRow(sql, inPlace, row, sealed, dryRun);
        } catch (e) {
          throw rowWriteError(e) ?? e;
        }
        if (outcome === "imported") report.imported++;
        else if (outcome === "already bound") report.alreadyBound++;
        else bump(report.skipped, outcome.skipped);
      } catch (e) {
        if (!(e instanceof RowError)) throw e;
        await fail(row, ref, e);
      } finally {
        tick();
      }
    }
  } finally {
    await sql.end({ timeout: 2 });
  }
  return report;
}

// ---------------------------------------------------------------- the command

export function parseKeyring(raw: string | undefined): { id: string; key: string }[] {
  if (!raw?.trim()) throw new Error("TOKEN_ENCRYPTION_KEYS is not set (id:key,id:key; the first key seals)");
  return raw.split(",").map((pair, i) => {
    const at = pair.indexOf(":");
    if (at <= 0) throw new Error(`TOKEN_ENCRYPTION_KEYS entry ${i + 1} must be id:key`);
    return { id: pair.slice(0, at).trim(), key: pair.slice(at + 1).trim() };
  });
}

function parseMap(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (raw ?? "").split(",").map((s) => s.trim()).filter(Boolean)) {
    const at = pair.indexOf("=");
    if (at <= 0) throw new Error(`--provider-map: expected OLD=NEW, got "${pair}"`);
    out[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
  }
  return out;
}

export function count(name: string, raw: string | undefined): number | null {
  if (raw === undefined) return null;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: expected a positive integer, got "${raw}"`);
  return n;
}

/**
 * The LegacyImporter of pkg/'s legacy build (the package's
 * `oauth-token-manager/legacy`), built from the environment's keys (throws
 * CONFIG naming a bad one).
 */
export async function loadResealer(
  legacyKey: string,
  encryptionKeys: { id: string; key: string }[],
): Promise<Resealer> {
  const path = new URL("../pkg/legacy/oauth_token_manager_legacy_bg.wasm", import.meta.url);
  await init({ module_or_path: await Deno.readFile(path) });
  return new LegacyImporter({ legacyKeys: [legacyKey], encryptionKeys });
}

export async function main(args: string[]): Promise<number> {
  const { values: a } = parseArgs({
    args,
    options: {
      "from-table": { type: "string" },
      "from-jsonl": { type: "string" },
      "user-column": { type: "string" },
      "provider-column": { type: "string" },
      "access-column": { type: "string" },
      "refresh-column": { type: "string" },
      "expires-column": { type: "string" },
      "scope-column": { type: "string" },
      provider: { type: "string" },
      "provider-map": { type: "string" },
      "database-url": { type: "string" },
      "dry-run": { type: "boolean" },
      "unverified-key": { type: "boolean" },
      limit: { type: "string" },
      "progress-every": { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (a.help) {
    console.log(USAGE);
    return 0;
  }
  if (a["from-table"] && a["from-jsonl"]) throw new Error("give --from-table or --from-jsonl, not both");
  const databaseUrl = a["database-url"] ?? Deno.env.get("DATABASE_URL") ?? Deno.env.get("SUPABASE_DB_URL");
  if (!databaseUrl) throw new Error("no database: set --database-url, DATABASE_URL or SUPABASE_DB_URL");
  const legacyKey = Deno.env.get("LEGACY_ENCRYPTION_KEY");
  if (!legacyKey) throw new Error("LEGACY_ENCRYPTION_KEY is not set (the old system's key)");
  const source: Source = a["from-table"]
    ? {
      kind: "table",
      table: a["from-table"],
      columns: {
        user: a["user-column"],
        provider: a["provider-column"],
        access: a["access-column"],
        refresh: a["refresh-column"],
        expires: a["expires-column"],
        scope: a["scope-column"],
      },
    }
    : a["from-jsonl"]
    ? { kind: "jsonl", path: a["from-jsonl"] }
    : { kind: "connections" };
  const encryptionKeys = parseKeyring(Deno.env.get("TOKEN_ENCRYPTION_KEYS"));
  const resealer = await loadResealer(legacyKey, encryptionKeys);
  const report = await importLegacy({
    databaseUrl,
    source,
    resealer,
    keyCheck: new KeyRotation({ encryptionKeys }) as unknown as Rekeyer,
    unverifiedKey: a["unverified-key"] ?? false,
    dryRun: a["dry-run"] ?? false,
    limit: count("limit", a.limit),
    provider: a.provider ?? null,
    providerMap: parseMap(a["provider-map"]),
    progressEvery: count("progress-every", a["progress-every"]) ?? 1000,
    progress: (line) => console.error(`[import-legacy] ${line}`),
  });
  console.log(a.json ? JSON.stringify(report, null, 2) : formatReport(report));
  return failedCount(report) > 0 ? 1 : 0;
}

/**
 * Runs an operator command's `main` and exits with its status; a thrown
 * error (configuration, database: each names what is wrong and none carries
 * a key or token) is printed and exits 2.
 */
export async function runCommand(name: string, run: (args: string[]) => Promise<number>): Promise<never> {
  let code: number;
  try {
    code = await run(Deno.args);
  } catch (e) {
    const err = e as { code?: unknown; message?: unknown };
    const tag = typeof err?.code === "string" ? ` [${err.code}]` : "";
    console.error(`${name}: ${String(err?.message ?? e)}${tag}`);
    console.error("run with --help for usage");
    code = 2;
  }
  Deno.exit(code);
}

if (import.meta.main) await runCommand("import-legacy", main);
