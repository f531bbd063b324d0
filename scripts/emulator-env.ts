// The functions' provider configuration (OAUTH_PROVIDERS and <ID>_*) for the
// emulator: each provider's client, endpoints and styles; and the same
// providers for the Supabase Auth stand-in. Used by the edge tests and the dev
// stack.
import type { ProviderId } from "../emulator/config.ts";
import type { Emulator } from "../emulator/main.ts";
import type { AuthProvider } from "../emulator/supabase_auth.ts";

/** Each emulated provider's endpoints, as paths under the emulator (emulator/main.ts). */
const ENDPOINTS: Record<ProviderId, Record<string, string>> = {
  google: {
    AUTH_URL: "/o/oauth2/v2/auth",
    TOKEN_URL: "/token",
    REVOCATION_URL: "/revoke",
    USERINFO_URL: "/v1/userinfo",
  },
  spotify: {
    AUTH_URL: "/spotify/authorize",
    TOKEN_URL: "/spotify/api/token",
    USERINFO_URL: "/spotify/v1/me",
  },
  discord: {
    AUTH_URL: "/discord/oauth2/authorize",
    TOKEN_URL: "/discord/api/oauth2/token",
    REVOCATION_URL: "/discord/api/oauth2/token/revoke",
    USERINFO_URL: "/discord/api/v10/users/@me",
  },
  github: {
    AUTH_URL: "/github/login/oauth/authorize",
    TOKEN_URL: "/github/login/oauth/access_token",
    REVOCATION_URL: "/github/api/applications/{client_id}/grant",
    USERINFO_URL: "/github/api/user",
  },
};

/**
 * A provider's <ID>_* variables against the emulator: its client and every
 * endpoint (a configured token URL drops the template's other endpoints, so
 * all are set; the template keeps its revocation and user-info styles).
 */
export function providerEnv(emu: Emulator, p: ProviderId): Record<string, string> {
  const P = p.toUpperCase();
  const env: Record<string, string> = {
    [`${P}_CLIENT_ID`]: emu.state.provider(p).clientId,
    [`${P}_CLIENT_SECRET`]: emu.state.provider(p).clientSecret,
  };
  for (const [k, v] of Object.entries(ENDPOINTS[p])) {
    env[`${P}_${k}`] = `${emu.url}${v}`;
  }
  // The emulated Google answers with iss (RFC 9207), as Google does: its origin.
  if (p === "google") env.GOOGLE_ISSUER = emu.url;
  return env;
}

/** OAUTH_PROVIDERS and every <ID>_* variable for these emulated providers. */
export function providersEnv(emu: Emulator, ids: ProviderId[]): Record<string, string> {
  return Object.assign({ OAUTH_PROVIDERS: ids.join(",") }, ...ids.map((p) => providerEnv(emu, p)));
}

/** GoTrue's scopes and client authentication for each provider (supabase/auth internal/api/provider/*.go). */
const AUTH_STYLE: Record<ProviderId, Pick<AuthProvider, "scopes" | "clientAuth" | "identity">> = {
  google: { scopes: ["email", "profile"], clientAuth: "basic", identity: "oidc" },
  spotify: { scopes: ["user-read-email"], clientAuth: "basic", identity: "spotify" },
  discord: { scopes: ["email", "identify"], clientAuth: "basic", identity: "discord" },
  github: { scopes: ["user:email"], clientAuth: "body", identity: "github" },
};

/**
 * The Supabase Auth stand-in's providers against the emulator, with the same
 * clients as the functions' (a refresh token works only with its client).
 */
export function authProviders(emu: Emulator, ids: ProviderId[]): Record<string, AuthProvider> {
  return Object.fromEntries(ids.map((p) => [p, {
    authUrl: `${emu.url}${ENDPOINTS[p].AUTH_URL}`,
    tokenUrl: `${emu.url}${ENDPOINTS[p].TOKEN_URL}`,
    userinfoUrl: `${emu.url}${ENDPOINTS[p].USERINFO_URL}`,
    clientId: emu.state.provider(p).clientId,
    clientSecret: emu.state.provider(p).clientSecret,
    ...AUTH_STYLE[p],
  }]));
}
