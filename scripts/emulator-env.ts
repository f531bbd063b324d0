// The functions' provider configuration (OAUTH_PROVIDERS and <ID>_*) for the
// emulator: each provider's client, endpoints and styles. Used by the edge
// tests and the dev stack.
import type { ProviderId } from "../emulator/config.ts";
import type { Emulator } from "../emulator/main.ts";

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
    USERINFO_URL: "/discord/api/users/@me",
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
  return env;
}

/** OAUTH_PROVIDERS and every <ID>_* variable for these emulated providers. */
export function providersEnv(emu: Emulator, ids: ProviderId[]): Record<string, string> {
  return Object.assign({ OAUTH_PROVIDERS: ids.join(",") }, ...ids.map((p) => providerEnv(emu, p)));
}
