// Supabase's roles against our tables, on a database set up as Supabase sets
// one up (supabase_bootstrap.sql: the API roles, auth.uid(), and the default
// privileges that grant everything in public to anon and authenticated).
// Requests come in as PostgREST makes them: logged in as `authenticator`,
// `set role` to the caller's role, the JWT claims in request.jwt.claims.
import assert from "node:assert/strict";
import postgres from "npm:postgres@3.4.9";
import { connectPostgres } from "../../supabase/functions/_shared/db.ts";
import { PostgresStore } from "../../supabase/functions/_shared/store.ts";
import { applyMigrations, startPostgres } from "./harness.ts";

const A = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const B = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
const SEQUENCES = ["oauth_connections_id_seq", "oauth_refresh_events_id_seq"];
const MAX_BIGINT = "9223372036854775807";
/** What a signed-in user may read of their connections. */
const STATUS_COLUMNS = [
  "id",
  "user_id",
  "provider",
  "expires_at",
  "scope",
  "status",
  "last_error_code",
  "failure_count",
  "cooldown_until",
  "token_refreshed_at",
  "account_id",
  "account_email",
  "account_name",
];
const SECRET_COLUMN = /sealed|secret|verifier|lease_|^version$/;

type Role = "anon" | "authenticated" | "service_role";
type Tx = postgres.TransactionSql;
class Rollback {
  constructor(readonly value: unknown) {}
}

/** A stand-in sealed value: the shape of one, random, never a real token. */
const fakeSealed = () => `v1.k1.${crypto.randomUUID()}.${crypto.randomUUID()}`;

Deno.test({
  name: "Supabase roles: least privilege on oauth_connections, oauth_refresh_events, oauth_connect_attempts",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const pg = await startPostgres();
    // PostgREST's login role: no privileges of its own (noinherit).
    const api = postgres(pg.url.replace("postgres://postgres@", "postgres://authenticator@"), {
      max: 1,
      onnotice: () => {},
    });
    /** Runs `fn` as `role` with `claims`, then rolls back (sequences are not transactional). */
    const as = async <T>(
      role: Role,
      claims: Record<string, unknown> | null,
      fn: (tx: Tx) => Promise<T>,
      settings: Record<string, string> = {},
    ): Promise<T> => {
      try {
        await api.begin(async (tx) => {
          await tx.unsafe(`set local role ${role}`);
          if (claims) await tx`select set_config('request.jwt.claims', ${JSON.stringify(claims)}, true)`;
          for (const [k, v] of Object.entries(settings)) await tx`select set_config(${k}, ${v}, true)`;
          throw new Rollback(await fn(tx));
        });
      } catch (e) {
        if (e instanceof Rollback) return e.value as T;
        throw e;
      }
      throw new Error("unreachable");
    };
    const user = (sub: string) => ({ sub, role: "authenticated", aud: "authenticated" });
    const denied = async (role: Role, claims: Record<string, unknown> | null, q: string) => {
      await assert.rejects(as(role, claims, (tx) => tx.unsafe(q)), /permission denied/, `${role}: ${q}`);
    };

    try {
      await pg
        .sql`insert into auth.users (id, email) values (${A}, 'a@example.com'), (${B}, 'b@example.com')`;
      for (const [u, p] of [[A, "google"], [A, "gmail"], [B, "google"]]) {
        await pg
          .sql`insert into oauth_connections (user_id, provider, access_token_sealed, refresh_token_sealed,
                       expires_at, token_refreshed_at, version)
                     values (${u}, ${p}, ${fakeSealed()}, ${fakeSealed()}, now() + interval '1 hour', now(), 1)`;
        await pg.sql`insert into oauth_refresh_events (user_id, provider, kind, at, instance)
                     values (${u}, ${p}, 'stored', now(), 'test')`;
      }

      await t.step("the migrations apply a second time cleanly, one policy per table", async () => {
        await applyMigrations(pg.sql);
        const policies = await pg.sql<{ tablename: string; n: number }[]>`
          select tablename, count(*)::int as n from pg_policies where schemaname = 'public'
           group by tablename order by tablename`;
        assert.deepEqual(policies.map((p) => [p.tablename, p.n]), [
          ["oauth_connections", 1],
          ["oauth_refresh_events", 1],
        ]);
        const rls = await pg.sql<{ relname: string; relrowsecurity: boolean }[]>`
          select relname, relrowsecurity from pg_class
           where relnamespace = 'public'::regnamespace and relkind = 'r' order by relname`;
        for (const r of rls) assert.ok(r.relrowsecurity, `row-level security on ${r.relname}`);
        // Each file alone, as an operator repairing one would run it: nothing a later one set is undone.
        for (
          const name of [
            "20261122000000_oauth_connections.sql",
            "20261123090000_oauth_roles_least_privilege.sql",
          ]
        ) {
          await pg.sql.unsafe(
            await Deno.readTextFile(new URL(`../../supabase/migrations/${name}`, import.meta.url)),
          );
          const [{ ok }] = await pg.sql<{ ok: boolean }[]>`
            select has_column_privilege('authenticated', 'public.oauth_connections', 'account_email', 'select') as ok`;
          assert.ok(ok, `${name} again: authenticated still reads the account columns`);
        }
        await pg.sql.unsafe(
          await Deno.readTextFile(
            new URL("../../supabase/migrations/20261125090000_oauth_operations.sql", import.meta.url),
          ),
        );
        const [{ definer }] = await pg.sql<{ definer: boolean }[]>`
          select prosecdef as definer from pg_proc where oid = 'public.oauth_connection_webhook()'::regprocedure`;
        assert.ok(
          definer,
          "20261125 again: the webhook trigger stays security definer (user deletions need it)",
        );
      });

      await t.step("a table holding rows of deleted users: the migrations still apply", async () => {
        // An earlier system's oauth_connections, without the foreign key,
        // with a row whose user was deleted since.
        const ghost = "99999999-9999-4999-8999-999999999999";
        await pg.sql`alter table oauth_connections drop constraint oauth_connections_user_fk`;
        await pg
          .sql`insert into oauth_connections (user_id, provider, status) values (${ghost}, 'google', 'connected')`;
        await applyMigrations(pg.sql);
        const fk = async () =>
          (await pg.sql<{ convalidated: boolean }[]>`
            select convalidated from pg_constraint where conname = 'oauth_connections_user_fk'`)[0];
        assert.equal((await fk())?.convalidated, false, "added, not yet validated");
        await assert.rejects(
          pg.sql`insert into oauth_connections (user_id, provider) values (${ghost}, 'gmail')`,
          /foreign key/,
          "new rows are checked",
        );
        // The operator removes the rows the notice names, and validates.
        await pg.sql`delete from oauth_connections where user_id = ${ghost}`;
        await pg.sql`alter table oauth_connections validate constraint oauth_connections_user_fk`;
        assert.equal((await fk())?.convalidated, true);
        // A fresh database validates it at once (the first step's apply).
      });

      await t.step(
        "the catalog: anon holds nothing, authenticated only SELECT of status columns",
        async () => {
          const objects = await pg.sql<{ name: string; kind: string; oid: number }[]>`
          select c.relname as name, c.relkind::text as kind, c.oid::int as oid from pg_class c
           where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
          union all
          select p.oid::regprocedure::text, 'function', p.oid::int from pg_proc p
           where p.pronamespace = 'public'::regnamespace`;
          assert.ok(objects.some((o) => o.name === "oauth_connections_id_seq"));
          for (const o of objects) {
            for (const role of ["anon", "authenticated"]) {
              if (o.kind === "S") {
                const [r] = await pg.sql`select has_sequence_privilege(${role}, ${o.oid}::oid,
                'USAGE, SELECT, UPDATE') as any`;
                assert.equal(r.any, false, `${role} holds a privilege on sequence ${o.name}`);
              } else if (o.kind === "function") {
                const [r] = await pg
                  .sql`select has_function_privilege(${role}, ${o.oid}::oid, 'EXECUTE') as any`;
                assert.equal(r.any, false, `${role} may execute ${o.name}`);
              } else {
                const [r] = await pg.sql`select has_table_privilege(${role}, ${o.oid}::oid,
                'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER') as write,
                has_any_column_privilege(${role}, ${o.oid}::oid, 'SELECT, INSERT, UPDATE, REFERENCES') as col`;
                assert.equal(r.write, false, `${role} may write ${o.name}`);
                const mayRead = role === "authenticated" &&
                  ["oauth_connections", "oauth_refresh_events"].includes(o.name);
                if (!mayRead) assert.equal(r.col, false, `${role} may read ${o.name}`);
              }
            }
          }
          const cols = await pg.sql<{ name: string; granted: boolean }[]>`
          select attname as name, has_column_privilege('authenticated', attrelid, attnum, 'SELECT') as granted
            from pg_attribute
           where attrelid = 'public.oauth_connections'::regclass and attnum > 0 and not attisdropped`;
          for (const c of cols) {
            if (SECRET_COLUMN.test(c.name)) {
              assert.equal(c.granted, false, `authenticated may read ${c.name}`);
            }
          }
          for (const name of STATUS_COLUMNS) {
            assert.ok(
              cols.find((c) => c.name === name)?.granted,
              `authenticated may not read ${name}`,
            );
          }
          const [svc] = await pg.sql`select
          has_table_privilege('service_role', 'public.oauth_connections', 'SELECT, INSERT, UPDATE, DELETE') as t,
          has_sequence_privilege('service_role', 'public.oauth_connections_id_seq', 'USAGE') as s`;
          assert.ok(svc.t && svc.s);
        },
      );

      await t.step("authenticated reads only their own rows, and no sealed column", async () => {
        const mine = await as(
          "authenticated",
          user(A),
          (tx) =>
            tx`select user_id::text, provider, status, expires_at from oauth_connections order by provider`,
        );
        assert.deepEqual(mine.map((r) => [r.user_id, r.provider]), [[A, "gmail"], [A, "google"]]);
        const theirs = await as(
          "authenticated",
          user(B),
          (tx) => tx`select user_id::text from oauth_connections`,
        );
        assert.deepEqual(
          theirs.map((r) => r.user_id),
          [B],
        );
        // The legacy per-claim setting (older PostgREST) identifies the user too.
        const legacy = await as(
          "authenticated",
          null,
          (tx) => tx`select user_id::text from oauth_connections`,
          { "request.jwt.claim.sub": B },
        );
        assert.deepEqual(
          legacy.map((r) => r.user_id),
          [B],
        );
        const nobody = await as("authenticated", null, (tx) => tx`select id from oauth_connections`);
        assert.equal(nobody.length, 0);
        const events = await as(
          "authenticated",
          user(A),
          (tx) => tx`select distinct user_id::text from oauth_refresh_events`,
        );
        assert.deepEqual(
          events.map((r) => r.user_id),
          [A],
        );
        for (
          const q of [
            "select access_token_sealed from oauth_connections",
            "select refresh_token_sealed from oauth_connections",
            "select lease_owner, lease_until from oauth_connections",
            "select * from oauth_connections",
          ]
        ) {
          await denied("authenticated", user(A), q);
        }
      });

      await t.step("authenticated writes nothing and reads no connect attempt", async () => {
        for (
          const q of [
            `insert into oauth_connections (user_id, provider) values ('${A}', 'spotify')`,
            `update oauth_connections set status = 'disconnected' where user_id = '${A}'`,
            `update oauth_connections set access_token_sealed = 'x' where user_id = '${A}'`,
            `delete from oauth_connections where user_id = '${A}'`,
            `insert into oauth_refresh_events (user_id, provider, kind, at, instance)
             values ('${A}', 'google', 'refreshed', now(), 'x')`,
            `update oauth_refresh_events set kind = 'failed' where user_id = '${A}'`,
            `delete from oauth_refresh_events where user_id = '${A}'`,
            "truncate oauth_connections",
            "select user_id, return_to from oauth_connect_attempts",
            `insert into oauth_connect_attempts (state_hash, user_id, provider, verifier_sealed, redirect_uri,
               return_to, scopes, created_at, expires_at)
             values ('s', '${A}', 'google', 'v', 'http://x/cb', 'http://x/', '{}', now(), now())`,
            "delete from oauth_connect_attempts",
          ]
        ) {
          await denied("authenticated", user(A), q);
        }
        const [n] = await pg.sql`select count(*)::int as n from oauth_connections`;
        assert.equal(n.n, 3);
      });

      await t.step("authenticated and anon cannot read or move the identity sequences", async () => {
        for (const role of ["authenticated", "anon"] as const) {
          for (const seq of SEQUENCES) {
            await denied(role, user(A), `select setval('public.${seq}', ${MAX_BIGINT})`);
            await denied(role, user(A), `select setval('public.${seq}', 1, false)`);
            await denied(role, user(A), `select nextval('public.${seq}')`);
            await denied(role, user(A), `select last_value from public.${seq}`);
          }
        }
      });

      await t.step("anon reads nothing; the login role alone reads nothing", async () => {
        for (
          const q of [
            "select id from oauth_connections",
            "select id from oauth_refresh_events",
            "select state_hash from oauth_connect_attempts",
          ]
        ) {
          await denied("anon", { role: "anon" }, q);
          await assert.rejects(api.unsafe(q), /permission denied/, `authenticator: ${q}`);
        }
      });

      await t.step("service_role reads and writes everything", async () => {
        const C = crypto.randomUUID();
        await pg.sql`insert into auth.users (id) values (${C})`;
        const seen = await as("service_role", { role: "service_role" }, async (tx) => {
          const all =
            await tx`select user_id, access_token_sealed, refresh_token_sealed from oauth_connections`;
          await tx`insert into oauth_connections (user_id, provider, access_token_sealed)
                   values (${C}, 'google', ${fakeSealed()})`;
          await tx`update oauth_connections set status = 'error' where user_id = ${C}`;
          await tx`insert into oauth_refresh_events (user_id, provider, kind, at, instance)
                   values (${C}, 'google', 'failed', now(), 'svc')`;
          await tx`delete from oauth_refresh_events where user_id = ${C}`;
          await tx`delete from oauth_connections where user_id = ${C}`;
          await tx`select nextval('public.oauth_refresh_events_id_seq')`;
          return all;
        });
        assert.equal(seen.length, 3);
        assert.ok(seen.every((r) => String(r.access_token_sealed).startsWith("v1.")));
      });

      await t.step(
        "Supabase Auth deletes a user (as supabase_auth_admin): their connections go, and the webhook says so",
        async () => {
          // The cascade's row triggers fire as the deleting role, which has no grant on our tables.
          const D = crypto.randomUUID();
          await pg.sql`insert into auth.users (id) values (${D})`;
          await pg
            .sql`insert into oauth_connections (user_id, provider, access_token_sealed, refresh_token_sealed)
                       values (${D}, 'google', ${fakeSealed()}, ${fakeSealed()})`;
          await pg.sql.begin(async (tx) => {
            await tx`set local role supabase_auth_admin`;
            await tx`delete from auth.users where id = ${D}`;
          });
          assert.equal((await pg.sql`select 1 from oauth_connections where user_id = ${D}`).length, 0);
          const sent = await pg
            .sql`select type from oauth_webhook_outbox where body::jsonb -> 'data' ->> 'userId' = ${D}`;
          assert.deepEqual(sent.map((r) => r.type), ["connection.connected", "connection.disconnected"]);
        },
      );

      await t.step(
        "after a signed-in user's setval attack, the owner's token writes still work",
        async () => {
          for (const seq of SEQUENCES) {
            await as(
              "authenticated",
              user(A),
              (tx) => tx.unsafe(`select setval('public.${seq}', ${MAX_BIGINT})`),
            )
              .catch(() => {/* refused: the point of this step is what follows */});
          }
          // The edge functions' store, connected as the migration's owner.
          const db = connectPostgres(pg.url, 1);
          try {
            const store = new PostgresStore(db);
            const now = Date.now();
            for (const provider of ["google", "youtube"]) { // an update (upsert) and a new row
              const row = await store.saveTokens({
                userId: A,
                provider,
                accessTokenSealed: fakeSealed(),
                refreshTokenSealed: fakeSealed(),
                expiresAt: now + 3_600_000,
                refreshTokenExpiresAt: null,
                scope: "openid",
                refreshedAt: now,
                accountId: null,
                accountEmail: null,
                accountName: null,
              });
              assert.equal(row.provider, provider);
              await store.appendEvent({
                userId: A,
                provider,
                kind: "stored",
                code: null,
                message: null,
                at: now,
                durationMs: null,
                attempts: null,
                rotated: null,
                instance: "roles-test",
              });
            }
          } finally {
            await db.close();
          }
          const [n] = await pg.sql`select count(*)::int as n from oauth_connections where user_id = ${A}`;
          assert.equal(n.n, 3);
        },
      );
    } finally {
      await api.end({ timeout: 1 });
      await pg.stop();
    }
  },
});
