// The connections function over HTTP, against Postgres and the emulator with
// Google, Spotify, Discord and GitHub configured (OAUTH_PROVIDERS): connect
// (authorization code + PKCE) → callback → complete → token → refresh →
// disconnect with revocation, for each provider; status for all of them; and
// the attacks on the flow: a replayed, expired or forged state, another
// user's ticket, a wrong verifier, a denied consent, open redirects.
import assert from "node:assert/strict";
import { identity } from "../../emulator/accounts.ts";
import type { ProviderId } from "../../emulator/config.ts";
import { type CallResult, control, extraServer, ORIGIN, type Stack, startStack, USER } from "./harness.ts";

const APP = `${ORIGIN}/app/connections?tab=all#providers`;
const B = "33333333-3333-4333-8333-333333333333";
const C = "44444444-4444-4444-8444-444444444444";
/** Each provider's account at the emulator, for USER. */
const ACCOUNT: Record<ProviderId, string> = {
  google: "ada@example.com",
  spotify: "ada.spotify@example.com",
  discord: "ada.discord@example.com",
  github: "ada-gh",
};

interface Page {
  status: number;
  headers: Headers;
  location: URL | null;
  text: string;
}

/** Everything a connect handed around that no log line may hold: states, codes, tickets. */
const flowSecrets: string[] = [];

/** A browser navigation: no JWT, no Origin, redirects not followed. */
async function browse(s: Stack, url: string | URL): Promise<Page> {
  const res = await fetch(url, { redirect: "manual" });
  const text = await res.text();
  s.bodies.push({ fn: "browser", text });
  const location = res.headers.get("location");
  return { status: res.status, headers: res.headers, location: location ? new URL(location) : null, text };
}

/** Connect, step 1 and the provider's page: the callback URL the provider redirects the browser to. */
async function toCallback(
  s: Stack,
  user: string,
  provider: string,
  o: { account?: string; returnTo?: string; server?: number } = {},
): Promise<URL> {
  const begin = await s.call(`connections/${provider}/connect`, {
    user,
    server: o.server,
    body: { returnTo: o.returnTo ?? APP },
  });
  assert.equal(begin.status, 200, JSON.stringify(begin.json));
  const auth = new URL(begin.json.authorizationUrl as string);
  assert.ok(auth.href.startsWith(s.emu.url), auth.href);
  assert.equal(auth.searchParams.get("code_challenge_method"), "S256");
  flowSecrets.push(auth.searchParams.get("state")!);
  // The user picks their account on the provider's page (approved automatically).
  if (o.account) auth.searchParams.set("account", o.account);
  const page = await browse(s, auth);
  assert.equal(page.status, 302, page.text);
  const cb = page.location!;
  assert.equal(`${cb.origin}${cb.pathname}`, `${s.fns[o.server ?? 0].url}/connections/callback`);
  if (cb.searchParams.get("code")) flowSecrets.push(cb.searchParams.get("code")!);
  return cb;
}

/** Connect, step 2: the callback's redirect back to the app. */
async function callback(s: Stack, cb: URL): Promise<URL> {
  const back = await browse(s, cb);
  assert.equal(back.status, 302, back.text);
  assert.equal(back.headers.get("access-control-allow-origin"), null, "a navigation gets no CORS");
  assert.equal(back.text, "");
  const ticket = back.location!.searchParams.get("otm_connect");
  if (ticket) flowSecrets.push(ticket);
  return back.location!;
}

const complete = (s: Stack, user: string, ticket: string | null) =>
  s.call("connections/complete", { user, body: { ticket } });

/** The whole connect of `user` to `provider` with `account`: the completion's answer. */
async function connect(s: Stack, user: string, provider: ProviderId, account: string): Promise<CallResult> {
  const back = await callback(s, await toCallback(s, user, provider, { account }));
  const done = await complete(s, user, back.searchParams.get("otm_connect"));
  assert.equal(done.status, 200, JSON.stringify(done.json));
  return done;
}

function expectError(r: CallResult, status: number, code: string) {
  assert.equal(r.status, status, JSON.stringify(r.json));
  assert.equal(r.json.code, code);
}

const pc = (s: Stack, p: ProviderId) => ({ ...s.emu.state.providerCounters[p] });
const attempts = async (s: Stack) =>
  (await s.pg.sql`select count(*)::int as n from oauth_connect_attempts`)[0].n as number;

/** What the connection's account should read, from the emulator's user-info answers. */
function expectedAccount(p: ProviderId, account: string) {
  const id = identity(account);
  switch (p) {
    case "google":
      return { accountId: id.longId, accountEmail: id.email };
    case "spotify":
      return { accountId: id.login, accountEmail: id.email, accountName: id.name };
    case "discord":
      return { accountId: id.longId.slice(0, 18), accountEmail: id.email, accountName: id.login };
    case "github":
      return { accountId: String(id.numericId), accountName: id.login };
  }
}

Deno.test({
  name:
    "connections: every provider's connect, token, refresh and disconnect over HTTP, and the flow's attacks",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const s = await startStack({ providers: ["google", "spotify", "discord", "github"] });
    try {
      for (const u of [USER, B, C]) await s.pg.sql`insert into auth.users (id) values (${u})`;
      await control(s, "config", { authorize: "approve" });

      for (const p of ["google", "spotify", "discord", "github"] as const) {
        await t.step(
          `${p}: connect → callback → complete → token → refresh → disconnect → revoked`,
          async () => {
            const back = await callback(s, await toCallback(s, USER, p, { account: ACCOUNT[p] }));
            // Back on the page it started from: its query and fragment kept, the ticket added.
            assert.equal(`${back.origin}${back.pathname}${back.hash}`, `${ORIGIN}/app/connections#providers`);
            assert.equal(back.searchParams.get("tab"), "all");
            assert.equal(back.searchParams.get("otm_provider"), p);
            assert.equal(back.searchParams.get("otm_error"), null);
            const before = pc(s, p);
            const done = await complete(s, USER, back.searchParams.get("otm_connect"));
            assert.equal(done.status, 200, JSON.stringify(done.json));
            assert.equal(done.json.provider, p);
            assert.equal(done.json.status, "connected");
            assert.equal(done.json.hasRefreshToken, true);
            assert.equal(done.headers.get("x-token-connection"), p);
            assert.equal(done.headers.get("x-token-refreshed-at"), done.json.tokenRefreshedAt);
            for (const [k, v] of Object.entries(expectedAccount(p, ACCOUNT[p]))) {
              assert.equal(done.json[k], v, k);
            }
            assert.equal(pc(s, p).codeGrants, before.codeGrants + 1);
            assert.equal(pc(s, p).userinfoCalls, before.userinfoCalls + 1);
            // The ticket is single use.
            expectError(
              await complete(s, USER, back.searchParams.get("otm_connect")),
              400,
              "CONNECT_STATE_INVALID",
            );
            const row = await s.pg.sql`select access_token_sealed, refresh_token_sealed from oauth_connections
                                      where user_id = ${USER} and provider = ${p}`;
            assert.match(row[0].access_token_sealed, /^v1\.k1\./);
            assert.match(row[0].refresh_token_sealed, /^v1\.k1\./);

            const token = await s.call(`connections/${p}/token`, { body: {} });
            assert.equal(token.status, 200, JSON.stringify(token.json));
            assert.equal(s.emu.state.accessTokens.get(token.json.accessToken as string)?.provider, p);
            assert.equal(token.json.refreshed, false);
            assert.equal(token.headers.get("x-token-connection"), p);
            assert.equal(token.headers.get("x-token-refreshed-at"), token.json.tokenRefreshedAt);

            // Expired at the provider and here: one refresh at this provider's token endpoint.
            await control(s, "expire", { provider: p, account: ACCOUNT[p] });
            await s.pg.sql`update oauth_connections set expires_at = now() - interval '1 second'
                          where user_id = ${USER} and provider = ${p}`;
            const fresh = await s.call(`connections/${p}/token`, { body: {} });
            assert.equal(fresh.status, 200, JSON.stringify(fresh.json));
            assert.equal(fresh.json.refreshed, true);
            assert.notEqual(fresh.json.accessToken, token.json.accessToken);
            assert.ok(
              Date.parse(fresh.json.tokenRefreshedAt as string) >
                Date.parse(token.json.tokenRefreshedAt as string),
            );
            assert.equal(pc(s, p).refreshGrants, before.refreshGrants + 1);

            const gone = await s.call(`connections/${p}/disconnect`, { method: "DELETE" });
            assert.equal(gone.status, 200, JSON.stringify(gone.json));
            const status = gone.json.status as Record<string, unknown>;
            assert.equal(status.status, "disconnected");
            assert.equal(status.connected, false);
            assert.equal(gone.headers.get("x-token-connection"), p);
            const grants = s.emu.state.grantsOf(ACCOUNT[p], p);
            if (p === "spotify") {
              // Spotify has no revocation endpoint: said so, and disconnected here all the same.
              assert.equal(gone.json.revocation, "not_supported");
              assert.equal(pc(s, p).revocations, before.revocations);
              assert.ok(grants.every((g) => !g.revoked));
            } else {
              assert.equal(gone.json.revocation, "revoked", JSON.stringify(gone.json));
              assert.equal(gone.json.revocationError, null);
              assert.equal(pc(s, p).revocations, before.revocations + 1);
              assert.ok(
                grants.length > 0 && grants.every((g) => g.revoked),
                "the grant is revoked at the provider",
              );
            }
            const sealed = await s.pg
              .sql`select access_token_sealed, refresh_token_sealed from oauth_connections
                                         where user_id = ${USER} and provider = ${p}`;
            assert.deepEqual(sealed[0], { access_token_sealed: null, refresh_token_sealed: null });
            const after = await s.call(`connections/${p}/token`, { body: {} });
            assert.ok(after.status >= 400 && after.status < 500, JSON.stringify(after.json));
            assert.equal(after.json.accessToken, undefined);
          },
        );
      }

      await t.step("GET /connections: every configured provider's health at once", async () => {
        await connect(s, B, "google", "bea@example.com");
        await connect(s, B, "github", "bea-gh");
        const grant = await control(s, "grant", { provider: "spotify", account: "bea@example.com" });
        const stored = await s.call("connections/spotify/store", {
          user: B,
          body: {
            providerToken: grant.access_token,
            providerRefreshToken: grant.refresh_token,
            scope: grant.scope,
          },
        });
        assert.equal(stored.status, 200, JSON.stringify(stored.json));
        // GitHub's grant dies at the provider: the next refresh finds out.
        await control(s, "revoke", { provider: "github", account: "bea-gh" });
        await s.pg.sql`update oauth_connections set expires_at = now() - interval '1 second'
                        where user_id = ${B} and provider = 'github'`;
        expectError(await s.call("connections/github/token", { user: B, body: {} }), 401, "REAUTH_REQUIRED");

        const r = await s.call("connections", { method: "GET", user: B });
        assert.equal(r.status, 200, JSON.stringify(r.json));
        const all = r.json as unknown as Record<string, unknown>[];
        assert.deepEqual(all.map((c) => [c.provider, c.status, c.requiresReauth]), [
          ["discord", "disconnected", false],
          ["github", "needs_reauth", true],
          ["google", "connected", false],
          ["spotify", "connected", false],
        ]);
        const by = Object.fromEntries(all.map((c) => [c.provider, c]));
        assert.equal(by.github.lastErrorCode, "REAUTH_REQUIRED");
        assert.equal(by.github.accountName, "bea-gh");
        assert.equal(
          by.github.accountEmail,
          "bea-gh@example.com",
          "from /user/emails: /user has no public email",
        );
        assert.equal(by.google.accountEmail, "bea@example.com");
        assert.equal(by.spotify.accountEmail, "bea@example.com");
        assert.deepEqual(by.spotify.scopes, ["user-read-email", "user-read-private"]);
        assert.equal(typeof by.google.expiresAt, "number");
        assert.equal(by.discord.accountId, null);
        assert.ok(!JSON.stringify(r.json).includes("sealed"));
        // Another user sees only their own.
        const other = await s.call("connections", { method: "GET", user: C });
        assert.ok((other.json as unknown as { status: string }[]).every((c) => c.status === "disconnected"));
      });

      await t.step(
        "store from sign-in: Spotify's documented hour when none is given; for Google an hour",
        async () => {
          const grant = await control(s, "grant", { provider: "spotify", account: "cy@example.com" });
          const r = await s.call("connections/spotify/store", {
            user: C,
            body: { providerToken: grant.access_token, providerRefreshToken: grant.refresh_token },
          });
          assert.equal(r.status, 200, JSON.stringify(r.json));
          // Supabase passes no lifetime; Spotify documents an hour.
          assert.ok(Math.abs((r.json.expiresAt as number) - (Date.now() + 3_600_000)) < 60_000);
          assert.equal(r.json.accountId, identity("cy@example.com").login);
          assert.equal(r.headers.get("x-token-connection"), "spotify");
          const timed = await s.call("connections/spotify/store", {
            user: C,
            body: { provider_token: grant.access_token, expiresIn: 3600 },
          });
          assert.ok(Math.abs((timed.json.expiresAt as number) - (Date.now() + 3_600_000)) < 60_000);
          assert.equal(timed.json.hasRefreshToken, true, "without a new refresh token the stored one stays");
          const token = await s.call("connections/spotify/token", { user: C, body: {} });
          assert.equal(token.json.accessToken, grant.access_token);
          const g = await control(s, "grant", { provider: "google", account: "cy@example.com" });
          const google = await s.call("connections/google/store", {
            user: C,
            body: { providerToken: g.access_token },
          });
          assert.ok(Math.abs((google.json.expiresAt as number) - (Date.now() + 3_599_000)) < 60_000);
          expectError(await s.call("connections/spotify/store", { user: C, body: {} }), 400, "BAD_REQUEST");
        },
      );

      await t.step("a replayed state: the second callback returns with an error, no ticket", async () => {
        const cb = await toCallback(s, B, "discord");
        const first = await callback(s, cb);
        assert.ok(first.searchParams.get("otm_connect"));
        const again = await callback(s, cb);
        assert.equal(again.searchParams.get("otm_error"), "CONNECT_STATE_INVALID");
        assert.equal(again.searchParams.get("otm_provider"), "discord");
        assert.equal(again.searchParams.get("otm_connect"), null);
        // The first ticket still completes; the code was exchanged once.
        assert.equal((await complete(s, B, first.searchParams.get("otm_connect"))).status, 200);
      });

      await t.step(
        "an expired state: the callback returns with an error and nothing is exchanged",
        async () => {
          const before = pc(s, "spotify");
          const cb = await toCallback(s, C, "spotify");
          await s.pg.sql`update oauth_connect_attempts set expires_at = now() - interval '1 second'
                        where user_id = ${C} and claimed_at is null`;
          const back = await callback(s, cb);
          assert.equal(back.searchParams.get("otm_error"), "CONNECT_STATE_INVALID");
          assert.equal(back.searchParams.get("otm_connect"), null);
          assert.equal(pc(s, "spotify").codeGrants, before.codeGrants);
        },
      );

      await t.step(
        "a mix-up: another server's answer to a connect's state is refused, its code sent nowhere",
        async () => {
          // RFC 9700 §4.4. The victim starts a Spotify connect; a malicious
          // server in its place sends the victim's browser to Google with the
          // attacker's Google request and the victim's state. Google (which
          // sends iss, RFC 9207) answers the one callback all providers share.
          const victim = await s.call("connections/spotify/connect", { user: C, body: { returnTo: APP } });
          assert.equal(victim.status, 200, JSON.stringify(victim.json));
          const victimState = new URL(victim.json.authorizationUrl as string).searchParams.get("state")!;
          flowSecrets.push(victimState);
          const attacker = await s.call("connections/google/connect", { user: B, body: { returnTo: APP } });
          const forged = new URL(attacker.json.authorizationUrl as string);
          flowSecrets.push(forged.searchParams.get("state")!);
          forged.searchParams.set("state", victimState);
          const page = await browse(s, forged);
          assert.equal(page.status, 302, page.text);
          const cb = page.location!;
          assert.equal(cb.searchParams.get("iss"), s.emu.url, "the emulated Google names itself");
          flowSecrets.push(cb.searchParams.get("code")!);
          const [spotifyBefore, googleBefore] = [pc(s, "spotify"), pc(s, "google")];
          const back = await callback(s, cb);
          assert.equal(back.searchParams.get("otm_error"), "CONNECT_STATE_INVALID");
          assert.equal(back.searchParams.get("otm_provider"), "spotify");
          assert.equal(back.searchParams.get("otm_connect"), null, "no ticket: nothing to complete");
          assert.equal(
            pc(s, "spotify").codeGrants,
            spotifyBefore.codeGrants,
            "Google's code never went to Spotify",
          );
          assert.equal(pc(s, "google").codeGrants, googleBefore.codeGrants);
          // Google's own answers still pass: B's connect, with its state, completes.
          await connect(s, B, "google", "bea@example.com");
        },
      );

      await t.step("another user's ticket: 403 FORBIDDEN, and the ticket is burned", async () => {
        const back = await callback(s, await toCallback(s, B, "google", { account: "bea@example.com" }));
        const ticket = back.searchParams.get("otm_connect");
        // The victim opens the attacker's consent link; the attacker's session tries to complete it.
        expectError(await complete(s, C, ticket), 403, "FORBIDDEN");
        expectError(await complete(s, B, ticket), 400, "CONNECT_STATE_INVALID");
        expectError(await complete(s, C, "not-a-ticket"), 400, "CONNECT_STATE_INVALID");
        expectError(await s.call("connections/complete", { user: C, body: {} }), 400, "BAD_REQUEST");
      });

      await t.step("a forged callback: an HTML page with a plain sentence, 4xx, never JSON", async () => {
        for (
          const q of [
            "?state=forged&code=4%2Femu-made-up",
            "?code=abc",
            "",
            "?state=" + "x".repeat(600),
            "?error=access_denied",
          ]
        ) {
          const page = await browse(s, `${s.fns[0].url}/connections/callback${q}`);
          assert.equal(page.status, 400, q);
          assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
          assert.equal(page.location, null);
          assert.ok(!page.text.trim().startsWith("{"), "not JSON");
          assert.match(page.text, /This connection link is not valid/);
          assert.doesNotMatch(page.text, /CONNECT_STATE_INVALID|forged|emu-made-up|<script/i);
          assert.equal(page.headers.get("access-control-allow-origin"), null);
        }
      });

      await t.step(
        "a wrong PKCE verifier: the exchange fails with a plain code, nothing stored",
        async () => {
          // The provider holds another challenge than the one the verifier answers.
          const cb = await toCallback(s, C, "github", { account: "cy-gh" });
          s.emu.state.codes.get(cb.searchParams.get("code")!)!.challenge = "A".repeat(43);
          const r = await complete(s, C, (await callback(s, cb)).searchParams.get("otm_connect"));
          // GitHub answers bad_verification_code (with HTTP 200): the code is refused,
          // and this connect is to start again (no grant died: not REAUTH_REQUIRED).
          expectError(r, 400, "CONNECT_STATE_INVALID");
          // A verifier sealed for another state does not open for this one.
          const cb2 = await toCallback(s, C, "github", { account: "cy-gh" });
          const cb3 = await toCallback(s, C, "github", { account: "cy-gh" });
          const [a2, a3] = await s.pg.sql`select state_hash, verifier_sealed from oauth_connect_attempts
                                        where user_id = ${C} and provider = 'github' and claimed_at is null
                                        order by created_at`;
          await s.pg.sql`update oauth_connect_attempts set verifier_sealed = ${a3.verifier_sealed}
                        where state_hash = ${a2.state_hash}`;
          const swapped = await complete(s, C, (await callback(s, cb2)).searchParams.get("otm_connect"));
          assert.equal(swapped.status, 500, JSON.stringify(swapped.json));
          assert.match(swapped.json.code as string, /^CRYPTO_/);
          assert.doesNotMatch(swapped.json.error as string, /v1\.k1|verifier/);
          await browse(s, cb3);
          const st = await s.call("connections", { method: "GET", user: C });
          const gh = (st.json as unknown as Record<string, unknown>[]).find((c) => c.provider === "github")!;
          assert.equal(gh.status, "disconnected");
        },
      );

      await t.step(
        "access_denied at the provider: back to the page with otm_error=CONSENT_DENIED",
        async () => {
          await control(s, "config", { provider: "discord", authorize: "deny" });
          try {
            const back = await callback(s, await toCallback(s, C, "discord"));
            assert.equal(back.searchParams.get("otm_error"), "CONSENT_DENIED");
            assert.equal(back.searchParams.get("otm_provider"), "discord");
            assert.equal(back.searchParams.get("otm_connect"), null);
            assert.equal(back.hash, "#providers");
          } finally {
            await control(s, "config", { provider: "discord", authorize: "approve" });
          }
        },
      );

      await t.step("open redirects: a returnTo off the allowlist is 400 and goes nowhere", async () => {
        const star = await extraServer(s, { ALLOWED_ORIGINS: "*" });
        const before = await attempts(s);
        const bad = [
          "https://evil.example/cb",
          "javascript:alert(1)",
          "//evil.example/x",
          "http://localhost:5173.evil.example/",
          "http://localhost:5173@evil.example/",
          "http:\\\\evil.example\\",
          "/app/connections",
          "data:text/html,hi",
          "http://localhost:5174/",
          "https://localhost:5173/",
          "",
        ];
        for (const returnTo of bad) {
          const r = await s.call("connections/spotify/connect", { body: { returnTo } });
          expectError(r, 400, "BAD_REQUEST");
          assert.equal(r.json.authorizationUrl, undefined, returnTo);
          assert.match(r.json.error as string, /returnTo/);
        }
        // "*" lets any origin call (CORS) but is never a place to send the browser.
        const r = await s.call("connections/spotify/connect", {
          server: star,
          origin: "https://evil.example",
          body: { returnTo: "https://evil.example/" },
        });
        expectError(r, 400, "BAD_REQUEST");
        assert.equal(await attempts(s), before, "no attempt was recorded");
      });

      await t.step("routes: unknown provider, unknown path, method, JWT, CORS", async () => {
        const unknown = await s.call("connections/myspace/connect", { body: { returnTo: APP } });
        expectError(unknown, 400, "BAD_REQUEST");
        assert.match(
          unknown.json.error as string,
          /discord, github, google, spotify|google, spotify, discord, github/,
        );
        expectError(await s.call("connections/google/nothing", { body: {} }), 404, "NOT_FOUND");
        expectError(await s.call("connections/a/b/c", { method: "GET" }), 404, "NOT_FOUND");
        expectError(await s.call("connections/google/connect", { method: "GET" }), 405, "METHOD_NOT_ALLOWED");
        expectError(await s.call("connections/google/token", { token: null, body: {} }), 401, "UNAUTHORIZED");
        expectError(await s.call("connections", { method: "GET", token: null }), 401, "UNAUTHORIZED");
        const pre = await fetch(`${s.fns[0].url}/connections/google/token`, {
          method: "OPTIONS",
          headers: { origin: ORIGIN, "access-control-request-method": "POST" },
        });
        await pre.body?.cancel();
        assert.equal(pre.status, 204);
        assert.match(pre.headers.get("access-control-expose-headers") ?? "", /X-Token-Connection/);
        expectError(
          await s.call("connections", { method: "GET", origin: "https://evil.example" }),
          403,
          "FORBIDDEN",
        );
      });

      await t.step("no state, code or ticket in any log line", () => {
        assert.ok(flowSecrets.length > 20);
        for (const line of s.fns.flatMap((f) => f.logs)) {
          for (const x of flowSecrets) {
            assert.ok(!line.includes(x), `a log line holds a flow secret: ${line.slice(0, 80)}`);
          }
        }
      });
    } finally {
      await s.stop();
    }
  },
});
