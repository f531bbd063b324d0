// The emulated user behind an account string (an email, or a GitHub login):
// stable ids, login, email and display name, derived from the string alone so
// every call and every restart of the emulator sees the same user.

export interface Identity {
  /** A stable number for the account (GitHub's numeric user id). */
  numericId: number;
  /** A long decimal id (Google's `sub`, a Discord snowflake). */
  longId: string;
  login: string;
  email: string;
  name: string;
}

/** FNV-1a, 32 bits. */
function fnv(text: string, seed = 0x811c9dc5): number {
  let h = seed;
  for (const c of new TextEncoder().encode(text)) h = Math.imul(h ^ c, 0x01000193) >>> 0;
  return h;
}

export function identity(account: string): Identity {
  const at = account.indexOf("@");
  const login = (at > 0 ? account.slice(0, at) : account).toLowerCase().replace(/[^a-z0-9-]+/g, "-") ||
    "user";
  const a = fnv(account);
  const b = fnv(account, 0x01000193);
  return {
    numericId: 1000 + (a % 90_000_000),
    longId: `1${String(a).padStart(10, "0")}${String(b).padStart(10, "0")}`,
    login,
    email: at > 0 ? account : `${login}@example.com`,
    name: login.split("-").filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join(" "),
  };
}
