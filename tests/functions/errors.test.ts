// Error responses over HTTP. Every code that an HTTP path can produce is
// driven through it (Calendar faults, token-endpoint faults, broken rows,
// a database that is down or unmigrated, bad configuration, bad callers), and
// each answer's status, requiresReauth and retryable are checked against the
// one code table (the package's errorCodes()). Codes no HTTP path produces
// are checked through describe(). Bodies carry a plain sentence, the code
// and a requestId; the details go to the log only.
import assert from "node:assert/strict";
import { errorCodes } from "../../supabase/functions/_shared/pkg/oauth_token_manager.js";
import { CALENDAR_EVENTS_SCOPE, googleError } from "../../supabase/functions/_shared/calendar.ts";
import { AppError, describe } from "../../supabase/functions/_shared/errors.ts";
import { loadWasm } from "../../supabase/functions/_shared/wasm.ts";
import {
  type CallResult,
  control,
  counters,
  extraServer,
  freePort,
  ORIGIN,
  startStack,
  USER,
} from "./harness.ts";

const MEET = { summary: "Sync", start: "2026-11-24T09:00:00Z", end: "2026-11-24T09:30:00Z" };
let seq = 0;
const meet = () => ({ ...MEET, requestId: `e-${++seq}` });
const user = (n: number) =>
  `${String(n).repeat(8)}-${String(n).repeat(4)}-4${String(n).repeat(3)}-8${String(n).repeat(3)}-${
    String(n).repeat(12)
  }`;

/** Words from database driver errors, SQL and configuration that must not reach a body. */
function assertPlain(r: CallResult, words: (string | RegExp)[]) {
  const text = JSON.stringify(r.json);
  for (const w of words) {
    if (typeof w === "string") assert.ok(!text.includes(w), `the body carries ${w}: ${text}`);
    else assert.doesNotMatch(text, w);
  }
}

Deno.test({
  name: "error responses: every code's status, requiresReauth and retryable come from the one table",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await loadWasm();
    const table = new Map(errorCodes().map((c) => [c.code as string, c]));
    const s = await startStack({ env: { PROVIDER_TIMEOUT_MS: "800", CALENDAR_TIMEOUT_MS: "1000" } });
    const seen = new Map<string, CallResult>();

    /** Checks an error answer against the table and records its code. */
    const expectCode = (what: string, r: CallResult, code: string) => {
      assert.equal(r.json.code, code, `${what}: ${r.status} ${JSON.stringify(r.json)}`);
      const row = table.get(code);
      assert.ok(row, `${code} is in the table`);
      assert.equal(r.status, row.httpStatus, `${what}: status of ${code}`);
      assert.equal(r.json.requiresReauth, row.requiresReauth, `${what}: requiresReauth of ${code}`);
      assert.equal(r.json.retryable, row.retryable, `${what}: retryable of ${code}`);
      assert.equal(typeof r.json.error, "string");
      assert.match(r.json.requestId as string, /^[0-9a-f-]{36}$/, `${what}: requestId`);
      assert.equal(r.headers.get("x-request-id"), r.json.requestId, `${what}: X-Request-Id`);
      seen.set(code, r);
      return r;
    };
    // An hour-long token near its end (issued an hour before it expires).
    const expireInDb = (u: string, inSeconds = -1) =>
      s.pg.sql`update oauth_connections
        set expires_at = now() + ${inSeconds} * interval '1 second',
            token_refreshed_at = least(token_refreshed_at, now() + ${inSeconds} * interval '1 second' - interval '1 hour')
        where user_id = ${u}`;
    const logOf = (server: number, requestId: unknown) =>
      s.fns[server].logs.filter((l) => l.includes(String(requestId))).join("\n");

    try {
      // Function servers with other settings, on the same database and emulator.
      const emptyDb = s.pg.url.replace(/\/postgres$/, "/unmigrated");
      await s.pg.sql.unsafe("create database unmigrated");
      const dbPort = freePort();
      const [dbDown, unmigrated, noConfig, jwksDown, otherClient] = await Promise.all([
        extraServer(s, { DATABASE_URL: `postgres://postgres@127.0.0.1:${dbPort}/postgres` }),
        extraServer(s, { DATABASE_URL: emptyDb }),
        extraServer(s, { GOOGLE_CLIENT_ID: "" }),
        extraServer(s, {
          JWT_SECRET: "",
          JWKS_URL: `http://127.0.0.1:${freePort()}/auth/v1/.well-known/jwks.json`,
        }),
        // A client the token endpoint does not know, and a short lease (LEASE_TIMEOUT in ~3 s).
        extraServer(s, {
          GOOGLE_CLIENT_SECRET: "not-the-client-secret",
          PROVIDER_TIMEOUT_MS: "200",
          REFRESH_LEASE_MS: "1200",
        }),
      ]);
      await s.connect(USER);

      await t.step("Calendar faults over HTTP: each answered with its own code, none INTERNAL", async () => {
        const cases: [string, Record<string, unknown>, string][] = [
          ["429", { retryAfter: 7 }, "RATE_LIMITED"],
          ["500", {}, "PROVIDER_UNAVAILABLE"],
          ["503", {}, "PROVIDER_UNAVAILABLE"],
          ["html", {}, "BAD_PROVIDER_RESPONSE"],
          ["empty", {}, "BAD_PROVIDER_RESPONSE"],
          ["reset", {}, "NETWORK"],
          ["forbidden", {}, "FORBIDDEN"],
          ["401", { count: 2 }, "PROVIDER_REJECTED"],
        ];
        const marker = (await s.call("refresh-google-token", { body: {} })).json.tokenRefreshedAt;
        for (const [kind, extra, code] of cases) {
          await control(s, "calendar-faults", { kind, ...extra });
          const r = await s.call("create-google-meet", { body: meet() });
          expectCode(`calendar ${kind}`, r, code);
          // A token was used: the error carries its marker, as a success would.
          const used = r.headers.get("x-token-refreshed-at");
          assert.ok(used && (kind === "401" || used === marker), `calendar ${kind}: marker ${used}`);
          if (kind === "429") {
            assert.equal(r.json.retryAfter, 7);
            assert.equal(r.headers.get("retry-after"), "7");
          }
          if (kind === "forbidden") {
            // No write access to a calendar is not a reason to reconnect.
            assert.equal(r.json.requiresReauth, false);
            const st = await s.call("get-token-status", { method: "GET" });
            assert.equal(st.json.status, "connected");
          }
        }
        assert.equal((await counters(s)).calendarFaultsPending, 0);
      });

      await t.step("Calendar that hangs: TIMEOUT after CALENDAR_TIMEOUT_MS, not 15 s", async () => {
        await control(s, "calendar-faults", { kind: "hang", hangMs: 30_000 });
        const started = Date.now();
        const r = await s.call("create-google-meet", { body: meet() });
        expectCode("calendar hang", r, "TIMEOUT");
        assert.ok(Date.now() - started < 5_000, `answered after ${Date.now() - started} ms`);
      });

      await t.step("Calendar 401 once: one forced refresh and a retry that succeeds", async () => {
        await control(s, "calendar-faults", { kind: "401" });
        const before = await counters(s);
        const r = await s.call("create-google-meet", { body: meet() });
        assert.equal(r.status, 201, JSON.stringify(r.json));
        assert.equal((await counters(s)).refreshGrants - before.refreshGrants, 1);
      });

      await t.step("a missing scope: 403 INSUFFICIENT_SCOPE naming it, status needs_reauth", async () => {
        const scope = "https://www.googleapis.com/auth/calendar.events";
        await control(s, "calendar-faults", { kind: "scope", scope });
        const r = await s.call("create-google-meet", { body: meet() });
        expectCode("calendar scope", r, "INSUFFICIENT_SCOPE");
        assert.equal(r.status, 403);
        assert.equal(r.json.requiresReauth, true);
        assert.equal(r.json.retryable, false);
        assert.deepEqual(r.json.missingScopes, [scope]);
        const st = await s.call("get-token-status", { method: "GET" });
        assert.equal(st.json.status, "needs_reauth", JSON.stringify(st.json));
        assert.equal(st.json.lastErrorCode, "INSUFFICIENT_SCOPE");
        assert.equal(st.json.requiresReauth, true);
        const codes = (st.json.recentEvents as { code: string | null }[]).map((e) => e.code);
        assert.ok(codes.includes("INSUFFICIENT_SCOPE"), JSON.stringify(codes));
        // The token itself is fine: it keeps being served for what it can do.
        const tok = await s.call("refresh-google-token", { body: {} });
        assert.equal(tok.status, 200, JSON.stringify(tok.json));

        // Google's body alone (no WWW-Authenticate): the scope this call needs is named.
        await control(s, "calendar-faults", { kind: "scope", challenge: false });
        const bodyOnly = await s.call("create-google-meet", { body: meet() });
        expectCode("calendar scope without a challenge", bodyOnly, "INSUFFICIENT_SCOPE");
        assert.deepEqual(bodyOnly.json.missingScopes, [CALENDAR_EVENTS_SCOPE]);
        // Reconnecting (with the scope) restores the connection.
        await s.connect(USER);
        assert.equal((await s.call("get-token-status", { method: "GET" })).json.status, "connected");
      });

      await t.step("token-endpoint and stored-state codes over HTTP", async () => {
        // LEASE_TIMEOUT: another instance holds the lease and never finishes (the
        // waiter gives up after its lease + 2 s; the other cases run meanwhile).
        const held = user(9);
        await s.connect(held);
        await s.pg.sql`update oauth_connections set expires_at = now() - interval '1 second',
          lease_owner = 'ghost', lease_until = now() + interval '1 hour' where user_id = ${held}`;
        const waiting = s.call("refresh-google-token", { user: held, body: {}, server: otherClient });

        // REAUTH_REQUIRED: a revoked grant.
        const dead = user(5);
        await s.connect(dead);
        await control(s, "revoke", { email: `${dead}@example.com` });
        await expireInDb(dead);
        expectCode(
          "revoked grant",
          await s.call("refresh-google-token", { user: dead, body: {} }),
          "REAUTH_REQUIRED",
        );

        // PROVIDER_REJECTED from the token endpoint: a 200 with an error.
        await expireInDb(USER);
        await control(s, "faults", { kind: "error200" });
        expectCode("token error200", await s.call("refresh-google-token", { body: {} }), "PROVIDER_REJECTED");
        await s.connect(USER);

        // NOT_CONNECTED: a user who never connected Google.
        expectCode(
          "no connection",
          await s.call("refresh-google-token", { user: user(6), body: {} }),
          "NOT_CONNECTED",
        );

        // COOLDOWN: a recent non-retryable failure pauses refreshing.
        const cooling = user(7);
        await s.connect(cooling);
        await s.pg.sql`update oauth_connections set expires_at = now() - interval '1 second',
          cooldown_until = now() + interval '60 seconds', failure_count = 1, status = 'token_expired',
          last_error_code = 'PROVIDER_REJECTED' where user_id = ${cooling}`;
        const cd = expectCode(
          "cooldown",
          await s.call("refresh-google-token", { user: cooling, body: {} }),
          "COOLDOWN",
        );
        assert.ok((cd.json.retryAfter as number) > 0);

        // INVALID_CLIENT: the token endpoint does not know the client.
        const stranger = user(8);
        await s.connect(stranger);
        await expireInDb(stranger);
        expectCode(
          "unknown client",
          await s.call("refresh-google-token", { user: stranger, body: {}, server: otherClient }),
          "INVALID_CLIENT",
        );

        expectCode("held lease", await waiting, "LEASE_TIMEOUT");
      });

      await t.step("a rotated refresh token that cannot be saved: ROTATION_NOT_SAVED", async () => {
        const rot = user(4);
        await s.connect(rot);
        await control(s, "config", { rotation: true });
        await s.pg.sql.unsafe(`
          create or replace function test_fail_rotation() returns trigger language plpgsql as $$
          begin
            if new.version > old.version and new.user_id = '${rot}'::uuid then
              raise exception 'injected: disk full';
            end if;
            return new;
          end $$;
          create trigger test_fail_rotation before update on oauth_connections
            for each row execute function test_fail_rotation();`);
        try {
          await expireInDb(rot);
          const r = expectCode(
            "rotation not saved",
            await s.call("refresh-google-token", { user: rot, body: {} }),
            "ROTATION_NOT_SAVED",
          );
          assertPlain(r, ["injected", "disk full"]);
          // The status names the code; its message is the same plain sentence, not the database's words.
          const st = await s.call("get-token-status", { method: "GET", user: rot });
          assert.equal(st.json.lastErrorCode, "ROTATION_NOT_SAVED");
          assert.equal(typeof st.json.lastErrorMessage, "string");
          assertPlain(st, ["injected", "disk full"]);
        } finally {
          await s.pg.sql.unsafe("drop trigger test_fail_rotation on oauth_connections");
          await control(s, "config", { rotation: false });
        }
      });

      await t.step("stored tokens that cannot be opened: the CRYPTO_* codes", async () => {
        const u = user(3);
        const [other] = await s.pg.sql`select access_token_sealed from oauth_connections
          where user_id = ${USER}`;
        const cases: [string, (sealed: string) => string, string][] = [
          ["malformed", () => "v1.k1.not-base64!.x", "CRYPTO_MALFORMED"],
          ["unknown key", (v) => v.replace(/^v1\.k1\./, "v1.k9."), "CRYPTO_UNKNOWN_KEY"],
          ["moved from another row", () => other.access_token_sealed, "CRYPTO_INTEGRITY"],
          [
            "legacy iv:authTag:ciphertext",
            () => `${"ab".repeat(16)}:${"cd".repeat(16)}:${"ef".repeat(24)}`,
            "CRYPTO_UNBOUND",
          ],
        ];
        for (const [what, tamper, code] of cases) {
          await s.connect(u);
          const [row] = await s.pg.sql`select access_token_sealed from oauth_connections
            where user_id = ${u}`;
          await s.pg.sql`update oauth_connections set access_token_sealed = ${
            tamper(row.access_token_sealed)
          } where user_id = ${u}`;
          const r = expectCode(what, await s.call("refresh-google-token", { user: u, body: {} }), code);
          assertPlain(r, ["v1.k", "k9", "aead", "nonce"]);
        }
      });

      await t.step(
        "a database that is down when the isolate starts: 503 STORAGE, details in the log",
        async () => {
          const r = expectCode(
            "database down",
            await s.call("get-token-status", { method: "GET", server: dbDown }),
            "STORAGE",
          );
          assert.equal(r.status, 503);
          assert.equal(r.json.retryable, true);
          assertPlain(r, ["127.0.0.1", "ECONNREFUSED", "connect", "5432", /:\d{4,5}/, String(dbPort)]);
          const log = logOf(dbDown, r.json.requestId);
          assert.match(log, /ECONNREFUSED|refused/i, "the driver's words are in the log");
          // The next request tries again (no failed start is cached) and says the same.
          const again = await s.call("refresh-google-token", { body: {}, server: dbDown });
          expectCode("database still down", again, "STORAGE");
          // A caller without valid credentials is refused before the
          // database is tried: 401, no word on the service's state.
          for (const token of [null, "not.a.jwt"]) {
            const anon = await s.call("refresh-google-token", { body: {}, server: dbDown, token });
            expectCode("no credentials, database down", anon, "UNAUTHORIZED");
          }
        },
      );

      await t.step("a broken sequence: STORAGE without the sequence's name in the body", async () => {
        await s.pg.sql.unsafe("select setval('oauth_connections_id_seq', 9223372036854775807)");
        try {
          const r = await s.call("store-google-tokens", {
            user: user(2),
            body: { providerToken: "ya29.not-stored", expiresIn: 3600 },
          });
          expectCode("broken sequence", r, "STORAGE");
          assertPlain(r, ["oauth_connections", "_seq", "nextval", "sequence", "9223372036854775807"]);
          assert.match(logOf(0, r.json.requestId), /oauth_connections_id_seq/, "the details are logged");
        } finally {
          await s.pg.sql.unsafe(
            "select setval('oauth_connections_id_seq', (select max(id) from oauth_connections))",
          );
        }
      });

      await t.step(
        "an unmigrated database: SCHEMA_MISMATCH; the missing tables are in the log only",
        async () => {
          const r = expectCode(
            "unmigrated",
            await s.call("get-token-status", { method: "GET", server: unmigrated }),
            "SCHEMA_MISMATCH",
          );
          assertPlain(r, ["oauth_connections", "oauth_refresh_events", "20261122000000", "unmigrated"]);
          const log = logOf(unmigrated, r.json.requestId);
          assert.match(log, /oauth_connections/);
          assert.match(log, /20261122000000_oauth_connections\.sql/);
        },
      );

      await t.step("missing configuration: CONFIG; the variable is in the log only", async () => {
        const r = expectCode(
          "no client id",
          await s.call("get-token-status", { method: "GET", server: noConfig }),
          "CONFIG",
        );
        assertPlain(r, ["GOOGLE_CLIENT_ID"]);
        assert.match(logOf(noConfig, r.json.requestId), /GOOGLE_CLIENT_ID/);
      });

      await t.step(
        "connect codes: CONNECT_STATE_INVALID in a body, CONSENT_DENIED on the way back",
        async () => {
          expectCode(
            "unknown ticket",
            await s.call("connections/complete", { body: { ticket: "made-up" } }),
            "CONNECT_STATE_INVALID",
          );
          // The provider sends the browser back with access_denied: the code reaches the page in its address.
          const begin = await s.call("connections/google/connect", { body: { returnTo: `${ORIGIN}/` } });
          const state = new URL(begin.json.authorizationUrl as string).searchParams.get("state")!;
          const back = await fetch(
            `${s.fns[0].url}/connections/callback?state=${encodeURIComponent(state)}&error=access_denied`,
            { redirect: "manual" },
          );
          await back.body?.cancel();
          assert.equal(back.status, 302);
          const code = new URL(back.headers.get("location")!).searchParams.get("otm_error")!;
          assert.equal(code, "CONSENT_DENIED");
          assert.ok(table.has(code));
          seen.set(code, { status: back.status, headers: back.headers, json: { code } });
        },
      );

      await t.step("caller and request codes", async () => {
        expectCode(
          "no JWT",
          await s.call("get-token-status", { method: "GET", token: null }),
          "UNAUTHORIZED",
        );
        const { SignJWT, generateKeyPair } = await import("npm:jose@6.2.17");
        const { privateKey } = await generateKeyPair("ES256");
        const es = await new SignJWT({ role: "authenticated" }).setProtectedHeader({ alg: "ES256", kid: "k" })
          .setSubject(USER).setAudience("authenticated").setExpirationTime("5m").sign(privateKey);
        expectCode(
          "JWKS unreachable",
          await s.call("get-token-status", { method: "GET", server: jwksDown, token: es }),
          "AUTH_UNAVAILABLE",
        );
        expectCode(
          "origin",
          await s.call("get-token-status", { method: "GET", origin: "https://evil.example" }),
          "FORBIDDEN",
        );
        expectCode(
          "unknown event",
          await s.call("cancel-google-meet", { body: { eventId: "abcdefghij0123" } }),
          "NOT_FOUND",
        );
        expectCode(
          "wrong method",
          await s.call("refresh-google-token", { method: "GET" }),
          "METHOD_NOT_ALLOWED",
        );
        expectCode("bad JSON", await s.call("create-google-meet", { rawBody: "{" }), "BAD_REQUEST");
        expectCode(
          "big body",
          await s.call("create-google-meet", { rawBody: JSON.stringify({ summary: "x".repeat(70_000) }) }),
          "PAYLOAD_TOO_LARGE",
        );
        const body = meet();
        assert.equal((await s.call("create-google-meet", { body })).status, 201);
        expectCode(
          "requestId reused",
          await s.call("create-google-meet", { body: { ...body, summary: "Other" } }),
          "IDEMPOTENCY_CONFLICT",
        );
      });

      await t.step("codes no HTTP path produces: describe() answers them by the table", () => {
        const unseen = [...table.keys()].filter((c) => !seen.has(c));
        // Only a broken invariant is left; a new code needs an HTTP case above.
        assert.deepEqual(unseen, ["INTERNAL"], `codes without an HTTP case: ${unseen.join(", ")}`);
        for (const code of unseen) {
          const row = table.get(code)!;
          const d = describe(
            {
              name: "TokenManagerError",
              code,
              message: "details",
              httpStatus: 599,
              requiresReauth: !row.requiresReauth,
            },
            "req-1",
          );
          assert.equal(d.status, row.httpStatus);
          assert.equal(d.body.code, code);
          assert.equal(d.body.requiresReauth, row.requiresReauth);
          assert.equal(d.body.retryable, row.retryable);
          assert.equal(d.body.requestId, "req-1");
        }
        // Anything that is not a coded error is INTERNAL, and its words never reach the body.
        const odd = describe(new Error("connect ECONNREFUSED 127.0.0.1:5432"));
        assert.equal(odd.status, 500);
        assert.equal(odd.body.code, "INTERNAL");
        assert.doesNotMatch(JSON.stringify(odd.body), /ECONNREFUSED|127\.0\.0\.1/);
        // AppError's status is its code's, whatever the thrower thought.
        for (const [code, row] of table) {
          const e = new AppError(code as never, "m");
          assert.equal(e.status, row.httpStatus, code);
          assert.equal(e.requiresReauth, row.requiresReauth, code);
          assert.equal(e.retryable, row.retryable, code);
        }
      });
    } finally {
      await s.stop();
    }
  },
});

Deno.test("Google Calendar's limits: a rate limit is a short wait, a spent usage limit an hour's", () => {
  const answer = (reason: string) => ({ error: { message: "limit", errors: [{ reason }] } });
  for (const reason of ["rateLimitExceeded", "userRateLimitExceeded"]) {
    const e = googleError(403, answer(reason), null);
    assert.deepEqual([e.code, e.retryAfter], ["RATE_LIMITED", 30], reason);
  }
  // "Handle API errors": the user's calendar limits, and the project's daily courtesy limit, last hours.
  for (const reason of ["quotaExceeded", "dailyLimitExceeded"]) {
    const e = googleError(403, answer(reason), null);
    assert.deepEqual([e.code, e.retryAfter], ["RATE_LIMITED", 3600], reason);
    assert.match(e.message, /usage limit/);
  }
  assert.equal(
    googleError(403, answer("quotaExceeded"), "120").retryAfter,
    120,
    "a Retry-After given stands",
  );
});
