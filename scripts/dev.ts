// make dev: the whole stack on loopback, one command.
//   Postgres  embedded PGlite in .dev/pgdata (or DATABASE_URL if set)
//   Providers the emulator on :54329 (Google, Spotify, Discord, GitHub)
//   Supabase  http://127.0.0.1:54321: the Auth stand-in at /auth/v1 (emulator/supabase_auth.ts)
//             and every edge function at /functions/v1/<name> (the paths `supabase functions serve` uses)
//   Web       www/ on :54323 (the package through an import map, supabase-js's browser build)
// Ctrl-C stops everything.
import { SignJWT } from "npm:jose@6.2.17";
import { startEmulator } from "../emulator/main.ts";
import { startAuthStandIn } from "../emulator/supabase_auth.ts";
import { loopbackOnly } from "../emulator/loopback.ts";
import { authProviders, providersEnv } from "./emulator-env.ts";
import { connectPostgres, type Db, fromPglite } from "../supabase/functions/_shared/db.ts";
import { buildRuntime, setRuntime } from "../supabase/functions/_shared/runtime.ts";
import { functionsHandler } from "./functions-server.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const DEV = Deno.env.get("OTM_DEV_DIR") ?? `${ROOT}.dev`;
const port = (name: string, fallback: number) => Number(Deno.env.get(name) ?? fallback);
const PORTS = {
  functions: port("OTM_FUNCTIONS_PORT", 54321),
  web: port("OTM_WEB_PORT", 54323),
  emulator: port("OTM_EMULATOR_PORT", 54329),
};
const DEV_USER = "0000000d-e000-4000-8000-000000000001";
const DEV_EMAIL = "dev@example.com";
/** A second user, to try a shared browser: sign out one, sign in the other. */
const DEV_USER2 = "0000000d-e000-4000-8000-000000000002";
const DEV_EMAIL2 = "dev2@example.com";
/** An administrator (www/admin.html): app_metadata.role = "admin", the claim ADMIN_CLAIM names in dev. */
const DEV_ADMIN = "0000000d-e000-4000-8000-0000000000ad";
const DEV_ADMIN_EMAIL = "admin@example.com";
const ADMIN_METADATA = { role: "admin" };
const say = (s: string) => console.log(`[dev] ${s}`);

await Deno.mkdir(DEV, { recursive: true });

/** A busy port is a plain message naming the variable that moves it, not a stack trace. */
function serveOn<T>(what: string, variable: string, port: number, start: () => T): T {
  try {
    return start();
  } catch (e) {
    if (e instanceof Deno.errors.AddrInUse) {
      console.error(`[dev] port ${port} (${what}) is in use: stop what holds it, or set ${variable}=<port>`);
      Deno.exit(1);
    }
    throw e;
  }
}

interface DevSecrets {
  jwtSecret: string;
  key: string;
  /** The project's API keys, in Supabase's new formats. */
  publishableKey: string;
  secretKey: string;
}

/** Secrets for the dev stack, made once and kept so .dev/pgdata stays readable. */
async function devSecrets(): Promise<DevSecrets> {
  const path = `${DEV}/secrets.json`;
  const rand = (n: number) => btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(n))));
  const apiKey = (kind: string) => `sb_${kind}_${rand(24).replace(/[^A-Za-z0-9]/g, "").slice(0, 30)}`;
  let s: Partial<DevSecrets> = {};
  try {
    s = JSON.parse(await Deno.readTextFile(path));
  } catch { /* first start */ }
  if (s.jwtSecret && s.key && s.publishableKey && s.secretKey) return s as DevSecrets;
  const made: DevSecrets = {
    jwtSecret: s.jwtSecret ?? rand(32),
    key: s.key ?? rand(32),
    publishableKey: s.publishableKey ?? apiKey("publishable"),
    secretKey: s.secretKey ?? apiKey("secret"),
  };
  await Deno.writeTextFile(path, JSON.stringify(made), { mode: 0o600 });
  return made;
}

async function migrate(exec: (sql: string) => Promise<unknown>) {
  await exec(await Deno.readTextFile(`${ROOT}tests/functions/supabase_bootstrap.sql`));
  const files = [...Deno.readDirSync(`${ROOT}supabase/migrations`)].map((f) => f.name).filter((n) =>
    n.endsWith(".sql")
  );
  for (const f of files.sort()) {
    await exec(await Deno.readTextFile(`${ROOT}supabase/migrations/${f}`));
    say(`migration applied: ${f}`);
  }
}

const secrets = await devSecrets();
const emulator = serveOn(
  "Google emulator",
  "OTM_EMULATOR_PORT",
  PORTS.emulator,
  () => startEmulator({ port: PORTS.emulator }),
);
say(`Google emulator on ${emulator.url}`);

let db: Db;
let closeDb: () => Promise<void>;
const url = Deno.env.get("DATABASE_URL");
if (url) {
  db = connectPostgres(url);
  closeDb = () => db.close();
  await migrate((sql) => db.query(sql));
  say(`Postgres at DATABASE_URL`);
} else {
  say("starting embedded Postgres (PGlite) in .dev/pgdata …");
  const { PGlite } = await import("npm:@electric-sql/pglite@0.5.16");
  const pg = new PGlite(`${DEV}/pgdata`);
  await pg.waitReady;
  await migrate((sql) => pg.exec(sql));
  db = fromPglite(pg);
  closeDb = () => pg.close();
}
for (const [id, email] of [[DEV_USER, DEV_EMAIL], [DEV_USER2, DEV_EMAIL2], [DEV_ADMIN, DEV_ADMIN_EMAIL]]) {
  await db.query(`insert into auth.users (id, email) values ($1::uuid, $2) on conflict do nothing`, [
    id,
    email,
  ]);
}

// Every provider the emulator plays, configured the way a deployment would be.
const DEV_PROVIDERS = ["google", "spotify", "discord", "github"] as const;
const SUPABASE_URL = `http://127.0.0.1:${PORTS.functions}`;
const WEB = `http://127.0.0.1:${PORTS.web}`;

// Supabase Auth, stood in for: sign-in and linking with the emulated providers, with the
// functions' clients (as a project's Auth providers must be), and users in auth.users.
const auth = startAuthStandIn({
  url: SUPABASE_URL,
  jwtSecret: secrets.jwtSecret,
  apiKeys: [secrets.publishableKey, secrets.secretKey],
  siteUrl: `${WEB}/`,
  redirectOrigins: [`http://localhost:${PORTS.web}`],
  providers: authProviders(emulator, [...DEV_PROVIDERS]),
  users: [
    { id: DEV_USER, email: DEV_EMAIL },
    { id: DEV_USER2, email: DEV_EMAIL2 },
    { id: DEV_ADMIN, email: DEV_ADMIN_EMAIL, appMetadata: ADMIN_METADATA },
  ],
  onUser: async (u) => {
    await db.query(`insert into auth.users (id, email) values ($1::uuid, $2) on conflict do nothing`, [
      u.id,
      u.email,
    ]);
  },
});

const env: Record<string, string> = {
  ...providersEnv(emulator, [...DEV_PROVIDERS]),
  GOOGLE_CALENDAR_BASE_URL: `${emulator.url}/calendar/v3`,
  TOKEN_ENCRYPTION_KEYS: `dev:${secrets.key}`,
  JWT_SECRET: secrets.jwtSecret,
  // As on Supabase: user JWTs come from this project's Auth, service callers bring a secret key.
  JWT_ISSUER: auth.issuer,
  SUPABASE_SECRET_KEYS: JSON.stringify({ default: secrets.secretKey }),
  ALLOWED_ORIGINS: `${WEB},http://localhost:${PORTS.web}`,
  // Who may open www/admin.html: the claim Supabase Auth puts in the admin's tokens.
  ADMIN_CLAIM: "app_metadata.role=admin",
};
for (const [k, v] of Object.entries(env)) if (!Deno.env.get(k)) Deno.env.set(k, v);
const rt = buildRuntime({ db });
setRuntime(rt);
/** The lease the code derives (from the provider timeout, attempts and backoff), not a restated number. */
const leaseSeconds = (await rt).manager.leaseMs / 1000;

/** One origin, as a Supabase project has: Auth at /auth/v1, the functions at /functions/v1. */
const functions = Deno.serve(
  { hostname: "127.0.0.1", port: PORTS.functions, onListen() {} },
  loopbackOnly((req) =>
    new URL(req.url).pathname.startsWith("/auth/v1/") ? auth.handler(req) : functionsHandler(req)
  ),
);

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript",
  mjs: "text/javascript",
  css: "text/css",
  wasm: "application/wasm",
  json: "application/json",
  map: "application/json",
  ts: "text/plain",
  svg: "image/svg+xml",
  png: "image/png",
};
const devJwtFor = (sub: string, email: string, claims: Record<string, unknown> = {}) =>
  new SignJWT({ ...claims, role: "authenticated", email })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(sub)
    .setAudience("authenticated")
    .setIssuer(auth.issuer)
    .setIssuedAt()
    .setExpirationTime("7d")
    .sign(new TextEncoder().encode(secrets.jwtSecret));
const devJwt = await devJwtFor(DEV_USER, DEV_EMAIL);
const devJwt2 = await devJwtFor(DEV_USER2, DEV_EMAIL2);
const devAdminJwt = await devJwtFor(DEV_ADMIN, DEV_ADMIN_EMAIL, { app_metadata: ADMIN_METADATA });

const fn = `http://127.0.0.1:${PORTS.functions}/functions/v1`;
const adminClaim = Deno.env.get("ADMIN_CLAIM");
/** What the page needs to find the stack: the project (supabase-js), its functions, and the dev shortcuts. */
const pageConfig = {
  supabaseUrl: SUPABASE_URL,
  supabasePublishableKey: secrets.publishableKey,
  functionsUrl: fn,
  calendarBaseUrl: `${emulator.url}/calendar/v3`,
  emulatorUrl: emulator.url,
  devJwt,
  devEmail: DEV_EMAIL,
  devJwt2,
  devAdminJwt,
  /** Each provider's own "who am I" API, called from the page through the client's fetch. */
  whoAmI: {
    google: `${emulator.url}/v1/userinfo`,
    spotify: `${emulator.url}/spotify/v1/me`,
    discord: `${emulator.url}/discord/api/users/@me`,
    github: `${emulator.url}/github/api/user`,
  },
};

/** The node_modules files www/index.html names (supabase-js's browser build): served read-only, nothing else. */
async function namedModules(): Promise<Set<string>> {
  const html = await Deno.readTextFile(`${ROOT}www/index.html`);
  return new Set([...html.matchAll(/"(\/node_modules\/[^"?#]+)"/g)].map((m) => m[1]));
}
const servedModules = await namedModules();

const web = serveOn(
  "web",
  "OTM_WEB_PORT",
  PORTS.web,
  () =>
    Deno.serve(
      { hostname: "127.0.0.1", port: PORTS.web, onListen() {} },
      loopbackOnly(async (req) => {
        let path = decodeURIComponent(new URL(req.url).pathname);
        if (path === "/config.json") {
          return Response.json(pageConfig, { headers: { "cache-control": "no-store" } });
        }
        if (path.endsWith("/")) path += "index.html";
        if (path.includes("..")) return new Response("bad path", { status: 400 });
        // www/, the package it imports, and the npm files it names.
        const fromRoot = path.startsWith("/pkg/") || servedModules.has(path);
        const file = fromRoot ? `${ROOT}${path.slice(1)}` : `${ROOT}www${path}`;
        try {
          const body = await Deno.readFile(file);
          const type = TYPES[file.split(".").pop() ?? ""] ?? "application/octet-stream";
          // Not to be framed by another page (clickjacking the connect,
          // disconnect and cancel buttons): deploy the pages with the same headers.
          return new Response(body, {
            headers: {
              "content-type": type,
              "cache-control": "no-store",
              "x-frame-options": "DENY",
              "content-security-policy": "frame-ancestors 'none'",
            },
          });
        } catch {
          return new Response("not found", { status: 404 });
        }
      }),
    ),
);

console.log(`
  oauth-token-manager dev stack is up

  Web client         ${WEB}/   (sign in with Google through supabase-js)
  Admin health       ${WEB}/admin.html   (sign in as ${DEV_ADMIN_EMAIL}; ADMIN_CLAIM=${adminClaim})
  Supabase Auth      ${auth.issuer}   (a stand-in: sign-in and linking with the emulated providers)
  Edge functions     ${fn}/<name>
                     store-google-tokens, get-token-status, refresh-google-token,
                     create-google-meet, update-google-meet, cancel-google-meet,
                     refresh-expiring-tokens (a secret key in apikey),
                     connections[/<provider>/connect|token|store|disconnect, /callback, /complete],
                     metrics (Prometheus, a secret key in apikey), admin-health (the admin claim)
  Provider emulator  ${emulator.url}   (control API: /control/faults, /control/expire, /control/counters …)
  Database           ${url ? "DATABASE_URL" : "PGlite in .dev/pgdata"}
  Refresh lease      ${leaseSeconds} s (derived from PROVIDER_TIMEOUT_MS × PROVIDER_MAX_ATTEMPTS + backoff; REFRESH_LEASE_MS sets it)

  API keys           publishable ${secrets.publishableKey}
                     secret      ${secrets.secretKey}
  Dev users          ${DEV_USER} (${DEV_EMAIL}), ${DEV_USER2} (${DEV_EMAIL2}),
                     ${DEV_ADMIN} (${DEV_ADMIN_EMAIL}, app_metadata.role = admin)
  Dev JWT (7 days)   ${devJwt}

  Connect the dev user's Google account through the emulator (as Supabase sign-in would):

    make dev-connect

  Run the background refresher as Supabase Cron would:

    curl -s -X POST ${fn}/refresh-expiring-tokens -H "apikey: ${secrets.secretKey}" \\
      -H 'content-type: application/json' -d '{"withinSeconds": 900}'

  Scrape the metrics as Prometheus would:

    curl -s ${fn}/metrics -H "apikey: ${secrets.secretKey}"

  Then create a Meet:

    curl -s ${fn}/create-google-meet -H "Authorization: Bearer ${devJwt}" \\
      -H 'content-type: application/json' \\
      -d '{"requestId":"demo-1","summary":"Demo","start":"2030-01-01T10:00:00Z","end":"2030-01-01T10:30:00Z"}'

  Ctrl-C stops everything.
`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  say("stopping …");
  await Promise.allSettled([functions.shutdown(), web.shutdown(), emulator.close()]);
  await closeDb().catch(() => {});
  Deno.exit(0);
}
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
