// Delivers the webhook outbox (public.oauth_webhook_outbox, written by a
// trigger in the transaction of each status change) per Standard Webhooks:
// POST the stored body as it is, with webhook-id (the message id, the same on
// every attempt), webhook-timestamp (this attempt, in seconds) and
// webhook-signature (`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`,
// one per secret, space-separated). A 2xx is a delivery to that endpoint,
// anything else (3xx included: redirects are not followed) a failure.
//
// One pass: claim due messages one at a time (FOR UPDATE SKIP LOCKED inside an
// UPDATE that pushes next_attempt_at past the time an attempt can take, so
// parallel passes never send the same message at once and a crashed pass's
// claims lapse), send each to the endpoints it has not reached yet, then one
// UPDATE: delivered when every endpoint for its type has answered 2xx, else
// the next attempt per the schedule (±10 % jitter), or failed once the
// schedule is used up. Every time written comes from opts.now.
//
// An endpoint that answers 410 Gone is disabled (Standard Webhooks: stop
// sending it messages): recorded in public.oauth_webhook_endpoints_disabled,
// it counts for no message from then on, this one included, until an
// operator deletes its row.
//
// With no endpoint configured (or every one disabled), due messages are
// marked delivered with an empty delivered_to, so the outbox does not grow
// without bound while webhooks are off (they are not sent later when
// endpoints are added). A message no endpoint subscribes to (types filters)
// is marked delivered the same way. Both are counted as skipped.
import type { Db } from "../db.ts";
import { secretKeyBytes, type WebhookConfig, type WebhookEndpoint } from "./webhook_config.ts";

export interface DeliverOptions {
  /** The clock (epoch ms): every timestamp written and sent comes from it. */
  now: () => number;
  fetch?: typeof fetch;
  /** At most this many messages are claimed in this pass (default 200). */
  limit?: number;
  /** Epoch ms: no message is claimed past it (requests under way finish). */
  deadline?: number;
  /** [0, 1) for the retry jitter (default Math.random; 0.5 means none). */
  random?: () => number;
  /** Messages in flight at once (default 8). */
  concurrency?: number;
  /** Requests in flight at once for one message (default 4). */
  endpointConcurrency?: number;
  /** One request's timeout, ms (default: the configuration's). */
  timeoutMs?: number;
}

export interface DeliverResult {
  /** Messages that reached every endpoint for their type in this pass. */
  delivered: number;
  /** Messages with an endpoint left that will be tried again. */
  retried: number;
  /** Messages whose schedule ran out in this pass (failed_at set). */
  failed: number;
  /** Messages marked done without a request: no endpoint configured, or none for their type. */
  skipped: number;
  /** Messages due at the end of the pass and not claimed (limit or deadline reached). */
  backlog: number;
  /** Endpoints this pass disabled: they answered 410 Gone. */
  endpointsDisabled: number;
}

/** Added to the longest time a message's requests can take, for its claim. */
export const CLAIM_MARGIN_MS = 30_000;
const JITTER = 0.1;
const DRAIN_BATCH = 1000;
/** A Retry-After (429, 503) later than the schedule's delay is honoured up to this. */
const MAX_RETRY_AFTER_S = 86_400;

const encoder = new TextEncoder();
const keyCache = new Map<string, Promise<CryptoKey>>();

function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keyCache.get(secret);
  if (!key) {
    const bytes = secretKeyBytes(secret);
    if (!bytes) throw new TypeError("not a whsec_ secret of at least 24 bytes");
    key = crypto.subtle.importKey("raw", bytes, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    keyCache.set(secret, key);
  }
  return key;
}

function base64(bytes: ArrayBuffer): string {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s);
}

/** `v1,<base64 HMAC-SHA256 of "{id}.{timestampSeconds}.{body}">` with a `whsec_` secret. */
export async function signWebhook(
  secret: string,
  id: string,
  timestampSeconds: number,
  body: string,
): Promise<string> {
  const mac = await crypto.subtle.sign(
    "HMAC",
    await hmacKey(secret),
    encoder.encode(`${id}.${timestampSeconds}.${body}`),
  );
  return `v1,${base64(mac)}`;
}

interface Claimed {
  id: string;
  type: string;
  body: string;
  attempts: number;
  delivered_to: string[] | string;
}

type Outcome = { ok: true } | { ok: false; error: string; retryAfterS: number | null };

const iso = (ms: number) => new Date(ms).toISOString();
/** A text[] literal of endpoint ids (hex digits only: nothing to quote). */
const textArray = (ids: readonly string[]) => `{${ids.join(",")}}`;

function asList(v: string[] | string | null): string[] {
  if (Array.isArray(v)) return v;
  if (typeof v === "string") {
    try {
      const parsed = JSON.parse(v);
      if (Array.isArray(parsed)) return parsed.map(String);
    } catch { /* not JSON */ }
  }
  return [];
}

/**
 * Seconds from a Retry-After header (delta-seconds or an HTTP date), or null;
 * at most a day, whatever the receiver says (a value meant in milliseconds, or
 * a date past what a Date holds, would park its messages for years or throw).
 */
function retryAfterSeconds(value: string | null, nowMs: number): number | null {
  if (!value) return null;
  const v = value.trim();
  const s = /^\d+$/.test(v) ? Number(v) : Math.ceil((Date.parse(v) - nowMs) / 1000);
  return Number.isNaN(s) ? null : Math.min(Math.max(0, s), MAX_RETRY_AFTER_S);
}

/** Runs fn over items with at most `bound` at once; every item is run, the first error is rethrown. */
async function eachBounded<T, R>(items: T[], bound: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let error: { e: unknown } | null = null;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]);
      } catch (e) {
        error ??= { e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(bound, items.length)) }, worker));
  if (error) throw (error as { e: unknown }).e;
  return out;
}

async function post(
  doFetch: typeof fetch,
  ep: WebhookEndpoint,
  msg: Claimed,
  nowMs: number,
  timeoutMs: number,
): Promise<Outcome> {
  const timestamp = Math.floor(nowMs / 1000);
  const signatures = await Promise.all(ep.secrets.map((s) => signWebhook(s, msg.id, timestamp, msg.body)));
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  try {
    const res = await doFetch(ep.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "webhook-id": msg.id,
        "webhook-timestamp": String(timestamp),
        "webhook-signature": signatures.join(" "),
      },
      body: msg.body,
      redirect: "manual",
      signal: controller.signal,
    });
    // The body is never read (nor recorded): only the status counts.
    await res.body?.cancel().catch(() => {});
    if (res.status >= 200 && res.status < 300) return { ok: true };
    const retryAfterS = res.status === 429 || res.status === 503
      ? retryAfterSeconds(res.headers.get("retry-after"), nowMs)
      : null;
    // An opaque redirect (a fetch that does not expose it) reports status 0.
    return { ok: false, error: res.status ? String(res.status) : "redirect", retryAfterS };
  } catch {
    return { ok: false, error: timedOut ? "timeout" : "network", retryAfterS: null };
  } finally {
    clearTimeout(timer);
  }
}

const PENDING = "delivered_at is null and failed_at is null";
const DISABLED = "public.oauth_webhook_endpoints_disabled";

/**
 * One delivery pass over the outbox. Throws (STORAGE) only when the database
 * fails; an endpoint's failure is recorded on its message.
 */
export async function deliverWebhooks(
  db: Db,
  cfg: WebhookConfig,
  opts: DeliverOptions,
): Promise<DeliverResult> {
  const now = opts.now;
  const doFetch = opts.fetch ?? fetch;
  const random = opts.random ?? Math.random;
  const limit = Math.max(0, opts.limit ?? 200);
  const concurrency = Math.max(1, opts.concurrency ?? 8);
  const endpointConcurrency = Math.max(1, opts.endpointConcurrency ?? ENDPOINT_CONCURRENCY);
  const timeoutMs = opts.timeoutMs ?? cfg.timeoutMs;
  const result: DeliverResult = {
    delivered: 0,
    retried: 0,
    failed: 0,
    skipped: 0,
    backlog: 0,
    endpointsDisabled: 0,
  };
  const pastDeadline = () => opts.deadline !== undefined && now() >= opts.deadline;

  // Endpoints that answered 410 Gone, in an earlier pass or (added below) in this one.
  const gone = new Set<string>();
  if (cfg.endpoints.length > 0) {
    const rows = await db.query<{ endpoint_id: string }>(
      `select endpoint_id from ${DISABLED} where endpoint_id = any($1::text[])`,
      [textArray(cfg.endpoints.map((e) => e.id))],
    );
    for (const r of rows) gone.add(r.endpoint_id);
  }
  const endpoints = cfg.endpoints.filter((e) => !gone.has(e.id));

  if (endpoints.length === 0) {
    let left = limit;
    while (left > 0 && !pastDeadline()) {
      const batch = Math.min(left, DRAIN_BATCH);
      const t = iso(now());
      const rows = await db.query<{ n: number }>(
        `with done as (
           update public.oauth_webhook_outbox o set delivered_at = $1::timestamptz, delivered_to = '{}'
            where o.id in (select id from public.oauth_webhook_outbox
                            where ${PENDING} and next_attempt_at <= $1::timestamptz
                            order by created_at, id limit $2 for update skip locked)
           returning 1)
         select count(*)::int as n from done`,
        [t, batch],
      );
      const n = Number(rows[0]?.n ?? 0);
      result.skipped += n;
      left -= n;
      if (n < batch) break; // nothing more is due (or the rest is claimed elsewhere)
    }
    result.backlog = await backlog(db, now());
    return result;
  }

  const slowest = slowestMessageMs(endpoints.length, timeoutMs, endpointConcurrency);
  const leaseMs = slowest + CLAIM_MARGIN_MS;
  let claimed = 0;
  let exhausted = false;

  const claim = async (): Promise<Claimed | null> => {
    const t = now();
    const rows = await db.query<Claimed>(
      `update public.oauth_webhook_outbox o set next_attempt_at = $2::timestamptz
        where o.id in (select id from public.oauth_webhook_outbox
                        where ${PENDING} and next_attempt_at <= $1::timestamptz
                        order by created_at, id limit 1 for update skip locked)
        returning o.id, o.type, o.body, o.attempts, to_json(o.delivered_to) as delivered_to`,
      [iso(t), iso(t + leaseMs)],
    );
    return rows[0] ?? null;
  };

  const disable = async (ep: WebhookEndpoint) => {
    if (gone.has(ep.id)) return;
    gone.add(ep.id);
    const rows = await db.query(
      `insert into ${DISABLED} (endpoint_id, disabled_at, reason) values ($1, $2::timestamptz, '410')
       on conflict (endpoint_id) do nothing returning 1`,
      [ep.id, iso(now())],
    );
    if (rows.length > 0) result.endpointsDisabled++;
  };

  // Endpoints that asked to slow down (429, 502, 503, 504) or did not answer
  // (timeout, refused): sent nothing more in this pass (Standard Webhooks:
  // throttle), their messages kept for the next attempt. The value: until
  // when (Retry-After), or null for the rest of the pass.
  const paused = new Map<string, number | null>();
  const THROTTLING = new Set(["429", "502", "503", "504", "timeout", "network"]);

  const finish = async (
    msg: Claimed,
    outcomes: Map<string, Outcome>,
    all: WebhookEndpoint[],
    deferred: number[],
  ) => {
    const t = now();
    // An endpoint gone meanwhile (410, here or in a parallel message) counts no more.
    const applicable = all.filter((e) => !gone.has(e.id));
    // In the configuration's order (requests finish in any order).
    const tried = applicable.flatMap((e) => {
      const o = outcomes.get(e.id);
      return o ? [[e.id, o] as const] : [];
    });
    const ok = tried.filter(([, o]) => o.ok).map(([id]) => id);
    const failures = tried.filter((e): e is readonly [string, Outcome & { ok: false }] => !e[1].ok);
    const attempts = msg.attempts + 1;
    // Nothing sent (every endpoint it still needs is paused): no attempt spent,
    // tried again when they are due, at the soonest the schedule's next delay.
    const unsent = outcomes.size === 0 && deferred.length > 0;
    const exhaustedSchedule = !unsent && attempts > cfg.retrySeconds.length;
    let next = t;
    if (unsent) {
      const delay = cfg.retrySeconds[Math.min(msg.attempts, cfg.retrySeconds.length - 1)] ?? 0;
      next = Math.max(t + Math.round(delay * 1000), ...deferred);
    } else if (!exhaustedSchedule) {
      let delayS = cfg.retrySeconds[attempts - 1] * (1 + (random() * 2 - 1) * JITTER);
      const retryAfter = Math.max(-1, ...failures.map(([, f]) => f.retryAfterS ?? -1));
      if (retryAfter > delayS) delayS = retryAfter; // capped where it is read
      // Not before the paused endpoints it still needs are due again.
      next = Math.max(t + Math.round(delayS * 1000), ...deferred);
    }
    const lastError = failures.length === 0
      ? null
      : applicable.length === 1
      ? failures[0][1].error
      : failures.map(([id, f]) => `${id}=${f.error}`).join(", ");
    // delivered_to is merged in SQL, with the row's own value, and delivered_at
    // set when it then holds every endpoint for the type.
    const rows = await db.query<{ delivered: boolean; failed: boolean }>(
      `update public.oauth_webhook_outbox set
         delivered_to = array(select distinct x from unnest(delivered_to || $2::text[]) as x order by x),
         attempts = attempts + $8::int,
         delivered_at = case when $3::text[] <@ (delivered_to || $2::text[]) then $4::timestamptz end,
         failed_at = case when $3::text[] <@ (delivered_to || $2::text[]) then null
                          when $5::boolean then $4::timestamptz end,
         next_attempt_at = case when $3::text[] <@ (delivered_to || $2::text[]) or $5::boolean
                                then $4::timestamptz
                                else $6::timestamptz end,
         last_error = case when $3::text[] <@ (delivered_to || $2::text[]) then last_error else coalesce($7, last_error) end
       where id = $1 and ${PENDING}
       returning delivered_at is not null as delivered, failed_at is not null as failed`,
      [
        msg.id,
        textArray(ok),
        textArray(applicable.map((e) => e.id)),
        iso(t),
        exhaustedSchedule,
        iso(next),
        lastError,
        outcomes.size > 0 ? 1 : 0,
      ],
    );
    const row = rows[0];
    if (!row) return; // finished meanwhile by a pass whose claim outlived ours
    if (row.delivered) {
      if (outcomes.size > 0) result.delivered++;
      else result.skipped++;
    } else if (row.failed) result.failed++;
    else result.retried++;
  };

  const handle = async (msg: Claimed) => {
    const done = new Set(asList(msg.delivered_to));
    const applicable = endpoints.filter((e) => !e.types || (e.types as readonly string[]).includes(msg.type));
    const due = applicable.filter((e) => !done.has(e.id));
    const outcomes = new Map<string, Outcome>();
    const deferred: number[] = [];
    await eachBounded(due, endpointConcurrency, async (ep) => {
      if (gone.has(ep.id)) return;
      const t = now();
      if (paused.has(ep.id)) {
        const until = paused.get(ep.id)!;
        if (until === null || until > t) {
          deferred.push(until ?? t);
          return;
        }
      }
      // webhook-timestamp is this attempt's time, taken as its request starts.
      const outcome = await post(doFetch, ep, msg, t, timeoutMs);
      if (!outcome.ok && outcome.error === "410") await disable(ep);
      else outcomes.set(ep.id, outcome);
      if (!outcome.ok && THROTTLING.has(outcome.error)) {
        paused.set(ep.id, outcome.retryAfterS === null ? null : now() + outcome.retryAfterS * 1000);
      }
    });
    await finish(msg, outcomes, applicable, deferred);
  };

  const worker = async () => {
    try {
      while (!exhausted && claimed < limit && !pastDeadline()) {
        claimed++;
        const msg = await claim();
        if (!msg) {
          claimed--;
          exhausted = true;
          return;
        }
        await handle(msg);
      }
    } catch (e) {
      exhausted = true; // the database failed: the other workers stop claiming too
      throw e;
    }
  };

  const settled = await Promise.allSettled(Array.from({ length: Math.min(concurrency, limit) }, worker));
  const failure = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failure) throw failure.reason;
  result.backlog = await backlog(db, now());
  return result;
}

/** Endpoints one message is sent to at once (deliverWebhooks' `endpointConcurrency`). */
export const ENDPOINT_CONCURRENCY = 4;

/**
 * The longest one message's delivery can take: its endpoints in rounds of
 * `endpointConcurrency`, each request its whole timeout. A pass claims no
 * message later than this before its end.
 */
export function slowestMessageMs(
  endpoints: number,
  timeoutMs: number,
  endpointConcurrency = ENDPOINT_CONCURRENCY,
): number {
  return Math.ceil(endpoints / endpointConcurrency) * timeoutMs;
}

async function backlog(db: Db, nowMs: number): Promise<number> {
  const rows = await db.query<{ n: number }>(
    `select count(*)::int as n from public.oauth_webhook_outbox where ${PENDING} and next_attempt_at <= $1::timestamptz`,
    [iso(nowMs)],
  );
  return Number(rows[0]?.n ?? 0);
}
