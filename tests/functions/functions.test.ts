// Each edge function over HTTP: happy path, bad input, auth, CORS.
import assert from "node:assert/strict";
import { accessTokens, assertNoLeaks, jwt, ORIGIN, OTHER, type Stack, startStack, USER } from "./harness.ts";

let stack: Stack;

Deno.test({
  name: "edge functions",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    stack = await startStack();
    try {
      await t.step(
        "store-google-tokens saves the sign-in tokens and reports status, not tokens",
        async () => {
          await stack.connect(USER);
          const r = await stack.call("get-token-status", { method: "GET" });
          assert.equal(r.status, 200);
          assert.equal(r.json.status, "connected");
          assert.equal(r.json.hasRefreshToken, true);
          assert.deepEqual(r.json.scopes, [
            "email",
            "https://www.googleapis.com/auth/calendar.events",
            "openid",
          ]);
          assert.ok(r.headers.get("x-token-refreshed-at"));
          assert.match(r.headers.get("access-control-expose-headers") ?? "", /X-Token-Refreshed-At/);
          const row = await stack.pg
            .sql`select access_token_sealed, refresh_token_sealed from oauth_connections`;
          assert.match(row[0].access_token_sealed, /^v1\.k1\./);
          assert.match(row[0].refresh_token_sealed, /^v1\.k1\./);
        },
      );

      await t.step("refresh-google-token hands the browser a valid access token", async () => {
        const r = await stack.call("refresh-google-token", { body: {} });
        assert.equal(r.status, 200);
        assert.ok(accessTokens(stack).includes(r.json.accessToken as string));
        assert.equal(r.json.refreshToken, undefined);
        assert.equal(r.headers.get("x-token-refreshed-at"), r.json.tokenRefreshedAt);
      });

      let eventId = "";
      await t.step("create-google-meet creates an event with a Meet, idempotent on requestId", async () => {
        const body = {
          requestId: "req-1",
          summary: "Planning",
          start: "2026-11-23T10:00:00Z",
          end: "2026-11-23T10:30:00Z",
          attendees: ["ada@example.com"],
        };
        const r = await stack.call("create-google-meet", { body });
        assert.equal(r.status, 201, JSON.stringify(r.json));
        assert.match(r.json.meetUrl as string, /^https:\/\/meet\.google\.com\/[a-z]{3}-[a-z]{4}-[a-z]{3}$/);
        assert.equal(r.json.conferenceStatus, "success");
        assert.ok(r.headers.get("x-token-refreshed-at"));
        eventId = r.json.eventId as string;
        const again = await stack.call("create-google-meet", { body });
        assert.equal(again.status, 200);
        assert.equal(again.json.created, false);
        assert.equal(again.json.eventId, eventId);
        assert.equal(again.json.meetUrl, r.json.meetUrl);
      });

      await t.step("update-google-meet patches time, title and attendees", async () => {
        const r = await stack.call("update-google-meet", {
          body: {
            eventId,
            summary: "Planning (moved)",
            start: "2026-11-23T11:00:00Z",
            end: "2026-11-23T11:45:00Z",
            attendees: ["bob@example.com"],
          },
        });
        assert.equal(r.status, 200, JSON.stringify(r.json));
        assert.equal(r.json.summary, "Planning (moved)");
        assert.equal(r.json.start, "2026-11-23T11:00:00Z");
        assert.deepEqual((r.json.attendees as { email: string }[]).map((a) => a.email), ["bob@example.com"]);
      });

      await t.step("unknown and other users' event ids are 404", async () => {
        await stack.connect(OTHER);
        const other = await stack.call("update-google-meet", {
          user: OTHER,
          body: { eventId, summary: "mine now" },
        });
        assert.equal(other.status, 404);
        assert.equal(other.json.code, "NOT_FOUND");
        const unknown = await stack.call("cancel-google-meet", { body: { eventId: "abcdefghij0123" } });
        assert.equal(unknown.status, 404);
        const bad = await stack.call("cancel-google-meet", { body: { eventId: "../etc/passwd" } });
        assert.equal(bad.status, 400);
      });

      await t.step("cancel-google-meet deletes with sendUpdates", async () => {
        const r = await stack.call("cancel-google-meet", { body: { eventId, sendUpdates: "all" } });
        assert.equal(r.status, 200);
        assert.equal(r.json.cancelled, true);
        const again = await stack.call("cancel-google-meet", { body: { eventId } });
        assert.equal(again.status, 404);
      });

      await t.step("bad JSON, missing and mistyped fields are 400 BAD_REQUEST naming the field", async () => {
        const cases: [string, { rawBody?: string; body?: unknown }, RegExp][] = [
          ["create-google-meet", { rawBody: "{not json" }, /not valid JSON/],
          ["create-google-meet", { rawBody: "[1,2]" }, /JSON object/],
          ["create-google-meet", {
            body: { summary: "x", start: "2026-11-23T10:00:00Z", end: "2026-11-23T11:00:00Z" },
          }, /requestId/],
          ["create-google-meet", {
            body: { requestId: "r", summary: "x", start: "tomorrow", end: "2026-11-23T11:00:00Z" },
          }, /start must be an RFC 3339/],
          ["create-google-meet", {
            body: {
              requestId: "r",
              summary: "x",
              start: "2026-11-23T12:00:00Z",
              end: "2026-11-23T11:00:00Z",
            },
          }, /end must be after start/],
          ["create-google-meet", {
            body: { requestId: "r", summary: 5, start: "2026-11-23T10:00:00Z", end: "2026-11-23T11:00:00Z" },
          }, /summary must be a string/],
          ["create-google-meet", {
            body: {
              requestId: "r",
              summary: "x",
              start: "2026-11-23T10:00:00Z",
              end: "2026-11-23T11:00:00Z",
              attendees: ["nope"],
            },
          }, /attendees\[0\]/],
          ["update-google-meet", { body: { eventId: "abcdefghij0123" } }, /nothing to update/],
          ["update-google-meet", { body: { summary: "x" } }, /eventId is required/],
          ["refresh-google-token", { body: { force: "yes" } }, /force must be true or false/],
          ["store-google-tokens", { body: {} }, /providerToken is required/],
          ["store-google-tokens", { body: { providerToken: "x", expiresIn: -4 } }, /expiresIn/],
        ];
        for (const [fn, c, msg] of cases) {
          const r = await stack.call(fn, c);
          assert.equal(r.status, 400, `${fn} ${JSON.stringify(c)} → ${r.status} ${JSON.stringify(r.json)}`);
          assert.equal(r.json.code, "BAD_REQUEST");
          assert.equal(r.json.requiresReauth, false);
          assert.match(r.json.error as string, msg);
        }
        const wrongMethod = await stack.call("refresh-google-token", { method: "GET" });
        assert.equal(wrongMethod.status, 405);
      });

      await t.step("missing, forged, expired and alg:none JWTs are 401", async () => {
        const now = Math.floor(Date.now() / 1000);
        const b64 = (o: unknown) =>
          btoa(JSON.stringify(o)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
        const none = `${b64({ alg: "none", typ: "JWT" })}.${
          b64({ sub: USER, role: "authenticated", exp: now + 3600 })
        }.`;
        const tokens: [string, string | null][] = [
          ["missing", null],
          ["garbage", "not.a.jwt"],
          ["forged", await jwt(USER, { secret: "another-secret-another-secret-another" })],
          ["expired", await jwt(USER, { expiresIn: now - 60 })],
          ["alg none", none],
        ];
        for (
          const fn of [
            "get-token-status",
            "refresh-google-token",
            "create-google-meet",
            "store-google-tokens",
          ]
        ) {
          for (const [what, token] of tokens) {
            const r = await stack.call(fn, { token, body: {} });
            assert.equal(r.status, 401, `${fn} with ${what} token`);
            assert.equal(r.json.code, "UNAUTHORIZED");
          }
        }
      });

      await t.step("CORS: preflight for an allowed origin, 403 for another", async () => {
        const pre = await fetch(`${stack.fns[0].url}/create-google-meet`, {
          method: "OPTIONS",
          headers: { origin: ORIGIN, "access-control-request-method": "POST" },
        });
        await pre.body?.cancel();
        assert.equal(pre.status, 204);
        assert.equal(pre.headers.get("access-control-allow-origin"), ORIGIN);
        assert.match(pre.headers.get("access-control-allow-headers") ?? "", /authorization/);
        const bad = await stack.call("get-token-status", { method: "GET", origin: "https://evil.example" });
        assert.equal(bad.status, 403);
        assert.equal(bad.json.code, "FORBIDDEN");
        assert.equal(bad.headers.get("access-control-allow-origin"), null);
      });

      await t.step("no token or key bytes in any log line or response body", () => {
        const logs = stack.fns.flatMap((f) => f.logs);
        assert.ok(logs.some((l) => /"user":"[0-9a-f]{12}"/.test(l)), "request logs carry a hashed user");
        for (const line of logs) {
          assert.ok(!line.includes(USER) && !line.includes(OTHER), "log lines carry hashed user ids only");
        }
        // Also run when the stack stops, for every test that uses one.
        assertNoLeaks(stack);
      });
    } finally {
      await stack.stop();
    }
  },
});
