// The refresh path over HTTP: expiry, re-auth, rate limits, provider
// failures, proactive refresh, rotation with a failing database write, a
// killed lease holder, and a database missing a column.
import assert from "node:assert/strict";
import { control, counters, type Stack, startFunctions, startStack, USER } from "./harness.ts";

const MEET = { summary: "Sync", start: "2026-11-24T09:00:00Z", end: "2026-11-24T09:30:00Z" };
let seq = 0;
const meet = () => ({ ...MEET, requestId: `r-${++seq}` });

/** Makes the stored token look expired (or expiring in `inSeconds`). */
/** The token ends in `inSeconds`: an hour-long token near its end (issued an hour before it expires). */
async function expireInDb(s: Stack, inSeconds = -1) {
  await s.pg.sql`update oauth_connections
    set expires_at = now() + ${inSeconds} * interval '1 second',
        token_refreshed_at = least(token_refreshed_at, now() + ${inSeconds} * interval '1 second' - interval '1 hour')
    where user_id = ${USER}`;
}

async function clearCooldown(s: Stack) {
  await s.pg.sql`update oauth_connections
    set cooldown_until = null, failure_count = 0, status = 'connected', last_error_code = null where user_id = ${USER}`;
}

/** An expired connection whose refresh lease server 0 takes, hanging in the provider call, and then dies. */
async function killLeaseHolder(s: Stack) {
  await s.connect(USER);
  await expireInDb(s);
  await control(s, "faults", { kind: "hang", count: 1, hangMs: 30_000 });
  const doomed = s.call("refresh-google-token", { body: {}, server: 0 }).catch(() => null);
  for (let i = 0; i < 100; i++) {
    const [row] = await s.pg.sql`select lease_owner from oauth_connections where user_id = ${USER}`;
    if (row.lease_owner) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  s.fns[0].child.kill("SIGKILL");
  await doomed;
}

const ms = (iso: string | null) => (iso ? Date.parse(iso) : 0);

Deno.test({
  name: "refresh path",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const s = await startStack({ env: { PROVIDER_TIMEOUT_MS: "800" } });
    try {
      await s.connect(USER);
      const first = await s.call("get-token-status", { method: "GET" });
      const marker0 = first.headers.get("x-token-refreshed-at");

      await t.step(
        "an expired token is refreshed once; the marker moves forward; status is updated",
        async () => {
          await expireInDb(s);
          const before = await counters(s);
          const r = await s.call("create-google-meet", { body: meet() });
          assert.equal(r.status, 201, JSON.stringify(r.json));
          const after = await counters(s);
          assert.equal(after.refreshGrants - before.refreshGrants, 1);
          const marker = r.headers.get("x-token-refreshed-at");
          assert.ok(ms(marker) > ms(marker0), `${marker} > ${marker0}`);
          const st = await s.call("get-token-status", { method: "GET" });
          assert.equal(st.json.status, "connected");
          assert.ok((st.json.expiresAt as number) > Date.now() + 3000_000);
          const ev = await s.pg
            .sql`select kind from oauth_refresh_events where user_id = ${USER} order by id`;
          assert.deepEqual(ev.map((e) => e.kind), ["stored", "refreshed"]);
        },
      );

      await t.step("a token Google already expired: 401, one forced refresh, retried, success", async () => {
        await control(s, "expire", { email: `${USER}@example.com` });
        const before = await counters(s);
        const r = await s.call("create-google-meet", { body: meet() });
        assert.equal(r.status, 201);
        const after = await counters(s);
        assert.equal(after.calendar401 - before.calendar401, 1);
        assert.equal(after.refreshGrants - before.refreshGrants, 1);
      });

      await t.step(
        "429 → RATE_LIMITED with retryAfter, and no provider call during the cooldown",
        async () => {
          await expireInDb(s);
          await control(s, "faults", { kind: "429", count: 1, retryAfter: 120 });
          const before = await counters(s);
          const r = await s.call("refresh-google-token", { body: {} });
          assert.equal(r.status, 429);
          assert.equal(r.json.code, "RATE_LIMITED");
          assert.ok(
            (r.json.retryAfter as number) >= 119 && (r.json.retryAfter as number) <= 120,
            String(r.json.retryAfter),
          );
          assert.equal(r.headers.get("retry-after"), String(r.json.retryAfter));
          const again = await s.call("create-google-meet", { body: meet() });
          assert.equal(again.status, 429);
          assert.equal(again.json.code, "RATE_LIMITED");
          const after = await counters(s);
          assert.equal(after.tokenCalls - before.tokenCalls, 1, "one token call, none during the cooldown");
          await clearCooldown(s);
        },
      );

      await t.step("5xx is retried with backoff, then PROVIDER_UNAVAILABLE", async () => {
        await expireInDb(s);
        await control(s, "faults", { kind: "503", count: 3 });
        const before = await counters(s);
        const r = await s.call("refresh-google-token", { body: {} });
        assert.equal(r.status, 503);
        assert.equal(r.json.code, "PROVIDER_UNAVAILABLE");
        assert.equal(r.json.requiresReauth, false);
        assert.equal((await counters(s)).tokenCalls - before.tokenCalls, 3);
        const st = await s.call("get-token-status", { method: "GET" });
        assert.equal(st.json.status, "token_expired");
        assert.equal(st.json.lastErrorCode, "PROVIDER_UNAVAILABLE");
        await clearCooldown(s);
      });

      await t.step("a provider that hangs past the timeout → TIMEOUT", async () => {
        await expireInDb(s);
        await control(s, "faults", { kind: "hang", count: 3, hangMs: 10_000 });
        const r = await s.call("refresh-google-token", { body: {} });
        assert.equal(r.status, 504);
        assert.equal(r.json.code, "TIMEOUT");
        await clearCooldown(s);
      });

      await t.step("bad provider answers are classified", async () => {
        const cases: [string, number, string][] = [
          ["html", 1, "BAD_PROVIDER_RESPONSE"],
          ["malformed", 1, "BAD_PROVIDER_RESPONSE"],
          ["error200", 1, "PROVIDER_REJECTED"],
          ["reset", 3, "NETWORK"],
        ];
        for (const [kind, count, code] of cases) {
          await expireInDb(s);
          await control(s, "faults", { kind, count });
          const r = await s.call("refresh-google-token", { body: {} });
          assert.equal(r.json.code, code, `${kind}: ${JSON.stringify(r.json)}`);
          if (code === "NETWORK") {
            // fetch's own words name the provider's URL and both ends' addresses:
            // not in the answer, nor on the row the user reads.
            const st = await s.call("get-token-status", { method: "GET" });
            for (const text of [r.json.error, st.json.lastErrorMessage]) {
              assert.match(String(text), /^network error reaching the provider: [a-z ]+$/);
            }
          }
          await clearCooldown(s);
        }
      });

      await t.step("a failing proactive refresh with a still-valid token: the request succeeds", async () => {
        await expireInDb(s, 60); // inside the 300 s margin, still valid
        await control(s, "faults", { kind: "500", count: 3 });
        const r = await s.call("create-google-meet", { body: meet() });
        assert.equal(r.status, 201, JSON.stringify(r.json));
        const st = await s.call("get-token-status", { method: "GET" });
        assert.equal(st.json.status, "connected");
        assert.equal(st.json.lastErrorCode, "PROVIDER_UNAVAILABLE");
        await clearCooldown(s);
      });

      await t.step(
        "invalid_grant → needs_reauth with requiresReauth, and no more provider calls",
        async () => {
          await control(s, "revoke", { email: `${USER}@example.com` });
          await expireInDb(s);
          const r = await s.call("create-google-meet", { body: meet() });
          assert.equal(r.status, 401);
          assert.equal(r.json.code, "REAUTH_REQUIRED");
          assert.equal(r.json.requiresReauth, true);
          const before = await counters(s);
          const again = await s.call("refresh-google-token", { body: {} });
          assert.equal(again.json.code, "REAUTH_REQUIRED");
          assert.equal((await counters(s)).tokenCalls, before.tokenCalls);
          const st = await s.call("get-token-status", { method: "GET" });
          assert.equal(st.json.status, "needs_reauth");
          assert.equal(st.json.requiresReauth, true);
          // Reconnecting restores the connection.
          await s.connect(USER);
          assert.equal((await s.call("create-google-meet", { body: meet() })).status, 201);
        },
      );

      await t.step(
        "rotation + a failing database write: explicit state and event, then saved, grant intact",
        async () => {
          await control(s, "config", { rotation: true });
          await s.pg.sql.unsafe(`
          create table if not exists test_faults (fail_token_writes boolean not null);
          insert into test_faults values (true);
          create or replace function test_fail_token_writes() returns trigger language plpgsql as $$
          begin
            if new.version > old.version and exists (select 1 from test_faults where fail_token_writes) then
              raise exception 'injected: disk full';
            end if;
            return new;
          end $$;
          create trigger test_fail_token_writes before update on oauth_connections
            for each row execute function test_fail_token_writes();`);
          await expireInDb(s);
          const r = await s.call("refresh-google-token", { body: {} });
          assert.equal(r.json.code, "ROTATION_NOT_SAVED", JSON.stringify(r.json));
          const [row] = await s.pg
            .sql`select status, last_error_code from oauth_connections where user_id = ${USER}`;
          assert.deepEqual({ ...row }, { status: "error", last_error_code: "ROTATION_NOT_SAVED" });
          const ev = await s.pg.sql`select count(*)::int as n from oauth_refresh_events
          where user_id = ${USER} and kind = 'rotation_not_saved'`;
          assert.equal(ev[0].n, 1);
          // The database recovers: the held token is saved on the next call, without a provider call.
          await s.pg.sql.unsafe("update test_faults set fail_token_writes = false");
          const before = await counters(s);
          const ok = await s.call("refresh-google-token", { body: {} });
          assert.equal(ok.status, 200, JSON.stringify(ok.json));
          assert.equal((await counters(s)).tokenCalls, before.tokenCalls);
          // The saved refresh token is the live one: another refresh works and no reuse is detected.
          const forced = await s.call("refresh-google-token", { body: { force: true } });
          assert.equal(forced.status, 200, JSON.stringify(forced.json));
          const c = await counters(s);
          assert.equal(c.reuseDetected, 0);
          await control(s, "config", { rotation: false });
          // Without rotation the token is handed out with a STORAGE warning:
          // its message is the plain sentence, never the database's words.
          await s.pg.sql.unsafe("update test_faults set fail_token_writes = true");
          await clearCooldown(s);
          await expireInDb(s);
          const warned = await s.call("refresh-google-token", { body: {} });
          assert.equal(warned.status, 200, JSON.stringify(warned.json));
          const warning = warned.json.warning as { code: string; message: string };
          assert.equal(warning.code, "STORAGE");
          assert.doesNotMatch(JSON.stringify(warned.json), /disk full|injected|database failed/);
          assert.equal(warning.message, "The database is unavailable right now; try again shortly.");
          await s.pg.sql.unsafe("update test_faults set fail_token_writes = false");
          await s.pg.sql.unsafe("drop trigger test_fail_token_writes on oauth_connections");
        },
      );

      await t.step(
        "the same sign-in's tokens sent again after a rotation: nothing written, the live refresh token kept",
        async () => {
          await control(s, "config", { rotation: true });
          await clearCooldown(s);
          const g = await (await fetch(`${s.emu.url}/control/grant`, {
            method: "POST",
            body: JSON.stringify({ email: `${USER}@example.com` }),
          })).json();
          const store = () =>
            s.call("store-google-tokens", {
              body: { providerToken: g.access_token, providerRefreshToken: g.refresh_token, scope: g.scope },
            });
          assert.equal((await store()).status, 200);
          await expireInDb(s);
          const refreshed = await s.call("refresh-google-token", { body: {} });
          assert.equal(refreshed.json.refreshed, true, JSON.stringify(refreshed.json));
          // The client's retry of a store whose answer it never got.
          const [{ version }] = await s.pg
            .sql`select version::int from oauth_connections where user_id = ${USER}`;
          const again = await store();
          assert.equal(again.status, 200);
          assert.equal(again.json.status, "connected");
          const [row] = await s.pg.sql`select version::int from oauth_connections where user_id = ${USER}`;
          assert.equal(row.version, version, "nothing written");
          // The stored refresh token is the rotated one: a refresh works, no reuse detected.
          const before = await counters(s);
          const forced = await s.call("refresh-google-token", { body: { force: true } });
          assert.equal(forced.status, 200, JSON.stringify(forced.json));
          assert.equal((await counters(s)).reuseDetected, before.reuseDetected);
          await control(s, "config", { rotation: false });
        },
      );

      await t.step(
        "a forced refresh after a 401 another tab already answered: the stored token, no provider call",
        async () => {
          await clearCooldown(s);
          const first = await s.call("refresh-google-token", { body: {} });
          const rejectedRefreshedAt = Date.parse(first.json.tokenRefreshedAt as string);
          const before = await counters(s);
          const one = await s.call("refresh-google-token", { body: { force: true, rejectedRefreshedAt } });
          assert.equal(one.json.refreshed, true, JSON.stringify(one.json));
          // The rejected token's tokenRefreshedAt sent back as the answer gave it (RFC 3339).
          const late = await s.call("refresh-google-token", {
            body: { force: true, rejectedRefreshedAt: first.json.tokenRefreshedAt },
          });
          assert.equal(late.status, 200, JSON.stringify(late.json));
          assert.equal(late.json.refreshed, false);
          assert.equal(late.json.accessToken, one.json.accessToken);
          assert.equal((await counters(s)).tokenCalls, before.tokenCalls + 1);
        },
      );

      await t.step(
        "through a transaction pooler's settings (DATABASE_PREPARE=false): the same one refresh",
        async () => {
          const unprepared = await startFunctions({ ...s.env, DATABASE_PREPARE: "false" });
          try {
            await clearCooldown(s);
            await expireInDb(s);
            const before = await counters(s);
            const res = await fetch(`${unprepared.url}/refresh-google-token`, {
              method: "POST",
              headers: { authorization: `Bearer ${await (await import("./harness.ts")).jwt(USER)}` },
              body: "{}",
            });
            const body = await res.json();
            assert.equal(res.status, 200, JSON.stringify(body));
            assert.equal(body.refreshed, true);
            assert.equal((await counters(s)).refreshGrants - before.refreshGrants, 1);
          } finally {
            await unprepared.stop();
          }
        },
      );

      await t.step("a database missing a column → SCHEMA_MISMATCH, the log naming it", async () => {
        await s.pg.sql.unsafe("create database broken");
        const url = s.pg.url.replace(/\/postgres$/, "/broken");
        const { default: postgres } = await import("npm:postgres@3.4.9");
        const b = postgres(url, { max: 1, onnotice: () => {} });
        const root = new URL("../../", import.meta.url).pathname;
        await b.unsafe(await Deno.readTextFile(`${root}tests/functions/supabase_bootstrap.sql`));
        await b.unsafe(
          await Deno.readTextFile(`${root}supabase/migrations/20261122000000_oauth_connections.sql`),
        );
        await b.unsafe("alter table oauth_connections drop column scope");
        await b.end();
        const broken = await startFunctions({ ...s.env, DATABASE_URL: url });
        try {
          const res = await fetch(`${broken.url}/get-token-status`, {
            headers: { authorization: `Bearer ${await (await import("./harness.ts")).jwt(USER)}` },
          });
          const body = await res.json();
          assert.equal(res.status, 500);
          assert.equal(body.code, "SCHEMA_MISMATCH");
          // The body says it plainly; the log names the column and the migration.
          assert.doesNotMatch(body.error, /oauth_connections/);
          const log = broken.logs.filter((l) => l.includes(body.requestId)).join("\n");
          assert.match(log, /oauth_connections\.scope/);
          assert.match(log, /20261122000000_oauth_connections\.sql/);
        } finally {
          await broken.stop();
        }
      });
    } finally {
      await s.stop();
    }
  },
});

Deno.test({
  name: "a process killed while holding the lease: another completes the refresh once the lease expires",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const env = { PROVIDER_TIMEOUT_MS: "2000", PROVIDER_MAX_ATTEMPTS: "1", REFRESH_LEASE_MS: "3500" };
    const s = await startStack({ servers: 2, env });
    try {
      await killLeaseHolder(s);
      const started = Date.now();
      const r = await s.call("refresh-google-token", { body: {}, server: 1 });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.ok(Date.now() - started < 10_000);
      const [row] = await s.pg.sql`select lease_owner, status from oauth_connections where user_id = ${USER}`;
      assert.equal(row.lease_owner, null);
      assert.equal(row.status, "connected");
    } finally {
      await s.stop();
    }
  },
});

Deno.test({
  name: "a killed lease holder and a slow provider: every caller on the surviving processes succeeds",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // Waiters used to give up at lease + 2 s, but the takeover starts when the
    // lease expires and then needs the provider's full 3 s.
    const env = { PROVIDER_TIMEOUT_MS: "3500", PROVIDER_MAX_ATTEMPTS: "1", REFRESH_LEASE_MS: "4500" };
    const s = await startStack({ servers: 3, env });
    try {
      await killLeaseHolder(s);
      await control(s, "config", { tokenLatencyMs: 3000 });
      const before = await counters(s);
      const results = await Promise.all(
        Array.from(
          { length: 150 },
          (_, i) => s.call("refresh-google-token", { body: {}, server: 1 + (i % 2) }),
        ),
      );
      const failed = results.filter((r) => r.status !== 200);
      assert.equal(failed.length, 0, JSON.stringify(failed.slice(0, 2).map((r) => r.json)));
      assert.equal(new Set(results.map((r) => r.json.accessToken)).size, 1);
      const after = await counters(s);
      assert.equal(after.refreshGrants - before.refreshGrants, 1, "one refresh after the takeover");
      assert.equal(
        results.filter((r) => r.json.refreshed === true).length,
        1,
        "`refreshed` is true only for the request whose provider call made the token",
      );
    } finally {
      await control(s, "config", { tokenLatencyMs: 0 });
      await s.stop();
    }
  },
});
