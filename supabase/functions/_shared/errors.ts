// Error responses: HTTP status + {error, code, requiresReauth, retryAfter?}.
// Messages are written for people and never carry token bytes. Codes are
// the package's ErrorCode list: one list for Rust, TypeScript and the README.

import type { ErrorCode } from "../../../pkg/oauth_token_manager.js";

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly status: number,
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = "AppError";
  }
}

export const badRequest = (message: string) => new AppError("BAD_REQUEST", message, 400);
export const unauthorized = (message: string) => new AppError("UNAUTHORIZED", message, 401);
export const configError = (message: string) => new AppError("CONFIG", message, 500);
export const notFound = (message: string) => new AppError("NOT_FOUND", message, 404);
export const methodNotAllowed = (method: string, allowed: string[]) =>
  new AppError("METHOD_NOT_ALLOWED", `${method} is not allowed here; use ${allowed.join(" or ")}`, 405);

interface CodedError {
  name: string;
  code: string;
  message: string;
  httpStatus?: number;
  status?: number | null;
  requiresReauth?: boolean;
  retryAfter?: number;
}

function isCoded(e: unknown): e is CodedError {
  return typeof e === "object" && e !== null && typeof (e as CodedError).code === "string" &&
    typeof (e as CodedError).message === "string";
}

/** The status, code and body for any thrown value. Unknown errors are 500 INTERNAL with no detail. */
export function describe(e: unknown): { status: number; body: Record<string, unknown> } {
  if (e instanceof AppError) {
    return {
      status: e.status,
      body: {
        error: e.message,
        code: e.code,
        requiresReauth: false,
        ...(e.retryAfter !== undefined ? { retryAfter: e.retryAfter } : {}),
      },
    };
  }
  if (isCoded(e) && e.name === "TokenManagerError") {
    return {
      status: e.httpStatus ?? 500,
      body: {
        error: e.message,
        code: e.code,
        requiresReauth: e.requiresReauth === true,
        ...(e.retryAfter !== undefined ? { retryAfter: e.retryAfter } : {}),
      },
    };
  }
  return {
    status: 500,
    body: { error: "internal error", code: "INTERNAL", requiresReauth: false },
  };
}
