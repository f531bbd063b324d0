// Service callers with Supabase's new API keys, over HTTP: the background
// refresher runs for an `sb_secret_…` key in `apikey` (any of
// SUPABASE_SECRET_KEYS, as Supabase Cron sends it) and for the legacy
// service-role JWT; a wrong secret key, a publishable key, a user JWT, an API
// key sent as a Bearer token and no credential at all are 401. Keys never
// reach a log line or a body.
import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, SignJWT } from "npm:jose@6.2.17";
import { type CallResult, counters, extraServer, JWT_SECRET, startStack, USER } from "./harness.ts";

const DEFAULT_KEY = "sb_secret_dEfAuLt0123456789abcdefghijklmn";
const CRON_KEY = "sb_secret_cRoN0123456789abcdefghijklmnopq";
const WRONG_KEY = "sb_secret_wRoNg0123456789abcdefghijklmnop";
const PUBLISHABLE = "sb_publishable_pUbLiC0123456789abcdefghij";

function assert401(r: CallResult, what: string, message?: RegExp) {
  assert.equal(r.status, 401, `${what}: ${JSON.stringify(r.json)}`);
  assert.equal(r.json.code, "UNAUTHORIZED", what);
  assert.equal(typeof r.json.requestId, "string", what);
  if (message) assert.match(String(r.json.error), message, what);
}

Deno.test({
  name:
    "service callers: sb_secret_ keys in apikey, the legacy service role key, and everything else refused",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const s = await startStack({
      env: {
        SUPABASE_SECRET_KEYS: JSON.stringify({ default: DEFAULT_KEY, cron: CRON_KEY }),
        SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: PUBLISHABLE }),
      },
    });
    try {
      await s.connect(USER);
      const due = () =>
        s.pg
          .sql`update oauth_connections set expires_at = now() + interval '5 minutes', token_refreshed_at = now() - interval '55 minutes'
            where user_id = ${USER}`;
      /** The refresher as Supabase Cron calls it: no browser origin, no user. */
      const refresher = (headers: Record<string, string>, token: string | null = null, server = 0) =>
        s.call("refresh-expiring-tokens", {
          token,
          origin: null,
          headers,
          body: { withinSeconds: 900 },
          server,
        });

      await t.step("any configured secret key in apikey runs the refresher", async () => {
        for (const key of [DEFAULT_KEY, CRON_KEY]) {
          await due();
          const before = await counters(s);
          const r = await refresher({ apikey: key });
          assert.equal(r.status, 200, JSON.stringify(r.json));
          assert.deepEqual([r.json.checked, r.json.refreshed, r.json.failed], [1, 1, 0]);
          assert.equal((await counters(s)).refreshGrants - before.refreshGrants, 1);
        }
        // The log names the key that was used, never its value.
        const lines = s.fns[0].logs.filter((l) => l.includes('"fn":"refresh-expiring-tokens"'));
        assert.ok(lines.some((l) => l.includes('"service":"secret:default"')), lines.join("\n"));
        assert.ok(lines.some((l) => l.includes('"service":"secret:cron"')), lines.join("\n"));
      });

      await t.step("the legacy service role JWT still runs it", async () => {
        const legacy = await new SignJWT({ role: "service_role" })
          .setProtectedHeader({ alg: "HS256", typ: "JWT" })
          .setIssuedAt()
          .setExpirationTime("10m")
          .sign(new TextEncoder().encode(JWT_SECRET));
        const r = await refresher({}, legacy);
        assert.equal(r.status, 200, JSON.stringify(r.json));
        // supabase-js and pg_net callers on legacy keys also send the anon key in apikey.
        assert.equal((await refresher({ apikey: PUBLISHABLE }, legacy)).status, 200);
      });

      await t.step(
        "without the legacy JWT secret (asymmetric signing keys), the project's own service role key still runs it",
        async () => {
          // Supabase hands every function SUPABASE_SERVICE_ROLE_KEY; a project
          // signing with asymmetric keys has no secret to verify it with.
          const key = await new SignJWT({ role: "service_role", iss: "supabase" })
            .setProtectedHeader({ alg: "HS256", typ: "JWT" })
            .setIssuedAt()
            .sign(crypto.getRandomValues(new Uint8Array(32)));
          const { publicKey } = await generateKeyPair("ES256");
          const jwks = JSON.stringify({
            keys: [{ ...(await exportJWK(publicKey)), kid: "ec-1", alg: "ES256" }],
          });
          const asymmetric = await extraServer(s, {
            JWT_SECRET: "",
            SUPABASE_JWKS: jwks,
            SUPABASE_SERVICE_ROLE_KEY: key,
          });
          const ok = await refresher({}, key, asymmetric);
          assert.equal(ok.status, 200, JSON.stringify(ok.json));
          assert401(await refresher({}, `${key}x`, asymmetric), "another token");
        },
      );

      await t.step(
        "ACCEPT_SERVICE_ROLE_KEY=false: the legacy key refused in both forms, secret keys still run it",
        async () => {
          // A project that disabled its legacy keys: its functions may keep
          // SUPABASE_SERVICE_ROLE_KEY as it was (supabase/supabase#37648).
          const key = await new SignJWT({ role: "service_role" })
            .setProtectedHeader({ alg: "HS256", typ: "JWT" })
            .setIssuedAt()
            .setExpirationTime("10m")
            .sign(new TextEncoder().encode(JWT_SECRET));
          const off = await extraServer(s, {
            SUPABASE_SERVICE_ROLE_KEY: key,
            ACCEPT_SERVICE_ROLE_KEY: "false",
          });
          const signed = await new SignJWT({ role: "service_role" })
            .setProtectedHeader({ alg: "HS256", typ: "JWT" })
            .setIssuedAt()
            .setExpirationTime("5m")
            .sign(new TextEncoder().encode(JWT_SECRET));
          assert401(await refresher({}, key, off), "the project's own key", /ACCEPT_SERVICE_ROLE_KEY=false/);
          assert401(await refresher({}, signed, off), "a service role JWT", /ACCEPT_SERVICE_ROLE_KEY=false/);
          assert.equal((await refresher({ apikey: CRON_KEY }, null, off)).status, 200);
        },
      );

      await t.step("a wrong secret key, a publishable key, a user JWT: 401", async () => {
        const before = await counters(s);
        await due();
        assert401(await refresher({ apikey: WRONG_KEY }), "wrong secret key", /not one of this project's/);
        assert401(await refresher({ apikey: `${DEFAULT_KEY}x` }), "a longer key");
        assert401(await refresher({ apikey: DEFAULT_KEY.slice(0, -1) }), "a prefix of the key");
        assert401(await refresher({ apikey: PUBLISHABLE }), "publishable key", /publishable key cannot/);
        const asUser = await s.call("refresh-expiring-tokens", { body: {} }); // the harness's user JWT
        assert401(asUser, "user JWT");
        assert401(
          await s.call("refresh-expiring-tokens", { headers: { apikey: PUBLISHABLE }, body: {} }),
          "user JWT with the publishable key, as supabase-js sends it",
        );
        assert401(await refresher({}), "no credential", /needs a secret key/);
        assert401(await refresher({}, DEFAULT_KEY), "the secret key as a Bearer token", /apikey header/);
        // A wrong secret key is not rescued by a valid-looking Bearer token.
        assert401(await refresher({ apikey: WRONG_KEY }, DEFAULT_KEY), "wrong key plus Bearer key");
        assert.equal((await counters(s)).refreshGrants, before.refreshGrants, "nothing was refreshed");
      });

      await t.step("a function without SUPABASE_SECRET_KEYS refuses every secret key", async () => {
        const bare = await extraServer(s, { SUPABASE_SECRET_KEYS: "" });
        assert401(
          await refresher({ apikey: DEFAULT_KEY }, null, bare),
          "no keys",
          /no secret keys configured/,
        );
      });

      await t.step(
        "a malformed SUPABASE_SECRET_KEYS is 500 CONFIG naming the variable, not the keys",
        async () => {
          const broken = await extraServer(s, {
            SUPABASE_SECRET_KEYS: JSON.stringify({ default: DEFAULT_KEY, web: PUBLISHABLE }),
          });
          const r = await refresher({ apikey: DEFAULT_KEY }, null, broken);
          assert.equal(r.status, 500, JSON.stringify(r.json));
          assert.equal(r.json.code, "CONFIG");
          const logs = s.fns[broken].logs.join("\n");
          assert.match(logs, /SUPABASE_SECRET_KEYS\[\\"web\\"\] is not a secret key/);
        },
      );

      await t.step("user routes ignore apikey: a secret key is not a user", async () => {
        const r = await s.call("get-token-status", {
          method: "GET",
          token: null,
          headers: { apikey: DEFAULT_KEY },
        });
        assert401(r, "secret key on a user route");
        const ok = await s.call("get-token-status", { method: "GET", headers: { apikey: PUBLISHABLE } });
        assert.equal(ok.status, 200, JSON.stringify(ok.json));
      });

      await t.step("no key in any log line or body", () => {
        for (const key of [DEFAULT_KEY, CRON_KEY, WRONG_KEY, PUBLISHABLE]) {
          for (const f of s.fns) {
            for (const line of f.logs) {
              assert.ok(!line.includes(key), `a log line holds a key: ${line.slice(0, 80)}`);
            }
          }
          for (const b of s.bodies) assert.ok(!b.text.includes(key), `${b.fn} holds a key in its body`);
        }
      });
    } finally {
      await s.stop();
    }
  },
});
