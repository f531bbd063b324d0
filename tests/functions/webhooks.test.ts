// The webhook outbox on a real Postgres 15, delivered to local receivers and
// checked with the standardwebhooks library itself: status changes become
// messages in their own transaction, every endpoint gets each message once
// with the same webhook-id and a signature of its own secret, failures are
// retried on the schedule with a fresh timestamp and signature and never
// resent to an endpoint that took them, exhausted messages fail, and parallel
// passes never send a message twice. The configuration: webhook_config.test.ts.
import assert from "node:assert/strict";
import { Webhook } from "npm:standardwebhooks@1.1";
import { connectPostgres, type Db } from "../../supabase/functions/_shared/db.ts";
import {
  type DeliverOptions,
  type DeliverResult,
  deliverWebhooks,
} from "../../supabase/functions/_shared/ops/webhooks.ts";
import { webhookBacklog } from "../../supabase/functions/_shared/ops/metrics.ts";
import { freePort, OTHER, startPostgres, USER } from "./harness.ts";
import { config, endpointsVar, newSecret, outbox } from "./webhook_helpers.ts";

/**
 * A pass's clock: a millisecond past now. Postgres stamps a message with
 * microseconds, Date.now() truncates to milliseconds: read within the same
 * millisecond as the insert, it would be before the message was due.
 */
const afterNow = () => Date.now() + 1;

/** Zero jitter: the schedule exactly. */
const NO_JITTER = () => 0.5;

/** A pass's result: these counts, every other 0. */
const passResult = (o: Partial<DeliverResult> = {}): DeliverResult => ({
  delivered: 0,
  retried: 0,
  failed: 0,
  skipped: 0,
  backlog: 0,
  endpointsDisabled: 0,
  ...o,
});

interface Received {
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  headers: Record<string, string>;
}

type Behaviour = (n: number, req: Request) => Response | Promise<Response>;

interface Receiver {
  url: string;
  got: Received[];
  stop(): Promise<void>;
}

/** A local endpoint recording each request; behave(n) answers the n-th (from 1). */
function receiver(behave: Behaviour = () => new Response("ok")): Receiver {
  const got: Received[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.text();
    const headers = Object.fromEntries(req.headers);
    got.push({
      id: headers["webhook-id"],
      timestamp: headers["webhook-timestamp"],
      signature: headers["webhook-signature"],
      body,
      headers,
    });
    return await behave(got.length, req);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/hooks`,
    got,
    stop: () => server.shutdown(),
  };
}

/** Answers after the sender's timeout (300 ms in these tests) has passed. */
async function hang(): Promise<Response> {
  await new Promise((resolve) => setTimeout(resolve, 1000));
  return new Response("late");
}

/** Verifies a received request with the standardwebhooks library (throws when it does not verify). */
function verify(secret: string, r: Received): unknown {
  return new Webhook(secret).verify(r.body, {
    "webhook-id": r.id,
    "webhook-timestamp": r.timestamp,
    "webhook-signature": r.signature,
  });
}

/** Messages written straight into the outbox (as the trigger would). */
async function enqueue(db: Db, n: number, type = "connection.needs_reauth"): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = `msg_${crypto.randomUUID().replaceAll("-", "")}`;
    const body = JSON.stringify({ type, timestamp: new Date().toISOString(), data: { i } });
    await db.query(
      `insert into public.oauth_webhook_outbox (id, type, body, created_at, next_attempt_at)
       values ($1, $2, $3, now() - interval '1 minute' + $4 * interval '1 millisecond', now() - interval '1 minute')`,
      [id, type, body, i],
    );
    ids.push(id);
  }
  return ids;
}

Deno.test({
  name: "webhooks: the outbox delivered per Standard Webhooks",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const pg = await startPostgres();
    const db = connectPostgres(pg.url, 8);
    const receivers: Receiver[] = [];
    const recv = (b?: Behaviour) => {
      const r = receiver(b);
      receivers.push(r);
      return r;
    };
    const reset = async () => {
      await db.query("delete from public.oauth_connections");
      await db.query("delete from public.oauth_webhook_outbox");
    };
    try {
      await pg.sql`insert into auth.users (id) values (${USER}), (${OTHER})`;

      await t.step("status changes become messages, sent to every endpoint and verified", async (st) => {
        const [A, B, C] = [recv(), recv(), recv()];
        const [sa, sb, sc] = [newSecret(), newSecret(), newSecret()];
        const cfg = config({
          WEBHOOK_ENDPOINTS: endpointsVar([
            { url: A.url, secret: sa },
            { url: B.url, secret: sb },
            { url: C.url, secret: sc, types: ["connection.needs_reauth"] },
          ]),
        });
        const [ea, eb, ec] = cfg.endpoints;

        const access = `v1.k1.${crypto.randomUUID()}.ACCESS-SEALED`;
        const refresh = `v1.k1.${crypto.randomUUID()}.REFRESH-SEALED`;
        await db.query(
          `insert into public.oauth_connections
             (user_id, provider, access_token_sealed, refresh_token_sealed, expires_at,
              refresh_token_expires_at, scope, status, account_id)
           values ($1, 'google', $2, $3, now() + interval '1 hour', now() + interval '3 days',
                   'openid email', 'connected', 'acct-42')`,
          [USER, access, refresh],
        );
        const set = (sql: string) =>
          db.query(`update public.oauth_connections set ${sql} where user_id = $1`, [USER]);
        await set(
          "status = 'needs_reauth', last_error_code = 'invalid_grant', last_error_message = 'revoked'",
        );
        await set("status = 'error', last_error_code = 'provider_unavailable'"); // no message for error
        await set("expires_at = now() + interval '2 hours'"); // no status change: no message
        await set("status = 'connected', last_error_code = null");
        await set("refresh_expiry_warned_for = refresh_token_expires_at");
        await db.query("delete from public.oauth_connections where user_id = $1", [USER]);

        const rows = await outbox(db);
        assert.deepEqual(rows.map((r) => r.type), [
          "connection.connected",
          "connection.needs_reauth",
          "connection.recovered",
          "connection.refresh_token_expiring",
          "connection.disconnected",
        ]);
        for (const r of rows) assert.match(r.id, /^msg_[0-9a-f]{32}$/);

        const t0 = afterNow();
        const res = await deliverWebhooks(db, cfg, { now: () => t0, random: NO_JITTER });
        assert.deepEqual(res, passResult({ delivered: 5 }));

        const ids = rows.map((r) => r.id).sort();
        const reauth = rows.find((r) => r.type === "connection.needs_reauth")!;
        assert.deepEqual(A.got.map((g) => g.id).sort(), ids, "A got every message once");
        assert.deepEqual(B.got.map((g) => g.id).sort(), ids, "B got every message once, same ids");
        assert.deepEqual(C.got.map((g) => g.id), [reauth.id], "C gets only the type it asked for");

        for (
          const [r, secret, other] of [
            ...A.got.map((g) => [g, sa, sb] as const),
            ...B.got.map((g) => [g, sb, sa] as const),
            ...C.got.map((g) => [g, sc, sa] as const),
          ]
        ) {
          const payload = verify(secret, r) as { type: string; data: Record<string, unknown> };
          assert.throws(
            () => verify(other, r),
            /No matching signature/,
            "another endpoint's secret does not verify",
          );
          assert.equal(r.headers["content-type"], "application/json");
          assert.equal(r.timestamp, String(Math.floor(t0 / 1000)));
          assert.match(r.signature, /^v1,[A-Za-z0-9+/]+=*$/);
          const stored = rows.find((x) => x.id === r.id)!;
          assert.equal(r.body, stored.body, "the stored body, byte for byte");
          assert.equal(payload.type, stored.type);
        }

        // Never a token: the sealed values (nor any part of them) are in no body.
        const byType = new Map<string, Record<string, unknown>>();
        for (const r of rows) {
          for (const secret of [access, refresh, access.slice(6, 42), refresh.slice(6, 42)]) {
            assert.ok(!r.body.includes(secret), "no sealed token in a body");
          }
          assert.doesNotMatch(r.body, /access_?token|refresh_?token"|_sealed|revoked/i);
          const p = JSON.parse(r.body);
          assert.deepEqual(Object.keys(p).sort(), ["data", "timestamp", "type"]);
          assert.match(p.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
          for (const k of Object.keys(p.data)) {
            assert.ok(
              ["userId", "provider", "status", "previousStatus", "code", "accountId", "refreshTokenExpiresAt"]
                .includes(k),
              k,
            );
          }
          byType.set(r.type, p.data);
        }
        assert.deepEqual(byType.get("connection.connected"), {
          userId: USER,
          provider: "google",
          status: "connected",
          accountId: "acct-42",
        });
        assert.deepEqual(byType.get("connection.needs_reauth"), {
          userId: USER,
          provider: "google",
          status: "needs_reauth",
          previousStatus: "connected",
          code: "invalid_grant",
          accountId: "acct-42",
        });
        assert.equal(byType.get("connection.recovered")?.previousStatus, "error");
        assert.match(String(byType.get("connection.refresh_token_expiring")?.refreshTokenExpiresAt), /Z$/);
        assert.equal(byType.get("connection.disconnected")?.status, "disconnected");

        for (const r of await outbox(db)) {
          assert.equal(r.attempts, 1);
          assert.equal(r.delivered_at?.getTime(), t0);
          assert.equal(r.failed_at, null);
          const expected = r.type === "connection.needs_reauth" ? [ea.id, eb.id, ec.id] : [ea.id, eb.id];
          assert.deepEqual([...r.delivered_to].sort(), expected.sort());
        }

        // Nothing is due any more: a second pass sends nothing.
        const again = await deliverWebhooks(db, cfg, { now: () => t0 + 60_000, random: NO_JITTER });
        assert.deepEqual(again, passResult());
        assert.equal(A.got.length + B.got.length + C.got.length, 11);

        await st.step("a tampered request does not verify", () => {
          const r = A.got[0];
          assert.ok(verify(sa, r));
          const sig = r.signature.slice(3);
          const flipped = sig[0] === "A" ? "B" + sig.slice(1) : "A" + sig.slice(1);
          assert.throws(() => verify(sa, { ...r, signature: `v1,${flipped}` }), /No matching signature/);
          assert.throws(() => verify(sa, { ...r, body: r.body.replace("google", "g00gle") }), /No matching/);
          assert.throws(() => verify(sa, { ...r, id: r.id + "0" }), /No matching signature/);
          assert.throws(
            () => verify(sa, { ...r, timestamp: String(Number(r.timestamp) + 1) }),
            /No matching signature/,
          );
          assert.throws(() => verify(sa, { ...r, signature: `v2,${sig}` }), /No matching signature/);
          // Several signatures, space-separated: one good one is enough.
          assert.ok(verify(sa, { ...r, signature: `v1,${flipped} ${r.signature}` }));
        });
      });

      await t.step("a failing endpoint is retried on the schedule until it takes the message", async () => {
        await reset();
        const OK = recv();
        const FLAKY = recv(async (n) => {
          if (n === 1) return new Response("boom: internal details", { status: 500 });
          if (n === 2) return await hang();
          return new Response(null, { status: 204 });
        });
        const [sOk, sFlaky] = [newSecret(), newSecret()];
        const cfg = config({
          WEBHOOK_ENDPOINTS: endpointsVar([{ url: OK.url, secret: sOk }, { url: FLAKY.url, secret: sFlaky }]),
          WEBHOOK_RETRY_SECONDS: "10,60,120",
          WEBHOOK_TIMEOUT_MS: "300",
        });
        const [eOk, eFlaky] = cfg.endpoints;
        await db.query(
          `insert into public.oauth_connections (user_id, provider, status) values ($1, 'spotify', 'connected')`,
          [OTHER],
        );
        const [msg] = await outbox(db);
        let clock = afterNow();
        const t0 = clock;
        const opts: DeliverOptions = { now: () => clock, random: NO_JITTER };

        assert.deepEqual(await deliverWebhooks(db, cfg, opts), passResult({ retried: 1 }));
        let [row] = await outbox(db);
        assert.equal(row.attempts, 1);
        assert.deepEqual(row.delivered_to, [eOk.id]);
        assert.equal(row.next_attempt_at.getTime(), t0 + 10_000, "the first delay of the schedule");
        assert.equal(row.last_error, `${eFlaky.id}=500`, "the status only: no body, no host");

        clock = t0 + 9_999;
        assert.deepEqual(await deliverWebhooks(db, cfg, opts), passResult());
        assert.equal(FLAKY.got.length, 1, "not before it is due");

        clock = t0 + 10_000;
        const started = Date.now();
        assert.equal((await deliverWebhooks(db, cfg, opts)).retried, 1);
        assert.ok(Date.now() - started < 3000, "the request timed out");
        [row] = await outbox(db);
        assert.equal(row.attempts, 2);
        assert.equal(row.last_error, `${eFlaky.id}=timeout`);
        assert.equal(row.next_attempt_at.getTime(), t0 + 10_000 + 60_000, "the second delay");

        clock = t0 + 70_000;
        assert.deepEqual(await deliverWebhooks(db, cfg, opts), passResult({ delivered: 1 }));
        [row] = await outbox(db);
        assert.equal(row.attempts, 3);
        assert.equal(row.delivered_at?.getTime(), t0 + 70_000);
        assert.deepEqual([...row.delivered_to].sort(), [eOk.id, eFlaky.id].sort());

        clock = t0 + 500_000;
        assert.equal((await deliverWebhooks(db, cfg, opts)).delivered, 0);

        assert.equal(OK.got.length, 1, "never again to the endpoint that took it");
        assert.equal(FLAKY.got.length, 3, "exactly three attempts");
        assert.deepEqual(FLAKY.got.map((g) => g.id), [msg.id, msg.id, msg.id], "the same webhook-id");
        assert.equal(OK.got[0].id, msg.id);
        assert.deepEqual(
          FLAKY.got.map((g) => Number(g.timestamp)),
          [t0, t0 + 10_000, t0 + 70_000].map((ms) => Math.floor(ms / 1000)),
          "each attempt's own timestamp",
        );
        assert.equal(new Set(FLAKY.got.map((g) => g.signature)).size, 3, "a fresh signature each attempt");
        for (const g of FLAKY.got) verify(sFlaky, g);
        verify(sOk, OK.got[0]);
      });

      await t.step("a message whose schedule runs out is failed", async () => {
        await reset();
        const DOWN = recv(() => new Response("no", { status: 500 }));
        const cfg = config({
          WEBHOOK_ENDPOINTS: endpointsVar([{ url: DOWN.url, secret: newSecret() }]),
          WEBHOOK_RETRY_SECONDS: "1,2",
        });
        const [id] = await enqueue(db, 1);
        let clock = afterNow();
        const t0 = clock;
        // random() = 0: the delays are 10 % shorter (the jitter's low end).
        const opts: DeliverOptions = { now: () => clock, random: () => 0 };
        assert.equal((await deliverWebhooks(db, cfg, opts)).retried, 1);
        let [row] = await outbox(db);
        assert.equal(row.next_attempt_at.getTime(), t0 + 900);
        assert.equal(row.last_error, "500", "one endpoint: the bare status");
        clock = t0 + 900;
        assert.equal((await deliverWebhooks(db, cfg, opts)).retried, 1);
        [row] = await outbox(db);
        assert.equal(row.next_attempt_at.getTime(), t0 + 900 + 1800);
        clock = t0 + 2700;
        assert.deepEqual(await deliverWebhooks(db, cfg, opts), passResult({ failed: 1 }));
        [row] = await outbox(db);
        assert.equal(row.id, id);
        assert.equal(row.attempts, 3);
        assert.equal(row.failed_at?.getTime(), t0 + 2700);
        assert.equal(row.delivered_at, null);
        assert.equal(row.last_error, "500");
        clock = t0 + 3_600_000;
        assert.equal((await deliverWebhooks(db, cfg, opts)).failed, 0);
        assert.equal(DOWN.got.length, 3, "a failed message is not sent again");
      });

      await t.step("refused connections, redirects and Retry-After", async () => {
        await reset();
        const MOVED = recv(() =>
          new Response(null, { status: 302, headers: { location: "http://127.0.0.1:9/" } })
        );
        const BUSY = recv(() => new Response("slow down", { status: 429, headers: { "retry-after": "30" } }));
        const cfg = config({
          WEBHOOK_ENDPOINTS: endpointsVar([
            { url: `http://127.0.0.1:${freePort()}/nobody`, secret: newSecret() },
            { url: MOVED.url, secret: newSecret() },
            { url: BUSY.url, secret: newSecret() },
          ]),
          WEBHOOK_RETRY_SECONDS: "5",
        });
        const [eNone, eMoved, eBusy] = cfg.endpoints;
        await enqueue(db, 1);
        const t0 = afterNow();
        assert.equal((await deliverWebhooks(db, cfg, { now: () => t0, random: NO_JITTER })).retried, 1);
        const [row] = await outbox(db);
        assert.equal(row.last_error, `${eNone.id}=network, ${eMoved.id}=302, ${eBusy.id}=429`);
        assert.equal(row.next_attempt_at.getTime(), t0 + 30_000, "Retry-After beyond the schedule's delay");
        assert.deepEqual(row.delivered_to, []);
        assert.equal(MOVED.got.length, 1);
      });

      await t.step("a receiver's Retry-After holds its messages a day at most", async () => {
        for (const value of ["86400000", "Sat, 01 Jan 300000 00:00:00 GMT"]) {
          await reset();
          const HUGE = recv(() => new Response("later", { status: 429, headers: { "retry-after": value } }));
          const cfg = config({ WEBHOOK_ENDPOINTS: endpointsVar([{ url: HUGE.url, secret: newSecret() }]) });
          await enqueue(db, 2);
          const t0 = afterNow();
          // One at a time: the second message meets the endpoint's pause.
          await deliverWebhooks(db, cfg, { now: () => t0, random: NO_JITTER, concurrency: 1 });
          const rows = await outbox(db);
          assert.equal(rows.length, 2);
          for (const row of rows) {
            assert.ok(row.next_attempt_at.getTime() <= t0 + 86_400_000, `${value}: ${row.next_attempt_at}`);
          }
        }
      });

      await t.step("parallel passes send each message once", async () => {
        await reset();
        const seen = new Map<string, number>();
        const R = recv(async (_n, req) => {
          const id = req.headers.get("webhook-id")!;
          seen.set(id, (seen.get(id) ?? 0) + 1);
          await new Promise((r) => setTimeout(r, 5 + Math.floor(Math.random() * 15)));
          return new Response("ok");
        });
        const cfg = config({ WEBHOOK_ENDPOINTS: endpointsVar([{ url: R.url, secret: newSecret() }]) });
        const ids = await enqueue(db, 40);
        const other = connectPostgres(pg.url, 8);
        try {
          const now = () => Date.now();
          const [x, y] = await Promise.all([
            deliverWebhooks(db, cfg, { now, concurrency: 4 }),
            deliverWebhooks(other, cfg, { now, concurrency: 4 }),
          ]);
          assert.equal(x.delivered + y.delivered, 40, JSON.stringify([x, y]));
          assert.ok(x.delivered > 0 && y.delivered > 0, "both passes took a share");
        } finally {
          await other.close();
        }
        assert.equal(R.got.length, 40);
        assert.deepEqual([...seen.keys()].sort(), [...ids].sort());
        assert.ok([...seen.values()].every((n) => n === 1), "no message sent twice");
        assert.ok((await outbox(db)).every((r) => r.delivered_at !== null && r.attempts === 1));
      });

      await t.step("limit and deadline stop claiming; the rest is the backlog", async () => {
        await reset();
        const R = recv();
        const cfg = config({ WEBHOOK_ENDPOINTS: endpointsVar([{ url: R.url, secret: newSecret() }]) });
        await enqueue(db, 5);
        const now = Date.now();
        assert.deepEqual(
          await deliverWebhooks(db, cfg, { now: () => now, limit: 2 }),
          passResult({ delivered: 2, backlog: 3 }),
        );
        assert.deepEqual(
          await deliverWebhooks(db, cfg, { now: () => now, deadline: now }),
          passResult({ backlog: 3 }),
        );
        assert.equal(
          (await deliverWebhooks(db, cfg, { now: () => now, deadline: now + 60_000 })).delivered,
          3,
        );
        assert.equal(R.got.length, 5);
      });

      await t.step("without endpoints, due messages are marked delivered unsent", async () => {
        await reset();
        await enqueue(db, 3);
        const [late] = await enqueue(db, 1);
        const now = Date.now();
        await db.query(
          "update public.oauth_webhook_outbox set next_attempt_at = $2::timestamptz where id = $1",
          [late, new Date(now + 60_000).toISOString()],
        );
        const res = await deliverWebhooks(db, config({}), { now: () => now });
        assert.deepEqual(res, passResult({ skipped: 3 }));
        const rows = await outbox(db);
        assert.equal(
          rows.filter((r) => r.delivered_at?.getTime() === now && r.delivered_to.length === 0).length,
          3,
        );
        assert.equal(rows.find((r) => r.id === late)?.delivered_at, null, "not yet due: left alone");
        assert.ok(rows.every((r) => r.attempts === 0));
      });

      await t.step("a type no endpoint subscribes to is done without a request", async () => {
        await reset();
        const R = recv();
        const cfg = config({
          WEBHOOK_ENDPOINTS: endpointsVar([{
            url: R.url,
            secret: newSecret(),
            types: ["connection.disconnected"],
          }]),
        });
        await enqueue(db, 2, "connection.connected");
        const now = Date.now();
        assert.deepEqual(await deliverWebhooks(db, cfg, { now: () => now }), passResult({ skipped: 2 }));
        assert.equal(R.got.length, 0);
        assert.ok((await outbox(db)).every((r) => r.delivered_at?.getTime() === now));
      });

      await t.step("an endpoint answering 410 Gone is disabled and sent nothing more", async () => {
        await reset();
        const GONE = recv(() => new Response("unsubscribed", { status: 410 }));
        const OK = recv();
        const cfg = config({
          WEBHOOK_ENDPOINTS: endpointsVar([
            { url: GONE.url, secret: newSecret() },
            { url: OK.url, secret: newSecret() },
          ]),
          WEBHOOK_RETRY_SECONDS: "0,0,0",
        });
        const [eGone] = cfg.endpoints;
        await enqueue(db, 1);
        let clock = afterNow();
        const opts: DeliverOptions = { now: () => clock, random: NO_JITTER, concurrency: 1 };
        const first = await deliverWebhooks(db, cfg, opts);
        assert.equal(first.endpointsDisabled, 1);
        assert.equal(
          first.delivered,
          1,
          "delivered: the other endpoint took it and the gone one counts no more",
        );
        assert.equal(GONE.got.length, 1);
        assert.equal(OK.got.length, 1);
        const disabled = await db.query<{ endpoint_id: string; reason: string; disabled_at: Date }>(
          "select endpoint_id, reason, disabled_at from public.oauth_webhook_endpoints_disabled",
        );
        assert.deepEqual(disabled.map((d) => [d.endpoint_id, d.reason]), [[eGone.id, "410"]]);
        assert.equal(disabled[0].disabled_at.getTime(), clock);
        assert.deepEqual((await webhookBacklog(db)).disabledEndpoints, [{ id: eGone.id, disabledAt: clock }]);

        // Later messages, in later passes: not one more request to it.
        await enqueue(db, 2);
        for (let i = 0; i < 3; i++) {
          clock += 1000;
          await deliverWebhooks(db, cfg, opts);
        }
        assert.equal(GONE.got.length, 1, "Standard Webhooks: stop sending it messages");
        assert.equal(OK.got.length, 3);
        assert.ok((await outbox(db)).every((r) => r.delivered_at !== null));

        // Every endpoint gone: messages are done unsent, as with none configured.
        const alone = config({ WEBHOOK_ENDPOINTS: endpointsVar([{ url: GONE.url, secret: newSecret() }]) });
        await enqueue(db, 1);
        clock += 1000;
        assert.equal((await deliverWebhooks(db, alone, opts)).skipped, 1);
        assert.equal(GONE.got.length, 1);

        // An operator deletes its row: it is sent messages again.
        await db.query("delete from public.oauth_webhook_endpoints_disabled");
        await enqueue(db, 1);
        clock += 1000;
        await deliverWebhooks(db, alone, opts);
        assert.equal(GONE.got.length, 2);
      });

      await t.step("an endpoint that asks to slow down is sent nothing more in the pass", async () => {
        await reset();
        let busy = true;
        const BUSY = recv(() =>
          busy
            ? new Response("slow down", { status: 429, headers: { "retry-after": "60" } })
            : new Response("ok")
        );
        const OK = recv();
        const cfg = config({
          WEBHOOK_ENDPOINTS: endpointsVar([
            { url: BUSY.url, secret: newSecret() },
            { url: OK.url, secret: newSecret() },
          ]),
        });
        const [eBusy] = cfg.endpoints;
        await enqueue(db, 5);
        const t0 = afterNow();
        const r = await deliverWebhooks(db, cfg, { now: () => t0, random: NO_JITTER, concurrency: 1 });
        assert.equal(BUSY.got.length, 1, "one request, then throttled (Standard Webhooks on 429)");
        assert.equal(OK.got.length, 5, "the other endpoint is not held back");
        assert.equal(r.retried, 5);
        const rows = await outbox(db);
        for (const row of rows) {
          assert.equal(row.next_attempt_at.getTime(), t0 + 60_000, "due again when it said");
          assert.deepEqual(row.delivered_to, [cfg.endpoints[1].id]);
        }
        assert.equal(rows[0].last_error, `${eBusy.id}=429`);
        // A minute later it takes them: each message reaches it once more, and is delivered.
        busy = false;
        const later = await deliverWebhooks(db, cfg, { now: () => t0 + 60_000, random: NO_JITTER });
        assert.equal(later.delivered, 5);
        assert.equal(BUSY.got.length, 6);
        assert.equal(OK.got.length, 5, "not sent again to the endpoint that had it");

        // Alone, it spends no attempt of the messages it was not sent.
        await reset();
        busy = true;
        const solo = config({ WEBHOOK_ENDPOINTS: endpointsVar([{ url: BUSY.url, secret: newSecret() }]) });
        await enqueue(db, 3);
        const before = BUSY.got.length;
        await deliverWebhooks(db, solo, { now: () => t0, random: NO_JITTER, concurrency: 1 });
        assert.equal(BUSY.got.length, before + 1);
        const alone = await outbox(db);
        assert.deepEqual(
          alone.map((x) => x.attempts),
          [1, 0, 0],
          "no attempt spent on the messages not sent",
        );
        assert.ok(alone.every((x) => x.next_attempt_at.getTime() === t0 + 60_000 && x.failed_at === null));
      });

      await t.step("webhook-timestamp is each request's own time", async () => {
        await reset();
        let clock = afterNow();
        // The first endpoint takes 5 s of the injected clock to answer.
        const SLOW = recv(() => {
          clock += 5_000;
          return new Response("ok");
        });
        const NEXT = recv();
        const cfg = config({
          WEBHOOK_ENDPOINTS: endpointsVar([
            { url: SLOW.url, secret: newSecret() },
            { url: NEXT.url, secret: newSecret() },
          ]),
        });
        await enqueue(db, 1);
        const t0 = clock;
        await deliverWebhooks(db, cfg, { now: () => clock, endpointConcurrency: 1 });
        assert.equal(Number(SLOW.got[0].timestamp), Math.floor(t0 / 1000));
        assert.equal(
          Number(NEXT.got[0].timestamp),
          Math.floor((t0 + 5_000) / 1000),
          "the second request is stamped when it is sent, not when the message was claimed",
        );
      });
    } finally {
      await Promise.all(receivers.map((r) => r.stop()));
      await db.close();
      await pg.stop();
    }
  },
});
