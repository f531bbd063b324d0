// Request bodies: a JSON object of at most 64 KiB, fields checked by name.
import { AppError, badRequest } from "./errors.ts";

export type Body = Record<string, unknown>;

/** Every real body is under 10 KB. */
export const MAX_BODY_BYTES = 64 * 1024;

const tooLarge = () =>
  new AppError("PAYLOAD_TOO_LARGE", `the body must be at most ${MAX_BODY_BYTES / 1024} KiB`);

/**
 * Refuses a body whose Content-Length is past the limit (413), whether or not
 * the function reads it: run for every request before the work.
 */
export function refuseLargeBody(req: Request, max = MAX_BODY_BYTES): void {
  const length = req.headers.get("content-length");
  if (length !== null && !(Number(length) <= max)) throw tooLarge();
}

/**
 * The body's text, refused with 413 PAYLOAD_TOO_LARGE before it is read
 * whole: by its Content-Length when it has one, else by counting the bytes
 * as they stream in (chunked bodies).
 */
export async function readText(req: Request, max = MAX_BODY_BYTES): Promise<string> {
  try {
    refuseLargeBody(req, max);
  } catch (e) {
    await req.body?.cancel().catch(() => {});
    throw e;
  }
  if (!req.body) return "";
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  const all = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(all);
  } catch {
    throw badRequest("the body is not valid UTF-8");
  }
}

export async function readBody(req: Request): Promise<Body> {
  const text = await readText(req);
  if (text.trim() === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw badRequest("the body is not valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw badRequest("the body must be a JSON object");
  }
  return parsed as Body;
}

export function optString(b: Body, key: string, max = 10_000): string | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw badRequest(`${key} must be a string`);
  if (v.length > max) throw badRequest(`${key} must be at most ${max} characters`);
  return v;
}

export function string(b: Body, key: string, max = 10_000): string {
  const v = optString(b, key, max);
  if (v === undefined || v.trim() === "") throw badRequest(`${key} is required`);
  return v;
}

export function optBool(b: Body, key: string): boolean | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw badRequest(`${key} must be true or false`);
  return v;
}

export function optNumber(b: Body, key: string): number | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
    throw badRequest(`${key} must be a non-negative number`);
  }
  return v;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|([+-])(\d{2}):(\d{2}))$/;

/** True when the date-time's components name a real instant (no February 30th, no 25 o'clock). */
export function isRealDateTime(v: string): boolean {
  const m = RFC3339.exec(v);
  if (!m) return false;
  const [y, mo, d, h, mi] = [m[1], m[2], m[3], m[4], m[5]].map(Number);
  const sec = m[6] === undefined ? 0 : Number(m[6]);
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59) return false;
  // The components round-trip through a calendar date: day 30 of February does not.
  const date = new Date(Date.UTC(2000, mo - 1, d));
  date.setUTCFullYear(y);
  if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) return false;
  if (m[8] !== undefined && (Number(m[9]) > 23 || Number(m[10]) > 59)) return false;
  return !isNaN(Date.parse(v));
}

/** An RFC 3339 date-time with an offset, as Google Calendar wants. */
export function optDateTime(b: Body, key: string): string | undefined {
  const v = optString(b, key, 64);
  if (v === undefined) return undefined;
  if (!isRealDateTime(v)) {
    throw badRequest(
      `${key} must be an RFC 3339 date-time with an offset naming a real date and time, like 2026-11-23T10:00:00Z`,
    );
  }
  return v;
}

/**
 * An instant as epoch milliseconds: a non-negative number, or an RFC 3339
 * date-time (as the token answers' `tokenRefreshedAt`, sent back as it came).
 */
export function optInstant(b: Body, key: string): number | undefined {
  const v = b[key];
  if (typeof v !== "string") return optNumber(b, key);
  if (v.length > 64 || !isRealDateTime(v)) {
    throw badRequest(
      `${key} must be epoch milliseconds or an RFC 3339 date-time, like 2026-11-23T10:00:00.123Z`,
    );
  }
  return Date.parse(v);
}

export function dateTime(b: Body, key: string): string {
  const v = optDateTime(b, key);
  if (v === undefined) throw badRequest(`${key} is required`);
  return v;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function optEmails(b: Body, key: string): string[] | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.length > 200) throw badRequest(`${key} must be an array of at most 200 emails`);
  return v.map((x, i) => {
    if (typeof x !== "string" || !EMAIL.test(x)) throw badRequest(`${key}[${i}] must be an email address`);
    return x;
  });
}

export function optOneOf<T extends string>(b: Body, key: string, allowed: readonly T[]): T | undefined {
  const v = optString(b, key, 64);
  if (v === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(v)) {
    throw badRequest(`${key} must be one of ${allowed.join(", ")}`);
  }
  return v as T;
}

export function eventId(b: Body): string {
  const v = string(b, "eventId", 1024);
  if (!/^[A-Za-z0-9_-]{1,1024}$/.test(v)) throw badRequest("eventId is not a Google Calendar event id");
  return v;
}
