// readConfig with an environment function: providers by configuration, the
// Google-only configuration of before, and every mistake named by its variable.
import assert from "node:assert/strict";
import { readConfig } from "../../supabase/functions/_shared/env.ts";
import { AppError } from "../../supabase/functions/_shared/errors.ts";
import { loadWasm } from "../../supabase/functions/_shared/wasm.ts";
import { TokenManager } from "../../supabase/functions/_shared/pkg/index.js";

const BASE: Record<string, string> = {
  TOKEN_ENCRYPTION_KEYS: "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
  JWT_SECRET: "secret",
};
const GOOGLE = { GOOGLE_CLIENT_ID: "g-id", GOOGLE_CLIENT_SECRET: "g-secret" };

const read = (vars: Record<string, string>) => readConfig((n) => ({ ...BASE, ...vars })[n]);

/** readConfig refuses the environment with CONFIG, the message matching `pattern`. */
function refuses(vars: Record<string, string>, pattern: RegExp) {
  assert.throws(() => read(vars), (e: unknown) => {
    assert.ok(e instanceof AppError);
    assert.equal(e.code, "CONFIG");
    assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("env: without OAUTH_PROVIDERS, Google alone as before", () => {
  // An endpoint's trailing slash is kept: a server may need it (django-oauth-toolkit's /o/token/).
  const cfg = read({ ...GOOGLE, GOOGLE_TOKEN_URL: "http://127.0.0.1:9/token/" });
  assert.deepEqual(cfg.providers, {
    google: { clientId: "g-id", clientSecret: "g-secret", tokenUrl: "http://127.0.0.1:9/token/" },
  });
  assert.equal(cfg.calendarBaseUrl, "https://www.googleapis.com/calendar/v3");
  assert.equal(read({ ...GOOGLE, GOOGLE_CALENDAR_BASE_URL: "http://e/c/" }).calendarBaseUrl, "http://e/c");
  refuses({ GOOGLE_CLIENT_SECRET: "s" }, /^GOOGLE_CLIENT_ID is not set/);
  refuses({ GOOGLE_CLIENT_ID: "i" }, /^GOOGLE_CLIENT_SECRET is not set/);
  refuses({ ...GOOGLE, GOOGLE_TOKEN_URL: "ftp://x" }, /^GOOGLE_TOKEN_URL must be an http\(s\) URL/);
});

Deno.test("env: OAUTH_PROVIDERS with per-provider variables", async () => {
  const cfg = read({
    OAUTH_PROVIDERS: " google, spotify ,github,my-idp,gmail",
    ...GOOGLE,
    SPOTIFY_CLIENT_ID: "s-id",
    SPOTIFY_CLIENT_SECRET: "s-secret",
    SPOTIFY_SCOPES: "user-read-email  playlist-read-private",
    GITHUB_CLIENT_ID: "gh-id",
    GITHUB_CLIENT_SECRET: "gh-secret",
    GITHUB_REVOCATION_URL: "http://127.0.0.1:1/github/api/applications/{client_id}/grant",
    GITHUB_TEMPLATE: "github-app",
    MY_IDP_CLIENT_ID: "m-id",
    MY_IDP_CLIENT_AUTH: "none",
    MY_IDP_TOKEN_URL: "https://idp.example/oauth/token",
    MY_IDP_AUTH_URL: "https://idp.example/oauth/authorize",
    MY_IDP_ISSUER: "https://idp.example/",
    MY_IDP_ISSUER_REQUIRED: "true",
    MY_IDP_ROTATION: "single-use",
    MY_IDP_USERINFO_URL: "https://idp.example/userinfo",
    MY_IDP_REVOCATION_URL: "https://idp.example/oauth/revoke",
    MY_IDP_SCOPES: "openid,email profile",
    MY_IDP_DEFAULT_EXPIRES_IN_SECONDS: "7200",
    MY_IDP_ACCESS_TOKENS_EXPIRE: "true",
    MY_IDP_REFRESH_MARGIN_SECONDS: "120",
    MY_IDP_AUTH_PARAMS: "prompt=consent&audience=https%3A%2F%2Fapi.example&access_type=",
    GMAIL_CLIENT_ID: "gm-id",
    GMAIL_CLIENT_SECRET: "gm-secret",
  });
  assert.deepEqual(Object.keys(cfg.providers), ["google", "spotify", "github", "my-idp", "gmail"]);
  assert.deepEqual(cfg.providers.spotify, {
    clientId: "s-id",
    clientSecret: "s-secret",
    scopes: ["user-read-email", "playlist-read-private"],
  });
  assert.deepEqual(cfg.providers.github, {
    template: "github-app",
    clientId: "gh-id",
    clientSecret: "gh-secret",
    revocationUrl: "http://127.0.0.1:1/github/api/applications/{client_id}/grant",
  });
  assert.deepEqual(cfg.providers["my-idp"], {
    clientId: "m-id",
    clientAuth: "none",
    tokenUrl: "https://idp.example/oauth/token",
    authUrl: "https://idp.example/oauth/authorize",
    // As written: an issuer is compared as a string (RFC 9207), its slash included.
    issuer: "https://idp.example/",
    issuerRequired: true,
    rotation: "single-use",
    userinfoUrl: "https://idp.example/userinfo",
    revocationUrl: "https://idp.example/oauth/revoke",
    scopes: ["openid", "email", "profile"],
    // A server that answers without expires_in (RFC 6749 §5.1 only recommends it).
    defaultExpiresInSeconds: 7200,
    accessTokensExpire: true,
    refreshMarginSeconds: 120,
    authParams: { prompt: "consent", audience: "https://api.example", access_type: "" },
  });
  assert.deepEqual(cfg.providers.gmail, { clientId: "gm-id", clientSecret: "gm-secret" });
  // The package takes every one of them: unknown fields would be CONFIG.
  await loadWasm();
  const m = new TokenManager(
    { providers: cfg.providers, encryptionKeys: cfg.encryptionKeys } as ConstructorParameters<
      typeof TokenManager
    >[0],
    // A store none of whose methods is called here.
    new Proxy({}, { get: () => () => Promise.reject(new Error("not called")) }) as ConstructorParameters<
      typeof TokenManager
    >[1],
  );
  m.free();
});

Deno.test("env: every provider mistake names its variable", () => {
  const spotify = { OAUTH_PROVIDERS: "spotify", SPOTIFY_CLIENT_ID: "i", SPOTIFY_CLIENT_SECRET: "s" };
  refuses({ ...spotify, SPOTIFY_CLIENT_SECRET: "" }, /^SPOTIFY_CLIENT_SECRET is not set/);
  refuses({ ...spotify, SPOTIFY_CLIENT_ID: " " }, /^SPOTIFY_CLIENT_ID is not set/);
  refuses({ ...spotify, SPOTIFY_AUTH_URL: "accounts.spotify.com/authorize" }, /^SPOTIFY_AUTH_URL must be/);
  refuses({ ...spotify, SPOTIFY_TOKEN_URL: "javascript:alert(1)" }, /^SPOTIFY_TOKEN_URL must be/);
  refuses({ ...spotify, SPOTIFY_USERINFO_URL: "http://a b" }, /^SPOTIFY_USERINFO_URL must be/);
  refuses({ ...spotify, SPOTIFY_REVOCATION_URL: "nope" }, /^SPOTIFY_REVOCATION_URL must be/);
  refuses({ ...spotify, SPOTIFY_ISSUER: "accounts.spotify.com" }, /^SPOTIFY_ISSUER must be/);
  refuses(
    { ...spotify, SPOTIFY_ISSUER_REQUIRED: "yes" },
    /^SPOTIFY_ISSUER_REQUIRED must be one of true, false/,
  );
  refuses(
    { ...spotify, SPOTIFY_ROTATION: "sometimes" },
    /^SPOTIFY_ROTATION must be one of reusable, single-use/,
  );
  refuses(
    { ...spotify, SPOTIFY_CLIENT_AUTH: "jwt" },
    /^SPOTIFY_CLIENT_AUTH must be one of basic, body, none/,
  );
  refuses({ ...spotify, SPOTIFY_TEMPLATE: "myspace" }, /^SPOTIFY_TEMPLATE must be one of google, /);
  refuses({ ...spotify, SPOTIFY_REVOCATION: "always" }, /^SPOTIFY_REVOCATION must be one of rfc7009/);
  refuses({ ...spotify, SPOTIFY_IDENTITY: "ldap" }, /^SPOTIFY_IDENTITY must be one of oidc/);
  // An id that is not a built-in needs a token URL (or a template).
  refuses(
    { OAUTH_PROVIDERS: "my-idp", MY_IDP_CLIENT_ID: "i", MY_IDP_CLIENT_SECRET: "s" },
    /^MY_IDP_TOKEN_URL is not set: 'my-idp' is not a built-in provider/,
  );
  refuses(
    { OAUTH_PROVIDERS: "acme", ACME_TEMPLATE: "rfc6749", ACME_CLIENT_ID: "i", ACME_CLIENT_SECRET: "s" },
    /^ACME_TOKEN_URL is not set: the rfc6749 template needs it/,
  );
  const viaTemplate = read({
    OAUTH_PROVIDERS: "work-calendar",
    WORK_CALENDAR_TEMPLATE: "google-calendar",
    WORK_CALENDAR_CLIENT_ID: "i",
    WORK_CALENDAR_CLIENT_SECRET: "s",
  });
  assert.equal(viaTemplate.providers["work-calendar"].template, "google-calendar");
  refuses({ OAUTH_PROVIDERS: "Spotify" }, /^OAUTH_PROVIDERS: 'Spotify' must be lower-case/);
  refuses({ ...spotify, OAUTH_PROVIDERS: "spotify,spotify" }, /^OAUTH_PROVIDERS names 'spotify' twice/);
  refuses(
    {
      OAUTH_PROVIDERS: "my-idp,my_idp",
      MY_IDP_CLIENT_ID: "i",
      MY_IDP_CLIENT_SECRET: "s",
      MY_IDP_TOKEN_URL: "http://x/t",
    },
    /'my-idp' and 'my_idp' would both be configured by MY_IDP_\*/,
  );
  refuses({ OAUTH_PROVIDERS: " , " }, /^OAUTH_PROVIDERS names no provider/);
});

Deno.test("env: the connect callback's redirect URI", () => {
  assert.equal(read(GOOGLE).redirectUrl, null);
  assert.equal(
    read({ ...GOOGLE, SUPABASE_URL: "https://ref.supabase.co/" }).redirectUrl,
    "https://ref.supabase.co/functions/v1/connections/callback",
  );
  assert.equal(
    read({
      ...GOOGLE,
      SUPABASE_URL: "https://ref.supabase.co",
      OAUTH_REDIRECT_URL: "https://app.example/cb/",
    })
      .redirectUrl,
    "https://app.example/cb/",
  );
  refuses({ ...GOOGLE, OAUTH_REDIRECT_URL: "https://app.example/cb#x" }, /^OAUTH_REDIRECT_URL must be/);
});

Deno.test("env: DATABASE_PREPARE is true, false or unset (decided by the URL)", () => {
  assert.equal(read(GOOGLE).databasePrepare, null);
  assert.equal(read({ ...GOOGLE, DATABASE_PREPARE: "false" }).databasePrepare, false);
  assert.equal(read({ ...GOOGLE, DATABASE_PREPARE: " TRUE " }).databasePrepare, true);
  assert.equal(read({ ...GOOGLE, DATABASE_PREPARE: "0" }).databasePrepare, false);
  refuses({ ...GOOGLE, DATABASE_PREPARE: "sometimes" }, /^DATABASE_PREPARE must be true or false/);
});

Deno.test("EVENT_RETENTION_DAYS: at least a day (0 would delete every counted event at each pass)", () => {
  refuses({ ...GOOGLE, EVENT_RETENTION_DAYS: "0" }, /^EVENT_RETENTION_DAYS must be at least 1/);
  assert.equal(read({ ...GOOGLE, EVENT_RETENTION_DAYS: "1" }).eventRetentionMs, 86_400_000);
});

Deno.test("env: a SUPABASE_JWKS with no key verifies no one: JWKS_URL beside it, JWT_SECRET, or CONFIG", () => {
  const empty = { SUPABASE_JWKS: '{"keys":[]}', SUPABASE_URL: "https://abc.supabase.co" };
  refuses({ ...GOOGLE, ...empty, JWT_SECRET: "" }, /^SUPABASE_JWKS holds no key and JWT_SECRET is not set/);
  const url = read({ ...GOOGLE, ...empty, JWT_SECRET: "", JWKS_URL: "https://keys.example/jwks.json" });
  assert.equal(url.jwks, null);
  assert.equal(url.jwksUrl, "https://keys.example/jwks.json");
  const secret = read({ ...GOOGLE, ...empty });
  assert.equal(secret.jwtSecret, "secret");
  // A set with a key is used as it is, the URL aside.
  const rsa = { kty: "RSA", n: "AQAB", e: "AQAB", kid: "a" };
  assert.deepEqual(read({ ...GOOGLE, SUPABASE_JWKS: JSON.stringify({ keys: [rsa] }) }).jwks, { keys: [rsa] });
});

Deno.test("env: ALLOWED_ORIGINS entries are origins, as browsers send them", () => {
  assert.deepEqual(
    read({ ...GOOGLE, ALLOWED_ORIGINS: "https://Your.App/, http://localhost:5173/app , *" }).allowedOrigins,
    ["https://your.app", "http://localhost:5173", "*"],
  );
  refuses({ ...GOOGLE, ALLOWED_ORIGINS: "your.app" }, /^ALLOWED_ORIGINS: "your.app" is not an origin/);
  refuses({ ...GOOGLE, ALLOWED_ORIGINS: "ftp://files.example" }, /^ALLOWED_ORIGINS: .* is not an origin/);
});

Deno.test("env: DATABASE_URL wins over SUPABASE_DB_URL (hosted Supabase injects the latter, a direct connection)", () => {
  const pooler = "postgres://postgres.ref:pw@aws-0-eu.pooler.supabase.com:6543/postgres";
  const direct = "postgresql://postgres:pw@db.ref.supabase.co:5432/postgres";
  assert.equal(read({ ...GOOGLE, SUPABASE_DB_URL: direct, DATABASE_URL: pooler }).databaseUrl, pooler);
  assert.equal(read({ ...GOOGLE, SUPABASE_DB_URL: direct }).databaseUrl, direct);
});
