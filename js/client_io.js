// The browser client's I/O helpers (js/client.js): the options and names it
// checks itself, reading a response as a custom fetch may answer it, a
// request's deadline, an abort signal's race, and the words for a connect's
// return.

/**
 * How long `callFunction` waits for an edge function by default: longer than
 * a token call's (a Calendar call behind a refresh, a disconnect's
 * revocation), shorter than forever (a page waiting on it stays stuck).
 */
const CALL_TIMEOUT_MS = 60_000;

/**
 * The options the driver itself uses, checked (the core checks the rest):
 * `[getSessionToken, fetch, functionTimeoutMs]`, or the CONFIG problem's words.
 * @returns {[Function, Function, number] | string}
 */
export function driverOptions(options) {
  if (typeof options.getSessionToken !== "function") return "options.getSessionToken: must be a function";
  const fetch = options.fetch ?? globalThis.fetch;
  if (typeof fetch !== "function") {
    return options.fetch == null
      ? "options.fetch: no global fetch in this runtime; pass one"
      : "options.fetch: must be a function";
  }
  const timeout = options.functionTimeoutMs ?? CALL_TIMEOUT_MS;
  if (!Number.isInteger(timeout) || timeout < 1 || timeout > 2 ** 31 - 1) {
    return "options.functionTimeoutMs: must be a whole number of ms from 1 to 2147483647";
  }
  return [options.getSessionToken, fetch, timeout];
}

/**
 * The connection a call names: `"spotify"` or `{ provider: "spotify" }`,
 * `google` when it names none; undefined for anything else (taken as
 * `google`, a call meant for another provider was handed Google's token).
 */
export function providerOf(options) {
  const p = typeof options === "object" && options !== null ? options.provider : options;
  if (p == null) return "google";
  return typeof p === "string" && p !== "" ? p : undefined;
}

/** The connection a function path names (`connections/<id>/…`), or undefined. */
export function connectionOf(name) {
  const m = /^connections\/([^/?#]+)\//.exec(name);
  try {
    return m ? decodeURIComponent(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A deadline for one request: `signal` aborts it and `expired` rejects when
 * `ms` have passed; `timedOut()` says whether that is what happened; `clear()`
 * when done.
 * @param {number} ms
 */
export function deadline(ms) {
  const controller = new AbortController();
  let timer, timedOut = false;
  const expired = new Promise((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
      reject(new Error("timeout"));
    }, ms);
  });
  expired.catch(() => {});
  return { signal: controller.signal, expired, timedOut: () => timedOut, clear: () => clearTimeout(timer) };
}

/** A response header, or undefined (also for a response without a usable `headers`). */
export function header(response, name) {
  try {
    const v = response?.headers?.get(name);
    return typeof v === "string" ? v : undefined;
  } catch {
    return undefined;
  }
}

/** A response's status, 0 when it has none that is a number (not an HTTP answer). */
export const statusOf = (response) => (typeof response.status === "number" ? response.status : 0);

/** A body read, as text ("" for anything else a custom fetch resolves it to). */
export const asText = (read) => (typeof read === "string" ? read : "");

/** `promise`, or the signal's reason as soon as it aborts (the promise runs on). */
export function untilAborted(promise, signal) {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const abort = () => reject(signal.reason);
    signal.addEventListener("abort", abort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
  });
}

/** Plain words for the errors a connect's callback can send back. */
export function connectErrorSentence(code) {
  if (code === "CONSENT_DENIED") return "Access was not granted at the provider.";
  if (code === "CONNECT_STATE_INVALID") {
    return "That connect link expired or was already used. Start connecting again.";
  }
  return "Connecting did not finish. Start connecting again.";
}

const RETURN_PARAMS = ["otm_connect", "otm_error", "otm_provider"];

/**
 * What a connect's return put in `url` (default: this page): the provider
 * (one `isConnection` accepts) and the ticket or the error code; null when
 * the page is no connect's return. The ticket is single use: on this page,
 * the parameters leave the address bar (the router's state kept).
 * @param {string | undefined} url
 * @param {(provider: string) => boolean} isConnection
 */
export function connectReturn(url, isConnection) {
  const here = globalThis.location?.href;
  url ??= here;
  if (typeof url !== "string") return null;
  let u;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  const params = u.searchParams;
  const provider = params.get("otm_provider");
  if (provider === null || !isConnection(provider)) return null;
  const back = { provider, ticket: params.get("otm_connect"), code: params.get("otm_error") };
  const history = globalThis.history;
  if (url === here && typeof history?.replaceState === "function") {
    for (const k of RETURN_PARAMS) params.delete(k);
    try {
      history.replaceState(history.state, "", u.href);
    } catch {
      // A document that cannot change its address: nothing to clean.
    }
  }
  return back;
}
