// Error responses: HTTP status + {error, code, requiresReauth, retryable,
// retryAfter?, missingScopes?, requestId}. The status, requiresReauth and
// retryable of every code come from one table, the package's errorCodes()
// (Rust's Code), never from the place that throws. Messages are written for
// people and never carry token bytes; for the codes whose messages can hold
// internal details (database driver text, sequence names, configuration) the
// body carries a fixed sentence and the details go to the log only.

import { type ErrorCode, errorCodes } from "./pkg/oauth_token_manager.js";

export interface CodeInfo {
  code: string;
  status: number;
  retryable: boolean;
  requiresReauth: boolean;
}

let table: Map<string, CodeInfo> | null = null;

/** The one code table. Needs the wasm loaded (see wasm.ts); null until it is. */
export function codeTable(): Map<string, CodeInfo> | null {
  if (table) return table;
  try {
    table = new Map(
      errorCodes().map((c) => [
        c.code,
        { code: c.code, status: c.httpStatus, retryable: c.retryable, requiresReauth: c.requiresReauth },
      ]),
    );
  } catch {
    return null; // the wasm is not loaded (yet)
  }
  return table;
}

/** A code's row; a code missing from the table (a bug) answers like INTERNAL. */
export function codeInfo(code: string): CodeInfo & { known: boolean } {
  const row = codeTable()?.get(code);
  if (row) return { ...row, known: true };
  return { code, status: 500, retryable: false, requiresReauth: false, known: false };
}

export class AppError extends Error {
  /** For INSUFFICIENT_SCOPE: the scopes the grant lacks. */
  readonly missingScopes?: string[];

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly retryAfter?: number,
    extra: { missingScopes?: string[] } = {},
  ) {
    super(message);
    this.name = "AppError";
    if (extra.missingScopes) this.missingScopes = extra.missingScopes;
  }

  get status(): number {
    return codeInfo(this.code).status;
  }
  get requiresReauth(): boolean {
    return codeInfo(this.code).requiresReauth;
  }
  get retryable(): boolean {
    return codeInfo(this.code).retryable;
  }
}

/** The marker of the token a failed request had used (see `withMarker`). */
const USED_MARKER = Symbol("usedMarker");

/**
 * Remembers on a thrown error the token_refreshed_at marker of the token the
 * request used, so the error response carries X-Token-Refreshed-At as a
 * success would: after a forced refresh followed by a failure, the browser
 * still learns that the token it holds is old. Never part of the body.
 */
export function withMarker(e: unknown, marker: string | null | undefined): unknown {
  if (marker && typeof e === "object" && e !== null && Object.isExtensible(e)) {
    (e as { [USED_MARKER]?: string })[USED_MARKER] = marker;
  }
  return e;
}

/** The marker `withMarker` put on an error. */
export function markerOf(e: unknown): string | undefined {
  return typeof e === "object" && e !== null ? (e as { [USED_MARKER]?: string })[USED_MARKER] : undefined;
}

export const badRequest = (message: string) => new AppError("BAD_REQUEST", message);
export const unauthorized = (message: string) => new AppError("UNAUTHORIZED", message);
export const configError = (message: string) => new AppError("CONFIG", message);
export const notFound = (message: string) => new AppError("NOT_FOUND", message);
export const storageError = (message: string) => new AppError("STORAGE", message);
/** The methods a 405's `Allow` header names (RFC 9110 §15.5.6), set by methodNotAllowed. */
const ALLOWED = Symbol("allowed methods");

/**
 * 405 for a method the resource does not take; `allowed` are its methods, and
 * HEAD is allowed with GET unless `head` is false (a page that acts on GET).
 */
export const methodNotAllowed = (method: string, allowed: string[], head = true) => {
  const all = new Set(allowed);
  if (head && all.has("GET")) all.add("HEAD");
  const named = [...all];
  all.add("OPTIONS");
  return Object.assign(
    new AppError("METHOD_NOT_ALLOWED", `${method} is not allowed here; use ${named.join(" or ")}`),
    { [ALLOWED]: [...all] },
  );
};

/** A 405's `Allow` value: the methods the resource takes, OPTIONS (CORS preflights) among them. */
export function allowOf(e: unknown): string | undefined {
  const allowed = typeof e === "object" && e !== null ? (e as { [ALLOWED]?: string[] })[ALLOWED] : undefined;
  return allowed?.join(", ");
}

/**
 * The sentence a body carries for codes whose messages can hold internal
 * details; null for the others (their messages are meant for the caller).
 */
export function plainSentence(code: string): string | null {
  switch (code) {
    case "STORAGE":
      return "The database is unavailable right now; try again shortly.";
    case "SCHEMA_MISMATCH":
      return "The service's database is not set up for this version; an operator must apply the migrations.";
    case "CONFIG":
      return "The service is not configured correctly; an operator must fix its settings.";
    case "INTERNAL":
      return "Something went wrong on our side.";
    case "ROTATION_NOT_SAVED":
      return "A new token from the provider could not be saved yet; this will be retried on the next call.";
    case "CRYPTO_UNBOUND":
      return "A stored token is in an old format that is no longer read; an operator must import it.";
    case "CRYPTO_UNKNOWN_KEY":
      return "A stored token was sealed with a key this service does not have; an operator must check the keys.";
  }
  if (code.startsWith("CRYPTO_")) return "A stored token could not be opened; an operator must check it.";
  return null;
}

interface CodedError {
  name: string;
  code: string;
  message: string;
  retryAfter?: number;
  missingScopes?: unknown;
}

function isCoded(e: unknown): e is CodedError {
  return typeof e === "object" && e !== null && typeof (e as CodedError).code === "string" &&
    typeof (e as CodedError).message === "string";
}

export interface Described {
  status: number;
  body: Record<string, unknown>;
  /** The original message when the body carries a plain sentence instead (for the log only). */
  detail?: string;
  /** The code is not in the table: a bug worth logging. */
  unknownCode?: boolean;
}

/**
 * The status, code and body for any thrown value: AppErrors and the package's
 * TokenManagerErrors by their code's row in the table; anything else is 500
 * INTERNAL with no detail.
 */
export function describe(e: unknown, requestId?: string): Described {
  let code = "INTERNAL";
  let message = "";
  let retryAfter: number | undefined;
  let missingScopes: string[] | undefined;
  if (e instanceof AppError || (isCoded(e) && e.name === "TokenManagerError")) {
    code = e.code;
    message = e.message;
    retryAfter = typeof e.retryAfter === "number" ? e.retryAfter : undefined;
    const ms = (e as CodedError).missingScopes;
    if (Array.isArray(ms)) missingScopes = ms.filter((s): s is string => typeof s === "string");
  }
  const info = codeInfo(code);
  const plain = plainSentence(code);
  return {
    status: info.status,
    body: {
      error: plain ?? message,
      code,
      requiresReauth: info.requiresReauth,
      retryable: info.retryable,
      ...(retryAfter !== undefined ? { retryAfter } : {}),
      ...(missingScopes ? { missingScopes } : {}),
      ...(requestId ? { requestId } : {}),
    },
    ...(plain !== null && message ? { detail: message } : {}),
    ...(info.known ? {} : { unknownCode: true }),
  };
}
