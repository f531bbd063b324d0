// Per-provider breakers for one refresher pass. A 429 (RATE_LIMITED) opens
// the provider's breaker until its Retry-After (or a minute); a run of
// provider failures (5xx, timeouts, network) opens it for a minute. Open, the
// provider is not called again for the rest of the pass, and the breaker is
// written to oauth_provider_breakers as it opens, so every other invocation,
// in any isolate (parallel passes among them), skips the provider until it
// closes. Each provider also starts
// slowly: a few calls in flight, one more per success, up to the pass's
// concurrency, so a provider that answers 429 to everything sees a handful of
// calls, not a whole batch.
import type { Db } from "../db.ts";

export interface BreakerSettings {
  /** Consecutive provider failures that open the breaker. */
  failureRun: number;
  /** How long a failure run (or a 429 without Retry-After) keeps it open, ms. */
  openMs: number;
  /** Calls in flight per provider before the first success. */
  initialInFlight: number;
}

export const DEFAULT_BREAKER: BreakerSettings = { failureRun: 3, openMs: 60_000, initialInFlight: 4 };
/** The longest a provider's Retry-After keeps its breaker open. */
const MAX_OPEN_MS = 3_600_000;

/** Failures that say the provider, not the grant, is in trouble. */
const PROVIDER_FAILURES = new Set(["PROVIDER_UNAVAILABLE", "TIMEOUT", "NETWORK", "BAD_PROVIDER_RESPONSE"]);

export interface OpenBreaker {
  reason: string;
  until: number;
}

interface State {
  open: OpenBreaker | null;
  run: number;
  successes: number;
  inFlight: number;
  waiting: (() => void)[];
}

export class Breakers {
  #s = new Map<string, State>();
  #opened: { provider: string; open: OpenBreaker; at: number }[] = [];

  constructor(
    private readonly settings: BreakerSettings,
    private readonly concurrency: number,
    /** Breakers other invocations opened that are still open. */
    already: Map<string, OpenBreaker>,
  ) {
    for (const [provider, open] of already) this.#state(provider).open = open;
  }

  #state(provider: string): State {
    let s = this.#s.get(provider);
    if (!s) {
      s = { open: null, run: 0, successes: 0, inFlight: 0, waiting: [] };
      this.#s.set(provider, s);
    }
    return s;
  }

  /**
   * Breakers other invocations opened since (read again at each claim): a
   * provider one of them found rate limited or down is not called here
   * either, and calls waiting for a slot give theirs up.
   */
  learn(opened: Map<string, OpenBreaker>): void {
    for (const [provider, open] of opened) {
      const s = this.#state(provider);
      if (s.open) continue;
      s.open = open;
      for (const w of s.waiting.splice(0)) w();
    }
  }

  isOpen(provider: string): boolean {
    return this.#state(provider).open !== null;
  }

  /** Every breaker open in this pass (provider → reason and until). */
  open(): Record<string, OpenBreaker> {
    const out: Record<string, OpenBreaker> = {};
    for (const [p, s] of this.#s) if (s.open) out[p] = s.open;
    return out;
  }

  /**
   * Waits for a slot to call the provider; false if its breaker opened
   * meanwhile (the call must not be made).
   */
  async acquire(provider: string): Promise<boolean> {
    const s = this.#state(provider);
    const limit = () => Math.min(this.concurrency, this.settings.initialInFlight + s.successes);
    while (!s.open && s.inFlight >= limit()) {
      await new Promise<void>((r) => s.waiting.push(r));
    }
    if (s.open) return false;
    s.inFlight++;
    return true;
  }

  /** A slot acquired and not used (the pass ran out of time): no outcome. */
  cancel(provider: string): void {
    const s = this.#state(provider);
    s.inFlight--;
    for (const w of s.waiting.splice(0)) w();
  }

  /** The call's outcome: null on success, else its code (and Retry-After, seconds). */
  release(provider: string, failure: { code: string; retryAfter?: number } | null, now: number): void {
    const s = this.#state(provider);
    s.inFlight--;
    if (!failure) {
      s.run = 0;
      s.successes++;
    } else if (failure.code === "RATE_LIMITED") {
      // At most an hour, as the grant's own cooldown caps it (Policy::retry_after_cap_ms):
      // a provider's Retry-After of a week would otherwise shut it out of every pass for a week.
      const wait = failure.retryAfter !== undefined
        ? Math.min(failure.retryAfter * 1000, MAX_OPEN_MS)
        : this.settings.openMs;
      this.#trip(provider, s, { reason: "RATE_LIMITED", until: now + wait }, now);
    } else if (PROVIDER_FAILURES.has(failure.code)) {
      s.run++;
      if (s.run >= this.settings.failureRun) {
        this.#trip(provider, s, { reason: failure.code, until: now + this.settings.openMs }, now);
      }
    } else {
      // The grant's trouble (invalid_grant, crypto): says nothing of the provider.
      s.run = 0;
    }
    // Wake every waiter: each re-checks the limit (it may have grown) or the breaker.
    for (const w of s.waiting.splice(0)) w();
  }

  #trip(provider: string, s: State, open: OpenBreaker, now: number): void {
    if (s.open && s.open.until >= open.until) return;
    s.open = open;
    this.#opened.push({ provider, open, at: now });
  }

  /** Breakers opened in this pass and not yet written. */
  get unsaved(): boolean {
    return this.#opened.length > 0;
  }

  /**
   * Writes the breakers this pass opened and has not written, keeping the
   * later end of any already recorded; those it could not write are kept
   * for the next call.
   */
  async persist(db: Db): Promise<void> {
    const pending = this.#opened.splice(0);
    try {
      await this.#write(db, pending);
    } catch (e) {
      this.#opened.unshift(...pending);
      throw e;
    }
  }

  async #write(db: Db, pending: { provider: string; open: OpenBreaker; at: number }[]): Promise<void> {
    // The latest end per provider (a breaker may trip again with a later Retry-After).
    const latest = new Map<string, { provider: string; open: OpenBreaker; at: number }>();
    for (const o of pending) {
      if ((latest.get(o.provider)?.open.until ?? -Infinity) < o.open.until) latest.set(o.provider, o);
    }
    const opened = [...latest.values()];
    if (opened.length === 0) return;
    await db.query(
      `insert into public.oauth_provider_breakers as b (provider, open_until, reason, opened_at)
       select provider, to_timestamp(until / 1000), reason, to_timestamp(at / 1000)
         from unnest($1::text[], $2::float8[], $3::text[], $4::float8[]) as o(provider, until, reason, at)
       on conflict (provider) do update
         set open_until = greatest(b.open_until, excluded.open_until),
             reason = case when excluded.open_until > b.open_until then excluded.reason else b.reason end,
             opened_at = case when excluded.open_until > b.open_until then excluded.opened_at
                              else b.opened_at end`,
      [
        opened.map((o) => o.provider),
        opened.map((o) => o.open.until),
        opened.map((o) => o.open.reason),
        opened.map((o) => o.at),
      ],
    );
  }
}

/** Breakers still open at `now`, from every invocation. */
export async function openBreakers(db: Db, now: number): Promise<Map<string, OpenBreaker>> {
  const rows = await db.query<{ provider: string; reason: string; until: number }>(
    `select provider, reason, (extract(epoch from open_until) * 1000)::float8 as until
       from public.oauth_provider_breakers where open_until > to_timestamp($1::float8 / 1000)`,
    [now],
  );
  return new Map(rows.map((r) => [r.provider, { reason: r.reason, until: Number(r.until) }]));
}
