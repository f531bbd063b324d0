// Structured logs. User ids are hashed; tokens, secrets and keys are never
// passed in. One JSON object per line.

const encoder = new TextEncoder();

/** The first 12 hex digits of SHA-256(user id): stable, not reversible. */
export async function hashUser(userId: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(`otm:${userId}`)));
  return Array.from(digest.slice(0, 6), (b) => b.toString(16).padStart(2, "0")).join("");
}

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export function log(level: "info" | "warn" | "error", msg: string, fields: LogFields = {}): void {
  const line = JSON.stringify({ level, msg, ...fields, at: new Date().toISOString() });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}
