/* @ts-self-types="./browser.d.ts" */
// The browser build's entry (pkg/browser.js, `oauth-token-manager/browser`):
// BrowserTokenClient, the error codes and the marker helpers from a wasm
// build with the client feature only — no TokenManager, sealing, provider
// registry or lease protocol to download. The same `init()` as the main entry.
import initGlue, {
  BrowserTokenClient as ModuleClient,
  initSync,
} from "./browser/oauth_token_manager_browser.js";
import { loader } from "./load.js";

export * from "./browser/oauth_token_manager_browser.js";

/**
 * The module's client, with its cached answer remembered on this side of the
 * boundary. Every answer still comes from the module: `_memo` hands out the
 * answer it would give for a session and connection with the module's state
 * generation and the time the token stops being fresh, and that answer is
 * reused only for the same session value (`===`), at the same generation
 * (any change to the cache, the user, a marker, another tab's message or a
 * sign-out moves it), before that time. Anything else asks the module.
 */
export class BrowserTokenClient extends ModuleClient {
  #getSession;
  /** connection → [session, token, freshUntil, generation] */
  #memos = new Map();

  constructor(options) {
    super(options);
    this.#getSession = options.getSessionToken;
  }

  getAccessToken(options) {
    const conn = options?.provider ?? "google";
    if (options?.force === true || typeof conn !== "string") return super.getAccessToken(options);
    let session;
    try {
      session = this.#getSession.call(undefined);
    } catch (e) {
      return super._answer(Promise.reject(e), conn, false);
    }
    if (typeof session === "string") {
      const hit = this.#hit(session, conn);
      return hit === undefined ? super._answer(session, conn, false) : Promise.resolve(hit);
    }
    return Promise.resolve(session).then(
      (s) => this.#hit(s, conn) ?? super._answer(s, conn, false),
      (e) => super._answer(Promise.reject(e), conn, false),
    );
  }

  /** The module's cached answer for this session and connection, or undefined. */
  #hit(session, conn) {
    let m = this.#memos.get(conn);
    if (m === undefined || m[0] !== session || m[3] !== this._generation || Date.now() >= m[2]) {
      m = super._memo(session, conn);
      if (m === undefined) {
        this.#memos.delete(conn);
        return undefined;
      }
      this.#memos.set(conn, m);
    }
    return m[1];
  }
}

/** Loads the browser build's WebAssembly module, once (see the main entry's `init`). */
const init = loader(
  initGlue,
  new URL("browser/oauth_token_manager_browser_bg.wasm", import.meta.url),
  initSync,
);
export default init;

export { TokenManagerError } from "./browser/snippets/oauth-token-manager-a038f2a47e732acb/js/errors.js";
