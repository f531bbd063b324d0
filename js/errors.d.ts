// Types of js/errors.js, the class of every rejection.
import type { ErrorCode } from "../pkg/oauth_token_manager.js";

/** Every rejection of TokenManager and BrowserTokenClient: `e instanceof TokenManagerError`. */
export declare class TokenManagerError extends Error {
  constructor(
    message: string,
    code: ErrorCode,
    httpStatus: number,
    status: number | null,
    requiresReauth: boolean,
    retryable: boolean,
    retryAfter?: number,
  );
  name: "TokenManagerError";
  /** A stable code: branch on it, never on the message. */
  code: ErrorCode;
  /** The provider's HTTP status, when there was one. */
  status: number | null;
  /** The HTTP status an API should answer with. */
  httpStatus: number;
  /** Only the user reconnecting fixes it. */
  requiresReauth: boolean;
  /** Worth trying again later. */
  retryable: boolean;
  /** Seconds to wait before trying again. */
  retryAfter?: number;
  /** What the provider itself asked (its Retry-After), when it did: `retryAfter` may be longer (the cooldown). */
  providerRetryAfter?: number;
}

/** A call made before `init()` (or `initSync`) loaded the WebAssembly module: CONFIG. */
export declare function notLoaded(): TokenManagerError;
