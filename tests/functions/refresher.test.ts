// The background refresher: connections about to expire are refreshed, fresh
// ones and dead grants are left alone, and only the service role may run it.
import assert from "node:assert/strict";
import { SignJWT } from "npm:jose@6.2.17";
import { counters, JWT_SECRET, OTHER, startStack, USER } from "./harness.ts";

const serviceKey = () =>
  new SignJWT({ role: "service_role" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(new TextEncoder().encode(JWT_SECRET));

Deno.test({
  name: "background refresher",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const s = await startStack();
    try {
      const THIRD = "33333333-3333-4333-8333-333333333333";
      for (const u of [USER, OTHER, THIRD]) await s.connect(u);
      // USER expires in 5 minutes, OTHER in 2 hours, THIRD's grant is dead.
      await s.pg
        .sql`update oauth_connections set expires_at = now() + interval '5 minutes' where user_id = ${USER}`;
      await s.pg
        .sql`update oauth_connections set expires_at = now() + interval '2 hours' where user_id = ${OTHER}`;
      await s.pg
        .sql`update oauth_connections set status = 'needs_reauth', expires_at = now() where user_id = ${THIRD}`;

      const asUser = await s.call("refresh-expiring-tokens", { body: {} });
      assert.equal(asUser.status, 401, "a user JWT may not run it");
      assert.equal(asUser.json.code, "UNAUTHORIZED");

      const before = await counters(s);
      const r = await s.call("refresh-expiring-tokens", {
        token: await serviceKey(),
        origin: null,
        body: { withinSeconds: 900 },
      });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.deepEqual(r.json, { checked: 1, refreshed: 1, failed: 0, codes: [] });
      assert.equal((await counters(s)).refreshGrants - before.refreshGrants, 1);
      const [row] = await s.pg.sql`select expires_at > now() + interval '50 minutes' as fresh
        from oauth_connections where user_id = ${USER}`;
      assert.equal(row.fresh, true);

      const again = await s.call("refresh-expiring-tokens", {
        token: await serviceKey(),
        origin: null,
        body: {},
      });
      assert.equal(again.json.checked, 0, "nothing is due any more");
      const bad = await s.call("refresh-expiring-tokens", {
        token: await serviceKey(),
        origin: null,
        body: { limit: 0 },
      });
      assert.equal(bad.status, 400);
    } finally {
      await s.stop();
    }
  },
});
