// make rekey: a key rotation finished. Tokens sealed with k1 by the real
// manager (some never written again: a GitHub OAuth App's token that never
// expires, a connection without a refresh token), moved to k2 in a real
// Postgres, then read by a manager whose ring holds k2 alone.
import assert from "node:assert/strict";
import initManager, { TokenManager } from "../../pkg/oauth_token_manager.js";
import { connectPostgres } from "../../supabase/functions/_shared/db.ts";
import { hashUser } from "../../supabase/functions/_shared/log.ts";
import { PostgresStore } from "../../supabase/functions/_shared/store.ts";
import {
  exitStatus,
  formatRekeyReport,
  loadRekeyer,
  main,
  rekeyAll,
  sealedByKey,
} from "../../scripts/rekey.ts";
import { randomKey, startPostgres } from "./harness.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const K0 = { id: "k0", key: randomKey() };
const K1 = { id: "k1", key: randomKey() };
const K2 = { id: "k2", key: randomKey() };
const PROVIDERS = {
  google: { clientId: "test-client", clientSecret: "test-secret", tokenUrl: "http://127.0.0.1:9/" },
  github: { clientId: "gh-client", clientSecret: "gh-secret", tokenUrl: "http://127.0.0.1:9/gh" },
};
const users = {
  a: "a1000000-0000-4000-8000-000000000001", // Google, access and refresh token
  b: "b1000000-0000-4000-8000-000000000002", // GitHub OAuth App: a token that never expires, no refresh token
  c: "c1000000-0000-4000-8000-000000000003", // Google, no refresh token
  d: "d1000000-0000-4000-8000-000000000004", // sealed with k0, a key not in the ring
};

Deno.test({
  name: "rekey: every value moved to the current key, so the older one can leave the ring",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const pg = await startPostgres();
    const db = connectPostgres(pg.url, 2);
    await initManager({
      module_or_path: await Deno.readFile(new URL("pkg/oauth_token_manager_bg.wasm", `file://${ROOT}`)),
    });
    const manager = (keys: { id: string; key: string }[]) =>
      new TokenManager({ providers: PROVIDERS, encryptionKeys: keys }, new PostgresStore(db));
    const tokens: Record<string, string> = {};
    const fresh = (name: string) => (tokens[name] = `tok-${name}-${crypto.randomUUID()}`);
    try {
      for (const id of Object.values(users)) await pg.sql`insert into auth.users (id) values (${id})`;
      const before = manager([K1]);
      await before.storeTokens(users.a, "google", {
        accessToken: fresh("a-access"),
        refreshToken: fresh("a-refresh"),
        expiresIn: 3600,
      });
      await before.storeTokens(users.b, "github", { accessToken: fresh("b-access") });
      await before.storeTokens(users.c, "google", { accessToken: fresh("c-access"), expiresIn: 3600 });
      await manager([K0]).storeTokens(users.d, "google", {
        accessToken: fresh("d-access"),
        refreshToken: fresh("d-refresh"),
        expiresIn: 3600,
      });
      const plainBefore = await sealedByKey(pg.sql);
      assert.deepEqual(plainBefore, { k0: 2, k1: 4 });

      // The new key leads the ring; the old one is still in it.
      const rekeyer = await loadRekeyer([K2, K1]);
      assert.equal(rekeyer.currentKeyId, "k2");

      await t.step("a dry run counts and writes nothing", async () => {
        const snapshot = JSON.stringify(await pg.sql`select * from oauth_connections order by id`);
        const r = await rekeyAll({ sql: pg.sql, rekeyer, dryRun: true, batch: 2 });
        assert.equal(r.rekeyed, 4);
        assert.deepEqual(r.before, { k0: 2, k1: 4 });
        assert.deepEqual(r.after, { k0: 2, k1: 4 });
        assert.equal(JSON.stringify(await pg.sql`select * from oauth_connections order by id`), snapshot);
      });

      await t.step("the run moves every value it can open, and names the ones it cannot", async () => {
        const versions = await pg.sql`select user_id, version from oauth_connections order by id`;
        // Nothing the functions sealed with k2 yet: nothing shows the key is theirs, so refused by default.
        const snapshot = JSON.stringify(await pg.sql`select * from oauth_connections order by id`);
        await assert.rejects(
          rekeyAll({ sql: pg.sql, rekeyer, batch: 2 }),
          (e: { code?: string; message: string }) => {
            assert.equal(e.code, "CONFIG");
            assert.match(e.message, /nothing is sealed with the current key \(k2\) yet.*--unverified-key/);
            return true;
          },
        );
        assert.equal(JSON.stringify(await pg.sql`select * from oauth_connections order by id`), snapshot);
        const r = await rekeyAll({ sql: pg.sql, rekeyer, batch: 2, unverifiedKey: true });
        assert.equal(r.rekeyed, 4);
        assert.equal(r.changedMeanwhile, 0);
        assert.deepEqual(r.after, { k0: 2, k2: 4 });
        const d = await hashUser(users.d);
        assert.deepEqual(
          r.failures.map((f) => [f.user, f.provider, f.field, f.code]),
          [[d, "google", "access_token", "CRYPTO_UNKNOWN_KEY"], [
            d,
            "google",
            "refresh_token",
            "CRYPTO_UNKNOWN_KEY",
          ]],
        );
        // Tokens unchanged, so no version moved (a refresh under way still commits).
        assert.deepEqual(await pg.sql`select user_id, version from oauth_connections order by id`, versions);
        const text = formatRekeyReport(r);
        assert.match(text, /still needed: k0/);
        for (const s of [...Object.values(tokens), ...Object.values(users), K0.key, K1.key, K2.key]) {
          assert.ok(
            !text.includes(s) && !JSON.stringify(r).includes(s),
            "the report shows no token, key or user id",
          );
        }
      });

      await t.step("a manager with the new key alone reads every moved token", async () => {
        const after = manager([K2]);
        assert.equal((await after.getValidToken(users.a, "google")).accessToken, tokens["a-access"]);
        assert.equal((await after.getValidToken(users.b, "github")).accessToken, tokens["b-access"]);
        assert.equal((await after.getValidToken(users.c, "google")).accessToken, tokens["c-access"]);
        const st = await after.status(users.a, "google");
        assert.equal(st.status, "connected");
        assert.equal(st.hasRefreshToken, true);
        // A second run has nothing to do.
        assert.equal((await rekeyAll({ sql: pg.sql, rekeyer })).rekeyed, 0);
      });

      await t.step("a value written meanwhile is left as its writer wrote it", async () => {
        await manager([K1]).storeTokens(users.c, "google", {
          accessToken: fresh("c-access-2"),
          expiresIn: 3600,
        });
        // A refresh writes the row between the read and the conditional write:
        // the database handle runs the writer's statement just before it.
        const raced = new Proxy(pg.sql, {
          get(target, key) {
            if (key !== "unsafe") return Reflect.get(target, key);
            return async (text: string, params?: unknown[]) => {
              if (text.startsWith("update public.oauth_connections set access_token_sealed")) {
                await target`update oauth_connections set access_token_sealed = 'v1.k2.written.meanwhile'
                             where user_id = ${users.c}`;
              }
              return await target.unsafe(text, params as never[]);
            };
          },
        });
        const r = await rekeyAll({ sql: raced, rekeyer });
        assert.equal(r.changedMeanwhile, 1);
        assert.equal(r.rekeyed, 0);
        const [{ access_token_sealed: now }] = await pg.sql`
          select access_token_sealed from oauth_connections where user_id = ${users.c}`;
        assert.equal(now, "v1.k2.written.meanwhile", "the other writer's value stands");
        // Put a real value back for the steps after.
        await manager([K2]).storeTokens(users.c, "google", {
          accessToken: fresh("c-access"),
          expiresIn: 3600,
        });
      });

      await t.step(
        "the command: exit 1 while a value cannot be moved, 0 once every value is current",
        async () => {
          const env = (keys: { id: string; key: string }[]) => {
            Deno.env.set("DATABASE_URL", `${pg.url}?pgbouncer=true`); // a pooler's URL, marked
            Deno.env.set("TOKEN_ENCRYPTION_KEYS", keys.map((k) => `${k.id}:${k.key}`).join(","));
          };
          const log = console.log;
          const err = console.error;
          const out: string[] = [];
          console.log = (s: string) => out.push(s);
          console.error = () => {};
          try {
            env([K2, K1]);
            assert.equal(await main([]), 1, "k0's row cannot be opened");
            assert.match(out.join("\n"), /still needed: k0/);
            // The operator adds k0 back for the run: everything moves.
            env([K2, K1, K0]);
            out.length = 0;
            assert.equal(await main(["--json"]), 0);
            const report = JSON.parse(out.join("\n"));
            assert.deepEqual(report.after, { k2: 6 });
            assert.equal(report.failures.length, 0);
          } finally {
            console.log = log;
            console.error = err;
            Deno.env.delete("DATABASE_URL");
            Deno.env.delete("TOKEN_ENCRYPTION_KEYS");
          }
          const after = manager([K2]);
          assert.equal((await after.getValidToken(users.d, "google")).accessToken, tokens["d-access"]);
        },
      );

      await t.step(
        "a current key that does not open the functions' own seals is refused before any write",
        async () => {
          // The right id, other material (a typo): every value would be resealed for good with a key no function has.
          await manager([K2, K1]).storeTokens(users.c, "google", {
            accessToken: fresh("c2-access"),
            expiresIn: 3600,
          });
          const snapshot = JSON.stringify(await pg.sql`select * from oauth_connections order by id`);
          const typo = await loadRekeyer([{ id: "k2", key: randomKey() }, K1]);
          await assert.rejects(
            rekeyAll({ sql: pg.sql, rekeyer: typo }),
            (e: { code?: string; message: string }) => {
              assert.equal(e.code, "CONFIG");
              assert.match(e.message, /does not open what the functions sealed with it/);
              return true;
            },
          );
          assert.equal(JSON.stringify(await pg.sql`select * from oauth_connections order by id`), snapshot);
        },
      );
    } finally {
      await db.close();
      await pg.stop();
    }
  },
});

Deno.test("rekey's exit status: 1 while a value is still under another ring key after a real run", () => {
  const report = (after: Record<string, number>, dryRun = false) => ({
    currentKeyId: "k2",
    dryRun,
    before: { k1: 3, k2: 3 },
    after,
    rekeyed: 3,
    changedMeanwhile: 0,
    failures: [],
  });
  assert.equal(exitStatus(report({ k2: 6 })), 0);
  // A writer still on the old keyring rewrote a row the scan had passed: k1 must stay.
  assert.equal(exitStatus(report({ k1: 1, k2: 5 })), 1);
  assert.equal(exitStatus(report({ k2: 5, legacy: 1 })), 0, "legacy values need no ring key");
  assert.equal(
    exitStatus(report({ k1: 3, k2: 3 }, true)),
    0,
    "a dry run says only whether every value opens",
  );
});
