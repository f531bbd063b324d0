// The stack the edge-function tests run against: a real Postgres 15 in a temp
// directory, the migrations, the Google emulator, and function servers as
// separate processes (each its own isolate and manager), logs captured.
import postgres from "npm:postgres@3.4.9";
import { SignJWT } from "npm:jose@6.2.17";
import { type ProviderId, PROVIDERS } from "../../emulator/config.ts";
import { type Emulator, startEmulator } from "../../emulator/main.ts";
import { providerEnv, providersEnv } from "../../scripts/emulator-env.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
export const JWT_SECRET = "test-jwt-secret-0123456789abcdef0123456789";
export const ORIGIN = "http://localhost:5173";

/** A port nothing listens on (until someone takes it). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function run(cmd: string, args: string[], env?: Record<string, string>): Promise<void> {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

export interface Pg {
  url: string;
  sql: postgres.Sql;
  stop(): Promise<void>;
}

/** `cron`: with pg_cron loaded and `create extension pg_cron` run (scripts/pg.sh, PG_CRON=1). */
export async function startPostgres(o: { cron?: boolean } = {}): Promise<Pg> {
  const dir = await Deno.makeTempDir({ prefix: "otm-pg-" });
  const port = freePort();
  await run(
    "bash",
    [`${ROOT}scripts/pg.sh`, "start", dir, String(port)],
    o.cron ? { PG_CRON: "1" } : undefined,
  );
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const sql = postgres(url, { max: 4, onnotice: () => {} });
  if (o.cron) await sql`create extension pg_cron`;
  await sql.unsafe(await Deno.readTextFile(`${ROOT}tests/functions/supabase_bootstrap.sql`));
  await applyMigrations(sql);
  return {
    url,
    sql,
    async stop() {
      await sql.end({ timeout: 1 });
      await run("bash", [`${ROOT}scripts/pg.sh`, "stop", dir]);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** Runs every migration in supabase/migrations in name order, as `supabase db push` does. */
export async function applyMigrations(sql: postgres.Sql): Promise<string[]> {
  const names = [...Deno.readDirSync(`${ROOT}supabase/migrations`)].map((f) => f.name)
    .filter((n) => n.endsWith(".sql")).sort();
  for (const name of names) {
    await sql.unsafe(await Deno.readTextFile(`${ROOT}supabase/migrations/${name}`));
  }
  return names;
}

/** Adds a function server with other settings to the stack (stopped and leak-checked with it); its index. */
export async function extraServer(s: Stack, env: Record<string, string>, script?: string): Promise<number> {
  s.fns.push(await startFunctions({ ...s.env, ...env }, script));
  return s.fns.length - 1;
}

export function randomKey(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
}

export interface FunctionServer {
  url: string;
  logs: string[];
  child: Deno.ChildProcess;
  stop(): Promise<void>;
}

/** A function server process; `script` serves more than the deployed functions (bench/bare-server.ts). */
export async function startFunctions(
  env: Record<string, string>,
  script = "scripts/functions-server.ts",
): Promise<FunctionServer> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", script, "--port", String(port)],
    cwd: ROOT,
    env: { ...env, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const logs: string[] = [];
  let ready: () => void;
  const listening = new Promise<void>((r) => (ready = r));
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let buf = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      const lines = buf.split("\n");
      buf = lines.pop()!;
      for (const line of lines) {
        logs.push(line);
        if (line.includes("functions listening")) ready();
      }
    }
    if (buf) logs.push(buf);
  };
  const pumps = [pump(child.stdout), pump(child.stderr)];
  const timeout = setTimeout(() => ready(), 20_000);
  await listening;
  clearTimeout(timeout);
  return {
    url: `http://127.0.0.1:${port}/functions/v1`,
    logs,
    child,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      await child.status;
      await Promise.all(pumps);
    },
  };
}

export async function jwt(sub: string, opts: { secret?: string; expiresIn?: string | number } = {}) {
  return await new SignJWT({ role: "authenticated", email: `${sub.slice(0, 8)}@example.com` })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(sub)
    .setAudience("authenticated")
    .setIssuedAt()
    .setExpirationTime(opts.expiresIn ?? "1h")
    .sign(new TextEncoder().encode(opts.secret ?? JWT_SECRET));
}

export interface Stack {
  pg: Pg;
  emu: Emulator;
  env: Record<string, string>;
  fns: FunctionServer[];
  key: string;
  /** Response bodies seen by `call`, for the leak check. */
  bodies: { fn: string; text: string }[];
  call(fn: string, opts?: CallOptions): Promise<CallResult>;
  /** Signs a user in at the emulator and stores the tokens as the browser would. */
  connect(userId: string, email?: string): Promise<void>;
  stop(): Promise<void>;
}

export interface CallOptions {
  method?: string;
  body?: unknown;
  rawBody?: string;
  token?: string | null;
  user?: string;
  origin?: string | null;
  server?: number;
  headers?: Record<string, string>;
}

export interface CallResult {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
}

export async function startStack(
  o: {
    servers?: number;
    env?: Record<string, string>;
    emulator?: Parameters<typeof startEmulator>[0];
    /** OAUTH_PROVIDERS: these emulated providers (default: Google alone, configured as before). */
    providers?: ProviderId[];
    /** A Postgres with pg_cron (see startPostgres). */
    cron?: boolean;
  } = {},
): Promise<Stack> {
  const pg = await startPostgres({ cron: o.cron });
  const emu = startEmulator(o.emulator);
  const key = randomKey();
  const env: Record<string, string> = {
    ...providerEnv(emu, "google"),
    ...(o.providers ? providersEnv(emu, o.providers) : {}),
    GOOGLE_CALENDAR_BASE_URL: `${emu.url}/calendar/v3`,
    TOKEN_ENCRYPTION_KEYS: `k1:${key}`,
    DATABASE_URL: pg.url,
    JWT_SECRET,
    ALLOWED_ORIGINS: `${ORIGIN},http://127.0.0.1:54323`,
    PROVIDER_TIMEOUT_MS: "1500",
    PATH: Deno.env.get("PATH") ?? "",
    HOME: Deno.env.get("HOME") ?? "/root",
    ...o.env,
  };
  const fns = await Promise.all(Array.from({ length: o.servers ?? 1 }, () => startFunctions(env)));
  const bodies: { fn: string; text: string }[] = [];
  const stack: Stack = {
    pg,
    emu,
    env,
    fns,
    key,
    bodies,
    async call(fn, c = {}) {
      const headers: Record<string, string> = { ...(c.headers ?? {}) };
      const token = c.token === undefined ? await jwt(c.user ?? USER) : c.token;
      if (token) headers.authorization = `Bearer ${token}`;
      if (c.origin !== null) headers.origin = c.origin ?? ORIGIN;
      const body = c.rawBody ?? (c.body !== undefined ? JSON.stringify(c.body) : undefined);
      if (body !== undefined) headers["content-type"] = "application/json";
      const res = await fetch(`${fns[c.server ?? 0].url}/${fn}`, {
        method: c.method ?? "POST",
        headers,
        body,
      });
      const text = await res.text();
      bodies.push({ fn, text });
      let json: Record<string, unknown> = {};
      try {
        json = text ? JSON.parse(text) : {};
      } catch { /* not JSON */ }
      return { status: res.status, headers: res.headers, json };
    },
    async connect(userId, email) {
      await pg.sql`insert into auth.users (id, email) values (${userId}, ${
        email ?? null
      }) on conflict do nothing`;
      const res = await fetch(`${emu.url}/control/grant`, {
        method: "POST",
        body: JSON.stringify({ email: email ?? `${userId}@example.com` }),
      });
      const g = await res.json();
      const r = await stack.call("store-google-tokens", {
        user: userId,
        body: {
          providerToken: g.access_token,
          providerRefreshToken: g.refresh_token,
          expiresIn: g.expires_in,
          scope: g.scope,
        },
      });
      if (r.status !== 200) throw new Error(`store-google-tokens: ${r.status} ${JSON.stringify(r.json)}`);
    },
    async stop() {
      await Promise.all(fns.map((f) => f.stop()));
      try {
        assertNoLeaks(stack);
      } finally {
        await emu.close();
        await pg.stop();
      }
    },
  };
  return stack;
}

/**
 * Every stack ends with this check: no refresh token, client secret, JWT
 * secret or encryption key in any log line or response body, and no access
 * token anywhere but the bodies of refresh-google-token and
 * connections/<provider>/token (whose job it is).
 */
export function assertNoLeaks(s: Stack): void {
  const secretList = secrets(s).filter((x) => x && x.length >= 8);
  const access = accessTokens(s);
  for (const f of s.fns) {
    for (const line of f.logs) {
      for (const x of [...secretList, ...access]) {
        if (line.includes(x)) throw new Error(`a log line leaks a secret: ${line.slice(0, 24)}…`);
      }
    }
  }
  for (const b of s.bodies) {
    for (const x of secretList) if (b.text.includes(x)) throw new Error(`${b.fn} leaks a secret in its body`);
    // Handing out access tokens is these functions' job.
    if (b.fn === "refresh-google-token" || /^connections\/[^/]+\/token$/.test(b.fn)) continue;
    for (const x of access) {
      if (b.text.includes(x)) throw new Error(`${b.fn} leaks an access token in its body`);
    }
  }
}

export const USER = "11111111-1111-4111-8111-111111111111";
export const OTHER = "22222222-2222-4222-8222-222222222222";

/** Every token and secret the stack knows, for the leak check. */
export function secrets(s: Stack): string[] {
  const out = [s.key, JWT_SECRET, ...PROVIDERS.map((p) => s.emu.state.provider(p).clientSecret)];
  for (const g of s.emu.state.grants.values()) out.push(g.refreshToken, ...g.used);
  return out;
}

export function accessTokens(s: Stack): string[] {
  return [...s.emu.state.accessTokens.keys(), ...s.emu.state.calendarTokens];
}

export async function control(s: Stack, path: string, body: unknown = {}): Promise<Record<string, unknown>> {
  const res = await fetch(`${s.emu.url}/control/${path}`, { method: "POST", body: JSON.stringify(body) });
  return await res.json();
}

export async function counters(s: Stack): Promise<Record<string, number>> {
  return await (await fetch(`${s.emu.url}/control/counters`)).json();
}
