// A valid Google access token for the browser, which never holds the refresh
// token. `force: true` refreshes now (after a Google 401).
import { edgeFunction } from "../_shared/handler.ts";
import { optBool, readBody } from "../_shared/validate.ts";

export const handler = edgeFunction("refresh-google-token", ["POST"], async ({ req, caller, rt }) => {
  const b = await readBody(req);
  const force = optBool(b, "force") ?? false;
  const t = await rt.manager.getValidToken(caller.userId, "google", { force });
  return {
    body: {
      accessToken: t.accessToken,
      expiresAt: t.expiresAt,
      tokenRefreshedAt: t.tokenRefreshedAt,
      scope: t.scope,
      refreshed: t.refreshed,
      warning: t.warning,
    },
    marker: t.tokenRefreshedAt,
  };
});

if (import.meta.main) Deno.serve(handler);
