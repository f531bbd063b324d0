// The sealed format at rest, checked against an independent AES-256-GCM: the
// runtime's Web Crypto. What the shipped pkg/ seals opens with Web Crypto under
// the documented associated data, and what Web Crypto seals that way opens in
// pkg/, so the store's values stay readable whatever AES code the module is
// built with (pkg/ builds the aes crate in its compact mode).
//
// Envelope: v1.<kid>.<nonce>.<ciphertext+tag>, base64url without padding.
// Associated data: "otm-seal-v1", then for each of user id, provider, column
// name: its UTF-8 length as 4 bytes big-endian, then its bytes.
import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";
import { test } from "node:test";
import init, { TokenManager } from "../../pkg/index.js";
import { MemoryStore } from "../js/memory-store.js";

await init();

const KEY_B64 = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const CONFIG = {
  providers: { google: { clientId: "id", clientSecret: "secret", tokenUrl: "https://oauth2.invalid/token" } },
  encryptionKeys: [{ id: "k1", key: KEY_B64 }],
};
const USER = "3f2c1d4e-5b6a-4789-8abc-def012345678";
const subtle = webcrypto.subtle;
const key = await subtle.importKey("raw", Buffer.from(KEY_B64, "base64"), "AES-GCM", false, [
  "encrypt",
  "decrypt",
]);

function aad(user, provider, column) {
  const parts = [Buffer.from("otm-seal-v1")];
  for (const s of [user, provider, column]) {
    const b = Buffer.from(s, "utf8");
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    parts.push(len, b);
  }
  return Buffer.concat(parts);
}

async function open(sealed, user, provider, column) {
  const [v, kid, nonce, ct] = sealed.split(".");
  assert.equal(v, "v1");
  assert.equal(kid, "k1");
  assert.match(nonce, /^[A-Za-z0-9_-]{16}$/); // 12 bytes, no padding
  const plain = await subtle.decrypt(
    { name: "AES-GCM", iv: Buffer.from(nonce, "base64url"), additionalData: aad(user, provider, column) },
    key,
    Buffer.from(ct, "base64url"),
  );
  return Buffer.from(plain).toString("utf8");
}

async function seal(plaintext, user, provider, column) {
  const iv = webcrypto.getRandomValues(new Uint8Array(12));
  const ct = await subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: aad(user, provider, column) },
    key,
    Buffer.from(plaintext, "utf8"),
  );
  return `v1.k1.${Buffer.from(iv).toString("base64url")}.${Buffer.from(ct).toString("base64url")}`;
}

// Tokens of several AES block lengths, a partial last block among them, and
// non-ASCII bytes.
const TOKENS = ["a", "ya29.".padEnd(16, "x"), "1//0g".padEnd(61, "r"), "tök€n-".repeat(40)];

test("what pkg/ seals opens with Web Crypto under the documented associated data", async () => {
  for (const at of TOKENS) {
    const store = new MemoryStore();
    const m = new TokenManager(CONFIG, store, {});
    const rt = `${at}-refresh`;
    await m.storeTokens(USER, "google", { accessToken: at, refreshToken: rt, expiresIn: 3600 });
    const row = store.rows.get(store.key(USER, "google"));
    assert.equal(await open(row.accessTokenSealed, USER, "google", "access_token"), at);
    assert.equal(await open(row.refreshTokenSealed, USER, "google", "refresh_token"), rt);
    // Bound to its row and column: the same bytes under another user's or
    // column's associated data fail authentication.
    await assert.rejects(open(row.accessTokenSealed, USER.replace("3f", "4f"), "google", "access_token"));
    await assert.rejects(open(row.accessTokenSealed, USER, "google", "refresh_token"));
  }
});

test("what Web Crypto seals under the documented associated data opens in pkg/", async () => {
  for (const at of TOKENS) {
    const store = new MemoryStore();
    const m = new TokenManager(CONFIG, store, {});
    await m.storeTokens(USER, "google", { accessToken: "placeholder", refreshToken: "rt", expiresIn: 3600 });
    const row = store.rows.get(store.key(USER, "google"));
    row.accessTokenSealed = await seal(at, USER, "google", "access_token");
    row.version += 1;
    const t = await m.getValidToken(USER, "google");
    assert.equal(t.accessToken, at);
  }
});

test("a Web Crypto seal bound to another row is refused by pkg/ as tampered", async () => {
  const store = new MemoryStore();
  const m = new TokenManager(CONFIG, store, {});
  await m.storeTokens(USER, "google", { accessToken: "placeholder", refreshToken: "rt", expiresIn: 3600 });
  const row = store.rows.get(store.key(USER, "google"));
  row.accessTokenSealed = await seal("at-other", USER, "google", "refresh_token");
  row.version += 1;
  await assert.rejects(m.getValidToken(USER, "google"), (e) => e.code === "CRYPTO_INTEGRITY");
});
