// The providers the emulator plays, by id: their authorization page, the
// default scope and account of a control grant, and their routes.
import type { AuthorizeSpec } from "../authorize.ts";
import type { ProviderId } from "../config.ts";
import type { EmulatorState } from "../state.ts";
import { discord, DISCORD_AUTHORIZE, discordGrant } from "./discord.ts";
import { github, GITHUB_AUTHORIZE, githubGrant } from "./github.ts";
import { GOOGLE_AUTHORIZE, googleGrant } from "./google.ts";
import { spotify, SPOTIFY_AUTHORIZE, spotifyGrant } from "./spotify.ts";

export interface ProviderModule {
  authorize: AuthorizeSpec;
  /** The scope of POST /control/grant when none is given. */
  defaultScope: string;
  /** A grant made without the consent page, answered as the provider's token endpoint would. */
  grant(s: EmulatorState, account: string, scope: string): Record<string, unknown>;
}

export const MODULES: Record<ProviderId, ProviderModule> = {
  google: {
    authorize: GOOGLE_AUTHORIZE,
    defaultScope: "openid email https://www.googleapis.com/auth/calendar.events",
    grant: googleGrant,
  },
  spotify: {
    authorize: SPOTIFY_AUTHORIZE,
    defaultScope: "user-read-email user-read-private",
    grant: spotifyGrant,
  },
  discord: { authorize: DISCORD_AUTHORIZE, defaultScope: "identify email", grant: discordGrant },
  github: { authorize: GITHUB_AUTHORIZE, defaultScope: "", grant: githubGrant },
};

/** The routes under each provider's prefix (/spotify, /discord, /github); null when none matches. */
export async function providerRoute(s: EmulatorState, req: Request, path: string): Promise<Response | null> {
  if (path.startsWith("/spotify/")) return await spotify(s, req, path);
  if (path.startsWith("/discord/")) return await discord(s, req, path);
  if (path.startsWith("/github/")) return await github(s, req, path);
  return null;
}
