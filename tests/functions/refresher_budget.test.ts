// The background refresher's time budget, with an injected clock: a pass that
// could claim until the end still leaves its webhook step time to send, a run
// the platform killed is closed, and a pass gives back only the claims that
// are still its own.
import assert from "node:assert/strict";
import { connectPostgres, type Db } from "../../supabase/functions/_shared/db.ts";
import { Breakers, DEFAULT_BREAKER } from "../../supabase/functions/_shared/ops/breaker.ts";
import { releaseClaims } from "../../supabase/functions/_shared/ops/claims.ts";
import {
  MAX_BUDGET_SECONDS,
  passSettings,
  passStepsReserveMs,
  passWebhookTimeoutMs,
} from "../../supabase/functions/_shared/ops/invoke.ts";
import { runPass, upkeepReserveMs } from "../../supabase/functions/_shared/ops/refresher.ts";
import { slowestMessageMs } from "../../supabase/functions/_shared/ops/webhooks.ts";
import { startPostgres } from "./harness.ts";

/** `f` with a fresh Postgres 15 and a pool of `size` connections to it, closed after. */
async function withDb(size: number, f: (db: Db) => Promise<void>): Promise<void> {
  const pg = await startPostgres();
  const db = connectPostgres(pg.url, size);
  try {
    await f(db);
  } finally {
    await db.close();
    await pg.stop();
  }
}

const uuid = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;

/** `n` users, each with a Google connection due within a minute; their ids. */
async function seedDue(db: Db, n: number): Promise<string[]> {
  const users = Array.from({ length: n }, (_, i) => uuid(i + 1));
  await db.query(`insert into auth.users (id) select unnest($1::uuid[])`, [users]);
  await db.query(
    `insert into public.oauth_connections
       (user_id, provider, access_token_sealed, refresh_token_sealed, expires_at, status)
     select u, 'google', 'v1.k1.a.b', 'v1.k1.c.d', now() + interval '1 minute', 'connected'
       from unnest($1::uuid[]) as u`,
    [users],
  );
  return users;
}

Deno.test("refresher budget: the reserve after the last claim covers a webhook request's timeout", () => {
  // Without webhook endpoints: a fifth of the budget, at most 5 s, as before.
  assert.equal(upkeepReserveMs(60_000), 5_000);
  assert.equal(upkeepReserveMs(10_000), 2_000);
  for (const budget of [20_000, 60_000, MAX_BUDGET_SECONDS * 1000]) {
    for (const timeout of [1_000, 5_000, 10_000]) {
      if (budget < 3 * timeout) continue;
      const stopClaiming = budget - upkeepReserveMs(budget, timeout);
      const webhookDeadline = budget - timeout;
      assert.ok(
        webhookDeadline - stopClaiming >= Math.min(5_000, budget / 5),
        `budget ${budget}, timeout ${timeout}: claiming stops at ${stopClaiming}, webhooks until ${webhookDeadline}`,
      );
    }
  }
  // Never more than half the budget, whatever the timeout.
  assert.equal(upkeepReserveMs(10_000, 120_000), 5_000);
  // Every budget a request may ask for, with every timeout WEBHOOK_TIMEOUT_MS
  // accepts (up to 120 s): the pass's request timeout is cut to a quarter of
  // the budget, so webhooks are claimed for a while after the last refresh
  // claim. Before, a 60 s timeout in the default 60 s pass claimed no webhook
  // ever, nor did the default 10 s timeout in a 10 s pass.
  for (let budgetS = 1; budgetS <= MAX_BUDGET_SECONDS; budgetS++) {
    const budget = budgetS * 1000;
    for (const configured of [1_000, 10_000, 15_000, 30_000, 60_000, 120_000]) {
      const timeout = passWebhookTimeoutMs(configured, budget);
      assert.ok(timeout <= configured && timeout <= budget / 4);
      const stopClaiming = budget - upkeepReserveMs(budget, timeout);
      const webhookDeadline = budget - timeout;
      assert.ok(
        webhookDeadline - stopClaiming >= Math.min(5_000, budget / 5),
        `budget ${budget}, WEBHOOK_TIMEOUT_MS ${configured}: claiming stops at ${stopClaiming}, webhooks until ${webhookDeadline}`,
      );
    }
  }
  assert.equal(passWebhookTimeoutMs(10_000, 60_000), 10_000, "the configured timeout when it fits");
  assert.equal(passWebhookTimeoutMs(60_000, 60_000), 15_000);
  // A budget past Supabase's 150 s request idle timeout is refused.
  assert.throws(() => passSettings({ budgetSeconds: 300 }), /budgetSeconds/);
  assert.equal(passSettings({ budgetSeconds: MAX_BUDGET_SECONDS }).budgetMs, MAX_BUDGET_SECONDS * 1000);
  // The webhook messages a pass delivers: 200 unless the request says (a backlog drains faster).
  assert.equal(passSettings({}).webhookLimit, 200);
  assert.equal(passSettings({ webhookLimit: 5000 }).webhookLimit, 5000);
  assert.throws(() => passSettings({ webhookLimit: -1 }), /webhookLimit/);
});

Deno.test({
  name: "refresher budget: a pass that claims until its budget still runs its webhook step in time",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withDb(4, async (db) => {
      const users = await seedDue(db, 200);
      // A run the platform killed 10 minutes ago (it never recorded its end), and one under way.
      await db.query(
        `insert into public.oauth_refresher_runs (instance, started_at, budget_ms, concurrency)
         values ('killed', now() - interval '10 minutes', 60000, 10), ('running', now() - interval '5 seconds', 60000, 10)`,
      );
      // Each refresh takes 1 s of the injected clock: 200 of them would take the whole 60 s.
      let clock = Date.now();
      const budgetMs = 60_000;
      const webhookTimeoutMs = 10_000;
      let stepAt = 0;
      let stepDeadline = 0;
      const r = await runPass({
        db,
        now: () => clock,
        instance: "test",
        upkeep: [{ provider: "google", keepAliveSeconds: null, refreshTokenWarningSeconds: 0 }],
        refresh: () => {
          clock += 1_000;
          return Promise.resolve({ refreshed: true, warning: null });
        },
        steps: [(deadline) => {
          stepAt = clock;
          stepDeadline = deadline - webhookTimeoutMs; // what the webhook step is given
          return Promise.resolve({});
        }],
        stepsReserveMs: webhookTimeoutMs,
      }, { withinSeconds: 900, concurrency: 1, budgetMs, cpuBudgetMs: 0, limit: 10_000 });
      assert.equal(r.stopped, "budget");
      assert.ok(r.refreshed > 0 && r.refreshed < users.length, `refreshed ${r.refreshed}`);
      const runs = await db.query<{ instance: string; stopped: string | null; closed: boolean }>(
        `select instance, stopped, finished_at is not null as closed from public.oauth_refresher_runs
          where instance in ('killed', 'running') order by instance`,
      );
      assert.deepEqual([...runs], [
        { instance: "killed", stopped: "error", closed: true },
        { instance: "running", stopped: null, closed: false },
      ]);
      assert.ok(
        stepAt < stepDeadline,
        `the webhook step ran at +${stepAt - (clock - r.elapsedMs)} ms, its deadline +${
          stepDeadline - (clock - r.elapsedMs)
        } ms`,
      );
    });
  },
});

Deno.test({
  name: "refresher budget: a pass gives back only the claims still its own",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withDb(2, async (db) => {
      const [mine, theirs] = [uuid(1), uuid(2)];
      await db.query(`insert into auth.users (id) values ($1), ($2)`, [mine, theirs]);
      const t = Date.now();
      const [ours, later] = [t + 60_000, t + 120_000];
      for (const [u, until] of [[mine, ours], [theirs, later]] as const) {
        await db.query(
          `insert into public.oauth_connections
             (user_id, provider, access_token_sealed, refresh_token_sealed, expires_at, status, sweep_until)
           values ($1, 'google', 'v1.k1.a.b', 'v1.k1.c.d', now(), 'connected', to_timestamp($2::float8 / 1000))`,
          [u, until],
        );
      }
      // This pass had claimed both; the second one's claim lapsed and another pass took it.
      const claimed = [mine, theirs].map((userId) => ({ userId, provider: "google" }));
      await releaseClaims(db, claimed as Parameters<typeof releaseClaims>[1], ours);
      const rows = await db.query<{ userId: string; held: boolean }>(
        `select user_id::text as "userId", sweep_until is not null as held
           from public.oauth_connections order by user_id`,
      );
      assert.deepEqual([...rows], [{ userId: mine, held: false }, { userId: theirs, held: true }]);
    });
  },
});

Deno.test("refresher budget: where the runtime reports no CPU (Supabase's cpuUsage() is zeros), refreshes stand in for it", async () => {
  const { cpuMs } = await import("../../supabase/functions/_shared/ops/invoke.ts");
  const { CPU_PER_REFRESH_MS } = await import("../../supabase/functions/_shared/ops/refresher.ts");
  assert.equal(cpuMs(() => ({ user: 0, system: 0 })), null, "Supabase's stub: unknown, not 0 ms");
  assert.equal(cpuMs(() => ({ user: 1500, system: 500 })), 2);
  assert.equal(
    cpuMs(() => {
      throw new Error("not implemented");
    }),
    null,
  );
  await withDb(4, async (db) => {
    await seedDue(db, 100);
    const cpuBudgetMs = 20 * CPU_PER_REFRESH_MS;
    const r = await runPass({
      db,
      now: () => Date.now(),
      instance: "test",
      cpuMs: () => null,
      upkeep: [{ provider: "google", keepAliveSeconds: null, refreshTokenWarningSeconds: 0 }],
      refresh: () => Promise.resolve({ refreshed: true, warning: null }),
    }, { withinSeconds: 900, concurrency: 5, budgetMs: 60_000, cpuBudgetMs, limit: 10_000 });
    assert.equal(r.stopped, "cpu");
    assert.equal(r.refreshed, 20, "claimed in batches of 10 until 20 refreshes' worth of CPU");
    assert.ok(r.remaining > 0, "the rest is left for the next invocation");
  });
});

Deno.test({
  name: "refresher budget: no refresh starts after claiming stops; the rows still queued are given back",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withDb(4, async (db) => {
      await seedDue(db, 40);
      // A slow provider: each refresh takes 3 s of the injected clock.
      let clock = Date.now();
      const t0 = clock;
      const budgetMs = 20_000;
      const starts: number[] = [];
      const r = await runPass({
        db,
        now: () => clock,
        instance: "test",
        upkeep: [{ provider: "google", keepAliveSeconds: null, refreshTokenWarningSeconds: 0 }],
        refresh: () => {
          starts.push(clock - t0);
          clock += 3_000;
          return Promise.resolve({ refreshed: true, warning: null });
        },
      }, { withinSeconds: 900, concurrency: 5, budgetMs, cpuBudgetMs: 0, limit: 10_000 });
      const stopClaiming = budgetMs - upkeepReserveMs(budgetMs);
      assert.equal(r.stopped, "budget");
      assert.ok(starts.every((t) => t < stopClaiming), `refreshes started at +${starts.join(", +")} ms`);
      // What was claimed and not refreshed is free for the next invocation.
      const [{ held }] = await db.query<{ held: number }>(
        `select count(*)::int as held from public.oauth_connections where sweep_until > now()`,
      );
      assert.equal(held, 0);
    });
  },
});

Deno.test({
  name:
    "refresher budget: a claim the database refuses ends the pass: no refresh starts after it, its claims are given back",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withDb(4, async (real) => {
      await seedDue(real, 40);
      // The database refuses every claim after the first (batches of 10: the
      // second is taken ahead while the first is worked on) until the pass
      // has failed, then it is back. The other statements answer, so the pass
      // can record its end and give back what it holds. The first batch's
      // refreshes under way must not go on to claim and refresh more once the
      // pass has failed.
      let claims = 0;
      let back = false;
      const down = new Error("connection terminated");
      let refreshes = 0;
      const db: Db = {
        close: () => real.close(),
        query: ((text: string, params?: unknown[]) => {
          if (/set sweep_until = (?!null)/.test(text) && ++claims > 1 && !back) return Promise.reject(down);
          return real.query(text, params);
        }) as Db["query"],
      };
      const pass = runPass({
        db,
        now: () => Date.now(),
        instance: "test",
        upkeep: [{ provider: "google", keepAliveSeconds: null, refreshTokenWarningSeconds: 0 }],
        refresh: async () => {
          refreshes++;
          await new Promise((r) => setTimeout(r, 0));
          return { refreshed: true, warning: null };
        },
      }, { withinSeconds: 900, concurrency: 5, budgetMs: 60_000, cpuBudgetMs: 0, limit: 10_000 });
      pass.catch(() => (back = true));
      await assert.rejects(pass, (e) => e === down);
      const atEnd = refreshes;
      assert.ok(atEnd >= 1 && atEnd <= 10, `${atEnd} refreshes: the first batch's at most`);
      // Nothing is left running once the pass has answered (a claim a worker
      // left behind would answer within these round trips).
      for (let i = 0; i < 3; i++) await real.query("select pg_sleep(0.01)");
      assert.equal(refreshes, atEnd, "no refresh started after the pass ended");
      const [{ held }] = await real.query<{ held: number }>(
        `select count(*)::int as held from public.oauth_connections where sweep_until > now()`,
      );
      assert.equal(held, 0, "its claims are given back, not held until the budget's end");
      const [run] = await real.query<{ stopped: string }>(
        `select stopped from public.oauth_refresher_runs where instance = 'test'`,
      );
      assert.equal(run.stopped, "error");
    });
  },
});

Deno.test({
  name: "refresher budget: each refresh is given the point where claiming stops as its deadline for retries",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withDb(4, async (db) => {
      await seedDue(db, 3);
      const t0 = Date.now();
      const budgetMs = 20_000;
      const given: unknown[] = [];
      await runPass({
        db,
        now: () => t0,
        instance: "test",
        upkeep: [{ provider: "google", keepAliveSeconds: null, refreshTokenWarningSeconds: 0 }],
        refresh: (_c, opts) => {
          given.push(opts);
          return Promise.resolve({ refreshed: true, warning: null });
        },
      }, { withinSeconds: 900, concurrency: 2, budgetMs, cpuBudgetMs: 0, limit: 10_000 });
      const deadline = t0 + budgetMs - upkeepReserveMs(budgetMs);
      assert.deepEqual(given, Array(3).fill({ minValiditySeconds: 900, deadline }));
    });
  },
});

Deno.test("a provider's Retry-After keeps its breaker open an hour at most", () => {
  const b = new Breakers(DEFAULT_BREAKER, 10, new Map());
  const now = 1_700_000_000_000;
  b.release("google", { code: "RATE_LIMITED", retryAfter: 7 * 86_400 }, now);
  assert.deepEqual(b.open(), { google: { reason: "RATE_LIMITED", until: now + 3_600_000 } });
  b.release("spotify", { code: "RATE_LIMITED", retryAfter: 120 }, now);
  assert.equal(b.open().spotify.until, now + 120_000, "a shorter one stands");
});

Deno.test("refresher budget: claiming keeps back one provider call's timeout, and a webhook request's", () => {
  // A refresh claimed just before claiming stops may run one provider call
  // (PROVIDER_TIMEOUT_MS) past it: with the longest budget and a 30 s
  // timeout, the pass still ends within it (Supabase stops a function at 150 s).
  const budget = MAX_BUDGET_SECONDS * 1000;
  for (const [provider, webhook] of [[10_000, null], [30_000, null], [30_000, 10_000]] as const) {
    const reserve = upkeepReserveMs(budget, passStepsReserveMs(provider, webhook));
    const lastRefreshEnds = budget - reserve + provider;
    assert.ok(lastRefreshEnds + (webhook ?? 0) <= budget, `${provider} ${webhook}: ${lastRefreshEnds}`);
  }
  assert.equal(passStepsReserveMs(10_000, null), 10_000);
  assert.equal(passStepsReserveMs(10_000, 4_000), 14_000);
  // A message goes to its endpoints four at a time: eight endpoints take two
  // rounds of requests, and the webhook step stops claiming that long before its end.
  assert.equal(slowestMessageMs(4, 10_000), 10_000);
  assert.equal(slowestMessageMs(8, 10_000), 20_000);
  assert.equal(slowestMessageMs(9, 10_000), 30_000);
});

Deno.test({
  name: "refresher: a breaker is written when it opens, for the invocations running meanwhile",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withDb(2, async (db) => {
      const [user] = await seedDue(db, 1);
      await db.query(
        `insert into public.oauth_connections
           (user_id, provider, access_token_sealed, refresh_token_sealed, expires_at, status)
         values ($1::uuid, 'spotify', 'v1.k1.a.b', 'v1.k1.c.d', now() + interval '2 minutes', 'connected')`,
        [user],
      );
      const seen: number[] = [];
      const report = await runPass({
        db,
        now: () => Date.now(),
        instance: "test",
        upkeep: ["google", "spotify"].map((provider) => ({
          provider,
          keepAliveSeconds: null,
          refreshTokenWarningSeconds: 0,
        })),
        refresh: async (c) => {
          if (c.provider === "google") {
            throw Object.assign(new Error("rate limited"), { code: "RATE_LIMITED", providerRetryAfter: 120 });
          }
          // Another provider's refresh, later in the same pass: the breaker is already on record.
          const rows = await db.query<{ n: number }>(
            `select count(*)::int as n from public.oauth_provider_breakers where provider = 'google'`,
          );
          seen.push(rows[0].n);
          return { refreshed: true, warning: null };
        },
      }, { withinSeconds: 900, concurrency: 1, budgetMs: 20_000, cpuBudgetMs: 0, limit: 10_000 });
      assert.deepEqual(seen, [1], "written before the pass ended");
      assert.equal(report.failedByCode.RATE_LIMITED, 1);
      assert.equal(report.refreshed, 1);
    });
  },
});

Deno.test({
  name:
    "refresher: a breaker another invocation opens meanwhile stops this pass's calls to that provider too",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withDb(2, async (db) => {
      await seedDue(db, 12);
      let calls = 0;
      await runPass({
        db,
        now: () => Date.now(),
        instance: "test",
        upkeep: [{ provider: "google", keepAliveSeconds: null, refreshTokenWarningSeconds: 0 }],
        refresh: async () => {
          if (++calls === 1) {
            // Another invocation, running at the same time, met a 429.
            await db.query(
              `insert into public.oauth_provider_breakers (provider, open_until, reason, opened_at)
               values ('google', now() + interval '1 minute', 'RATE_LIMITED', now())`,
            );
          }
          return { refreshed: true, warning: null };
        },
      }, { withinSeconds: 900, concurrency: 1, budgetMs: 20_000, cpuBudgetMs: 0, limit: 10_000 });
      // The refresh under way when it opened, and at most the one queued behind it.
      assert.ok(calls <= 2, `${calls} calls to a provider another invocation found rate limited`);
    });
  },
});

Deno.test({
  name:
    "refresher: a pass whose upkeep step fails is recorded as an error with what it refreshed, its claims given back",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withDb(2, async (db) => {
      await seedDue(db, 3);
      await assert.rejects(
        runPass({
          db,
          now: () => Date.now(),
          instance: "test",
          upkeep: [{ provider: "google", keepAliveSeconds: null, refreshTokenWarningSeconds: 0 }],
          refresh: () => Promise.resolve({ refreshed: true, warning: null }),
          steps: [() => Promise.reject(new Error("the webhook step failed"))],
        }, { withinSeconds: 900, concurrency: 1, budgetMs: 20_000, cpuBudgetMs: 0, limit: 10_000 }),
        /webhook step failed/,
      );
      const [run] = await db.query<{ stopped: string; refreshed: number; finished: boolean }>(
        `select stopped, refreshed, finished_at is not null as finished from public.oauth_refresher_runs`,
      );
      assert.deepEqual(run, { stopped: "error", refreshed: 3, finished: true });
      const [{ remaining }] = await db.query<{ remaining: number | null }>(
        `select remaining from public.oauth_refresher_runs`,
      );
      assert.equal(remaining, null, "not counted: the pass failed before it could");
      const [{ n }] = await db.query<{ n: number }>(
        `select count(*)::int as n from public.oauth_connections where sweep_until is not null`,
      );
      assert.equal(n, 0, "no claim left held");
    });
  },
});
