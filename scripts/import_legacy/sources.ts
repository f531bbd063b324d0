// make import-legacy's sources: legacy values in public.oauth_connections, an old
// system's table (columns found by name) or a JSON-lines file, read as LegacyRows.
import type postgres from "npm:postgres@3.4.9";

export type Field = "access_token" | "refresh_token";

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

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

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
export async function* rowsOf(
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
