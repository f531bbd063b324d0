// The webhook trigger on a real Postgres 15, for writes made through the
// package's own Postgres store: what each status change writes to the outbox
// (its delivery: webhooks.test.ts).
import assert from "node:assert/strict";
import { connectPostgres } from "../../supabase/functions/_shared/db.ts";
import { PostgresStore } from "../../supabase/functions/_shared/store.ts";
import { startPostgres, USER } from "./harness.ts";
import { outbox } from "./webhook_helpers.ts";

Deno.test({
  name: "webhook trigger: the messages of the store's own writes",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const pg = await startPostgres();
    const db = connectPostgres(pg.url, 2);
    const reset = async () => {
      await db.query("delete from public.oauth_connections");
      await db.query("delete from public.oauth_webhook_outbox");
    };
    try {
      await pg.sql`insert into auth.users (id) values (${USER})`;
      await t.step("a disconnect's message names the account it disconnected", async () => {
        // The store's disconnect erases the account with the tokens in the
        // same statement; the receiver still learns which account it was.
        await reset();
        await db.query(
          `insert into public.oauth_connections (user_id, provider, access_token_sealed, expires_at, status, account_id)
           values ($1, 'google', 'v1.k1.x.y', now() + interval '1 hour', 'connected', 'acct-7')`,
          [USER],
        );
        await new PostgresStore(db).disconnect({ userId: USER, provider: "google", at: Date.now() });
        const [row] = await db.query<{ account_id: string | null }>(
          "select account_id from public.oauth_connections where user_id = $1",
          [USER],
        );
        assert.equal(row.account_id, null, "the row keeps no account");
        const rows = await outbox(db);
        assert.deepEqual(rows.map((r) => r.type), ["connection.connected", "connection.disconnected"]);
        assert.deepEqual(JSON.parse(rows[1].body).data, {
          userId: USER,
          provider: "google",
          status: "disconnected",
          previousStatus: "connected",
          accountId: "acct-7",
        });
      });

      await t.step("a refresh of a connection flagged for a missing scope sends no message", async () => {
        // A refresh cannot add scopes: the flag stays, in the commit's own
        // write. Two writes (connected, then needs_reauth again) told every
        // receiver the user had reconnected, at each refresh.
        await reset();
        await db.query(
          `insert into public.oauth_connections
             (user_id, provider, access_token_sealed, refresh_token_sealed, expires_at, status,
              last_error_code, last_error_message, last_error_at, account_id)
           values ($1, 'google', 'v1.k1.a.b', 'v1.k1.c.d', now(), 'needs_reauth',
                   'INSUFFICIENT_SCOPE', 'lacks the scope x', now() - interval '1 day', 'acct-9')`,
          [USER],
        );
        await db.query("delete from public.oauth_webhook_outbox");
        const [{ version }] = await db.query<{ version: number }>(
          "select version::int as version from public.oauth_connections where user_id = $1",
          [USER],
        );
        const now = Date.now();
        const ok = await new PostgresStore(db).commitRefresh({
          write: {
            userId: USER,
            provider: "google",
            accessTokenSealed: "v1.k1.e.f",
            refreshTokenSealed: "v1.k1.c.d",
            expiresAt: now + 3_600_000,
            refreshTokenExpiresAt: null,
            scope: "openid",
            refreshedAt: now,
            accountId: null,
            accountEmail: null,
            accountName: null,
          },
          expectedVersion: version,
        });
        assert.equal(ok, true);
        const [row] = await db.query<Record<string, unknown>>(
          `select status, last_error_code, last_error_message, access_token_sealed
             from public.oauth_connections where user_id = $1`,
          [USER],
        );
        assert.deepEqual(row, {
          status: "needs_reauth",
          last_error_code: "INSUFFICIENT_SCOPE",
          last_error_message: "lacks the scope x",
          access_token_sealed: "v1.k1.e.f",
        });
        assert.deepEqual((await outbox(db)).map((r) => r.type), []);
      });
    } finally {
      await db.close();
      await pg.stop();
    }
  },
});
