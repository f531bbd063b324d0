// Webhook endpoints and delivery settings, from the environment (Standard
// Webhooks: https://www.standardwebhooks.com). Read once with the rest of the
// configuration; a bad value is a CONFIG error naming the variable and the
// entry, never echoing a secret (nor a URL, which can carry one).
//
//   WEBHOOK_ENDPOINTS      JSON array: [{"url": "https://…", "secret": "whsec_…",
//                          "types": ["connection.needs_reauth", …]}]; types is
//                          optional (every type when omitted). secret may be an
//                          array, the current secret first and old ones after it
//                          while receivers rotate: every one signs each message.
//   WEBHOOK_RETRY_SECONDS  comma-separated delays between attempts, after the
//                          first one; a message still undelivered when they are
//                          used up is marked failed. Default: 5,300,1800,7200,
//                          18000,36000,50400,72000,86400 (Standard Webhooks'
//                          example schedule: 5 s to 24 h, about 75 hours in
//                          all, so a receiver down over a weekend loses nothing).
//   WEBHOOK_TIMEOUT_MS     one request's timeout (default 10000).
import { createHash } from "node:crypto";
import { configError } from "../errors.ts";

/** Every message type the outbox trigger writes. */
export const WEBHOOK_TYPES = [
  "connection.connected",
  "connection.recovered",
  "connection.needs_reauth",
  "connection.disconnected",
  "connection.refresh_token_expiring",
] as const;

export type WebhookType = (typeof WEBHOOK_TYPES)[number];

/**
 * Seconds between attempts after the first: Standard Webhooks' example
 * schedule ("spanning multiple days"), 75.6 hours from the first attempt to
 * the last.
 */
export const DEFAULT_RETRY_SECONDS: readonly number[] = [
  5,
  300,
  1800,
  7200,
  18000,
  36000,
  50400,
  72000,
  86400,
];
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 10_000;

export interface WebhookEndpoint {
  /** The first 16 hex digits of SHA-256 of the URL: what delivered_to records, stable across restarts. */
  readonly id: string;
  /** The URL, normalised (new URL(…).href). */
  readonly url: string;
  /** The types it receives; null: every type. */
  readonly types: readonly WebhookType[] | null;
  /**
   * The `whsec_` secrets, the current first; each signs every message. Not
   * enumerable: logging or serialising the configuration does not show them.
   */
  readonly secrets: readonly string[];
}

export interface WebhookConfig {
  /** Empty: no webhooks; the outbox is then drained without requests (see deliverWebhooks). */
  endpoints: WebhookEndpoint[];
  /** Delays (s) before the 2nd, 3rd, … attempt; a message is failed once they are used up. */
  retrySeconds: number[];
  /** One request's timeout (ms). */
  timeoutMs: number;
}

type Env = (name: string) => string | undefined;

const MIN_SECRET_BYTES = 24;
const MAX_SECRETS = 5;
const MAX_DELAY_SECONDS = 30 * 86_400;

/** The endpoint id of a URL: SHA-256, first 16 hex digits. */
export function endpointId(url: string): string {
  return createHash("sha256").update(url).digest("hex").slice(0, 16);
}

/** The decoded key of a `whsec_` secret, or null when it is not one of at least 24 bytes. */
export function secretKeyBytes(secret: string): Uint8Array<ArrayBuffer> | null {
  if (!secret.startsWith("whsec_")) return null;
  const b64 = secret.slice("whsec_".length);
  if (b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return null;
  let raw: string;
  try {
    raw = atob(b64);
  } catch {
    return null;
  }
  if (raw.length < MIN_SECRET_BYTES) return null;
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

function endpoint(entry: unknown, i: number, seen: Set<string>): WebhookEndpoint {
  const at = `WEBHOOK_ENDPOINTS[${i}]`;
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    throw configError(`${at} must be an object like {"url": "https://…", "secret": "whsec_…"}`);
  }
  const e = entry as Record<string, unknown>;
  if (Object.keys(e).some((k) => k !== "url" && k !== "secret" && k !== "types")) {
    throw configError(`${at} has a key other than url, secret and types`);
  }

  let url: URL | null = null;
  if (typeof e.url === "string" && !/\s/.test(e.url.trim())) {
    try {
      url = new URL(e.url.trim());
    } catch {
      url = null;
    }
  }
  if (!url || (url.protocol !== "https:" && url.protocol !== "http:") || !url.hostname) {
    throw configError(`${at}.url must be an http(s) URL`);
  }
  const href = url.href;
  const id = endpointId(href);
  if (seen.has(id)) throw configError(`${at}.url is the URL of an earlier entry`);
  seen.add(id);

  const given = Array.isArray(e.secret) ? e.secret : [e.secret];
  if (given.length === 0 || given.length > MAX_SECRETS) {
    throw configError(`${at}.secret must be a whsec_ secret, or a list of 1 to ${MAX_SECRETS} of them`);
  }
  const secrets = given.map((s, k) => {
    const where = Array.isArray(e.secret) ? `${at}.secret[${k}]` : `${at}.secret`;
    if (typeof s !== "string" || !secretKeyBytes(s.trim())) {
      throw configError(
        `${where} must be whsec_ followed by the base64 of at least ${MIN_SECRET_BYTES} random bytes`,
      );
    }
    return s.trim();
  });

  let types: WebhookType[] | null = null;
  if (e.types !== undefined && e.types !== null) {
    if (!Array.isArray(e.types) || e.types.length === 0) {
      throw configError(`${at}.types must be a non-empty list of types (omit it for every type)`);
    }
    types = e.types.map((t, k) => {
      if (typeof t !== "string" || !(WEBHOOK_TYPES as readonly string[]).includes(t)) {
        throw configError(`${at}.types[${k}] is not one of ${WEBHOOK_TYPES.join(", ")}`);
      }
      return t as WebhookType;
    });
    types = [...new Set(types)];
  }

  const out = { id, url: href, types } as WebhookEndpoint;
  Object.defineProperty(out, "secrets", { value: Object.freeze(secrets), enumerable: false });
  return Object.freeze(out);
}

function endpoints(env: Env): WebhookEndpoint[] {
  const raw = env("WEBHOOK_ENDPOINTS")?.trim();
  if (!raw) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    // JSON.parse's message quotes the input, which holds the secrets.
    throw configError(
      'WEBHOOK_ENDPOINTS is not valid JSON: it must be a list like [{"url": …, "secret": …}]',
    );
  }
  if (!Array.isArray(parsed)) {
    throw configError('WEBHOOK_ENDPOINTS must be a list like [{"url": "https://…", "secret": "whsec_…"}]');
  }
  const seen = new Set<string>();
  return parsed.map((entry, i) => endpoint(entry, i, seen));
}

function retrySeconds(env: Env): number[] {
  const raw = env("WEBHOOK_RETRY_SECONDS")?.trim();
  if (!raw) return [...DEFAULT_RETRY_SECONDS];
  return raw.split(",").map((part, i) => {
    const v = part.trim();
    const n = v === "" ? NaN : Number(v);
    if (!Number.isFinite(n) || n < 0 || n > MAX_DELAY_SECONDS) {
      throw configError(
        `WEBHOOK_RETRY_SECONDS entry ${i + 1} must be a number of seconds from 0 to ${MAX_DELAY_SECONDS}`,
      );
    }
    return n;
  });
}

function timeoutMs(env: Env): number {
  const raw = env("WEBHOOK_TIMEOUT_MS")?.trim();
  if (!raw) return DEFAULT_WEBHOOK_TIMEOUT_MS;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 120_000) {
    throw configError("WEBHOOK_TIMEOUT_MS must be an integer from 1 to 120000");
  }
  return n;
}

/** WEBHOOK_ENDPOINTS, WEBHOOK_RETRY_SECONDS and WEBHOOK_TIMEOUT_MS, validated. */
export function readWebhookConfig(env: Env): WebhookConfig {
  return { endpoints: endpoints(env), retrySeconds: retrySeconds(env), timeoutMs: timeoutMs(env) };
}
