// End to end: the admin health page. The dev stack runs on a Postgres this
// test seeds with SQL (connections of Google, Spotify and GitHub in every
// status, a day of refresh events with error codes, webhook messages pending,
// failed and delivered, refresher runs); the seeded administrator signs in
// with Google through Supabase Auth (the stand-in puts app_metadata.role =
// "admin" in the session, the claim ADMIN_CLAIM names in dev), and every
// number the page renders is checked against the seed. Signed in as a user
// without the claim, the page says so.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import postgres from "postgres";
import { startDevStack } from "./stack.mjs";

const ROOT = new URL("../../", import.meta.url).pathname;
const MIN = 60_000;
const HOUR = 3_600_000;
const STATUSES = ["connected", "token_expired", "needs_reauth", "error", "disconnected"];
const ACTIVE = (c) => c.sealed && c.status !== "needs_reauth" && c.status !== "disconnected";

// ---- the seed, and what it should read as ---------------------------------------------------------

const uuid = (i) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;

/** How many connections of each provider are in each status (connected … disconnected). */
const MIX = { google: [4, 1, 2, 1, 3], spotify: [3, 2, 1, 1, 1], github: [2, 1, 1, 2, 1] };
/** Access token expiries (minutes from now) handed out in turn; null: no expiry. */
const EXPIRIES = [15, 90, 40, -3, 200, null, 55, 25];

function seedConnections(t0) {
  const out = [];
  for (const [provider, counts] of Object.entries(MIX)) {
    let user = 1;
    STATUSES.forEach((status, si) => {
      for (let k = 0; k < counts[si]; k++) {
        const i = out.length;
        const sealed = status !== "needs_reauth" && status !== "disconnected";
        const expiresIn = EXPIRIES[i % EXPIRIES.length];
        out.push({
          user: uuid(user++),
          provider,
          status,
          sealed,
          expiresAt: expiresIn === null ? null : t0 + expiresIn * MIN,
          // Every third grant has a refresh token that ends: 2, 5, 8 … days out.
          refreshEndsAt: i % 3 === 0 ? t0 + (2 + i) * 24 * HOUR : null,
        });
      }
    });
  }
  return out;
}

const CODES = ["REAUTH_REQUIRED", "PROVIDER_UNAVAILABLE", "RATE_LIMITED", "TIMEOUT"];
const PROVIDERS = Object.keys(MIX);

function seedEvents(t0) {
  const out = [];
  for (let h = 0; h <= 22; h++) {
    const at = t0 - h * HOUR - 5 * MIN;
    const success = ((h * 7) % 5) + 1;
    const failure = h % 4 === 0 ? 2 : h % 3 === 0 ? 1 : 0;
    for (let k = 0; k < success; k++) {
      out.push({ provider: PROVIDERS[(h + k) % 3], kind: "refreshed", code: null, at, ms: 100 + 37 * k });
    }
    for (let k = 0; k < failure; k++) {
      out.push({ provider: PROVIDERS[(h + k) % 3], kind: "failed", code: CODES[(h + k) % 4], at, ms: 900 });
    }
  }
  // Not refresh outcomes, and older than the day: not on the page.
  out.push({ provider: "google", kind: "stored", code: null, at: t0 - 2 * HOUR, ms: null });
  out.push({ provider: "google", kind: "failed", code: "TIMEOUT", at: t0 - 30 * HOUR, ms: 900 });
  return out;
}

const RUNS = [
  { ago: 95, took: 3100, stopped: "done", checked: 8, refreshed: 8, failed: 0 },
  { ago: 65, took: 2800, stopped: "done", checked: 6, refreshed: 5, failed: 1 },
  { ago: 35, took: 41000, stopped: "budget", checked: 30, refreshed: 27, failed: 3 },
  { ago: 5, took: 1200, stopped: "error", checked: 2, refreshed: 0, failed: 2 },
];

const q = (v) => (v === null || v === undefined ? "null" : `'${String(v).replace(/'/g, "''")}'`);
const ts = (ms) => (ms === null ? "null" : `'${new Date(ms).toISOString()}'::timestamptz`);

function seedSql(t0, conns, events) {
  const users = [...new Set(conns.map((c) => c.user))];
  return `
    insert into auth.users (id, email) values ${
    users.map((u) => `(${q(u)}, ${q(`${u.slice(-3)}@example.com`)})`)
  }
      on conflict do nothing;
    insert into public.oauth_connections
      (user_id, provider, status, expires_at, refresh_token_expires_at, refresh_token_sealed, access_token_sealed)
    values ${
    conns.map((c) =>
      `(${q(c.user)}, ${q(c.provider)}, ${q(c.status)}, ${ts(c.expiresAt)}, ${ts(c.refreshEndsAt)}, ${
        c.sealed ? "'v1.seed.n.sealed'" : "null"
      }, 'v1.seed.n.access')`
    )
  };
    insert into public.oauth_refresh_events (user_id, provider, kind, code, at, duration_ms, instance)
    values ${
    events.map((e) =>
      `(${q(uuid(1))}, ${q(e.provider)}, ${q(e.kind)}, ${q(e.code)}, ${ts(e.at)}, ${e.ms ?? "null"}, 'seed')`
    )
  };
    delete from public.oauth_webhook_outbox;
    insert into public.oauth_webhook_outbox (id, type, body, created_at, delivered_at, failed_at)
    select 'msg_p' || i, 'connection.needs_reauth', '{}', ${ts(t0)} - i * interval '7 minutes',
           null::timestamptz, null::timestamptz
      from generate_series(1, 4) i
    union all
    select 'msg_f' || i, 'connection.connected', '{}', ${ts(t0)} - interval '5 hours', null, ${
    ts(t0)
  } - interval '4 hours'
      from generate_series(1, 2) i
    union all
    select 'msg_d' || i, 'connection.connected', '{}', ${ts(t0)} - interval '1 hour', ${ts(t0)}, null
      from generate_series(1, 3) i;
    delete from public.oauth_webhook_endpoints_disabled;
    insert into public.oauth_webhook_endpoints_disabled (endpoint_id, disabled_at, reason)
    values ('0123456789abcdef', ${ts(t0)} - interval '2 hours', '410');
    insert into public.oauth_refresher_runs
      (instance, started_at, finished_at, budget_ms, concurrency, stopped, checked, refreshed, failed, failed_by_code)
    values ${
    RUNS.map((r) =>
      `('seed', ${ts(t0 - r.ago * MIN)}, ${ts(t0 - r.ago * MIN + r.took)}, 50000, 4, ${
        q(r.stopped)
      }, ${r.checked}, ${r.refreshed}, ${r.failed}, ${
        q(JSON.stringify(r.failed ? { PROVIDER_UNAVAILABLE: r.failed } : {}))
      })`
    )
  };
  `;
}

// ---- the stack ------------------------------------------------------------------------------------

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

let dev, tab, sql, pgDir;
const t0 = Date.now();
const conns = seedConnections(t0);
const events = seedEvents(t0);

before(async () => {
  pgDir = mkdtempSync(join(tmpdir(), "otm-e2e-pg-"));
  const port = await freePort();
  execFileSync("bash", [join(ROOT, "scripts/pg.sh"), "start", pgDir, String(port)], { stdio: "ignore" });
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  dev = await startDevStack({ env: { DATABASE_URL: url } });
  // The stack has applied the migrations; the seed goes in beside its users.
  sql = postgres(url, { max: 1, onnotice: () => {} });
  await sql.unsafe(seedSql(t0, conns, events));
});

after(async () => {
  await sql?.end({ timeout: 1 });
  await dev?.stop();
  if (pgDir) {
    execFileSync("bash", [join(ROOT, "scripts/pg.sh"), "stop", pgDir], { stdio: "ignore" });
    rmSync(pgDir, { recursive: true, force: true });
  }
});

const text = async (testid) => (await tab.getByTestId(testid).first().textContent()).trim();
const n = async (testid) => Number((await text(testid)).replace(/,/g, ""));

test("signed out, the page asks to sign in", async () => {
  tab = await dev.openTab("admin.html");
  await tab.waitForSelector("body[data-view=signin]");
  assert.equal(await text("session"), "Signed out");
});

test("back from a sign-in Supabase Auth could not complete: the page says so and cleans the address", async () => {
  const back = await dev.openTab(
    "admin.html?error=access_denied&error_code=provider_error&error_description=x",
  );
  await back.waitForSelector("body[data-view=signin]");
  assert.match(await back.getByTestId("message").textContent(), /Access was not granted/);
  assert.doesNotMatch(back.url(), /error=/);
  await back.close();
});

test("the administrator signs in with Google through Supabase Auth and sees the seed", async () => {
  await tab.getByTestId("signin-google").click();
  await tab.waitForSelector("#approve");
  await tab.fill("#account", "admin@example.com");
  await tab.click("#approve");
  await tab.waitForSelector("body[data-view=health][data-ready=true]");
  assert.equal(await text("session"), "Signed in as admin@example.com");
  assert.match(tab.url(), /\/admin\.html$/, "back on the page, the code taken off the address bar");

  // Connections by provider and status: the table and the chart's bars.
  assert.equal(await n("total-connections"), conns.length);
  for (const [provider, counts] of Object.entries(MIX)) {
    for (const [si, status] of STATUSES.entries()) {
      assert.equal(await n(`conn-${provider}-${status}`), counts[si], `${provider} ${status}`);
      const bar = tab.locator(
        `[data-testid=chart-connections] rect[data-provider=${provider}][data-status=${status}]`,
      );
      assert.equal(Number(await bar.getAttribute("data-count")), counts[si], `bar ${provider} ${status}`);
    }
    assert.equal(await n(`conn-${provider}-total`), counts.reduce((a, b) => a + b, 0));
  }

  // Refreshes in the last day: the totals, each hour's bars, failures by code.
  const day = events.filter((e) => e.at > t0 - 24 * HOUR && (e.kind === "refreshed" || e.kind === "failed"));
  assert.equal(await n("refresh-success"), day.filter((e) => e.kind === "refreshed").length);
  assert.equal(await n("refresh-failure"), day.filter((e) => e.kind === "failed").length);
  const bars = await tab.locator("[data-testid=chart-refreshes] rect").evaluateAll((rs) =>
    rs.map((r) => ({ hour: r.dataset.hour, outcome: r.dataset.outcome, count: Number(r.dataset.count) }))
  );
  assert.equal(bars.length, 48, "24 hours, success and failure");
  for (const b of bars) {
    const start = Date.parse(b.hour);
    const want = day.filter((e) =>
      Math.floor(e.at / HOUR) * HOUR === start && (e.kind === "refreshed") === (b.outcome === "success")
    ).length;
    assert.equal(b.count, want, `${b.hour} ${b.outcome}`);
  }
  for (const code of CODES) {
    const want = day.filter((e) => e.kind === "failed" && e.code === code).length;
    assert.equal(await n(`code-${code}`), want, code);
  }

  // Expiring soon: active connections (refresh token held, not needs_reauth/disconnected).
  const now = Date.now();
  const soon = conns.filter((c) => ACTIVE(c) && c.expiresAt !== null && c.expiresAt < now + HOUR);
  assert.equal(await n("expiring-access-total"), soon.length);
  for (const p of PROVIDERS) {
    const want = soon.filter((c) => c.provider === p).length;
    if (want) assert.equal(await n(`expiring-access-${p}`), want, p);
  }
  assert.equal(await tab.getByTestId("soonest-access").count(), Math.min(20, soon.length));
  const ending = conns.filter((c) =>
    ACTIVE(c) && c.refreshEndsAt !== null && c.refreshEndsAt < now + 7 * 24 * HOUR
  );
  assert.ok(ending.length > 0, "the seed has refresh tokens that end this week");
  assert.equal(await n("expiring-refresh-total"), ending.length);
  assert.equal(await tab.getByTestId("soonest-refresh").count(), ending.length);

  // Webhooks and runs.
  assert.equal(await n("webhook-backlog"), 4);
  assert.equal(await n("webhook-failed"), 2);
  assert.equal(await n("webhooks-pending"), 4);
  assert.match(await tab.getByTestId("webhooks-disabled").textContent(), /^0123456789abcdef \(since .+\)$/);
  const runs = tab.getByTestId("run");
  assert.equal(await runs.count(), RUNS.length);
  const newest = RUNS.at(-1);
  assert.equal(Number(await runs.first().locator("[data-field=refreshed]").textContent()), newest.refreshed);
  assert.equal(Number(await runs.first().locator("[data-field=failed]").textContent()), newest.failed);
  assert.equal(await runs.first().locator("[data-field=codes]").textContent(), "PROVIDER_UNAVAILABLE 2");

  // Never a token or a raw user id on the page.
  const html = await tab.content();
  for (const s of ["v1.seed.n.sealed", "v1.seed.n.access", uuid(1)]) assert.ok(!html.includes(s), s);
  await dev.shot(tab, "admin-health");
});

test("a user without the admin claim is told they are not an administrator", async () => {
  await tab.getByTestId("signout").click();
  await tab.waitForSelector("body[data-view=signin][data-ready=true]");
  await tab.getByTestId("signin-dev").click();
  await tab.waitForSelector("body[data-view=refused][data-ready=true]");
  assert.equal(await tab.locator("#refused h2").textContent(), "You are not an administrator");
  assert.match(await text("refused-detail"), /not an administrator/);
  assert.ok(await tab.getByTestId("health").isHidden());
  await dev.shot(tab, "admin-health-refused");
});

/** GET `url` with `host` as the Host header (what a page on a rebound name sends). */
function getAs(url, host) {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { host } }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("the dev servers answer loopback names only: a rebound name gets no config, JWTs or functions", async () => {
  const config = new URL("config.json", dev.web);
  const mine = await getAs(config, config.host);
  assert.equal(mine.status, 200);
  const { supabaseUrl, devJwt } = JSON.parse(mine.body);
  assert.ok(devJwt);
  const port = config.port;
  for (const host of [`attacker.example:${port}`, "attacker.example", `127.0.0.1.attacker.example:${port}`]) {
    const rebound = await getAs(config, host);
    assert.equal(rebound.status, 421, host);
    assert.doesNotMatch(rebound.body, /devJwt|eyJ/);
  }
  assert.equal((await getAs(config, `localhost:${port}`)).status, 200);
  const health = new URL(`${supabaseUrl}/auth/v1/health`);
  assert.equal((await getAs(health, `attacker.example:${health.port}`)).status, 421);
});
