// Configuration from the environment only, read once. Missing required
// configuration is a CONFIG error naming the variable: never a silent default.
import { configError } from "./errors.ts";
import type { NamedKey } from "./keys.ts";
import { DEFAULT_RETENTION_DAYS } from "./ops/retention.ts";
import { readWebhookConfig, type WebhookConfig } from "./ops/webhook_config.ts";
import { type ProviderSettings, readProviders } from "./providers.ts";

export interface AppConfig {
  /** The configured providers by connection id (OAUTH_PROVIDERS, or Google alone). */
  providers: Record<string, ProviderSettings>;
  calendarBaseUrl: string;
  /**
   * The connect flow's callback (the redirect_uri registered at every provider):
   * OAUTH_REDIRECT_URL, else `<SUPABASE_URL>/functions/v1/connections/callback`;
   * null: derived from the request (local servers without SUPABASE_URL).
   */
  redirectUrl: string | null;
  /** [{id, key}], the first seals. */
  encryptionKeys: { id: string; key: string }[];
  databaseUrl: string | null;
  /** DATABASE_PREPARE: prepared statements on or off; null: decided by the URL (db.ts). */
  databasePrepare: boolean | null;
  jwtSecret: string | null;
  /**
   * SUPABASE_SERVICE_ROLE_KEY, which Supabase hands every function: the legacy
   * service role key, accepted as itself (compared in constant time) even
   * where no secret verifies it (a project signing with asymmetric keys).
   */
  serviceRoleKey: string | null;
  /**
   * ACCEPT_SERVICE_ROLE_KEY (true): false refuses the legacy service role key
   * in both its forms, for a project that has disabled its legacy keys (its
   * functions may keep SUPABASE_SERVICE_ROLE_KEY as it was).
   */
  acceptServiceRoleKey: boolean;
  jwksUrl: string | null;
  /** An inline key set ({keys: [...]}), as Supabase passes SUPABASE_JWKS to functions. */
  jwks: { keys: Record<string, unknown>[] } | null;
  /**
   * The project's secret API keys (SUPABASE_SECRET_KEYS, or SUPABASE_SECRET_KEY):
   * a service caller presents one in `apikey`.
   */
  secretKeys: NamedKey[];
  /** The `iss` user JWTs must carry: JWT_ISSUER, or `<SUPABASE_URL>/auth/v1` when SUPABASE_URL is set. */
  jwtIssuer: string | null;
  /**
   * OAUTH_CLIENT_IDS: the clients of Supabase's OAuth 2.1 server whose access
   * tokens (they carry `client_id`) may call the functions as their user. Empty:
   * none; such a token is a third-party app's, not the user's own session.
   */
  oauthClientIds: string[];
  /** How long a fetched JWKS is used before it is fetched again (ms). */
  jwksCacheMaxAgeMs: number;
  /** At most one JWKS fetch per this long for an unknown key id (ms). */
  jwksCooldownMs: number;
  /** The Calendar API call timeout (ms). */
  calendarTimeoutMs: number;
  allowedOrigins: string[];
  refreshMarginSeconds: number | null;
  requestTimeoutMs: number | null;
  maxAttempts: number | null;
  leaseMs: number | null;
  /** Refresh events (and delivered webhooks, refresher runs) older than this are deleted (EVENT_RETENTION_DAYS, 30). */
  eventRetentionMs: number;
  /** Standard Webhooks endpoints (WEBHOOK_ENDPOINTS) and their retry schedule. */
  webhooks: WebhookConfig;
}

export const CALENDAR_BASE_URL = "https://www.googleapis.com/calendar/v3";

type Env = (name: string) => string | undefined;

function required(env: Env, name: string, hint: string): string {
  const v = env(name)?.trim();
  if (!v) throw configError(`${name} is not set: ${hint}`);
  return v;
}

function optionalNumber(env: Env, name: string): number | null {
  const v = env(name)?.trim();
  if (!v) return null;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw configError(`${name} must be a non-negative integer`);
  return n;
}

/**
 * EVENT_RETENTION_DAYS: at least 1. Zero would delete every counted event at
 * each pass: the users' event history and admin-health's last day with it.
 */
function retentionDays(env: Env): number {
  const days = optionalNumber(env, "EVENT_RETENTION_DAYS") ?? DEFAULT_RETENTION_DAYS;
  if (days < 1) throw configError("EVENT_RETENTION_DAYS must be at least 1");
  return days;
}

function optionalBoolean(env: Env, name: string): boolean | null {
  const v = env(name)?.trim().toLowerCase();
  if (!v) return null;
  if (v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  throw configError(`${name} must be true or false`);
}

function url(env: Env, name: string, fallback: string): string {
  const v = env(name)?.trim() || fallback;
  if (!/^https?:\/\/[^\s]+$/.test(v)) throw configError(`${name} must be an http(s) URL`);
  return v.replace(/\/+$/, "");
}

/** OAUTH_REDIRECT_URL exactly as registered at the providers, or the function's URL on Supabase. */
function redirectUrl(env: Env, supabaseUrl: string | null): string | null {
  const v = env("OAUTH_REDIRECT_URL")?.trim();
  if (!v) return supabaseUrl ? `${supabaseUrl}/functions/v1/connections/callback` : null;
  if (!/^https?:\/\/[^\s#]+$/.test(v)) {
    throw configError("OAUTH_REDIRECT_URL must be an http(s) URL without a fragment");
  }
  return v;
}

/**
 * TOKEN_ENCRYPTION_KEYS: comma-separated `id:key` pairs, the first seals and
 * every one opens; key = 32 bytes as base64 or 64 hex digits.
 */
function encryptionKeys(env: Env): { id: string; key: string }[] {
  const raw = required(env, "TOKEN_ENCRYPTION_KEYS", "comma-separated id:key pairs (key = 32 bytes base64)");
  return raw.split(",").map((pair, i) => {
    const at = pair.indexOf(":");
    if (at <= 0) throw configError(`TOKEN_ENCRYPTION_KEYS entry ${i + 1} must be id:key`);
    return { id: pair.slice(0, at).trim(), key: pair.slice(at + 1).trim() };
  });
}

/** The URL `supabase start` gives its functions (its API gateway, inside Docker). */
const CLI_INTERNAL_URL = /^http:\/\/kong:8000$/;

/** SUPABASE_JWKS: a JSON Web Key Set, `{"keys": [...]}` (or the bare array of keys). */
function inlineJwks(env: Env): { keys: Record<string, unknown>[] } | null {
  const raw = env("SUPABASE_JWKS")?.trim();
  if (!raw) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw configError('SUPABASE_JWKS is not valid JSON: it must be a key set like {"keys": [...]}');
  }
  const keys = Array.isArray(parsed) ? parsed : (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.some((k) => typeof k !== "object" || k === null)) {
    throw configError('SUPABASE_JWKS must be a key set like {"keys": [...]}');
  }
  return { keys: keys as Record<string, unknown>[] };
}

const SECRET_KEY = /^sb_secret_\S+$/;

/**
 * SUPABASE_SECRET_KEYS, as Supabase passes it to functions: a JSON dictionary
 * of named keys, `{"default": "sb_secret_…", "cron": "sb_secret_…"}`; else
 * SUPABASE_SECRET_KEY, one key (self-hosted). Values are never echoed; a
 * value that is not an `sb_secret_` key (a publishable key pasted by mistake
 * would let any browser in) is refused by its name.
 */
function secretKeys(env: Env): NamedKey[] {
  const raw = env("SUPABASE_SECRET_KEYS")?.trim();
  if (raw) {
    const shape = 'a JSON dictionary like {"default": "sb_secret_…"}';
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw configError(`SUPABASE_SECRET_KEYS is not valid JSON: it must be ${shape}`);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw configError(`SUPABASE_SECRET_KEYS must be ${shape}`);
    }
    return Object.entries(parsed).map(([name, value]) => {
      if (typeof value !== "string" || !SECRET_KEY.test(value)) {
        throw configError(`SUPABASE_SECRET_KEYS["${name.slice(0, 64)}"] is not a secret key (sb_secret_…)`);
      }
      return { name, value };
    });
  }
  const single = env("SUPABASE_SECRET_KEY")?.trim();
  if (!single) return [];
  if (!SECRET_KEY.test(single)) throw configError("SUPABASE_SECRET_KEY is not a secret key (sb_secret_…)");
  return [{ name: "default", value: single }];
}

/**
 * ALLOWED_ORIGINS as origins: an entry written as a URL (a trailing slash, a
 * path, capitals in the host) is its origin, as browsers send it in Origin.
 */
function allowedOrigins(env: Env): string[] {
  return (env("ALLOWED_ORIGINS") ?? "").split(",").map((s) => s.trim()).filter(Boolean).map((o) => {
    if (o === "*") return o;
    let origin: string | undefined;
    try {
      const u = new URL(o);
      if (u.protocol === "http:" || u.protocol === "https:") origin = u.origin;
    } catch { /* below */ }
    if (!origin) {
      throw configError(
        `ALLOWED_ORIGINS: "${o.slice(0, 100)}" is not an origin (https://app.example.com, or *)`,
      );
    }
    return origin;
  });
}

export function readConfig(env: Env = (n) => Deno.env.get(n)): AppConfig {
  const jwtSecret = env("JWT_SECRET")?.trim() || env("SUPABASE_JWT_SECRET")?.trim() || null;
  const supabaseUrl = env("SUPABASE_URL")?.trim().replace(/\/+$/, "") || null;
  const explicitJwksUrl = env("JWKS_URL")?.trim() || env("SUPABASE_JWKS_URL")?.trim() || null;
  let jwks = inlineJwks(env);
  // A key set with no key (a project still on the legacy secret serves an
  // empty one) verifies no one: the URL named beside it, or the secret, or
  // CONFIG, rather than every caller refused as 401.
  if (jwks && !jwks.keys.some((k) => k.kty === "oct" ? typeof k.k === "string" : typeof k.kty === "string")) {
    if (explicitJwksUrl) jwks = null;
    else if (!jwtSecret) {
      throw configError("SUPABASE_JWKS holds no key and JWT_SECRET is not set: callers cannot be verified");
    }
  }
  const jwksUrl = explicitJwksUrl ?? (supabaseUrl ? `${supabaseUrl}/auth/v1/.well-known/jwks.json` : null);
  if (!jwtSecret && !jwksUrl && !jwks) {
    throw configError(
      "JWT_SECRET, SUPABASE_JWKS or JWKS_URL (or SUPABASE_URL) is not set: callers cannot be verified",
    );
  }
  return {
    providers: readProviders(env),
    calendarBaseUrl: url(env, "GOOGLE_CALENDAR_BASE_URL", CALENDAR_BASE_URL),
    redirectUrl: redirectUrl(env, supabaseUrl),
    encryptionKeys: encryptionKeys(env),
    // DATABASE_URL first: on hosted Supabase, SUPABASE_DB_URL is injected (a
    // direct connection) and no SUPABASE_ name can be set, so the transaction
    // pooler's URL (port 6543) can only be given as DATABASE_URL.
    databaseUrl: env("DATABASE_URL")?.trim() || env("SUPABASE_DB_URL")?.trim() || null,
    databasePrepare: optionalBoolean(env, "DATABASE_PREPARE"),
    jwtSecret,
    serviceRoleKey: env("SUPABASE_SERVICE_ROLE_KEY")?.trim() || null,
    acceptServiceRoleKey: optionalBoolean(env, "ACCEPT_SERVICE_ROLE_KEY") ?? true,
    // The inline key set is what Supabase hands the function; the URL is for
    // the rest, and for a key id the inline set lacks.
    jwksUrl,
    jwks,
    secretKeys: secretKeys(env),
    // JWT_ISSUER overrides it where the functions see another URL than the
    // browser. `supabase start` runs them behind http://kong:8000 while its
    // sessions name http://127.0.0.1:54321: there, without JWT_ISSUER, `iss`
    // is not checked (the signature still is, with the project's own keys).
    jwtIssuer: env("JWT_ISSUER")?.trim() ||
      (supabaseUrl && !CLI_INTERNAL_URL.test(supabaseUrl) ? `${supabaseUrl}/auth/v1` : null),
    oauthClientIds: (env("OAUTH_CLIENT_IDS") ?? "").split(",").map((s) => s.trim()).filter(Boolean),
    jwksCacheMaxAgeMs: optionalNumber(env, "JWKS_CACHE_MAX_AGE_MS") ?? 600_000,
    jwksCooldownMs: optionalNumber(env, "JWKS_COOLDOWN_MS") ?? 60_000,
    calendarTimeoutMs: optionalNumber(env, "CALENDAR_TIMEOUT_MS") ?? 15_000,
    allowedOrigins: allowedOrigins(env),
    refreshMarginSeconds: optionalNumber(env, "REFRESH_MARGIN_SECONDS"),
    requestTimeoutMs: optionalNumber(env, "PROVIDER_TIMEOUT_MS"),
    maxAttempts: optionalNumber(env, "PROVIDER_MAX_ATTEMPTS"),
    leaseMs: optionalNumber(env, "REFRESH_LEASE_MS"),
    webhooks: readWebhookConfig(env),
    eventRetentionMs: retentionDays(env) * 86_400_000,
  };
}

let cached: AppConfig | null = null;

/** The configuration, read once per isolate (a failure is re-read next time). */
export function config(): AppConfig {
  cached ??= readConfig();
  return cached;
}

export function resetConfig(): void {
  cached = null;
}
