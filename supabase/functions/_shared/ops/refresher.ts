// One background refresher invocation (a "pass"): warn grants about to end,
// claim due connections in batches and refresh them through the manager (the
// one refresh path, with its lease) with bounded concurrency and per-provider
// breakers, stop claiming before the time budget, then run the upkeep steps
// (webhook delivery, metric roll-up, retention) in what is left of it, and
// record the run. Parallel invocations split the work through the claims.
import type { Db } from "../db.ts";
import {
  Breakers,
  type BreakerSettings,
  DEFAULT_BREAKER,
  type OpenBreaker,
  openBreakers,
} from "./breaker.ts";
import {
  type Claimed,
  claimExpiring,
  claimIdle,
  countDue,
  releaseClaims,
  warnExpiringGrants,
} from "./claims.ts";

export interface Upkeep {
  provider: string;
  keepAliveSeconds: number | null;
  refreshTokenWarningSeconds: number;
}

/** A refresh through the manager, from the claimed row: what it says, never the token. */
export type RefreshFn = (
  claimed: Claimed,
  opts: { force?: boolean; minValiditySeconds?: number; deadline?: number },
) => Promise<
  { refreshed: boolean; warning: { code: string; retryAfter?: number; providerRetryAfter?: number } | null }
>;

export interface PassSettings {
  /** Due: the access token expires within this many seconds. */
  withinSeconds: number;
  /** Refreshes in flight at once. */
  concurrency: number;
  /** The invocation's time budget, ms: claiming stops before it. */
  budgetMs: number;
  /**
   * The invocation's CPU budget, ms (0: none): claiming stops once the
   * isolate has used this much CPU since the pass began. Supabase stops a
   * function at 2 s of CPU per request, whatever its wall-clock budget.
   */
  cpuBudgetMs: number;
  /** The most connections one invocation claims. */
  limit: number;
  /** The most webhook messages one pass delivers (200). */
  webhookLimit?: number;
}

/** An upkeep step run after the refreshes, with the time left (a deadline, epoch ms). */
export type Step = (deadline: number) => Promise<Partial<StepTotals>>;

export interface StepTotals {
  webhooksDelivered: number;
  webhooksRetried: number;
  webhooksFailed: number;
  webhookBacklog: number;
  /** Endpoints disabled in this pass (they answered 410 Gone). */
  webhookEndpointsDisabled: number;
  eventsDeleted: number;
}

export interface PassDeps {
  db: Db;
  refresh: RefreshFn;
  upkeep: Upkeep[];
  now: () => number;
  instance: string;
  breaker?: BreakerSettings;
  /** Upkeep steps in order (webhooks, roll-up, retention), each given the deadline. */
  steps?: Step[];
  /** Time the steps need before their deadline (ms), kept free of claims: see upkeepReserveMs. */
  stepsReserveMs?: number;
  /** The isolate's CPU time used so far, ms (null where the runtime cannot tell). */
  cpuMs?: () => number | null;
  /** Called when a claim batch is taken (tests and benchmarks watch it). */
  onClaim?: (batch: Claimed[]) => void;
}

export interface PassReport extends StepTotals {
  runId: number;
  /**
   * done: it claimed all that was due while it ran (`remaining` then counts
   * only what fell due after its last claim); budget: stopped claiming before the budget;
   * limit: claimed its limit; breaker: what is left belongs to providers whose breaker is open;
   * cpu: stopped claiming at its CPU budget.
   */
  stopped: "done" | "budget" | "limit" | "breaker" | "cpu" | "error";
  checked: number;
  refreshed: number;
  keptAlive: number;
  failed: number;
  failedByCode: Record<string, number>;
  skippedByBreaker: number;
  breakers: Record<string, OpenBreaker>;
  /** Due connections left for the next invocation. */
  remaining: number;
  warned: number;
  elapsedMs: number;
  budgetMs: number;
  /** CPU the isolate used during the pass, ms (null where the runtime cannot tell). */
  cpuMs: number | null;
}

/**
 * The part of the budget kept after the last claim: the upkeep steps' own
 * share (a fifth, at most 5 s) plus `stepsMs`, what a step needs before its
 * deadline (webhook delivery stops starting requests one request timeout
 * before the end), never more than half the budget.
 */
export function upkeepReserveMs(budgetMs: number, stepsMs = 0): number {
  return Math.min(Math.floor(budgetMs / 2), Math.min(5_000, Math.floor(budgetMs / 5)) + stepsMs);
}

/**
 * A refresh's failure as the breaker reads it: its code and the provider's
 * own Retry-After (not `retryAfter`, which is this grant's cooldown: a grant
 * that failed four times before would hold the provider closed for every
 * user for eight minutes after a Retry-After of 1 s).
 */
function breakerFailure(e: unknown): { code: string; retryAfter?: number } {
  const err = e as { code?: unknown; providerRetryAfter?: unknown };
  return {
    code: typeof err?.code === "string" ? err.code : "INTERNAL",
    ...(typeof err?.providerRetryAfter === "number" ? { retryAfter: err.providerRetryAfter } : {}),
  };
}

/** The CPU one refresh costs the function, ms, where the runtime cannot measure it (rounded up from `make bench`). */
export const CPU_PER_REFRESH_MS = 1;

/** Claims are taken in batches of this many times the concurrency. */
const BATCH_FACTOR = 2;

export async function runPass(deps: PassDeps, s: PassSettings): Promise<PassReport> {
  const { db, now } = deps;
  const started = now();
  const claimUntil = started + s.budgetMs;
  const stopClaimingAt = started + s.budgetMs - upkeepReserveMs(s.budgetMs, deps.stepsReserveMs);
  const cpu = deps.cpuMs ?? (() => null);
  const cpuStart = cpu();
  const cpuUsed = () => {
    const c = cpu();
    return c === null || cpuStart === null ? null : c - cpuStart;
  };
  // A run the platform killed (wall clock, CPU) never recorded its end: past
  // its budget and a minute, it is closed as an error rather than shown running.
  await db.query(
    `update public.oauth_refresher_runs set finished_at = to_timestamp($1::float8 / 1000), stopped = 'error'
      where finished_at is null
        and started_at < to_timestamp($1::float8 / 1000) - make_interval(secs => (budget_ms + 60000) / 1000.0)`,
    [started],
  );
  const [{ id: runId }] = await db.query<{ id: number }>(
    `insert into public.oauth_refresher_runs (instance, started_at, budget_ms, concurrency)
     values ($1, to_timestamp($2::float8 / 1000), $3, $4) returning id::int as id`,
    [deps.instance, started, s.budgetMs, s.concurrency],
  );
  const r: PassReport = {
    runId,
    stopped: "done",
    checked: 0,
    refreshed: 0,
    keptAlive: 0,
    failed: 0,
    failedByCode: {},
    skippedByBreaker: 0,
    breakers: {},
    remaining: 0,
    warned: 0,
    webhooksDelivered: 0,
    webhooksRetried: 0,
    webhooksFailed: 0,
    webhookBacklog: 0,
    webhookEndpointsDisabled: 0,
    eventsDeleted: 0,
    elapsedMs: 0,
    budgetMs: s.budgetMs,
    cpuMs: null,
  };
  const providers = deps.upkeep.map((u) => u.provider);
  try {
    const breakers = new Breakers(
      deps.breaker ?? DEFAULT_BREAKER,
      s.concurrency,
      await openBreakers(db, started),
    );
    r.warned = await warnExpiringGrants(db, {
      notices: deps.upkeep.map((u) => ({
        provider: u.provider,
        noticeMs: u.refreshTokenWarningSeconds * 1000,
      })),
      now: started,
      instance: deps.instance,
      limit: 1000,
    });

    // The claim queue: one claim in flight at a time; the next batch is
    // claimed while the last is worked on (see next()).
    const queue: Claimed[] = [];
    // Every claim is given back at the end: the next invocation may take what is due again.
    const taken: Claimed[] = [];
    let claimed = 0;
    let exhausted = false;
    let claiming: Promise<void> | null = null; // never rejects: see claim()
    // Where the last claim's scan ended (the soonest expiry not yet passed).
    let cursor: number | undefined;
    const idleDone = new Set<string>();
    const claimMore = async () => {
      const t = now();
      if (t >= stopClaimingAt) {
        r.stopped = "budget";
        exhausted = true;
        return;
      }
      const used = cpuUsed();
      // Where the runtime cannot tell (Supabase's edge runtime answers
      // process.cpuUsage() with zeros), the refreshes claimed stand in for it
      // at the measured cost of one (`make bench`: 0.8-0.9 ms).
      const overBudget = used !== null
        ? used >= s.cpuBudgetMs
        : claimed * CPU_PER_REFRESH_MS >= s.cpuBudgetMs;
      if (claimed > 0 && s.cpuBudgetMs > 0 && overBudget) {
        r.stopped = "cpu";
        exhausted = true;
        return;
      }
      if (claimed >= s.limit) {
        r.stopped = "limit";
        exhausted = true;
        return;
      }
      // Breakers the invocations running meanwhile opened since the last claim.
      if (claimed > 0) breakers.learn(await openBreakers(db, t));
      const open = providers.filter((p) => !breakers.isOpen(p));
      const want = Math.min(s.concurrency * BATCH_FACTOR, s.limit - claimed);
      let batch = await claimExpiring(db, {
        before: t + s.withinSeconds * 1000,
        providers: open,
        now: t,
        limit: want,
        until: claimUntil,
        from: cursor,
      });
      for (const c of batch) cursor = Math.max(cursor ?? -Infinity, c.row.expiresAt ?? -Infinity);
      // Keep-alive once nothing is about to expire.
      for (const u of deps.upkeep) {
        if (batch.length > 0) break;
        if (u.keepAliveSeconds === null || idleDone.has(u.provider) || breakers.isOpen(u.provider)) continue;
        batch = await claimIdle(db, {
          provider: u.provider,
          idleSince: t - u.keepAliveSeconds * 1000,
          now: t,
          limit: want,
          until: claimUntil,
        });
        if (batch.length < want) idleDone.add(u.provider);
      }
      if (batch.length === 0) {
        exhausted = true;
        return;
      }
      claimed += batch.length;
      deps.onClaim?.(batch);
      taken.push(...batch);
      queue.push(...batch);
    };
    // A claim that fails (the database gone) ends the pass at once: no
    // worker starts anything more, the refreshes under way finish (their
    // writes are the manager's, lease and all), the pass gives back its
    // claims if the database lets it, and fails. Failing at the first error
    // rather than when the workers next ask for work leaves nothing running,
    // claiming again, after the pass has answered.
    const failed: { error?: unknown; yes: boolean } = { yes: false };
    const claim = () => (claiming ??= claimMore()
      .catch((error) => {
        if (!failed.yes) Object.assign(failed, { error, yes: true });
        exhausted = true;
        queue.length = 0;
      })
      .finally(() => (claiming = null)));
    const next = async (): Promise<Claimed | null> => {
      // Past the point where claiming stops, no refresh starts either: what
      // is still queued is given back (each could take its timeouts, past the
      // budget the upkeep steps and Supabase's request limit need).
      if (queue.length > 0 && now() >= stopClaimingAt) {
        r.stopped = "budget";
        exhausted = true;
        queue.length = 0;
        return null;
      }
      while (queue.length === 0 && !exhausted) await claim();
      // Claim the next batch while this one is being worked on.
      if (queue.length <= s.concurrency && !exhausted) void claim();
      return queue.shift() ?? null;
    };

    const one = async (c: Claimed) => {
      if (!(await breakers.acquire(c.provider))) {
        r.skippedByBreaker++;
        return;
      }
      // Waiting for a slot may have taken it past the point where claiming stops.
      if (now() >= stopClaimingAt) {
        breakers.cancel(c.provider);
        r.stopped = "budget";
        exhausted = true;
        queue.length = 0;
        return;
      }
      r.checked++;
      let failure: { code: string; retryAfter?: number } | null = null;
      try {
        // No retry of the provider call is started that could end after
        // claiming stops: a refresh begun just before it ends within one
        // request timeout of it, not its whole retry schedule (up to the
        // lease, 43 s by default) past the budget.
        const t = await deps.refresh(
          c,
          c.keepAlive
            ? { force: true, deadline: stopClaimingAt }
            : { minValiditySeconds: s.withinSeconds, deadline: stopClaimingAt },
        );
        failure = t.warning ? breakerFailure(t.warning) : null;
        if (!failure && t.refreshed) r[c.keepAlive ? "keptAlive" : "refreshed"]++;
      } catch (e) {
        failure = breakerFailure(e);
      }
      if (failure) {
        r.failed++;
        r.failedByCode[failure.code] = (r.failedByCode[failure.code] ?? 0) + 1;
      }
      breakers.release(c.provider, failure, now());
      // Written as it opens, not at the pass's end (up to the budget later):
      // the other invocations running now skip the provider too. A failed
      // write is tried again at the end, where its failure ends the pass.
      if (breakers.unsaved) await breakers.persist(db).catch(() => {});
    };
    const worker = async () => {
      for (let c = await next(); c; c = await next()) await one(c);
    };
    await Promise.all(Array.from({ length: s.concurrency }, worker));
    // A claim started ahead (the next batch) lands before its rows are given back.
    if (claiming) await claiming;
    if (failed.yes) {
      await releaseClaims(db, taken, claimUntil).catch(() => {});
      throw failed.error;
    }

    r.breakers = breakers.open();
    // The claims go back whatever the breakers' write does.
    try {
      await breakers.persist(db);
    } finally {
      await releaseClaims(db, taken, claimUntil);
    }
    const t = now();
    r.remaining = await countDue(db, {
      before: t + s.withinSeconds * 1000,
      providers,
      now: t,
      idle: deps.upkeep.filter((u) => u.keepAliveSeconds !== null).map((u) => ({
        provider: u.provider,
        idleSince: t - u.keepAliveSeconds! * 1000,
      })),
    });
    if (r.remaining === 0) r.stopped = "done";
    else if (r.stopped === "done" && Object.keys(r.breakers).length > 0) r.stopped = "breaker";

    for (const step of deps.steps ?? []) Object.assign(r, await step(started + s.budgetMs));
    r.elapsedMs = now() - started;
    r.cpuMs = cpuUsed();
    await finish(db, r, now());
    return r;
  } catch (e) {
    // What the pass did before it failed is recorded with it (a failure in
    // an upkeep step comes after every refresh).
    r.stopped = "error";
    r.elapsedMs = now() - started;
    await finish(db, r, now()).catch(() => {});
    throw e;
  }
}

async function finish(db: Db, r: PassReport, at: number): Promise<void> {
  await db.query(
    `update public.oauth_refresher_runs
        set finished_at = to_timestamp($2::float8 / 1000), stopped = $3, checked = $4, refreshed = $5,
            kept_alive = $6, failed = $7, failed_by_code = $8::jsonb, skipped_by_breaker = $9,
            breakers = $10::jsonb, remaining = $11, warned = $12, webhooks_delivered = $13,
            webhooks_failed = $14, events_deleted = $15
      where id = $1`,
    [
      r.runId,
      at,
      r.stopped,
      r.checked,
      r.refreshed,
      r.keptAlive,
      r.failed,
      JSON.stringify(r.failedByCode),
      r.skippedByBreaker,
      JSON.stringify(r.breakers),
      r.stopped === "error" ? null : r.remaining, // not counted when the pass failed
      r.warned,
      r.webhooksDelivered,
      r.webhooksFailed,
      r.eventsDeleted,
    ],
  );
}
