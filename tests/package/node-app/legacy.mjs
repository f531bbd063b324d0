// The legacy import as an app runs it against the installed package: values
// sealed the legacy way (node:crypto AES-256-GCM, 16-byte IV, no associated
// data) are resealed by `oauth-token-manager/legacy`, bound to their row, and
// read back by the main entry's TokenManager, which refuses one moved to
// another row. Prints one JSON line for the test.
import { Buffer } from "node:buffer";
import { createCipheriv, randomBytes } from "node:crypto";
import initLegacy, { LegacyImporter } from "oauth-token-manager/legacy";
import init, * as main from "oauth-token-manager";
import { MemoryStore } from "oauth-token-manager/stores/memory";

const legacyKey = randomBytes(32);
const encryptionKeys = [{ id: "k1", key: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" }];

function legacySeal(text) {
  const iv = randomBytes(16);
  const c = createCipheriv("aes-256-gcm", legacyKey, iv);
  const data = Buffer.concat([c.update(text, "utf8"), c.final()]);
  return `${iv.toString("hex")}:${c.getAuthTag().toString("hex")}:${data.toString("hex")}`;
}

await initLegacy();
await init();
const importer = new LegacyImporter({ legacyKeys: [legacyKey.toString("hex")], encryptionKeys });
const store = new MemoryStore();
const row = (userId, accessTokenSealed) =>
  store.saveTokens({
    userId,
    provider: "google",
    accessTokenSealed,
    refreshTokenSealed: importer.reseal(legacySeal("legacy-refresh"), userId, "google", "refresh_token"),
    expiresAt: Date.now() + 3_600_000,
    refreshTokenExpiresAt: null,
    scope: null,
    refreshedAt: null,
  });
const legacy = legacySeal("legacy-access");
const sealed = importer.reseal(legacy, "user-1", "google", "access_token");
row("user-1", sealed);
row("user-2", sealed);

const manager = new main.TokenManager(
  { providers: { google: { clientId: "app", clientSecret: "secret" } }, encryptionKeys },
  store,
);
const token = await manager.getValidToken("user-1", "google");
let moved;
try {
  await manager.getValidToken("user-2", "google");
} catch (e) {
  moved = e;
}
console.log(JSON.stringify({
  isLegacy: LegacyImporter.isLegacy(legacy),
  boundFormat: sealed.startsWith("v1.k1."),
  accessToken: token.accessToken,
  refreshed: token.refreshed,
  moved: { isTokenManagerError: moved instanceof main.TokenManagerError, code: moved?.code },
  mainEntryHasImporter: "LegacyImporter" in main,
}));
