// make import-legacy: legacy `iv:authTag:ciphertext` values, made here the way
// the old Node systems made them (createCipheriv('aes-256-gcm'), 12- and
// 16-byte IVs, no associated data), imported into a real Postgres and then
// opened by the manager's read path in their own row only.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createCipheriv, randomBytes } from "node:crypto";
import initManager, { TokenManager } from "../../pkg/oauth_token_manager.js";
import { connectPostgres } from "../../supabase/functions/_shared/db.ts";
import { hashUser } from "../../supabase/functions/_shared/log.ts";
import { PostgresStore } from "../../supabase/functions/_shared/store.ts";
import {
  failedCount,
  formatReport,
  importLegacy,
  loadResealer,
  type Report,
} from "../../scripts/import-legacy.ts";
import { type Pg, randomKey, startPostgres } from "./harness.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const LEGACY_KEY = randomBytes(32);
const WRONG_KEY = randomBytes(32);
const KEYRING = [{ id: "k1", key: randomKey() }];

/** The old systems' encryptToken(): iv:authTag:ciphertext, all hex. */
function legacySeal(plain: string | Uint8Array, key: Buffer, ivBytes: 12 | 16): string {
  const iv = randomBytes(ivBytes);
  const c = createCipheriv("aes-256-gcm", key, iv);
  const ct = Buffer.concat([
    c.update(typeof plain === "string" ? Buffer.from(plain, "utf8") : plain),
    c.final(),
  ]);
  return `${iv.toString("hex")}:${c.getAuthTag().toString("hex")}:${ct.toString("hex")}`;
}

/** Fake provider tokens: random, shaped like Google's, never real. */
const fakeAccess = () => `ya29.test-${crypto.randomUUID()}`;
const fakeRefresh = () => `1//test-${crypto.randomUUID()}`;

const users = {
  a: "a0000000-0000-4000-8000-000000000001", // legacy access (12-byte IV) and refresh (16-byte IV)
  b: "b0000000-0000-4000-8000-000000000002", // sealed with another key
  c: "c0000000-0000-4000-8000-000000000003", // plaintext that is not UTF-8
  d: "d0000000-0000-4000-8000-000000000004", // not a legacy value at all
  e: "e0000000-0000-4000-8000-000000000005", // an ordinary bound row, to receive a copied value
  f: "f0000000-0000-4000-8000-000000000006", // in the old table, no connection yet
  g: "90000000-0000-4000-8000-000000000007", // in the old table, already reconnected (bound values)
  h: "80000000-0000-4000-8000-000000000008", // in the old table, not a Supabase user
  j: "7abcdef0-0000-4000-8000-00000000000f", // in the JSON-lines file
};

async function snapshot(pg: Pg): Promise<string> {
  return JSON.stringify(await pg.sql`select * from oauth_connections order by id`);
}

async function runCli(env: Record<string, string>, args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "scripts/import-legacy.ts", ...args],
    cwd: ROOT,
    env: {
      NO_COLOR: "1",
      PATH: Deno.env.get("PATH") ?? "",
      HOME: Deno.env.get("HOME") ?? "/root",
      ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
      ...env,
    },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test({
  name: "legacy import",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const pg = await startPostgres();
    const db = connectPostgres(pg.url, 2);
    // Every plaintext and legacy value made here: none may appear in any output.
    const secrets: string[] = [];
    const keep = <T extends string>(v: T) => (secrets.push(v), v);
    const plain = {
      aAccess: keep(fakeAccess()),
      aRefresh: keep(fakeRefresh()),
      fAccess: keep(fakeAccess()),
      fRefresh: keep(fakeRefresh()),
      jAccess: keep(fakeAccess()),
      jRefresh: keep(fakeRefresh()),
    };
    const assertNoSecret = (text: string, what: string) => {
      for (const s of [...secrets, LEGACY_KEY.toString("hex"), KEYRING[0].key, ...Object.values(users)]) {
        assert.ok(!text.includes(s), `${what} shows a token, key or user id`);
      }
    };
    const env = {
      // As a transaction pooler's URL is often given: the marker is not sent to the server.
      DATABASE_URL: `${pg.url}?pgbouncer=true`,
      // DATABASE_URL first, as in the functions: a SUPABASE_DB_URL left in
      // the shell (local development's) is not the database worked on.
      SUPABASE_DB_URL: "postgres://nobody@127.0.0.1:1/elsewhere",
      LEGACY_ENCRYPTION_KEY: LEGACY_KEY.toString("hex"),
      TOKEN_ENCRYPTION_KEYS: KEYRING.map((k) => `${k.id}:${k.key}`).join(","),
    };
    const resealer = await loadResealer(env.LEGACY_ENCRYPTION_KEY, KEYRING);
    // The importer is its own build (pkg/legacy/); the manager that reads the result is the server's.
    await initManager({
      module_or_path: await Deno.readFile(new URL("pkg/oauth_token_manager_bg.wasm", `file://${ROOT}`)),
    });
    const manager = new TokenManager(
      {
        providers: {
          google: { clientId: "test-client", clientSecret: "test-secret", tokenUrl: "http://127.0.0.1:9/" },
          "google-calendar": { clientId: "c", clientSecret: "s", tokenUrl: "http://127.0.0.1:9/gc" },
        },
        encryptionKeys: KEYRING,
      },
      new PostgresStore(db),
    );
    const row = async (user: string, provider = "google") =>
      (await pg.sql`select * from oauth_connections where user_id = ${user} and provider = ${provider}`)[0];

    try {
      for (const id of Object.values(users).filter((u) => u !== users.h)) {
        await pg.sql`insert into auth.users (id) values (${id})`;
      }
      const insert = (user: string, access: string | null, refresh: string | null) =>
        pg.sql`insert into oauth_connections (user_id, provider, access_token_sealed, refresh_token_sealed,
                 expires_at, scope, token_refreshed_at, version)
               values (${user}, 'google', ${access}, ${refresh}, now() + interval '1 hour',
                 'openid email', now(), 1)`;
      await insert(
        users.a,
        keep(legacySeal(plain.aAccess, LEGACY_KEY, 12)),
        keep(legacySeal(plain.aRefresh, LEGACY_KEY, 16)),
      );
      await insert(users.b, keep(legacySeal(fakeAccess(), WRONG_KEY, 12)), null);
      await insert(users.c, null, keep(legacySeal(new Uint8Array([0xff, 0xfe, 0x80]), LEGACY_KEY, 16)));
      await insert(users.d, "zz:not-hex:00", null);
      await insert(users.e, `v1.k1.${crypto.randomUUID()}.x`, null);

      await t.step("the read path refuses a legacy value (CRYPTO_UNBOUND) before the import", async () => {
        await assert.rejects(manager.getValidToken(users.a, "google"), { code: "CRYPTO_UNBOUND" });
      });

      let dry: Report;
      await t.step("a dry run opens and counts everything and writes nothing", async () => {
        const before = await snapshot(pg);
        dry = await importLegacy({
          databaseUrl: pg.url,
          source: { kind: "connections" },
          resealer,
          dryRun: true,
        });
        assert.equal(await snapshot(pg), before);
        assert.equal(dry.read, 4);
        assert.equal(dry.imported, 1);
        assert.deepEqual(dry.couldNotOpen, { "wrong key": 1, malformed: 1, "not utf8": 1 });
        assert.equal(failedCount(dry), 3);
      });

      await t.step(
        "the import reseals each value bound to its row and reports what it could not open",
        async () => {
          const r = await importLegacy({ databaseUrl: pg.url, source: { kind: "connections" }, resealer });
          assert.equal(r.read, 4);
          assert.equal(r.imported, 1);
          assert.deepEqual(r.couldNotOpen, dry.couldNotOpen);
          assert.deepEqual(r.couldNotWrite, {});
          const a = await row(users.a);
          assert.match(a.access_token_sealed, /^v1\.k1\./);
          assert.match(a.refresh_token_sealed, /^v1\.k1\./);
          assert.equal(a.version, "1"); // the same tokens: no new version, no new marker
          // The ones that could not be opened are untouched and named by hashed user id.
          assert.ok(!(await row(users.b)).access_token_sealed.startsWith("v1."));
          const expected = [
            {
              user: await hashUser(users.b),
              provider: "google",
              ref: null,
              field: "access_token",
              reason: "wrong key",
            },
            {
              user: await hashUser(users.c),
              provider: "google",
              ref: null,
              field: "refresh_token",
              reason: "not utf8",
            },
            {
              user: await hashUser(users.d),
              provider: "google",
              ref: null,
              field: "access_token",
              reason: "malformed",
            },
          ];
          assert.deepEqual(r.failures, expected);
          const text = formatReport(r);
          for (const f of expected) assert.ok(text.includes(`user ${f.user}  provider google`));
          assertNoSecret(text, "the report");
        },
      );

      await t.step("an imported token opens in its own row only", async () => {
        const got = await manager.getValidToken(users.a, "google");
        assert.ok(got.accessToken === plain.aAccess, "A's access token opens in A's row");
        // Copied into another user's row, or the other column, it does not open.
        const a = await row(users.a);
        await pg.sql`update oauth_connections set access_token_sealed = ${a.access_token_sealed},
                       status = 'connected', last_error_code = null, cooldown_until = null
                     where user_id = ${users.e}`;
        await assert.rejects(manager.getValidToken(users.e, "google"), { code: "CRYPTO_INTEGRITY" });
        await pg.sql`update oauth_connections set access_token_sealed = ${a.refresh_token_sealed}
                     where user_id = ${users.a}`;
        await assert.rejects(manager.getValidToken(users.a, "google"), { code: "CRYPTO_INTEGRITY" });
        await pg.sql`update oauth_connections set access_token_sealed = ${a.access_token_sealed},
                       status = 'connected', last_error_code = null, last_error_message = null,
                       failure_count = 0, cooldown_until = null
                     where user_id = ${users.a}`;
      });

      await t.step("running it again changes nothing", async () => {
        const before = await snapshot(pg);
        const r = await importLegacy({ databaseUrl: pg.url, source: { kind: "connections" }, resealer });
        assert.equal(r.read, 3); // only the three that could not be opened are still legacy
        assert.equal(r.imported, 0);
        assert.equal(failedCount(r), 3);
        assert.equal(await snapshot(pg), before);
      });

      await t.step("a row the read path marked CRYPTO_UNBOUND is connected again once imported", async () => {
        const fresh = "60000000-0000-4000-8000-00000000000a";
        await pg.sql`insert into auth.users (id) values (${fresh})`;
        await insert(fresh, keep(legacySeal(keep(fakeAccess()), LEGACY_KEY, 16)), null);
        await assert.rejects(manager.getValidToken(fresh, "google"), { code: "CRYPTO_UNBOUND" });
        await pg.sql`update oauth_connections set status = 'error', last_error_code = 'CRYPTO_UNBOUND',
                       failure_count = 1 where user_id = ${fresh}`;
        await importLegacy({ databaseUrl: pg.url, source: { kind: "connections" }, resealer });
        const r = await row(fresh);
        assert.equal(r.status, "connected");
        assert.equal(r.last_error_code, null);
        assert.equal(r.failure_count, 0);
        await manager.getValidToken(fresh, "google");
      });

      await t.step(
        "from an old table: new rows inserted, newer bound values kept, unknown users reported",
        async () => {
          // The shape of the Python system's user_oauth_tokens (seed 002), keyed here by Supabase user id.
          await pg.sql.unsafe(`create table public.user_oauth_tokens (
          id serial primary key, user_id uuid not null, service text not null, access_token text not null,
          refresh_token text, token_expiry timestamptz, scope text, service_user_id text, service_email text)`);
          const expiry = new Date(Date.now() + 1800_000);
          const old = (user: string, access: string, refresh: string | null) =>
            pg.sql`insert into user_oauth_tokens (user_id, service, access_token, refresh_token, token_expiry, scope)
                 values (${user}, 'GOOGLE_CALENDAR', ${access}, ${refresh}, ${expiry}, 'calendar.events')`;
          await old(
            users.f,
            keep(legacySeal(plain.fAccess, LEGACY_KEY, 12)),
            keep(legacySeal(plain.fRefresh, LEGACY_KEY, 16)),
          );
          await old(users.g, keep(legacySeal(keep(fakeAccess()), LEGACY_KEY, 12)), null);
          await old(users.h, keep(legacySeal(keep(fakeAccess()), LEGACY_KEY, 12)), null);
          // G signed in again through the new system: its bound values are newer than the old table's
          // (sealed by the functions' manager with the current key: what the importer checks its key against).
          await manager.storeTokens(users.g, "google-calendar", {
            accessToken: keep(fakeAccess()),
            refreshToken: keep(`1//${crypto.randomUUID()}`),
            expiresIn: 3600,
          });
          const gRow = await row(users.g, "google-calendar");
          const gBound = { access: gRow.access_token_sealed, refresh: gRow.refresh_token_sealed };
          const args = [
            "--from-table",
            "public.user_oauth_tokens",
            "--provider-map",
            "GOOGLE_CALENDAR=google-calendar",
          ];

          const before = await snapshot(pg);
          const dryRun = await runCli(env, [...args, "--dry-run"]);
          assert.equal(await snapshot(pg), before, "the dry run wrote nothing");
          assert.equal(dryRun.code, 1, dryRun.stderr);
          assert.match(dryRun.stdout, /would import\s+1\b/);

          const run = await runCli(env, args);
          assert.equal(run.code, 1, "a row failed: non-zero exit");
          assert.match(run.stdout, /read\s+3\b/);
          assert.match(run.stdout, /imported\s+1\b/);
          assert.match(run.stdout, /already bound\s+1\b/);
          assert.match(run.stdout, /could not write\s+1\s+\(user not in auth\.users 1\)/);
          assert.ok(run.stdout.includes(`user ${await hashUser(users.h)}  provider google-calendar`));
          assertNoSecret(run.stdout + run.stderr, "the command's output");

          const f = await row(users.f, "google-calendar");
          assert.match(f.access_token_sealed, /^v1\.k1\./);
          assert.match(f.refresh_token_sealed, /^v1\.k1\./);
          assert.equal(f.scope, "calendar.events");
          assert.ok(Math.abs(new Date(f.expires_at).getTime() - expiry.getTime()) <= 1, "the old expiry");
          const g = await row(users.g, "google-calendar");
          assert.deepEqual([g.access_token_sealed, g.refresh_token_sealed], [gBound.access, gBound.refresh]);
          assert.equal(await row(users.h, "google-calendar"), undefined);

          const again = await runCli(env, [...args, "--json"]);
          const report = JSON.parse(again.stdout) as Report;
          assert.equal(report.imported, 0);
          assert.equal(report.alreadyBound, 2);
          assert.deepEqual(report.couldNotWrite, { "user not in auth.users": 1 });
          assert.equal((await row(users.f, "google-calendar")).access_token_sealed, f.access_token_sealed);

          // F disconnects; G's connection holds a legacy value the old system wrote after the table's.
          await pg.sql`update oauth_connections set access_token_sealed = null, refresh_token_sealed = null,
            status = 'disconnected' where user_id = ${users.f}`;
          const newer = keep(legacySeal(keep(fakeAccess()), LEGACY_KEY, 12));
          await pg
            .sql`update oauth_connections set access_token_sealed = ${newer}, refresh_token_sealed = null
            where user_id = ${users.g}`;
          const third = JSON.parse((await runCli(env, [...args, "--json"])).stdout) as Report;
          assert.equal(third.imported, 0);
          assert.deepEqual(third.skipped, {
            "the connection is disconnected": 1,
            "another legacy value is stored": 1,
          });
          const fAfter = await row(users.f, "google-calendar");
          assert.deepEqual(
            [fAfter.access_token_sealed, fAfter.refresh_token_sealed],
            [null, null],
            "not brought back",
          );
          assert.equal(
            (await row(users.g, "google-calendar")).access_token_sealed,
            newer,
            "the newer value stays",
          );
          await pg.sql`update oauth_connections set access_token_sealed = ${gBound.access},
            refresh_token_sealed = ${gBound.refresh} where user_id = ${users.g}`;
        },
      );

      await t.step("from a JSON-lines file, with --limit and a line that is not JSON", async () => {
        const path = await Deno.makeTempFile({ suffix: ".jsonl" });
        try {
          await Deno.writeTextFile(
            path,
            [
              JSON.stringify({
                user_id: users.j.toUpperCase(), // bound to the lower-case id the read path uses
                platform: "google",
                access_token: keep(legacySeal(plain.jAccess, LEGACY_KEY, 12)),
                refresh_token: keep(legacySeal(plain.jRefresh, LEGACY_KEY, 16)),
                token_expires_at: new Date(Date.now() + 3600_000).toISOString(),
              }),
              "{ not json",
              JSON.stringify({
                userId: users.j,
                provider: "gmail",
                accessToken: keep(legacySeal("x", LEGACY_KEY, 12)),
              }),
            ].join("\n") + "\n",
          );
          const limited = await importLegacy({
            databaseUrl: pg.url,
            source: { kind: "jsonl", path },
            resealer,
            limit: 2,
          });
          assert.equal(limited.read, 2);
          assert.equal(limited.imported, 1);
          assert.equal(limited.couldNotOpen.malformed, 1);
          assert.equal(limited.failures[0].ref, "line 2");
          const j = await row(users.j);
          assert.match(j.refresh_token_sealed, /^v1\.k1\./);
          const got = await manager.getValidToken(users.j, "google");
          assert.ok(got.accessToken === plain.jAccess, "J's access token opens in J's row");
          assert.equal(await row(users.j, "gmail"), undefined, "--limit stopped before line 3");
        } finally {
          await Deno.remove(path);
        }
      });

      await t.step(
        "a current key that is not the functions' is refused before any write, and so is one nothing shows",
        async () => {
          // A legacy value waiting in place: what a wrong key would replace for good.
          await pg.sql`update oauth_connections set access_token_sealed = ${
            legacySeal(keep(fakeAccess()), LEGACY_KEY, 12)
          } where user_id = ${users.e}`;
          const before = await snapshot(pg);
          const k1 = KEYRING.find((k) => k.id === "k1")!;
          const typo = await runCli({ ...env, TOKEN_ENCRYPTION_KEYS: `k1:${randomKey()}` }, []);
          assert.equal(typo.code, 2, typo.stdout + typo.stderr);
          assert.match(typo.stderr, /does not open what the functions sealed with it/);
          // A new current key nothing was sealed with yet: nothing shows it is the functions'.
          const keys = `k9:${randomKey()},k1:${k1.key}`;
          const unseen = await runCli({ ...env, TOKEN_ENCRYPTION_KEYS: keys }, []);
          assert.equal(unseen.code, 2, unseen.stdout + unseen.stderr);
          assert.match(unseen.stderr, /nothing is sealed with the current key \(k9\) yet.*--unverified-key/);
          assert.equal(await snapshot(pg), before, "nothing was written");
          // The operator's word for it: written.
          const anyway = await runCli({ ...env, TOKEN_ENCRYPTION_KEYS: keys }, ["--unverified-key"]);
          assert.match(anyway.stdout, /imported\s+1\b/, anyway.stdout + anyway.stderr);
          assert.match((await row(users.e)).access_token_sealed, /^v1\.k9\./);
        },
      );

      await t.step("exit 0 when nothing failed; exit 2 naming a missing key", async () => {
        await pg.sql`delete from oauth_connections where user_id in (${users.b}, ${users.c}, ${users.d})`;
        const ok = await runCli(env, []);
        assert.equal(ok.code, 0, ok.stdout + ok.stderr);
        assert.match(ok.stdout, /read\s+0\b/);
        const noKey = await runCli({ ...env, LEGACY_ENCRYPTION_KEY: "" }, []);
        assert.equal(noKey.code, 2);
        assert.match(noKey.stderr, /LEGACY_ENCRYPTION_KEY/);
        const badKey = await runCli({ ...env, LEGACY_ENCRYPTION_KEY: "too-short" }, ["--dry-run"]);
        assert.equal(badKey.code, 2);
        assert.match(badKey.stderr, /CONFIG/);
        assert.ok(!badKey.stderr.includes("too-short"));
      });
    } finally {
      manager.free();
      await db.close();
      await pg.stop();
    }
  },
});
