// The Google emulator: OAuth token endpoint, revocation, Calendar v3 and a
// control API, on loopback. Used by `make dev` and the tests; real Google is
// used by configuration alone.
//
//   deno run --allow-net emulator/main.ts [--port 54329]
import { calendarEndpoint } from "./calendar.ts";
import { authorizeEndpoint, revokeEndpoint, tokenEndpoint } from "./oauth.ts";
import { type CalendarFaultKind, type EmulatorConfig, EmulatorState, type FaultKind } from "./state.ts";

const FAULTS: FaultKind[] = [
  "500",
  "502",
  "503",
  "429",
  "hang",
  "reset",
  "html",
  "error200",
  "malformed",
  "invalid_grant",
];

const CALENDAR_FAULTS: CalendarFaultKind[] = [
  "scope",
  "forbidden",
  "401",
  "429",
  "500",
  "503",
  "html",
  "empty",
  "reset",
  "hang",
];

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

async function body(req: Request): Promise<Record<string, unknown>> {
  const t = await req.text();
  return t ? JSON.parse(t) : {};
}

/** The control API for tests and `make dev`. */
async function control(s: EmulatorState, req: Request, path: string): Promise<Response> {
  const b = req.method === "POST" ? await body(req) : {};
  switch (path) {
    case "/control/grant": {
      // What Google hands Supabase at sign-in: a new grant for an account.
      const email = String(b.email ?? "dev@example.com");
      const grant = s.createGrant(
        email,
        String(b.scope ?? "openid email https://www.googleapis.com/auth/calendar.events"),
      );
      const at = s.issueAccessToken(grant, Date.now());
      return json(200, {
        access_token: at.token,
        refresh_token: grant.refreshToken,
        expires_in: at.expiresIn,
        scope: grant.scope,
      });
    }
    case "/control/faults": {
      const kind = String(b.kind) as FaultKind;
      if (!FAULTS.includes(kind)) return json(400, { error: `kind must be one of ${FAULTS.join(", ")}` });
      const count = Number(b.count ?? 1);
      s.faults.push({
        kind,
        remaining: count,
        retryAfter: b.retryAfter as number | undefined,
        hangMs: b.hangMs as number | undefined,
      });
      return json(200, { queued: s.faults.length });
    }
    case "/control/calendar-faults": {
      // Calendar API faults, served in order to the next Calendar calls.
      const kind = String(b.kind) as CalendarFaultKind;
      if (!CALENDAR_FAULTS.includes(kind)) {
        return json(400, { error: `kind must be one of ${CALENDAR_FAULTS.join(", ")}` });
      }
      s.calendarFaults.push({
        kind,
        remaining: Number(b.count ?? 1),
        retryAfter: b.retryAfter as number | undefined,
        hangMs: b.hangMs as number | undefined,
        scope: b.scope as string | undefined,
        challenge: b.challenge as boolean | undefined,
      });
      return json(200, { queued: s.calendarFaults.length });
    }
    case "/control/expire": {
      const email = String(b.email ?? "");
      let n = 0;
      for (const a of s.accessTokens.values()) {
        if (a.email === email) {
          a.expiresAt = Date.now() - 1;
          n++;
        }
      }
      return json(200, { expired: n });
    }
    case "/control/revoke": {
      const grants = s.grantsOf(String(b.email ?? ""));
      grants.forEach((g) => s.revokeGrant(g));
      return json(200, { revoked: grants.length });
    }
    case "/control/config": {
      const c: Partial<EmulatorConfig> = {};
      if (b.accessTokenLifetimeSeconds !== undefined) {
        c.accessTokenLifetimeSeconds = Number(b.accessTokenLifetimeSeconds);
      }
      if (b.rotation !== undefined) c.rotation = Boolean(b.rotation);
      if (b.tokenLatencyMs !== undefined) c.tokenLatencyMs = Number(b.tokenLatencyMs);
      Object.assign(s.config, c);
      return json(200, { config: { ...s.config, clientSecret: undefined } });
    }
    case "/control/counters":
      return json(200, {
        ...s.counters,
        faultsPending: s.faults.reduce((n, f) => n + f.remaining, 0),
        calendarFaultsPending: s.calendarFaults.reduce((n, f) => n + f.remaining, 0),
        grants: [...s.grants.values()].map((g) => ({
          email: g.email,
          revoked: g.revoked,
          usedRefreshTokens: g.used.size,
        })),
        calendarTokens: s.calendarTokens.length,
      });
    case "/control/calendar-tokens":
      return json(200, { tokens: s.calendarTokens });
    case "/control/reset": {
      s.counters = EmulatorState.zero();
      s.faults = [];
      s.calendarFaults = [];
      s.calendarTokens = [];
      return json(200, { reset: true });
    }
  }
  return json(404, { error: "unknown control endpoint" });
}

/** Google's APIs answer CORS so browsers can call Calendar directly; so does the emulator. */
const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-headers": "authorization, content-type",
  "access-control-allow-methods": "GET, POST, PATCH, DELETE, OPTIONS",
  "access-control-max-age": "600",
};

export function emulatorHandler(s: EmulatorState): (req: Request) => Promise<Response> {
  const inner = route(s);
  return async (req) => {
    if (req.method === "OPTIONS") return new Response(null, { status: 204, headers: CORS });
    const res = await inner(req);
    const headers = new Headers(res.headers);
    for (const [k, v] of Object.entries(CORS)) headers.set(k, v);
    return new Response(res.body, { status: res.status, headers });
  };
}

function route(s: EmulatorState): (req: Request) => Promise<Response> {
  return async (req) => {
    const path = new URL(req.url).pathname;
    try {
      if (path === "/token") return await tokenEndpoint(s, req);
      if (path === "/revoke") return await revokeEndpoint(s, req);
      if (path === "/o/oauth2/v2/auth") return authorizeEndpoint(s, req);
      if (path.startsWith("/calendar/v3/")) return await calendarEndpoint(s, req, path);
      if (path.startsWith("/control/")) return await control(s, req, path);
      return json(404, { error: "not found" });
    } catch (e) {
      return json(500, { error: e instanceof Error ? e.message : "emulator error" });
    }
  };
}

export interface Emulator {
  url: string;
  state: EmulatorState;
  close(): Promise<void>;
}

export function startEmulator(opts: { port?: number; config?: Partial<EmulatorConfig> } = {}): Emulator {
  const state = new EmulatorState(opts.config);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: opts.port ?? 0, onListen() {} },
    emulatorHandler(state),
  );
  return { url: `http://127.0.0.1:${server.addr.port}`, state, close: () => server.shutdown() };
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--port");
  const port = i >= 0 ? Number(Deno.args[i + 1]) : 54329;
  const e = startEmulator({ port });
  console.log(`Google emulator on ${e.url} (client id ${e.state.config.clientId})`);
}
