// The emulator's configuration: which providers it plays, each one's OAuth
// client and token behaviour, and what its authorization page does. Google's
// settings stay at the top level, as before; the others' under `providers`.

export type ProviderId = "google" | "spotify" | "discord" | "github";
export const PROVIDERS: ProviderId[] = ["google", "spotify", "discord", "github"];
export type OtherProvider = Exclude<ProviderId, "google">;

/** What the authorization page does: show the consent page, or answer 302 at once. */
export type AuthorizeMode = "page" | "approve" | "deny";
export const AUTHORIZE_MODES: AuthorizeMode[] = ["page", "approve", "deny"];

/** One provider's OAuth client and token behaviour. */
export interface ProviderConfig {
  clientId: string;
  clientSecret: string;
  /** 0: access tokens never expire. */
  accessTokenLifetimeSeconds: number;
  /** Every refresh answer carries a new refresh token and the used one dies. */
  rotation: boolean;
  /** Presenting a used (rotated) refresh token revokes the whole grant, as strict servers do. */
  reuseRevokesGrant: boolean;
  /** Refresh tokens stop working this long after they are issued; 0: never. */
  refreshTokenLifetimeSeconds: number;
  authorize: AuthorizeMode;
  /** GitHub: a GitHub App with expiring user tokens (true) or an OAuth app (false). */
  expiringUserTokens?: boolean;
}

/** Google's settings stay at the top level, as before; the other providers' under `providers`. */
export interface EmulatorConfig extends ProviderConfig {
  /** Extra latency on every Google token call, ms. */
  tokenLatencyMs: number;
  /** Authorization codes expire this long after they are issued (RFC 6749 §4.1.2: 10 minutes at most). */
  codeLifetimeSeconds: number;
  /**
   * The status a new event's Meet gets (ConferenceRequestStatus): `success`,
   * or `pending` (made asynchronously: the event's next read has it), or
   * `failure` (no Meet for that request).
   */
  meetStatus?: "success" | "pending" | "failure";
  providers: Record<OtherProvider, ProviderConfig>;
}

export type EmulatorOptions = Partial<Omit<EmulatorConfig, "providers">> & {
  providers?: Partial<Record<OtherProvider, Partial<ProviderConfig>>>;
};

const PROVIDER_DEFAULTS: Record<OtherProvider, ProviderConfig> = {
  // Spotify "Refreshing tokens": access tokens last 1 hour; a refresh answer usually has no new refresh token.
  spotify: {
    clientId: "emulator-spotify-client-id",
    clientSecret: "emulator-spotify-client-secret",
    accessTokenLifetimeSeconds: 3600,
    rotation: false,
    reuseRevokesGrant: false,
    refreshTokenLifetimeSeconds: 0,
    authorize: "page",
  },
  // Discord "OAuth2" (Access Token Response): expires_in 604800; every refresh answer has a new refresh token.
  discord: {
    clientId: "emulator-discord-client-id",
    clientSecret: "emulator-discord-client-secret",
    accessTokenLifetimeSeconds: 604800,
    rotation: true,
    reuseRevokesGrant: false,
    refreshTokenLifetimeSeconds: 0,
    authorize: "page",
  },
  // GitHub "Refreshing user access tokens": 8-hour user tokens, 6-month refresh tokens, each used once.
  github: {
    clientId: "Iv1.emulatorclientid",
    clientSecret: "emulator-github-client-secret",
    accessTokenLifetimeSeconds: 28800,
    rotation: true,
    reuseRevokesGrant: false,
    refreshTokenLifetimeSeconds: 15897600,
    authorize: "page",
    expiringUserTokens: true,
  },
};

/** The configuration with the options given over the defaults. */
export function configWith(options: EmulatorOptions): EmulatorConfig {
  const { providers, ...google } = options;
  return {
    clientId: "emulator-client-id.apps.googleusercontent.com",
    clientSecret: "emulator-client-secret",
    accessTokenLifetimeSeconds: 3599,
    rotation: false,
    reuseRevokesGrant: true,
    refreshTokenLifetimeSeconds: 0,
    authorize: "page",
    tokenLatencyMs: 0,
    codeLifetimeSeconds: 600,
    ...google,
    providers: {
      spotify: { ...PROVIDER_DEFAULTS.spotify, ...providers?.spotify },
      discord: { ...PROVIDER_DEFAULTS.discord, ...providers?.discord },
      github: { ...PROVIDER_DEFAULTS.github, ...providers?.github },
    },
  };
}
