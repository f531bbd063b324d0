// The provider emulator, on loopback: Google (OAuth, OpenID Connect user
// info, Calendar v3) at the root, Spotify, Discord and GitHub under their own
// prefix, and a control API. Each path mirrors the real URL's path, so a
// deployment's base URLs map 1:1. Used by `make dev` and the tests; the real
// providers are used by configuration alone.
//
//   Google   accounts.google.com/o/oauth2/v2/auth   GET  /o/oauth2/v2/auth (consent page, POST decides)
//            oauth2.googleapis.com/token            POST /token
//            oauth2.googleapis.com/revoke           POST /revoke
//            openidconnect.googleapis.com/v1/userinfo  GET /v1/userinfo
//            www.googleapis.com/calendar/v3/…       /calendar/v3/…
//   Spotify  accounts.spotify.com/authorize         GET  /spotify/authorize
//            accounts.spotify.com/api/token         POST /spotify/api/token
//            api.spotify.com/v1/me                  GET  /spotify/v1/me
//   Discord  discord.com/oauth2/authorize           GET  /discord/oauth2/authorize
//            discord.com/api/oauth2/token           POST /discord/api/oauth2/token
//            discord.com/api/oauth2/token/revoke    POST /discord/api/oauth2/token/revoke
//            discord.com/api/users/@me              GET  /discord/api/users/@me (also /api/v10/…)
//   GitHub   github.com/login/oauth/authorize       GET  /github/login/oauth/authorize
//            github.com/login/oauth/access_token    POST /github/login/oauth/access_token
//            api.github.com/applications/{id}/grant DELETE /github/api/applications/{client_id}/grant
//            api.github.com/user                    GET  /github/api/user
//   Control  /control/* (emulator/control.ts)
//
//   deno run --allow-net emulator/main.ts [--port 54329]
import { authorize } from "./authorize.ts";
import { calendarEndpoint } from "./calendar.ts";
import { control } from "./control.ts";
import { revokeEndpoint, tokenEndpoint } from "./oauth.ts";
import { providerRoute } from "./providers/index.ts";
import { GOOGLE_AUTHORIZE, userinfo } from "./providers/google.ts";
import type { EmulatorOptions } from "./config.ts";
import { EmulatorState } from "./state.ts";
import { loopbackHost, loopbackOrigin } from "./loopback.ts";

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

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
    if (!loopbackHost(req)) return json(421, { error: "the emulator answers loopback names only" });
    // The control API changes what the providers answer: never for another site's page.
    const controlCall = new URL(req.url).pathname.startsWith("/control/");
    if (controlCall && !loopbackOrigin(req)) {
      return json(403, { error: "control calls come from loopback pages only" });
    }
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
      if (path === "/o/oauth2/v2/auth") return await authorize(s, GOOGLE_AUTHORIZE, req);
      if (path === "/v1/userinfo") return userinfo(s, req);
      if (path.startsWith("/calendar/v3/")) return await calendarEndpoint(s, req, path);
      if (path.startsWith("/control/")) return await control(s, req, path);
      return await providerRoute(s, req, path) ?? json(404, { error: "not found" });
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

export function startEmulator(opts: { port?: number; config?: EmulatorOptions } = {}): Emulator {
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
