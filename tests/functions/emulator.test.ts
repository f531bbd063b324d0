// The Google emulator's own contract, so the tests that lean on it lean on
// something checked: the authorization-code flow, Basic and body client auth,
// rotation with reuse detection, revocation, and Google's error shapes. The
// other providers and Google's consent, PKCE and user info are in
// emulator_providers.test.ts.
import assert from "node:assert/strict";
import { emulatorHandler, startEmulator } from "../../emulator/main.ts";

Deno.test("Google emulator", async (t) => {
  const e = startEmulator();
  const { clientId, clientSecret } = e.state.config;
  const token = (form: Record<string, string>, basic = false) =>
    fetch(`${e.url}/token`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        ...(basic ? { authorization: `Basic ${btoa(`${clientId}:${clientSecret}`)}` } : {}),
      },
      body: new URLSearchParams(basic ? form : { ...form, client_id: clientId, client_secret: clientSecret }),
    }).then(async (r) => ({ status: r.status, body: await r.json() }));
  try {
    let refresh = "";
    await t.step("authorization code → tokens, with HTTP Basic client auth", async () => {
      e.state.config.authorize = "approve";
      const redirect = "http://127.0.0.1:1/callback";
      const auth = new URL(`${e.url}/o/oauth2/v2/auth`);
      auth.search = new URLSearchParams({
        response_type: "code",
        client_id: clientId,
        redirect_uri: redirect,
        state: "xyz",
        login_hint: "ada@example.com",
        access_type: "offline",
        scope: "openid https://www.googleapis.com/auth/calendar.events",
      }).toString();
      const res = await fetch(auth, { redirect: "manual" });
      assert.equal(res.status, 302);
      const back = new URL(res.headers.get("location")!);
      assert.equal(back.searchParams.get("state"), "xyz");
      const code = back.searchParams.get("code")!;
      const r = await token({ grant_type: "authorization_code", code, redirect_uri: redirect }, true);
      assert.equal(r.status, 200);
      assert.equal(r.body.token_type, "Bearer");
      assert.equal(r.body.expires_in, 3599);
      const again = await token({ grant_type: "authorization_code", code, redirect_uri: redirect }, true);
      assert.equal(again.body.error, "invalid_grant", "codes are single-use");
      const revoked = await token({ grant_type: "refresh_token", refresh_token: r.body.refresh_token }, true);
      assert.equal(
        revoked.body.error,
        "invalid_grant",
        "a reused code revokes what it issued (RFC 6749 §4.1.2)",
      );
      e.state.config.authorize = "page";
      refresh =
        (await (await fetch(`${e.url}/control/grant`, { method: "POST", body: "{}" })).json()).refresh_token;
    });

    await t.step("refresh with body client auth; a wrong secret is invalid_client", async () => {
      const r = await token({ grant_type: "refresh_token", refresh_token: refresh });
      assert.equal(r.status, 200);
      assert.equal(r.body.refresh_token, undefined, "no rotation by default, like Google");
      const bad = await fetch(`${e.url}/token`, {
        method: "POST",
        body: new URLSearchParams({
          grant_type: "refresh_token",
          refresh_token: refresh,
          client_id: clientId,
          client_secret: "nope",
        }),
      });
      assert.equal(bad.status, 401);
      assert.equal((await bad.json()).error, "invalid_client");
    });

    await t.step("rotation: reusing a refresh token revokes the whole grant", async () => {
      e.state.config.rotation = true;
      const first = await token({ grant_type: "refresh_token", refresh_token: refresh });
      const rotated = first.body.refresh_token;
      assert.ok(rotated && rotated !== refresh);
      const reuse = await token({ grant_type: "refresh_token", refresh_token: refresh });
      assert.equal(reuse.body.error, "invalid_grant");
      const after = await token({ grant_type: "refresh_token", refresh_token: rotated });
      assert.equal(after.body.error, "invalid_grant", "the newest token died with the grant");
      assert.equal(e.state.counters.reuseDetected, 1);
      e.state.config.rotation = false;
    });

    await t.step("revocation, and Google's 401 shape on Calendar", async () => {
      const g = await (await fetch(`${e.url}/control/grant`, { method: "POST", body: "{}" })).json();
      const ok = await fetch(`${e.url}/calendar/v3/calendars/primary/events`, {
        headers: { authorization: `Bearer ${g.access_token}` },
      });
      assert.equal(ok.status, 200);
      await ok.body?.cancel();
      const rev = await fetch(`${e.url}/revoke?token=${encodeURIComponent(g.refresh_token)}`, {
        method: "POST",
      });
      assert.equal(rev.status, 200);
      await rev.body?.cancel();
      const denied = await fetch(`${e.url}/calendar/v3/calendars/primary/events`, {
        headers: { authorization: `Bearer ${g.access_token}` },
      });
      assert.equal(denied.status, 401);
      const body = await denied.json();
      assert.equal(body.error.status, "UNAUTHENTICATED");
      assert.equal(body.error.errors[0].reason, "authError");
    });

    await t.step("faults are served in order and counted", async () => {
      await fetch(`${e.url}/control/faults`, {
        method: "POST",
        body: JSON.stringify({ kind: "503", count: 2 }),
      });
      await fetch(`${e.url}/control/faults`, {
        method: "POST",
        body: JSON.stringify({ kind: "error200", count: 1 }),
      });
      const a = await fetch(`${e.url}/token`, { method: "POST", body: "" });
      const b = await fetch(`${e.url}/token`, { method: "POST", body: "" });
      const c = await fetch(`${e.url}/token`, { method: "POST", body: "" });
      assert.deepEqual([a.status, b.status, c.status], [503, 503, 200]);
      assert.equal((await c.json()).error, "invalid_request");
      await Promise.all([a.body?.cancel(), b.body?.cancel()]);
      const bad = await fetch(`${e.url}/control/faults`, {
        method: "POST",
        body: JSON.stringify({ kind: "gremlins" }),
      });
      assert.equal(bad.status, 400);
      await bad.body?.cancel();
    });

    await t.step(
      "another site's page gets nothing: a rebound Host is 421, a foreign Origin's control call 403",
      async () => {
        const handler = emulatorHandler(e.state);
        const call = (path: string, headers: Record<string, string>, method = "GET") =>
          handler(new Request(`${e.url}${path}`, { method, headers }));
        const rebound = await call("/control/counters", { host: "attacker.example:8080" });
        assert.equal(rebound.status, 421);
        const foreign = await call("/control/grant", { origin: "https://attacker.example" }, "POST");
        assert.equal(foreign.status, 403);
        const rebinding = await call("/control/reset", { origin: "http://attacker.example:54329" }, "POST");
        assert.equal(rebinding.status, 403);
        // The dev page (a loopback origin) and tests (no Origin) still drive it.
        const page = await call("/control/counters", {
          host: "127.0.0.1:1",
          origin: "http://127.0.0.1:5173",
        });
        assert.equal(page.status, 200);
        await page.body?.cancel();
        assert.equal((await call("/v1/userinfo", { host: "localhost:1" })).status, 401);
      },
    );
  } finally {
    await e.close();
  }
});
