// The calendar client: signs in with supabase-js, gets Google tokens only
// through the edge functions (never a refresh token), and keeps its tabs in
// step. The package is imported by name, as in an app built with Vite (the
// import map in index.html says where); supabase-js is its browser build, a
// script that sets window.supabase (with a bundler:
// `import { createClient } from "@supabase/supabase-js"`).
import { attachSupabase } from "oauth-token-manager/supabase";
import { connectionsPanel, NAMES, STATUS_WORDS } from "./connections.js";
import { authReturnMessage, devClaims, forThisUser, JWT_KEY, signedInAs, startSession } from "./session.js";

const $ = (id) => document.getElementById(id);
const CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar.events";
/**
 * Right after createClient, so it sees the SIGNED_IN that carries the provider
 * tokens: stores them once, resets the client at sign-out and user changes.
 */
const LINKABLE = ["google", "spotify", "discord", "github"];
const { config, supabase, client, attached: link } = await startSession({
  attach: (supabase, client) =>
    attachSupabase(supabase, client, {
      providers: { google: { scopes: CALENDAR_SCOPE }, spotify: {}, discord: {}, github: {} },
      onStored: ({ provider }) => say(`${who({ provider })} connected through Supabase.`, true),
      onError: (e, { provider }) =>
        say(plain({ code: e?.code, message: e?.message, retryAfter: e?.retryAfter, provider })),
    }),
});

// ---- plain words for error codes ------------------------------------------------

/** The provider an error is about, by name (Google unless it says). */
const who = (e) => NAMES[e?.provider ?? "google"] ?? e.provider;

const PLAIN = {
  REAUTH_REQUIRED: (e) => `${who(e)} access has expired or was revoked. Reconnect your ${who(e)} account.`,
  INSUFFICIENT_SCOPE: () =>
    "Google did not grant access to your calendar. Reconnect and allow Google Calendar when Google asks.",
  AUTH_UNAVAILABLE: () => "Your sign-in could not be checked just now. Try again in a moment.",
  CONSENT_DENIED: () => "Access was not granted at the provider.",
  CONNECT_STATE_INVALID: () => "That connect link expired or was already used. Start connecting again.",
  PAYLOAD_TOO_LARGE: () => "That request is too large.",
  IDEMPOTENCY_CONFLICT: () =>
    "That meeting was already created differently (or cancelled). Create a new one.",
  CRYPTO_UNBOUND: (e) =>
    `Your stored ${who(e)} connection must be migrated by the administrator, or reconnected.`,
  CRYPTO_INTEGRITY: (e) =>
    `Your stored ${who(e)} connection cannot be read. Reconnect your ${who(e)} account.`,
  NOT_CONNECTED: (e) => `Your ${who(e)} account is not connected yet.`,
  RATE_LIMITED: (e) => `${who(e)} is limiting requests. Try again in ${e.retryAfter ?? "a few"} seconds.`,
  COOLDOWN: (e) => `Refreshing is paused after a failure. Try again in ${e.retryAfter ?? "a few"} seconds.`,
  PROVIDER_UNAVAILABLE: (e) => `${who(e)} is not responding right now. Try again shortly.`,
  NETWORK: () => "Could not reach the server. Check your connection.",
  TIMEOUT: (e) => `${who(e)} took too long to answer. Try again.`,
  UNAUTHORIZED: () => "Your session has ended. Sign in again.",
  FORBIDDEN: (e) => `That was refused: ${e.message}`,
  NOT_FOUND: () => "That event no longer exists.",
  BAD_REQUEST: (e) => `Please check the form: ${e.message}`,
  LEASE_TIMEOUT: () => "Another refresh is taking long. Try again in a moment.",
  ROTATION_NOT_SAVED: (e) =>
    `${who(e)} issued new credentials that could not be saved yet. Try again shortly.`,
};

function plain(e) {
  const f = PLAIN[e?.code];
  return f ? f(e) : `Something went wrong (${e?.code ?? "error"}): ${e?.message ?? e}`;
}

function say(text, ok = false) {
  const m = $("message");
  m.textContent = text;
  m.className = ok ? "ok" : "";
  m.hidden = !text;
}

async function run(button, work) {
  if (button) button.disabled = true;
  try {
    await work();
  } catch (e) {
    say(plain(e));
    // No session where the page shows one (it ended in another tab, or its refresh failed,
    // with no event this tab heard): the page starts again for whoever is signed in now.
    if (
      e?.code === "UNAUTHORIZED" && ((await signedInAs(supabase))?.id ?? "") !== $("session").dataset.user
    ) {
      restart();
      return;
    }
    // The failure may have moved the connection's status: show the server's word, not a stale one.
    if (await signedInAs(supabase)) await loadStatus().catch(() => {});
    // A failure seen only here (Calendar called from the browser) still offers the fix.
    if (e?.requiresReauth) showReconnect(true, e.code);
  } finally {
    if (button) button.disabled = false;
  }
}

// ---- the token dashboard ------------------------------------------------------------

let expiresAt = null;

function showReconnect(needed, code) {
  $("reconnect").hidden = !needed;
  // A missing scope is fixed by consenting to it, which reconnecting asks for.
  $("reconnect").textContent = code === "INSUFFICIENT_SCOPE"
    ? "Reconnect and allow Google Calendar"
    : "Reconnect Google";
}

function showMarker(iso) {
  if (!iso) return;
  const el = $("refreshed-at");
  el.textContent = new Date(iso).toLocaleTimeString();
  el.dataset.marker = iso;
}

function tickCountdown() {
  const el = $("countdown");
  if (!expiresAt) {
    el.textContent = "—";
    return;
  }
  const s = Math.round((expiresAt - Date.now()) / 1000);
  el.dataset.expiresAt = String(expiresAt);
  el.dataset.seconds = String(s);
  el.textContent = s <= 0
    ? "expired"
    : `in ${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")} (${
      new Date(expiresAt).toLocaleTimeString()
    })`;
}
setInterval(tickCountdown, 1000);

/** The connection's status, shown; undefined when the user changed while it was asked for. */
async function loadStatus() {
  return await forThisUser(
    () => client.callFunction("get-token-status", undefined, "GET"),
    showStatus,
  );
}

function showStatus(st) {
  const badge = $("status");
  badge.textContent = STATUS_WORDS[st.status] ?? st.status;
  badge.className = `badge ${st.status}`;
  badge.dataset.status = st.status;
  // A revoked grant's token is dead whatever its expiry said; a grant missing
  // a scope still has a working token for the scopes it has.
  const dead = st.status === "disconnected" ||
    (st.status === "needs_reauth" && st.lastErrorCode !== "INSUFFICIENT_SCOPE");
  expiresAt = dead ? null : st.expiresAt;
  tickCountdown();
  if (dead && st.status === "needs_reauth") $("countdown").textContent = "revoked — reconnect to continue";
  showMarker(st.tokenRefreshedAt);
  $("scopes").textContent = st.scopes.length ? st.scopes.join(" ") : "—";
  $("last-error").textContent = st.lastErrorCode
    ? plain({ code: st.lastErrorCode, message: st.lastErrorMessage })
    : "none";
  $("connect").hidden = st.status !== "disconnected";
  showReconnect(st.requiresReauth, st.lastErrorCode);
  $("events").replaceChildren(
    ...st.recentEvents.map((e) => {
      const li = document.createElement("li");
      li.textContent = `${new Date(e.at).toLocaleTimeString()} — ${e.kind}${e.code ? ` (${e.code})` : ""}${
        e.rotated ? ", new refresh token" : ""
      }`;
      return li;
    }),
  );
}

const connections = connectionsPanel({
  client,
  whoAmI: config.whoAmI ?? {},
  plain,
  say,
  // Signed in through Supabase: link a provider to the account (linkIdentity) or sign in with it again.
  linkVia: {
    can: (p) => $("session").dataset.via === "supabase" && LINKABLE.includes(p),
    connect: (p) => link.connect(p),
  },
});

client.onChange((c) => {
  showHeld();
  const google = (c.provider ?? "google") === "google";
  if (c.type === "token" || c.type === "marker") {
    if (google) {
      showMarker(c.tokenRefreshedAt);
      if (c.type === "token" && c.expiresAt) {
        expiresAt = c.expiresAt;
        tickCountdown();
      }
      loadStatus().catch(() => {});
    }
    connections.refresh().catch(() => {});
  } else if (c.type === "error") {
    if (c.requiresReauth && google) showReconnect(true, c.code);
    connections.refresh().catch(() => {});
  }
});

// ---- Google connection ------------------------------------------------------------------

async function connectGoogle() {
  // Signed in through Supabase: sign in with Google again (Calendar scope, offline access, consent);
  // the page leaves for Google and, back here, the adapter stores the new tokens once.
  if ((await signedInAs(supabase))?.via === "supabase") {
    await link.connect("google");
    return;
  }
  // Dev shortcut: the emulator grants directly, and the page posts the tokens as the adapter would.
  const g = await (await fetch(`${config.emulatorUrl}/control/grant`, {
    method: "POST",
    body: JSON.stringify({ email: devClaims().email ?? config.devEmail }),
  })).json();
  await client.callFunction("store-google-tokens", {
    providerToken: g.access_token,
    providerRefreshToken: g.refresh_token,
    expiresIn: g.expires_in,
    scope: g.scope,
  });
  say("Google account connected.", true);
  await connections.refresh();
  await loadStatus();
  await loadEvents();
}

// ---- events -----------------------------------------------------------------------------

function fmtRange(ev) {
  // An all-day event has dates, its end the day after it ends (Events resource: start.date, end.date).
  if (!ev.start.dateTime) {
    const last = new Date(Date.parse(ev.end.date) - 86_400_000).toISOString().slice(0, 10);
    return last === ev.start.date ? `${ev.start.date}, all day` : `${ev.start.date} – ${last}, all day`;
  }
  const s = new Date(ev.start.dateTime);
  const e = new Date(ev.end.dateTime);
  return `${s.toLocaleString()} – ${e.toLocaleTimeString()}`;
}

function eventItem(ev) {
  const li = document.createElement("li");
  li.dataset.eventId = ev.id;
  li.dataset.testid = "event";
  const title = document.createElement("div");
  title.innerHTML = `<strong></strong><div class="when"></div>`;
  title.querySelector("strong").textContent = ev.summary ?? "(no title)";
  title.querySelector(".when").textContent = fmtRange(ev);
  // Only a Google Meet address becomes a link: a javascript: or any other URL
  // in the event would run or lead anywhere from this page.
  const meet = meetUrl(ev.hangoutLink);
  if (meet) {
    const a = document.createElement("a");
    a.href = meet;
    a.rel = "noopener noreferrer";
    a.textContent = meet.replace("https://", "");
    a.dataset.testid = "meet-link";
    title.append(a);
  }
  const buttons = document.createElement("div");
  const edit = document.createElement("button");
  edit.textContent = "Edit";
  edit.dataset.testid = "edit";
  const cancel = document.createElement("button");
  cancel.textContent = "Cancel meeting";
  cancel.dataset.testid = "cancel";
  buttons.append(edit, " ", cancel);
  const form = document.createElement("form");
  form.className = "edit";
  form.hidden = true;
  form.innerHTML =
    `<input name="summary" aria-label="Title" /><input name="start" type="datetime-local" aria-label="Starts" />
    <button type="submit" data-testid="save">Save</button>`;
  form.summary.value = ev.summary ?? "";
  // An all-day event is edited in Google Calendar: the form moves timed meetings.
  if (!ev.start.dateTime) edit.hidden = true;
  else form.start.value = toLocalInput(new Date(ev.start.dateTime));
  edit.onclick = () => (form.hidden = !form.hidden);
  form.onsubmit = (e) => {
    e.preventDefault();
    run(form.querySelector("button"), async () => {
      const start = new Date(form.start.value);
      const minutes = (Date.parse(ev.end.dateTime) - Date.parse(ev.start.dateTime)) / 60000;
      await client.callFunction("update-google-meet", {
        eventId: ev.id,
        summary: form.summary.value,
        start: start.toISOString(),
        end: new Date(start.getTime() + minutes * 60000).toISOString(),
      });
      say("Meeting updated.", true);
      await loadEvents();
    });
  };
  cancel.onclick = () =>
    run(cancel, async () => {
      await client.callFunction("cancel-google-meet", { eventId: ev.id, sendUpdates: "all" });
      say("Meeting cancelled; guests are notified.", true);
      await loadEvents();
    });
  li.append(title, buttons, form);
  return li;
}

async function loadEvents() {
  const url = new URL(`${config.calendarBaseUrl}/calendars/primary/events`);
  url.searchParams.set("timeMin", new Date(Date.now() - 3600_000).toISOString());
  url.searchParams.set("orderBy", "startTime");
  url.searchParams.set("singleEvents", "true");
  await forThisUser(async () => {
    const res = await client.fetch(url.toString());
    if (!res.ok) throw await calendarError(res);
    return await res.json();
  }, (body) => {
    const list = $("upcoming");
    list.replaceChildren(...body.items.map(eventItem));
    if (body.items.length === 0) list.textContent = "No upcoming meetings.";
  });
}

/** Google Calendar's refusal, read as the functions read it (its reason, Retry-After). */
async function calendarError(res) {
  const reason = (await res.json().catch(() => ({})))?.error?.errors?.[0]?.reason;
  const message = `HTTP ${res.status}${reason ? ` (${reason})` : ""}`;
  const after = Number(res.headers.get("retry-after"));
  if (res.status === 403 && reason === "insufficientPermissions") {
    // A token without the scope.
    return { code: "INSUFFICIENT_SCOPE", requiresReauth: true, message: "calendar scope missing" };
  }
  if (res.status === 401) {
    // Still refused after the client's one forced refresh: the grant no longer works.
    return { code: "REAUTH_REQUIRED", requiresReauth: true, message };
  }
  if (res.status === 429 || ["rateLimitExceeded", "userRateLimitExceeded"].includes(reason)) {
    return { code: "RATE_LIMITED", retryAfter: after > 0 ? after : 30, message };
  }
  if (res.status === 403) return { code: "FORBIDDEN", message: "Google Calendar refused the request" };
  return { code: "PROVIDER_UNAVAILABLE", message };
}

function toLocalInput(d) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${
    pad(d.getMinutes())
  }`;
}

/**
 * The meeting being created: one requestId until it is created or the form
 * changes, so a retry after a lost answer gets the same meeting back, not a second.
 */
let requestId = null;
$("create").addEventListener("input", () => (requestId = null));

$("create").onsubmit = (e) => {
  e.preventDefault();
  const f = e.target;
  run(f.querySelector("button"), async () => {
    const start = new Date(f.start.value);
    const end = new Date(start.getTime() + Number(f.minutes.value) * 60000);
    const attendees = f.attendees.value.split(",").map((s) => s.trim()).filter(Boolean);
    requestId ??= crypto.randomUUID();
    const ev = await client.callFunction("create-google-meet", {
      requestId,
      summary: f.summary.value,
      start: start.toISOString(),
      end: end.toISOString(),
      attendees,
    });
    requestId = null; // created: the next submit is another meeting
    // Google makes the Meet asynchronously: it may not be there yet, or may have failed.
    say(
      ev.meetUrl
        ? `Meeting created: ${ev.meetUrl}`
        : ev.conferenceStatus === "failure"
        ? "Meeting created, but Google could not add a Meet to it."
        : "Meeting created; Google is still adding its Meet (refresh the list in a moment).",
      true,
    );
    await loadEvents();
  });
};

$("refresh-now").onclick = () =>
  run($("refresh-now"), async () => {
    const t = await client.getAccessToken({ force: true });
    showMarker(t.tokenRefreshedAt);
    say("Access token refreshed.", true);
    await loadStatus();
  });
$("connect").onclick = () => run($("connect"), connectGoogle);
$("reconnect").onclick = () => run($("reconnect"), connectGoogle);
$("reload-events").onclick = () => run($("reload-events"), loadEvents);

// ---- session ------------------------------------------------------------------------------

$("signin-google").onclick = () => run($("signin-google"), () => link.connect("google"));

function signedIn(jwt) {
  localStorage.setItem(JWT_KEY, jwt);
  restart();
}
$("signin-dev").onclick = () => signedIn(config.devJwt);
$("signin-dev2").onclick = () => signedIn(config.devJwt2);
$("signin-jwt").onclick = () => signedIn($("jwt").value.trim());

// Sign-out drops this user's tokens in this tab and in the user's other tabs: supabase-js tells
// every tab SIGNED_OUT, and the adapter resets the client there.
$("signout").onclick = () =>
  run($("signout"), async () => {
    localStorage.removeItem(JWT_KEY);
    const { data: { session } } = await supabase.auth.getSession();
    if (session) {
      const { error } = await supabase.auth.signOut({ scope: "local" });
      if (error) throw error;
    } else {
      client.reset();
    }
    $("upcoming").replaceChildren();
    restart();
  });
supabase.auth.onAuthStateChange((event, session) => {
  // supabase-js says SIGNED_IN again at every tab focus (and tells the other
  // tabs): only another user, or none, starts the page again, so a form being
  // filled in keeps what was typed. Out of supabase-js's callback: the page
  // reads the session through supabase-js.
  const changed = event === "SIGNED_OUT" ||
    (event === "SIGNED_IN" && (session?.user?.id ?? "") !== $("session").dataset.user);
  if (changed) setTimeout(restart, 0);
  document.body.dataset.authEvent = event; // for tests: the last event the page heard
});
// A dev shortcut in another tab (its session is shared like supabase-js's).
addEventListener("storage", (e) => {
  if (e.key === JWT_KEY) restart();
});

function showHeld() {
  const info = client.tokenInfo("google");
  const el = $("token-held");
  el.dataset.held = String(info.hasToken);
  el.textContent = info.hasToken
    ? `yes, until ${info.expiresAt ? new Date(info.expiresAt).toLocaleTimeString() : "revoked"}`
    : "none";
}

/** An https://meet.google.com/ address, or null. */
function meetUrl(v) {
  if (typeof v !== "string") return null;
  try {
    const u = new URL(v);
    return u.protocol === "https:" && u.hostname === "meet.google.com" ? u.href : null;
  } catch {
    return null;
  }
}

/** Another user, or none: nothing of the previous user's stays on the page. */
function forgetShown() {
  $("upcoming").replaceChildren();
  $("events").replaceChildren();
  $("create").reset();
  requestId = null;
  say("");
  const marker = $("refreshed-at");
  marker.textContent = "—";
  delete marker.dataset.marker;
  expiresAt = null;
  tickCountdown();
  $("scopes").textContent = "—";
  $("last-error").textContent = "none";
  connections.clear();
}

async function start() {
  document.body.dataset.starts = String(Number(document.body.dataset.starts ?? 0) + 1); // for tests
  const me = await signedInAs(supabase);
  if ((me?.id ?? "") !== $("session").dataset.user) forgetShown();
  const returned = authReturnMessage();
  if (returned) say(returned);
  $("signin").hidden = !!me;
  // The dev shortcuts exist only where the dev stack signs JWTs (config.json's devJwt).
  $("dev-shortcuts").hidden = !config.devJwt;
  $("app").hidden = !me;
  $("signout").hidden = !me;
  $("session").dataset.user = me?.id ?? "";
  $("session").dataset.via = me?.via ?? "";
  showHeld();
  if (!me) {
    $("session").textContent = "Signed out";
    document.body.dataset.ready = "true";
    document.body.dataset.started = document.body.dataset.starts; // for tests: this start is done
    return;
  }
  $("session").textContent = `Signed in as ${me.email ?? "a Supabase user"}`;
  if (!$("create").start.value) {
    const soon = new Date(Date.now() + 3600_000);
    soon.setMinutes(0, 0, 0);
    $("create").start.value = toLocalInput(soon);
  }
  await run(null, async () => {
    // Provider tokens a sign-in just handed over are stored before the statuses are read.
    await link.settled();
    await connections.completeReturn();
    await connections.refresh();
    const st = await loadStatus();
    if (st && st.status !== "disconnected" && !st.requiresReauth) await loadEvents();
    else $("upcoming").replaceChildren();
  });
  showHeld();
  document.body.dataset.ready = "true";
  document.body.dataset.started = document.body.dataset.starts; // for tests: this start is done
}

/** One start at a time: sign-in events, storage events and clicks can ask together. */
let starting = Promise.resolve();
function restart() {
  starting = starting.then(start, start);
  return starting;
}

restart();
