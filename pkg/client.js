/* @ts-self-types="./client.d.ts" */

let Core;
export function useCore(core) {
  Core = core;
}

const MARKER = "x-token-refreshed-at";
const CONNECTION = "x-token-connection";
const RETURN_PARAMS = ["otm_connect", "otm_error", "otm_provider"];

const channels = new FinalizationRegistry((channel) => channel.close());

const header = (response, name) => {
  const h = response?.headers;
  return typeof h?.get === "function" ? h.get(name) ?? undefined : undefined;
};

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
  #flights = new Map();
  #memos = new Map();

  constructor(options) {
    if (Core === undefined) throw new Error("oauth-token-manager/browser: call init() first");
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
    const self = new WeakRef(this);
    channel.onmessage = (ev) => self.deref()?.#message(ev.data);
    channels.register(this, channel, this);
    Promise.resolve()
      .then(() => this.#getSession.call(undefined))
      .then((session) => {
        this.#core.session(session);
        this.#flush();
      })
      .catch(() => this.#flush());
  }

  #message(data) {
    this.#core.message(data);
    this.#flush();
  }

  #flush() {
    const fx = this.#core.effects();
    if (fx === undefined) return;
    for (const [message, change] of JSON.parse(fx)) {
      if (message !== null) this.#post(message);
      if (change === null) continue;
      for (const f of [...this.#listeners]) {
        try {
          f.call(undefined, change);
        } catch {
        }
      }
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
    return this.#core.error("UNAUTHORIZED", "getSessionToken", e);
  }

  async #token(session, conn, force) {
    const r = this.#step((core) => core.begin(session, conn, force));
    if (typeof r === "number") {
      return this.#flights.get(r) ?? Promise.reject(this.#core.error("INTERNAL", "a token call was lost"));
    }
    if (r.length === 2) return this.#remember(session, conn, r);
    const [id, url, body, timeoutMs] = r;
    const flight = this.#lead(id, conn, url, body, timeoutMs, session);
    this.#flights.set(id, flight);
    try {
      return await flight;
    } finally {
      this.#flights.delete(id);
    }
  }

  #remember(session, conn, [token, freshUntil]) {
    const last = this.#memos.get(conn)?.[1];
    const same = last !== undefined && last.accessToken === token.accessToken &&
      last.expiresAt === token.expiresAt && last.tokenRefreshedAt === token.tokenRefreshedAt &&
      last.scope === token.scope;
    const shown = same ? last : Object.freeze(token);
    this.#memos.set(conn, [session, shown, freshUntil, this.#core.generation]);
    return shown;
  }

  async #lead(id, conn, url, body, timeoutMs, session) {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    let response, text;
    try {
      response = await this.#fetch.call(undefined, url, {
        method: "POST",
        headers: { authorization: `Bearer ${session}`, "content-type": "application/json" },
        body,
        signal: controller.signal,
        redirect: "error",
      });
      text = await response.text();
    } catch (e) {
      throw this.#step((core) => core.fail(id, e, timedOut));
    } finally {
      clearTimeout(timer);
    }
    const answer = this.#step((core) =>
      core.finish(id, response.status, header(response, MARKER), header(response, CONNECTION), text)
    );
    return this.#remember(session, conn, answer);
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
      throw this.#core.error("NETWORK", `${name} could not be reached`, e);
    }
    this.#observe(user, response);
    const text = await response.text();
    if (response.status < 200 || response.status > 299) {
      throw this.#step((core) => core.functionError(response.status, text, header(response, CONNECTION)));
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
    this.close();
    this.#core.free();
  }
}
