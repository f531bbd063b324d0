/* @ts-self-types="./client.d.ts" */

let Core;
export function useCore(core) {
  Core = core;
}

const MARKER = "x-token-refreshed-at";
const CONNECTION = "x-token-connection";
const RETURN_PARAMS = ["otm_connect", "otm_error", "otm_provider"];

const channels = new FinalizationRegistry((channel) => channel.close());

function header(response, name) {
  try {
    const v = response?.headers?.get(name);
    return typeof v === "string" ? v : undefined;
  } catch {
    return undefined;
  }
}

function connectErrorSentence(code) {
  if (code === "CONSENT_DENIED") return "Access was not granted at the provider.";
  if (code === "CONNECT_STATE_INVALID") {
    return "That connect link expired or was already used. Start connecting again.";
  }
  return "Connecting did not finish. Start connecting again.";
}

export class BrowserTokenClient {
  #core;
  #getSession;
  #fetch;
  #functionsUrl;
  #channel;
  #listeners = [];
  #queue = [];
  #delivering = false;
  #freed = false;
  #flights = new Map();
  #memos = new Map();

  constructor(options) {
    const core = new Core(options);
    this.#core = core;
    this.#getSession = options.getSessionToken;
    this.#fetch = options.fetch ?? globalThis.fetch;
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
    try {
      const session = await this.#getSession.call(undefined);
      if (!this.#freed) this.#step((core) => core.session(session));
    } catch {
    }
  }

  #message(data) {
    if (!this.#freed) this.#step((core) => core.message(data));
  }

  #flush() {
    const fx = this.#freed && this.#flights.size === 0 ? undefined : this.#core.effects();
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
          } catch {
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
    const conn = typeof options?.provider === "string" ? options.provider : "google";
    const force = options?.force === true;
    let session;
    try {
      session = this.#getSession.call(undefined);
    } catch (e) {
      return Promise.reject(this.#sessionFailed(e));
    }
    if (typeof session === "string") {
      const hit = force ? undefined : this.#hit(session, conn);
      return hit === undefined ? this.#token(session, conn, force) : Promise.resolve(hit);
    }
    return Promise.resolve(session).then(
      (s) => (force ? undefined : this.#hit(s, conn)) ?? this.#token(s, conn, force),
      (e) => Promise.reject(this.#sessionFailed(e)),
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

  async #token(session, conn, force) {
    const r = this.#step((core) => core.begin(session, conn, force));
    if (typeof r === "number") {
      return this.#flights.get(r) ?? Promise.reject(this.#core.error("INTERNAL", "a token call was lost"));
    }
    if (r.length === 3) return this.#remember(session, conn, r);
    const [id, url, body, timeoutMs] = r;
    const flight = this.#lead(id, conn, url, body, timeoutMs, session);
    this.#flights.set(id, flight);
    try {
      return await flight;
    } finally {
      this.#flights.delete(id);
      if (this.#freed && this.#flights.size === 0) this.#core.free();
    }
  }

  #remember(session, conn, [token, freshUntil, generation]) {
    const last = this.#memos.get(conn)?.[1];
    const same = last !== undefined && last.accessToken === token.accessToken &&
      last.expiresAt === token.expiresAt && last.tokenRefreshedAt === token.tokenRefreshedAt &&
      last.scope === token.scope;
    const shown = same ? last : Object.freeze(token);
    if (generation !== null) this.#memos.set(conn, [session, shown, freshUntil, generation]);
    return shown;
  }

  async #lead(id, conn, url, body, timeoutMs, session) {
    await undefined;
    let timer, status, marker, connection, text;
    let timedOut = false;
    try {
      const controller = new AbortController();
      timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, timeoutMs);
      const response = await this.#fetch.call(undefined, url, {
        method: "POST",
        headers: { authorization: `Bearer ${session}`, "content-type": "application/json" },
        body,
        signal: controller.signal,
        redirect: "error",
      });
      const read = await response.text();
      text = typeof read === "string" ? read : "";
      status = typeof response.status === "number" ? response.status : 0;
      marker = header(response, MARKER);
      connection = header(response, CONNECTION);
    } catch (e) {
      throw this.#step((core) => core.fail(id, e, timedOut));
    } finally {
      clearTimeout(timer);
    }
    return this.#remember(
      session,
      conn,
      this.#step((core) => core.finish(id, status, marker, connection, text)),
    );
  }

  async fetch(input, init, options) {
    const provider = typeof options?.provider === "string" ? options.provider : "google";
    init ??= {};
    const send = (token) => {
      const headers = new Headers(init.headers);
      headers.set("authorization", `Bearer ${token}`);
      return this.#fetch.call(undefined, input, { ...init, headers });
    };
    const t = await this.getAccessToken({ provider });
    const response = await send(t.accessToken);
    if (response.status !== 401) return response;
    const force = this.#core.rejected(provider, t.accessToken);
    return send((await this.getAccessToken({ provider, force })).accessToken);
  }

  callFunction(name, body, method) {
    return this.#call(name, body, method);
  }

  async #call(name, body, method) {
    let session;
    try {
      session = await this.#getSession.call(undefined);
    } catch (e) {
      throw this.#sessionFailed(e);
    }
    const user = this.#step((core) => core.session(session));
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
    let response;
    try {
      response = await this.#fetch.call(undefined, `${this.#functionsUrl}/${name}`, init);
    } catch (e) {
      throw this.#core.error("NETWORK", `${name} could not be reached`, [e]);
    }
    this.#observe(user, response);
    const read = await response.text();
    const text = typeof read === "string" ? read : "";
    const status = response.status;
    if (!(typeof status === "number" && status >= 200 && status <= 299)) {
      const code = typeof status === "number" ? status : 0;
      throw this.#step((core) => core.functionError(code, text, header(response, CONNECTION)));
    }
    if (text === "") return null;
    try {
      return JSON.parse(text);
    } catch {
      throw this.#core.error("BAD_PROVIDER_RESPONSE", `${name} answered non-JSON`);
    }
  }

  #observe(user, response) {
    const marker = header(response, MARKER);
    if (marker !== undefined) this.#step((core) => core.observe(user, marker, header(response, CONNECTION)));
  }

  observeResponse(response) {
    const user = this.#core.user;
    if (user !== undefined) this.#observe(user, response);
  }

  connections() {
    return this.#call("connections");
  }

  async connect(provider, options) {
    this.#core.checkConnection(provider);
    const location = globalThis.location;
    const returnTo = typeof options?.returnTo === "string" ? options.returnTo : location?.href;
    if (typeof returnTo !== "string") {
      throw this.#core.error("BAD_REQUEST", "returnTo: required outside a browser");
    }
    const body = { returnTo };
    if (options?.scopes !== undefined) body.scopes = options.scopes;
    const r = await this.#call(`connections/${provider}/connect`, body);
    if (options?.navigate !== false && typeof location?.assign === "function") {
      location.assign(r?.authorizationUrl);
    }
    return r;
  }

  async completeConnect(url) {
    url ??= globalThis.location?.href;
    if (typeof url !== "string") return null;
    let u;
    try {
      u = new URL(url);
    } catch {
      return null;
    }
    const params = u.searchParams;
    const provider = params.get("otm_provider");
    const ticket = params.get("otm_connect");
    const code = params.get("otm_error");
    if (provider === null || !/^[A-Za-z0-9_-]{1,64}$/.test(provider)) return null;
    const history = globalThis.history;
    if (typeof history?.replaceState === "function") {
      for (const k of RETURN_PARAMS) params.delete(k);
      try {
        history.replaceState(null, "", u.href);
      } catch {
      }
    }
    if (ticket !== null) {
      try {
        const status = await this.#call("connections/complete", { ticket });
        return { provider, status, error: null };
      } catch (e) {
        return { provider, status: null, error: { code: e?.code, message: e?.message } };
      }
    }
    if (code !== null) {
      return { provider, status: null, error: { code, message: connectErrorSentence(code) } };
    }
    return null;
  }

  async disconnect(provider) {
    this.#core.checkConnection(provider);
    const r = await this.#call(`connections/${provider}/disconnect`, {});
    this.#step((core) => core.disconnected(provider));
    return r;
  }

  reset() {
    this.#step((core) => core.reset());
  }

  onChange(listener) {
    this.#listeners.push(listener);
    return () => this.offChange(listener);
  }

  offChange(listener) {
    this.#listeners = this.#listeners.filter((f) => f !== listener);
  }

  tokenInfo(provider) {
    return this.#core.tokenInfo(typeof provider === "string" ? provider : "google");
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
    if (this.#freed) return;
    this.close();
    this.#freed = true;
    if (this.#flights.size === 0) this.#core.free();
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
