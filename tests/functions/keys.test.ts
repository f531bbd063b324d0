// Supabase's secret API keys without a server: the constant-time comparison,
// matching a presented key against the named set, and reading
// SUPABASE_SECRET_KEYS / SUPABASE_SECRET_KEY (and SUPABASE_JWKS's two shapes).
import assert from "node:assert/strict";
import { readConfig } from "../../supabase/functions/_shared/env.ts";
import { AppError } from "../../supabase/functions/_shared/errors.ts";
import { bytesEqual, constantTimeEqual, SecretKeys } from "../../supabase/functions/_shared/keys.ts";

const KEY = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz";

Deno.test("constantTimeEqual: equal, unequal, different lengths", async () => {
  assert.equal(await constantTimeEqual(KEY, KEY), true);
  assert.equal(await constantTimeEqual(KEY, `${KEY}`.slice(0)), true, "equal content, another string");
  assert.equal(await constantTimeEqual("", ""), true);
  // Same length, differing first, in the middle, last.
  assert.equal(await constantTimeEqual(KEY, `X${KEY.slice(1)}`), false);
  assert.equal(await constantTimeEqual(KEY, `${KEY.slice(0, 20)}X${KEY.slice(21)}`), false);
  assert.equal(await constantTimeEqual(KEY, `${KEY.slice(0, -1)}X`), false);
  // Different lengths: a prefix, an extension, empty.
  assert.equal(await constantTimeEqual(KEY, KEY.slice(0, -1)), false);
  assert.equal(await constantTimeEqual(KEY, `${KEY}0`), false);
  assert.equal(await constantTimeEqual(KEY, ""), false);
  assert.equal(await constantTimeEqual("", KEY), false);
  // Not bytes of one another's encodings: case and Unicode matter.
  assert.equal(await constantTimeEqual(KEY, KEY.toUpperCase()), false);
  assert.equal(await constantTimeEqual("é", "e\u0301"), false);
});

Deno.test("bytesEqual reads every byte and treats different lengths as unequal", () => {
  const a = new Uint8Array([1, 2, 3, 4]);
  assert.equal(bytesEqual(a, new Uint8Array([1, 2, 3, 4])), true);
  assert.equal(bytesEqual(a, new Uint8Array([0, 2, 3, 4])), false);
  assert.equal(bytesEqual(a, new Uint8Array([1, 2, 3, 5])), false);
  assert.equal(bytesEqual(a, new Uint8Array([1, 2, 3])), false, "a prefix");
  assert.equal(bytesEqual(new Uint8Array([1, 2, 3]), a), false, "an extension");
  assert.equal(bytesEqual(new Uint8Array(), new Uint8Array()), true);
  // A byte equal to the length difference cannot cancel it out.
  assert.equal(bytesEqual(new Uint8Array([1]), new Uint8Array([0, 0])), false);
});

Deno.test("SecretKeys.match: the matching key's name, whichever position; null otherwise", async () => {
  const keys = new SecretKeys([
    { name: "default", value: KEY },
    { name: "cron", value: "sb_secret_cron0000000000000000000000000" },
  ]);
  assert.equal(keys.size, 2);
  assert.equal(await keys.match(KEY), "default");
  assert.equal(await keys.match("sb_secret_cron0000000000000000000000000"), "cron");
  assert.equal(await keys.match("sb_secret_cron000000000000000000000000"), null);
  assert.equal(await keys.match("sb_publishable_abc"), null);
  assert.equal(await keys.match(""), null);
  assert.equal(await new SecretKeys([]).match(KEY), null);
});

const BASE: Record<string, string> = {
  TOKEN_ENCRYPTION_KEYS: "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
  JWT_SECRET: "secret",
  GOOGLE_CLIENT_ID: "g-id",
  GOOGLE_CLIENT_SECRET: "g-secret",
};
const read = (vars: Record<string, string>) => readConfig((n) => ({ ...BASE, ...vars })[n]);

function refuses(vars: Record<string, string>, pattern: RegExp) {
  assert.throws(() => read(vars), (e: unknown) => {
    assert.ok(e instanceof AppError);
    assert.equal(e.code, "CONFIG");
    assert.match(e.message, pattern);
    for (const v of Object.values(vars)) {
      // The message names the variable and the key's name, never a value.
      for (const secret of v.match(/sb_\w+/g) ?? []) assert.doesNotMatch(e.message, new RegExp(secret));
    }
    return true;
  });
}

Deno.test("env: SUPABASE_SECRET_KEYS (named, as Supabase passes it) and SUPABASE_SECRET_KEY", () => {
  assert.deepEqual(read({}).secretKeys, []);
  assert.deepEqual(
    read({ SUPABASE_SECRET_KEYS: JSON.stringify({ default: KEY, cron: "sb_secret_c" }) }).secretKeys,
    [{ name: "default", value: KEY }, { name: "cron", value: "sb_secret_c" }],
  );
  assert.deepEqual(read({ SUPABASE_SECRET_KEY: KEY }).secretKeys, [{ name: "default", value: KEY }]);
  // The dictionary wins over the single key.
  assert.deepEqual(
    read({ SUPABASE_SECRET_KEYS: JSON.stringify({ ops: KEY }), SUPABASE_SECRET_KEY: "sb_secret_x" })
      .secretKeys,
    [{ name: "ops", value: KEY }],
  );
  refuses({ SUPABASE_SECRET_KEYS: "sb_secret_abc" }, /^SUPABASE_SECRET_KEYS is not valid JSON/);
  refuses({ SUPABASE_SECRET_KEYS: JSON.stringify([KEY]) }, /^SUPABASE_SECRET_KEYS must be a JSON dictionary/);
  refuses(
    { SUPABASE_SECRET_KEYS: JSON.stringify({ web: "sb_publishable_abc" }) },
    /^SUPABASE_SECRET_KEYS\["web"\] is not a secret key/,
  );
  refuses({ SUPABASE_SECRET_KEY: "sb_publishable_abc" }, /^SUPABASE_SECRET_KEY is not a secret key/);
});

Deno.test("env: SUPABASE_JWKS as a key set or a bare array of keys", () => {
  const key = { kty: "EC", crv: "P-256", x: "x", y: "y", kid: "k" };
  assert.deepEqual(read({ SUPABASE_JWKS: JSON.stringify({ keys: [key] }) }).jwks, { keys: [key] });
  assert.deepEqual(read({ SUPABASE_JWKS: JSON.stringify([key]) }).jwks, { keys: [key] });
  refuses({ SUPABASE_JWKS: JSON.stringify({ key }) }, /^SUPABASE_JWKS must be a key set/);
});
