/* @ts-self-types="./client.d.ts" */
// The browser's token client: BrowserTokenClient, the I/O around the wasm
// module's ClientCore. The core decides everything (the cache per user and
// connection, single flight, the marker, what an answer means, what the
// user's other tabs are told); this side only sends the requests it hands
// out, waits, and delivers its effects to the BroadcastChannel and listeners.
// Tokens come from the edge functions: the browser never holds a refresh token.

import {
  asText,
  connectErrorSentence,
  connectionOf,
  connectReturn,
  deadline,
  driverOptions,
  header,
  providerOf,
  statusOf,
  untilAborted,
} from "./client_io.js";
import { notLoaded } from "./errors.js";

/** The wasm module's ClientCore class (js/browser.js sets it). */
let Core;
/** @param {Function} core the ClientCore class of a loaded browser build */
export function useCore(core) {
  Core = core;
}

const MARKER = "x-token-refreshed-at";
const CONNECTION = "x-token-connection";

/** Tabs' channels of clients collected without close(): closed with them. */
const channels = new FinalizationRegistry((channel) => channel.close());

export class BrowserTokenClient {
  #core;
  #getSession;
  #fetch;
  #functionsUrl;
  #channel;
  #listeners = [];
  /** Effects taken from the core, delivered in its order even when a listener calls back in. */
  #queue = [];
  #delivering = false;
  /** flight id → the promise of its answer */
  #flights = new Map();
  /**
   * connection → [session, token, freshUntil, generation]: the core's last
   * answer, given again without asking it only for the same session value
   * (`===`), at the same generation (any change to the cache, the user, a
   * marker, another tab's message or a sign-out moves it), before the time
   * the token stops being fresh.
   */
  #memos = new Map();
  /**
   * token object → the user it was handed out for (the core's user as it
   * answered): `fetch` retries a 401 only for that user, even when another
   * call switched the user between the answer and the request.
   */
  #owners = new WeakMap();
  /** How long `callFunction` waits for an answer (options.functionTimeoutMs). */
  #callTimeoutMs;
  /** Moves at every `reset()`: a session read before a sign-out is not used after it. */
  #signOuts = 0;
  /** Calls that will still ask the core when they resume (`free()` waits for them). */
  #pending = 0;
  /** After `free()`: what every later call rejects (or throws) with. */
  #freed;
  /** The core's memory was given back. */
  #gone = false;

  /** @param {import("./client.d.ts").BrowserClientOptions} options */
  constructor(options) {
    let core;
    try {
      core = new Core(options);
    } catch (e) {
      // The glue's module is not there yet: a TypeError about its exports.
      throw e instanceof TypeError ? notLoaded() : e;
    }
    const own = driverOptions(options);
    if (typeof own === "string") {
      const e = core.error("CONFIG", own);
      core.free();
      throw e;
    }
    this.#core = core;
    [this.#getSession, this.#fetch, this.#callTimeoutMs] = own;
    const [channelName, functionsUrl] = core.config();
    this.#functionsUrl = functionsUrl;
    let channel;
    try {
      channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(channelName) : undefined;
    } catch {
      channel = undefined;
    }
    if (channel === undefined) return;
    this.#channel = channel;
    BrowserTokenClient.#listen(channel, new WeakRef(this));
    channels.register(this, channel, this);
    this.#introduce();
  }

  /**
   * The channel's handler holds the client weakly: a client dropped without
   * `close()` is collected, and its channel closed with it. (Made here, not
   * in the constructor, so that no closure there keeps `this`.)
   */
  static #listen(channel, client) {
    channel.onmessage = (ev) => client.deref()?.#message(ev.data);
  }

  /**
   * Learns whose session this is now, so this user's other tabs can hand
   * over their token before the first call (best effort: a signed-out page
   * simply has no user yet).
   */
  async #introduce() {
    const signOuts = this.#signOuts;
    try {
      const session = await this.#getSession.call(undefined);
      if (this.#freed === undefined && this.#signOuts === signOuts) {
        this.#step((core) => core.session(session, true));
      }
    } catch {
      // Not signed in yet.
    }
  }

  #message(data) {
    if (this.#freed !== undefined) return;
    const user = this.#core.user;
    this.#step((core) => core.message(data));
    // Another tab of this user signed out: as a reset() here, a session
    // read before it is not used after it.
    if (user !== undefined && this.#core.user === undefined) {
      this.#signOuts++;
      this.#memos.clear();
    }
  }

  /** Whether `conn` is a connection id (the core's rule). */
  #isConnection(conn) {
    try {
      this.#core.checkConnection(conn);
      return true;
    } catch {
      return false;
    }
  }

  /** Throws once `free()` was called. */
  #live() {
    if (this.#freed !== undefined) throw this.#freed;
  }

  /** A call that will ask the core again when it resumes: `free()` keeps the core until it ends. */
  async #hold(work) {
    this.#pending++;
    try {
      return await work();
    } finally {
      this.#pending--;
      this.#release();
    }
  }

  #release() {
    if (this.#freed !== undefined && this.#pending === 0 && !this.#gone) {
      this.#gone = true;
      this.#core.free();
    }
  }

  /** Delivers the core's effects: messages to the user's other tabs, changes to listeners. */
  #flush() {
    const fx = this.#gone ? undefined : this.#core.effects();
    if (fx !== undefined) this.#queue.push(...JSON.parse(fx));
    if (this.#delivering) return;
    this.#delivering = true;
    try {
      while (this.#queue.length > 0) {
        const [message, change] = this.#queue.shift();
        if (message !== null) this.#post(message);
        if (change === null) continue;
        for (const f of [...this.#listeners]) {
          try {
            f.call(undefined, change);
          } catch (e) {
            // A listener's failure is its own: reported as the page's, not the call's.
            globalThis.reportError?.(e);
          }
        }
      }
    } finally {
      this.#delivering = false;
    }
  }

  /** Best effort: a channel that cannot send (closed, or a runtime's own limits) only costs sharing. */
  #post(message) {
    try {
      this.#channel?.postMessage(message);
    } catch {
      // The other tabs ask again on their next call.
    }
  }

  /** The core's answer, its effects delivered even when it throws. */
  #step(f) {
    try {
      return f(this.#core);
    } finally {
      this.#flush();
    }
  }

  /**
   * A valid access token for a connection (`provider`, default `google`):
   * cached, or one call to its token function shared by all callers.
   * `getSessionToken` is asked once per call. While the token is unchanged
   * the same frozen object is returned. `force` after a provider's 401,
   * with `rejectedRefreshedAt` (the rejected token's `tokenRefreshedAt`, as
   * epoch ms or RFC 3339): a token refreshed after it (another tab's answer
   * to the same 401) is answered instead of a new refresh.
   */
  getAccessToken(options) {
    if (this.#freed !== undefined) return Promise.reject(this.#freed);
    let conn;
    try {
      conn = this.#provider(options);
    } catch (e) {
      return Promise.reject(e);
    }
    const force = options?.force === true;
    const at = options?.rejectedRefreshedAt;
    const rejected = typeof at === "string" ? Date.parse(at) : typeof at === "number" ? at : undefined;
    let session;
    try {
      session = this.#getSession.call(undefined);
    } catch (e) {
      return Promise.reject(this.#sessionFailed(e));
    }
    if (typeof session === "string") {
      const hit = force ? undefined : this.#hit(session, conn);
      return hit === undefined ? this.#token(session, conn, force, rejected) : Promise.resolve(hit);
    }
    const signOuts = this.#signOuts;
    return Promise.resolve(session).then(
      (s) => {
        this.#live();
        this.#unchanged(signOuts);
        return (force ? undefined : this.#hit(s, conn)) ?? this.#token(s, conn, force, rejected);
      },
      (e) => Promise.reject(this.#freed ?? this.#sessionFailed(e)),
    );
  }

  /** The remembered answer for this session value and connection, while it still holds (see `#memos`). */
  #hit(session, conn) {
    const m = this.#memos.get(conn);
    if (m !== undefined && m[0] === session && m[3] === this.#core.generation && Date.now() < m[2]) {
      return m[1];
    }
    return undefined;
  }

  #sessionFailed(e) {
    return this.#core.error("UNAUTHORIZED", "getSessionToken", [e]);
  }

  /** Throws UNAUTHORIZED when `reset()` was called since `signOuts` was read. */
  #unchanged(signOuts) {
    if (this.#signOuts !== signOuts) {
      throw this.#core.error("UNAUTHORIZED", "signed out while the session was read: ask again");
    }
  }

  /** `getAccessToken` past the memo, with the settled session value. */
  #token(session, conn, force, rejected) {
    let r, user;
    try {
      r = this.#core.begin(session, conn, force, Number.isFinite(rejected) ? rejected : undefined);
      user = this.#core.user;
      // A flight this call leads is known before any listener hears of it
      // (one may ask for a token), so whoever follows it finds it.
      if (typeof r === "object" && r.length === 4) {
        const [id, url, body, timeoutMs] = r;
        this.#flights.set(id, this.#lead(id, conn, url, body, timeoutMs, session));
      }
    } catch (e) {
      return Promise.reject(e);
    } finally {
      this.#flush();
    }
    if (typeof r === "number" || r.length === 4) {
      const id = typeof r === "number" ? r : r[0];
      return this.#flights.get(id) ?? Promise.reject(this.#core.error("INTERNAL", "a token call was lost"));
    }
    return Promise.resolve(this.#remember(session, conn, r, user));
  }

  /**
   * The core's answer `[token, freshUntil, generation]`, remembered for this
   * session (see `#memos`) when it is the cache's (`generation` not null). A
   * token unchanged since the last answer is the same frozen object.
   */
  #remember(session, conn, [token, freshUntil, generation], user) {
    const last = this.#memos.get(conn)?.[1];
    const same = last !== undefined && last.accessToken === token.accessToken &&
      last.expiresAt === token.expiresAt && last.tokenRefreshedAt === token.tokenRefreshedAt &&
      last.scope === token.scope && this.#owners.get(last) === user;
    const shown = same ? last : Object.freeze(token);
    this.#owners.set(shown, user);
    if (generation !== null) this.#memos.set(conn, [session, shown, freshUntil, generation]);
    return shown;
  }

  /**
   * Flight `id`: the one call to the token function, cut at the core's
   * timeout (whether or not `fetch` honours the abort). Whatever happens, the
   * core hears how it ended (`finish` or `fail`), so no flight is left for
   * later calls to wait on.
   */
  #lead(id, conn, url, body, timeoutMs, session) {
    return this.#hold(async () => {
      // `fetch` runs once the flight is registered (a custom fetch may ask for a token).
      await undefined;
      let status, marker, connection, text;
      const time = deadline(timeoutMs);
      try {
        const response = await Promise.race([
          this.#fetch.call(undefined, url, {
            method: "POST",
            headers: { authorization: `Bearer ${session}`, "content-type": "application/json" },
            body,
            signal: time.signal,
            redirect: "error",
          }),
          time.expired,
        ]);
        text = asText(await Promise.race([response.text(), time.expired]));
        status = statusOf(response);
        marker = header(response, MARKER);
        connection = header(response, CONNECTION);
      } catch (e) {
        throw this.#step((core) => core.fail(id, e, time.timedOut()));
      } finally {
        time.clear();
        this.#flights.delete(id);
      }
      // The user as the core answers, before listeners hear of it (one may
      // switch the user).
      let user;
      const answer = this.#step((core) => {
        const a = core.finish(id, status, marker, connection, text);
        user = core.user;
        return a;
      });
      return this.#remember(session, conn, answer, user);
    });
  }

  /**
   * `fetch` for provider APIs (Google Calendar, Spotify, …): attaches the
   * connection's bearer token and retries once when the provider answers
   * 401, with a forced refresh unless a newer token came meanwhile. The
   * retry is the same user's: after a sign-out or another user's sign-in
   * meanwhile, the 401 is the answer.
   * `options` names the connection: `"spotify"` or `{ provider: "spotify" }`.
   */
  async fetch(input, init, options) {
    this.#live();
    const provider = this.#provider(options);
    init ??= {};
    // The caller's abort (fetch's rule: init's signal, else the Request's)
    // ends its wait for a token too, and stops a forced refresh after a 401
    // from starting; the token call itself goes on for the others sharing it.
    const signal = init.signal ?? (input instanceof Request ? input.signal : undefined);
    signal?.throwIfAborted();
    const t = await untilAborted(this.getAccessToken({ provider }), signal);
    this.#live();
    const user = this.#owners.get(t);
    const signOuts = this.#signOuts;
    // The retry needs the body again. A Request's own body can be read once:
    // the retry sends a copy taken now. A stream given as init.body is not
    // copied (it would hold the whole upload): a 401 on it is the answer.
    const own = input instanceof Request && init.body === undefined && input.body !== null;
    const retry = own ? input.clone() : input;
    const resendable = !(init.body instanceof ReadableStream);
    const send = (token, request) => {
      // fetch's own rule: init's headers, when given, replace a Request's.
      const headers = new Headers(init.headers ?? (request instanceof Request ? request.headers : undefined));
      headers.set("authorization", `Bearer ${token}`);
      return this.#fetch.call(undefined, request, { ...init, headers });
    };
    const drop = () => {
      if (own && !retry.bodyUsed) retry.body.cancel().catch(() => {});
    };
    let response;
    try {
      response = await send(t.accessToken, input);
    } catch (e) {
      drop();
      throw e;
    }
    if (
      response.status !== 401 || !resendable || this.#freed !== undefined ||
      this.#signOuts !== signOuts || this.#core.user !== user
    ) return (drop(), response);
    // The session as it is now: when another user has signed in meanwhile,
    // the 401 is the answer, and their connection is not refreshed for it.
    let current;
    try {
      current = await this.#getSession.call(undefined);
    } catch (e) {
      drop();
      throw this.#freed ?? this.#sessionFailed(e);
    }
    let same;
    try {
      this.#live();
      same = this.#signOuts === signOuts && this.#step((core) => core.session(current, true)) === user;
    } catch (e) {
      drop();
      throw e;
    }
    if (!same) return (drop(), response);
    const force = this.#core.rejected(provider, t.accessToken);
    let again;
    try {
      signal?.throwIfAborted();
      const rejectedRefreshedAt = t.tokenRefreshedAt ?? undefined;
      again = await untilAborted(this.getAccessToken({ provider, force, rejectedRefreshedAt }), signal);
    } catch (e) {
      drop();
      throw e;
    }
    // The session may have turned out to be another user's when it was asked again.
    if (this.#signOuts !== signOuts || this.#core.user !== user) return (drop(), response);
    // The first answer is not the caller's: its connection is freed now.
    // (A custom fetch may answer with a plain object: nothing to cancel.)
    Promise.resolve().then(() => response.body?.cancel?.()).catch(() => {});
    return send(again.accessToken, retry);
  }

  /**
   * Calls an edge function with the session JWT and JSON; observes its
   * marker. Rejects with a `TokenManagerError` carrying the server's code.
   * `options.session`: this session JWT rather than getSessionToken's (a
   * sign-in event's own, for what belongs to that user).
   */
  async callFunction(name, body, method, options) {
    const session = options?.session;
    if (session !== undefined && (typeof session !== "string" || session === "")) {
      throw this.#core.error("BAD_REQUEST", "options.session must be a session JWT");
    }
    return (await this.#call(name, body, method, session))[1];
  }

  /** An edge function call: `[the session's user, the answer]`. */
  async #call(name, body, method, given) {
    this.#live();
    const signOuts = this.#signOuts;
    let session = given;
    try {
      session ??= await this.#getSession.call(undefined);
    } catch (e) {
      this.#live();
      throw this.#sessionFailed(e);
    }
    this.#live();
    this.#unchanged(signOuts);
    // A session given is its user's for this call only: the tab's stays.
    const user = this.#step((core) => core.session(session, given === undefined));
    const init = {
      method: method ?? (body === undefined ? "GET" : "POST"),
      headers: { authorization: `Bearer ${session}`, "content-type": "application/json" },
    };
    if (body !== undefined) {
      try {
        init.body = JSON.stringify(body);
      } catch {
        throw this.#core.error("BAD_REQUEST", "body is not JSON-serialisable");
      }
    }
    return await this.#hold(async () => {
      let response, text;
      // An answer that never comes would hold its caller (a page starting
      // again after a sign-out waits on it) for good.
      const time = deadline(this.#callTimeoutMs);
      try {
        response = await Promise.race([
          this.#fetch.call(undefined, `${this.#functionsUrl}/${name}`, { ...init, signal: time.signal }),
          time.expired,
        ]);
        text = asText(await Promise.race([response.text(), time.expired]));
      } catch (e) {
        throw time.timedOut()
          ? this.#core.error("TIMEOUT", `${name} did not answer within ${this.#callTimeoutMs} ms`)
          : this.#core.error("NETWORK", `${name} could not be reached`, [e]);
      } finally {
        time.clear();
      }
      // The connection the answer is about: as it says, else as the path
      // names it (`connections/<id>/…`; an error answer may not say).
      const conn = header(response, CONNECTION) ?? connectionOf(name);
      this.#observe(user, response, conn);
      const status = statusOf(response);
      if (status < 200 || status > 299) {
        throw this.#step((core) => core.functionError(status, text, conn));
      }
      if (text === "") return [user, null];
      try {
        return [user, JSON.parse(text)];
      } catch {
        throw this.#core.error("BAD_PROVIDER_RESPONSE", `${name} answered non-JSON`);
      }
    });
  }

  #observe(user, response, conn = header(response, CONNECTION)) {
    const marker = header(response, MARKER);
    if (marker !== undefined) this.#step((core) => core.observe(user, marker, conn));
  }

  /**
   * Reads `X-Token-Refreshed-At` (and `X-Token-Connection`) from an
   * edge-function response. `options.session`: the session JWT the request
   * was made with (its user's marker; another user's changes nothing here);
   * without it, the current user's.
   */
  observeResponse(response, options) {
    this.#live();
    const session = options?.session;
    if (session !== undefined && (typeof session !== "string" || session === "")) {
      throw this.#core.error("BAD_REQUEST", "options.session must be a session JWT");
    }
    const user = session === undefined ? this.#core.user : this.#step((core) => core.session(session, false));
    if (user !== undefined) this.#observe(user, response);
  }

  /** The status of every connection of the user (`GET connections`). Never a token. */
  async connections() {
    return (await this.#call("connections"))[1];
  }

  /**
   * Connect or reconnect a provider: asks the functions for the
   * authorization URL (state and PKCE stay on the server) and, in a
   * browser, goes there. Back on `returnTo` (default: this page), call
   * `completeConnect()`.
   */
  async connect(provider, options) {
    this.#live();
    this.#core.checkConnection(provider);
    const location = globalThis.location;
    const returnTo = typeof options?.returnTo === "string" ? options.returnTo : location?.href;
    if (typeof returnTo !== "string") {
      throw this.#core.error("BAD_REQUEST", "returnTo: required outside a browser");
    }
    const body = { returnTo };
    if (options?.scopes !== undefined) body.scopes = options.scopes;
    const [, r] = await this.#call(`connections/${provider}/connect`, body);
    const to = r?.authorizationUrl;
    // Only to an http(s) address: never a `javascript:` URL, whatever answered.
    if (
      options?.navigate !== false && typeof location?.assign === "function" && typeof to === "string" &&
      /^https?:\/\//i.test(to)
    ) {
      location.assign(to);
    }
    return r;
  }

  /**
   * Back from a provider's consent page: completes the connect with this
   * session (the ticket only this user can use), or reports the error the
   * callback sent. Reads `otm_connect` / `otm_error` from `url` (default:
   * this page) and removes them from the address bar. Resolves to `null`
   * when the page was not a connect's return.
   */
  async completeConnect(url) {
    this.#live();
    const back = connectReturn(url, (p) => this.#isConnection(p));
    if (back === null) return null;
    const { provider, ticket, code } = back;
    if (ticket !== null) {
      try {
        const [, status] = await this.#call("connections/complete", { ticket });
        return { provider, status, error: null };
      } catch (e) {
        return { provider, status: null, error: { code: e?.code, message: e?.message } };
      }
    }
    if (code !== null) {
      // Anyone can craft the link: only a known code is passed on.
      const known = this.#core.error(code, "").code === code ? code : "BAD_REQUEST";
      return { provider, status: null, error: { code: known, message: connectErrorSentence(known) } };
    }
    return null;
  }

  /**
   * Disconnect a provider: revoked there where it can be, erased here; the
   * report says what happened at the provider. Drops the cached token, here
   * and in the user's other tabs.
   */
  async disconnect(provider) {
    this.#live();
    this.#core.checkConnection(provider);
    return await this.#hold(async () => {
      const [user, r] = await this.#call(`connections/${provider}/disconnect`, {});
      this.#step((core) => core.disconnected(user, provider));
      return r;
    });
  }

  /**
   * Sign-out: drops this tab's tokens and tells this user's other tabs to
   * drop theirs. Call it on Supabase's `SIGNED_OUT`. `options.user`: only
   * that user is gone (another user signed in over it): its tabs drop their
   * tokens, and this tab does only if it is still that user's (a call may
   * already have read the new session: what it holds for them stays).
   */
  reset(options) {
    this.#live();
    const user = options?.user;
    if (user !== undefined && (typeof user !== "string" || user === "")) {
      throw this.#core.error("BAD_REQUEST", "options.user must be a user id");
    }
    if (!this.#step((core) => core.reset(user))) return;
    this.#signOuts++;
    this.#memos.clear();
  }

  /** Listens for token, marker, reset and error changes. Returns a function that stops listening. */
  onChange(listener) {
    this.#live();
    this.#listeners.push(listener);
    return () => this.offChange(listener);
  }

  offChange(listener) {
    this.#listeners = this.#listeners.filter((f) => f !== listener);
  }

  /** What the client holds for a connection (default `google`), without the token. */
  tokenInfo(provider) {
    this.#live();
    return this.#core.tokenInfo(this.#provider(provider));
  }

  /** The connection a call names (see providerOf); anything else is BAD_REQUEST. */
  #provider(options) {
    const p = providerOf(options);
    if (p !== undefined) return p;
    throw this.#core.error("BAD_REQUEST", "provider: a connection id, as a string or { provider }");
  }

  /** Stops listening to other tabs. */
  close() {
    const channel = this.#channel;
    if (channel === undefined) return;
    this.#channel = undefined;
    channels.unregister(this);
    channel.onmessage = null;
    channel.close();
  }

  /**
   * Closes the client and frees its module memory: at once, or when the
   * calls under way have settled (they still answer). Every later call
   * fails with CONFIG.
   */
  free() {
    if (this.#freed !== undefined) return;
    this.close();
    this.#freed = this.#core.error("CONFIG", "this BrowserTokenClient was freed: make a new one");
    this.#memos.clear();
    this.#release();
  }
}

// `using client = new BrowserTokenClient(…)` frees it at the end of the block.
if (typeof Symbol.dispose === "symbol") {
  Object.defineProperty(BrowserTokenClient.prototype, Symbol.dispose, {
    value() {
      this.free();
    },
    writable: true,
    configurable: true,
  });
}
