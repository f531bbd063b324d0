// End to end: the www/ page in Debian's Chromium (driven by playwright-core)
// against the whole local stack from `make dev` (PGlite, the provider
// emulator, edge functions). Screenshots of each step go to test-output/e2e/.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startDevStack } from "./stack.mjs";

let dev, emu, emulator, openTab, shot, web;
before(async () => {
  dev = await startDevStack();
  ({ emu, emulator, openTab, shot, web } = dev);
});
after(() => dev?.stop());

let tabA;

test("sign in, connect Google, and create a Meet from the page", async () => {
  tabA = await openTab();
  await tabA.getByTestId("signin-dev").click();
  await tabA.getByTestId("connect").click();
  await tabA.waitForSelector("[data-testid=status][data-status=connected]");
  await tabA.getByTestId("create-submit").click();
  const link = tabA.getByTestId("meet-link").first();
  await link.waitFor();
  assert.match(await link.textContent(), /^meet\.google\.com\/[a-z]{3}-[a-z]{4}-[a-z]{3}$/);
  assert.match(await tabA.getByTestId("message").textContent(), /Meeting created/);
  await shot(tabA, "01-meet-created");
});

test("token expired at Google: the next action succeeds after one refresh and the countdown resets", async () => {
  const before = await emu("counters");
  const oldExpiry = Number(await tabA.getByTestId("countdown").getAttribute("data-expires-at"));
  const oldMarker = await tabA.getByTestId("refreshed-at").getAttribute("data-marker");
  await emu("expire", { email: "dev@example.com" });
  await tabA.fill("input[name=summary]", "After expiry");
  await tabA.getByTestId("create-submit").click();
  await tabA.getByText("After expiry").first().waitFor();
  await tabA.waitForFunction(
    (old) => document.querySelector("[data-testid=refreshed-at]").dataset.marker !== old,
    oldMarker,
  );
  const afterCounters = await emu("counters");
  assert.equal(afterCounters.refreshGrants - before.refreshGrants, 1, "one refresh");
  assert.equal(afterCounters.calendar401 - before.calendar401, 1, "only the server's call saw the 401");
  const newExpiry = Number(await tabA.getByTestId("countdown").getAttribute("data-expires-at"));
  assert.ok(newExpiry > oldExpiry, "the countdown reset to the new token's expiry");
  await shot(tabA, "02-after-expiry");
});

test("two tabs: a server refresh seen in one tab reaches the other without a reload", async () => {
  const tabB = await openTab();
  const markerB = await tabB.getByTestId("refreshed-at").getAttribute("data-marker");
  await emu("expire", { email: "dev@example.com" });
  await tabA.fill("input[name=summary]", "From tab A");
  await tabA.getByTestId("create-submit").click();
  await tabA.getByText("From tab A").first().waitFor();
  const markerA = await tabA.getByTestId("refreshed-at").getAttribute("data-marker");
  assert.notEqual(markerA, markerB);
  await tabB.waitForFunction(
    (m) => document.querySelector("[data-testid=refreshed-at]").dataset.marker === m,
    markerA,
    { timeout: 5000 },
  );
  const before = await emu("counters");
  const tokensBefore = (await emu("calendar-tokens")).tokens.length;
  await tabB.getByTestId("reload-events").click();
  await tabB.getByText("From tab A").first().waitFor();
  const afterCounters = await emu("counters");
  assert.equal(afterCounters.calendar401, before.calendar401, "tab B's Calendar call had no 401");
  const used = (await emu("calendar-tokens")).tokens.slice(tokensBefore);
  const all = (await emu("calendar-tokens")).tokens;
  assert.ok(used.length >= 1);
  assert.equal(used.at(-1), all.at(-1), "tab B used the newest token");
  await shot(tabB, "03-second-tab-in-step");
  await tabB.close();
});

test("invalid_grant: the reconnect button appears, and reconnecting restores the connection", async () => {
  await emu("revoke", { email: "dev@example.com" });
  await tabA.getByTestId("refresh-now").click();
  await tabA.getByTestId("reconnect").waitFor({ state: "visible" });
  assert.match(await tabA.getByTestId("message").textContent(), /Reconnect your Google account/);
  await tabA.waitForSelector("[data-testid=status][data-status=needs_reauth]");
  await shot(tabA, "04-reconnect-needed");
  await tabA.getByTestId("reconnect").click();
  await tabA.waitForSelector("[data-testid=status][data-status=connected]");
  assert.equal(await tabA.getByTestId("reconnect").isVisible(), false);
  await tabA.fill("input[name=summary]", "Back again");
  await tabA.getByTestId("create-submit").click();
  await tabA.getByText("Back again").first().waitFor();
  await shot(tabA, "05-reconnected");
});

test("update and cancel a Meet from the page", async () => {
  const item = tabA.locator("li[data-testid=event]", { hasText: "Back again" }).first();
  await item.getByTestId("edit").click();
  await item.locator("input[name=summary]").fill("Back again (moved)");
  await item.getByTestId("save").click();
  await tabA.getByText("Back again (moved)").first().waitFor();
  const moved = tabA.locator("li[data-testid=event]", { hasText: "Back again (moved)" }).first();
  await moved.getByTestId("cancel").click();
  await tabA.getByText("Meeting cancelled").waitFor();
  // The list reloads after the message: wait for the cancelled event to leave it.
  await tabA.getByText("Back again (moved)").first().waitFor({ state: "detached" });
  assert.equal(await tabA.getByText("Back again (moved)").count(), 0);
  await shot(tabA, "06-updated-and-cancelled");
});

test("a Meet Google is still making: the page says so rather than 'null'", async () => {
  await emu("config", { meetStatus: "pending" });
  try {
    await tabA.fill("input[name=summary]", "Meet on its way");
    await tabA.getByTestId("create-submit").click();
    await tabA.getByText("Meet on its way").first().waitFor();
    assert.match(await tabA.getByTestId("message").textContent(), /still adding its Meet/);
  } finally {
    await emu("config", { meetStatus: "success" });
  }
});

test("an answer lost on the way back: creating again gets the same meeting, not a second one", async () => {
  // The function creates the meeting; its answer never reaches the page (the connection drops).
  let lost = 0;
  await tabA.route("**/functions/v1/create-google-meet", async (route) => {
    if (lost++ === 0) {
      await route.fetch();
      await route.abort("connectionreset");
    } else await route.continue();
  });
  try {
    await tabA.fill("input[name=summary]", "Only once");
    await tabA.getByTestId("create-submit").click();
    await tabA.waitForSelector("[data-testid=message]:text('Could not reach the server')");
    // The user tries again with the same form.
    await tabA.getByTestId("create-submit").click();
    await tabA.getByText("Only once").first().waitFor();
    assert.match(await tabA.getByTestId("message").textContent(), /Meeting created/);
    assert.equal(await tabA.locator("li[data-testid=event]", { hasText: "Only once" }).count(), 1);
  } finally {
    await tabA.unroute("**/functions/v1/create-google-meet");
  }
});

test("Google Calendar limiting or refusing the page's own calls: said as such, not as Google being down", async () => {
  await emu("calendar-faults", { kind: "429", retryAfter: 12 });
  await tabA.getByTestId("reload-events").click();
  await tabA.waitForSelector("[data-testid=message]:text('Google is limiting requests')");
  await emu("calendar-faults", { kind: "forbidden" });
  await tabA.getByTestId("reload-events").click();
  await tabA.waitForSelector("[data-testid=message]:text('That was refused')");
  assert.equal(await tabA.getByTestId("reconnect").isVisible(), false, "no reconnect offered for either");
});

test("an all-day event made in Google Calendar is listed with its dates, and not offered to the time form", async () => {
  // The access token the page's last Calendar call used, to make the event as Google Calendar's own UI would.
  const { tokens } = await emu("calendar-tokens");
  const made = await fetch(`${emulator}/calendar/v3/calendars/primary/events`, {
    method: "POST",
    headers: { authorization: `Bearer ${tokens.at(-1)}`, "content-type": "application/json" },
    body: JSON.stringify({
      summary: "Offsite day",
      start: { date: "2026-12-01" },
      end: { date: "2026-12-02" },
    }),
  });
  assert.equal(made.status, 200, await made.clone().text());
  await tabA.reload();
  const item = tabA.locator("li[data-testid=event]", { hasText: "Offsite day" }).first();
  await item.waitFor();
  assert.match(await item.locator(".when").textContent(), /^2026-12-01, all day$/);
  assert.equal(await item.getByTestId("edit").isVisible(), false);
});

test("a shared browser: after one user signs out and another signs in, no tab uses the first user's token", async () => {
  await tabA.fill("input[name=summary]", "A's private meeting");
  await tabA.getByTestId("create-submit").click();
  await tabA.getByText("A's private meeting").first().waitFor();
  // A second tab of the same browser: same session (user A), then sign-out.
  const tabB = await openTab();
  await tabB.getByTestId("signout").click();
  await tabB.getByTestId("signin-dev2").waitFor({ state: "visible" });
  await tabA.waitForSelector("[data-testid=session]:text('Signed out')");
  // Nothing of A's stays on the page (a shared computer: the next user sees this tab).
  assert.equal(
    await tabA.getByText("A's private meeting").count(),
    0,
    "A's meetings left the page at sign-out",
  );
  // Every token user A's tabs used up to the sign-out.
  const before = (await emu("calendar-tokens")).tokens;
  const usedByA = new Set(before);
  // User B signs in on the shared computer and connects their own Google account.
  await tabB.getByTestId("signin-dev2").click();
  await tabB.waitForSelector("[data-testid=status][data-status=disconnected]");
  await tabB.getByTestId("connect").click();
  await tabB.waitForSelector("[data-testid=status][data-status=connected]");
  await tabB.fill("input[name=summary]", "B's meeting");
  await tabB.getByTestId("create-submit").click();
  await tabB.getByText("B's meeting").first().waitFor();
  assert.equal(await tabB.getByText("A's private meeting").count(), 0, "tab B never saw A's calendar");
  // The first tab, still open, now acts for user B: B's calendar, B's token.
  const b = await tabB.getByTestId("session").getAttribute("data-user");
  await tabA.waitForSelector(`[data-testid=session][data-user='${b}']`);
  await tabA.getByTestId("reload-events").click();
  await tabA.getByText("B's meeting").first().waitFor();
  assert.equal(
    await tabA.getByText("A's private meeting").count(),
    0,
    "tab A shows no trace of A's calendar",
  );
  const all = (await emu("calendar-tokens")).tokens;
  const leaked = all.slice(before.length).filter((t) => usedByA.has(t));
  assert.equal(leaked.length, 0, "no Calendar call after the switch used user A's token");
  await shot(tabA, "07-shared-browser-second-user");
  await tabB.close();
});

test("a grant without the Calendar scope: the page says so and reconnecting with it works", async () => {
  // User B (signed in on tabA since the last step) connects with a grant that lacks Calendar.
  const cfg = await (await fetch(`${web}config.json`)).json();
  const g = await emu("grant", { email: "dev2@example.com", scope: "openid email" });
  const stored = await fetch(`${cfg.functionsUrl}/store-google-tokens`, {
    method: "POST",
    headers: { authorization: `Bearer ${cfg.devJwt2}`, "content-type": "application/json" },
    body: JSON.stringify({
      providerToken: g.access_token,
      providerRefreshToken: g.refresh_token,
      expiresIn: g.expires_in,
      scope: g.scope,
    }),
  });
  assert.equal(stored.status, 200);
  // The page learns of the new grant (here by refreshing through the functions).
  await tabA.getByTestId("refresh-now").click();
  await tabA.getByText("Access token refreshed").waitFor();
  await tabA.getByTestId("reload-events").click();
  await tabA.getByTestId("reconnect").waitFor({ state: "visible" });
  assert.match(await tabA.getByTestId("message").textContent(), /did not grant access to your calendar/);
  // Creating a meeting through the functions records it on the connection.
  await tabA.fill("input[name=summary]", "Needs the scope");
  await tabA.getByTestId("create-submit").click();
  await tabA.waitForSelector("[data-testid=status][data-status=needs_reauth]");
  assert.match(await tabA.getByTestId("last-error").textContent(), /did not grant access to your calendar/);
  assert.equal(await tabA.getByTestId("reconnect").textContent(), "Reconnect and allow Google Calendar");
  await shot(tabA, "08-calendar-scope-missing");
  await tabA.getByTestId("reconnect").click();
  await tabA.waitForSelector("[data-testid=status][data-status=connected]");
  await tabA.getByTestId("create-submit").click();
  await tabA.getByText("Needs the scope").first().waitFor();
  await shot(tabA, "09-calendar-scope-granted");
});

test("the page under attack: a non-Meet link in an event, framing, a crafted error return, a production config", async () => {
  // An event list whose hangoutLink is a javascript: URL (a hostile or
  // proxied Calendar endpoint): no link is made of it.
  await tabA.route((u) => new URL(u).pathname.endsWith("/calendars/primary/events"), async (r) => {
    if (r.request().method() !== "GET") return r.continue();
    const res = await r.fetch();
    const body = await res.json();
    for (const item of body.items ?? []) item.hangoutLink = "javascript:document.body.dataset.pwned='1'";
    await r.fulfill({ response: res, json: body });
  });
  // The list as it is now is marked, so the test waits for the reloaded one.
  await tabA.evaluate(() => {
    for (const li of document.querySelectorAll("[data-testid=event]")) li.dataset.stale = "1";
  });
  await tabA.getByTestId("reload-events").click();
  await tabA.waitForFunction(() =>
    document.querySelectorAll("[data-testid=event]").length > 0 &&
    document.querySelectorAll("[data-testid=event][data-stale]").length === 0
  );
  assert.equal(await tabA.getByTestId("meet-link").count(), 0);
  assert.equal(await tabA.evaluate(() => document.body.dataset.pwned), undefined);
  await tabA.unroute((u) => new URL(u).pathname.endsWith("/calendars/primary/events"));
  // The pages may not be framed.
  const page = await fetch(web);
  assert.equal(page.headers.get("x-frame-options"), "DENY");
  assert.match(page.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/);
  // A link that opens the page with an error and words of its own: only the code is shown.
  const crafted = await openTab("?error=server_error&error_description=Call%20555-0100%20to%20unlock");
  assert.match(await crafted.getByTestId("message").textContent(), /server_error/);
  assert.doesNotMatch(await crafted.getByTestId("message").textContent(), /555-0100/);
  await crafted.close();
  // Without the dev stack's JWTs (a deployment's config.json), no dev shortcut.
  // A fresh browser context: signed out, as a visitor of a deployment is.
  const fresh = await tabA.context().browser().newContext();
  try {
    await fresh.route((u) => new URL(u).pathname === "/config.json", async (r) => {
      const res = await r.fetch();
      const cfg = await res.json();
      for (const k of ["devJwt", "devJwt2", "devAdminJwt", "emulatorUrl"]) delete cfg[k];
      await r.fulfill({ response: res, json: cfg });
    });
    const prod = await fresh.newPage();
    await prod.goto(web);
    await prod.waitForSelector("body[data-ready=true]");
    await prod.getByTestId("signin-google").waitFor({ state: "visible" });
    assert.equal(await prod.getByTestId("signin-dev").isVisible(), false);
  } finally {
    await fresh.close();
  }
});

test("a session that ended with no event this tab heard: the next action finds it gone and shows it", async () => {
  const tab = await openTab();
  await tab.waitForSelector("body[data-ready=true]");
  if (await tab.getByTestId("signin-dev").isVisible()) await tab.getByTestId("signin-dev").click();
  await tab.waitForSelector("[data-testid=session]:text('Signed in')");
  // The session leaves storage without an event here (another tab's sign-out racing this one's refresh).
  await tab.evaluate(() => localStorage.removeItem("otm.jwt"));
  await tab.getByTestId("reload-events").click();
  await tab.waitForSelector("[data-testid=session]:text('Signed out')");
  await tab.getByTestId("signin-dev").waitFor({ state: "visible" });
  await tab.close();
});

/**
 * A tab signed in as the first dev user (whoever the last test left signed
 * in), its Google connection connected, the page done starting.
 */
async function firstUserTab() {
  const tab = await openTab();
  await tab.waitForSelector("body[data-ready=true]");
  if (await tab.getByTestId("signout").isVisible()) {
    await tab.getByTestId("signout").click();
    await tab.getByTestId("signin-dev").waitFor({ state: "visible" });
  }
  await tab.getByTestId("signin-dev").click();
  await tab.waitForSelector("[data-testid=session]:text('Signed in')");
  // The page is done starting (its status read) before the status is looked at.
  await tab.waitForFunction(() => document.body.dataset.started === document.body.dataset.starts);
  if ((await tab.getByTestId("status").getAttribute("data-status")) !== "connected") {
    await tab.getByTestId("connect").click();
    await tab.waitForSelector("[data-testid=status][data-status=connected]");
  }
  return tab;
}

/**
 * Holds the first request to `url` that `start` makes, signs out and in as
 * the second dev user while it waits (the page done starting for them), then
 * lets it go: resolves, to what `beforeRelease` read of the page just before
 * that, once the page has dropped its answer rather than shown it.
 */
async function heldAcrossASwitch(tab, url, start, beforeRelease = () => undefined) {
  let held, arrived;
  const heldArrived = new Promise((resolve) => (arrived = resolve));
  await tab.route(url, (route) => {
    if (held) return route.continue();
    held = route;
    arrived();
  });
  await start();
  await heldArrived;
  await tab.getByTestId("signout").click();
  await tab.waitForSelector("[data-testid=session]:text('Signed out')");
  const starts = await tab.evaluate(() => Number(document.body.dataset.starts));
  await tab.getByTestId("signin-dev2").click();
  await tab.waitForFunction((n) => Number(document.body.dataset.started) > n, starts);
  const read = await beforeRelease();
  const discarded = await tab.evaluate(() => Number(document.body.dataset.discarded ?? 0));
  await held.continue();
  await tab.waitForFunction((n) => Number(document.body.dataset.discarded ?? 0) > n, discarded);
  await tab.unroute(url);
  return read;
}

test("meetings asked for before a sign-out are not shown to the next user", async () => {
  const tab = await firstUserTab();
  await tab.fill("input[name=summary]", "First user's held meeting");
  await tab.getByTestId("create-submit").click();
  await tab.getByText("First user's held meeting").first().waitFor();
  await heldAcrossASwitch(
    tab,
    "**/calendars/primary/events?**",
    () => tab.getByTestId("reload-events").click(),
  );
  assert.equal(
    await tab.getByText("First user's held meeting").count(),
    0,
    "the first user's meetings never reach the next user's page",
  );
  await tab.close();
});

test("a status asked for before a sign-out is not shown to the next user", async () => {
  const tab = await firstUserTab();
  const shown = () =>
    tab.evaluate(
      () => [
        document.getElementById("status").dataset.status,
        document.getElementById("refreshed-at").dataset.marker,
      ],
    );
  // What the next user's page shows just before the first user's status arrives.
  const before = await heldAcrossASwitch(
    tab,
    "**/get-token-status",
    () => tab.getByTestId("refresh-now").click(),
    shown,
  );
  assert.deepEqual(await shown(), before, "the first user's status never reaches the next user's page");
  await tab.close();
});
