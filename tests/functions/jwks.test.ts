// JWT verification with a JWKS (Supabase's asymmetric signing keys) instead
// of the HS256 secret: a token signed by the published key passes; one signed
// by another key, or with HS256, is 401.
import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, SignJWT } from "npm:jose@6.2.17";
import { startStack, USER } from "./harness.ts";

Deno.test({
  name: "JWKS verification",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { publicKey, privateKey } = await generateKeyPair("ES256");
    const other = await generateKeyPair("ES256");
    const jwk = { ...(await exportJWK(publicKey)), kid: "k-2026", alg: "ES256", use: "sig" };
    const jwks = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      () => Response.json({ keys: [jwk] }),
    );
    const sign = (key: CryptoKey, kid = "k-2026") =>
      new SignJWT({ role: "authenticated" })
        .setProtectedHeader({ alg: "ES256", kid })
        .setSubject(USER)
        .setAudience("authenticated")
        .setIssuedAt()
        .setExpirationTime("10m")
        .sign(key);
    const s = await startStack({
      env: { JWT_SECRET: "", JWKS_URL: `http://127.0.0.1:${jwks.addr.port}/auth/v1/.well-known/jwks.json` },
    });
    try {
      const ok = await s.call("get-token-status", { method: "GET", token: await sign(privateKey) });
      assert.equal(ok.status, 200, JSON.stringify(ok.json));
      assert.equal(ok.json.status, "disconnected");
      const forged = await s.call("get-token-status", { method: "GET", token: await sign(other.privateKey) });
      assert.equal(forged.status, 401);
      assert.equal(forged.json.code, "UNAUTHORIZED");
      const hs = await s.call("get-token-status", { method: "GET" }); // the harness signs HS256
      assert.equal(hs.status, 401);
    } finally {
      await s.stop();
      await jwks.shutdown();
    }
  },
});
