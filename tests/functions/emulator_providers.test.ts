// The emulator's providers against their documented behaviour (the sources are
// cited in emulator/providers/*.ts): the authorization page in page, approve
// and deny modes and its error pages; the code exchange with PKCE and what
// fails it; refresh behaviour; revocation; user info; counters. One emulator,
// no Postgres.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { startEmulator } from "../../emulator/main.ts";
import {
  api,
  authorizeRequest,
  basic,
  codeFrom,
  control,
  pkcePair,
  post,
  REDIRECT,
  redirected,
} from "./oauth_flow.ts";

const e = startEmulator();
const google = e.state.config;
const { spotify, discord, github } = e.state.config.providers;
const decode = (jwt: string) => JSON.parse(atob(jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));

Deno.test("provider emulator", async (t) => {
  try {
    await t.step("Google: consent page, error pages, PKCE, offline access, incremental scopes", async () => {
      const auth = `${e.url}/o/oauth2/v2/auth`;
      const base = { response_type: "code", client_id: google.clientId, redirect_uri: REDIRECT, state: "s1" };
      const page = await authorizeRequest(auth, {
        ...base,
        scope: "openid email",
        login_hint: "ada@example.com",
      });
      assert.equal(page.status, 200);
      assert.match(page.text, /id="approve"/);
      assert.match(page.text, /id="deny"/);
      assert.match(page.text, /value="ada@example.com"/);
      // The page posts its decision with the request's parameters.
      const approved = await redirected(auth, {
        ...base,
        scope: "openid",
        account: "ada@example.com",
        decision: "approve",
      }, "POST");
      assert.equal(approved.searchParams.get("state"), "s1");
      assert.ok(approved.searchParams.get("code"));
      const denied = await redirected(auth, { ...base, scope: "openid", decision: "deny" }, "POST");
      assert.equal(denied.searchParams.get("error"), "access_denied");
      assert.equal(denied.searchParams.get("state"), "s1");
      // A bad client or redirect URI is an error page, never a redirect (RFC 6749 §4.1.2.1).
      const badClient = await authorizeRequest(auth, { ...base, scope: "openid", client_id: "nope" });
      assert.equal(badClient.status, 401);
      assert.equal(badClient.headers.get("location"), null);
      assert.match(badClient.text, /invalid_client/);
      const noRedirect = await authorizeRequest(auth, { ...base, scope: "openid", redirect_uri: "" });
      assert.equal(noRedirect.status, 400);
      assert.match(noRedirect.text, /redirect_uri_mismatch/);
      const token = await redirected(auth, { ...base, scope: "openid", response_type: "token" });
      assert.equal(token.searchParams.get("error"), "unsupported_response_type");
      const noScope = await redirected(auth, base);
      assert.equal(noScope.searchParams.get("error"), "invalid_scope");

      await control(e.url, "config", { authorize: "approve" });
      const exchange = (code: string, extra: Record<string, string> = {}) =>
        post(`${e.url}/token`, { grant_type: "authorization_code", code, redirect_uri: REDIRECT, ...extra }, {
          authorization: basic(google.clientId, google.clientSecret),
        });
      const { verifier, challenge } = pkcePair();
      const pkce = { ...base, code_challenge: challenge, code_challenge_method: "S256" };
      const offline = { ...pkce, access_type: "offline", login_hint: "lin@example.com" };
      const first = await exchange(
        await codeFrom(auth, { ...offline, scope: "openid email profile", nonce: "n-1" }),
        {
          code_verifier: verifier,
        },
      );
      assert.equal(first.status, 200);
      assert.ok(first.body.refresh_token, "offline access: a refresh token on first consent");
      const [header, payload, signature] = first.body.id_token.split(".");
      const claims = decode(first.body.id_token);
      assert.equal(claims.iss, "https://accounts.google.com");
      assert.equal(claims.aud, google.clientId);
      assert.equal(claims.email, "lin@example.com");
      assert.equal(claims.nonce, "n-1");
      assert.equal(
        createHmac("sha256", google.clientSecret).update(`${header}.${payload}`).digest("base64url"),
        signature,
      );
      const info = await api(`${e.url}/v1/userinfo`, first.body.access_token);
      assert.deepEqual(Object.keys(info.body).sort(), ["email", "email_verified", "name", "picture", "sub"]);
      assert.equal(info.body.sub, claims.sub);

      const wrong = await exchange(await codeFrom(auth, { ...pkce, scope: "openid" }), {
        code_verifier: pkcePair().verifier,
      });
      assert.equal(wrong.body.error, "invalid_grant");
      const missing = await exchange(await codeFrom(auth, { ...pkce, scope: "openid" }));
      assert.equal(missing.body.error, "invalid_grant");
      const elsewhere = await exchange(await codeFrom(auth, { ...pkce, scope: "openid" }), {
        code_verifier: verifier,
        redirect_uri: "http://127.0.0.1:9/other",
      });
      assert.equal(elsewhere.body.error, "invalid_grant");
      const code = await codeFrom(auth, { ...pkce, scope: "openid email" });
      const once = await exchange(code, { code_verifier: verifier });
      assert.equal(once.status, 200);
      assert.equal((await exchange(code, { code_verifier: verifier })).body.error, "invalid_grant");
      assert.equal(
        (await api(`${e.url}/v1/userinfo`, once.body.access_token)).status,
        401,
        "the reused code's tokens die",
      );

      // Consent again: no refresh token unless prompt=consent; include_granted_scopes unions the scopes.
      const again = await exchange(await codeFrom(auth, { ...offline, scope: "openid" }), {
        code_verifier: verifier,
      });
      assert.equal(again.body.refresh_token, undefined);
      assert.equal(again.body.scope, "openid");
      const cal = "https://www.googleapis.com/auth/calendar.events";
      const more = await exchange(
        await codeFrom(auth, { ...offline, scope: cal, include_granted_scopes: "true", prompt: "consent" }),
        { code_verifier: verifier },
      );
      assert.ok(more.body.refresh_token, "prompt=consent: a refresh token again");
      assert.deepEqual(more.body.scope.split(" ").sort(), ["email", cal, "openid", "profile"]);

      // Revocation (form or query): the grant dies; a second revocation is invalid_token.
      const revoke = await post(`${e.url}/revoke`, { token: more.body.access_token });
      assert.deepEqual([revoke.status, revoke.body], [200, {}]);
      const refresh = await post(`${e.url}/token`, {
        grant_type: "refresh_token",
        refresh_token: more.body.refresh_token,
        client_id: google.clientId,
        client_secret: google.clientSecret,
      });
      assert.equal(refresh.body.error, "invalid_grant");
      const twice = await post(`${e.url}/revoke?token=${encodeURIComponent(more.body.refresh_token)}`, {});
      assert.equal(twice.status, 400);
      assert.deepEqual(twice.body, { error: "invalid_token", error_description: "Token expired or revoked" });

      await control(e.url, "config", { codeLifetimeSeconds: 0 });
      const late = await exchange(await codeFrom(auth, { ...pkce, scope: "openid" }), {
        code_verifier: verifier,
      });
      assert.equal(late.body.error, "invalid_grant", "codes expire");
      await control(e.url, "config", { codeLifetimeSeconds: 600, authorize: "page" });
    });

    await t.step(
      "Spotify: Basic or PKCE client auth, refresh keeps the refresh token, no revocation",
      async () => {
        const auth = `${e.url}/spotify/authorize`;
        const tokenUrl = `${e.url}/spotify/api/token`;
        const base = {
          response_type: "code",
          client_id: spotify.clientId,
          redirect_uri: REDIRECT,
          state: "sp",
        };
        const scope = "user-read-email user-read-private";
        assert.equal(
          (await authorizeRequest(auth, { ...base, scope })).status,
          200,
          "the consent page by default",
        );
        assert.equal((await authorizeRequest(auth, { ...base, client_id: "x" })).status, 400);
        const noRedirect = await authorizeRequest(auth, { ...base, redirect_uri: "ftp://x" });
        assert.equal(noRedirect.headers.get("location"), null);
        assert.match(noRedirect.text, /Invalid redirect URI/);
        await control(e.url, "config", { provider: "spotify", authorize: "deny" });
        const denied = await redirected(auth, { ...base, scope });
        assert.deepEqual([denied.searchParams.get("error"), denied.searchParams.get("state")], [
          "access_denied",
          "sp",
        ]);
        await control(e.url, "config", { provider: "spotify", authorize: "approve" });

        const viaBasic = { authorization: basic(spotify.clientId, spotify.clientSecret) };
        const exchange = (
          code: string,
          extra: Record<string, string>,
          headers: Record<string, string> = {},
        ) =>
          post(
            tokenUrl,
            { grant_type: "authorization_code", code, redirect_uri: REDIRECT, ...extra },
            headers,
          );
        const confidential = await exchange(await codeFrom(auth, { ...base, scope }), {}, viaBasic);
        assert.equal(confidential.status, 200);
        assert.equal(confidential.body.expires_in, 3600);
        assert.equal(confidential.body.token_type, "Bearer");
        assert.equal(confidential.body.scope, scope);
        const inBody = await exchange(await codeFrom(auth, { ...base, scope }), {
          client_id: spotify.clientId,
          client_secret: spotify.clientSecret,
        });
        assert.equal(inBody.body.error, "invalid_client", "the secret goes in the Basic header");
        const publicNoPkce = await exchange(await codeFrom(auth, { ...base, scope }), {
          client_id: spotify.clientId,
        });
        assert.equal(publicNoPkce.body.error, "invalid_client");

        const { verifier, challenge } = pkcePair();
        const pkce = { ...base, scope, code_challenge: challenge, code_challenge_method: "S256" };
        const pub = { client_id: spotify.clientId };
        const ok = await exchange(await codeFrom(auth, pkce), { ...pub, code_verifier: verifier });
        assert.equal(ok.status, 200);
        const wrong = await exchange(await codeFrom(auth, pkce), {
          ...pub,
          code_verifier: pkcePair().verifier,
        });
        assert.equal(wrong.body.error, "invalid_grant");
        const code = await codeFrom(auth, pkce);
        const other = await exchange(code, {
          ...pub,
          code_verifier: verifier,
          redirect_uri: `${REDIRECT}/x`,
        });
        assert.equal(other.body.error, "invalid_grant");
        assert.equal((await exchange(code, { ...pub, code_verifier: verifier })).body.error, "invalid_grant");
        const plain = await redirected(auth, { ...pkce, code_challenge_method: "plain" });
        assert.equal(plain.searchParams.get("error"), "invalid_request", "S256 only");

        // Refresh: no new refresh token by default, and the one the client has keeps working.
        const refresh = (token: string, headers: Record<string, string> = viaBasic, extra = {}) =>
          post(tokenUrl, { grant_type: "refresh_token", refresh_token: token, ...extra }, headers);
        for (let i = 0; i < 2; i++) {
          const r = await refresh(confidential.body.refresh_token);
          assert.equal(r.status, 200);
          assert.equal(r.body.refresh_token, undefined);
        }
        assert.equal(
          (await refresh(ok.body.refresh_token, {}, pub)).status,
          200,
          "PKCE: client_id in the body",
        );
        await control(e.url, "config", { provider: "spotify", rotation: true });
        const rotated = await refresh(confidential.body.refresh_token);
        assert.ok(rotated.body.refresh_token);
        assert.equal((await refresh(confidential.body.refresh_token)).body.error, "invalid_grant");
        await control(e.url, "config", { provider: "spotify", rotation: false, authorize: "page" });

        const me = await api(`${e.url}/spotify/v1/me`, rotated.body.access_token);
        assert.equal(me.body.type, "user");
        assert.equal(me.body.email, "dev@example.com");
        assert.equal(me.body.uri, `spotify:user:${me.body.id}`);
        assert.ok(me.body.display_name);
        const noEmail = await control(e.url, "grant", { provider: "spotify", scope: "user-read-private" });
        assert.equal((await api(`${e.url}/spotify/v1/me`, noEmail.access_token)).body.email, undefined);
        const revoke = await post(
          `${e.url}/spotify/api/token/revoke`,
          { token: noEmail.access_token },
          viaBasic,
        );
        assert.equal(revoke.status, 404, "Spotify has no revocation endpoint");
        await control(e.url, "revoke", { provider: "spotify", email: "dev@example.com" });
        const after = await api(`${e.url}/spotify/v1/me`, noEmail.access_token);
        assert.deepEqual(after.body, { error: { status: 401, message: "Invalid access token" } });
      },
    );

    await t.step("Discord: 7-day tokens, rotating refresh tokens, revocation, /users/@me", async () => {
      const auth = `${e.url}/discord/oauth2/authorize`;
      const tokenUrl = `${e.url}/discord/api/oauth2/token`;
      const base = {
        response_type: "code",
        client_id: discord.clientId,
        redirect_uri: REDIRECT,
        state: "dc",
      };
      assert.match(
        (await authorizeRequest(auth, { ...base, scope: "identify", client_id: "1" })).text,
        /Unknown Application/,
      );
      await control(e.url, "config", { provider: "discord", authorize: "approve" });
      assert.equal((await redirected(auth, base)).searchParams.get("error"), "invalid_scope");
      const { verifier, challenge } = pkcePair();
      const req = {
        ...base,
        scope: "identify email",
        code_challenge: challenge,
        code_challenge_method: "S256",
      };
      const creds = { client_id: discord.clientId, client_secret: discord.clientSecret };
      const exchange = (code: string, extra: Record<string, string> = {}) =>
        post(tokenUrl, {
          grant_type: "authorization_code",
          code,
          redirect_uri: REDIRECT,
          ...creds,
          ...extra,
        });
      const tokens = await exchange(await codeFrom(auth, req), { code_verifier: verifier });
      assert.equal(tokens.status, 200);
      assert.equal(tokens.body.expires_in, 604800);
      assert.equal(tokens.body.token_type, "Bearer");
      assert.equal(tokens.body.scope, "identify email");
      assert.equal(
        (await exchange(await codeFrom(auth, req), { code_verifier: "x".repeat(43) })).body.error,
        "invalid_grant",
      );
      const code = await codeFrom(auth, req);
      assert.equal(
        (await exchange(code, { code_verifier: verifier, redirect_uri: "https://x/" })).body.error,
        "invalid_grant",
      );
      assert.equal((await exchange(code, { code_verifier: verifier })).body.error, "invalid_grant");
      const asJson = await fetch(tokenUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          grant_type: "refresh_token",
          refresh_token: tokens.body.refresh_token,
          ...creds,
        }),
      });
      assert.equal(asJson.status, 400, "form bodies only");
      await asJson.body?.cancel();

      // Every refresh rotates; the used refresh token is invalid_grant afterwards.
      const refresh = (token: string) =>
        post(tokenUrl, { grant_type: "refresh_token", refresh_token: token }, {
          authorization: basic(discord.clientId, discord.clientSecret),
        });
      const r1 = await refresh(tokens.body.refresh_token);
      assert.ok(r1.body.refresh_token && r1.body.refresh_token !== tokens.body.refresh_token);
      assert.equal(r1.body.expires_in, 604800);
      const reused = await refresh(tokens.body.refresh_token);
      assert.equal(reused.body.error, "invalid_grant");
      const r2 = await refresh(r1.body.refresh_token);
      assert.equal(r2.status, 200, "reuse kills only the used token");

      const me = await api(`${e.url}/discord/api/v10/users/@me`, r2.body.access_token);
      assert.equal(me.status, 200);
      assert.ok(/^\d{17,19}$/.test(me.body.id));
      assert.equal(me.body.email, "dev@example.com");
      assert.ok(me.body.username && me.body.global_name);
      const noEmail = await control(e.url, "grant", { provider: "discord", scope: "identify" });
      assert.equal((await api(`${e.url}/discord/api/users/@me`, noEmail.access_token)).body.email, undefined);
      const noIdentify = await control(e.url, "grant", { provider: "discord", scope: "email" });
      assert.equal((await api(`${e.url}/discord/api/users/@me`, noIdentify.access_token)).status, 401);

      const revokeUrl = `${tokenUrl}/revoke`;
      assert.equal((await post(revokeUrl, { token: r2.body.access_token, client_id: "nope" })).status, 401);
      const revoked = await post(revokeUrl, {
        token: r2.body.access_token,
        token_type_hint: "access_token",
        ...creds,
      });
      assert.equal(revoked.status, 200);
      assert.equal((await api(`${e.url}/discord/api/users/@me`, r2.body.access_token)).status, 401);
      assert.equal(
        (await refresh(r2.body.refresh_token)).body.error,
        "invalid_grant",
        "the whole authorization",
      );
      assert.equal((await post(revokeUrl, { token: "unknown", ...creds })).status, 200, "RFC 7009 §2.2");
      await control(e.url, "config", { provider: "discord", authorize: "page" });
    });

    await t.step(
      "GitHub: form or JSON answers, 200 errors, rotating refresh tokens, grant deletion",
      async () => {
        const auth = `${e.url}/github/login/oauth/authorize`;
        const tokenUrl = `${e.url}/github/login/oauth/access_token`;
        const base = { client_id: github.clientId, redirect_uri: REDIRECT, state: "gh" };
        const page = await authorizeRequest(auth, { ...base, login: "octo-cat" });
        assert.match(page.text, /Login/);
        assert.match(page.text, /value="octo-cat"/);
        assert.equal((await authorizeRequest(auth, { ...base, client_id: "x" })).status, 404);
        await control(e.url, "config", { provider: "github", authorize: "deny" });
        const denied = await redirected(auth, base);
        assert.equal(denied.searchParams.get("error"), "access_denied");
        assert.ok(denied.searchParams.get("error_description") && denied.searchParams.get("error_uri"));
        await control(e.url, "config", { provider: "github", authorize: "approve" });

        const { verifier, challenge } = pkcePair();
        const req = { ...base, login: "octo-cat", code_challenge: challenge, code_challenge_method: "S256" };
        const creds = { client_id: github.clientId, client_secret: github.clientSecret };
        const asJson = { accept: "application/json" };
        const formAnswer = await post(tokenUrl, {
          ...creds,
          code: await codeFrom(auth, req),
          code_verifier: verifier,
        });
        assert.equal(formAnswer.status, 200);
        assert.match(formAnswer.headers.get("content-type")!, /application\/x-www-form-urlencoded/);
        const tokens = Object.fromEntries(new URLSearchParams(formAnswer.text));
        assert.ok(tokens.access_token.startsWith("ghu_") && tokens.refresh_token.startsWith("ghr_"));
        assert.deepEqual(
          [tokens.expires_in, tokens.refresh_token_expires_in, tokens.scope, tokens.token_type],
          ["28800", "15897600", "", "bearer"],
        );
        const fail = async (form: Record<string, string>) => {
          const r = await post(tokenUrl, form, asJson);
          assert.equal(r.status, 200, "GitHub answers errors with 200");
          assert.ok(r.body.error_description && r.body.error_uri);
          return r.body.error;
        };
        assert.equal(
          await fail({ ...creds, code: await codeFrom(auth, req), code_verifier: pkcePair().verifier }),
          "bad_verification_code",
        );
        const code = await codeFrom(auth, req);
        assert.equal(
          await fail({ ...creds, code, code_verifier: verifier, redirect_uri: `${REDIRECT}/x` }),
          "redirect_uri_mismatch",
        );
        assert.equal(await fail({ ...creds, code, code_verifier: verifier }), "bad_verification_code");
        assert.equal(await fail({ ...creds, client_secret: "nope", code }), "incorrect_client_credentials");

        // Refresh: a new refresh token; the used one and the old access token stop working.
        const refresh = (token: string) =>
          post(tokenUrl, { ...creds, grant_type: "refresh_token", refresh_token: token }, asJson);
        const r1 = await refresh(tokens.refresh_token);
        assert.equal(r1.body.expires_in, 28800);
        assert.ok(r1.body.refresh_token !== tokens.refresh_token);
        assert.equal((await api(`${e.url}/github/api/user`, tokens.access_token)).status, 401);
        assert.equal((await refresh(tokens.refresh_token)).body.error, "bad_refresh_token");
        const user = await api(`${e.url}/github/api/user`, r1.body.access_token, "token");
        assert.equal(user.body.login, "octo-cat");
        assert.equal(typeof user.body.id, "number");
        assert.ok(user.body.name);
        assert.equal(user.body.email, null, "the public email, which the account leaves unset");
        const emails = await api(`${e.url}/github/api/user/emails`, r1.body.access_token);
        assert.deepEqual(emails.body, [
          { email: "octo-cat@example.com", primary: true, verified: true, visibility: "private" },
        ]);
        await control(e.url, "expire", { provider: "github", account: "octo-cat", refresh: true });
        assert.equal(
          (await refresh(r1.body.refresh_token)).body.error,
          "bad_refresh_token",
          "6-month refresh tokens",
        );

        const grantUrl = `${e.url}/github/api/applications/${github.clientId}/grant`;
        const g = await control(e.url, "grant", { provider: "github", account: "mona" });
        const del = (headers: Record<string, string>, body: unknown) =>
          fetch(grantUrl, { method: "DELETE", headers, body: JSON.stringify(body) }).then(async (r) => {
            await r.body?.cancel();
            return r.status;
          });
        const appAuth = { authorization: basic(github.clientId, github.clientSecret) };
        assert.equal(
          await del({ authorization: basic(github.clientId, "nope") }, { access_token: g.access_token }),
          404,
        );
        assert.equal(await del(appAuth, {}), 422);
        assert.equal(await del(appAuth, { access_token: g.access_token }), 204);
        assert.equal((await api(`${e.url}/github/api/user`, g.access_token)).body.message, "Bad credentials");
        assert.equal(await del(appAuth, { access_token: g.access_token }), 404);

        // An OAuth app: lasting tokens, no refresh token, comma-separated scopes.
        await control(e.url, "config", { provider: "github", expiringUserTokens: false });
        const app = await post(tokenUrl, {
          ...creds,
          code: await codeFrom(auth, { ...base, scope: "repo gist" }),
        }, asJson);
        assert.deepEqual(Object.keys(app.body).sort(), ["access_token", "scope", "token_type"]);
        assert.equal(app.body.scope, "repo,gist");
        await control(e.url, "config", { provider: "github", expiringUserTokens: true, authorize: "page" });
      },
    );

    await t.step("control: per-provider faults, grants on their own API only, config, counters", async () => {
      await control(e.url, "faults", { provider: "discord", kind: "503" });
      const faulted = await post(`${e.url}/discord/api/oauth2/token`, { grant_type: "refresh_token" });
      assert.equal(faulted.status, 503);
      const googleOk = await post(`${e.url}/token`, { grant_type: "refresh_token" });
      assert.equal(googleOk.status, 401, "Google's queue was not touched");
      const sp = await control(e.url, "grant", { provider: "spotify" });
      assert.equal((await api(`${e.url}/v1/userinfo`, sp.access_token)).status, 401);
      assert.equal((await api(`${e.url}/github/api/user`, sp.access_token)).status, 401);
      const cal = await api(`${e.url}/calendar/v3/calendars/primary/events`, sp.access_token);
      assert.equal(cal.status, 401, "a Spotify token is no Calendar token");
      const bad = await fetch(`${e.url}/control/config`, { method: "POST", body: '{"provider":"myspace"}' });
      assert.equal(bad.status, 400);
      await bad.body?.cancel();
      const { config } = await control(e.url, "config");
      assert.equal(config.providers.github.clientId, github.clientId);
      assert.equal(config.providers.github.clientSecret, undefined, "secrets only on the Emulator object");
      const c = await control(e.url, "counters");
      assert.equal(c.providers.discord.faultsServed, 1);
      assert.ok(c.providers.google.userinfoCalls >= 3);
      assert.equal(c.providers.discord.reuseDetected, 1);
      assert.equal(c.providers.discord.revocations, 1);
      assert.equal(c.providers.github.revocations, 1);
      assert.equal(c.providers.spotify.revocations, 0);
      const pick = (p: string) => {
        const { codeGrants, refreshGrants, reuseDetected, userinfoCalls } = c.providers[p];
        return [codeGrants, refreshGrants, reuseDetected, userinfoCalls];
      };
      assert.deepEqual(pick("spotify"), [6, 5, 1, 3]);
      assert.deepEqual(pick("discord"), [4, 4, 1, 4]);
      assert.deepEqual(pick("github"), [5, 3, 1, 4]);
      assert.equal(c.tokenCalls, c.providers.google.tokenCalls, "Google's counters stay at the top level");
    });
  } finally {
    await e.close();
  }
});
