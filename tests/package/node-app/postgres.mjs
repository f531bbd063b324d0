// A Node server as a user writes it against the installed package and a real
// Postgres: the shipped migrations applied, PostgresStore over postgres.js,
// one refresh through TokenManager, then the connect-flow methods of the store
// contract. argv: database URL, token endpoint base. Prints one JSON line.
import { readdir, readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import postgres from "postgres";
import init, { TokenManager } from "oauth-token-manager";
import { PostgresStore } from "oauth-token-manager/stores/postgres";

const [databaseUrl, base] = process.argv.slice(2);
const USER = "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f";

const sql = postgres(databaseUrl, { max: 4, prepare: false, onnotice: () => {} });
// The package's migrations, in name order, found through its exports map.
const migrations = dirname(
  createRequire(import.meta.url).resolve(
    "oauth-token-manager/migrations/20261122000000_oauth_connections.sql",
  ),
);
const applied = (await readdir(migrations)).filter((f) => f.endsWith(".sql")).sort();
for (const f of applied) await sql.unsafe(await readFile(join(migrations, f), "utf8"));

await init();
const store = new PostgresStore(sql);
await store.checkSchema();
const manager = new TokenManager(
  {
    providers: { google: { clientId: "app", clientSecret: "secret", tokenUrl: `${base}/ok` } },
    encryptionKeys: [{ id: "k1", key: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" }],
  },
  store,
);
await manager.storeTokens(USER, "google", { accessToken: "stale", refreshToken: "rt-google", expiresIn: 0 });
const concurrent = await Promise.all([1, 2, 3, 4, 5].map(() => manager.getValidToken(USER, "google")));
const status = await manager.status(USER, "google");
const [row] = await sql`select access_token_sealed, version, lease_owner from public.oauth_connections`;
const events = await sql`select kind from public.oauth_refresh_events order by id`;

// The connect flow's store methods, straight.
const now = Date.now();
const attempt = {
  stateHash: "state-hash-1",
  userId: USER,
  provider: "google",
  verifierSealed: "sealed-verifier",
  redirectUri: "http://127.0.0.1/callback",
  returnTo: "http://127.0.0.1/app",
  scopes: ["openid", "email"],
  createdAt: now,
  expiresAt: now + 600_000,
  codeSealed: null,
  ticketHash: null,
};
await store.putConnect(attempt);
const claims = [
  await store.claimConnect({
    stateHash: "state-hash-1",
    codeSealed: "sealed-code",
    ticketHash: "ticket-1",
    now,
  }),
  await store.claimConnect({ stateHash: "state-hash-1", codeSealed: "other", ticketHash: "ticket-2", now }),
  await store.claimConnect({ stateHash: "unknown", codeSealed: null, ticketHash: null, now }),
];
const taken = await store.takeConnect({ ticketHash: "ticket-1" });
const takenAgain = await store.takeConnect({ ticketHash: "ticket-1" });
const all = await store.loadAll({ userId: USER });
let storageError;
try {
  await new PostgresStore(postgres(databaseUrl.replace(/:\d+\//, ":1/"), { connect_timeout: 2 }))
    .load({ userId: USER, provider: "google" });
} catch (e) {
  storageError = e;
}
await sql.end({ timeout: 2 });

console.log(JSON.stringify({
  migrations: applied,
  tokens: concurrent.map((t) => t.accessToken),
  refreshedCount: concurrent.filter((t) => t.refreshed).length,
  status: status.status,
  sealed: row.access_token_sealed.startsWith("v1.") && !row.access_token_sealed.includes("served"),
  version: Number(row.version),
  leaseOwner: row.lease_owner,
  events: events.map((e) => e.kind),
  claims: claims.map((c) => c.outcome),
  claimedAttempt: claims[0].attempt,
  taken: taken && { ticketHash: taken.ticketHash, codeSealed: taken.codeSealed, scopes: taken.scopes },
  takenAgain,
  loadAll: all.map((r) => [r.provider, r.status, typeof r.expiresAt]),
  storageError: storageError && { code: storageError.code, message: storageError.message.slice(0, 40) },
}));
