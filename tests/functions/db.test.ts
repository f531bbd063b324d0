// The Postgres connection: prepared statements where the connection keeps
// them (one round trip a statement), none through a transaction pooler.
import assert from "node:assert/strict";
import {
  connectPostgres,
  type Db,
  parseArray,
  preparesStatements,
} from "../../supabase/functions/_shared/db.ts";
import { COLUMNS_SQL, EXPECTED } from "../../supabase/functions/_shared/pkg/stores/schema.js";
import { PostgresStore } from "../../supabase/functions/_shared/store.ts";
import { startPostgres } from "./harness.ts";

Deno.test("db: statements are prepared unless the URL is a transaction pooler's or the setting says no", () => {
  assert.equal(preparesStatements("postgresql://postgres:pw@db.abc.supabase.co:5432/postgres"), true);
  assert.equal(preparesStatements("postgres://u:p@127.0.0.1:54322/postgres"), true);
  // Supabase's transaction pooler, and the pgbouncer=true marker.
  assert.equal(
    preparesStatements("postgresql://postgres.abc:pw@aws-0-eu-west-1.pooler.supabase.com:6543/postgres"),
    false,
  );
  assert.equal(preparesStatements("postgres://u:p@pool.internal:6432/db?pgbouncer=true"), false);
  // The session pooler (5432 on the pooler host) keeps a connection per client.
  assert.equal(
    preparesStatements("postgresql://postgres.abc:pw@aws-0-eu-west-1.pooler.supabase.com:5432/postgres"),
    true,
  );
  // DATABASE_PREPARE decides over the URL, both ways.
  assert.equal(preparesStatements("postgres://u:p@h:6543/db", true), true);
  assert.equal(preparesStatements("postgres://u:p@h:5432/db", false), false);
  // A URL that does not parse is not guessed at.
  assert.equal(preparesStatements("not a url"), false);
});

Deno.test("db: parseArray reads one dimension as Postgres writes it, and leaves anything else as text", () => {
  assert.deepEqual(parseArray("{}"), []);
  assert.deepEqual(parseArray('{a,"b c",NULL,"NULL","q\\"x","s\\\\t",""}'), [
    "a",
    "b c",
    null,
    "NULL",
    'q"x',
    "s\\t",
    "",
  ]);
  assert.deepEqual(parseArray("{1.5,-2,NULL}", Number), [1.5, -2, null]);
  for (const other of ["{{a,b},{c,d}}", "[0:1]={a,b}", "{a,b", "plain", "", "{"]) {
    assert.equal(parseArray(other), other);
  }
});

/** `body` on one connection of each kind (prepared, then not), closed after. */
async function onEachKind(url: string, body: (db: Db, prepare: boolean) => Promise<void>): Promise<void> {
  for (const prepare of [true, false]) {
    // One connection, so what a statement leaves is seen by the next.
    const db = connectPostgres(url, 1, prepare);
    try {
      await body(db, prepare);
    } finally {
      await db.close();
    }
  }
}

Deno.test({
  name: "db: connections on a real Postgres",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const pg = await startPostgres();
    try {
      await t.step(
        "a prepared connection keeps its statements; an unprepared one keeps none",
        () =>
          onEachKind(pg.url, async (db, prepare) => {
            for (let i = 0; i < 3; i++) {
              const [row] = await db.query<{ n: number }>("select $1::int + 1 as n", [i]);
              assert.equal(row.n, i + 1);
            }
            const [{ n }] = await db.query<{ n: string }>(
              "select count(*) as n from pg_prepared_statements where statement like 'select $1::int + 1%'",
            );
            assert.equal(Number(n), prepare ? 1 : 0, `prepare: ${prepare}`);
          }),
      );

      await t.step(
        "a URL marked pgbouncer=true connects, unprepared: the marker is not sent to the server",
        async () => {
          const marked = `${pg.url}${pg.url.includes("?") ? "&" : "?"}pgbouncer=true`;
          const db = connectPostgres(marked, 1);
          try {
            const [row] = await db.query<{ n: number }>("select $1::int + 1 as n", [1]);
            assert.equal(row.n, 2);
            const [{ n }] = await db.query<{ n: string }>(
              "select count(*) as n from pg_prepared_statements",
            );
            assert.equal(Number(n), 0);
          } finally {
            await db.close();
          }
        },
      );

      await t.step(
        "a table or column missing through the functions' database is SCHEMA_MISMATCH",
        async () => {
          const db = connectPostgres(pg.url, 1);
          const store = new PostgresStore(db);
          await pg
            .sql`alter table public.oauth_connections rename column signin_digest to signin_digest_moved`;
          try {
            await assert.rejects(
              store.load({ userId: "00000000-0000-4000-8000-000000000001", provider: "google" }),
              (e: { code?: string; message?: string }) =>
                e.code === "SCHEMA_MISMATCH" && !/the database failed/.test(String(e.message)),
            );
          } finally {
            await pg
              .sql`alter table public.oauth_connections rename column signin_digest_moved to signin_digest`;
            await db.close();
          }
        },
      );

      await t.step(
        "array parameters are bound as the statements' types, whatever their text",
        () =>
          onEachKind(pg.url, async (db, prepare) => {
            const texts = [
              "a",
              "",
              "two words",
              'quote " inside',
              "back\\slash",
              "a,b",
              "{braces}",
              "NULL",
              "é 🙂",
              " ",
            ];
            const uuids = ["00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"];
            const floats = [0, 1.5, -2, 1_800_000_000_000.25];
            const params = [texts, uuids, floats, [], [null, "x"]];
            const [row] = await db.query(
              `select to_json($1::text[]) as t, to_json($2::uuid[]) as u, to_json($3::float8[]) as f,
                    cardinality($4::text[]) as n, to_json($5::text[]) as e`,
              params,
            );
            assert.deepEqual(
              row,
              { t: texts, u: uuids, f: floats, n: 0, e: [null, "x"] },
              `prepare: ${prepare}`,
            );
            // And read back as Postgres writes them, without to_json.
            const [back] = await db.query(
              "select $1::text[] as t, $2::uuid[] as u, $3::float8[] as f, $4::text[] as n, $5::text[] as e",
              params,
            );
            assert.deepEqual(
              back,
              { t: texts, u: uuids, f: floats, n: [], e: [null, "x"] },
              `prepare: ${prepare}`,
            );
          }),
      );

      await t.step(
        "the schema check's catalog query sees what information_schema.columns shows, role by role",
        () =>
          onEachKind(pg.url, async (db) => {
            const tables = Object.keys(EXPECTED);
            const key = (rows: Record<string, unknown>[]) =>
              rows.map((r) => `${r.table_name}.${r.column_name}`).sort();
            // authenticated has column grants on oauth_connections only; anon has nothing.
            for (const role of ["postgres", "service_role", "authenticated", "anon"]) {
              await db.query("select set_config('role', $1, false)", [role]);
              const catalog = key(await db.query(COLUMNS_SQL, [tables]));
              const view = key(
                await db.query(
                  `select table_name::text, column_name::text from information_schema.columns
                  where table_schema = 'public' and table_name = any($1::text[])`,
                  [tables],
                ),
              );
              assert.deepEqual(catalog, view, role);
              if (role === "anon") assert.equal(catalog.length, 0);
              if (role === "authenticated") {
                assert.ok(catalog.includes("oauth_connections.status"));
                assert.ok(
                  !catalog.includes("oauth_connections.refresh_token_sealed"),
                  "column grants are honoured",
                );
              }
              if (role === "postgres") assert.ok(catalog.includes("oauth_connections.refresh_token_sealed"));
            }
          }),
      );
    } finally {
      await pg.stop();
    }
  },
});
