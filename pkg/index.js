/* @ts-self-types="./index.d.ts" */
// The package's main entry (pkg/index.js), the server build: everything its
// wasm-bindgen glue exports (TokenManager, the legacy importer, the error
// codes and marker helpers), with an `init()` that needs no argument in every
// runtime. Pages import the browser client from `oauth-token-manager/browser`,
// the build with the client alone.
import initGlue, { initSync, TokenManager as ModuleManager } from "./oauth_token_manager.js";
import { notLoaded, TokenManagerError } from "./errors.js";
import { loader } from "./load.js";

export * from "./oauth_token_manager.js";

/** Memos kept per manager before they are dropped and rebuilt (one per user and provider). */
const MEMO_LIMIT = 10_000;

/**
 * The module's manager, with its answer for a fresh token remembered on this
 * side of the boundary. Every call still reads the store (that is what keeps
 * isolates in agreement); only the module's answer for that row is reused,
 * for a row whose every field is the same (`===`) as when the module gave
 * it, at the same generation of the instance's own state, before the time
 * the token stops being fresh. Anything else — options, another row, a
 * stale token, an async store's failure — is the module's full path.
 */
export class TokenManager extends ModuleManager {
  #store;
  /** provider → userId → [row copy, field count, token, freshUntil, generation] */
  #memos = new Map();
  #size = 0;

  // deno-lint-ignore constructor-super -- super() is called, inside the try
  constructor(config, store, options) {
    try {
      super(config, store, options);
    } catch (e) {
      // The glue's module is not there yet: a TypeError about its exports.
      throw e instanceof TypeError ? notLoaded() : e;
    }
    this.#store = store;
  }

  getValidToken(userId, provider, options) {
    try {
      if (options !== undefined || typeof userId !== "string" || typeof provider !== "string") {
        return super.getValidToken(userId, provider, options);
      }
      return this.#fromStore(userId, provider);
    } catch (e) {
      // A wrong argument, or a freed manager: a rejection, never a throw.
      return Promise.reject(asRejection("getValidToken", e));
    }
  }

  /** getValidToken(userId, provider): the store read here, the module's answer remembered. */
  #fromStore(userId, provider) {
    let loaded;
    try {
      loaded = this.#store.load({ userId, provider });
    } catch (e) {
      return super._fromLoaded(userId, provider, Promise.reject(e));
    }
    if (loaded !== null && typeof loaded === "object" && typeof loaded.then === "function") {
      return Promise.resolve(loaded).then(
        (row) => this.#hit(userId, provider, row) ?? super._fromLoaded(userId, provider, row),
        (e) => super._fromLoaded(userId, provider, Promise.reject(e)),
      ).catch((e) => {
        throw asRejection("getValidToken", e);
      });
    }
    const hit = this.#hit(userId, provider, loaded);
    return hit === undefined ? super._fromLoaded(userId, provider, loaded) : Promise.resolve(hit);
  }

  /** The module's answer for this row when it needs no I/O, or undefined. */
  #hit(userId, provider, row) {
    if (row === null || typeof row !== "object") return undefined;
    let users = this.#memos.get(provider);
    const m = users?.get(userId);
    if (m !== undefined && m[4] === this._generation && Date.now() < m[3] && sameRow(m[0], m[1], row)) {
      return m[2];
    }
    const answer = super._memo(row, userId, provider);
    if (answer === undefined) {
      if (users?.delete(userId)) this.#size--;
      return undefined;
    }
    if (users === undefined) this.#memos.set(provider, users = new Map());
    if (!users.has(userId) && ++this.#size > MEMO_LIMIT) {
      this.#memos.clear();
      this.#memos.set(provider, users = new Map());
      this.#size = 1;
    }
    const copy = { ...row };
    users.set(userId, [copy, Object.keys(copy).length, answer[0], answer[1], answer[2]]);
    return answer[0];
  }
}

/**
 * What a method throws as it converts its arguments (the glue checks strings
 * and arrays, and throws a TypeError), as the rejection it promises: every
 * asynchronous method rejects with a TokenManagerError, never throws.
 */
function asRejection(method, e) {
  if (e instanceof TokenManagerError) return e;
  const text = String(e?.message ?? e);
  if (/null pointer passed to rust/i.test(text)) {
    return new TokenManagerError(`${method}: this TokenManager was freed`, "CONFIG", 500, null, false, false);
  }
  return new TokenManagerError(
    `${method}: an argument has the wrong type (${text.slice(0, 120)})`,
    "BAD_REQUEST",
    400,
    null,
    false,
    false,
  );
}
for (
  const name of [
    "beginConnect",
    "completeConnect",
    "connectCallback",
    "disconnect",
    "getValidTokenFor",
    "recordScopeError",
    "refreshExpiring",
    "status",
    "statusAll",
    "storeTokens",
  ]
) {
  const method = ModuleManager.prototype[name];
  Object.defineProperty(TokenManager.prototype, name, {
    configurable: true,
    writable: true,
    value: function (...args) {
      try {
        return method.apply(this, args);
      } catch (e) {
        return Promise.reject(asRejection(name, e));
      }
    },
  });
}

/** Every field of `row` is the same (`===`) as in `copy`, which has `count` fields. */
function sameRow(copy, count, row) {
  let n = 0;
  for (const k in row) {
    if (copy[k] !== row[k]) return false;
    n++;
  }
  return n === count;
}

/**
 * Loads the WebAssembly module, once. With no argument it finds the .wasm
 * beside this file; pass `{ module_or_path }` (bytes, a URL, a Response or a
 * compiled module) to load it from elsewhere.
 */
const init = loader(initGlue, new URL("oauth_token_manager_bg.wasm", import.meta.url), initSync);
export default init;

export { TokenManagerError } from "./errors.js";
