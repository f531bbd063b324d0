// End to end with supabase-js: the www/ page signs in with Google through
// Supabase Auth (the dev stack's stand-in) and the emulator's consent page;
// the adapter stores the provider tokens once (counted at the browser: one
// POST connections/google/store, none after a reload or in a second tab);
// Calendar works with them; linkIdentity adds Spotify to the same account and
// stores its tokens; sign-out in one tab signs every tab out and drops their
// tokens.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startDevStack } from "./stack.mjs";

let dev, tab, tabB;
/** Every POST to connections/<provider>/store the browser made, by provider. */
const stores = [];
before(async () => {
  dev = await startDevStack();
  dev.context.on("request", (r) => {
    const m = /\/functions\/v1\/connections\/([^/]+)\/store$/.exec(r.url());
    if (m && r.method() === "POST") stores.push(m[1]);
  });
});
after(() => dev?.stop());

const count = (provider) => stores.filter((p) => p === provider).length;

/** On the emulator's consent page: sign in as `account` and approve; back on the page when it is ready. */
async function approveAs(page, account, shot) {
  await page.waitForSelector("#approve");
  await page.fill("#account", account);
  if (shot) await dev.shot(page, shot);
  await page.click("#approve");
  await page.waitForSelector("body[data-ready=true]");
}

test("sign in with Google through supabase-js: the provider tokens are stored once", async () => {
  tab = await dev.openTab();
  await tab.getByTestId("signin-google").waitFor({ state: "visible" });
  await dev.shot(tab, "supabase-01-signed-out");
  await tab.getByTestId("signin-google").click();
  await approveAs(tab, "ada@example.com", "supabase-02-google-consent");
  await tab.waitForSelector("[data-testid=status][data-status=connected]");
  assert.equal(await tab.getByTestId("session").textContent(), "Signed in as ada@example.com");
  assert.equal(await tab.getByTestId("session").getAttribute("data-via"), "supabase");
  assert.doesNotMatch(tab.url(), /[?&]code=/, "supabase-js took the code off the address bar");
  assert.equal(count("google"), 1, "one store of Google's tokens");
  await dev.shot(tab, "supabase-03-signed-in");
});

test("Calendar with the stored tokens: a Meet from the page", async () => {
  await tab.fill("input[name=summary]", "Signed in with Supabase");
  await tab.getByTestId("create-submit").click();
  const item = tab.locator("li[data-testid=event]", { hasText: "Signed in with Supabase" }).first();
  await item.waitFor();
  assert.match(await item.getByTestId("meet-link").textContent(), /^meet\.google\.com\//);
  await tab.waitForSelector("[data-testid=token-held][data-held=true]", { state: "attached" });
});

test("back to the tab: supabase-js says SIGNED_IN again, and the page keeps what was typed", async () => {
  await tab.fill("input[name=summary]", "Typed, not sent");
  await tab.fill("input[name=start]", "2031-05-06T14:00");
  const starts = await tab.evaluate(() => document.body.dataset.starts);
  await tab.evaluate(() => {
    document.body.dataset.authEvent = "";
    globalThis.dispatchEvent(new Event("visibilitychange")); // supabase-js listens on window
  });
  await tab.waitForSelector("body[data-auth-event=SIGNED_IN]", { state: "attached" });
  // A start it scheduled (setTimeout 0 in the listener) would have begun by the next turn.
  await tab.evaluate(() => new Promise((r) => setTimeout(r, 0)));
  assert.equal(
    await tab.evaluate(() => document.body.dataset.starts),
    starts,
    "the page did not start again",
  );
  assert.equal(await tab.inputValue("input[name=summary]"), "Typed, not sent");
  assert.equal(await tab.inputValue("input[name=start]"), "2031-05-06T14:00");
});

test("a reload and a second tab store nothing more", async () => {
  await tab.reload();
  await tab.waitForSelector("body[data-ready=true]");
  await tab.waitForSelector("[data-testid=status][data-status=connected]");
  tabB = await dev.openTab();
  await tabB.waitForSelector("[data-testid=status][data-status=connected]");
  assert.equal(await tabB.getByTestId("session").textContent(), "Signed in as ada@example.com");
  assert.equal(count("google"), 1, "supabase-js re-emits the tokens on each load; they are not stored again");
});

test("linkIdentity: Spotify linked to the same account, its tokens stored and used", async () => {
  const user = await tab.getByTestId("session").getAttribute("data-user");
  await tab.getByTestId("link-spotify").click();
  await approveAs(tab, "ada.lovelace@example.com", "supabase-04-spotify-consent");
  await tab.waitForSelector("[data-testid=status-spotify][data-status=connected]");
  assert.equal(await tab.getByTestId("session").getAttribute("data-user"), user, "the same user");
  assert.equal(count("spotify"), 1);
  assert.equal(count("google"), 1, "Google's tokens were not stored again");
  await tab.getByTestId("whoami-button-spotify").click();
  await tab.waitForSelector("[data-testid=whoami-spotify]:has-text('Spotify says')");
  assert.equal(
    await tab.getByTestId("status").getAttribute("data-status"),
    "connected",
    "Google still connected",
  );
  await dev.shot(tab, "supabase-05-spotify-linked");
});

test("sign-out in one tab: every tab is signed out and drops its tokens", async () => {
  // Tab B uses a token first, so it has one to drop.
  await tabB.reload();
  await tabB.waitForSelector("body[data-ready=true]");
  await tabB.getByTestId("reload-events").click();
  await tabB.waitForSelector("[data-testid=token-held][data-held=true]", { state: "attached" });
  await tab.getByTestId("signout").click();
  for (const page of [tab, tabB]) {
    await page.getByTestId("signin-google").waitFor({ state: "visible" });
    assert.equal(await page.getByTestId("session").textContent(), "Signed out");
    await page.waitForSelector("[data-testid=token-held][data-held=false]", { state: "attached" });
  }
  // Signed out, the page has no session to call the functions with.
  const failed = await tabB.evaluate(async () => {
    const cfg = await (await fetch("/config.json")).json();
    const key = Object.keys(localStorage).find((k) => /^sb-.*-auth-token$/.test(k));
    return { key: key ?? null, functionsUrl: cfg.functionsUrl };
  });
  assert.equal(failed.key, null, "supabase-js forgot the session");
  await dev.shot(tabB, "supabase-06-signed-out-everywhere");
});

test("consent denied at Google: the page says so in plain words", async () => {
  await tab.getByTestId("signin-google").click();
  await tab.waitForSelector("#deny");
  await tab.click("#deny");
  await tab.waitForSelector("body[data-ready=true]");
  await tab.getByTestId("message").waitFor({ state: "visible" });
  assert.match(await tab.getByTestId("message").textContent(), /Access was not granted/);
  assert.doesNotMatch(tab.url(), /error=/, "the error left the address bar");
  assert.equal(await tab.getByTestId("session").textContent(), "Signed out");
});
