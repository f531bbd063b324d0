// The answers the Google functions and the connections function share: a
// connection's status (never a token), a valid access token for the browser,
// and saving the tokens a Supabase sign-in returned.
import type { StatusReport } from "./pkg/oauth_token_manager.js";
import { badRequest, plainSentence } from "./errors.ts";
import type { Reply } from "./handler.ts";
import type { Runtime } from "./runtime.ts";
import { type Body, optBool, optInstant, optNumber, optString } from "./validate.ts";

/** The marker as RFC 3339, as X-Token-Refreshed-At carries it. */
export const markerOf = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString() : null);

/**
 * A status for a body: the marker as RFC 3339, and for the codes whose
 * messages can hold internal details (database driver text, configuration)
 * the plain sentence as the last error message.
 */
export function statusView(report: StatusReport): StatusReport & { tokenRefreshedAt: string | null } {
  const plain = report.lastErrorCode ? plainSentence(report.lastErrorCode) : null;
  return {
    ...report,
    lastErrorMessage: plain && report.lastErrorMessage ? plain : report.lastErrorMessage,
    tokenRefreshedAt: markerOf(report.tokenRefreshedAt),
  } as StatusReport & { tokenRefreshedAt: string | null };
}

/** A status answer with its marker. */
export function statusReply(report: StatusReport, headers?: Record<string, string>): Reply {
  return { body: statusView(report), marker: markerOf(report.tokenRefreshedAt), headers };
}

/**
 * A valid access token for the browser; `force` refreshes now (after a
 * provider 401), unless the stored token was refreshed after
 * `rejectedRefreshedAt` (the rejected token's `tokenRefreshedAtMs`): then
 * another tab's refresh after the same 401 is the answer.
 */
export async function tokenReply(
  rt: Runtime,
  userId: string,
  provider: string,
  b: Body,
  headers?: Record<string, string>,
): Promise<Reply> {
  const force = optBool(b, "force") ?? false;
  const rejectedRefreshedAt = optInstant(b, "rejectedRefreshedAt");
  // No options unless forcing: the manager then answers a fresh token from its memo.
  const t = await rt.manager.getValidToken(
    userId,
    provider,
    force ? { force, ...(rejectedRefreshedAt === undefined ? {} : { rejectedRefreshedAt }) } : undefined,
  );
  return {
    body: {
      accessToken: t.accessToken,
      expiresAt: t.expiresAt,
      // Seconds left, on this server's clock: the browser counts them on its
      // own (its clock may be minutes off the server's), as OAuth's expires_in.
      expiresIn: t.expiresAt === null ? null : Math.max(0, Math.floor((t.expiresAt - Date.now()) / 1000)),
      tokenRefreshedAt: t.tokenRefreshedAt,
      scope: t.scope,
      refreshed: t.refreshed,
      // A warning's message can carry a database driver's words ("refreshed
      // but could not save: …"): for those codes, the plain sentence.
      warning: t.warning
        ? { ...t.warning, message: plainSentence(t.warning.code) ?? t.warning.message }
        : t.warning,
    },
    marker: t.tokenRefreshedAt,
    headers,
  };
}

/**
 * Saves the tokens a Supabase sign-in (signInWithOAuth, linkIdentity) returned
 * once: session.provider_token / provider_refresh_token. Supabase does not
 * pass the lifetime on; the provider's documented one (the package's
 * templates: Google an hour, Spotify an hour, Discord 7 days) stands in.
 */
export async function storeReply(
  rt: Runtime,
  userId: string,
  provider: string,
  b: Body,
  headers?: Record<string, string>,
): Promise<Reply> {
  const accessToken = optString(b, "providerToken", 4096) ?? optString(b, "provider_token", 4096);
  if (!accessToken) {
    throw badRequest(`providerToken is required (session.provider_token after signing in with ${provider})`);
  }
  const refreshToken = optString(b, "providerRefreshToken", 4096) ??
    optString(b, "provider_refresh_token", 4096);
  const expiresIn = optNumber(b, "expiresIn");
  const expiresAt = optNumber(b, "expiresAt");
  const report = await rt.manager.storeTokens(userId, provider, {
    accessToken,
    refreshToken: refreshToken ?? null,
    expiresIn: expiresIn ?? null,
    expiresAt: expiresAt ?? null,
    scope: optString(b, "scope", 4096) ?? null,
  });
  return statusReply(report, headers);
}
