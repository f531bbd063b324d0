// The Postgres connection: prepared statements where the connection keeps
// them (one round trip a statement), none through a transaction pooler.
import assert from "node:assert/strict";
import { connectPostgres, preparesStatements } from "../../supabase/functions/_shared/db.ts";
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

Deno.test({
  name: "db: a prepared connection keeps its statements; an unprepared one keeps none",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const pg = await startPostgres();
    try {
      for (const prepare of [true, false]) {
        // One connection, so the count below is read on the connection that ran the statement.
        const db = connectPostgres(pg.url, 1, prepare);
        try {
          for (let i = 0; i < 3; i++) {
            const [row] = await db.query<{ n: number }>("select $1::int + 1 as n", [i]);
            assert.equal(row.n, i + 1);
          }
          const [{ n }] = await db.query<{ n: string }>(
            "select count(*) as n from pg_prepared_statements where statement like 'select $1::int + 1%'",
          );
          assert.equal(Number(n), prepare ? 1 : 0, `prepare: ${prepare}`);
        } finally {
          await db.close();
        }
      }
    } finally {
      await pg.stop();
    }
  },
});
