// Webhook configuration and signing: WEBHOOK_ENDPOINTS, WEBHOOK_RETRY_SECONDS
// and WEBHOOK_TIMEOUT_MS read and refused without echoing secrets, and
// signatures the standardwebhooks library itself verifies.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Webhook } from "npm:standardwebhooks@1.1";
import { AppError } from "../../supabase/functions/_shared/errors.ts";
import { DEFAULT_RETRY_SECONDS } from "../../supabase/functions/_shared/ops/webhook_config.ts";
import { signWebhook } from "../../supabase/functions/_shared/ops/webhooks.ts";
import { config, endpointsVar, newSecret } from "./webhook_helpers.ts";

Deno.test("webhooks: configuration", async () => {
  const refuses = (vars: Record<string, string>, pattern: RegExp, secrets: string[] = []) =>
    assert.throws(() => config(vars), (e: unknown) => {
      assert.ok(e instanceof AppError);
      assert.equal(e.code, "CONFIG");
      assert.match(e.message, pattern);
      for (const s of secrets) {
        assert.ok(!e.message.includes(s), "the message does not echo the secret");
        assert.ok(!e.message.includes(s.slice(6, 20)), "nor a part of it");
      }
      return true;
    });

  const none = config({});
  assert.deepEqual(none, {
    endpoints: [],
    retrySeconds: [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400],
    timeoutMs: 10000,
  });
  assert.deepEqual(DEFAULT_RETRY_SECONDS, none.retrySeconds);
  // Standard Webhooks: "a retry schedule spanning multiple days" (its example
  // ends 75 h 35 min after the first attempt); a receiver down from Friday
  // evening to Monday morning still gets its messages.
  assert.equal(DEFAULT_RETRY_SECONDS.reduce((a, b) => a + b), 272_105);

  const a = newSecret();
  const b = newSecret(24);
  const old = newSecret(64);
  const cfg = config({
    WEBHOOK_ENDPOINTS: endpointsVar([
      { url: "https://hooks.example.com/oauth", secret: a },
      {
        url: " http://127.0.0.1:9/x ",
        secret: [b, old],
        types: ["connection.needs_reauth", "connection.recovered"],
      },
    ]),
    WEBHOOK_RETRY_SECONDS: " 1, 2.5 ,0,60",
    WEBHOOK_TIMEOUT_MS: "2500",
  });
  assert.equal(cfg.endpoints.length, 2);
  const [e0, e1] = cfg.endpoints;
  assert.equal(e0.url, "https://hooks.example.com/oauth");
  assert.equal(
    e0.id,
    createHash("sha256").update("https://hooks.example.com/oauth").digest("hex").slice(0, 16),
  );
  assert.match(e0.id, /^[0-9a-f]{16}$/);
  assert.equal(e0.types, null);
  assert.deepEqual(e0.secrets, [a]);
  assert.equal(e1.url, "http://127.0.0.1:9/x");
  assert.deepEqual(e1.types, ["connection.needs_reauth", "connection.recovered"]);
  assert.deepEqual(e1.secrets, [b, old]);
  assert.deepEqual(cfg.retrySeconds, [1, 2.5, 0, 60]);
  assert.equal(cfg.timeoutMs, 2500);
  // The id is the URL's: the same configuration read again gives the same ids.
  assert.equal(
    config({ WEBHOOK_ENDPOINTS: endpointsVar([{ url: "https://hooks.example.com/oauth", secret: b }]) })
      .endpoints[0].id,
    e0.id,
  );
  // Serialising or printing the configuration does not show the secrets.
  for (const shown of [JSON.stringify(cfg), Deno.inspect(cfg, { depth: 10 })]) {
    for (const s of [a, b, old]) assert.ok(!shown.includes(s.slice(6)), "secrets stay out of logs");
  }

  const good = { url: "https://h.example.com/", secret: a };
  const bad = newSecret(16);
  refuses(
    { WEBHOOK_ENDPOINTS: `[{"url": "https://x", "secret": "${a}"` },
    /^WEBHOOK_ENDPOINTS is not valid JSON/,
    [a],
  );
  refuses({ WEBHOOK_ENDPOINTS: JSON.stringify(good) }, /^WEBHOOK_ENDPOINTS must be a list/, [a]);
  refuses(
    { WEBHOOK_ENDPOINTS: endpointsVar([good, { url: "https://b.example.com", secret: bad }]) },
    /^WEBHOOK_ENDPOINTS\[1\]\.secret must be whsec_ followed by the base64 of at least 24/,
    [bad],
  );
  refuses(
    { WEBHOOK_ENDPOINTS: endpointsVar([{ url: "https://b.example.com", secret: a.slice(6) }]) },
    /^WEBHOOK_ENDPOINTS\[0\]\.secret must be whsec_/,
    [a],
  );
  refuses(
    { WEBHOOK_ENDPOINTS: endpointsVar([{ url: "https://b.example.com", secret: a + "!" }]) },
    /^WEBHOOK_ENDPOINTS\[0\]\.secret must be whsec_/,
    [a],
  );
  refuses(
    { WEBHOOK_ENDPOINTS: endpointsVar([{ url: "https://b.example.com", secret: [a, bad] }]) },
    /^WEBHOOK_ENDPOINTS\[0\]\.secret\[1\] must be whsec_/,
    [a, bad],
  );
  refuses(
    { WEBHOOK_ENDPOINTS: endpointsVar([{ url: "ftp://b.example.com", secret: a }]) },
    /^WEBHOOK_ENDPOINTS\[0\]\.url must be an http\(s\) URL/,
    [a],
  );
  refuses(
    { WEBHOOK_ENDPOINTS: endpointsVar([good, { url: "not a url", secret: a }]) },
    /^WEBHOOK_ENDPOINTS\[1\]\.url must be an http\(s\) URL/,
    [a],
  );
  refuses(
    { WEBHOOK_ENDPOINTS: endpointsVar([good, { ...good }]) },
    /^WEBHOOK_ENDPOINTS\[1\]\.url is the URL of an earlier entry/,
    [a],
  );
  refuses(
    {
      WEBHOOK_ENDPOINTS: endpointsVar([{
        ...good,
        types: ["connection.needs_reauth", "connection.created"],
      }]),
    },
    /^WEBHOOK_ENDPOINTS\[0\]\.types\[1\] is not one of connection\.connected, /,
    [a],
  );
  refuses(
    { WEBHOOK_ENDPOINTS: endpointsVar([{ ...good, types: [] }]) },
    /^WEBHOOK_ENDPOINTS\[0\]\.types must be a non-empty list/,
    [a],
  );
  refuses(
    { WEBHOOK_ENDPOINTS: JSON.stringify([{ ...good, type: ["connection.connected"] }]) },
    /^WEBHOOK_ENDPOINTS\[0\] has a key other than url, secret and types/,
    [a],
  );
  refuses({ WEBHOOK_ENDPOINTS: JSON.stringify([a]) }, /^WEBHOOK_ENDPOINTS\[0\] must be an object/, [a]);
  refuses({ WEBHOOK_RETRY_SECONDS: "5,,10" }, /^WEBHOOK_RETRY_SECONDS entry 2 must be a number of seconds/);
  refuses({ WEBHOOK_RETRY_SECONDS: "5,-1" }, /^WEBHOOK_RETRY_SECONDS entry 2 must be/);
  refuses({ WEBHOOK_RETRY_SECONDS: "5m" }, /^WEBHOOK_RETRY_SECONDS entry 1 must be/);
  refuses({ WEBHOOK_TIMEOUT_MS: "0" }, /^WEBHOOK_TIMEOUT_MS must be an integer/);
  refuses({ WEBHOOK_TIMEOUT_MS: "1.5" }, /^WEBHOOK_TIMEOUT_MS must be an integer/);

  // signWebhook agrees with the library's signer.
  const body = '{"type":"connection.connected","data":{"x":"ü"}}';
  assert.equal(
    await signWebhook(a, "msg_1", 1_700_000_000, body),
    new Webhook(a).sign("msg_1", new Date(1_700_000_000_000), body),
  );
});
