// Who may read the operations pages: a user whose verified JWT carries the
// claim ADMIN_CLAIM names. Supabase puts app_metadata in every access token
// (set it with the admin API: auth.admin.updateUserById(id, {app_metadata:
// {role: "admin"}})), and a custom access token hook can add top-level claims.
//
//   ADMIN_CLAIM=app_metadata.role=admin   the claim at that path equals "admin"
//   ADMIN_CLAIM=app_metadata.admin        the claim at that path is JSON true
//   ADMIN_CLAIM=user_role=admin           a top-level claim from a hook
//
// The path is dot-separated; a value is compared as a string (numbers and
// booleans by their JSON text) and, for an array claim, with each element.
// user_metadata is refused: users write it themselves.
// Without ADMIN_CLAIM no one is an administrator.
import type { Caller } from "../auth.ts";
import { AppError, configError } from "../errors.ts";

export interface AdminRule {
  /** The claim's path, e.g. ["app_metadata", "role"]. */
  path: string[];
  /** The value it must have, compared as a string; null: it must be `true`. */
  value: string | null;
}

type Env = (name: string) => string | undefined;

const SEGMENT = /^[^\s.=]+$/;
const SHAPE = "a claim path like app_metadata.role=admin (path=value) or app_metadata.admin (path: true)";

/** ADMIN_CLAIM as a rule; null when it is not set. A malformed value is a CONFIG error. */
export function readAdminClaim(env: Env = (n) => Deno.env.get(n)): AdminRule | null {
  const raw = env("ADMIN_CLAIM")?.trim();
  if (!raw) return null;
  const eq = raw.indexOf("=");
  const pathText = (eq < 0 ? raw : raw.slice(0, eq)).trim();
  const value = eq < 0 ? null : raw.slice(eq + 1).trim();
  const path = pathText.split(".");
  if (!path.every((s) => SEGMENT.test(s)) || value === "") {
    throw configError(`ADMIN_CLAIM must be ${SHAPE}`);
  }
  // Every user can write their own user_metadata (supabase.auth.updateUser({ data })),
  // and Supabase copies it into their access token: it proves nothing.
  if (path[0] === "user_metadata") {
    throw configError(
      "ADMIN_CLAIM may not name user_metadata, which users edit themselves: use app_metadata",
    );
  }
  return { path, value };
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

const matches = (v: unknown, want: string) =>
  (typeof v === "string" || typeof v === "number" || typeof v === "boolean") && String(v) === want;

/** Whether verified claims satisfy the rule (own properties only). */
export function isAdmin(claims: Readonly<Record<string, unknown>> | undefined, rule: AdminRule): boolean {
  let cur: unknown = claims;
  for (const seg of rule.path) {
    if (!isRecord(cur) || !Object.hasOwn(cur, seg)) return false;
    cur = cur[seg];
  }
  if (rule.value === null) return cur === true;
  return Array.isArray(cur) ? cur.some((v) => matches(v, rule.value!)) : matches(cur, rule.value);
}

/** Throws 403 FORBIDDEN unless the caller is an administrator (and says so when no rule is configured). */
export function requireAdmin(caller: Caller, rule: AdminRule | null = readAdminClaim()): void {
  if (!rule) {
    throw new AppError(
      "FORBIDDEN",
      "the admin claim is not configured (ADMIN_CLAIM): no one can open the administration pages",
    );
  }
  if (!isAdmin(caller.claims, rule)) {
    throw new AppError(
      "FORBIDDEN",
      "you are not an administrator: your session does not carry the admin claim",
    );
  }
}
