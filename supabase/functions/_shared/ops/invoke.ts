// The refresher function's work, over the isolate's runtime: the request's
// settings checked, the pass run with the manager's refresh and the upkeep
// steps, the report returned. The function's handler stays thin.
import process from "node:process";
import { badRequest } from "../errors.ts";
import type { Runtime } from "../runtime.ts";
import { type Body, optNumber } from "../validate.ts";
import { type PassReport, type PassSettings, runPass, type Step } from "./refresher.ts";
import { rollUpEvents } from "./metrics.ts";
import { applyRetention, DEFAULT_RETENTION } from "./retention.ts";
import { deliverWebhooks, slowestMessageMs } from "./webhooks.ts";

/** One instance id per isolate, in the run log. */
const INSTANCE = `refresher-${crypto.randomUUID().slice(0, 8)}`;

function int(b: Body, key: string, fallback: number, min: number, max: number): number {
  const v = optNumber(b, key) ?? fallback;
  if (!Number.isInteger(v) || v < min || v > max) {
    throw badRequest(`${key} must be an integer from ${min} to ${max}`);
  }
  return v;
}

/**
 * The isolate's CPU time, ms, where the runtime reports it (Deno does, through
 * node:process); null where it does not. Supabase's edge runtime answers
 * process.cpuUsage() with zeros: a process that is running has used some.
 */
export function cpuMs(
  usage: () => { user: number; system: number } = () => process.cpuUsage(),
): number | null {
  try {
    const u = usage();
    const ms = (u.user + u.system) / 1000;
    return ms > 0 ? ms : null;
  } catch {
    return null;
  }
}

/** The longest time budget a pass takes, s: under Supabase's 150 s request idle timeout. */
export const MAX_BUDGET_SECONDS = 140;

/** The request's settings: withinSeconds, concurrency, budgetSeconds, cpuBudgetMs, limit, webhookLimit. */
export function passSettings(b: Body): PassSettings {
  return {
    withinSeconds: int(b, "withinSeconds", 900, 0, 86_400),
    concurrency: int(b, "concurrency", 10, 1, 100),
    // Supabase answers 504 to a request idle for 150 s and stops a function at
    // its wall-clock limit (150 s on the free plan): a pass past that is killed
    // mid-way, its claims held until their budget runs out.
    budgetMs: int(b, "budgetSeconds", 60, 1, MAX_BUDGET_SECONDS) * 1000,
    // Supabase's limit is 2 s of CPU per request: keep a margin for the upkeep steps.
    cpuBudgetMs: int(b, "cpuBudgetMs", 1_500, 0, 3_600_000),
    limit: int(b, "limit", 10_000, 1, 100_000),
    // Messages one pass delivers: a backlog (an outage's recoveries) drains
    // faster with more, each message's requests within the pass's budget.
    webhookLimit: int(b, "webhookLimit", 200, 0, 100_000),
  };
}

/**
 * One webhook request's timeout in a pass: WEBHOOK_TIMEOUT_MS, or a quarter of
 * the pass's budget when that is shorter, so a long timeout (or a short
 * budget) still leaves the pass time to send its messages.
 */
export function passWebhookTimeoutMs(configuredMs: number, budgetMs: number): number {
  return Math.max(1, Math.min(configuredMs, Math.floor(budgetMs / 4)));
}

/**
 * What claiming keeps back for the work that may run past it: a refresh
 * begun just before claiming stops may run one provider call past it
 * (getValidToken starts no retry past its deadline), and a webhook message
 * its requests' timeouts (`slowestMessageMs`, when endpoints are configured).
 */
export function passStepsReserveMs(providerTimeoutMs: number, webhookMessageMs: number | null): number {
  return providerTimeoutMs + (webhookMessageMs ?? 0);
}

export async function refresherPass(rt: Runtime, settings: PassSettings): Promise<PassReport> {
  const now = () => Date.now();
  const webhookTimeoutMs = passWebhookTimeoutMs(rt.cfg.webhooks.timeoutMs, settings.budgetMs);
  // One message to every endpoint: rounds of ENDPOINT_CONCURRENCY requests.
  const messageMs = slowestMessageMs(rt.cfg.webhooks.endpoints.length, webhookTimeoutMs);
  const steps: Step[] = [
    // Messages of this pass's status changes go out in this pass; a message
    // under way may run its requests' timeouts past the deadline, so claiming
    // stops before.
    async (deadline) => {
      const w = await deliverWebhooks(rt.db, rt.cfg.webhooks, {
        now,
        limit: settings.webhookLimit,
        deadline: deadline - messageMs,
        timeoutMs: webhookTimeoutMs,
      });
      return {
        webhooksDelivered: w.delivered,
        webhooksRetried: w.retried,
        webhooksFailed: w.failed,
        webhookBacklog: w.backlog,
        webhookEndpointsDisabled: w.endpointsDisabled,
      };
    },
    // Counters first: retention deletes only events the roll-up has counted.
    async () => {
      await rollUpEvents(rt.db, now());
      return {};
    },
    async (deadline) => ({
      eventsDeleted: await applyRetention(rt.db, {
        ...DEFAULT_RETENTION,
        retentionMs: rt.cfg.eventRetentionMs,
      }, {
        now,
        deadline,
      }),
    }),
  ];
  return await runPass({
    db: rt.db,
    now,
    instance: INSTANCE,
    cpuMs: () => cpuMs(),
    upkeep: rt.manager.providerUpkeep,
    refresh: async ({ row }, opts) => {
      const t = await rt.manager.getValidTokenFor(row, opts);
      return { refreshed: t.refreshed, warning: t.warning };
    },
    steps,
    // Claiming stops early enough for both to end within the budget.
    stepsReserveMs: passStepsReserveMs(
      rt.manager.requestTimeoutMs,
      rt.cfg.webhooks.endpoints.length > 0 ? messageMs : null,
    ),
  }, settings);
}
