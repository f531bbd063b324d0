// Caller identity with Supabase's asymmetric signing keys: the JWKS (fetched
// and cached, refetched for an unknown key id at most once per cooldown, or
// inline from SUPABASE_JWKS), the `aud` and `iss` claims, and the subject. A
// key set that cannot be reached is 503 AUTH_UNAVAILABLE (retryable), never a
// 401 that would sign the user out.
import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, SignJWT } from "npm:jose@6.2.17";
import { type CallResult, extraServer, freePort, startStack, USER } from "./harness.ts";

function assertCode(r: CallResult, status: number, code: string, what: string) {
  assert.equal(r.status, status, `${what}: ${JSON.stringify(r.json)}`);
  assert.equal(r.json.code, code, what);
}

Deno.test({
  name: "caller identity: JWKS cache and outages, SUPABASE_JWKS, aud, iss and subject",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const { publicKey, privateKey } = await generateKeyPair("ES256");
    const other = await generateKeyPair("ES256");
    const rotated = await generateKeyPair("ES256");
    const jwk = { ...(await exportJWK(publicKey)), kid: "k-2026", alg: "ES256", use: "sig" };
    const rotatedJwk = { ...(await exportJWK(rotated.publicKey)), kid: "k-2027", alg: "ES256", use: "sig" };
    // The project's JWKS endpoint: its keys, a fetch counter and an outage switch.
    const published = { keys: [jwk] as Record<string, unknown>[], fetches: 0, down: false };
    const jwks = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
      published.fetches++;
      if (published.down) return new Response("upstream unavailable", { status: 502 });
      return Response.json({ keys: published.keys });
    });
    const base = `http://127.0.0.1:${jwks.addr.port}`;
    const sign = (
      key: CryptoKey,
      o: {
        kid?: string;
        sub?: string;
        aud?: string | null;
        iss?: string;
        role?: string | null;
        claims?: Record<string, unknown>;
      } = {},
    ) => {
      const role = o.role === null ? {} : { role: o.role ?? "authenticated" };
      const b = new SignJWT({ ...role, ...o.claims })
        .setProtectedHeader({ alg: "ES256", kid: o.kid ?? "k-2026" })
        .setSubject(o.sub ?? USER)
        .setIssuedAt()
        .setExpirationTime("10m");
      if (o.aud !== null) b.setAudience(o.aud ?? "authenticated");
      if (o.iss) b.setIssuer(o.iss);
      return b.sign(key);
    };
    const s = await startStack({
      env: { JWT_SECRET: "", JWKS_URL: `${base}/auth/v1/.well-known/jwks.json` },
    });
    try {
      const [eager, unreachable, stale, inline, project, oauthApps, inlineStale] = await Promise.all([
        extraServer(s, { JWKS_COOLDOWN_MS: "0" }),
        extraServer(s, { JWKS_URL: `http://127.0.0.1:${freePort()}/auth/v1/.well-known/jwks.json` }),
        extraServer(s, { JWKS_COOLDOWN_MS: "0", JWKS_CACHE_MAX_AGE_MS: "0" }),
        extraServer(s, { JWKS_URL: "", SUPABASE_JWKS: JSON.stringify({ keys: [jwk] }) }),
        extraServer(s, { JWKS_URL: "", SUPABASE_URL: base }),
        extraServer(s, { OAUTH_CLIENT_IDS: "first-party-app" }),
        // An inline set and the published one beside it (JWKS_URL, or SUPABASE_URL's).
        extraServer(s, { SUPABASE_JWKS: JSON.stringify({ keys: [jwk] }), JWKS_COOLDOWN_MS: "0" }),
      ]);
      const status = (token: string, server = 0) =>
        s.call("get-token-status", { method: "GET", token, server });

      await t.step("a token signed by the published key passes; another key or HS256 is 401", async () => {
        const ok = await status(await sign(privateKey));
        assert.equal(ok.status, 200, JSON.stringify(ok.json));
        assert.equal(ok.json.status, "disconnected");
        assertCode(await status(await sign(other.privateKey)), 401, "UNAUTHORIZED", "forged");
        const hs = await s.call("get-token-status", { method: "GET" }); // the harness signs HS256
        assertCode(hs, 401, "UNAUTHORIZED", "HS256 without a secret");
      });

      await t.step("the key set is cached; unknown key ids refetch it at most once a minute", async () => {
        const before = published.fetches;
        for (let i = 0; i < 5; i++) {
          assertCode(
            await status(await sign(other.privateKey, { kid: `k-unknown-${i}` })),
            401,
            "UNAUTHORIZED",
            "kid",
          );
          assert.equal((await status(await sign(privateKey))).status, 200);
        }
        assert.equal(published.fetches, before, "no fetch within the minute after the last one");
      });

      await t.step("after the cooldown an unknown key id refetches the set: rotated keys work", async () => {
        assert.equal((await status(await sign(privateKey), eager)).status, 200);
        const before = published.fetches;
        published.keys = [jwk, rotatedJwk];
        const r = await status(await sign(rotated.privateKey, { kid: "k-2027" }), eager);
        assert.equal(r.status, 200, JSON.stringify(r.json));
        assert.equal(published.fetches, before + 1, "one refetch");
        assert.equal((await status(await sign(rotated.privateKey, { kid: "k-2027" }), eager)).status, 200);
        assert.equal(published.fetches, before + 1, "then cached");
      });

      await t.step("an unreachable key set is 503 AUTH_UNAVAILABLE, retryable, never 401", async () => {
        const r = await status(await sign(privateKey), unreachable);
        assertCode(r, 503, "AUTH_UNAVAILABLE", "nothing listening");
        assert.equal(r.json.retryable, true);
        assert.equal(r.json.requiresReauth, false);
        assert.doesNotMatch(JSON.stringify(r.json), /127\.0\.0\.1|jwks\.json|refused/i);
        // A key set that answers 502, for a server that has no keys yet.
        published.down = true;
        try {
          const fresh = await extraServer(s, {});
          const before = published.fetches;
          assertCode(await status(await sign(privateKey), fresh), 503, "AUTH_UNAVAILABLE", "502 answer");
          // Without any key set yet, a stream of tokens does not become a stream of fetches.
          for (let i = 0; i < 3; i++) {
            assertCode(await status(await sign(privateKey), fresh), 503, "AUTH_UNAVAILABLE", "again");
          }
          assert.equal(published.fetches, before + 1, "one fetch, then a pause");
          // A server that has the keys keeps verifying known ones through the outage...
          assert.equal((await status(await sign(privateKey), eager)).status, 200);
          // ...but cannot tell about a key id it has not seen: unavailable, not forged.
          const unknown = await status(await sign(other.privateKey, { kid: "k-2028" }), eager);
          assertCode(unknown, 503, "AUTH_UNAVAILABLE", "unknown kid during the outage");
        } finally {
          published.down = false;
        }
      });

      await t.step("a stale key set whose refetch fails keeps serving its keys", async () => {
        assert.equal((await status(await sign(privateKey), stale)).status, 200);
        published.down = true;
        try {
          const before = published.fetches;
          const r = await status(await sign(privateKey), stale);
          assert.equal(r.status, 200, JSON.stringify(r.json));
          assert.equal(published.fetches, before + 1, "it did try to refresh the stale set");
        } finally {
          published.down = false;
        }
      });

      await t.step("SUPABASE_JWKS: the inline key set verifies without any fetch", async () => {
        const before = published.fetches;
        assert.equal((await status(await sign(privateKey), inline)).status, 200);
        assertCode(await status(await sign(other.privateKey), inline), 401, "UNAUTHORIZED", "inline forged");
        assert.equal(published.fetches, before);
      });

      await t.step(
        "SUPABASE_JWKS without a key the project signs with since: the published set has it",
        async () => {
          published.keys = [jwk, rotatedJwk];
          const before = published.fetches;
          assert.equal((await status(await sign(privateKey), inlineStale)).status, 200);
          assert.equal(published.fetches, before, "a key the inline set has: no fetch");
          const r = await status(await sign(rotated.privateKey, { kid: "k-2027" }), inlineStale);
          assert.equal(r.status, 200, JSON.stringify(r.json));
          assert.equal(published.fetches, before + 1, "one fetch for the key id the inline set lacks");
          // A forged token naming a key the inline set has is refused without a fetch.
          assertCode(await status(await sign(other.privateKey), inlineStale), 401, "UNAUTHORIZED", "forged");
          // One naming no key either set has: refused, after one more look at most.
          const forged = await status(await sign(other.privateKey, { kid: "k-9999" }), inlineStale);
          assertCode(forged, 401, "UNAUTHORIZED", "unknown kid");
          assert.ok(published.fetches <= before + 2);
        },
      );

      await t.step(
        "aud must be authenticated; iss must be <SUPABASE_URL>/auth/v1 when it is known",
        async () => {
          assertCode(await status(await sign(privateKey, { aud: "anon" })), 401, "UNAUTHORIZED", "aud anon");
          assertCode(await status(await sign(privateKey, { aud: null })), 401, "UNAUTHORIZED", "no aud");
          const iss = `${base}/auth/v1`;
          const ok = await status(await sign(privateKey, { iss }), project);
          assert.equal(ok.status, 200, JSON.stringify(ok.json));
          for (const bad of [undefined, "https://other.supabase.co/auth/v1", `${base}/auth/v1/`]) {
            const r = await status(await sign(privateKey, { iss: bad }), project);
            assertCode(r, 401, "UNAUTHORIZED", `iss ${bad}`);
          }
        },
      );

      await t.step(
        "only a signed-in user's session: role authenticated, no OAuth 2.1 client's token unless allowed",
        async () => {
          for (const role of ["anon", "service_role", null]) {
            const r = await status(await sign(privateKey, { role }));
            assertCode(r, 401, "UNAUTHORIZED", `role ${role}`);
          }
          // Supabase's OAuth 2.1 server issues tokens with the same aud and role, plus the app's client_id.
          const app = (client_id: string) => sign(privateKey, { claims: { client_id } });
          for (const fn of ["get-token-status", "refresh-google-token"]) {
            const r = await s.call(fn, { token: await app("mcp-agent"), body: {} });
            assertCode(r, 401, "UNAUTHORIZED", `${fn} with a third-party app's token`);
            assert.match(String(r.json.error), /OAuth client/);
            assert.doesNotMatch(JSON.stringify(r.json), /mcp-agent/);
          }
          assert.equal((await status(await app("first-party-app"), oauthApps)).status, 200, "allowed");
          assertCode(await status(await app("mcp-agent"), oauthApps), 401, "UNAUTHORIZED", "not listed");
        },
      );

      await t.step(
        "a subject that is not a user id is 401 UNAUTHORIZED, without database words",
        async () => {
          for (const sub of ["not-a-uuid", "1' or '1'='1", "00000000-0000-0000-0000-00000000000g"]) {
            for (const fn of ["get-token-status", "refresh-google-token", "create-google-meet"]) {
              const r = await s.call(fn, { token: await sign(privateKey, { sub }), body: {} });
              assertCode(r, 401, "UNAUTHORIZED", `${fn} sub ${sub}`);
              assert.equal(r.json.retryable, false);
              assert.doesNotMatch(JSON.stringify(r.json), /uuid|syntax|invalid input|22P02/i);
            }
          }
        },
      );
    } finally {
      await s.stop();
      await jwks.shutdown();
    }
  },
});

Deno.test("caller identity under `supabase start`: HS256 sessions verified with SUPABASE_JWKS's oct key, behind kong", async () => {
  const { JwtVerifier } = await import("../../supabase/functions/_shared/auth.ts");
  const { readConfig } = await import("../../supabase/functions/_shared/env.ts");
  const { TOKEN_ENCRYPTION_KEYS } = { TOKEN_ENCRYPTION_KEYS: `k1:${btoa("0".repeat(32))}` };
  // What the CLI gives its functions: SUPABASE_URL is its gateway inside
  // Docker, the legacy HS256 secret only as an oct key of SUPABASE_JWKS,
  // next to an asymmetric key; sessions name the address the browser uses.
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const b64url = (b: Uint8Array) =>
    btoa(String.fromCharCode(...b)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const k = b64url(secret);
  const ec = await generateKeyPair("ES256");
  const env: Record<string, string> = {
    SUPABASE_URL: "http://kong:8000",
    SUPABASE_JWKS: JSON.stringify({
      keys: [{ kty: "oct", k, alg: "HS256" }, {
        ...(await exportJWK(ec.publicKey)),
        kid: "ec-1",
        alg: "ES256",
      }],
    }),
    TOKEN_ENCRYPTION_KEYS,
    GOOGLE_CLIENT_ID: "id",
    GOOGLE_CLIENT_SECRET: "secret",
  };
  const verifier = new JwtVerifier(readConfig((n) => env[n]));
  /** A session; ES256 ones name the key set's kid, an HS256 one the `kid` given, if any. */
  const session = (key: CryptoKey | Uint8Array, alg: string, kid?: string) =>
    new SignJWT({ role: "authenticated" })
      .setProtectedHeader({ alg, typ: "JWT", ...(alg === "ES256" ? { kid: "ec-1" } : kid ? { kid } : {}) })
      .setSubject(USER)
      .setAudience("authenticated")
      .setIssuer("http://127.0.0.1:54321/auth/v1")
      .setIssuedAt()
      .setExpirationTime("1h")
      .sign(key);
  const req = (token: string) =>
    new Request("http://kong:8000/functions/v1/x", { headers: { authorization: `Bearer ${token}` } });
  assert.equal((await verifier.verify(req(await session(secret, "HS256")))).userId, USER);
  assert.equal((await verifier.verify(req(await session(ec.privateKey, "ES256")))).userId, USER);
  // Another secret's signature is refused, as before.
  const wrong = crypto.getRandomValues(new Uint8Array(32));
  await assert.rejects(verifier.verify(req(await session(wrong, "HS256"))), /invalid access token/);
  // On a hosted project the issuer is still checked.
  const hosted = new JwtVerifier(readConfig((n) => ({ ...env, SUPABASE_URL: "https://ref.supabase.co" })[n]));
  await assert.rejects(hosted.verify(req(await session(secret, "HS256"))), /not issued by this project/);

  // A key set with two shared secrets: the one a token names by kid, else each
  // in turn (not only the first).
  const second = crypto.getRandomValues(new Uint8Array(32));
  const two = new JwtVerifier(readConfig((n) =>
    ({
      ...env,
      SUPABASE_JWKS: JSON.stringify({
        keys: [{ kty: "oct", k, alg: "HS256", kid: "legacy" }, {
          kty: "oct",
          k: b64url(second),
          alg: "HS256",
          kid: "shared-2",
        }],
      }),
    })[n]
  ));
  assert.equal((await two.verify(req(await session(second, "HS256", "shared-2")))).userId, USER);
  assert.equal(
    (await two.verify(req(await session(second, "HS256")))).userId,
    USER,
    "no kid: each secret in turn",
  );
  assert.equal((await two.verify(req(await session(secret, "HS256")))).userId, USER);
  await assert.rejects(
    two.verify(req(await session(secret, "HS256", "shared-2"))),
    /invalid access token/,
    "the named one only",
  );
  await assert.rejects(two.verify(req(await session(wrong, "HS256"))), /invalid access token/);
});
