// The emulator's state: accounts, grants, tokens, authorization codes,
// calendars, faults and counters of every provider. Plain data, no I/O.
import {
  configWith,
  type EmulatorConfig,
  type EmulatorOptions,
  type OtherProvider,
  type ProviderConfig,
  type ProviderId,
} from "./config.ts";

export interface Grant {
  id: string;
  provider: ProviderId;
  clientId: string;
  /** The account: an email (Google, Spotify, Discord) or a login (GitHub). */
  email: string;
  scope: string;
  /** The refresh token that currently works; "" when none was issued. */
  refreshToken: string;
  /** When the current refresh token stops working (GitHub's refresh_token_expires_in); Infinity: never. */
  refreshExpiresAt: number;
  /** Refresh tokens already used (rotation): presenting one again is reuse. */
  used: Set<string>;
  revoked: boolean;
  /** Created for a public client (PKCE, client_id without a secret): refreshes without a secret. */
  publicClient: boolean;
}

export interface AccessToken {
  grantId: string;
  provider: ProviderId;
  email: string;
  /** Infinity for tokens that never expire (GitHub OAuth app tokens). */
  expiresAt: number;
}

/** An authorization code (RFC 6749 §4.1.2), bound to its client and redirect URI. */
export interface CodeRecord {
  provider: ProviderId;
  clientId: string;
  redirectUri: string;
  scope: string;
  email: string;
  /** RFC 7636: the code challenge and its method, when the request had one. */
  challenge?: string;
  method?: "S256" | "plain";
  expiresAt: number;
  used: boolean;
  /** The grant the code was exchanged for (revoked if the code is presented again). */
  grantId?: string;
  /** Authorization request parameters the token endpoint needs (Google: access_type, prompt, …). */
  params: Record<string, string>;
}

export type FaultKind =
  | "500"
  | "502"
  | "503"
  | "429"
  | "hang"
  | "reset"
  | "html"
  | "error200"
  | "malformed"
  | "invalid_grant";

export interface Fault {
  kind: FaultKind;
  remaining: number;
  retryAfter?: number;
  hangMs?: number;
}

/** Calendar API faults: Google's answers for each, served before the call is looked at. */
export type CalendarFaultKind =
  | "scope"
  | "forbidden"
  | "401"
  | "429"
  | "500"
  | "503"
  | "html"
  | "empty"
  | "reset"
  | "hang";

export interface CalendarFault {
  kind: CalendarFaultKind;
  remaining: number;
  retryAfter?: number;
  hangMs?: number;
  /** scope: the `scope` of the WWW-Authenticate challenge (default: the Calendar scopes). */
  scope?: string;
  /** scope: send the WWW-Authenticate challenge (default true); the body alone says it otherwise. */
  challenge?: boolean;
}

export interface CalendarEvent {
  id: string;
  status: string;
  summary?: string;
  description?: string;
  start?: Record<string, string>;
  end?: Record<string, string>;
  attendees?: { email: string; responseStatus: string }[];
  created: string;
  updated: string;
  htmlLink: string;
  hangoutLink?: string;
  conferenceData?: Record<string, unknown>;
  /** A cancelled event Google has since purged: gone from reads, its id still taken for inserts. */
  purged?: boolean;
}

export interface Counters {
  tokenCalls: number;
  refreshGrants: number;
  codeGrants: number;
  faultsServed: number;
  reuseDetected: number;
  calendarCalls: number;
  calendar401: number;
  /** Calendar calls refused because the token lacks a Calendar scope. */
  calendarScope403: number;
  calendarFaultsServed: number;
  revocations: number;
}

/** Per-provider counters (Google's are also mirrored in the top-level Counters, as before). */
export interface ProviderCounters {
  tokenCalls: number;
  codeGrants: number;
  refreshGrants: number;
  revocations: number;
  reuseDetected: number;
  userinfoCalls: number;
  faultsServed: number;
}

/** Token shapes per provider: access, refresh, code prefixes (GitHub's ghu_/ghr_ from its docs). */
const PREFIX: Record<ProviderId, [string, string, string]> = {
  google: ["ya29.emu-", "1//emu-", "4/emu-"],
  spotify: ["BQemu-", "AQemu-", "AQcode-"],
  discord: ["emu-discord-at-", "emu-discord-rt-", "emu-discord-code-"],
  github: ["ghu_emu", "ghr_emu", "emucode"],
};

export function zeroProviderCounters(): ProviderCounters {
  return {
    tokenCalls: 0,
    codeGrants: 0,
    refreshGrants: 0,
    revocations: 0,
    reuseDetected: 0,
    userinfoCalls: 0,
    faultsServed: 0,
  };
}

export class EmulatorState {
  config: EmulatorConfig;
  grants = new Map<string, Grant>();
  byRefresh = new Map<string, string>();
  accessTokens = new Map<string, AccessToken>();
  codes = new Map<string, CodeRecord>();
  calendars = new Map<string, Map<string, CalendarEvent>>();
  /** Google's token-endpoint faults (the other providers' are in otherFaults). */
  faults: Fault[] = [];
  otherFaults: Record<OtherProvider, Fault[]> = { spotify: [], discord: [], github: [] };
  calendarFaults: CalendarFault[] = [];
  counters: Counters = EmulatorState.zero();
  providerCounters: Record<ProviderId, ProviderCounters> = EmulatorState.zeroProviders();
  /** Access tokens seen on Calendar calls, in order (tests check which token was used). */
  calendarTokens: string[] = [];
  private seq = 0;

  constructor(options: EmulatorOptions = {}) {
    this.config = configWith(options);
  }

  /** A provider's settings: Google's are the top-level config. */
  provider(p: ProviderId): ProviderConfig {
    return p === "google" ? this.config : this.config.providers[p];
  }

  static zeroProviders(): Record<ProviderId, ProviderCounters> {
    return {
      google: zeroProviderCounters(),
      spotify: zeroProviderCounters(),
      discord: zeroProviderCounters(),
      github: zeroProviderCounters(),
    };
  }

  /** Counts for a provider; Google's also go to the top-level counters the existing tests read. */
  count(p: ProviderId, key: keyof ProviderCounters): void {
    this.providerCounters[p][key]++;
    if (p === "google" && key !== "userinfoCalls") this.counters[key]++;
  }

  static zero(): Counters {
    return {
      tokenCalls: 0,
      refreshGrants: 0,
      codeGrants: 0,
      faultsServed: 0,
      reuseDetected: 0,
      calendarCalls: 0,
      calendar401: 0,
      calendarScope403: 0,
      calendarFaultsServed: 0,
      revocations: 0,
    };
  }

  random(prefix: string): string {
    const bytes = crypto.getRandomValues(new Uint8Array(18));
    this.seq++;
    return `${prefix}${this.seq.toString(36)}.${btoa(String.fromCharCode(...bytes)).replace(/[+/=]/g, "")}`;
  }

  /** An access token for the grant; expiresIn 0 means it never expires. */
  issueAccessToken(
    grant: Grant,
    now: number,
    lifetimeSeconds = this.provider(grant.provider).accessTokenLifetimeSeconds,
  ): { token: string; expiresIn: number } {
    const token = this.random(PREFIX[grant.provider][0]);
    this.accessTokens.set(token, {
      grantId: grant.id,
      provider: grant.provider,
      email: grant.email,
      expiresAt: lifetimeSeconds > 0 ? now + lifetimeSeconds * 1000 : Infinity,
    });
    return { token, expiresIn: lifetimeSeconds };
  }

  /** A new grant for an account, as a consent screen would create (Google's client by default). */
  createGrant(
    email: string,
    scope: string,
    o: { provider?: ProviderId; clientId?: string; refresh?: boolean; publicClient?: boolean } = {},
  ): Grant {
    const provider = o.provider ?? "google";
    const grant: Grant = {
      id: this.random("grant-"),
      provider,
      clientId: o.clientId ?? this.provider(provider).clientId,
      email,
      scope,
      refreshToken: "",
      refreshExpiresAt: Infinity,
      used: new Set(),
      revoked: false,
      publicClient: o.publicClient ?? false,
    };
    this.grants.set(grant.id, grant);
    if (o.refresh !== false) this.newRefreshToken(grant, Date.now());
    return grant;
  }

  /** Rotation: the current refresh token becomes used, a new one takes its place. */
  rotate(grant: Grant, now = Date.now()): void {
    grant.used.add(grant.refreshToken);
    this.newRefreshToken(grant, now);
  }

  private newRefreshToken(grant: Grant, now: number): void {
    const lifetime = this.provider(grant.provider).refreshTokenLifetimeSeconds;
    grant.refreshToken = this.random(PREFIX[grant.provider][1]);
    grant.refreshExpiresAt = lifetime > 0 ? now + lifetime * 1000 : Infinity;
    this.byRefresh.set(grant.refreshToken, grant.id);
  }

  newCode(rec: CodeRecord): string {
    const code = this.random(PREFIX[rec.provider][2]);
    this.codes.set(code, rec);
    return code;
  }

  revokeGrant(grant: Grant): void {
    grant.revoked = true;
    this.dropAccessTokens(grant);
  }

  dropAccessTokens(grant: Grant): void {
    for (const [t, a] of this.accessTokens) if (a.grantId === grant.id) this.accessTokens.delete(t);
  }

  grantsOf(email: string, provider: ProviderId = "google"): Grant[] {
    return [...this.grants.values()].filter((g) => g.email === email && g.provider === provider);
  }

  faultQueue(p: ProviderId): Fault[] {
    return p === "google" ? this.faults : this.otherFaults[p];
  }

  takeFault(p: ProviderId = "google"): Fault | null {
    const queue = this.faultQueue(p);
    const f = queue[0];
    if (!f) return null;
    f.remaining--;
    if (f.remaining <= 0) queue.shift();
    this.count(p, "faultsServed");
    return f;
  }

  takeCalendarFault(): CalendarFault | null {
    const f = this.calendarFaults[0];
    if (!f) return null;
    f.remaining--;
    if (f.remaining <= 0) this.calendarFaults.shift();
    this.counters.calendarFaultsServed++;
    return f;
  }

  calendar(email: string): Map<string, CalendarEvent> {
    let c = this.calendars.get(email);
    if (!c) {
      c = new Map();
      this.calendars.set(email, c);
    }
    return c;
  }
}
