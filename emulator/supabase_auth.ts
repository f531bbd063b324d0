// A stand-in for Supabase Auth (GoTrue) for the dev stack and the tests,
// covering the endpoints supabase-js calls to sign in with a provider, link
// another, keep the session and sign out, in their documented shapes:
//
//   GET  /auth/v1/authorize?provider&redirect_to&scopes&code_challenge&code_challenge_method&…
//        302 to the provider's authorization page (the emulator's consent page); other query
//        parameters (access_type, prompt, …) are passed on, as GoTrue does
//   GET  /auth/v1/user/identities/authorize?…&skip_http_redirect=true   (Bearer: the user)
//        the same for linkIdentity: 200 {url}, or 302 without skip_http_redirect
//   GET  /auth/v1/callback?code&state | ?error   the provider's redirect: exchanges the code
//        (client auth as the provider wants it), reads the user info, finds or creates the user
//        (a verified email already known links to that user, as automatic linking does) or links
//        the identity; then 302 to redirect_to with ?code= (PKCE) or #access_token=…&provider_token=…
//        &provider_refresh_token=… (implicit), or with ?error=…&error_code=…&error_description=…
//   POST /auth/v1/token?grant_type=pkce            {auth_code, code_verifier} → the session, with
//        provider_token and provider_refresh_token (once: the flow state is deleted)
//   POST /auth/v1/token?grant_type=refresh_token   {refresh_token} → a new session (rotated)
//   GET  /auth/v1/user                             (Bearer) → the user, with identities
//   POST /auth/v1/logout?scope=global|local|others (Bearer) → 204
//   GET  /auth/v1/.well-known/jwks.json            {keys: []}: tokens are HS256 with the JWT secret
//
// Sources: supabase/auth internal/api/external.go (ExternalProviderRedirect, the callback,
// redirectErrors), identity.go (LinkIdentity), token.go (PKCE), tokens/service.go
// (AccessTokenResponse, AsRedirectURL, AccessTokenClaims), models/user.go (app_metadata.provider
// is the user's first identity's provider), errors.go (error bodies by X-Supabase-Api-Version);
// and what supabase-js 2.x (auth-js GoTrueClient) sends and reads.
import { jwtVerify, SignJWT } from "npm:jose@6.2.17";
import { cors, errorBody, errorRedirect, json, redirect } from "./supabase_auth_http.ts";
import { exchange, readUserInfo } from "./supabase_auth_provider.ts";
import {
  type AuthCounters,
  AuthError,
  type AuthStandInOptions,
  type Flow,
  FLOW_SECONDS,
  now,
  randomToken,
  REUSE_INTERVAL_MS,
  s256,
  type Session,
  type User,
} from "./supabase_auth_types.ts";

export type { AuthCounters, AuthProvider, AuthStandInOptions } from "./supabase_auth_types.ts";

export function startAuthStandIn(o: AuthStandInOptions) {
  const issuer = `${o.url.replace(/\/+$/, "")}/auth/v1`;
  const callbackUrl = `${issuer}/callback`;
  const secret = new TextEncoder().encode(o.jwtSecret);
  const lifetime = o.accessTokenSeconds ?? 3600;
  const users = new Map<string, User>();
  const flows = new Map<string, Flow>();
  const sessions = new Map<string, Session>();
  /** Every refresh token ever issued → its session, and when it was replaced. */
  const refreshTokens = new Map<string, { sessionId: string; revokedAt: number | null }>();
  const counters: AuthCounters = {
    authorize: 0,
    linkAuthorize: 0,
    callbacks: 0,
    pkceGrants: 0,
    refreshGrants: 0,
    logouts: 0,
    userCalls: 0,
  };
  for (const u of o.users ?? []) {
    users.set(u.id, {
      id: u.id,
      email: u.email,
      created_at: now(),
      updated_at: now(),
      last_sign_in_at: null,
      user_metadata: {},
      ...(u.appMetadata ? { app_metadata: structuredClone(u.appMetadata) } : {}),
      identities: [],
    });
  }

  const appMetadata = (u: User) => {
    const providers = [...new Set(u.identities.map((i) => i.provider))];
    return { ...u.app_metadata, provider: providers[0] ?? "email", providers };
  };

  /** models.User as JSON. */
  const userJson = (u: User) => ({
    id: u.id,
    aud: "authenticated",
    role: "authenticated",
    email: u.email ?? "",
    email_confirmed_at: u.created_at,
    phone: "",
    confirmed_at: u.created_at,
    last_sign_in_at: u.last_sign_in_at,
    app_metadata: appMetadata(u),
    user_metadata: u.user_metadata,
    identities: u.identities,
    created_at: u.created_at,
    updated_at: u.updated_at,
    is_anonymous: false,
  });

  /** AccessTokenResponse: a new session (or a new refresh token on one) for the user. */
  async function issue(u: User, sessionId: string | null, extra: Record<string, string> = {}) {
    let session = sessionId ? sessions.get(sessionId) : undefined;
    const refresh = randomToken(9);
    if (session) {
      refreshTokens.set(session.current, { sessionId: session.id, revokedAt: Date.now() });
      session.current = refresh;
    } else {
      session = { id: crypto.randomUUID(), userId: u.id, current: refresh };
      sessions.set(session.id, session);
    }
    refreshTokens.set(refresh, { sessionId: session.id, revokedAt: null });
    const iat = Math.floor(Date.now() / 1000);
    const accessToken = await new SignJWT({
      email: u.email ?? "",
      phone: "",
      app_metadata: appMetadata(u),
      user_metadata: u.user_metadata,
      role: "authenticated",
      aal: "aal1",
      amr: [{ method: "oauth", timestamp: iat }],
      session_id: session.id,
      is_anonymous: false,
    })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuer(issuer)
      .setSubject(u.id)
      .setAudience("authenticated")
      .setIssuedAt(iat)
      .setExpirationTime(iat + lifetime)
      .sign(secret);
    return {
      access_token: accessToken,
      token_type: "bearer",
      expires_in: lifetime,
      expires_at: iat + lifetime,
      refresh_token: refresh,
      user: userJson(u),
      ...extra,
    };
  }

  /** The user and session of a Bearer access token (GoTrue's requireAuthentication). */
  async function caller(req: Request): Promise<{ user: User; session: Session }> {
    const token = /^Bearer\s+(\S+)$/i.exec(req.headers.get("authorization") ?? "")?.[1];
    if (!token) throw new AuthError(401, "no_authorization", "This endpoint requires a valid Bearer token");
    let payload;
    try {
      payload = (await jwtVerify(token, secret, { issuer, audience: "authenticated", algorithms: ["HS256"] }))
        .payload;
    } catch (e) {
      const expired = (e as { code?: string }).code === "ERR_JWT_EXPIRED";
      throw new AuthError(
        403,
        "bad_jwt",
        `invalid JWT: unable to parse or verify signature, ${
          expired ? "token has invalid claims: token is expired" : "signature is invalid"
        }`,
      );
    }
    const session = sessions.get(String(payload.session_id));
    const user = users.get(String(payload.sub));
    if (!session || session.userId !== payload.sub) {
      throw new AuthError(403, "session_not_found", "Session from session_id claim in JWT does not exist");
    }
    if (!user) throw new AuthError(403, "user_not_found", "User from sub claim in JWT does not exist");
    return { user, session };
  }

  /** redirect_to when it is allowed (same origin as the site URL, or a listed origin), else the site URL. */
  function referrer(redirectTo: string | null): string {
    if (redirectTo) {
      try {
        const origin = new URL(redirectTo).origin;
        if (origin === new URL(o.siteUrl).origin || (o.redirectOrigins ?? []).includes(origin)) {
          return redirectTo;
        }
      } catch { /* not a URL */ }
    }
    return o.siteUrl;
  }

  /** GetExternalProviderRedirectURL: a flow state, and the provider's authorization URL with it as `state`. */
  function providerRedirect(q: URLSearchParams, linkUserId: string | null): string {
    const provider = q.get("provider") ?? "";
    const p = Object.hasOwn(o.providers, provider) ? o.providers[provider] : undefined;
    if (!p) {
      throw new AuthError(
        400,
        "validation_failed",
        `Unsupported provider: provider ${provider} could not be found`,
      );
    }
    const challenge = q.get("code_challenge");
    const rawMethod = q.get("code_challenge_method")?.toLowerCase() ?? null;
    if ((challenge === null) !== (rawMethod === null)) {
      throw new AuthError(
        400,
        "validation_failed",
        "PKCE flow requires code_challenge_method and code_challenge",
      );
    }
    if (rawMethod !== null && rawMethod !== "s256" && rawMethod !== "plain") {
      throw new AuthError(400, "validation_failed", "code challenge method not supported");
    }
    const flow: Flow = {
      id: crypto.randomUUID(),
      provider,
      redirectTo: referrer(q.get("redirect_to")),
      challenge,
      method: rawMethod as Flow["method"],
      linkUserId,
      expiresAt: Date.now() + FLOW_SECONDS * 1000,
    };
    flows.set(flow.id, flow);
    const asked = (q.get("scopes") ?? "").split(/[\s,]+/).filter(Boolean);
    const url = new URL(p.authUrl);
    url.searchParams.set("client_id", p.clientId);
    url.searchParams.set("redirect_uri", callbackUrl);
    url.searchParams.set("response_type", "code");
    url.searchParams.set("scope", [...new Set([...p.scopes, ...asked])].join(" "));
    url.searchParams.set("state", flow.id);
    const reserved = new Set([
      "provider",
      "scopes",
      "client_id",
      "client_secret",
      "redirect_uri",
      "response_type",
      "state",
      "code_challenge",
      "code_challenge_method",
      "code_verifier",
    ]);
    for (const [k, v] of q) if (!reserved.has(k.toLowerCase())) url.searchParams.set(k, v);
    return url.toString();
  }

  async function newUser(email: string | null, metadata: Record<string, unknown>): Promise<User> {
    const u: User = {
      id: crypto.randomUUID(),
      email,
      created_at: now(),
      updated_at: now(),
      last_sign_in_at: null,
      user_metadata: metadata,
      identities: [],
    };
    users.set(u.id, u);
    await o.onUser?.({ id: u.id, email });
    return u;
  }

  /** createAccountFromExternalIdentity / linkIdentityToUser: the user these provider tokens sign in (or link) to. */
  async function userFor(flow: Flow, who: ReturnType<typeof readUserInfo>): Promise<User> {
    const data: Record<string, unknown> = {
      iss: o.providers[flow.provider].userinfoUrl,
      sub: who.sub,
      provider_id: who.sub,
      ...(who.email ? { email: who.email, email_verified: who.verified } : {}),
      ...(who.name ? { name: who.name, full_name: who.name } : {}),
      ...(who.picture ? { picture: who.picture, avatar_url: who.picture } : {}),
      ...("userName" in who && who.userName
        ? { user_name: who.userName, preferred_username: who.userName }
        : {}),
      phone_verified: false,
    };
    const owner = [...users.values()].find((u) =>
      u.identities.some((i) => i.provider === flow.provider && i.id === who.sub)
    );
    let user: User;
    if (flow.linkUserId) {
      if (owner) {
        throw new AuthError(
          422,
          "identity_already_exists",
          owner.id === flow.linkUserId
            ? "Identity is already linked"
            : "Identity is already linked to another user",
        );
      }
      const target = users.get(flow.linkUserId);
      if (!target) throw new AuthError(404, "user_not_found", "User not found");
      user = target;
    } else if (owner) {
      user = owner;
    } else {
      // Automatic linking: a verified email that a user already has.
      const byEmail = who.email && who.verified
        ? [...users.values()].find((u) => u.email?.toLowerCase() === who.email!.toLowerCase())
        : undefined;
      user = byEmail ?? await newUser(who.email ?? null, data);
    }
    const existing = user.identities.find((i) => i.provider === flow.provider && i.id === who.sub);
    if (existing) {
      // As Supabase Auth does (internal/api/external.go, an existing account):
      // the identity's data and updated_at move; last_sign_in_at stays the
      // time the identity was created.
      existing.identity_data = data;
      existing.updated_at = now();
    } else {
      user.identities.push({
        identity_id: crypto.randomUUID(),
        id: who.sub,
        user_id: user.id,
        identity_data: data,
        provider: flow.provider,
        email: who.email ?? null,
        last_sign_in_at: now(),
        created_at: now(),
        updated_at: now(),
      });
    }
    if (!user.email && who.email) user.email = who.email;
    user.last_sign_in_at = now();
    user.updated_at = now();
    return user;
  }

  /** The provider came back: PKCE → ?code=; implicit → #access_token=…; errors in query and fragment. */
  async function callback(req: Request): Promise<Response> {
    counters.callbacks++;
    const q = new URL(req.url).searchParams;
    const flow = flows.get(q.get("state") ?? "");
    if (!flow || flow.expiresAt < Date.now()) {
      return errorRedirect(
        o.siteUrl,
        new AuthError(400, "bad_oauth_state", "OAuth callback with invalid state"),
      );
    }
    try {
      if (q.get("error")) {
        throw Object.assign(new AuthError(400, "", q.get("error_description") ?? "access denied"), {
          oauth: q.get("error")!,
        });
      }
      const code = q.get("code");
      if (!code) {
        throw new AuthError(
          400,
          "bad_oauth_callback",
          "OAuth callback with missing authorization code missing",
        );
      }
      const got = await exchange(o.providers[flow.provider], code, callbackUrl);
      const user = await userFor(flow, got.who);
      const to = new URL(flow.redirectTo);
      if (flow.challenge) {
        flow.authCode = crypto.randomUUID();
        flow.userId = user.id;
        flow.providerToken = got.accessToken;
        flow.providerRefreshToken = got.refreshToken;
        to.searchParams.set("code", flow.authCode);
        return redirect(to.toString());
      }
      flows.delete(flow.id);
      const s = await issue(user, null);
      const hash = new URLSearchParams({ provider_token: got.accessToken });
      if (got.refreshToken) hash.set("provider_refresh_token", got.refreshToken);
      hash.set("access_token", s.access_token);
      hash.set("token_type", s.token_type);
      hash.set("expires_in", String(s.expires_in));
      hash.set("expires_at", String(s.expires_at));
      hash.set("refresh_token", s.refresh_token);
      hash.set("sb", "");
      hash.sort();
      return redirect(`${to.toString().split("#")[0]}#${hash}`);
    } catch (e) {
      if (!(e instanceof AuthError)) throw e;
      flows.delete(flow.id);
      return errorRedirect(flow.redirectTo, e);
    }
  }

  async function token(req: Request, grant: string | null): Promise<Response> {
    const body = await req.json().catch(() => ({})) as Record<string, unknown>;
    if (grant === "pkce") {
      counters.pkceGrants++;
      const authCode = typeof body.auth_code === "string" ? body.auth_code : "";
      const verifier = typeof body.code_verifier === "string" ? body.code_verifier : "";
      if (!authCode || !verifier) {
        throw new AuthError(
          400,
          "validation_failed",
          "invalid request: both auth code and code verifier should be non-empty",
        );
      }
      const flow = [...flows.values()].find((f) => f.authCode === authCode);
      if (!flow || !flow.userId) {
        throw new AuthError(404, "flow_state_not_found", "invalid flow state, no valid flow state found");
      }
      if (flow.expiresAt < Date.now()) {
        throw new AuthError(422, "flow_state_expired", "invalid flow state, flow state has expired");
      }
      const ok = flow.method === "plain"
        ? verifier === flow.challenge
        : await s256(verifier) === flow.challenge;
      if (!ok) {
        throw new AuthError(
          400,
          "bad_code_verifier",
          "code challenge does not match previously saved code verifier",
        );
      }
      flows.delete(flow.id);
      const extra: Record<string, string> = {};
      if (flow.providerToken) extra.provider_token = flow.providerToken;
      if (flow.providerRefreshToken) extra.provider_refresh_token = flow.providerRefreshToken;
      return json(200, await issue(users.get(flow.userId)!, null, extra));
    }
    if (grant === "refresh_token") {
      counters.refreshGrants++;
      const rt = typeof body.refresh_token === "string" ? body.refresh_token : "";
      const known = refreshTokens.get(rt);
      const session = known ? sessions.get(known.sessionId) : undefined;
      if (!known || !session) {
        throw new AuthError(400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found");
      }
      if (known.revokedAt !== null && Date.now() - known.revokedAt > REUSE_INTERVAL_MS) {
        throw new AuthError(400, "refresh_token_already_used", "Invalid Refresh Token: Already Used");
      }
      return json(200, await issue(users.get(session.userId)!, session.id));
    }
    throw new AuthError(400, "invalid_credentials", "unsupported_grant_type");
  }
  async function route(req: Request, path: string): Promise<Response> {
    const q = new URL(req.url).searchParams;
    // Browser navigations: open routes at the gateway.
    if (req.method === "GET" && path === "/authorize") {
      counters.authorize++;
      return redirect(providerRedirect(q, null));
    }
    if (req.method === "GET" && path === "/callback") return await callback(req);
    if (req.method === "GET" && path === "/.well-known/jwks.json") return json(200, { keys: [] });
    // The API: the gateway wants an API key.
    const apikey = req.headers.get("apikey");
    if (!apikey) {
      return json(401, {
        message: "No API key found in request",
        hint: "No `apikey` request header or url param was found.",
      });
    }
    if (!o.apiKeys.includes(apikey)) {
      return json(401, {
        message: "Invalid API key",
        hint: "Double check your Supabase `anon` or `service_role` API key.",
      });
    }
    if (req.method === "POST" && path === "/token") return await token(req, q.get("grant_type"));
    if (req.method === "GET" && path === "/user") {
      counters.userCalls++;
      return json(200, userJson((await caller(req)).user));
    }
    if (req.method === "GET" && path === "/user/identities/authorize") {
      counters.linkAuthorize++;
      const { user } = await caller(req);
      const url = providerRedirect(q, user.id);
      return q.get("skip_http_redirect") === "true" ? json(200, { url }) : redirect(url);
    }
    if (req.method === "POST" && path === "/logout") {
      counters.logouts++;
      const { user, session } = await caller(req);
      const scope = q.get("scope") ?? "global";
      for (const s of [...sessions.values()]) {
        const hit = scope === "local"
          ? s.id === session.id
          : scope === "others"
          ? s.userId === user.id && s.id !== session.id
          : s.userId === user.id;
        if (hit) sessions.delete(s.id);
      }
      return new Response(null, { status: 204 });
    }
    throw new AuthError(404, "not_found", "Not found");
  }

  async function handler(req: Request): Promise<Response> {
    const headers = cors(req);
    if (req.method === "OPTIONS") return new Response(null, { status: 204, headers });
    const m = /\/auth\/v1(\/.*)?$/.exec(new URL(req.url).pathname);
    let res: Response;
    try {
      res = await route(req, m?.[1] ?? "/");
    } catch (e) {
      if (!(e instanceof AuthError)) throw e;
      res = errorBody(req, e);
    }
    const out = new Headers(res.headers);
    for (const [k, v] of Object.entries(headers)) out.set(k, v);
    return new Response(res.body, { status: res.status, headers: out });
  }

  return {
    url: o.url,
    issuer,
    callbackUrl,
    handler,
    counters,
    /** The users, with their identities (for tests). */
    users: () => [...users.values()].map(userJson),
    /** How many sessions are alive (for tests: sign-out ends one). */
    sessionCount: () => sessions.size,
  };
}

export type AuthStandIn = ReturnType<typeof startAuthStandIn>;
