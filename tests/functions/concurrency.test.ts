// Four function-server processes on one database, 500 concurrent requests for
// one user whose token just expired, the emulator rotating refresh tokens
// with reuse detection: exactly one token call, every request gets the same
// new token, and the grant still works afterwards.
import assert from "node:assert/strict";
import { control, counters, startStack, USER } from "./harness.ts";

Deno.test({
  name: "500 concurrent requests across 4 processes make exactly 1 token call",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const s = await startStack({ servers: 4 });
    try {
      await s.connect(USER);
      // Real token endpoints take 100-300 ms: the window in which racing refreshes would overlap.
      await control(s, "config", { rotation: true, tokenLatencyMs: 250 });
      await s.pg
        .sql`update oauth_connections set expires_at = now() - interval '1 second' where user_id = ${USER}`;
      const before = await counters(s);
      const results = await Promise.all(
        Array.from({ length: 500 }, (_, i) => s.call("refresh-google-token", { body: {}, server: i % 4 })),
      );
      const after = await counters(s);
      const failed = results.filter((r) => r.status !== 200);
      assert.equal(failed.length, 0, JSON.stringify(failed.slice(0, 3).map((r) => r.json)));
      assert.equal(after.tokenCalls - before.tokenCalls, 1, "exactly one token call");
      const tokens = new Set(results.map((r) => r.json.accessToken));
      assert.equal(tokens.size, 1, "every request got the same new token");
      const markers = new Set(results.map((r) => r.headers.get("x-token-refreshed-at")));
      assert.equal(markers.size, 1);
      // The grant still works: the rotated refresh token was saved, no reuse.
      const forced = await s.call("refresh-google-token", { body: { force: true } });
      assert.equal(forced.status, 200, JSON.stringify(forced.json));
      const end = await counters(s);
      assert.equal(end.reuseDetected, 0);
      assert.ok(!(end.grants as unknown as { revoked: boolean }[]).some((g) => g.revoked));
    } finally {
      await s.stop();
    }
  },
});
