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

/**
 * A store row as JSON text. A driver may return int8 columns as BigInt,
 * which JSON.stringify refuses: only then is it run again, reading them as
 * numbers (timestamps and versions, well inside 2^53).
 */
export function rowJson(row) {
  try {
    return JSON.stringify(row);
  } catch {
    return JSON.stringify(row, (_, v) => (typeof v === "bigint" ? Number(v) : v));
  }
}

/** The argument of store.load. */
export function rowKey(userId, provider) {
  return { userId, provider };
}
