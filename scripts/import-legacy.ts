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
import init, { LegacyImporter } from "../pkg/oauth_token_manager.js";
import { hashUser } from "../supabase/functions/_shared/log.ts";

const USAGE = `Usage: make import-legacy ARGS="[options]"
       deno run -A scripts/import-legacy.ts [options]

Environment:
  LEGACY_ENCRYPTION_KEY   the old system's key: 32 bytes as 64 hex digits or base64, or a 32-character string
  TOKEN_ENCRYPTION_KEYS   the current keyring (id:key,...), as the edge functions use it; the first key seals
  SUPABASE_DB_URL or DATABASE_URL   the database (or --database-url)

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
  --limit N            read at most N rows
  --progress-every N   a progress line every N rows (default 1000; also every 10 s)
  --json               print the report as JSON
  --help

Exit status: 0 when every row was imported or already bound, 1 when a row could not be opened or written,
2 when the command could not run (configuration, database unreachable).`;

export type Field = "access_token" | "refresh_token";
const FIELDS: Field[] = ["access_token", "refresh_token"];
const COLUMN: Record<Field, "access_token_sealed" | "refresh_token_sealed"> = {
  access_token: "access_token_sealed",
  refresh_token: "refresh_token_sealed",
};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const bound = (v: string) => v.startsWith("v1.");

/** What opens and reseals: pkg/'s `LegacyImporter`. */
export interface Resealer {
  reseal(value: string, userId: string, provider: string, field: Field): string;
}

/** One row of the old data, as read from any source. */
export interface LegacyRow {
  /** Where it came from when the user cannot be named (a line number), never a value. */
  ref: string | null;
  userId: string;
  provider: string;
  tokens: Record<Field, string | null>;
  expiresAt: Date | null;
  scope: string | null;
}

export type Source =
  | { kind: "connections" }
  | { kind: "table"; table: string; columns: Partial<Record<SourceColumn, string>> }
  | { kind: "jsonl"; path: string };
export type SourceColumn = "user" | "provider" | "access" | "refresh" | "expires" | "scope";

export interface ImportOptions {
  databaseUrl: string;
  source: Source;
  resealer: Resealer;
  dryRun?: boolean;
  limit?: number | null;
  provider?: string | null;
  providerMap?: Record<string, string>;
  progressEvery?: number;
  progress?: (line: string) => void;
}

export type OpenFailure = "wrong key" | "malformed" | "not utf8";

export interface Failure {
  user: string;
  provider: string;
  ref: string | null;
  field: Field | null;
  reason: string;
}

export interface Report {
  dryRun: boolean;
  source: string;
  read: number;
  imported: number;
  alreadyBound: number;
  couldNotOpen: Record<OpenFailure, number>;
  couldNotWrite: Record<string, number>;
  skipped: Record<string, number>;
  /** The rows that could not be opened or written, by hashed user id and provider. */
  failures: Failure[];
}

export const failedCount = (r: Report) =>
  Object.values(r.couldNotOpen).reduce((a, b) => a + b, 0) +
  Object.values(r.couldNotWrite).reduce((a, b) => a + b, 0);

/** A row-level problem: the row is counted and reported, the import goes on. */
class RowError extends Error {
  constructor(readonly kind: "open" | "write", readonly reason: string, readonly field: Field | null = null) {
    super(reason);
  }
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

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

function epochToDate(n: number): Date {
  return new Date(n > 1e11 ? n : n * 1000); // milliseconds, or seconds
}

function parseExpiry(v: unknown): Date | null {
  if (v === null || v === undefined || v === "") return null;
  if (typeof v === "number") return epochToDate(v);
  if (typeof v === "string" && /^\d+(\.\d+)?$/.test(v)) return epochToDate(Number(v));
  const d = new Date(String(v));
  return Number.isNaN(d.getTime()) ? null : d;
}

function str(v: unknown): string | null {
  return v === null || v === undefined || v === "" ? null : String(v);
}

// ---------------------------------------------------------------- sources

interface TableColumn {
  name: string;
  type: string;
}

const CANDIDATES: Record<SourceColumn, string[]> = {
  user: ["user_id"],
  provider: ["provider", "service", "platform"],
  access: ["access_token_sealed", "access_token", "encrypted_access_token", "access_token_encrypted"],
  refresh: ["refresh_token_sealed", "refresh_token", "encrypted_refresh_token", "refresh_token_encrypted"],
  expires: ["expires_at", "token_expires_at", "token_expiry", "expiry"],
  scope: ["scope", "scopes"],
};

/** The SELECT list for an old table: columns found by name, typed into what we store. */
async function tableQuery(
  sql: postgres.Sql,
  table: string,
  given: Partial<Record<SourceColumn, string>>,
  needProvider: boolean,
): Promise<string> {
  const parts = table.split(".");
  const [schema, name] = parts.length === 2 ? parts : ["public", parts[0]];
  if (parts.length > 2 || !name) throw new Error(`--from-table: expected schema.table, got "${table}"`);
  const cols = await sql<TableColumn[]>`
    select column_name as name, data_type as type from information_schema.columns
     where table_schema = ${schema} and table_name = ${name} order by ordinal_position`;
  if (cols.length === 0) throw new Error(`--from-table: no table ${schema}.${name} (or no access to it)`);
  const pick = (what: SourceColumn, required: boolean): TableColumn | null => {
    const want = given[what];
    if (want === "none" && !required) return null;
    if (want) {
      const c = cols.find((c) => c.name === want);
      if (!c) throw new Error(`--${what}-column: ${schema}.${name} has no column "${want}"`);
      return c;
    }
    const c = CANDIDATES[what].map((n) => cols.find((c) => c.name === n)).find(Boolean) ?? null;
    if (!c && required) {
      throw new Error(
        `${schema}.${name}: no ${what} column (looked for ${
          CANDIDATES[what].join(", ")
        }); name it with --${what}-column`,
      );
    }
    return c;
  };
  const user = pick("user", true)!;
  const provider = needProvider ? pick("provider", true) : null;
  const access = pick("access", false);
  const refresh = pick("refresh", false);
  if (!access && !refresh) {
    throw new Error(`${schema}.${name}: no token column; name it with --access-column / --refresh-column`);
  }
  const expires = pick("expires", false);
  const scope = pick("scope", false);
  const col = (c: TableColumn | null) => (c ? quoteIdent(c.name) : "null");
  let expiresMs = "null::float8";
  if (expires) {
    const e = quoteIdent(expires.name);
    if (expires.type === "timestamp with time zone") {
      expiresMs = `extract(epoch from ${e}) * 1000`;
    } else if (expires.type === "timestamp without time zone") {
      expiresMs = `extract(epoch from ${e} at time zone 'UTC') * 1000`; // read as UTC
    } else if (/^(integer|bigint|numeric|double precision|real|smallint)$/.test(expires.type)) {
      expiresMs = `case when ${e} > 1e11 then ${e} else ${e} * 1000 end`;
    } else {
      expiresMs = `extract(epoch from ${e}::text::timestamptz) * 1000`;
    }
  }
  const scopeText = scope?.type === "ARRAY" ? `array_to_string(${col(scope)}, ' ')` : `${col(scope)}::text`;
  return `select ${col(user)}::text as user_id, ${col(provider)}::text as provider,
                 ${col(access)}::text as access_token, ${col(refresh)}::text as refresh_token,
                 (${expiresMs})::float8 as expires_ms, ${scopeText} as scope
            from ${quoteIdent(schema)}.${quoteIdent(name)}`;
}

const CONNECTIONS_QUERY = `
  select user_id::text as user_id, provider,
         case when access_token_sealed not like 'v1.%' then access_token_sealed end as access_token,
         case when refresh_token_sealed not like 'v1.%' then refresh_token_sealed end as refresh_token,
         null::float8 as expires_ms, null::text as scope
    from public.oauth_connections
   where access_token_sealed not like 'v1.%' or refresh_token_sealed not like 'v1.%'
   order by id`;

async function* readJsonl(path: string): AsyncGenerator<{ line: number; value: unknown }> {
  const file = await Deno.open(path);
  let buf = "";
  let line = 0;
  const parse = (text: string) => {
    try {
      return JSON.parse(text);
    } catch {
      return undefined;
    }
  };
  for await (const chunk of file.readable.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const text = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      line++;
      if (text) yield { line, value: parse(text) };
    }
  }
  line++;
  if (buf.trim()) yield { line, value: parse(buf.trim()) };
}

function fromJson(line: number, v: unknown): LegacyRow | null {
  if (!v || typeof v !== "object" || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  const get = (...names: string[]) => names.map((n) => o[n]).find((x) => x !== undefined && x !== null);
  return {
    ref: `line ${line}`,
    userId: str(get("userId", "user_id"))?.trim() ?? "",
    provider: str(get("provider", "service", "platform")) ?? "",
    tokens: {
      access_token: str(get("accessToken", "access_token")),
      refresh_token: str(get("refreshToken", "refresh_token")),
    },
    expiresAt: parseExpiry(get("expiresAt", "expires_at", "token_expires_at", "token_expiry")),
    scope: str(get("scope")),
  };
}

type DbRow = {
  user_id: string | null;
  provider: string | null;
  access_token: string | null;
  refresh_token: string | null;
  expires_ms: number | null;
  scope: string | null;
};

function fromDb(r: DbRow): LegacyRow {
  return {
    ref: null,
    userId: r.user_id ?? "",
    provider: r.provider ?? "",
    tokens: { access_token: str(r.access_token), refresh_token: str(r.refresh_token) },
    expiresAt: r.expires_ms === null ? null : new Date(Number(r.expires_ms)),
    scope: str(r.scope),
  };
}

/** Rows of the source, with a null for a line that is not a JSON object. */
async function* rowsOf(
  sql: postgres.Sql,
  source: Source,
  needProvider: boolean,
  limit: number | null,
): AsyncGenerator<{ row: LegacyRow | null; ref: string | null }> {
  if (source.kind === "jsonl") {
    for await (const { line, value } of readJsonl(source.path)) {
      yield { row: fromJson(line, value), ref: `line ${line}` };
    }
    return;
  }
  const base = source.kind === "connections"
    ? CONNECTIONS_QUERY
    : await tableQuery(sql, source.table, source.columns, needProvider);
  const query = limit === null ? base : `${base} limit ${Math.floor(limit)}`;
  for await (const batch of sql.unsafe<DbRow[]>(query).cursor(200)) {
    for (const r of batch) yield { row: fromDb(r), ref: null };
  }
}

// ---------------------------------------------------------------- writing

interface Target {
  access_token_sealed: string | null;
  refresh_token_sealed: string | null;
  last_error_code: string | null;
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
        `select access_token_sealed, refresh_token_sealed, last_error_code from public.oauth_connections
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
    const writable = fields.filter((f) => {
      const current = target[COLUMN[f]];
      if (current !== null && bound(current)) return false; // never overwrite a bound value
      return inPlace ? current === row.tokens[f] : true;
    });
    if (writable.length === 0) {
      return fields.every((f) => bound(target[COLUMN[f]] ?? "")) ? "already bound" as const : {
        skipped: "changed while importing",
      };
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

  const sql = postgres(o.databaseUrl, {
    max: 3,
    prepare: false, // Supabase's pooler in transaction mode has no prepared statements
    onnotice: () => {},
    connect_timeout: 10,
    connection: { application_name: "otm-import-legacy" },
  });
  try {
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

export function formatReport(r: Report): string {
  const pad = (s: string) => s.padEnd(16);
  const detail = (m: Record<string, number>) =>
    Object.entries(m).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(", ");
  const sum = (m: Record<string, number>) => Object.values(m).reduce((a, b) => a + b, 0);
  const lines = [
    `legacy import${r.dryRun ? " (dry run: nothing written)" : ""} from ${r.source}`,
    `  ${pad("read")}${r.read}`,
    `  ${pad(r.dryRun ? "would import" : "imported")}${r.imported}`,
    `  ${pad("already bound")}${r.alreadyBound}`,
    `  ${pad("could not open")}${sum(r.couldNotOpen)}${
      sum(r.couldNotOpen) ? `  (${detail(r.couldNotOpen)})` : ""
    }`,
    `  ${pad("could not write")}${sum(r.couldNotWrite)}${
      sum(r.couldNotWrite) ? `  (${detail(r.couldNotWrite)})` : ""
    }`,
    `  ${pad("skipped")}${sum(r.skipped)}${sum(r.skipped) ? `  (${detail(r.skipped)})` : ""}`,
  ];
  if (r.failures.length > 0) {
    lines.push("rows not imported (user = first 12 hex digits of SHA-256 of the user id, as in the logs):");
    for (const f of r.failures) {
      const where = f.ref ? `${f.ref}  ` : "";
      lines.push(
        `  ${where}user ${f.user}  provider ${f.provider}${f.field ? `  ${f.field}` : ""}: ${f.reason}`,
      );
    }
  }
  return lines.join("\n");
}

// ---------------------------------------------------------------- the command

function parseKeyring(raw: string | undefined): { id: string; key: string }[] {
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

function count(name: string, raw: string | undefined): number | null {
  if (raw === undefined) return null;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: expected a positive integer, got "${raw}"`);
  return n;
}

/** The pkg/ wasm's LegacyImporter, built from the environment's keys (throws CONFIG naming a bad one). */
export async function loadResealer(
  legacyKey: string,
  encryptionKeys: { id: string; key: string }[],
): Promise<Resealer> {
  const path = Deno.env.get("OTM_WASM_PATH") ??
    new URL("../pkg/oauth_token_manager_bg.wasm", import.meta.url);
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
  const databaseUrl = a["database-url"] ?? Deno.env.get("SUPABASE_DB_URL") ?? Deno.env.get("DATABASE_URL");
  if (!databaseUrl) throw new Error("no database: set --database-url, SUPABASE_DB_URL or DATABASE_URL");
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
  const resealer = await loadResealer(legacyKey, parseKeyring(Deno.env.get("TOKEN_ENCRYPTION_KEYS")));
  const report = await importLegacy({
    databaseUrl,
    source,
    resealer,
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

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (e) {
    // Configuration and database errors name what is wrong; none carries a key or token.
    const err = e as { code?: unknown; message?: unknown };
    const code_ = typeof err?.code === "string" ? ` [${err.code}]` : "";
    console.error(`import-legacy: ${String(err?.message ?? e)}${code_}`);
    console.error("run with --help for usage");
    code = 2;
  }
  Deno.exit(code);
}
