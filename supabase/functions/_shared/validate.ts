// Request bodies: a JSON object, fields checked by name.
import { badRequest } from "./errors.ts";

export type Body = Record<string, unknown>;

export async function readBody(req: Request): Promise<Body> {
  const text = await req.text();
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

/** An RFC 3339 date-time with an offset, as Google Calendar wants. */
export function optDateTime(b: Body, key: string): string | undefined {
  const v = optString(b, key, 64);
  if (v === undefined) return undefined;
  if (
    !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(v) || isNaN(Date.parse(v))
  ) {
    throw badRequest(`${key} must be an RFC 3339 date-time with an offset, like 2026-11-23T10:00:00Z`);
  }
  return v;
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
