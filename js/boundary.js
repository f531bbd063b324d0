// Small constructors the wasm calls to build the objects it hands to JS in
// one call each (instead of one boundary crossing per property).

/** The answer of getValidToken. */
export function validToken(
  accessToken,
  expiresAt,
  tokenRefreshedAt,
  tokenRefreshedAtMs,
  scope,
  refreshed,
  warning,
) {
  return { accessToken, expiresAt, tokenRefreshedAt, tokenRefreshedAtMs, scope, refreshed, warning };
}

/** The argument of store.load. */
export function rowKey(userId, provider) {
  return { userId, provider };
}
