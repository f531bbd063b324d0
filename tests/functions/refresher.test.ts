// The background refresher over HTTP, on a real Postgres with the emulator:
// what is due is refreshed and the rest left alone; parallel invocations split
// the work and refresh each connection once; a 429 or a run of 5xx stops the
// provider for the pass (and, through oauth_provider_breakers, for the next
// invocations until it closes); the time budget stops claiming and the report
// says what is left; idle grants are kept alive; grants about to end are
// warned once (status, event, webhook outbox); every run is recorded.
import assert from "node:assert/strict";
import { SignJWT } from "npm:jose@6.2.17";
import { Webhook } from "npm:standardwebhooks@1.1";
import {
  control,
  counters,
  extraServer,
  JWT_SECRET,
  OTHER,
  type Stack,
  startStack,
  USER,
} from "./harness.ts";

const serviceKey = () =>
  new SignJWT({ role: "service_role" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(new TextEncoder().encode(JWT_SECRET));

async function pass(s: Stack, body: Record<string, unknown> = {}, server = 0) {
  const r = await s.call("refresh-expiring-tokens", {
    token: await serviceKey(),
    origin: null,
    body,
    server,
  });
  assert.equal(r.status, 200, `${JSON.stringify(r.json)}\n${s.fns[server].logs.slice(-5).join("\n")}`);
  return r.json as Record<string, unknown> & {
    checked: number;
    refreshed: number;
    keptAlive: number;
    failed: number;
    failedByCode: Record<string, number>;
    skippedByBreaker: number;
    breakers: Record<string, { reason: string; until: number }>;
    remaining: number;
    stopped: string;
    warned: number;
    runId: number;
    webhooksDelivered: number;
    webhooksRetried: number;
    cpuMs: number | null;
  };
}

const uuid = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;

/** n connected users (ids from `from`), every access token an hour-long one expiring in 5 minutes. */
async function seedDue(s: Stack, n: number, from = 1000): Promise<string[]> {
  const ids = Array.from({ length: n }, (_, i) => uuid(from + i));
  for (const id of ids) await s.connect(id);
  await s.pg
    .sql`update oauth_connections set expires_at = now() + interval '5 minutes', token_refreshed_at = now() - interval '55 minutes'
    where user_id = any(${ids}::uuid[])`;
  return ids;
}

async function clean(s: Stack) {
  await s.pg.sql`delete from oauth_connections`;
  await s.pg.sql`delete from oauth_provider_breakers`;
  await s.pg.sql`delete from oauth_refresher_runs`;
  await s.pg.sql`delete from oauth_webhook_outbox`;
}

Deno.test({
  name: "background refresher: what is due, service callers only, the run log",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const s = await startStack();
    try {
      const THIRD = "33333333-3333-4333-8333-333333333333";
      for (const u of [USER, OTHER, THIRD]) await s.connect(u);
      // USER's hour-long token expires in 5 minutes, OTHER's in 2 hours, THIRD's grant is dead.
      await s.pg
        .sql`update oauth_connections set expires_at = now() + interval '5 minutes', token_refreshed_at = now() - interval '55 minutes'
        where user_id = ${USER}`;
      await s.pg
        .sql`update oauth_connections set expires_at = now() + interval '2 hours' where user_id = ${OTHER}`;
      await s.pg
        .sql`update oauth_connections set status = 'needs_reauth', expires_at = now() where user_id = ${THIRD}`;

      const asUser = await s.call("refresh-expiring-tokens", { body: {} });
      assert.equal(asUser.status, 401, "a user JWT may not run it");
      assert.equal(asUser.json.code, "UNAUTHORIZED");
      const runsAsUser = await s.call("refresh-expiring-tokens", { method: "GET" });
      assert.equal(runsAsUser.status, 401, "nor read the runs");

      const before = await counters(s);
      const r = await pass(s, { withinSeconds: 900 });
      assert.deepEqual(
        [r.checked, r.refreshed, r.failed, r.skippedByBreaker, r.remaining, r.stopped],
        [1, 1, 0, 0, 0, "done"],
      );
      assert.equal((await counters(s)).refreshGrants - before.refreshGrants, 1);
      const [row] = await s.pg.sql`select expires_at > now() + interval '50 minutes' as fresh
        from oauth_connections where user_id = ${USER}`;
      assert.equal(row.fresh, true);

      const again = await pass(s);
      assert.equal(again.checked, 0, "nothing is due any more");
      for (const bad of [{ limit: 0 }, { concurrency: 0 }, { concurrency: 101 }, { budgetSeconds: 0 }]) {
        const b = await s.call("refresh-expiring-tokens", {
          token: await serviceKey(),
          origin: null,
          body: bad,
        });
        assert.equal(b.status, 400, JSON.stringify(bad));
        assert.equal(b.json.code, "BAD_REQUEST");
      }

      // Every run is recorded, newest first.
      const runs = await s.call("refresh-expiring-tokens", {
        token: await serviceKey(),
        origin: null,
        method: "GET",
      });
      assert.equal(runs.status, 200);
      const list = runs.json.runs as Record<string, unknown>[];
      assert.equal(list.length, 2);
      assert.equal(list[0].id, again.runId);
      assert.equal(list[1].id, r.runId);
      assert.deepEqual(
        [list[1].checked, list[1].refreshed, list[1].failed, list[1].stopped, list[1].remaining],
        [1, 1, 0, "done", 0],
      );
      assert.ok(list[1].finishedAt, "finished");
    } finally {
      await s.stop();
    }
  },
});

Deno.test({
  name: "background refresher: two invocations in parallel refresh each due connection exactly once",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const s = await startStack({ servers: 2, emulator: { config: { tokenLatencyMs: 20 } } });
    try {
      const ids = await seedDue(s, 60);
      const before = await counters(s);
      const claims: Record<string, unknown>[] = [];
      const [a, b] = await Promise.all([
        pass(s, { concurrency: 5 }, 0),
        pass(s, { concurrency: 5 }, 1),
      ]);
      claims.push(a, b);
      assert.equal(a.refreshed + b.refreshed, ids.length, JSON.stringify(claims));
      assert.equal(a.checked + b.checked, ids.length, "no connection is checked twice");
      assert.ok(a.checked > 0 && b.checked > 0, `both invocations took work: ${a.checked}/${b.checked}`);
      assert.equal(
        (await counters(s)).refreshGrants - before.refreshGrants,
        ids.length,
        "one provider call each",
      );
      const [{ fresh }] = await s.pg.sql`select count(*)::int as fresh from oauth_connections
        where expires_at > now() + interval '50 minutes'`;
      assert.equal(fresh, ids.length);
    } finally {
      await s.stop();
    }
  },
});

Deno.test({
  name: "background refresher: breakers stop a provider after a 429 (Retry-After) or a run of 5xx",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const s = await startStack({ env: { PROVIDER_MAX_ATTEMPTS: "1" } });
    try {
      await t429(s);
      await clean(s);
      await t429Backoff(s);
      await clean(s);
      await t5xx(s);
    } finally {
      await s.stop();
    }
  },
});

/** A grant's own backoff does not hold the provider's breaker: the provider's Retry-After (or a minute) does. */
async function t429Backoff(s: Stack) {
  await seedDue(s, 1);
  // This grant failed four times before (its cooldown is over: it is claimed).
  await s.pg.sql`update oauth_connections set failure_count = 4`;
  await control(s, "faults", { kind: "429", count: 1, retryAfter: 1 });
  const t0 = Date.now();
  const r = await pass(s, { concurrency: 1 });
  assert.equal(r.failedByCode.RATE_LIMITED, 1);
  assert.ok(r.breakers.google.until - t0 < 10_000, `open until +${r.breakers.google.until - t0} ms`);
  await clean(s);
  // The provider's 30 s (the emulator's default Retry-After), not the grant's 8 minutes.
  await seedDue(s, 1);
  await s.pg.sql`update oauth_connections set failure_count = 4`;
  await control(s, "faults", { kind: "429", count: 1 });
  const t1 = Date.now();
  const r2 = await pass(s, { concurrency: 1 });
  assert.ok(Math.abs(r2.breakers.google.until - (t1 + 30_000)) < 10_000, JSON.stringify(r2.breakers));
}

async function t429(s: Stack) {
  const ids = await seedDue(s, 30);
  await control(s, "faults", { kind: "429", count: 1000, retryAfter: 120 });
  const before = await counters(s);
  const t0 = Date.now();
  const r = await pass(s, { concurrency: 10 });
  const calls = (await counters(s)).refreshGrants - before.refreshGrants;
  const answered429 = (before.faultsPending as number) - ((await counters(s)).faultsPending as number);
  assert.equal(calls, 0, "no 429 reaches the grant handler");
  // Slow start: 4 calls in flight before the first success, and none after the first 429.
  assert.ok(answered429 >= 1 && answered429 <= 4, `provider calls: ${answered429}`);
  assert.equal(r.checked, answered429);
  assert.equal(r.failedByCode.RATE_LIMITED, answered429);
  // The rest of the claimed batch is skipped, nothing more is claimed, and all of it is left.
  assert.ok(
    r.skippedByBreaker >= 1 && r.skippedByBreaker <= 20 - answered429,
    `skipped ${r.skippedByBreaker}`,
  );
  assert.equal(r.remaining, ids.length - answered429, "left for a later pass (the 429s cool down)");
  assert.equal(r.stopped, "breaker");
  assert.equal(r.breakers.google.reason, "RATE_LIMITED");
  // Retry-After: 120 s.
  assert.ok(Math.abs(r.breakers.google.until - (t0 + 120_000)) < 10_000, JSON.stringify(r.breakers));
  const [b] = await s.pg.sql`select reason, extract(epoch from open_until - now())::int as left_s
    from oauth_provider_breakers where provider = 'google'`;
  assert.equal(b.reason, "RATE_LIMITED");
  assert.ok(b.left_s > 100 && b.left_s <= 120, `open for ${b.left_s} s`);

  // The next invocation (any isolate) does not call the provider while it is open.
  const pending = (await counters(s)).faultsPending;
  const next = await pass(s, { concurrency: 10 });
  assert.equal((await counters(s)).faultsPending, pending, "no provider call");
  assert.equal(next.checked, 0);
  assert.equal(next.breakers.google.reason, "RATE_LIMITED");
  // Skipped connections were given back, not left claimed.
  const [{ claimed }] = await s.pg.sql`select count(*)::int as claimed from oauth_connections
    where sweep_until > now() and user_id = any(${ids}::uuid[]) and cooldown_until is null`;
  assert.equal(claimed, 0);
  await control(s, "reset");
}

async function t5xx(s: Stack) {
  const ids = await seedDue(s, 20, 2000);
  await control(s, "faults", { kind: "503", count: 1000 });
  const before = (await counters(s)).faultsPending as number;
  const r = await pass(s, { concurrency: 1 });
  const calls = before - ((await counters(s)).faultsPending as number);
  assert.equal(r.breakers.google.reason, "PROVIDER_UNAVAILABLE");
  assert.equal(calls, 3, "three failures in a row open the breaker (one attempt each)");
  assert.equal(r.failed, 3);
  assert.equal(r.remaining, ids.length - 3);
  assert.ok(r.skippedByBreaker >= 1);
}

Deno.test({
  name: "background refresher: the time budget stops claiming and the report says what is left",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const s = await startStack({ emulator: { config: { tokenLatencyMs: 250 } } });
    try {
      const ids = await seedDue(s, 30);
      const t0 = Date.now();
      const r = await pass(s, { concurrency: 1, budgetSeconds: 1 });
      const took = Date.now() - t0;
      assert.equal(r.stopped, "budget");
      assert.ok(r.refreshed >= 1 && r.refreshed < ids.length, `refreshed ${r.refreshed}`);
      assert.equal(r.remaining, ids.length - r.refreshed, "what is left is said");
      assert.ok(took < 3_000, `returned in ${took} ms`);
      // The next invocation takes the rest.
      const rest = await pass(s, { concurrency: 10 });
      assert.equal(rest.refreshed, r.remaining);
      assert.equal(rest.stopped, "done");

      // A CPU budget (Supabase allows 2 s of CPU per request) stops claiming too:
      // 1 ms is spent by the first batch (at least one batch is always claimed).
      await s.pg
        .sql`update oauth_connections set expires_at = now() + interval '5 minutes', token_refreshed_at = now() - interval '55 minutes'`;
      const cpu = await pass(s, { concurrency: 5, cpuBudgetMs: 1 });
      assert.equal(cpu.stopped, "cpu");
      assert.ok(cpu.refreshed >= 10 && cpu.refreshed < ids.length, `refreshed ${cpu.refreshed}`);
      assert.equal(cpu.remaining, ids.length - cpu.refreshed);
      assert.ok(typeof cpu.cpuMs === "number" && cpu.cpuMs >= 1, `cpu ${cpu.cpuMs} ms`);
    } finally {
      await s.stop();
    }
  },
});

Deno.test({
  name: "background refresher: keep-alive refreshes idle grants whose token is still valid",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const s = await startStack({ env: { GOOGLE_KEEP_ALIVE_SECONDS: String(7 * 86_400) } });
    try {
      for (const u of [USER, OTHER]) await s.connect(u);
      // Both tokens are valid for an hour; USER's grant was last refreshed 8 days ago.
      await s.pg.sql`update oauth_connections set token_refreshed_at = now() - interval '8 days'
        where user_id = ${USER}`;
      await s.pg.sql`update oauth_connections set token_refreshed_at = now() - interval '6 days'
        where user_id = ${OTHER}`;
      const before = await counters(s);
      const r = await pass(s);
      assert.deepEqual([r.checked, r.keptAlive, r.refreshed], [1, 1, 0]);
      assert.equal((await counters(s)).refreshGrants - before.refreshGrants, 1);
      const rows = await s.pg
        .sql`select user_id::text as u, token_refreshed_at > now() - interval '1 minute' as kept
        from oauth_connections order by u`;
      assert.deepEqual(rows.map((x) => [x.u, x.kept]), [[USER, true], [OTHER, false]].sort());
      assert.equal((await pass(s)).checked, 0, "kept alive once");
      // GOOGLE_KEEP_ALIVE_SECONDS=0 turns it off.
      const off = await extraServer(s, { GOOGLE_KEEP_ALIVE_SECONDS: "0" });
      await s.pg.sql`update oauth_connections set token_refreshed_at = now() - interval '400 days'`;
      assert.equal((await pass(s, {}, off)).checked, 0);
    } finally {
      await s.stop();
    }
  },
});

Deno.test({
  name: "background refresher: a grant about to end is warned once: status, event and webhook",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const s = await startStack();
    try {
      for (const u of [USER, OTHER]) await s.connect(u);
      // USER's refresh token ends in 2 days (inside the 3-day notice), OTHER's in 5.
      await s.pg.sql`update oauth_connections set refresh_token_expires_at = now() + interval '2 days'
        where user_id = ${USER}`;
      await s.pg.sql`update oauth_connections set refresh_token_expires_at = now() + interval '5 days'
        where user_id = ${OTHER}`;
      await s.pg.sql`delete from oauth_webhook_outbox`;
      const r = await pass(s);
      assert.equal(r.warned, 1);
      const events = await s.pg.sql`select user_id::text as u, code, message from oauth_refresh_events
        where kind = 'refresh_token_expiring'`;
      assert.equal(events.length, 1);
      assert.equal(events[0].u, USER);
      assert.equal(events[0].code, "REFRESH_TOKEN_EXPIRING");
      assert.match(events[0].message, /reconnect before/);
      const msgs = await s.pg.sql`select type, body from oauth_webhook_outbox`;
      assert.deepEqual(msgs.map((m) => m.type), ["connection.refresh_token_expiring"]);
      const body = JSON.parse(msgs[0].body);
      assert.equal(body.data.userId, USER);
      assert.ok(body.data.refreshTokenExpiresAt);

      const status = await s.call("connections", { method: "GET" });
      assert.equal(status.status, 200);
      const google = (status.json as unknown as Record<string, unknown>[]).find((c) =>
        c.provider === "google"
      )!;
      const warning = google.warning as Record<string, unknown>;
      assert.equal(warning.code, "REFRESH_TOKEN_EXPIRING");
      assert.match(String(warning.message), /reconnect before/);
      const other = await s.call("connections", { method: "GET", user: OTHER });
      const og = (other.json as unknown as Record<string, unknown>[]).find((c) => c.provider === "google")!;
      assert.equal(og.warning, null);

      assert.equal((await pass(s)).warned, 0, "once per grant end");
      // A refresh that reports the same end counted down (a few seconds off): the same end.
      await s.pg
        .sql`update oauth_connections set refresh_token_expires_at = refresh_token_expires_at + interval '40 seconds'
        where user_id = ${USER}`;
      assert.equal((await pass(s)).warned, 0, "the same end, a refresh's seconds later");
      // A new grant with a new end re-arms the warning.
      await s.pg.sql`update oauth_connections set refresh_token_expires_at = now() + interval '1 day'
        where user_id = ${USER}`;
      assert.equal((await pass(s)).warned, 1);
    } finally {
      await s.stop();
    }
  },
});

Deno.test({
  name: "background refresher: delivers signed webhooks at least once, retrying a receiver that fails twice",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const secret = `whsec_${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))}`;
    const received: { id: string; body: string; status: number }[] = [];
    let calls = 0;
    const receiver = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
      const body = await req.text();
      const status = ++calls <= 2 ? 500 : 204;
      new Webhook(secret).verify(body, Object.fromEntries(req.headers));
      received.push({ id: req.headers.get("webhook-id")!, body, status });
      return new Response(null, { status });
    });
    const s = await startStack({
      env: {
        WEBHOOK_ENDPOINTS: JSON.stringify([{ url: `http://127.0.0.1:${receiver.addr.port}/hooks`, secret }]),
        WEBHOOK_RETRY_SECONDS: "0,0,0",
      },
    });
    try {
      await s.connect(USER);
      const first = await pass(s);
      assert.equal(first.webhooksRetried, 1);
      await pass(s);
      const third = await pass(s);
      assert.equal(third.webhooksDelivered, 1);
      assert.deepEqual(received.map((r) => r.status), [500, 500, 204]);
      assert.equal(new Set(received.map((r) => r.id)).size, 1, "one webhook-id across retries");
      const event = JSON.parse(received[2].body);
      assert.equal(event.type, "connection.connected");
      assert.equal(event.data.userId, USER);
      assert.equal((await pass(s)).webhooksDelivered, 0, "delivered once");
      const [row] = await s.pg
        .sql`select attempts, delivered_at is not null as done from oauth_webhook_outbox`;
      assert.deepEqual([row.attempts, row.done], [3, true]);
    } finally {
      await s.stop();
      await receiver.shutdown();
    }
  },
});

Deno.test({
  name: "background refresher: events past retention are deleted in batches, once counted by the metrics",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const s = await startStack({ env: { EVENT_RETENTION_DAYS: "30" } });
    try {
      await s.connect(USER);
      await s.pg.sql`delete from oauth_refresh_events`;
      await s.pg
        .sql`insert into oauth_refresh_events (user_id, provider, kind, code, at, duration_ms, instance)
        select ${USER}, 'google', case when g % 2 = 0 then 'refreshed' else 'failed' end,
               case when g % 2 = 0 then null else 'PROVIDER_UNAVAILABLE' end,
               now() - interval '40 days' + g * interval '1 second', 120, 'old'
          from generate_series(1, 12000) g`;
      await s.pg.sql`insert into oauth_refresh_events (user_id, provider, kind, at, duration_ms, instance)
        values (${USER}, 'google', 'refreshed', now() - interval '29 days', 80, 'recent')`;
      const r = await pass(s);
      assert.equal(r.eventsDeleted, 12000, "every old event, in batches of 5000");
      const left = await s.pg.sql`select instance from oauth_refresh_events`;
      assert.deepEqual(left.map((e) => e.instance), ["recent"]);
      // The deleted events are still counted.
      const rolled = await s.pg.sql`select kind, code, sum(count)::int as n from oauth_metrics_rollup
        group by kind, code order by kind`;
      assert.deepEqual(rolled.map((x) => [x.kind, x.code, x.n]), [
        ["failed", "PROVIDER_UNAVAILABLE", 6000],
        ["refreshed", "", 6001],
      ]);
      const runs = await s.call("refresh-expiring-tokens", {
        token: await serviceKey(),
        origin: null,
        method: "GET",
      });
      assert.equal((runs.json.runs as Record<string, unknown>[])[0].eventsDeleted, 12000);
    } finally {
      await s.stop();
    }
  },
});
