// The control API for tests and `make dev` (POST bodies are JSON). Every
// endpoint that acts on tokens takes an optional `provider` ("google" when
// absent, so the Google-only callers keep working): grant, faults, expire,
// revoke, config; counters report every provider.
import { MODULES } from "./providers/index.ts";
import {
  AUTHORIZE_MODES,
  type AuthorizeMode,
  type ProviderConfig,
  type ProviderId,
  PROVIDERS,
} from "./config.ts";
import { type CalendarFaultKind, EmulatorState, type FaultKind } from "./state.ts";

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

class BadRequest extends Error {}

async function body(req: Request): Promise<Record<string, unknown>> {
  const t = req.method === "POST" ? await req.text() : "";
  return t ? JSON.parse(t) : {};
}

function providerOf(b: Record<string, unknown>): ProviderId {
  const p = (b.provider ?? "google") as ProviderId;
  if (!PROVIDERS.includes(p)) throw new BadRequest(`provider must be one of ${PROVIDERS.join(", ")}`);
  return p;
}

function authorizeMode(v: unknown): AuthorizeMode {
  if (!AUTHORIZE_MODES.includes(v as AuthorizeMode)) {
    throw new BadRequest(`authorize must be one of ${AUTHORIZE_MODES.join(", ")}`);
  }
  return v as AuthorizeMode;
}

/** The account of a control call: `account` or `email` (a GitHub login is an account too). */
const accountOf = (b: Record<string, unknown>, fallback = "") => String(b.account ?? b.email ?? fallback);

/** A provider's settings from a config body (Google's also tokenLatencyMs, codeLifetimeSeconds). */
function configure(c: ProviderConfig, b: Record<string, unknown>): void {
  for (const k of ["clientId", "clientSecret"] as const) if (b[k] !== undefined) c[k] = String(b[k]);
  for (const k of ["accessTokenLifetimeSeconds", "refreshTokenLifetimeSeconds"] as const) {
    if (b[k] !== undefined) c[k] = Number(b[k]);
  }
  for (const k of ["rotation", "reuseRevokesGrant", "expiringUserTokens"] as const) {
    if (b[k] !== undefined) c[k] = Boolean(b[k]);
  }
  if (b.authorize !== undefined) c.authorize = authorizeMode(b.authorize);
}

/** The configuration without client secrets (read those from the Emulator object). */
function publicConfig(s: EmulatorState) {
  const hide = (c: ProviderConfig) => ({ ...c, clientSecret: undefined });
  const { providers, ...google } = s.config;
  return {
    ...hide(google),
    providers: Object.fromEntries(Object.entries(providers).map(([p, c]) => [p, hide(c)])),
  };
}

const pending = (faults: { remaining: number }[]) => faults.reduce((n, f) => n + f.remaining, 0);

function handle(s: EmulatorState, path: string, b: Record<string, unknown>): Response {
  switch (path) {
    case "/control/grant": {
      // What the provider hands Supabase at sign-in (or a test that skips the consent page): a new grant.
      const p = providerOf(b);
      const m = MODULES[p];
      return json(
        200,
        m.grant(s, accountOf(b, m.authorize.defaultAccount), String(b.scope ?? m.defaultScope)),
      );
    }
    case "/control/faults": {
      const kind = String(b.kind) as FaultKind;
      if (!FAULTS.includes(kind)) return json(400, { error: `kind must be one of ${FAULTS.join(", ")}` });
      const queue = s.faultQueue(providerOf(b));
      queue.push({
        kind,
        remaining: Number(b.count ?? 1),
        retryAfter: b.retryAfter as number | undefined,
        hangMs: b.hangMs as number | undefined,
      });
      return json(200, { queued: queue.length });
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
      // The account's access tokens expire now; with refresh: true its refresh tokens too.
      const p = providerOf(b);
      const account = accountOf(b);
      const now = Date.now();
      let n = 0;
      for (const a of s.accessTokens.values()) {
        if (a.email === account && a.provider === p) {
          a.expiresAt = now - 1;
          n++;
        }
      }
      if (b.refresh === true) { for (const g of s.grantsOf(account, p)) g.refreshExpiresAt = now - 1; }
      return json(200, { expired: n });
    }
    case "/control/revoke": {
      // The account revokes the app's access at the provider (its grants die; tokens answer 401).
      const grants = s.grantsOf(accountOf(b), providerOf(b));
      grants.forEach((g) => s.revokeGrant(g));
      return json(200, { revoked: grants.length });
    }
    case "/control/config": {
      // With a provider: that provider's settings. Without: Google's, as before, and `authorize` for all.
      if (b.provider !== undefined) {
        configure(s.provider(providerOf(b)), b);
      } else {
        const { authorize, ...google } = b;
        configure(s.config, google);
        if (b.tokenLatencyMs !== undefined) s.config.tokenLatencyMs = Number(b.tokenLatencyMs);
        if (b.codeLifetimeSeconds !== undefined) s.config.codeLifetimeSeconds = Number(b.codeLifetimeSeconds);
        if (b.meetStatus !== undefined) {
          if (!["success", "pending", "failure"].includes(String(b.meetStatus))) {
            return json(400, { error: "meetStatus must be success, pending or failure" });
          }
          s.config.meetStatus = b.meetStatus as "success" | "pending" | "failure";
        }
        if (authorize !== undefined) {
          for (const p of PROVIDERS) s.provider(p).authorize = authorizeMode(authorize);
        }
      }
      return json(200, { config: publicConfig(s) });
    }
    case "/control/counters":
      return json(200, {
        ...s.counters,
        faultsPending: pending(s.faults),
        calendarFaultsPending: pending(s.calendarFaults),
        grants: [...s.grants.values()].map((g) => ({
          provider: g.provider,
          email: g.email,
          revoked: g.revoked,
          usedRefreshTokens: g.used.size,
        })),
        calendarTokens: s.calendarTokens.length,
        providers: Object.fromEntries(
          PROVIDERS.map((p) => [p, { ...s.providerCounters[p], faultsPending: pending(s.faultQueue(p)) }]),
        ),
      });
    case "/control/calendar-purge": {
      // Google's eventual purge of cancelled events: gone from reads, their ids still taken.
      let purged = 0;
      for (const cal of s.calendars.values()) {
        for (const e of cal.values()) {
          if (e.status === "cancelled" && !e.purged) (e.purged = true, purged++);
        }
      }
      return json(200, { purged });
    }
    case "/control/calendar-tokens":
      return json(200, { tokens: s.calendarTokens });
    case "/control/reset": {
      s.counters = EmulatorState.zero();
      s.providerCounters = EmulatorState.zeroProviders();
      s.faults = [];
      s.otherFaults = { spotify: [], discord: [], github: [] };
      s.calendarFaults = [];
      s.calendarTokens = [];
      return json(200, { reset: true });
    }
  }
  return json(404, { error: "unknown control endpoint" });
}

export async function control(s: EmulatorState, req: Request, path: string): Promise<Response> {
  try {
    return handle(s, path, await body(req));
  } catch (e) {
    if (e instanceof BadRequest || e instanceof SyntaxError) return json(400, { error: e.message });
    throw e;
  }
}
