// Structured logs. User ids are hashed; tokens, secrets and keys are never
// passed in. One JSON object per line.

const encoder = new TextEncoder();

/** Hashes kept per isolate before the memo is dropped and rebuilt. */
const HASH_MEMO_LIMIT = 10_000;
const hashes = new Map<string, string>();

/**
 * The first 12 hex digits of SHA-256(user id): stable, not reversible.
 * Remembered per isolate: every request logs its caller's hash, and
 * crypto.subtle.digest is an asynchronous op (a trip to another thread,
 * about 70 µs after a pause) that the request would otherwise wait for.
 */
export async function hashUser(userId: string): Promise<string> {
  const known = hashes.get(userId);
  if (known !== undefined) return known;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(`otm:${userId}`)));
  const hash = Array.from(digest.slice(0, 6), (b) => b.toString(16).padStart(2, "0")).join("");
  if (hashes.size >= HASH_MEMO_LIMIT) hashes.clear();
  hashes.set(userId, hash);
  return hash;
}

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export function log(level: "info" | "warn" | "error", msg: string, fields: LogFields = {}): void {
  const line = JSON.stringify({ level, msg, ...fields, at: new Date().toISOString() });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}
