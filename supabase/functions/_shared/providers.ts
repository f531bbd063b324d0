// The providers a deployment connects, from the environment:
//
//   OAUTH_PROVIDERS=google,spotify,discord,github,my-idp
//   <ID>_CLIENT_ID, <ID>_CLIENT_SECRET (not with <ID>_CLIENT_AUTH=none)
//   optional <ID>_TEMPLATE, <ID>_TOKEN_URL, <ID>_AUTH_URL, <ID>_REVOCATION_URL,
//   <ID>_REVOCATION, <ID>_USERINFO_URL, <ID>_IDENTITY, <ID>_SCOPES, <ID>_CLIENT_AUTH,
//   <ID>_KEEP_ALIVE_SECONDS (0: off), <ID>_REFRESH_TOKEN_WARNING_SECONDS,
//   <ID>_ISSUER (RFC 9207: the `iss` its authorization responses carry),
//   <ID>_ISSUER_REQUIRED=true (they always carry it: one without is refused),
//   <ID>_ROTATION (reusable | single-use: whether a refresh token may be sent twice)
//
// where <ID> is the id upper-cased with '-' as '_' (my-idp → MY_IDP_CLIENT_ID).
// Without OAUTH_PROVIDERS the deployment is Google-only, configured as before
// (GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET, GOOGLE_TOKEN_URL). Every problem is
// a CONFIG error naming the variable.
import { configError } from "./errors.ts";

type Env = (name: string) => string | undefined;

/** The templates the package has built in (ProviderConfig.template). */
export const TEMPLATES = [
  "google",
  "google-calendar",
  "gmail",
  "youtube",
  "spotify",
  "discord",
  "github",
  "github-app",
  "rfc6749",
];
const CLIENT_AUTH = ["basic", "body", "none", "client_secret_basic", "client_secret_post"];
const REVOCATION = ["rfc7009", "google", "github-grant", "none"];
const IDENTITY = ["oidc", "spotify", "discord", "github"];
const ROTATION = ["reusable", "single-use"];
const ID = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** One provider's entry of the manager's configuration (only what is set). */
export interface ProviderSettings {
  template?: string;
  clientId: string;
  clientSecret?: string;
  tokenUrl?: string;
  authUrl?: string;
  issuer?: string;
  issuerRequired?: boolean;
  rotation?: string;
  revocation?: string;
  revocationUrl?: string;
  userinfoUrl?: string;
  identity?: string;
  scopes?: string[];
  clientAuth?: string;
  keepAliveSeconds?: number;
  refreshTokenWarningSeconds?: number;
  refreshMarginSeconds?: number;
  defaultExpiresInSeconds?: number;
  accessTokensExpire?: boolean;
  authParams?: Record<string, string>;
}

/** The environment prefix of a provider id: my-idp → MY_IDP. */
export const envPrefix = (id: string) => id.toUpperCase().replace(/-/g, "_");

function get(env: Env, name: string): string | undefined {
  return env(name)?.trim() || undefined;
}

function oneOf(env: Env, name: string, allowed: string[]): string | undefined {
  const v = get(env, name);
  if (v !== undefined && !allowed.includes(v)) {
    throw configError(`${name} must be one of ${allowed.join(", ")}`);
  }
  return v;
}

/**
 * An http(s) URL exactly as written: an endpoint is an opaque URI (RFC 6749
 * §3.1, §3.2), whose trailing slash a server may need (django-oauth-toolkit's
 * `/o/token/`: without it, a redirect, which provider calls do not follow);
 * an issuer is compared as a string (RFC 9207 §2.4); GitHub's revocation URL
 * holds `{client_id}`.
 */
function httpUrl(env: Env, name: string): string | undefined {
  const v = get(env, name);
  if (v === undefined) return undefined;
  let ok = false;
  try {
    const u = new URL(v);
    ok = (u.protocol === "http:" || u.protocol === "https:") && !/\s/.test(v);
  } catch { /* not a URL */ }
  if (!ok) throw configError(`${name} must be an http(s) URL`);
  return v;
}

function flag(env: Env, name: string): boolean | undefined {
  const v = oneOf(env, name, ["true", "false"]);
  return v === undefined ? undefined : v === "true";
}

function seconds(env: Env, name: string): number | undefined {
  const v = get(env, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw configError(`${name} must be a whole number of seconds`);
  return n;
}

/** Extra authorization request parameters, written as a query string: `access_type=offline&prompt=consent`. */
function params(env: Env, name: string): Record<string, string> | undefined {
  const v = get(env, name);
  if (v === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const [k, value] of new URLSearchParams(v)) {
    if (!k || Object.hasOwn(out, k)) {
      throw configError(
        `${name} must be a query string of distinct names: a=1&b=2 (an empty value removes a template's)`,
      );
    }
    out[k] = value;
  }
  return out;
}

function provider(env: Env, id: string): ProviderSettings {
  const P = envPrefix(id);
  const template = oneOf(env, `${P}_TEMPLATE`, TEMPLATES);
  const tokenUrl = httpUrl(env, `${P}_TOKEN_URL`);
  const effective = template ?? id;
  if (!TEMPLATES.includes(effective) && !tokenUrl) {
    throw configError(
      `${P}_TOKEN_URL is not set: '${id}' is not a built-in provider (${TEMPLATES.join(", ")}); ` +
        `set ${P}_TOKEN_URL for any RFC 6749 server, or ${P}_TEMPLATE`,
    );
  }
  if (effective === "rfc6749" && !tokenUrl) {
    throw configError(`${P}_TOKEN_URL is not set: the rfc6749 template needs it`);
  }
  const clientAuth = oneOf(env, `${P}_CLIENT_AUTH`, CLIENT_AUTH);
  const clientId = get(env, `${P}_CLIENT_ID`);
  if (!clientId) throw configError(`${P}_CLIENT_ID is not set: the OAuth client id of ${id}`);
  const clientSecret = get(env, `${P}_CLIENT_SECRET`);
  if (!clientSecret && clientAuth !== "none") {
    throw configError(
      `${P}_CLIENT_SECRET is not set: the OAuth client secret of ${id} (or ${P}_CLIENT_AUTH=none)`,
    );
  }
  const scopes = get(env, `${P}_SCOPES`)?.split(/[\s,]+/).filter(Boolean);
  const settings: ProviderSettings = {
    template,
    clientId,
    clientSecret,
    tokenUrl,
    authUrl: httpUrl(env, `${P}_AUTH_URL`),
    issuer: httpUrl(env, `${P}_ISSUER`),
    issuerRequired: flag(env, `${P}_ISSUER_REQUIRED`),
    rotation: oneOf(env, `${P}_ROTATION`, ROTATION),
    revocation: oneOf(env, `${P}_REVOCATION`, REVOCATION),
    revocationUrl: httpUrl(env, `${P}_REVOCATION_URL`),
    userinfoUrl: httpUrl(env, `${P}_USERINFO_URL`),
    identity: oneOf(env, `${P}_IDENTITY`, IDENTITY),
    scopes: scopes?.length ? scopes : undefined,
    clientAuth,
    keepAliveSeconds: seconds(env, `${P}_KEEP_ALIVE_SECONDS`),
    refreshTokenWarningSeconds: seconds(env, `${P}_REFRESH_TOKEN_WARNING_SECONDS`),
    refreshMarginSeconds: seconds(env, `${P}_REFRESH_MARGIN_SECONDS`),
    // The lifetime of a token answered without expires_in (RFC 6749 §5.1 only
    // recommends it; its server "SHOULD document the default value").
    defaultExpiresInSeconds: seconds(env, `${P}_DEFAULT_EXPIRES_IN_SECONDS`),
    accessTokensExpire: flag(env, `${P}_ACCESS_TOKENS_EXPIRE`),
    authParams: params(env, `${P}_AUTH_PARAMS`),
  };
  // Only what is set: the package fills in the rest from the template.
  return Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)) as ProviderSettings;
}

/** OAUTH_PROVIDERS, or Google alone. */
export function readProviders(env: Env): Record<string, ProviderSettings> {
  const raw = get(env, "OAUTH_PROVIDERS");
  const ids = raw ? raw.split(",").map((s) => s.trim()).filter(Boolean) : ["google"];
  if (ids.length === 0) throw configError("OAUTH_PROVIDERS names no provider: e.g. google,spotify");
  const out: Record<string, ProviderSettings> = {};
  const prefixes = new Map<string, string>();
  for (const id of ids) {
    if (!ID.test(id)) {
      throw configError(
        `OAUTH_PROVIDERS: '${id.slice(0, 64)}' must be lower-case letters, digits, '-' or '_'`,
      );
    }
    const other = prefixes.get(envPrefix(id));
    if (other !== undefined) {
      throw configError(
        other === id
          ? `OAUTH_PROVIDERS names '${id}' twice`
          : `OAUTH_PROVIDERS: '${other}' and '${id}' would both be configured by ${envPrefix(id)}_*`,
      );
    }
    prefixes.set(envPrefix(id), id);
    out[id] = provider(env, id);
  }
  return out;
}
