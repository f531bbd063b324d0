// The whole sign-in path without a browser: real supabase-js (PKCE, as
// browsers use it with flowType "pkce") against the Supabase Auth stand-in,
// the provider emulator, the functions on Postgres, and the package's browser
// client with the supabase-js adapter (js/supabase.js). Sign in with Google
// through Supabase Auth: the provider tokens are stored once, through the
// functions, and Calendar works with them; a reload (INITIAL_SESSION with the
// same tokens) stores nothing; linkIdentity adds Spotify to the same user and
// its tokens are stored as the spotify connection; reconnecting Google goes
// through signInWithOAuth and keeps the user; sign-out ends the Supabase
// session and resets the client. Also the stand-in's own answers: errors in
// GoTrue's shapes, refresh-token rotation, open and gated routes.
import assert from "node:assert/strict";
import { createClient, type SupabaseClient } from "npm:@supabase/supabase-js@2.119.1";
import init, { BrowserTokenClient } from "../../pkg/browser.js";
import { attachSupabase, sessionToken } from "../../js/supabase.js";
import { startAuthStandIn } from "../../emulator/supabase_auth.ts";
import { authProviders } from "../../scripts/emulator-env.ts";
import { control, counters, extraServer, JWT_SECRET, startStack } from "./harness.ts";

const PUBLISHABLE = "sb_publishable_standin0123456789abcdef";
const SITE = "http://127.0.0.1:54323/";

function memoryStorage() {
  const m = new Map<string, string>();
  return {
    getItem: (k: string) => m.get(k) ?? null,
    setItem: (k: string, v: string) => void m.set(k, v),
    removeItem: (k: string) => void m.delete(k),
    size: () => m.size,
  };
}

/** Follows the browser's redirects (stand-in → provider → stand-in callback) until it is back on the app. */
async function follow(url: string): Promise<URL> {
  for (let i = 0; i < 10; i++) {
    if (url.startsWith(SITE)) return new URL(url);
    const res = await fetch(url, { redirect: "manual" });
    await res.body?.cancel();
    const location = res.headers.get("location");
    assert.equal(res.status, 302, `${url.split("?")[0]} answered ${res.status}`);
    url = new URL(location!, url).toString();
  }
  throw new Error("too many redirects");
}

Deno.test({
  name: "supabase-js sign-in through the Auth stand-in: provider tokens stored once, linkIdentity, sign-out",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const s = await startStack({ providers: ["google", "spotify", "discord"] });
    const authPort = await new Promise<number>((resolve) => {
      const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = (l.addr as Deno.NetAddr).port;
      l.close();
      resolve(port);
    });
    const url = `http://127.0.0.1:${authPort}`;
    const auth = startAuthStandIn({
      url,
      jwtSecret: JWT_SECRET,
      apiKeys: [PUBLISHABLE],
      siteUrl: SITE,
      providers: authProviders(s.emu, ["google", "spotify", "discord"]),
      onUser: async (u) => {
        await s.pg
          .sql`insert into auth.users (id, email) values (${u.id}, ${u.email}) on conflict do nothing`;
      },
    });
    const server = Deno.serve({ hostname: "127.0.0.1", port: authPort, onListen() {} }, auth.handler);
    // The functions check the stand-in's issuer, as they check a project's.
    const fn = await extraServer(s, { JWT_ISSUER: auth.issuer });
    const functionsUrl = s.fns[fn].url;
    for (const provider of ["google", "spotify", "discord"]) {
      await control(s, "config", { provider, authorize: "approve" });
    }
    await init({
      module_or_path: await Deno.readFile(
        new URL("../../pkg/browser/oauth_token_manager_browser_bg.wasm", import.meta.url),
      ),
    });

    const sbStorage = memoryStorage();
    const adapterStorage = memoryStorage();
    const newSupabase = () =>
      createClient(url, PUBLISHABLE, {
        auth: {
          flowType: "pkce",
          storage: sbStorage,
          persistSession: true,
          autoRefreshToken: false,
          detectSessionInUrl: false,
        },
      });
    let supabase: SupabaseClient = newSupabase();
    const client = new BrowserTokenClient({
      functionsUrl,
      // The current supabase-js client (a "reload" below makes a new one).
      getSessionToken: () => sessionToken(supabase)(),
      channelName: `otm-test-${crypto.randomUUID()}`,
    });
    let resets = 0;
    const realReset = client.reset.bind(client);
    client.reset = () => {
      resets++;
      realReset();
    };
    const stored: string[] = [];
    const errors: unknown[] = [];
    const providers = {
      google: { scopes: "https://www.googleapis.com/auth/calendar.events" },
      spotify: {},
      discord: {},
    };
    const attach = () =>
      attachSupabase(supabase, client, {
        providers,
        storage: adapterStorage,
        redirectTo: SITE,
        onStored: (r: { connection: string }) => stored.push(r.connection),
        onError: (e: unknown) => errors.push(e),
      });
    let link = attach();
    const storeCalls = () =>
      s.fns[fn].logs.filter((l) => l.includes('"msg":"request"') && l.includes("/:provider/store")).length;
    const statusOf = async (provider: string) => {
      const st = (await client.connections()).find((c: { provider: string }) => c.provider === provider);
      assert.ok(st, `a status for ${provider}`);
      return st;
    };

    try {
      let userId = "";
      await t.step("sign in with Google (signInWithOAuth, PKCE): the tokens are stored once", async () => {
        const started = await link.connect("google", {
          skipBrowserRedirect: true,
          queryParams: { login_hint: "ada@example.com" },
        });
        assert.equal(started.method, "signInWithOAuth");
        const authorize = new URL(started.url!);
        assert.equal(authorize.pathname, "/auth/v1/authorize");
        assert.equal(authorize.searchParams.get("provider"), "google");
        assert.equal(authorize.searchParams.get("access_type"), "offline");
        assert.equal(authorize.searchParams.get("prompt"), "consent");
        assert.equal(authorize.searchParams.get("include_granted_scopes"), "true");
        assert.equal(authorize.searchParams.get("code_challenge_method"), "s256");
        const back = await follow(started.url!);
        const code = back.searchParams.get("code");
        assert.ok(code, `back with a code: ${back}`);
        const { data, error } = await supabase.auth.exchangeCodeForSession(code);
        assert.equal(error, null);
        assert.ok(data.session?.provider_token, "Supabase handed over the provider token");
        assert.ok(data.session?.provider_refresh_token, "and, with access_type=offline, a refresh token");
        assert.equal(data.user?.app_metadata.provider, "google");
        userId = data.user!.id;
        await link.settled();
        assert.deepEqual(stored, ["google"]);
        assert.deepEqual(errors, []);
        assert.equal(storeCalls(), 1);
        const st = await statusOf("google");
        assert.equal(st.status, "connected");
        assert.ok(st.hasRefreshToken);
        const [row] = await s.pg.sql`select email from auth.users where id = ${userId}`;
        assert.equal(row.email, "ada@example.com", "the stand-in created the auth.users row");
      });

      await t.step(
        "the stored tokens work: Calendar through the client, refreshed by the functions",
        async () => {
          const res = await client.fetch(`${s.emu.url}/calendar/v3/calendars/primary/events`);
          assert.equal(res.status, 200);
          await res.body?.cancel();
          const before = await counters(s);
          await control(s, "expire", { email: "ada@example.com" });
          const t2 = await client.getAccessToken({ provider: "google", force: true });
          assert.ok(t2.accessToken);
          assert.equal(
            (await counters(s)).refreshGrants - before.refreshGrants,
            1,
            "the server refreshed once",
          );
        },
      );

      await t.step(
        "a reload (a new supabase-js client, INITIAL_SESSION with the same tokens) stores nothing",
        async () => {
          link.detach();
          supabase = newSupabase();
          const seen: string[] = [];
          supabase.auth.onAuthStateChange((event, session) => {
            if (session?.provider_token) seen.push(event);
          });
          link = attach();
          const { data } = await supabase.auth.getSession();
          assert.ok(data.session?.provider_token, "supabase-js still holds the provider token");
          await new Promise((r) => setTimeout(r, 50));
          await link.settled();
          // supabase-js re-emits a stored session's provider token on every load: SIGNED_IN, then INITIAL_SESSION.
          assert.deepEqual(seen, ["SIGNED_IN", "INITIAL_SESSION"]);
          assert.equal(storeCalls(), 1, "no second store");
          assert.deepEqual(stored, ["google"]);
        },
      );

      await t.step(
        "linkIdentity adds Spotify to the same user; its tokens are stored as spotify",
        async () => {
          const started = await link.connect("spotify", {
            skipBrowserRedirect: true,
            queryParams: { account: "ada.lovelace@example.com" },
          });
          assert.equal(started.method, "linkIdentity");
          assert.equal(new URL(started.url!).origin, s.emu.url, "linkIdentity hands out the provider's URL");
          assert.equal(auth.counters.linkAuthorize, 1);
          const back = await follow(started.url!);
          const { data, error } = await supabase.auth.exchangeCodeForSession(back.searchParams.get("code")!);
          assert.equal(error, null);
          assert.equal(data.user?.id, userId, "the same user");
          // Supabase keeps app_metadata.provider at the first identity; the adapter knows it went to Spotify.
          assert.equal(data.user?.app_metadata.provider, "google");
          assert.deepEqual(data.user?.app_metadata.providers, ["google", "spotify"]);
          await link.settled();
          assert.deepEqual(stored, ["google", "spotify"]);
          assert.equal(storeCalls(), 2);
          assert.equal((await statusOf("spotify")).status, "connected");
          assert.equal((await statusOf("google")).status, "connected", "Google untouched");
          const me = await client.fetch(`${s.emu.url}/spotify/v1/me`, {}, { provider: "spotify" });
          assert.equal(me.status, 200);
          assert.equal((await me.json()).email, "ada.lovelace@example.com");
        },
      );

      await t.step(
        "reconnecting Google (already linked) signs in again: same user, new tokens stored",
        async () => {
          const started = await link.connect("google", {
            skipBrowserRedirect: true,
            queryParams: { login_hint: "ada@example.com" },
          });
          assert.equal(started.method, "signInWithOAuth");
          const back = await follow(started.url!);
          const { data } = await supabase.auth.exchangeCodeForSession(back.searchParams.get("code")!);
          assert.equal(data.user?.id, userId);
          await link.settled();
          assert.deepEqual(stored, ["google", "spotify", "google"]);
          assert.equal(resets, 0, "same user: nothing reset");
        },
      );

      await t.step(
        "linking an identity that belongs to another user comes back with identity_already_exists",
        async () => {
          // Another user signs in with Discord as grace@example.com…
          const other = createClient(url, PUBLISHABLE, {
            auth: {
              flowType: "pkce",
              storage: memoryStorage(),
              autoRefreshToken: false,
              detectSessionInUrl: false,
            },
          });
          const { data: o } = await other.auth.signInWithOAuth({
            provider: "discord",
            options: {
              redirectTo: SITE,
              skipBrowserRedirect: true,
              queryParams: { account: "grace@example.com" },
            },
          });
          const code = (await follow(o.url!)).searchParams.get("code")!;
          assert.equal((await other.auth.exchangeCodeForSession(code)).error, null);
          // …then this user tries to link the same Discord account.
          const started = await link.connect("discord", {
            skipBrowserRedirect: true,
            queryParams: { account: "grace@example.com" },
          });
          const back = await follow(started.url!);
          assert.equal(back.searchParams.get("error_code"), "identity_already_exists");
          assert.equal(back.searchParams.get("error"), "invalid_request");
          assert.match(back.hash, /error_code=identity_already_exists/);
          assert.deepEqual(stored, ["google", "spotify", "google"], "nothing stored");
        },
      );

      await t.step("consent denied at the provider: back with error=access_denied", async () => {
        await control(s, "config", { provider: "discord", authorize: "deny" });
        const started = await link.connect("discord", { skipBrowserRedirect: true });
        const back = await follow(started.url!);
        assert.equal(back.searchParams.get("error"), "access_denied");
        assert.equal(back.searchParams.get("code"), null);
      });

      await t.step(
        "the session refreshes (rotation): the new access token works with the functions",
        async () => {
          const before = (await supabase.auth.getSession()).data.session!;
          const { data, error } = await supabase.auth.refreshSession();
          assert.equal(error, null);
          assert.notEqual(data.session!.refresh_token, before.refresh_token, "rotated");
          assert.equal(data.session!.provider_token, undefined, "Supabase never refreshes provider tokens");
          assert.equal((await statusOf("google")).status, "connected");
        },
      );

      await t.step("sign-out: the Supabase session ends and the browser client is reset", async () => {
        const token = (await supabase.auth.getSession()).data.session!.access_token;
        await client.getAccessToken({ provider: "google" });
        assert.ok(client.tokenInfo("google").hasToken);
        const { error } = await supabase.auth.signOut({ scope: "local" });
        assert.equal(error, null);
        assert.equal(resets, 1);
        assert.equal(client.tokenInfo("google").hasToken, false, "the token is dropped");
        assert.equal(await sessionToken(supabase)(), "");
        const user = await fetch(`${url}/auth/v1/user`, {
          headers: { apikey: PUBLISHABLE, authorization: `Bearer ${token}` },
        });
        assert.equal(user.status, 403);
        assert.equal((await user.json()).error_code, "session_not_found");
        await assert.rejects(client.getAccessToken({ provider: "google" }), (e: { code?: string }) => {
          assert.equal(e.code, "UNAUTHORIZED");
          return true;
        });
      });

      await t.step(
        "the implicit flow (supabase-js's default flowType): the session in the fragment",
        async () => {
          const start = new URL(`${url}/auth/v1/authorize`);
          start.searchParams.set("provider", "google");
          start.searchParams.set("redirect_to", `${SITE}back`);
          start.searchParams.set("scopes", "https://www.googleapis.com/auth/calendar.events");
          start.searchParams.set("access_type", "offline");
          start.searchParams.set("login_hint", "ada@example.com");
          const back = await follow(start.toString());
          assert.equal(back.pathname, "/back");
          const h = new URLSearchParams(back.hash.slice(1));
          for (const k of ["access_token", "refresh_token", "expires_in", "expires_at", "provider_token"]) {
            assert.ok(h.get(k), `${k} in the fragment`);
          }
          assert.equal(h.get("token_type"), "bearer");
          assert.ok(h.has("sb"));
          const user = await fetch(`${url}/auth/v1/user`, {
            headers: { apikey: PUBLISHABLE, authorization: `Bearer ${h.get("access_token")}` },
          });
          assert.equal(user.status, 200);
          const me = await user.json();
          assert.equal(me.email, "ada@example.com");
          assert.deepEqual(me.app_metadata.providers, ["google", "spotify"]);
        },
      );

      await t.step("the stand-in's gate and errors, in GoTrue's shapes", async () => {
        const noKey = await fetch(`${url}/auth/v1/user`);
        assert.equal(noKey.status, 401);
        assert.match((await noKey.json()).message, /No API key/);
        const badKey = await fetch(`${url}/auth/v1/token?grant_type=refresh_token`, {
          method: "POST",
          headers: { apikey: "sb_publishable_wrong", "content-type": "application/json" },
          body: "{}",
        });
        assert.equal(badKey.status, 401);
        await badKey.body?.cancel();
        const v2024 = await fetch(`${url}/auth/v1/token?grant_type=pkce`, {
          method: "POST",
          headers: {
            apikey: PUBLISHABLE,
            "x-supabase-api-version": "2024-01-01",
            "content-type": "application/json",
          },
          body: JSON.stringify({ auth_code: crypto.randomUUID(), code_verifier: "x".repeat(43) }),
        });
        assert.equal(v2024.status, 404);
        assert.deepEqual(await v2024.json(), {
          code: "flow_state_not_found",
          message: "invalid flow state, no valid flow state found",
        });
        const legacy = await fetch(`${url}/auth/v1/token?grant_type=refresh_token`, {
          method: "POST",
          headers: { apikey: PUBLISHABLE, "content-type": "application/json" },
          body: JSON.stringify({ refresh_token: "nope" }),
        });
        assert.equal(legacy.status, 400);
        assert.deepEqual(await legacy.json(), {
          code: 400,
          error_code: "refresh_token_not_found",
          msg: "Invalid Refresh Token: Refresh Token Not Found",
        });
        const unknown = await fetch(`${url}/auth/v1/authorize?provider=myspace`, { redirect: "manual" });
        assert.equal(unknown.status, 400);
        await unknown.body?.cancel();
      });
    } finally {
      link.detach();
      client.close();
      await server.shutdown();
      await s.stop();
    }
  },
});
