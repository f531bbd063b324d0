// End to end: the Connections panel. Connect Spotify and Discord from the page
// through the emulator's consent pages, see who is connected, use each
// provider's own API through the client, survive an expiry, disconnect
// (revoked where the provider can), and reconnect after invalid_grant.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startDevStack } from "./stack.mjs";

let dev, tab;
before(async () => {
  dev = await startDevStack();
  tab = await dev.openTab();
  await tab.getByTestId("signin-dev").click();
  await tab.waitForSelector("[data-testid=connection-spotify]");
});
after(() => dev?.stop());

/** Click Connect/Reconnect, approve as `account` on the provider's consent page, come back. */
async function consent(p, button, account) {
  await tab.getByTestId(`${button}-${p}`).click();
  await tab.waitForSelector("#approve");
  await tab.fill("#account", account);
  await dev.shot(tab, `connections-consent-${p}`);
  await tab.click("#approve");
  await tab.waitForSelector(`[data-testid=status-${p}][data-status=connected]`);
}

const counters = async (p) => (await dev.emu("counters")).providers[p];

test("connect Spotify through its consent page: Connected as …, and its API answers", async () => {
  assert.equal(
    await tab.getByTestId("status-spotify").getAttribute("data-status"),
    "disconnected",
  );
  await consent("spotify", "connect", "ada.lovelace@example.com");
  assert.match(await tab.getByTestId("message").textContent(), /Spotify connected as/);
  assert.match(await tab.getByTestId("account-spotify").textContent(), /Connected as Ada Lovelace/);
  assert.doesNotMatch(await tab.url(), /otm_connect/, "the ticket left the address bar");
  await tab.getByTestId("whoami-button-spotify").click();
  await tab.waitForSelector("[data-testid=whoami-spotify]:has-text('Spotify says')");
  await dev.shot(tab, "connections-01-spotify-connected");
});

test("an expired Spotify token: the next call refreshes once and goes through", async () => {
  const before = await counters("spotify");
  await dev.emu("expire", { provider: "spotify", email: "ada.lovelace@example.com" });
  await tab.getByTestId("whoami-button-spotify").click();
  await tab.waitForSelector("[data-testid=whoami-spotify]:has-text('Spotify says')");
  const after = await counters("spotify");
  assert.equal(after.refreshGrants - before.refreshGrants, 1);
});

test("disconnect Spotify: erased here, and the page says Spotify cannot revoke", async () => {
  await tab.getByTestId("disconnect-spotify").click();
  await tab.waitForSelector("[data-testid=status-spotify][data-status=disconnected]");
  assert.match(await tab.getByTestId("message").textContent(), /offers no revocation/);
  await dev.shot(tab, "connections-02-spotify-disconnected");
});

test("Discord: connect, revoked at Discord → Reconnect needed, reconnect works, disconnect revokes", async () => {
  await consent("discord", "connect", "grace@example.com");
  assert.match(await tab.getByTestId("account-discord").textContent(), /Connected as grace/);
  // The user removes the app in Discord's settings: the grant is dead.
  await dev.emu("revoke", { provider: "discord", email: "grace@example.com" });
  await dev.emu("expire", { provider: "discord", email: "grace@example.com" });
  await tab.getByTestId("whoami-button-discord").click();
  await tab.waitForSelector("[data-testid=status-discord][data-status=needs_reauth]");
  await dev.shot(tab, "connections-03-discord-reconnect-needed");
  await consent("discord", "reconnect", "grace@example.com");
  await tab.getByTestId("whoami-button-discord").click();
  await tab.waitForSelector("[data-testid=whoami-discord]:has-text('Discord says')");
  const before = await counters("discord");
  await tab.getByTestId("disconnect-discord").click();
  await tab.waitForSelector("[data-testid=status-discord][data-status=disconnected]");
  assert.match(await tab.getByTestId("message").textContent(), /access was revoked at the provider/);
  assert.equal((await counters("discord")).revocations - before.revocations, 1);
  await dev.shot(tab, "connections-04-discord-disconnected");
});

test("declining at the consent page comes back with a plain sentence", async () => {
  await tab.getByTestId("connect-github").click();
  await tab.waitForSelector("#deny");
  await tab.click("#deny");
  await tab.waitForSelector("[data-testid=status-github][data-status=disconnected]");
  assert.match(await tab.getByTestId("message").textContent(), /GitHub: Access was not granted/);
  const body = await tab.textContent("body");
  assert.doesNotMatch(body, /"code"|\{"error"/, "no raw JSON on the page");
});

test("a GitHub grant that ends in 2 days: the page says to reconnect before it", async () => {
  // GitHub answers refresh_token_expires_in; 2 days is inside the 3-day notice.
  await dev.emu("config", { provider: "github", refreshTokenLifetimeSeconds: 2 * 86_400 });
  try {
    const t0 = Date.now();
    await consent("github", "connect", "grace.hopper@example.com");
    const warning = tab.getByTestId("warning-github");
    await warning.waitFor();
    assert.match(await warning.textContent(), /^Reconnect before .+ to keep GitHub access\.$/);
    const before = Number(await warning.getAttribute("data-reconnect-before"));
    assert.ok(
      Math.abs(before - (t0 + 2 * 86_400_000)) < 60_000,
      `reconnect before ${new Date(before).toISOString()}`,
    );
    await dev.shot(tab, "connections-github-reconnect-before");
    await tab.getByTestId("disconnect-github").click();
    await tab.waitForSelector("[data-testid=status-github][data-status=disconnected]");
    assert.equal(await tab.getByTestId("warning-github").count(), 0);
  } finally {
    await dev.emu("config", { provider: "github", refreshTokenLifetimeSeconds: 15_897_600 });
  }
});

test("connect Google from the panel: the Calendar panel sees the same connection", async () => {
  await consent("google", "connect", "dev@example.com");
  assert.match(await tab.getByTestId("account-google").textContent(), /Connected as dev@example\.com/);
  await tab.reload();
  await tab.waitForSelector("body[data-ready=true]");
  await tab.waitForSelector("[data-testid=status][data-status=connected]");
  await tab.getByTestId("whoami-button-google").click();
  await tab.waitForSelector("[data-testid=whoami-google]:has-text('Google says')");
  await dev.shot(tab, "connections-05-google-connected");
});
