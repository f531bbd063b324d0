// The package's error class. Every rejection of TokenManager and
// BrowserTokenClient is one of these (the wasm glue constructs it), so
// `e instanceof TokenManagerError` works; branch on `e.code`, never on the message.

export class TokenManagerError extends Error {
  /**
   * @param {string} message plain words, never token bytes
   * @param {string} code a stable ErrorCode
   * @param {number} httpStatus the status an API should answer with
   * @param {number | null} status the provider's HTTP status, when there was one
   * @param {boolean} requiresReauth only the user reconnecting fixes it
   * @param {boolean} retryable worth trying again later
   * @param {number | undefined} retryAfter seconds to wait
   */
  constructor(message, code, httpStatus, status, requiresReauth, retryable, retryAfter) {
    super(message);
    this.name = "TokenManagerError";
    this.code = code;
    this.httpStatus = httpStatus;
    this.status = status;
    this.requiresReauth = requiresReauth;
    this.retryable = retryable;
    if (retryAfter !== undefined) this.retryAfter = retryAfter;
  }
}

/** A call made before `init()` (or `initSync`) loaded the WebAssembly module. */
export function notLoaded() {
  return new TokenManagerError(
    "the WebAssembly module is not loaded: await init() (or call initSync) first",
    "CONFIG",
    500,
    null,
    false,
    false,
  );
}
