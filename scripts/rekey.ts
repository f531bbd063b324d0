// make rekey: a key rotation's second half. After the new key leads
// TOKEN_ENCRYPTION_KEYS everywhere, values are resealed with it only when
// their tokens are written again (a refresh, a reconnect), and some never
// are: tokens that do not expire (GitHub OAuth Apps), connections without a
// refresh token, connections waiting for their user to reconnect. This
// command moves every value still sealed with an older key of the ring to the
// current one, bound to the same row and column, and counts what is left per
// key: when only the current key is left, the older ones can leave the ring.
//
// Each value is written with a compare-and-set on the value read (no lock, no
// version bump): a refresh that writes the row meanwhile wins, with the
// current key; a refresh that read the old value still opens it (its key is
// still in the ring) and its conditional write still succeeds. Nothing is
// printed but key ids, counts, providers and hashed user ids.
import { parseArgs } from "node:util";
import postgres from "npm:postgres@3.4.9";
import init, { KeyRotation } from "../pkg/legacy/oauth_token_manager_legacy.js";
import { withoutMarkers } from "../supabase/functions/_shared/db.ts";
import { hashUser } from "../supabase/functions/_shared/log.ts";
import { count, parseKeyring, runCommand } from "./import-legacy.ts";
import { checkCurrentKey, type Field, type Rekeyer } from "./key_check.ts";

const USAGE = `Usage: make rekey ARGS="[options]"
       deno run -A scripts/rekey.ts [options]

Reseals every token still sealed with an older key of TOKEN_ENCRYPTION_KEYS
with its first (current) key, then counts the sealed values per key id.

Environment:
  TOKEN_ENCRYPTION_KEYS   the keyring, as the edge functions use it (id:key,...): the first key seals,
                          every key opens
  DATABASE_URL or SUPABASE_DB_URL   the database (or --database-url), DATABASE_URL first as in the functions

Options:
  --database-url URL   the database
  --dry-run            open everything and count, write nothing
  --unverified-key     write even when nothing sealed with the current key by the functions can show it
                       is theirs (by default such a run is refused: a key typed wrong would reseal every
                       value for good with material no function has)
  --batch N            rows read at a time (default 500)
  --json               print the report as JSON
  --help

Exit status: 0 when every value is sealed with the current key; 1 when some could not be moved (named by
hashed user id, provider and column), or some are still sealed with another ring key after the run (a
writer still on the old keyring); 2 when the command could not run (configuration, database).`;

export type { Field, Rekeyer } from "./key_check.ts";
const COLUMNS: [Field, "access_token_sealed" | "refresh_token_sealed"][] = [
  ["access_token", "access_token_sealed"],
  ["refresh_token", "refresh_token_sealed"],
];

export interface RekeyFailure {
  /** The user id hashed as the functions' logs hash it. */
  user: string;
  provider: string;
  field: Field;
  /** CRYPTO_UNKNOWN_KEY (its key is not in the ring), CRYPTO_INTEGRITY, CRYPTO_MALFORMED, CRYPTO_UNBOUND. */
  code: string;
}

export interface RekeyReport {
  currentKeyId: string;
  dryRun: boolean;
  /** Sealed values (both columns of every connection) per key id, before and after. */
  before: Record<string, number>;
  after: Record<string, number>;
  /** Values resealed with the current key (in a dry run: that would be). */
  rekeyed: number;
  /** Values another writer replaced while this ran (left as that writer wrote them). */
  changedMeanwhile: number;
  failures: RekeyFailure[];
}

/** Sealed values of oauth_connections per key id (`v1.<kid>.…`; `legacy` for anything else). */
export async function sealedByKey(sql: postgres.Sql): Promise<Record<string, number>> {
  const rows = await sql.unsafe<{ kid: string; n: number }[]>(
    `select case when v like 'v1.%' then split_part(v, '.', 2) else 'legacy' end as kid, count(*)::int as n
       from (select access_token_sealed as v from public.oauth_connections
             union all select refresh_token_sealed from public.oauth_connections) s
      where v is not null
      group by 1 order by 1`,
  );
  return Object.fromEntries(rows.map((r) => [r.kid, r.n]));
}

interface Row {
  id: string;
  user_id: string;
  provider: string;
  access_token_sealed: string | null;
  refresh_token_sealed: string | null;
}

export async function rekeyAll(o: {
  sql: postgres.Sql;
  rekeyer: Rekeyer;
  dryRun?: boolean;
  batch?: number;
  progress?: (line: string) => void;
  /** Write even when no value sealed with the current key can confirm it (see checkCurrentKey). */
  unverifiedKey?: boolean;
}): Promise<RekeyReport> {
  const { sql, rekeyer } = o;
  const current = rekeyer.currentKeyId;
  const report: RekeyReport = {
    currentKeyId: current,
    dryRun: o.dryRun ?? false,
    before: await sealedByKey(sql),
    after: {},
    rekeyed: 0,
    changedMeanwhile: 0,
    failures: [],
  };
  if (!o.dryRun) await checkCurrentKey(sql, rekeyer, o.unverifiedKey ?? false);
  let last = "0";
  let seen = 0;
  for (;;) {
    // Rows with a v1 value under another key (NULL columns compare as NULL: not selected by them).
    const rows = await sql.unsafe<Row[]>(
      `select id::text, user_id::text, provider, access_token_sealed, refresh_token_sealed
         from public.oauth_connections
        where id > $1::bigint
          and ((access_token_sealed like 'v1.%' and split_part(access_token_sealed, '.', 2) <> $2)
            or (refresh_token_sealed like 'v1.%' and split_part(refresh_token_sealed, '.', 2) <> $2))
        order by id limit $3::int`,
      [last, current, o.batch ?? 500],
    );
    if (rows.length === 0) break;
    for (const row of rows) {
      for (const [field, column] of COLUMNS) {
        const value = row[column];
        if (value === null || !value.startsWith("v1.")) continue;
        let moved: string | undefined | null;
        try {
          moved = rekeyer.rekey(value, row.user_id, row.provider, field);
        } catch (e) {
          const code = (e as { code?: unknown })?.code;
          if (typeof code !== "string" || !code.startsWith("CRYPTO_")) throw e;
          report.failures.push({ user: await hashUser(row.user_id), provider: row.provider, field, code });
          continue;
        }
        if (!moved) continue;
        if (o.dryRun) {
          report.rekeyed++;
          continue;
        }
        // Written only while the column still holds the value read.
        const written = await sql.unsafe(
          `update public.oauth_connections set ${column} = $2 where id = $1::bigint and ${column} = $3 returning 1`,
          [row.id, moved, value],
        );
        if (written.length === 1) report.rekeyed++;
        else report.changedMeanwhile++;
      }
    }
    last = rows[rows.length - 1].id;
    seen += rows.length;
    o.progress?.(`${seen} rows read, ${report.rekeyed} values resealed with ${current}`);
  }
  report.after = await sealedByKey(sql);
  return report;
}

export function formatRekeyReport(r: RekeyReport): string {
  const counts = (c: Record<string, number>) =>
    Object.keys(c).length === 0 ? "none" : Object.entries(c).map(([k, n]) => `${k}: ${n}`).join(", ");
  const older = Object.keys(r.after).filter((k) => k !== r.currentKeyId && k !== "legacy");
  const lines = [
    `current key: ${r.currentKeyId}${r.dryRun ? " (dry run: nothing written)" : ""}`,
    `sealed values per key before: ${counts(r.before)}`,
    `${r.dryRun ? "would reseal" : "resealed"}: ${r.rekeyed}`,
  ];
  if (r.changedMeanwhile > 0) {
    lines.push(`written by a refresh meanwhile (left as written): ${r.changedMeanwhile}`);
  }
  for (const f of r.failures) {
    lines.push(`not moved: user ${f.user}  provider ${f.provider}  ${f.field}  ${f.code}`);
  }
  lines.push(`sealed values per key after: ${counts(r.after)}`);
  if (r.after.legacy) {
    lines.push(`legacy-format values: ${r.after.legacy} (no ring key opens them: see make import-legacy)`);
  }
  lines.push(
    older.length === 0
      ? `every value is sealed with ${r.currentKeyId}: the other keys can leave TOKEN_ENCRYPTION_KEYS`
      : `still needed: ${older.join(", ")}${r.dryRun ? "" : " (run again; see the values not moved above)"}`,
  );
  return lines.join("\n");
}

/**
 * 1 while a value could not be moved, or (after a real run) any value is still
 * sealed with another ring key: one a writer on the old keyring wrote after the
 * scan passed its row. `make rekey && <remove the old key>` must not go on then.
 * Legacy-format values need no ring key (see `make import-legacy`).
 */
export function exitStatus(r: RekeyReport): number {
  if (r.failures.length > 0) return 1;
  if (r.dryRun) return 0;
  return Object.keys(r.after).some((k) => k !== r.currentKeyId && k !== "legacy") ? 1 : 0;
}

/** The KeyRotation of pkg/'s legacy build, from the keyring (throws CONFIG naming a bad key). */
export async function loadRekeyer(encryptionKeys: { id: string; key: string }[]): Promise<Rekeyer> {
  const path = new URL("../pkg/legacy/oauth_token_manager_legacy_bg.wasm", import.meta.url);
  await init({ module_or_path: await Deno.readFile(path) });
  return new KeyRotation({ encryptionKeys }) as unknown as Rekeyer;
}

export async function main(args: string[]): Promise<number> {
  const { values: a } = parseArgs({
    args,
    options: {
      "database-url": { type: "string" },
      "dry-run": { type: "boolean" },
      "unverified-key": { type: "boolean" },
      batch: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (a.help) {
    console.log(USAGE);
    return 0;
  }
  const databaseUrl = a["database-url"] ?? Deno.env.get("DATABASE_URL") ?? Deno.env.get("SUPABASE_DB_URL");
  if (!databaseUrl) throw new Error("no database: set --database-url, DATABASE_URL or SUPABASE_DB_URL");
  const rekeyer = await loadRekeyer(parseKeyring(Deno.env.get("TOKEN_ENCRYPTION_KEYS")));
  // DATABASE_URL may be the transaction pooler's, marked pgbouncer=true.
  const sql = postgres(withoutMarkers(databaseUrl), { max: 2, prepare: false, onnotice: () => {} });
  try {
    const report = await rekeyAll({
      sql,
      rekeyer,
      dryRun: a["dry-run"] ?? false,
      batch: count("batch", a.batch) ?? 500,
      unverifiedKey: a["unverified-key"] ?? false,
      progress: (line) => console.error(`[rekey] ${line}`),
    });
    console.log(a.json ? JSON.stringify(report, null, 2) : formatRekeyReport(report));
    return exitStatus(report);
  } finally {
    await sql.end();
  }
}

if (import.meta.main) await runCommand("rekey", main);
