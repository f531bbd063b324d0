// Saves the provider tokens Supabase sign-in returns once
// (session.provider_token / session.provider_refresh_token).
import { badRequest } from "../_shared/errors.ts";
import { edgeFunction } from "../_shared/handler.ts";
import { optNumber, optString, readBody } from "../_shared/validate.ts";

export const handler = edgeFunction("store-google-tokens", ["POST"], async ({ req, caller, rt }) => {
  const b = await readBody(req);
  const accessToken = optString(b, "providerToken", 4096) ?? optString(b, "provider_token", 4096);
  if (!accessToken) {
    throw badRequest("providerToken is required (session.provider_token after Google sign-in)");
  }
  const refreshToken = optString(b, "providerRefreshToken", 4096) ??
    optString(b, "provider_refresh_token", 4096);
  const expiresIn = optNumber(b, "expiresIn");
  const expiresAt = optNumber(b, "expiresAt");
  const scope = optString(b, "scope", 4096);
  const report = await rt.manager.storeTokens(caller.userId, "google", {
    accessToken,
    refreshToken: refreshToken ?? null,
    // Google access tokens live an hour; Supabase does not pass the lifetime on.
    expiresIn: expiresIn ?? (expiresAt === undefined ? 3599 : null),
    expiresAt: expiresAt ?? null,
    scope: scope ?? null,
  });
  const marker = report.tokenRefreshedAt ? new Date(report.tokenRefreshedAt).toISOString() : null;
  return { body: { ...report, tokenRefreshedAt: marker }, marker };
});

if (import.meta.main) Deno.serve(handler);
