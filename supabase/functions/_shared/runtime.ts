// One runtime per isolate: configuration, the wasm manager, the Postgres
// store and the schema check, built on first use. A failed start is retried
// on the next request rather than cached forever; a database that cannot be
// reached at start is STORAGE (503, retryable), like any other store failure.
import { TokenManager } from "./pkg/index.js";
import type { ManagerConfig } from "./pkg/oauth_token_manager.js";
import { JwtVerifier } from "./auth.ts";
import { Cors } from "./cors.ts";
import { connectPostgres, type Db } from "./db.ts";
import { type AppConfig, config } from "./env.ts";
import { configError } from "./errors.ts";
import { SecretKeys } from "./keys.ts";
import { hashUser, log } from "./log.ts";
import { checkSchema } from "./schema.ts";
import { PostgresStore } from "./store.ts";
import { loadWasm } from "./wasm.ts";

export { loadWasm };

export interface Runtime {
  cfg: AppConfig;
  db: Db;
  manager: TokenManager;
  jwt: JwtVerifier;
  /** The project's secret API keys, for service callers. */
  secretKeys: SecretKeys;
  cors: Cors;
}

export interface RuntimeOverrides {
  cfg?: AppConfig;
  db?: Db;
}

/**
 * The manager's fetch. Deno, like browsers, refuses a GET or HEAD with a body,
 * even an empty one, and the package's transport passes `body: ""` with its
 * user-info GETs: the empty body is dropped. (Redundant once the package
 * omits empty bodies.)
 */
export async function buildRuntime(o: RuntimeOverrides = {}): Promise<Runtime> {
  const cfg = o.cfg ?? config();
  if (o.db) return await startOn(cfg, o.db);
  if (!cfg.databaseUrl) throw configError("DATABASE_URL or SUPABASE_DB_URL is not set");
  const db = connectPostgres(cfg.databaseUrl, 4, cfg.databasePrepare);
  try {
    return await startOn(cfg, db);
  } catch (e) {
    // A failed start is retried on the next request: no pool left behind.
    await db.close().catch(() => {});
    throw e;
  }
}

async function startOn(cfg: AppConfig, db: Db): Promise<Runtime> {
  // The schema check's statement opens the first connection: a TCP (and TLS)
  // handshake, Postgres starting a backend and authenticating, most of it
  // waiting. The wasm is loaded and the manager built meanwhile, off the
  // request's critical path. A schema problem is still the one reported when
  // both fail (awaited first in either case).
  const schema = checkSchema(db);
  schema.catch(() => {}); // awaited below; not an unhandled rejection while the wasm loads
  let manager: TokenManager;
  try {
    await loadWasm();
    manager = buildManager(cfg, db);
  } catch (e) {
    await schema;
    throw e;
  }
  await schema;
  return { cfg, db, manager, ...verifiers(cfg), cors: new Cors(cfg.allowedOrigins) };
}

let verifying: { cfg: AppConfig; jwt: JwtVerifier; secretKeys: SecretKeys } | null = null;

/**
 * The caller checks, from the configuration alone (no database): serve()
 * checks the caller before it starts the runtime. One per isolate and
 * configuration, so the remote key set's cache is shared.
 */
export function verifiers(cfg: AppConfig = config()): { jwt: JwtVerifier; secretKeys: SecretKeys } {
  if (verifying?.cfg !== cfg) {
    verifying = { cfg, jwt: new JwtVerifier(cfg), secretKeys: new SecretKeys(cfg.secretKeys) };
  }
  return { jwt: verifying.jwt, secretKeys: verifying.secretKeys };
}

function buildManager(cfg: AppConfig, db: Db): TokenManager {
  return new TokenManager(
    {
      providers: cfg.providers as ManagerConfig["providers"],
      encryptionKeys: cfg.encryptionKeys,
      ...(cfg.refreshMarginSeconds !== null ? { refreshMarginSeconds: cfg.refreshMarginSeconds } : {}),
      ...(cfg.requestTimeoutMs !== null ? { requestTimeoutMs: cfg.requestTimeoutMs } : {}),
      ...(cfg.maxAttempts !== null ? { maxAttempts: cfg.maxAttempts } : {}),
      ...(cfg.leaseMs !== null ? { leaseMs: cfg.leaseMs } : {}),
    },
    new PostgresStore(db),
    {
      onEvent: (e) => {
        // Events never carry tokens; the user id is hashed before logging.
        void hashUser(e.userId).then((user) =>
          log(e.kind === "refreshed" || e.kind === "stored" ? "info" : "warn", "token event", {
            kind: e.kind,
            provider: e.provider,
            user,
            code: e.code,
            attempts: e.attempts,
            durationMs: e.durationMs,
            rotated: e.rotated,
            instance: e.instance,
          })
        );
      },
    },
  );
}

let current: Promise<Runtime> | null = null;

export function runtime(): Promise<Runtime> {
  current ??= buildRuntime().catch((e) => {
    current = null;
    throw e;
  });
  return current;
}

/** Tests and the dev server inject a runtime. */
export function setRuntime(r: Promise<Runtime> | null): void {
  current = r;
}
