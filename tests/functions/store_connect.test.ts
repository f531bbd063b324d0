// The Postgres store's connect methods and accounts on a real Postgres 15:
// one claim per state however many callbacks race, single-use tickets, the
// purge of old attempts, and accounts that sign-ins set and refreshes keep.
import assert from "node:assert/strict";
import type { ConnectAttempt, TokenWrite } from "../../pkg/oauth_token_manager.js";
import { connectPostgres } from "../../supabase/functions/_shared/db.ts";
import { PostgresStore } from "../../supabase/functions/_shared/store.ts";
// @ts-types="../../pkg/stores/postgres.d.ts"
import { PostgresStore as PackageStore } from "../../pkg/stores/postgres.js";
import { startPostgres, USER } from "./harness.ts";
import { MAX_CONNECTS_PER_USER } from "../../js/stores/schema.js";

const DAY = 86_400_000;

function attempt(stateHash: string, createdAt: number, o: Partial<ConnectAttempt> = {}): ConnectAttempt {
  return {
    stateHash,
    userId: USER,
    provider: "spotify",
    verifierSealed: `v1.k1.${crypto.randomUUID()}`,
    redirectUri: "http://127.0.0.1:54321/functions/v1/connections/callback",
    returnTo: "http://localhost:5173/app?x=1#y",
    scopes: ["user-read-email", "user-read-private"],
    createdAt,
    expiresAt: createdAt + 600_000,
    codeSealed: null,
    ticketHash: null,
    ...o,
  };
}

const write = (o: Partial<TokenWrite> = {}): TokenWrite => ({
  userId: USER,
  provider: "spotify",
  accessTokenSealed: `v1.k1.${crypto.randomUUID()}`,
  refreshTokenSealed: null,
  expiresAt: Date.now() + 3_600_000,
  refreshTokenExpiresAt: null,
  scope: "user-read-email",
  refreshedAt: Date.now(),
  accountId: null,
  accountEmail: null,
  accountName: null,
  ...o,
});

Deno.test({
  name: "store: connect attempts and accounts in Postgres",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const pg = await startPostgres();
    const db = connectPostgres(pg.url, 8);
    const store = new PostgresStore(db);
    try {
      await pg.sql`insert into auth.users (id) values (${USER})`;
      const now = Date.now();
      const s1 = attempt("s1", now);

      await t.step("putConnect round-trips an attempt and purges those a day past expiry", async () => {
        await store.putConnect(attempt("old", now - 2 * DAY));
        await store.putConnect(attempt("recent", now - DAY / 2));
        await store.putConnect(s1);
        const left = await pg.sql`select state_hash from oauth_connect_attempts order by state_hash`;
        assert.deepEqual(left.map((r) => r.state_hash), ["recent", "s1"]);
      });

      await t.step(
        "putConnect keeps a user's newest connects only: one more forgets the oldest",
        async () => {
          const other = crypto.randomUUID();
          await pg.sql`insert into auth.users (id) values (${other})`;
          // The oldest is back from the provider (claimed), waiting for its completion: it stays.
          await store.putConnect(attempt("cap-back", now - 1, { userId: other }));
          await store.claimConnect({
            stateHash: "cap-back",
            codeSealed: "v1.k1.c",
            ticketHash: "t-back",
            now,
          });
          for (let i = 0; i < MAX_CONNECTS_PER_USER + 5; i++) {
            await store.putConnect(attempt(`cap-${String(i).padStart(2, "0")}`, now + i, { userId: other }));
          }
          const kept = await pg.sql`select state_hash from oauth_connect_attempts where user_id = ${other}
          order by state_hash`;
          assert.equal(kept.length, MAX_CONNECTS_PER_USER);
          assert.equal(kept[0].state_hash, "cap-06", "the six oldest not back from the provider went");
          assert.equal(kept[kept.length - 2].state_hash, `cap-${MAX_CONNECTS_PER_USER + 4}`);
          assert.equal(kept[kept.length - 1].state_hash, "cap-back", "the one back from the provider stays");
          const mine = await pg.sql`select state_hash from oauth_connect_attempts where user_id = ${USER}`;
          assert.equal(mine.length, 2, "another user's connects are untouched");
          await pg.sql`delete from oauth_connect_attempts where user_id = ${other}`;
        },
      );

      await t.step("claimConnect: one claim however many callbacks race; the rest are replays", async () => {
        const claims = await Promise.all(
          Array.from(
            { length: 8 },
            (_, i) =>
              store.claimConnect({
                stateHash: "s1",
                codeSealed: `code-${i}`,
                ticketHash: `ticket-${i}`,
                now,
              }),
          ),
        );
        const won = claims.filter((c) => c.outcome === "claimed");
        assert.equal(won.length, 1);
        assert.equal(claims.filter((c) => c.outcome === "used").length, 7);
        // The attempt as it was before the claim, every field read back.
        assert.deepEqual(won[0].outcome === "claimed" && won[0].attempt, s1);
        const [row] = await pg.sql`select code_sealed, ticket_hash, claimed_at from oauth_connect_attempts
                                    where state_hash = 's1'`;
        const i = row.ticket_hash.slice("ticket-".length);
        assert.equal(row.code_sealed, `code-${i}`);
        assert.ok(row.claimed_at);
        assert.deepEqual(
          await store.claimConnect({ stateHash: "nope", codeSealed: null, ticketHash: null, now }),
          {
            outcome: "missing",
          },
        );
      });

      await t.step("takeConnect: the ticket's attempt once, then nothing", async () => {
        const [row] = await pg.sql`select ticket_hash from oauth_connect_attempts where state_hash = 's1'`;
        const taken = await store.takeConnect({ ticketHash: row.ticket_hash });
        assert.equal(taken?.stateHash, "s1");
        assert.equal(taken?.ticketHash, row.ticket_hash);
        assert.equal(await store.takeConnect({ ticketHash: row.ticket_hash }), null);
      });

      await t.step(
        "signinDigest: a sign-in's write sets it; a refresh, a disconnect and a write without one keep it",
        async () => {
          const user = { userId: USER, provider: "digest" };
          const signedIn = await store.saveTokens(write({ ...user, signinDigest: "d1" }));
          assert.equal(signedIn.signinDigest, "d1");
          assert.ok(await store.commitRefresh({ write: write(user), expectedVersion: signedIn.version }));
          assert.equal((await store.load(user))?.signinDigest, "d1");
          await store.disconnect({ ...user, at: Date.now() });
          assert.equal((await store.load(user))?.signinDigest, "d1");
          assert.equal((await store.saveTokens(write(user))).signinDigest, "d1");
          assert.equal((await store.saveTokens(write({ ...user, signinDigest: "d2" }))).signinDigest, "d2");
          await pg.sql`delete from oauth_connections where provider = 'digest'`;
        },
      );

      await t.step(
        "accounts: a sign-in sets them, null keeps them, a refresh never touches them",
        async () => {
          const first = await store.saveTokens(
            write({ accountId: "ada", accountEmail: "ada@example.com", accountName: "Ada" }),
          );
          assert.deepEqual([first.accountId, first.accountEmail, first.accountName], [
            "ada",
            "ada@example.com",
            "Ada",
          ]);
          const kept = await store.saveTokens(write());
          assert.deepEqual([kept.accountId, kept.accountEmail, kept.accountName], [
            "ada",
            "ada@example.com",
            "Ada",
          ]);
          // A new grant of an account not read: the stored account is not kept.
          const forgot = await store.saveTokens(write({ forgetStoredAccount: true }));
          assert.deepEqual([forgot.accountId, forgot.accountEmail, forgot.accountName], [null, null, null]);
          const again = await store.saveTokens(
            write({ accountId: "ada", accountEmail: "ada@example.com", accountName: "Ada" }),
          );
          const ok = await store.commitRefresh({
            write: write({ accountId: "someone-else", accountEmail: "x@example.com", accountName: "X" }),
            expectedVersion: again.version,
          });
          assert.ok(ok);
          const row = await store.load({ userId: USER, provider: "spotify" });
          assert.deepEqual([row?.accountId, row?.accountEmail, row?.accountName], [
            "ada",
            "ada@example.com",
            "Ada",
          ]);
          await store.saveTokens(write({ provider: "discord", accountId: "d1" }));
          const all = await store.loadAll({ userId: USER });
          assert.deepEqual(all.map((r) => [r.provider, r.accountId]), [["discord", "d1"], [
            "spotify",
            "ada",
          ]]);
        },
      );

      await t.step(
        "recordFailure writes only on the version it was given (or any, without one)",
        async () => {
          const withRefresh = () =>
            write({ provider: "spotify", refreshTokenSealed: `v1.k1.${crypto.randomUUID()}` });
          const row = await store.saveTokens(withRefresh());
          const failure = (expectedVersion: number | null) => ({
            userId: USER,
            provider: "spotify",
            owner: "",
            status: "needs_reauth" as const,
            code: "REAUTH_REQUIRED" as const,
            message: "the refresh token was refused",
            at: Date.now(),
            failureCount: 1,
            cooldownUntil: null,
            eraseRefreshToken: true,
            expectedVersion,
          });
          const state = async () =>
            (await pg.sql`select status, refresh_token_sealed is not null as has_refresh
                          from oauth_connections where provider = 'spotify'`)[0];
          // Tokens saved since the refresh began: its failure lands nowhere.
          await store.recordFailure(failure(row.version - 1));
          assert.deepEqual({ ...(await state()) }, { status: "connected", has_refresh: true });
          await store.recordFailure(failure(row.version));
          assert.deepEqual({ ...(await state()) }, { status: "needs_reauth", has_refresh: false });
          await store.saveTokens(withRefresh());
          await store.recordFailure(failure(null));
          assert.equal((await state()).status, "needs_reauth");
        },
      );

      await t.step(
        "saveTokens with keepStoredRefreshToken keeps the refresh token the row holds when it lands",
        async () => {
          const base = await store.saveTokens(
            write({
              provider: "discord",
              refreshTokenSealed: "v1.k1.read-before",
              refreshTokenExpiresAt: 1_900_000_000_000,
            }),
          );
          // A refresh rotates it between the sign-in's read and its write.
          await pg.sql`update oauth_connections set refresh_token_sealed = 'v1.k1.rotated',
                         refresh_token_expires_at = to_timestamp(1950000000)
                       where user_id = ${USER} and provider = 'discord'`;
          const saved = await store.saveTokens(
            write({
              provider: "discord",
              refreshTokenSealed: "v1.k1.read-before",
              refreshTokenExpiresAt: 1_900_000_000_000,
              keepStoredRefreshToken: true,
            }),
          );
          assert.equal(saved.refreshTokenSealed, "v1.k1.rotated");
          assert.equal(saved.refreshTokenExpiresAt, 1_950_000_000_000);
          assert.equal(saved.version, base.version + 1);
          // A lease held meanwhile (a refresh sending the kept token) stays
          // its holder's: no one else may send that token while it runs.
          const now = Date.now();
          const lease = await store.tryLease({
            userId: USER,
            provider: "discord",
            owner: "holder",
            now,
            until: now + 60_000,
          });
          assert.equal(lease.outcome, "acquired");
          const kept = await store.saveTokens(write({ provider: "discord", keepStoredRefreshToken: true }));
          assert.equal(kept.leaseOwner, "holder");
          assert.equal(
            (await store.tryLease({
              userId: USER,
              provider: "discord",
              owner: "other",
              now,
              until: now + 60_000,
            }))
              .outcome,
            "busy",
          );
          // Without the flag (a grant's own refresh token, another account's), the write's.
          const replaced = await store.saveTokens(
            write({
              provider: "discord",
              refreshTokenSealed: "v1.k1.new-grant",
              refreshTokenExpiresAt: null,
            }),
          );
          assert.equal(replaced.refreshTokenSealed, "v1.k1.new-grant");
          assert.equal(replaced.refreshTokenExpiresAt, null);
          assert.equal(replaced.leaseOwner, null, "a new grant's write frees the lease");
          // With it and nothing stored (erased since the read: invalid_grant,
          // a disconnect): nothing, not the dead copy read before.
          await pg
            .sql`update oauth_connections set refresh_token_sealed = null where user_id = ${USER} and provider = 'discord'`;
          const erased = await store.saveTokens(
            write({ provider: "discord", refreshTokenSealed: "v1.k1.copy", keepStoredRefreshToken: true }),
          );
          assert.equal(erased.refreshTokenSealed, null);
          // Two sign-ins at once: one read no row, and the other's insert,
          // with the grant's only refresh token, landed first. The same
          // account's (or an unknown one's) keeps it; another account's not.
          const landed = (provider: string) =>
            store.saveTokens(
              write({ provider, refreshTokenSealed: "v1.k1.first-consent", accountId: "acct-a" }),
            );
          for (
            const [provider, accountId, expected] of [
              ["gmail", "acct-a", "v1.k1.first-consent"],
              ["youtube", null, "v1.k1.first-consent"],
              ["google-calendar", "acct-b", null],
            ] as const
          ) {
            await landed(provider);
            const second = await store.saveTokens(
              write({ provider, accountId, keepStoredRefreshToken: true }),
            );
            assert.equal(second.refreshTokenSealed, expected, `${provider}: ${accountId}`);
          }
        },
      );

      await t.step("commitRefresh records its event in the same statement, only when it writes", async () => {
        assert.equal(store.commitsEvents, true);
        const row = await store.saveTokens(write({ provider: "github" }));
        const event = {
          userId: USER,
          provider: "github",
          kind: "refreshed" as const,
          code: null,
          message: null,
          at: Date.now(),
          durationMs: 42,
          attempts: 1,
          rotated: true,
          scopesAdded: ["repo"],
          scopesRemoved: [],
          instance: "test",
        };
        const count = async () =>
          (await pg.sql`select count(*)::int as n from oauth_refresh_events where provider = 'github'`)[0].n;
        // A moved version writes nothing, and records nothing.
        assert.equal(
          await store.commitRefresh({
            write: write({ provider: "github" }),
            expectedVersion: row.version + 7,
            event,
          }),
          false,
        );
        assert.equal(await count(), 0);
        assert.equal(
          await store.commitRefresh({
            write: write({ provider: "github" }),
            expectedVersion: row.version,
            event,
          }),
          true,
        );
        const [e] = await pg.sql`select kind, duration_ms, attempts, rotated, scopes_added, instance
          from oauth_refresh_events where provider = 'github'`;
        assert.deepEqual({ ...e }, {
          kind: "refreshed",
          duration_ms: 42,
          attempts: 1,
          rotated: true,
          scopes_added: ["repo"],
          instance: "test",
        });
      });

      await t.step("a database behind the migrations: SCHEMA_MISMATCH, not a retryable STORAGE", async () => {
        await pg.sql`alter table oauth_connections rename column signin_digest to signin_digest_x`;
        try {
          // The package's store over postgres.js itself, as a server uses it
          // (the functions check the schema at start instead).
          await assert.rejects(
            new PackageStore(pg.sql).load({ userId: USER, provider: "spotify" }),
            (e: Error & { code?: string }) => {
              assert.equal(e.code, "SCHEMA_MISMATCH");
              assert.match(e.message, /migrations/);
              return true;
            },
          );
        } finally {
          await pg.sql`alter table oauth_connections rename column signin_digest_x to signin_digest`;
        }
      });
    } finally {
      await db.close();
      await pg.stop();
    }
  },
});
