// Each edge function over HTTP: happy path, bad input, auth, CORS.
import assert from "node:assert/strict";
import {
  accessTokens,
  assertNoLeaks,
  control,
  counters,
  jwt,
  ORIGIN,
  OTHER,
  type Stack,
  startStack,
  USER,
} from "./harness.ts";

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
        // expiresIn: the seconds left on the server's clock when it answered,
        // which the browser counts on its own clock.
        const expiresIn = r.json.expiresIn as number;
        assert.ok(
          Number.isInteger(expiresIn) && expiresIn > 3000 && expiresIn <= 3600,
          `expiresIn ${expiresIn}`,
        );
        const left = (r.json.expiresAt as number) - Date.now();
        assert.ok(
          Math.abs(left - expiresIn * 1000) < 5_000,
          `expiresAt says ${left} ms, expiresIn ${expiresIn} s`,
        );
      });

      let eventId = "";
      /** The meeting the Calendar steps create, cancel and ask for again. */
      const planning = {
        requestId: "req-1",
        summary: "Planning",
        start: "2026-11-23T10:00:00Z",
        end: "2026-11-23T10:30:00Z",
        attendees: ["ada@example.com"],
      };
      await t.step("create-google-meet creates an event with a Meet, idempotent on requestId", async () => {
        const body = planning;
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
        // The same request written another way (the same instants in another offset, attendees' case).
        const same = await stack.call("create-google-meet", {
          body: {
            ...body,
            start: "2026-11-23T11:00:00+01:00",
            end: "2026-11-23T05:30:00-05:00",
            attendees: ["Ada@Example.com"],
          },
        });
        assert.equal(same.status, 200, JSON.stringify(same.json));
        assert.equal(same.json.eventId, eventId);
      });

      await t.step("the same requestId with a different request is 409 IDEMPOTENCY_CONFLICT", async () => {
        const body = planning;
        const changes: Record<string, unknown>[] = [
          { summary: "Another meeting" },
          { start: "2026-11-23T10:15:00Z" },
          { end: "2026-11-23T11:30:00Z" },
          { attendees: ["ada@example.com", "eve@example.com"] },
          { attendees: [] },
          { description: "a different agenda" },
          { timeZone: "Europe/Berlin" },
        ];
        for (const change of changes) {
          const r = await stack.call("create-google-meet", { body: { ...body, ...change } });
          assert.equal(r.status, 409, `${JSON.stringify(change)}: ${JSON.stringify(r.json)}`);
          assert.equal(r.json.code, "IDEMPOTENCY_CONFLICT");
          assert.equal(r.json.retryable, false);
          assert.equal(r.json.eventId, undefined, "the other request's event is not handed out");
        }
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

      await t.step(
        "a Meet Google makes asynchronously: pending, then the same request reads it",
        async () => {
          const body = {
            requestId: "pending-meet",
            summary: "Later Meet",
            start: "2026-11-24T10:00:00Z",
            end: "2026-11-24T10:30:00Z",
          };
          try {
            await control(stack, "config", { meetStatus: "pending" });
            const r = await stack.call("create-google-meet", { body });
            assert.equal(r.status, 201, JSON.stringify(r.json));
            assert.deepEqual([r.json.conferenceStatus, r.json.meetUrl], ["pending", null]);
            const again = await stack.call("create-google-meet", { body });
            assert.equal(again.json.created, false);
            assert.equal(again.json.conferenceStatus, "success");
            assert.match(again.json.meetUrl as string, /^https:\/\/meet\.google\.com\//);
            await control(stack, "config", { meetStatus: "failure" });
            const failed = await stack.call("create-google-meet", {
              body: { ...body, requestId: "failed-meet" },
            });
            assert.deepEqual([failed.status, failed.json.conferenceStatus, failed.json.meetUrl], [
              201,
              "failure",
              null,
            ]);
          } finally {
            await control(stack, "config", { meetStatus: "success" });
          }
        },
      );

      await t.step("update-google-meet moves an all-day event to a time", async () => {
        // Made in Google Calendar itself: start and end are dates.
        const token = await stack.call("refresh-google-token", { body: {} });
        const made = await fetch(`${stack.env.GOOGLE_CALENDAR_BASE_URL}/calendars/primary/events`, {
          method: "POST",
          headers: { authorization: `Bearer ${token.json.accessToken}`, "content-type": "application/json" },
          body: JSON.stringify({
            summary: "Offsite",
            start: { date: "2026-12-01" },
            end: { date: "2026-12-02" },
          }),
        });
        const allDay = await made.json();
        assert.equal(made.status, 200, JSON.stringify(allDay));
        // A start alone would leave a date beside a dateTime: Google refuses it, and so do we.
        const half = await stack.call("update-google-meet", {
          body: { eventId: allDay.id, start: "2026-12-01T09:00:00Z" },
        });
        assert.equal(half.status, 400, JSON.stringify(half.json));
        assert.equal(half.json.code, "BAD_REQUEST");
        const r = await stack.call("update-google-meet", {
          body: { eventId: allDay.id, start: "2026-12-01T09:00:00Z", end: "2026-12-01T10:00:00Z" },
        });
        assert.equal(r.status, 200, JSON.stringify(r.json));
        assert.equal(r.json.start, "2026-12-01T09:00:00Z");
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
        // Cancelled before (Google: 410 Gone), say a retry after a lost answer: the same result.
        const again = await stack.call("cancel-google-meet", { body: { eventId } });
        assert.equal(again.status, 200, JSON.stringify(again.json));
        assert.deepEqual(again.json, { eventId, cancelled: true, alreadyCancelled: true });
        // Its requestId, even with the very same request, does not bring the cancelled event back.
        const reused = await stack.call("create-google-meet", { body: planning });
        assert.equal(reused.status, 409, JSON.stringify(reused.json));
        assert.equal(reused.json.code, "IDEMPOTENCY_CONFLICT");
        assert.match(reused.json.error as string, /cancelled/);
        // Purged by Google since (gone from reads, its id still taken): the same answer, not 404.
        await control(stack, "calendar-purge", {});
        const purged = await stack.call("create-google-meet", { body: planning });
        assert.equal(purged.status, 409, JSON.stringify(purged.json));
        assert.equal(purged.json.code, "IDEMPOTENCY_CONFLICT");
      });

      await t.step("impossible dates and offsets are 400 and never reach Calendar", async () => {
        const before = await counters(stack);
        const impossible = [
          "2026-02-30T10:00:00Z",
          "2027-02-29T10:00:00Z",
          "2026-04-31T10:00:00Z",
          "2026-13-01T10:00:00Z",
          "2026-00-10T10:00:00Z",
          "2026-11-23T24:00:00Z",
          "2026-11-23T10:60:00Z",
          "2026-11-23T10:00:60Z",
          "2026-11-23T10:00:00+24:00",
          "2026-11-23T10:00:00+05:60",
        ];
        for (const start of impossible) {
          const create = await stack.call("create-google-meet", {
            body: { requestId: `bad-${start}`, summary: "x", start, end: "2026-12-01T10:00:00Z" },
          });
          assert.equal(create.status, 400, `${start}: ${JSON.stringify(create.json)}`);
          assert.match(create.json.error as string, /start must be an RFC 3339/);
          const update = await stack.call("update-google-meet", {
            body: { eventId: "abcdefghij0123", end: start },
          });
          assert.equal(update.status, 400, `${start}: ${JSON.stringify(update.json)}`);
        }
        assert.equal((await counters(stack)).calendarCalls, before.calendarCalls, "nothing was sent");
        // Real edge cases pass: a leap day, the last minute of a year, an offset of +14:00.
        const ok = await stack.call("create-google-meet", {
          body: {
            requestId: "leap",
            summary: "Leap",
            start: "2028-02-29T23:59:59+14:00",
            end: "2028-12-31T23:59:00Z",
          },
        });
        assert.equal(ok.status, 201, JSON.stringify(ok.json));
      });

      await t.step(
        "bodies over 64 KiB are 413 PAYLOAD_TOO_LARGE, with or without Content-Length",
        async () => {
          const big = JSON.stringify({ requestId: "big", summary: "x".repeat(5 * 1024 * 1024) });
          const sized = await stack.call("create-google-meet", { rawBody: big });
          assert.equal(sized.status, 413, JSON.stringify(sized.json));
          assert.equal(sized.json.code, "PAYLOAD_TOO_LARGE");
          assert.equal(sized.json.retryable, false);
          // Chunked, no Content-Length, and endless: only a server that stops reading at the limit answers.
          let sent = 0;
          const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
          const endless = new ReadableStream<Uint8Array>({
            pull(c) {
              sent += chunk.byteLength;
              c.enqueue(chunk);
            },
          });
          const abort = new AbortController();
          const res = await fetch(`${stack.fns[0].url}/create-google-meet`, {
            method: "POST",
            headers: { authorization: `Bearer ${await jwt(USER)}`, "content-type": "application/json" },
            body: endless,
            signal: abort.signal,
          });
          const chunked = await res.json();
          abort.abort();
          assert.equal(res.status, 413, JSON.stringify(chunked));
          assert.equal(chunked.code, "PAYLOAD_TOO_LARGE");
          assert.ok(sent > 64 * 1024, `${sent} bytes were sent`);
          // A body just under the limit is read as usual.
          const under = await stack.call("refresh-google-token", {
            rawBody: JSON.stringify({ force: false, pad: "x".repeat(60 * 1024) }),
          });
          assert.equal(under.status, 200, JSON.stringify(under.json));
        },
      );

      await t.step(
        "every response names its request: X-Request-Id, and requestId in error bodies",
        async () => {
          const ok = await stack.call("get-token-status", { method: "GET" });
          assert.match(ok.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
          assert.match(ok.headers.get("access-control-expose-headers") ?? "", /X-Request-Id/);
          const bad = await stack.call("create-google-meet", { rawBody: "{" });
          assert.equal(bad.json.requestId, bad.headers.get("x-request-id"));
          assert.notEqual(bad.json.requestId, ok.headers.get("x-request-id"));
          const line = stack.fns[0].logs.find((l) => l.includes(String(bad.json.requestId)));
          assert.ok(line, "the log carries the request id");
        },
      );

      await t.step("no answer is cached (tokens: RFC 6749 §5.1), and each varies with Origin", async () => {
        await stack.connect(USER);
        const token = await stack.call("refresh-google-token", { body: {} });
        assert.equal(token.status, 200, JSON.stringify(token.json));
        const bad = await stack.call("create-google-meet", { rawBody: "{" });
        const server = await stack.call("get-token-status", { method: "GET", origin: null });
        for (const [what, r] of [["token", token], ["error", bad], ["no Origin", server]] as const) {
          assert.equal(r.headers.get("cache-control"), "no-store", what);
          assert.equal(r.headers.get("vary"), "Origin", what);
        }
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
          // A time zone alone would be dropped without a word.
          ["update-google-meet", {
            body: { eventId: "abcdefghij0123", summary: "x", timeZone: "Europe/Paris" },
          }, /timeZone applies to start and end/],
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

      await t.step(
        "HTTP: a 405 names the methods in Allow; HEAD answers as GET, without a body; a body past 64 KiB is 413 wherever it is sent",
        async () => {
          const post = await stack.call("get-token-status", { method: "PUT" });
          assert.equal(post.status, 405);
          assert.equal(post.headers.get("allow"), "GET, POST, HEAD, OPTIONS");
          const onlyPost = await stack.call("refresh-google-token", { method: "GET" });
          assert.equal(onlyPost.headers.get("allow"), "POST, OPTIONS");
          // A routed function: the methods of the path asked for.
          const routed = await stack.call("connections/google/connect", { method: "GET" });
          assert.equal(routed.status, 405);
          assert.equal(routed.headers.get("allow"), "POST, OPTIONS");

          const get = await stack.call("get-token-status", { method: "GET" });
          const head = await stack.call("get-token-status", { method: "HEAD" });
          assert.equal(get.status, 200);
          assert.equal(head.status, 200);
          assert.equal(stack.bodies.at(-1)!.text, "", "HEAD has no body");
          assert.equal(head.headers.get("content-type"), get.headers.get("content-type"));
          assert.equal(head.headers.get("cache-control"), "no-store");
          // HEAD is checked like GET: no JWT, no answer.
          assert.equal((await stack.call("get-token-status", { method: "HEAD", token: null })).status, 401);

          // get-token-status reads no body, yet the limit holds for it too.
          const big = await stack.call("get-token-status", { rawBody: "x".repeat(70_000) });
          assert.equal(big.status, 413);
          assert.equal(big.json.code, "PAYLOAD_TOO_LARGE");
        },
      );

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
        // Every header supabase-js may send, trace propagation included.
        const { corsHeaders } = await import("npm:@supabase/supabase-js@2.119.1/cors");
        const allowed = new Set((pre.headers.get("access-control-allow-headers") ?? "").split(/,\s*/));
        for (const h of corsHeaders["Access-Control-Allow-Headers"].split(/,\s*/)) {
          assert.ok(allowed.has(h), `preflight allows ${h}`);
        }
        // supabase-js sends x-region when a call names a region.
        assert.ok(allowed.has("x-region"), "preflight allows x-region");
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
