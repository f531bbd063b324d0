// The package's three entries in one process, as an app that uses more than
// one sees them: before init() a clear CONFIG error, not a TypeError from
// the glue; after it, one TokenManagerError class, whichever build threw.
import assert from "node:assert/strict";
import { test } from "node:test";
import initServer, { TokenManager, TokenManagerError } from "../../pkg/index.js";
import initBrowser, { BrowserTokenClient, TokenManagerError as BrowserError } from "../../pkg/browser.js";
import initLegacy, { LegacyImporter, TokenManagerError as LegacyError } from "../../pkg/legacy.js";

const CONFIG = {
  providers: { google: { clientId: "id", clientSecret: "secret" } },
  encryptionKeys: [{ id: "k1", key: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" }],
};
const notLoaded = (e) =>
  e instanceof TokenManagerError && e.code === "CONFIG" && /await init\(\)/.test(e.message);

test("before init(): constructing a manager or a client is CONFIG, naming init()", () => {
  assert.throws(() => new TokenManager(CONFIG, {}), notLoaded);
  assert.throws(
    () =>
      new BrowserTokenClient({ functionsUrl: "https://p.invalid/functions/v1", getSessionToken: () => "" }),
    notLoaded,
  );
});

test("after init(): one TokenManagerError class, whichever build threw", async () => {
  await Promise.all([initServer(), initBrowser(), initLegacy()]);
  assert.equal(BrowserError, TokenManagerError);
  assert.equal(LegacyError, TokenManagerError);
  // The legacy build's error, caught by code that imports the main entry's class.
  assert.throws(
    () => new LegacyImporter({ legacyKeys: ["not a key"], encryptionKeys: CONFIG.encryptionKeys }),
    (e) => e instanceof TokenManagerError && e.code === "CONFIG",
  );
  assert.throws(
    () => new TokenManager({ ...CONFIG, providers: {} }, {}),
    (e) => e instanceof TokenManagerError,
  );
});
