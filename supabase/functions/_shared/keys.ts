// Supabase's API keys for server callers (the background refresher from
// Supabase Cron, admin scripts): an `sb_secret_…` key in the `apikey` header,
// one of the project's secret keys, which Supabase hands every function as
// SUPABASE_SECRET_KEYS, a JSON dictionary of named keys
// (`{"default": "sb_secret_…", "cron": "sb_secret_…"}`; SUPABASE_SECRET_KEY,
// a single key, for self-hosted stacks). Keys are compared in constant time
// and never logged; only the matching key's name is.

/** One HMAC key per isolate: what the comparison hashes with, never an input the caller knows. */
let hmacKey: Promise<CryptoKey> | null = null;

function macKey(): Promise<CryptoKey> {
  hmacKey ??= crypto.subtle.importKey(
    "raw",
    crypto.getRandomValues(new Uint8Array(32)),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return hmacKey;
}

async function mac(value: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign("HMAC", await macKey(), new TextEncoder().encode(value)));
}

/**
 * Equal byte arrays, in time that depends only on their lengths (every byte
 * is read; no early exit). Different lengths are unequal.
 */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/**
 * Equal strings, compared in constant time: both are first MACed with a
 * random per-isolate key, so the comparison always covers 32 bytes and
 * neither where the strings differ nor the secret's length shows in the time
 * taken (the double-HMAC comparison).
 */
export async function constantTimeEqual(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([mac(a), mac(b)]);
  return bytesEqual(x, y);
}

/** A named secret key: the name may be logged, the value never. */
export interface NamedKey {
  name: string;
  value: string;
}

export class SecretKeys {
  constructor(private readonly keys: NamedKey[]) {}

  get size(): number {
    return this.keys.length;
  }

  /**
   * The name of the key `presented` equals, or null. Every key is compared
   * (no early exit), so the time does not say which one matched.
   */
  async match(presented: string): Promise<string | null> {
    let found: string | null = null;
    for (const k of this.keys) {
      if (await constantTimeEqual(presented, k.value)) found ??= k.name;
    }
    return found;
  }
}
