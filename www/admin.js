// The operations page: signs in like the main page (supabase-js, or the dev
// shortcut's JWT in the same storage, so a session there is a session here),
// calls the admin-health function with it, and draws what it answers: tables
// and small SVG charts made here (nothing loads from elsewhere). The server
// decides who is an administrator (ADMIN_CLAIM); anyone else sees why not.
import { NAMES, STATUS_WORDS } from "./connections.js";
import { authReturnMessage, JWT_KEY, signedInAs, startSession } from "./session.js";

const $ = (id) => document.getElementById(id);
const { config, supabase, client } = await startSession();

const STATUSES = Object.keys(STATUS_WORDS);
const STATUS_COLORS = {
  connected: "#2da44e",
  token_expired: "#d4a72c",
  needs_reauth: "#cf222e",
  error: "#bc4c00",
  disconnected: "#8c959f",
};
const OUTCOME_COLORS = { success: "#2da44e", failure: "#cf222e" };
const providerName = (p) => NAMES[p] ?? p;

// ---- small DOM and SVG helpers ----------------------------------------------------------------

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "testid") e.dataset.testid = v;
    else e.setAttribute(k, v);
  }
  if (text !== undefined) e.textContent = String(text);
  return e;
}

const SVG_NS = "http://www.w3.org/2000/svg";
function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = String(text);
  return e;
}

/** A rect with a tooltip. */
function bar(x, y, width, height, fill, title, data = {}) {
  const r = svg("rect", { x, y, width: Math.max(0, width), height: Math.max(0, height), fill });
  for (const [k, v] of Object.entries(data)) r.dataset[k] = String(v);
  r.append(svg("title", {}, title));
  return r;
}

function legend(entries) {
  const ul = el("ul", { class: "legend" });
  for (const [label, color] of entries) {
    const li = el("li");
    li.append(el("span", { class: "swatch", style: `background:${color}` }), label);
    ul.append(li);
  }
  return ul;
}

function table(id, head, rows) {
  const t = id instanceof HTMLTableElement ? id : el("table", id ? { testid: id } : {});
  const thead = el("thead");
  const tr = el("tr");
  for (const h of head) tr.append(el("th", {}, h));
  thead.append(tr);
  const tbody = el("tbody");
  for (const r of rows) tbody.append(r);
  t.replaceChildren(thead, tbody);
  return t;
}

/** A td holding a node. */
function cell(node, attrs = {}) {
  const td = el("td", attrs);
  td.append(node);
  return td;
}

function row(cells, attrs = {}) {
  const tr = el("tr", attrs);
  for (const c of cells) tr.append(c instanceof Node ? c : el("td", {}, c));
  return tr;
}

const num = (n) => Number(n).toLocaleString("en");
const when = (ms) => new Date(ms).toLocaleString();
const short = (ms) => new Date(ms).toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" });
const hourLabel = (ms) => `${String(new Date(ms).getHours()).padStart(2, "0")}:00`;

function relative(ms, now) {
  const s = Math.round((ms - now) / 1000);
  const a = Math.abs(s);
  const span = a < 90
    ? `${a} s`
    : a < 5400
    ? `${Math.round(a / 60)} min`
    : a < 172_800
    ? `${Math.round(a / 3600)} h`
    : `${Math.round(a / 86_400)} days`;
  return s < 0 ? `expired ${span} ago` : `in ${span}`;
}

const durationText = (
  ms,
) => (ms === null ? "running" : ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);

// ---- the report ----------------------------------------------------------------------------------

function connectionsChart({ byProviderStatus }) {
  const providers = [...new Set(byProviderStatus.map((c) => c.provider))].sort();
  const count = (p, s) => byProviderStatus.find((c) => c.provider === p && c.status === s)?.count ?? 0;
  const totals = providers.map((p) => STATUSES.reduce((n, s) => n + count(p, s), 0));
  const max = Math.max(1, ...totals);
  const W = 640, LABEL = 90, PLOT = 480, ROW = 28;
  const chart = svg("svg", {
    viewBox: `0 0 ${W} ${Math.max(1, providers.length) * ROW + 4}`,
    role: "img",
    "aria-label": "Connections by provider and status",
    "data-testid": "chart-connections",
  });
  providers.forEach((p, i) => {
    const y = i * ROW + 4;
    chart.append(svg("text", { x: LABEL - 8, y: y + 15, "text-anchor": "end" }, providerName(p)));
    let x = LABEL;
    for (const s of STATUSES) {
      const n = count(p, s);
      if (!n) continue;
      const w = (n / max) * PLOT;
      chart.append(
        bar(x, y, w, ROW - 8, STATUS_COLORS[s], `${providerName(p)}: ${num(n)} ${STATUS_WORDS[s]}`, {
          provider: p,
          status: s,
          count: n,
        }),
      );
      x += w;
    }
    chart.append(svg("text", { x: x + 6, y: y + 15, class: "value" }, num(totals[i])));
  });
  $("connections-chart").replaceChildren(
    chart,
    legend(STATUSES.map((s) => [STATUS_WORDS[s], STATUS_COLORS[s]])),
  );

  table(
    $("connections-table"),
    ["Provider", ...STATUSES.map((s) => STATUS_WORDS[s]), "Total"],
    providers.map((p, i) =>
      row([
        el("th", { scope: "row" }, providerName(p)),
        ...STATUSES.map((s) => el("td", { testid: `conn-${p}-${s}`, class: "n" }, num(count(p, s)))),
        el("td", { testid: `conn-${p}-total`, class: "n" }, num(totals[i])),
      ], { "data-provider": p })
    ),
  );
}

function refreshesChart({ hourly }) {
  const W = 640, H = 220, LEFT = 44, RIGHT = 8, TOP = 10, BOTTOM = 28;
  const plotW = W - LEFT - RIGHT, plotH = H - TOP - BOTTOM;
  const peak = Math.max(1, ...hourly.map((h) => h.success + h.failure));
  const step = 10 ** Math.floor(Math.log10(peak));
  const max = Math.ceil(peak / step) * step;
  const slot = plotW / hourly.length;
  const chart = svg("svg", {
    viewBox: `0 0 ${W} ${H}`,
    role: "img",
    "aria-label": "Successful and failed refreshes per hour, last 24 hours",
    "data-testid": "chart-refreshes",
  });
  for (const f of [0, 0.5, 1]) {
    const y = TOP + plotH - f * plotH;
    chart.append(
      svg("line", { x1: LEFT, x2: W - RIGHT, y1: y, y2: y, class: "grid" }),
      svg("text", { x: LEFT - 6, y: y + 4, "text-anchor": "end", class: "axis" }, num(Math.round(f * max))),
    );
  }
  hourly.forEach((h, i) => {
    const x = LEFT + i * slot + slot * 0.15;
    const w = slot * 0.7;
    const hs = (h.success / max) * plotH;
    const hf = (h.failure / max) * plotH;
    const label = `${when(h.start)}: `;
    chart.append(
      bar(x, TOP + plotH - hs, w, hs, OUTCOME_COLORS.success, `${label}${num(h.success)} refreshed`, {
        hour: new Date(h.start).toISOString(),
        outcome: "success",
        count: h.success,
      }),
      bar(x, TOP + plotH - hs - hf, w, hf, OUTCOME_COLORS.failure, `${label}${num(h.failure)} failed`, {
        hour: new Date(h.start).toISOString(),
        outcome: "failure",
        count: h.failure,
      }),
    );
    if (i % 3 === 0) {
      chart.append(
        svg("text", { x: x + w / 2, y: H - 8, "text-anchor": "middle", class: "axis" }, hourLabel(h.start)),
      );
    }
  });
  $("refreshes-chart").replaceChildren(
    chart,
    legend([["Refreshed", OUTCOME_COLORS.success], ["Failed", OUTCOME_COLORS.failure]]),
  );
}

function codesChart({ failuresByCode }) {
  $("codes-none").hidden = failuresByCode.length > 0;
  const W = 640, LABEL = 190, PLOT = 380, ROW = 24;
  const max = Math.max(1, ...failuresByCode.map((c) => c.count));
  const chart = svg("svg", {
    viewBox: `0 0 ${W} ${Math.max(1, failuresByCode.length) * ROW + 4}`,
    role: "img",
    "aria-label": "Failed refreshes by error code, last 24 hours",
    "data-testid": "chart-codes",
  });
  failuresByCode.forEach((c, i) => {
    const y = i * ROW + 4;
    const code = c.code || "(no code)";
    const w = (c.count / max) * PLOT;
    chart.append(
      svg("text", { x: LABEL - 8, y: y + 13, "text-anchor": "end", class: "code" }, code),
      bar(LABEL, y, w, ROW - 8, OUTCOME_COLORS.failure, `${code}: ${num(c.count)}`, {
        code: c.code,
        count: c.count,
      }),
      svg(
        "text",
        { x: LABEL + w + 6, y: y + 13, class: "value", "data-testid": `code-${code}` },
        num(c.count),
      ),
    );
  });
  $("codes-chart").replaceChildren(...(failuresByCode.length ? [chart] : []));
}

function expiringBlock(target, kind, e, now) {
  const byProvider = table(
    `expiring-${kind}-providers`,
    ["Provider", "Connections"],
    e.byProvider.map((p) =>
      row([
        el("th", { scope: "row" }, providerName(p.provider)),
        el("td", { testid: `expiring-${kind}-${p.provider}`, class: "n" }, num(p.count)),
      ])
    ),
  );
  const soonest = table(
    `expiring-${kind}-soonest`,
    ["Provider", "User (hash)", "Status", "Expires"],
    e.soonest.map((c) =>
      row([
        providerName(c.provider),
        cell(el("code", {}, c.user)),
        STATUS_WORDS[c.status] ?? c.status,
        el("td", { title: when(c.expiresAt) }, relative(c.expiresAt, now)),
      ], { "data-testid": `soonest-${kind}` })
    ),
  );
  const parts = e.total === 0 ? [el("p", { class: "hint" }, "None.")] : [
    byProvider,
    el("h4", {}, `The ${e.soonest.length} soonest`),
    soonest,
  ];
  $(target).replaceChildren(...parts);
}

function runsTable(runs) {
  table(
    $("runs"),
    [
      "Started",
      "Took",
      "Stopped",
      "Checked",
      "Refreshed",
      "Kept alive",
      "Failed",
      "By code",
      "Breaker skips",
      "Left",
      "Warned",
      "Webhooks ok / failed",
      "Events deleted",
    ],
    runs.map((r) => {
      const codes = Object.entries(r.failedByCode).map(([c, n]) => `${c} ${n}`).join(", ");
      return row([
        el("td", { title: when(r.startedAt) }, short(r.startedAt)),
        durationText(r.durationMs),
        el("td", { class: `stopped ${r.stopped ?? "running"}` }, r.stopped ?? "running"),
        el("td", { class: "n" }, num(r.checked)),
        el("td", { class: "n", "data-field": "refreshed" }, num(r.refreshed)),
        el("td", { class: "n" }, num(r.keptAlive)),
        el("td", { class: "n", "data-field": "failed" }, num(r.failed)),
        el("td", { class: "codes", "data-field": "codes" }, codes || "—"),
        el("td", { class: "n" }, num(r.skippedByBreaker)),
        el("td", { class: "n" }, r.remaining === null ? "—" : num(r.remaining)),
        el("td", { class: "n" }, num(r.warned)),
        el("td", { class: "n" }, `${num(r.webhooksDelivered)} / ${num(r.webhooksFailed)}`),
        el("td", { class: "n" }, num(r.eventsDeleted)),
      ], { "data-testid": "run", "data-id": String(r.id) });
    }),
  );
}

function render(report) {
  const now = report.generatedAt;
  $("generated").textContent = `As of ${when(now)}. Refreshes counted since ${when(report.refreshes.since)}.`;
  const set = (testid, value) => (document.querySelector(`[data-testid=${testid}]`).textContent = value);
  set("total-connections", num(report.connections.total));
  set("refresh-success", num(report.refreshes.success));
  set("refresh-failure", num(report.refreshes.failure));
  set("expiring-access-total", num(report.expiring.accessTokens.total));
  set("expiring-refresh-total", num(report.expiring.refreshTokens.total));
  set("webhook-backlog", num(report.webhooks.pending));
  set("webhook-failed", num(report.webhooks.failed));
  set("webhooks-pending", num(report.webhooks.pending));
  set("webhooks-failed", num(report.webhooks.failed));
  set("webhooks-oldest", report.webhooks.oldestPendingAt ? when(report.webhooks.oldestPendingAt) : "—");
  const disabled = report.webhooks.disabledEndpoints ?? [];
  set(
    "webhooks-disabled",
    disabled.length === 0 ? "none" : disabled.map((d) => `${d.id} (since ${when(d.disabledAt)})`).join(", "),
  );
  connectionsChart(report.connections);
  refreshesChart(report.refreshes);
  codesChart(report.refreshes);
  expiringBlock("expiring-access", "access", report.expiring.accessTokens, now);
  expiringBlock("expiring-refresh", "refresh", report.expiring.refreshTokens, now);
  runsTable(report.runs);
}

// ---- session and flow ----------------------------------------------------------------------------

function say(text) {
  const m = $("message");
  m.textContent = text;
  m.hidden = !text;
}

function show(view) {
  document.body.dataset.view = view;
  $("signin").hidden = view !== "signin";
  $("refused").hidden = view !== "refused";
  $("health").hidden = view !== "health";
}

async function load() {
  say("");
  try {
    render(await client.callFunction("admin-health", undefined, "GET"));
    show("health");
  } catch (e) {
    if (e?.code === "FORBIDDEN") {
      $("refused-detail").textContent = `The server says: ${e.message}.`;
      show("refused");
    } else if (e?.code === "UNAUTHORIZED") {
      say("Your session has ended. Sign in again.");
      show("signin");
    } else {
      say(`The report could not be loaded (${e?.code ?? "error"}): ${e?.message ?? e}`);
    }
  }
}

async function start() {
  document.body.dataset.ready = "false";
  const me = await signedInAs(supabase);
  $("signout").hidden = !me;
  $("reload").hidden = !me;
  $("dev").hidden = !config.devJwt;
  $("session").dataset.via = me?.via ?? "";
  $("session").dataset.user = me?.id ?? "";
  // Back from a sign-in Supabase Auth could not complete (consent denied): said, and off the address bar.
  const returned = authReturnMessage();
  if (!me) {
    $("session").textContent = "Signed out";
    show("signin");
    if (returned) say(returned);
  } else {
    $("session").textContent = `Signed in as ${me.email ?? "a Supabase user"}`;
    if (returned) say(returned);
    await load();
  }
  document.body.dataset.ready = "true";
}

/** One start at a time: sign-in events, storage events and clicks can ask together. */
let starting = Promise.resolve();
const restart = () => (starting = starting.then(start, start));

async function run(button, work) {
  button.disabled = true;
  try {
    await work();
  } catch (e) {
    say(e?.message ?? String(e));
  } finally {
    button.disabled = false;
  }
}

$("signin-google").onclick = () =>
  run($("signin-google"), async () => {
    const { error } = await supabase.auth.signInWithOAuth({
      provider: "google",
      options: { redirectTo: `${location.origin}${location.pathname}` },
    });
    if (error) throw error;
  });
const devSignIn = (jwt) => {
  localStorage.setItem(JWT_KEY, jwt);
  restart();
};
$("signin-dev-admin").onclick = () => devSignIn(config.devAdminJwt);
$("signin-dev").onclick = () => devSignIn(config.devJwt);
$("reload").onclick = () => run($("reload"), load);
$("signout").onclick = () =>
  run($("signout"), async () => {
    localStorage.removeItem(JWT_KEY);
    const { data: { session } } = await supabase.auth.getSession();
    if (session) {
      const { error } = await supabase.auth.signOut({ scope: "local" });
      if (error) throw error;
    }
    client.reset();
    await restart();
  });
// supabase-js says SIGNED_IN again at every tab focus (and tells the other
// tabs): only another user, or none, starts the page again.
supabase.auth.onAuthStateChange((event, session) => {
  const changed = event === "SIGNED_OUT" ||
    (event === "SIGNED_IN" && (session?.user?.id ?? "") !== $("session").dataset.user);
  if (changed) setTimeout(restart, 0);
});
addEventListener("storage", (e) => {
  if (e.key === JWT_KEY) restart();
});

restart();
