// Operations over HTTP on a real Postgres: the Prometheus metrics endpoint
// (parsed with a real text-format parser, every value checked against the
// seed; histogram buckets cumulative and le-inclusive; label values escaped),
// who may read it (service callers only), the roll-up that keeps counters
// from going down when events are deleted, and concurrent roll-ups counting
// once; the admin-health endpoint and its admin claim (ADMIN_CLAIM); and the
// same SQL on PGlite, which `make dev` runs.
import assert from "node:assert/strict";
import { SignJWT } from "npm:jose@6.2.17";
import postgres from "npm:postgres@3.4.9";
import parsePrometheusTextFormat from "npm:parse-prometheus-text-format@1.1.1";
import { connectPostgres, type Db, fromPglite } from "../../supabase/functions/_shared/db.ts";
import { hashUser } from "../../supabase/functions/_shared/log.ts";
import { isAdmin, readAdminClaim } from "../../supabase/functions/_shared/ops/admin.ts";
import { healthReport } from "../../supabase/functions/_shared/ops/health.ts";
import {
  DURATION_BUCKETS_MS,
  escapeLabelValue,
  PROMETHEUS_CONTENT_TYPE,
  renderMetrics,
  rollUpEvents,
} from "../../supabase/functions/_shared/ops/metrics.ts";
import { extraServer, jwt, JWT_SECRET, type Stack, startStack } from "./harness.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const SECRET_KEY = "sb_secret_mEtRiCs0123456789abcdefghijklmn";
const ADMIN_CLAIM = "app_metadata.role=admin";
const MIN = 60_000;
const HOUR = 3_600_000;

// ---- the seed ---------------------------------------------------------------------------------

const uuid = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
const ADMIN = uuid(900);
/** A provider id with every character the text format escapes. */
const WEIRD = 'we"ird\\pro\nvider';
const WEIRD_CODE = 'X"Y\\Z';

interface SeedConnection {
  provider: string;
  status: string;
  /** Minutes from the seed's time; null: no expiry. */
  expiresIn: number | null;
  refreshEndsInDays?: number;
  sealed: boolean;
}

const CONNECTIONS: SeedConnection[] = [
  { provider: "google", status: "connected", expiresIn: 30, refreshEndsInDays: 6, sealed: true },
  { provider: "google", status: "connected", expiresIn: 120, refreshEndsInDays: 10, sealed: true },
  { provider: "google", status: "connected", expiresIn: 10, sealed: true },
  { provider: "google", status: "token_expired", expiresIn: -5, sealed: true },
  { provider: "google", status: "needs_reauth", expiresIn: -50, sealed: false },
  { provider: "google", status: "error", expiresIn: 20, sealed: true },
  { provider: "google", status: "disconnected", expiresIn: null, sealed: false },
  { provider: "spotify", status: "connected", expiresIn: 45, refreshEndsInDays: 3, sealed: true },
  { provider: "spotify", status: "connected", expiresIn: 180, sealed: true },
  { provider: "spotify", status: "needs_reauth", expiresIn: 5, refreshEndsInDays: 1, sealed: false },
  { provider: "github", status: "connected", expiresIn: null, sealed: true },
  { provider: "github", status: "disconnected", expiresIn: null, sealed: false },
];

interface SeedEvent {
  provider: string;
  kind: string;
  code: string | null;
  durationMs: number | null;
}

const EVENTS: SeedEvent[] = [
  ...[50, 51, 100, 250, 30000, 30001, null].map((d) => ({
    provider: "google",
    kind: "refreshed",
    code: null,
    durationMs: d,
  })),
  { provider: "google", kind: "failed", code: "PROVIDER_UNAVAILABLE", durationMs: 1000 },
  { provider: "google", kind: "failed", code: "REAUTH_REQUIRED", durationMs: 2500 },
  { provider: "google", kind: "failed", code: "REAUTH_REQUIRED", durationMs: 2501 },
  { provider: "google", kind: "failed", code: null, durationMs: 5000 },
  { provider: "google", kind: "failed", code: "CRYPTO_INTEGRITY", durationMs: null },
  // Not refresh outcomes: not counted.
  { provider: "google", kind: "stored", code: null, durationMs: null },
  { provider: "spotify", kind: "disconnected", code: null, durationMs: null },
  { provider: "spotify", kind: "refreshed", code: null, durationMs: 120 },
  { provider: "spotify", kind: "refreshed", code: null, durationMs: 120 },
  { provider: "spotify", kind: "failed", code: "RATE_LIMITED", durationMs: 80 },
  { provider: WEIRD, kind: "refreshed", code: null, durationMs: 10 },
  { provider: WEIRD, kind: "failed", code: WEIRD_CODE, durationMs: 9000 },
];

/** When event i happened: spread over the last 22 hours. */
const eventAt = (t0: number, i: number) => t0 - (7 * MIN + i * 67 * MIN);

const q = (v: string | null) => (v === null ? "null" : `'${v.replace(/'/g, "''")}'`);
const ts = (ms: number | null) => (ms === null ? "null" : `'${new Date(ms).toISOString()}'::timestamptz`);

/** The seed as SQL, with literal times from t0: the same rows in any database. */
function seedSql(t0: number): string {
  const users = [...CONNECTIONS.map((_, i) => uuid(i + 1)), ADMIN];
  const conns = CONNECTIONS.map((c, i) =>
    `(${q(uuid(i + 1))}, ${q(c.provider)}, ${q(c.status)}, ${
      ts(c.expiresIn === null ? null : t0 + c.expiresIn * MIN)
    }, ${ts(c.refreshEndsInDays === undefined ? null : t0 + c.refreshEndsInDays * 24 * HOUR)}, ${
      c.sealed ? "'v1.seed.n.sealed'" : "null"
    }, 'v1.seed.n.access')`
  );
  const events = EVENTS.map((e, i) =>
    `(${q(uuid((i % CONNECTIONS.length) + 1))}, ${q(e.provider)}, ${q(e.kind)}, ${q(e.code)}, ${
      ts(eventAt(t0, i))
    }, ${e.durationMs ?? "null"}, 'seed')`
  );
  return `
    insert into auth.users (id, email) values ${
    users.map((u) => `(${q(u)}, ${q(`${u.slice(-4)}@example.com`)})`).join(", ")
  } on conflict do nothing;
    insert into public.oauth_connections
      (user_id, provider, status, expires_at, refresh_token_expires_at, refresh_token_sealed, access_token_sealed)
      values ${conns.join(",\n")};
    insert into public.oauth_refresh_events (user_id, provider, kind, code, at, duration_ms, instance)
      values ${events.join(",\n")};
    -- The status trigger's messages for the inserts above: replaced by the seed's own.
    delete from public.oauth_webhook_outbox;
    insert into public.oauth_webhook_outbox (id, type, body, created_at, delivered_at, failed_at) values
      ('msg_p1', 'connection.connected', '{}', ${ts(t0 - 30 * MIN)}, null, null),
      ('msg_p2', 'connection.connected', '{}', ${ts(t0 - 20 * MIN)}, null, null),
      ('msg_p3', 'connection.needs_reauth', '{}', ${ts(t0 - 10 * MIN)}, null, null),
      ('msg_f1', 'connection.connected', '{}', ${ts(t0 - 5 * HOUR)}, null, ${ts(t0 - 4 * HOUR)}),
      ('msg_f2', 'connection.recovered', '{}', ${ts(t0 - 3 * HOUR)}, null, ${ts(t0 - 2 * HOUR)}),
      ('msg_d1', 'connection.connected', '{}', ${ts(t0 - 2 * HOUR)}, ${ts(t0 - 2 * HOUR + 1000)}, null);
    delete from public.oauth_webhook_endpoints_disabled;
    insert into public.oauth_webhook_endpoints_disabled (endpoint_id, disabled_at, reason) values
      ('00000000000000aa', ${ts(t0 - HOUR)}, '410'), ('00000000000000bb', ${ts(t0 - 2 * HOUR)}, '410');
    insert into public.oauth_refresher_runs
      (instance, started_at, finished_at, budget_ms, concurrency, stopped, checked, refreshed, kept_alive, failed,
       failed_by_code, remaining, warned, webhooks_delivered, webhooks_failed, events_deleted) values
      ('seed', ${ts(t0 - 70 * MIN)}, ${
    ts(t0 - 70 * MIN + 2000)
  }, 50000, 4, 'done', 3, 3, 0, 0, '{}', 0, 0, 1, 0, 0),
      ('seed', ${ts(t0 - 10 * MIN)}, ${ts(t0 - 10 * MIN + 4250)}, 50000, 4, 'budget', 9, 5, 1, 2,
       '{"REAUTH_REQUIRED": 2}', 2, 1, 3, 1, 12),
      ('seed', ${ts(t0 - 5 * MIN)}, ${ts(t0 - 5 * MIN + 1000)}, 50000, 4, 'error', 4, 3, 0, 1,
       '{}', null, 0, 0, 0, 0),
      ('seed', ${ts(t0 - 1 * MIN)}, null, 50000, 4, null, 0, 0, 0, 0, '{}', null, 0, 0, 0, 0);
  `;
}

// ---- what the seed should read as -------------------------------------------------------------

const OUTCOMES: Record<string, string> = { refreshed: "success", failed: "failure" };
const refreshEvents = () => EVENTS.filter((e) => OUTCOMES[e.kind]);

function expectedTotals(): Map<string, number> {
  const m = new Map<string, number>();
  for (const e of refreshEvents()) {
    const k = JSON.stringify([e.provider, OUTCOMES[e.kind], e.code ?? ""]);
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

/** Cumulative counts per bound (le inclusive), +Inf, and the sum in seconds. */
function expectedHistogram(provider: string) {
  const ds = refreshEvents().filter((e) => e.provider === provider && e.durationMs !== null)
    .map((e) => e.durationMs!);
  return {
    buckets: DURATION_BUCKETS_MS.map((b) => ds.filter((d) => d <= b).length),
    count: ds.length,
    sum: ds.reduce((a, b) => a + b, 0) / 1000,
  };
}

// ---- reading the exposition ---------------------------------------------------------------------

interface Family {
  name: string;
  help: string;
  type: string;
  metrics: {
    labels?: Record<string, string>;
    value?: string;
    buckets?: Record<string, string>;
    count?: string;
    sum?: string;
  }[];
}

function parse(text: string): Map<string, Family> {
  const families = parsePrometheusTextFormat(text) as Family[];
  const byName = new Map<string, Family>();
  for (const f of families) {
    assert.ok(!byName.has(f.name), `family ${f.name} appears twice (its lines are not contiguous)`);
    assert.notEqual(f.type, "UNTYPED", `${f.name} has a TYPE line`);
    assert.ok(f.help.length > 0, `${f.name} has a HELP line`);
    byName.set(f.name, f);
  }
  return byName;
}

function sample(
  fams: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const f = fams.get(name);
  assert.ok(f, `no family ${name}`);
  const m = f.metrics.find((m) =>
    JSON.stringify(Object.entries(m.labels ?? {}).sort()) === JSON.stringify(Object.entries(labels).sort())
  );
  return m?.value === undefined ? undefined : Number(m.value);
}

/**
 * One provider's duration histogram. This parser reads unlabelled histograms
 * only (it folds a labelled one's series into one), so the provider's lines
 * are given to it alone, without their provider label.
 */
function histogramOf(text: string, provider: string) {
  const name = "oauth_refresh_duration_seconds";
  const label = `provider="${escapeLabelValue(provider)}"`;
  const mine = text.split("\n").filter((l) =>
    l.startsWith(`# HELP ${name} `) || l.startsWith(`# TYPE ${name} `) ||
    (l.startsWith(`${name}_`) && (l.includes(`{${label},`) || l.includes(`{${label}}`)))
  );
  const alone = mine.map((l) => l.replace(`{${label},`, "{").replace(`{${label}}`, "")).join("\n") + "\n";
  const [family] = parsePrometheusTextFormat(alone) as Family[];
  assert.equal(family.type, "HISTOGRAM");
  assert.equal(family.metrics.length, 1, provider);
  return family.metrics[0] as { buckets: Record<string, string>; count: string; sum: string };
}

function counters(fams: Map<string, Family>): Map<string, number> {
  const m = new Map<string, number>();
  for (const s of fams.get("oauth_refresh_total")!.metrics) {
    const l = s.labels!;
    m.set(JSON.stringify([l.provider, l.outcome, l.code]), Number(s.value));
  }
  return m;
}

async function scrape(s: Stack, headers: Record<string, string> = { apikey: SECRET_KEY }, method = "GET") {
  const res = await fetch(`${s.fns[0].url}/metrics`, { method, headers });
  const text = await res.text();
  s.bodies.push({ fn: "metrics", text });
  return { status: res.status, type: res.headers.get("content-type"), text };
}

async function scrapeOk(s: Stack): Promise<Map<string, Family>> {
  const r = await scrape(s);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.type, PROMETHEUS_CONTENT_TYPE);
  return parse(r.text);
}

const userJwt = (sub: string, claims: Record<string, unknown> = {}) =>
  new SignJWT({ role: "authenticated", email: `${sub.slice(-4)}@example.com`, ...claims })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(sub)
    .setAudience("authenticated")
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode(JWT_SECRET));

async function adminHealth(s: Stack, token: string | null, server = 0) {
  const res = await fetch(`${s.fns[server].url}/admin-health`, {
    headers: token ? { authorization: `Bearer ${token}` } : { apikey: SECRET_KEY },
  });
  const text = await res.text();
  s.bodies.push({ fn: "admin-health", text });
  return { status: res.status, json: JSON.parse(text) };
}

Deno.test({
  name: "metrics and admin health: values from the database, counters that never go down, the admin claim",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const s = await startStack({
      env: { SUPABASE_SECRET_KEYS: JSON.stringify({ default: SECRET_KEY }), ADMIN_CLAIM },
    });
    const db = connectPostgres(s.pg.url, 2);
    const t0 = Date.now();
    try {
      await s.pg.sql.unsafe(seedSql(t0));

      await t.step("the exposition: every value as seeded, HELP and TYPE on every family", async () => {
        const fams = await scrapeOk(s);
        assert.deepEqual(counters(fams), expectedTotals());
        // Connections: every status of every provider, zeros included.
        for (const p of ["google", "spotify", "github"]) {
          for (const st of ["connected", "token_expired", "needs_reauth", "error", "disconnected"]) {
            const n = CONNECTIONS.filter((c) => c.provider === p && c.status === st).length;
            assert.equal(sample(fams, "oauth_connections", { provider: p, status: st }), n, `${p} ${st}`);
          }
        }
        // Active (refresh token held, not needs_reauth/disconnected) and expiring within the hour.
        for (const p of ["google", "spotify", "github"]) {
          const n = CONNECTIONS.filter((c) =>
            c.provider === p && c.sealed && !["needs_reauth", "disconnected"].includes(c.status) &&
            c.expiresIn !== null && c.expiresIn < 60
          ).length;
          assert.equal(sample(fams, "oauth_connections_expiring_within_hour", { provider: p }), n, p);
        }
        assert.equal(sample(fams, "oauth_connections_expiring_within_hour", { provider: "google" }), 4);
        assert.equal(sample(fams, "oauth_webhook_backlog"), 3);
        assert.equal(sample(fams, "oauth_webhook_failed"), 2);
        assert.equal(sample(fams, "oauth_webhook_endpoints_disabled"), 2);
        // Every access token and each held refresh token, by the key that sealed it.
        assert.equal(
          sample(fams, "oauth_sealed_values", { key_id: "seed" }),
          CONNECTIONS.length + CONNECTIONS.filter((c) => c.sealed).length,
        );
        // The last finished run (not the one still running): one that failed,
        // with what it did; and the last one that did not.
        assert.equal(
          sample(fams, "oauth_refresher_last_run_timestamp_seconds"),
          (t0 - 5 * MIN + 1000) / 1000,
        );
        assert.equal(sample(fams, "oauth_refresher_last_run_duration_seconds"), 1);
        assert.equal(sample(fams, "oauth_refresher_last_run_refreshed"), 3);
        assert.equal(sample(fams, "oauth_refresher_last_run_failed"), 1);
        assert.equal(sample(fams, "oauth_refresher_last_run_error"), 1);
        assert.equal(
          sample(fams, "oauth_refresher_last_success_timestamp_seconds"),
          (t0 - 10 * MIN + 4250) / 1000,
        );
        for (
          const [name, type] of Object.entries({
            oauth_refresh_total: "COUNTER",
            oauth_refresh_duration_seconds: "HISTOGRAM",
            oauth_connections: "GAUGE",
            oauth_webhook_backlog: "GAUGE",
          })
        ) assert.equal(fams.get(name)!.type, type, name);
      });

      await t.step(
        "label values are escaped: quotes, backslashes and line feeds survive the round trip",
        async () => {
          const r = await scrape(s);
          assert.ok(r.text.includes('provider="we\\"ird\\\\pro\\nvider"'), "escaped in the text");
          const fams = parse(r.text);
          assert.equal(
            sample(fams, "oauth_refresh_total", { provider: WEIRD, outcome: "success", code: "" }),
            1,
          );
          assert.equal(
            sample(fams, "oauth_refresh_total", { provider: WEIRD, outcome: "failure", code: WEIRD_CODE }),
            1,
          );
        },
      );

      await t.step("the histogram: cumulative, le-inclusive, +Inf = _count, _sum in seconds", async () => {
        const r = await scrape(s);
        parse(r.text);
        for (const provider of ["google", "spotify", WEIRD]) {
          const m = histogramOf(r.text, provider);
          const want = expectedHistogram(provider);
          // (Integer-like keys come first in an object: order them by value.)
          const les = Object.keys(m.buckets).filter((k) => k !== "+Inf").sort((a, b) =>
            Number(a) - Number(b)
          );
          assert.deepEqual(les.map(Number), DURATION_BUCKETS_MS.map((b) => b / 1000), "one bucket per bound");
          const got = les.map((le) => Number(m.buckets[le]));
          assert.deepEqual(got, want.buckets, provider);
          for (let i = 1; i < got.length; i++) assert.ok(got[i] >= got[i - 1], "cumulative");
          assert.equal(Number(m.buckets["+Inf"]), want.count);
          assert.equal(Number(m.count), want.count);
          assert.ok(Math.abs(Number(m.sum) - want.sum) < 1e-9, `${provider} sum ${m.sum} ≠ ${want.sum}`);
        }
        // At the bounds: 50 ms is in le=0.05, 51 ms is not; 30000 ms in le=30, 30001 only in +Inf.
        const g = histogramOf(r.text, "google").buckets;
        assert.equal(Number(g["0.05"]), 1);
        assert.equal(Number(g["0.1"]), 3);
        assert.equal(Number(g["30"]), Number(g["+Inf"]) - 1);
        // Only providers with timed refreshes have one.
        assert.ok(!r.text.includes('oauth_refresh_duration_seconds_count{provider="github"}'));
      });

      await t.step(
        "service callers only: a user JWT, no credential, a wrong key are 401; POST is 405",
        async () => {
          for (
            const [what, headers] of [
              ["user JWT", { authorization: `Bearer ${await jwt(uuid(1))}` }],
              ["nothing", {}],
              ["wrong key", { apikey: "sb_secret_wRoNg0123456789abcdefghijklmnop" }],
            ] as [string, Record<string, string>][]
          ) {
            const r = await scrape(s, headers);
            assert.equal(r.status, 401, what);
            assert.equal(JSON.parse(r.text).code, "UNAUTHORIZED", what);
          }
          const post = await scrape(s, { apikey: SECRET_KEY }, "POST");
          assert.equal(post.status, 405);
          assert.equal(JSON.parse(post.text).code, "METHOD_NOT_ALLOWED");
        },
      );

      await t.step("roll-up, then retention deleting the rolled-up events: the counters stay", async () => {
        const beforeText = (await scrape(s)).text;
        const before = parse(beforeText);
        const rolledUntil = await rollUpEvents(db, Date.now(), 0);
        const [{ n: rolled }] = await s.pg.sql`select sum(count)::int as n from oauth_metrics_rollup`;
        assert.equal(rolled, EVENTS.length, "every seeded event (all kinds) is in the roll-up");
        const mid = await scrapeOk(s);
        assert.deepEqual(counters(mid), counters(before));
        // Retention: events before rolled_until may go.
        const gone = await s.pg.sql`delete from oauth_refresh_events where at < ${new Date(rolledUntil)}`;
        assert.equal(gone.count, EVENTS.length);
        const afterText = (await scrape(s)).text;
        assert.deepEqual(counters(parse(afterText)), counters(before));
        for (const p of ["google", "spotify", WEIRD]) {
          assert.deepEqual(histogramOf(afterText, p), histogramOf(beforeText, p), `the histogram too (${p})`);
        }
        // New events count live on top of the roll-up.
        await s.pg
          .sql`insert into oauth_refresh_events (user_id, provider, kind, code, at, duration_ms, instance)
          values (${uuid(1)}, 'google', 'refreshed', null, now(), 70, 'test'),
                 (${uuid(1)}, 'google', 'failed', 'REAUTH_REQUIRED', now(), 40, 'test')`;
        const more = counters(await scrapeOk(s));
        const key = (o: string, c: string) => JSON.stringify(["google", o, c]);
        assert.equal(more.get(key("success", "")), counters(before).get(key("success", ""))! + 1);
        assert.equal(
          more.get(key("failure", "REAUTH_REQUIRED")),
          counters(before).get(key("failure", "REAUTH_REQUIRED"))! + 1,
        );
        // A later roll-up with a lag leaves them live; rolled_until never moves back.
        assert.equal(await rollUpEvents(db, Date.now() - 3600_000, 0), rolledUntil);
        assert.deepEqual(counters(await scrapeOk(s)), more);
      });

      await t.step("concurrent roll-ups count every event once", async () => {
        const total = async () =>
          Number((await s.pg.sql`select sum(count)::int as n from oauth_metrics_rollup`)[0].n);
        // Times the test sets, after everything rolled so far: each round's events, then its roll-ups.
        const base = Date.now() + 60_000;
        const insert = (n: number, at: number) =>
          s.pg.sql`insert into oauth_refresh_events (user_id, provider, kind, at, duration_ms, instance)
            select ${uuid(2)}::uuid, 'spotify', 'refreshed', ${new Date(at)}, 90, 'test'
              from generate_series(1, ${n}::int)`;
        const dbs: Db[] = [
          connectPostgres(s.pg.url, 1),
          connectPostgres(s.pg.url, 1),
          connectPostgres(s.pg.url, 1),
        ];
        const locker = postgres(s.pg.url, { max: 1, onnotice: () => {} });
        try {
          // Both wait behind a transaction that holds the state row; released, each rolls its own range.
          const start = await total();
          const live = await s.pg.sql`select count(*)::int as n from oauth_refresh_events`;
          await insert(5, base);
          let release!: () => void;
          let locked!: () => void;
          const isLocked = new Promise<void>((r) => (locked = r));
          const held = locker.begin(async (sql) => {
            await sql`select 1 from oauth_metrics_state where id for update`;
            locked();
            await new Promise<void>((r) => (release = r));
          });
          await isLocked;
          const now = base + 500;
          const runs = [rollUpEvents(dbs[0], now, 0), rollUpEvents(dbs[1], now, 0)];
          for (let i = 0;; i++) {
            const [{ n }] = await s.pg.sql`select count(*)::int as n from pg_stat_activity
              where wait_event_type = 'Lock' and query like '%oauth_metrics_state%'`;
            if (n === 2) break;
            assert.ok(i < 200, "both roll-ups wait for the lock");
            await new Promise((r) => setTimeout(r, 25));
          }
          release();
          await held;
          const [a, b] = await Promise.all(runs);
          assert.equal(a, b);
          assert.equal(await total(), start + live[0].n + 5, "each event once");

          // And racing without a referee, many times.
          let inserted = start + live[0].n + 5;
          for (let round = 0; round < 8; round++) {
            const at = base + (round + 1) * 1000;
            await insert(3, at);
            inserted += 3;
            await Promise.all(dbs.map((d, i) => rollUpEvents(d, at + 500 - i, 0)));
            assert.equal(await total(), inserted, `round ${round}`);
          }
        } finally {
          await locker.end({ timeout: 1 });
          await Promise.all(dbs.map((d) => d.close()));
        }
      });

      await t.step(
        "admin-health: the admin's report; a user without the claim and service keys are refused",
        async () => {
          // The seed again, over the rolled-up and deleted events above.
          await s.pg.sql.unsafe(`truncate oauth_connections, oauth_refresh_events, oauth_webhook_outbox,
          oauth_refresher_runs, oauth_metrics_rollup; update oauth_metrics_state set rolled_until = '-infinity';`);
          const t1 = Date.now();
          await s.pg.sql.unsafe(seedSql(t1));
          const admin = await adminHealth(s, await userJwt(ADMIN, { app_metadata: { role: "admin" } }));
          assert.equal(admin.status, 200, JSON.stringify(admin.json));
          const r = admin.json;
          assert.equal(r.connections.total, CONNECTIONS.length);
          assert.deepEqual(
            r.connections.byProviderStatus.find((c: { provider: string; status: string }) =>
              c.provider === "google" && c.status === "connected"
            ).count,
            3,
          );
          assert.equal(r.refreshes.success, refreshEvents().filter((e) => e.kind === "refreshed").length);
          assert.equal(r.refreshes.failure, refreshEvents().filter((e) => e.kind === "failed").length);
          assert.equal(r.refreshes.hourly.length, 24);
          // Each event in its UTC hour.
          const perHour = new Map<number, number>();
          EVENTS.forEach((e, i) => {
            if (e.kind !== "failed") return;
            const h = Math.floor(eventAt(t1, i) / HOUR) * HOUR;
            perHour.set(h, (perHour.get(h) ?? 0) + 1);
          });
          for (const h of r.refreshes.hourly) {
            assert.equal(h.failure, perHour.get(h.start) ?? 0, `hour ${h.start}`);
          }
          assert.deepEqual(r.refreshes.failuresByCode, [
            { code: "REAUTH_REQUIRED", count: 2 },
            { code: "", count: 1 },
            { code: "CRYPTO_INTEGRITY", count: 1 },
            { code: "PROVIDER_UNAVAILABLE", count: 1 },
            { code: "RATE_LIMITED", count: 1 },
            { code: WEIRD_CODE, count: 1 },
          ]);
          assert.equal(r.expiring.accessTokens.total, 5);
          assert.deepEqual(r.expiring.accessTokens.byProvider, [
            { provider: "google", count: 4 },
            { provider: "spotify", count: 1 },
          ]);
          // Soonest first; users hashed as in the logs, never a token.
          assert.deepEqual(
            r.expiring.accessTokens.soonest.map((c: { expiresAt: number }) => c.expiresAt),
            [-5, 10, 20, 30, 45].map((m) => t1 + m * MIN),
          );
          assert.equal(r.expiring.accessTokens.soonest[0].user, await hashUser(uuid(4)));
          assert.deepEqual(r.expiring.refreshTokens.byProvider, [
            { provider: "google", count: 1 },
            { provider: "spotify", count: 1 },
          ]);
          assert.deepEqual(r.webhooks, {
            pending: 3,
            failed: 2,
            oldestPendingAt: t1 - 30 * MIN,
            disabledEndpoints: [
              { id: "00000000000000bb", disabledAt: t1 - 2 * HOUR },
              { id: "00000000000000aa", disabledAt: t1 - HOUR },
            ],
          });
          assert.equal(r.runs.length, 4);
          assert.equal(r.runs[0].stopped, null, "the running one first");
          assert.equal(r.runs[1].stopped, "error");
          assert.deepEqual(r.runs[2].failedByCode, { REAUTH_REQUIRED: 2 });
          assert.equal(r.runs[2].durationMs, 4250);
          const body = JSON.stringify(r);
          for (const secret of ["v1.seed.n.sealed", "v1.seed.n.access", uuid(4)]) {
            assert.ok(!body.includes(secret), "no sealed token, no raw user id");
          }

          const user = await adminHealth(s, await userJwt(uuid(1), { app_metadata: { role: "user" } }));
          assert.equal(user.status, 403);
          assert.equal(user.json.code, "FORBIDDEN");
          assert.match(user.json.error, /not an administrator/);
          const service = await adminHealth(s, null);
          assert.equal(service.status, 401, "a secret key is not a user");
        },
      );

      await t.step("admin-health without ADMIN_CLAIM: 403, saying the claim is not configured", async () => {
        const i = await extraServer(s, { ADMIN_CLAIM: "" });
        const r = await adminHealth(s, await userJwt(ADMIN, { app_metadata: { role: "admin" } }), i);
        assert.equal(r.status, 403);
        assert.equal(r.json.code, "FORBIDDEN");
        assert.match(r.json.error, /admin claim is not configured/);
      });

      await t.step("the same SQL on PGlite (make dev): the same exposition and report", async () => {
        const { PGlite } = await import("npm:@electric-sql/pglite@0.5.16");
        const pg = new PGlite();
        await pg.waitReady;
        const lite = fromPglite(pg);
        try {
          await pg.exec(await Deno.readTextFile(`${ROOT}tests/functions/supabase_bootstrap.sql`));
          const names = [...Deno.readDirSync(`${ROOT}supabase/migrations`)].map((f) => f.name)
            .filter((n) => n.endsWith(".sql")).sort();
          for (const n of names) await pg.exec(await Deno.readTextFile(`${ROOT}supabase/migrations/${n}`));
          const t2 = Date.now();
          const fresh = async (d: Db) => {
            await d.query(`truncate oauth_connections, oauth_refresh_events, oauth_webhook_outbox,
              oauth_refresher_runs, oauth_metrics_rollup restart identity`);
            await d.query(`update oauth_metrics_state set rolled_until = '-infinity'`);
            for (const stmt of seedSql(t2).split(";\n").map((x) => x.trim()).filter(Boolean)) {
              await d.query(stmt);
            }
          };
          await fresh(db);
          await fresh(lite);
          const now = Date.now();
          assert.equal(await renderMetrics(lite, now), await renderMetrics(db, now));
          assert.deepEqual(await healthReport(lite, now), await healthReport(db, now));
          // And the roll-up there.
          await rollUpEvents(lite, now, 0);
          await rollUpEvents(db, now, 0);
          await lite.query(`delete from oauth_refresh_events`);
          await db.query(`delete from oauth_refresh_events`);
          assert.equal(await renderMetrics(lite, now), await renderMetrics(db, now));
          assert.deepEqual(counters(parse(await renderMetrics(lite, now))), expectedTotals());
        } finally {
          await lite.close();
        }
      });

      await t.step("ADMIN_CLAIM: path=value and bare paths, nested claims, arrays, malformed values", () => {
        const env = (v: string | undefined) => (n: string) => (n === "ADMIN_CLAIM" ? v : undefined);
        assert.equal(readAdminClaim(env(undefined)), null);
        assert.equal(readAdminClaim(env("  ")), null);
        const role = readAdminClaim(env("app_metadata.role=admin"))!;
        assert.deepEqual(role, { path: ["app_metadata", "role"], value: "admin" });
        assert.ok(isAdmin({ app_metadata: { role: "admin" } }, role));
        assert.ok(isAdmin({ app_metadata: { role: ["staff", "admin"] } }, role));
        assert.ok(!isAdmin({ app_metadata: { role: "administrator" } }, role));
        assert.ok(!isAdmin({ app_metadata: "admin" }, role));
        assert.ok(!isAdmin({ role: "admin" }, role));
        assert.ok(!isAdmin(undefined, role));
        const flag = readAdminClaim(env("app_metadata.admin"))!;
        assert.ok(isAdmin({ app_metadata: { admin: true } }, flag));
        assert.ok(!isAdmin({ app_metadata: { admin: "true" } }, flag), "a bare path wants JSON true");
        assert.ok(!isAdmin({ app_metadata: { admin: 1 } }, flag));
        const top = readAdminClaim(env("user_role=admin"))!;
        assert.ok(isAdmin({ user_role: "admin" }, top));
        assert.ok(!isAdmin({ user_role: "admin ", other: 1 }, top));
        const n = readAdminClaim(env("app_metadata.level=3"))!;
        assert.ok(isAdmin({ app_metadata: { level: 3 } }, n));
        // Inherited properties are not claims.
        assert.ok(!isAdmin({}, readAdminClaim(env("constructor.name=Object"))!));
        for (const bad of ["app_metadata..role=admin", ".role=admin", "role=", "=admin", "a b=c"]) {
          assert.throws(() => readAdminClaim(env(bad)), /ADMIN_CLAIM must be/, bad);
        }
        // A claim every user can set on themselves (auth.updateUser({ data: { role: "admin" } })).
        for (const editable of ["user_metadata.role=admin", "user_metadata.admin"]) {
          assert.throws(() => readAdminClaim(env(editable)), /may not name user_metadata/, editable);
        }
      });
    } finally {
      await db.close();
      await s.stop();
    }
  },
});
