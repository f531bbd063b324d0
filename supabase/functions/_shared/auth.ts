// The caller's Supabase JWT: HS256 with the project's legacy JWT secret, or
// an asymmetric signing key from the project's key set (SUPABASE_JWKS inline,
// or fetched from JWKS_URL / $SUPABASE_URL/auth/v1/.well-known/jwks.json),
// chosen by the token's `alg`. User tokens must be for `authenticated`, from
// the project's issuer (when SUPABASE_URL is known) and name a user id (a
// UUID). `alg: none`, expired, forged and malformed tokens are all 401
// UNAUTHORIZED; a key set that cannot be fetched is 503 AUTH_UNAVAILABLE
// (retryable): the caller is not signed out for our outage.
//
// Service callers (the background refresher, admin calls) present one of the
// project's secret keys (`sb_secret_…`) in `apikey`, or the legacy
// service-role JWT as `Authorization: Bearer` (verifyService).
import {
  createLocalJWKSet,
  decodeProtectedHeader,
  type JWK,
  type JWTPayload,
  jwtVerify,
  type JWTVerifyGetKey,
} from "npm:jose@6.2.17";
import type { AppConfig } from "./env.ts";
import { AppError, configError, unauthorized } from "./errors.ts";
import { constantTimeEqual, type SecretKeys } from "./keys.ts";
import { log } from "./log.ts";

export interface Caller {
  userId: string;
  email: string | null;
  /** A user caller's verified token claims (custom claims included), frozen; absent for service callers. */
  readonly claims?: Readonly<Record<string, unknown>>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ASYMMETRIC = ["RS256", "ES256", "EdDSA"];

const authUnavailable = () =>
  new AppError(
    "AUTH_UNAVAILABLE",
    "The sign-in service could not be reached to verify the session; try again shortly.",
  );

function errCode(e: unknown): string {
  return (e as { code?: unknown })?.code as string ?? "";
}

/** With no key set at all, how often a failing endpoint is tried again (ms). */
const NO_KEYS_RETRY_MS = 1_000;

/**
 * A remote key set, fetched once and cached for `maxAgeMs`. A token whose
 * `kid` is not in the set fetches it again, at most once per `cooldownMs`. A
 * stale set whose refetch fails keeps being used; with no set at all, an
 * unreachable endpoint is AUTH_UNAVAILABLE, and is tried again at most once
 * per NO_KEYS_RETRY_MS (or the cooldown, if shorter).
 */
export class RemoteKeySet {
  private local: JWTVerifyGetKey | null = null;
  private fetchedAt = -Infinity;
  private attemptedAt = -Infinity;
  private inflight: Promise<void> | null = null;

  constructor(
    private readonly url: string,
    private readonly opts: { maxAgeMs: number; cooldownMs: number; timeoutMs?: number },
    private readonly now: () => number = Date.now,
  ) {}

  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    if (!this.local) {
      // Never loaded: while the endpoint is failing, one attempt per pause,
      // not one per request (tokens are free to make up).
      if (this.now() - this.attemptedAt < Math.min(this.opts.cooldownMs, NO_KEYS_RETRY_MS)) {
        throw authUnavailable();
      }
      await this.reload();
    } else if (
      this.now() - this.fetchedAt >= this.opts.maxAgeMs &&
      this.now() - this.attemptedAt >= this.opts.cooldownMs
    ) {
      // Stale: try to refresh it, and keep the keys we have if that fails.
      await this.reload().catch(() => {});
    }
    try {
      return await this.local!(header, token);
    } catch (e) {
      if (errCode(e) !== "ERR_JWKS_NO_MATCHING_KEY") throw e;
      if (this.now() - this.attemptedAt < this.opts.cooldownMs) throw e;
      // An unknown key id: the project may have rotated its keys.
      await this.reload();
      return await this.local!(header, token);
    }
  };

  private reload(): Promise<void> {
    this.inflight ??= (async () => {
      this.attemptedAt = this.now();
      try {
        const res = await fetch(this.url, {
          headers: { accept: "application/json" },
          signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5_000),
        });
        if (!res.ok) {
          await res.body?.cancel();
          throw new Error(`the key set answered HTTP ${res.status}`);
        }
        this.local = createLocalJWKSet(await res.json());
        this.fetchedAt = this.now();
      } catch (e) {
        log("warn", "jwks unavailable", {
          kind: e instanceof Error ? e.name : typeof e,
          detail: e instanceof Error ? e.message.slice(0, 200) : undefined,
        });
        throw authUnavailable();
      }
    })().finally(() => (this.inflight = null));
    return this.inflight;
  }
}

type Claims = { audience?: string; issuer?: string };

/** The bytes of an unpadded base64url string (a JWK's `k`); an invalid one is a CONFIG error. */
function base64urlBytes(v: string): Uint8Array {
  try {
    const b64 = v.replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
  } catch {
    throw configError("SUPABASE_JWKS has an oct key whose k is not base64url");
  }
}

export class JwtVerifier {
  /** HS256 secrets: JWT_SECRET first, then SUPABASE_JWKS's oct keys (by kid where they have one). */
  private readonly secrets: { kid: string | null; key: Uint8Array }[];
  private readonly keys: JWTVerifyGetKey | null;
  private readonly issuer: string | null;
  private readonly oauthClients: ReadonlySet<string>;
  private readonly serviceRoleKey: string | null;
  private readonly acceptServiceRoleKey: boolean;

  constructor(
    cfg: Pick<AppConfig, "jwtSecret" | "jwksUrl"> & Partial<AppConfig>,
  ) {
    // `supabase start` without signing keys signs sessions with HS256 and
    // hands the functions its secret only as an `oct` key in SUPABASE_JWKS;
    // a key set may hold more than one (a shared secret beside the legacy one).
    const oct = (cfg.jwks?.keys ?? []).filter((k) => k.kty === "oct" && typeof k.k === "string");
    this.secrets = [
      ...(cfg.jwtSecret ? [{ kid: null, key: new TextEncoder().encode(cfg.jwtSecret) }] : []),
      ...oct.map((k) => ({
        kid: typeof k.kid === "string" ? k.kid : null,
        key: base64urlBytes(String(k.k)),
      })),
    ];
    this.issuer = cfg.jwtIssuer ?? null;
    this.oauthClients = new Set(cfg.oauthClientIds ?? []);
    this.serviceRoleKey = cfg.serviceRoleKey ?? null;
    this.acceptServiceRoleKey = cfg.acceptServiceRoleKey ?? true;
    const asymmetric = (cfg.jwks?.keys ?? []).filter((k) => k.kty !== "oct");
    let inline: JWTVerifyGetKey | null = null;
    if (asymmetric.length > 0) {
      try {
        inline = createLocalJWKSet({ keys: asymmetric as JWK[] });
      } catch {
        throw configError("SUPABASE_JWKS is not a valid JSON Web Key Set");
      }
    }
    const remote = cfg.jwksUrl
      ? new RemoteKeySet(cfg.jwksUrl, {
        maxAgeMs: cfg.jwksCacheMaxAgeMs ?? 600_000,
        cooldownMs: cfg.jwksCooldownMs ?? 60_000,
      }).getKey
      : null;
    // The inline set first, without a fetch; a key id it lacks, from the
    // published set (at most one fetch per cooldown): the function's
    // SUPABASE_JWKS may predate a key the project has signed with since.
    this.keys = inline && remote
      ? async (header, token) => {
        try {
          return await inline(header, token);
        } catch (e) {
          if (errCode(e) !== "ERR_JWKS_NO_MATCHING_KEY") throw e;
          return await remote(header, token);
        }
      }
      : inline ?? remote;
  }

  /** Verifies the signature (HS256 with the secret, others with the key set) and the claims asked for. */
  private async check(token: string, claims: Claims): Promise<JWTPayload> {
    let alg: string | undefined;
    let kid: string | undefined;
    try {
      ({ alg, kid } = decodeProtectedHeader(token));
    } catch {
      throw unauthorized("invalid access token");
    }
    try {
      if (alg === "HS256") {
        // The secret the token names, else each in turn (a legacy token names none).
        const named = this.secrets.filter((s) => kid !== undefined && s.kid === kid);
        const tried = named.length > 0 ? named : this.secrets;
        if (tried.length === 0) throw unauthorized("invalid access token");
        for (const [i, s] of tried.entries()) {
          try {
            return (await jwtVerify(token, s.key, { algorithms: ["HS256"], ...claims })).payload;
          } catch (e) {
            if (errCode(e) !== "ERR_JWS_SIGNATURE_VERIFICATION_FAILED" || i === tried.length - 1) throw e;
          }
        }
      }
      if (!this.keys || !alg || !ASYMMETRIC.includes(alg)) throw unauthorized("invalid access token");
      return (await jwtVerify(token, this.keys, { algorithms: ASYMMETRIC, ...claims })).payload;
    } catch (e) {
      if (e instanceof AppError) throw e;
      const code = errCode(e);
      if (code === "ERR_JWT_EXPIRED") throw unauthorized("the session has expired: sign in again");
      if (code === "ERR_JWT_CLAIM_VALIDATION_FAILED") {
        const claim = (e as { claim?: string }).claim;
        if (claim === "aud") throw unauthorized("the token is not for signed-in users of this project");
        if (claim === "iss") throw unauthorized("the token was not issued by this project");
      }
      throw unauthorized("invalid access token");
    }
  }

  /**
   * The legacy service role key: the project's own (SUPABASE_SERVICE_ROLE_KEY),
   * or a valid JWT whose role is service_role.
   */
  async verifyServiceRole(token: string): Promise<void> {
    if (!this.acceptServiceRoleKey) {
      throw unauthorized(
        "the legacy service role key is turned off here (ACCEPT_SERVICE_ROLE_KEY=false): send a secret key (sb_secret_…) in apikey",
      );
    }
    if (this.serviceRoleKey && await constantTimeEqual(token, this.serviceRoleKey)) return;
    let role: unknown;
    try {
      // The legacy service role key has neither `aud` nor this issuer.
      role = (await this.check(token, {})).role;
    } catch (e) {
      if (e instanceof AppError && e.code === "AUTH_UNAVAILABLE") throw e;
      throw unauthorized("invalid service role token");
    }
    if (role !== "service_role") {
      throw unauthorized("this function needs a secret key (sb_secret_…) in apikey, or the service role key");
    }
  }

  async verify(req: Request): Promise<Caller> {
    const header = req.headers.get("authorization") ?? "";
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw unauthorized("missing Authorization: Bearer <Supabase access token>");
    const payload = await this.check(match[1], {
      audience: "authenticated",
      ...(this.issuer ? { issuer: this.issuer } : {}),
    });
    if (typeof payload.sub !== "string" || payload.sub.length === 0) {
      throw unauthorized("the token has no subject");
    }
    if (!UUID.test(payload.sub)) throw unauthorized("the token's subject is not a user id");
    // Supabase Auth sets `role` in every token; only a signed-in user's session passes.
    if (payload.role !== "authenticated") throw unauthorized("the token's role may not call this function");
    // An access token from Supabase's OAuth 2.1 server carries the same aud and
    // role, plus the `client_id` of the app it was issued to: that app acts for
    // the user, and its scopes do not limit what these functions hand out.
    if (payload.client_id !== undefined && !this.oauthClients.has(String(payload.client_id))) {
      throw unauthorized("the token was issued to an OAuth client that may not call this function");
    }
    if (payload.exp === undefined) throw unauthorized("the token has no expiry");
    return {
      userId: payload.sub.toLowerCase(),
      email: typeof payload.email === "string" ? payload.email : null,
      claims: Object.freeze({ ...payload }),
    };
  }
}

/** How a service caller proved itself, for the log: the secret key's name, never its value. */
export type ServiceCredential = `secret:${string}` | "service_role_jwt";

const bearerOf = (req: Request) => /^Bearer\s+(\S+)$/i.exec(req.headers.get("authorization") ?? "")?.[1];

/**
 * A service caller: an `sb_secret_…` key in `apikey` that is one of the
 * project's secret keys (compared in constant time), or else the legacy
 * service-role JWT as `Authorization: Bearer`. Publishable keys, user JWTs,
 * unknown keys and an API key sent as a Bearer token are 401 UNAUTHORIZED.
 */
export async function verifyService(
  req: Request,
  keys: SecretKeys,
  jwt: JwtVerifier,
): Promise<ServiceCredential> {
  const apikey = req.headers.get("apikey")?.trim();
  if (apikey?.startsWith("sb_secret_")) {
    const name = await keys.match(apikey);
    if (name !== null) return `secret:${name}`;
  }
  const bearer = bearerOf(req);
  if (bearer?.startsWith("sb_")) {
    throw unauthorized("an API key is not a JWT: send the secret key (sb_secret_…) in the apikey header");
  }
  if (bearer && !apikey?.startsWith("sb_secret_")) {
    await jwt.verifyServiceRole(bearer);
    return "service_role_jwt";
  }
  if (apikey?.startsWith("sb_secret_")) {
    throw unauthorized(
      keys.size === 0
        ? "this function has no secret keys configured (SUPABASE_SECRET_KEYS)"
        : "the apikey is not one of this project's secret keys",
    );
  }
  if (apikey?.startsWith("sb_publishable_")) {
    throw unauthorized("a publishable key cannot run this function: it needs a secret key (sb_secret_…)");
  }
  throw unauthorized("this function needs a secret key (sb_secret_…) in the apikey header");
}
