// The emulator's state: Google accounts, grants, tokens, calendars, faults
// and counters. Plain data, no I/O.

export interface Grant {
  id: string;
  email: string;
  scope: string;
  /** The refresh token that currently works. */
  refreshToken: string;
  /** Refresh tokens already used (rotation mode): presenting one again revokes the grant. */
  used: Set<string>;
  revoked: boolean;
}

export interface AccessToken {
  grantId: string;
  email: string;
  expiresAt: number;
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

export interface EmulatorConfig {
  clientId: string;
  clientSecret: string;
  accessTokenLifetimeSeconds: number;
  rotation: boolean;
  /** Extra latency on every token call, ms. */
  tokenLatencyMs: number;
}

export class EmulatorState {
  config: EmulatorConfig;
  grants = new Map<string, Grant>();
  byRefresh = new Map<string, string>();
  accessTokens = new Map<string, AccessToken>();
  codes = new Map<string, { email: string; scope: string }>();
  calendars = new Map<string, Map<string, CalendarEvent>>();
  faults: Fault[] = [];
  calendarFaults: CalendarFault[] = [];
  counters: Counters = EmulatorState.zero();
  /** Access tokens seen on Calendar calls, in order (tests check which token was used). */
  calendarTokens: string[] = [];
  private seq = 0;

  constructor(config: Partial<EmulatorConfig> = {}) {
    this.config = {
      clientId: "emulator-client-id.apps.googleusercontent.com",
      clientSecret: "emulator-client-secret",
      accessTokenLifetimeSeconds: 3599,
      rotation: false,
      tokenLatencyMs: 0,
      ...config,
    };
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

  issueAccessToken(grant: Grant, now: number): { token: string; expiresIn: number } {
    const token = this.random("ya29.emu-");
    const expiresIn = this.config.accessTokenLifetimeSeconds;
    this.accessTokens.set(token, {
      grantId: grant.id,
      email: grant.email,
      expiresAt: now + expiresIn * 1000,
    });
    return { token, expiresIn };
  }

  /** A new grant for a Google account, as a consent screen would create. */
  createGrant(email: string, scope: string): Grant {
    const grant: Grant = {
      id: this.random("grant-"),
      email,
      scope,
      refreshToken: this.random("1//emu-"),
      used: new Set(),
      revoked: false,
    };
    this.grants.set(grant.id, grant);
    this.byRefresh.set(grant.refreshToken, grant.id);
    return grant;
  }

  rotate(grant: Grant): void {
    grant.used.add(grant.refreshToken);
    grant.refreshToken = this.random("1//emu-");
    this.byRefresh.set(grant.refreshToken, grant.id);
  }

  revokeGrant(grant: Grant): void {
    grant.revoked = true;
    for (const [t, a] of this.accessTokens) if (a.grantId === grant.id) this.accessTokens.delete(t);
  }

  grantsOf(email: string): Grant[] {
    return [...this.grants.values()].filter((g) => g.email === email);
  }

  takeFault(): Fault | null {
    const f = this.faults[0];
    if (!f) return null;
    f.remaining--;
    if (f.remaining <= 0) this.faults.shift();
    this.counters.faultsServed++;
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
