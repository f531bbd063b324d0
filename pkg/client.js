/* @ts-self-types="./client.d.ts" */

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

let Core;
export function useCore(core) {
  Core = core;
}

const MARKER = "x-token-refreshed-at";
const CONNECTION = "x-token-connection";

const channels = new FinalizationRegistry((channel) => channel.close());

export class BrowserTokenClient {
  #core;
  #getSession;
  #fetch;
  #functionsUrl;
  #channel;
  #listeners = [];
  #queue = [];
  #delivering = false;
  #flights = new Map();
  #memos = new Map();
  #owners = new WeakMap();
  #callTimeoutMs;
  #signOuts = 0;
  #pending = 0;
  #freed;
  #gone = false;

  constructor(options) {
    let core;
    try {
      core = new Core(options);
    } catch (e) {
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

  static #listen(channel, client) {
    channel.onmessage = (ev) => client.deref()?.#message(ev.data);
  }

  async #introduce() {
    const signOuts = this.#signOuts;
    try {
      const session = await this.#getSession.call(undefined);
      if (this.#freed === undefined && this.#signOuts === signOuts) {
        this.#step((core) => core.session(session, true));
      }
    } catch {
    }
  }

  #message(data) {
    if (this.#freed !== undefined) return;
    const user = this.#core.user;
    this.#step((core) => core.message(data));
    if (user !== undefined && this.#core.user === undefined) {
      this.#signOuts++;
      this.#memos.clear();
    }
  }

  #isConnection(conn) {
    try {
      this.#core.checkConnection(conn);
      return true;
    } catch {
      return false;
    }
  }

  #live() {
    if (this.#freed !== undefined) throw this.#freed;
  }

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
            globalThis.reportError?.(e);
          }
        }
      }
    } finally {
      this.#delivering = false;
    }
  }

  #post(message) {
    try {
      this.#channel?.postMessage(message);
    } catch {
    }
  }

  #step(f) {
    try {
      return f(this.#core);
    } finally {
      this.#flush();
    }
  }

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

  #unchanged(signOuts) {
    if (this.#signOuts !== signOuts) {
      throw this.#core.error("UNAUTHORIZED", "signed out while the session was read: ask again");
    }
  }

  #token(session, conn, force, rejected) {
    let r, user;
    try {
      r = this.#core.begin(session, conn, force, Number.isFinite(rejected) ? rejected : undefined);
      user = this.#core.user;
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

  #lead(id, conn, url, body, timeoutMs, session) {
    return this.#hold(async () => {
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
      let user;
      const answer = this.#step((core) => {
        const a = core.finish(id, status, marker, connection, text);
        user = core.user;
        return a;
      });
      return this.#remember(session, conn, answer, user);
    });
  }

  async fetch(input, init, options) {
    this.#live();
    const provider = this.#provider(options);
    init ??= {};
    const signal = init.signal ?? (input instanceof Request ? input.signal : undefined);
    signal?.throwIfAborted();
    const t = await untilAborted(this.getAccessToken({ provider }), signal);
    this.#live();
    const user = this.#owners.get(t);
    const signOuts = this.#signOuts;
    const own = input instanceof Request && init.body === undefined && input.body !== null;
    const retry = own ? input.clone() : input;
    const resendable = !(init.body instanceof ReadableStream);
    const send = (token, request) => {
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
    if (this.#signOuts !== signOuts || this.#core.user !== user) return (drop(), response);
    Promise.resolve().then(() => response.body?.cancel?.()).catch(() => {});
    return send(again.accessToken, retry);
  }

  async callFunction(name, body, method, options) {
    const session = options?.session;
    if (session !== undefined && (typeof session !== "string" || session === "")) {
      throw this.#core.error("BAD_REQUEST", "options.session must be a session JWT");
    }
    return (await this.#call(name, body, method, session))[1];
  }

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

  observeResponse(response, options) {
    this.#live();
    const session = options?.session;
    if (session !== undefined && (typeof session !== "string" || session === "")) {
      throw this.#core.error("BAD_REQUEST", "options.session must be a session JWT");
    }
    const user = session === undefined ? this.#core.user : this.#step((core) => core.session(session, false));
    if (user !== undefined) this.#observe(user, response);
  }

  async connections() {
    return (await this.#call("connections"))[1];
  }

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
    if (
      options?.navigate !== false && typeof location?.assign === "function" && typeof to === "string" &&
      /^https?:\/\//i.test(to)
    ) {
      location.assign(to);
    }
    return r;
  }

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
      const known = this.#core.error(code, "").code === code ? code : "BAD_REQUEST";
      return { provider, status: null, error: { code: known, message: connectErrorSentence(known) } };
    }
    return null;
  }

  async disconnect(provider) {
    this.#live();
    this.#core.checkConnection(provider);
    return await this.#hold(async () => {
      const [user, r] = await this.#call(`connections/${provider}/disconnect`, {});
      this.#step((core) => core.disconnected(user, provider));
      return r;
    });
  }

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

  onChange(listener) {
    this.#live();
    this.#listeners.push(listener);
    return () => this.offChange(listener);
  }

  offChange(listener) {
    this.#listeners = this.#listeners.filter((f) => f !== listener);
  }

  tokenInfo(provider) {
    this.#live();
    return this.#core.tokenInfo(this.#provider(provider));
  }

  #provider(options) {
    const p = providerOf(options);
    if (p !== undefined) return p;
    throw this.#core.error("BAD_REQUEST", "provider: a connection id, as a string or { provider }");
  }

  close() {
    const channel = this.#channel;
    if (channel === undefined) return;
    this.#channel = undefined;
    channels.unregister(this);
    channel.onmessage = null;
    channel.close();
  }

  free() {
    if (this.#freed !== undefined) return;
    this.close();
    this.#freed = this.#core.error("CONFIG", "this BrowserTokenClient was freed: make a new one");
    this.#memos.clear();
    this.#release();
  }
}

if (typeof Symbol.dispose === "symbol") {
  Object.defineProperty(BrowserTokenClient.prototype, Symbol.dispose, {
    value() {
      this.free();
    },
    writable: true,
    configurable: true,
  });
}
