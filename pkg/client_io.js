
const CALL_TIMEOUT_MS = 60_000;

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

export function providerOf(options) {
  const p = typeof options === "object" && options !== null ? options.provider : options;
  if (p == null) return "google";
  return typeof p === "string" && p !== "" ? p : undefined;
}

export function connectionOf(name) {
  const m = /^connections\/([^/?#]+)\//.exec(name);
  try {
    return m ? decodeURIComponent(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

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

export function header(response, name) {
  try {
    const v = response?.headers?.get(name);
    return typeof v === "string" ? v : undefined;
  } catch {
    return undefined;
  }
}

export const statusOf = (response) => (typeof response.status === "number" ? response.status : 0);

export const asText = (read) => (typeof read === "string" ? read : "");

export function untilAborted(promise, signal) {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const abort = () => reject(signal.reason);
    signal.addEventListener("abort", abort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
  });
}

export function connectErrorSentence(code) {
  if (code === "CONSENT_DENIED") return "Access was not granted at the provider.";
  if (code === "CONNECT_STATE_INVALID") {
    return "That connect link expired or was already used. Start connecting again.";
  }
  return "Connecting did not finish. Start connecting again.";
}

const RETURN_PARAMS = ["otm_connect", "otm_error", "otm_provider"];

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
    }
  }
  return back;
}
