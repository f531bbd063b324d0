// oauth-token-manager/supabase: the glue between supabase-js and the
// browser client. Supabase Auth hands `session.provider_token` and
// `session.provider_refresh_token` to the page once, right after
// signInWithOAuth or linkIdentity, and never refreshes them; this stores them
// once through the functions (`POST connections/<connection>/store`), resets
// the client at SIGNED_OUT and when the user changes, and connects providers
// through Supabase Auth with the parameters each one needs to hand out a
// refresh token.
//
// No imports: it works with the client and the supabase-js instance it is
// given (supabase-js is a peer dependency).

/**
 * What each provider needs so that Supabase Auth's sign-in returns a refresh
 * token. Google issues one only with `access_type=offline`, and again for an
 * account that already consented only with `prompt=consent`;
 * `include_granted_scopes=true` keeps the scopes granted before
 * (developers.google.com/identity/protocols/oauth2/web-server: "Offline
 * access", "Incremental authorization"). Spotify and Discord return a refresh
 * token with every code exchange; GitHub only for apps with expiring user
 * tokens turned on.
 */
export const PROVIDER_DEFAULTS = Object.freeze({
  google: Object.freeze({
    queryParams: Object.freeze({ access_type: "offline", prompt: "consent", include_granted_scopes: "true" }),
  }),
});

const PREFIX = "oauth-token-manager.supabase.";
/** Provider tokens already stored, per user: fingerprints, the newest last. */
const STORED = `${PREFIX}stored`;
/** The provider a connect() in this tab went to, read when Supabase comes back with its tokens. */
const PENDING = `${PREFIX}pending`;
/** A connect older than this is not the one a session came back from. */
const PENDING_MAX_AGE_MS = 15 * 60 * 1000;
const FINGERPRINTS_KEPT = 20;
/** providerOf's answer for tokens a connect started by another user brought back. */
const DECLINED = Symbol("declined");

function memoryStorage() {
  const m = new Map();
  return {
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => void m.set(k, String(v)),
    removeItem: (k) => void m.delete(k),
  };
}

function browserStorage(name) {
  try {
    const s = globalThis[name];
    if (s && typeof s.getItem === "function") return s;
  } catch { /* storage disabled (privacy mode, sandboxed frame) */ }
  return null;
}

/** sessionStorage, else the storage given, else memory. */
function sessionStorageOr(given) {
  return browserStorage("sessionStorage") ?? given ?? memoryStorage();
}

/**
 * A short, synchronous, one-way fingerprint of a provider token (two 32-bit
 * FNV-1a hashes): enough to recognise a token already stored, never enough to
 * recover it. Synchronous so that a tab claims a token before any `await`,
 * ahead of the other tabs supabase-js broadcasts the same SIGNED_IN to.
 */
function fingerprint(token) {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ token.length;
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c ^ (i & 0xff), 0x01000193) >>> 0;
  }
  return a.toString(16).padStart(8, "0") + b.toString(16).padStart(8, "0");
}

function readJson(storage, key) {
  try {
    const v = JSON.parse(storage.getItem(key) ?? "null");
    return v && typeof v === "object" ? v : null;
  } catch {
    return null;
  }
}

const time = (v) => (typeof v === "string" ? Date.parse(v) || 0 : 0);

/**
 * The provider of the identity this session signed in or linked with last.
 * Supabase Auth moves an identity's `updated_at` at each sign-in with it and
 * keeps `last_sign_in_at` at the identity's creation (internal/api/external.go,
 * an existing account), so `updated_at` decides.
 */
function newestIdentity(user) {
  const ids = Array.isArray(user?.identities) ? [...user.identities] : [];
  ids.sort((x, y) =>
    (time(y.updated_at) - time(x.updated_at)) || (time(y.last_sign_in_at) - time(x.last_sign_in_at)) ||
    (time(y.created_at) - time(x.created_at))
  );
  return ids[0]?.provider ?? null;
}

/** What Supabase Auth's redirect adds to a page's URL: a PKCE code, implicit tokens, or an error. */
const RETURN_QUERY = ["code", "error", "error_code", "error_description", "sb"];
const RETURN_HASH = ["access_token", "provider_token", "error"];

/** This page's URL and its fragment's parameters; null outside a browser. */
function here() {
  const href = globalThis.location?.href;
  if (typeof href !== "string") return null;
  try {
    const url = new URL(href);
    return { url, hash: new URLSearchParams(url.hash.slice(1)) };
  } catch {
    return null;
  }
}

/**
 * Whether a connect's note may be the one this page came back with: not on an
 * error redirect (access_denied …: that connect failed), and only on a page
 * Supabase Auth sent back (a code or tokens in its URL). A note met anywhere
 * else is from a connect abandoned at the provider (the user went back), and
 * must not claim a later sign-in. Outside a browser, nothing to tell.
 */
function noteMayApply() {
  const h = here();
  if (!h) return true;
  if (h.url.searchParams.has("error") || h.hash.has("error")) return false;
  return h.url.searchParams.has("code") || RETURN_HASH.some((k) => h.hash.has(k));
}

/**
 * This page as the place to come back to: without what an earlier return
 * added (auth-js reads any `error` in the URL as the new return's, and would
 * drop its code) and without its fragment.
 */
function returnAddress() {
  const h = here();
  if (!h) return undefined;
  for (const k of RETURN_QUERY) h.url.searchParams.delete(k);
  h.url.hash = "";
  return h.url.href;
}

function joinScopes(...lists) {
  const all = lists.flatMap((s) => (typeof s === "string" ? s.split(/\s+/) : Array.isArray(s) ? s : []));
  const out = [...new Set(all.filter(Boolean))];
  return out.length ? out.join(" ") : undefined;
}

/**
 * The session token for the browser client: the signed-in user's Supabase
 * access token, or "" when signed out.
 *
 *   new BrowserTokenClient({ functionsUrl, getSessionToken: sessionToken(supabase) })
 */
export function sessionToken(supabase) {
  return async () => {
    const { data, error } = await supabase.auth.getSession();
    const token = data?.session?.access_token;
    if (token) return token;
    // auth-js answers a session refresh that could not reach Supabase Auth
    // (offline, a 5xx) with an error and no session: "try again", not
    // "signed out". The client reports it as AUTH_UNAVAILABLE, retryable.
    if (error && (error.name === "AuthRetryableFetchError" || error.status === 0 || error.status >= 500)) {
      throw Object.assign(new Error("Supabase Auth could not be reached to refresh the session: try again"), {
        code: "AUTH_UNAVAILABLE",
      });
    }
    return "";
  };
}

/** The browser client's options with `getSessionToken` read from supabase-js. */
export function browserClientOptions(supabase, options) {
  return { ...options, getSessionToken: sessionToken(supabase) };
}

/**
 * Attaches the browser client to a supabase-js client. Call it right after
 * createClient, before supabase-js finishes reading the page's URL, so it
 * sees the SIGNED_IN that carries the provider tokens (a later attach still
 * catches them from INITIAL_SESSION while the session holds them).
 */
/**
 * A 4xx that the same request gets again: not the session (401), a timeout
 * (408) or a rate limit (429), which a later try may pass.
 * @param {unknown} error
 */
function refusedForGood(error) {
  const status = /** @type {{ httpStatus?: unknown }} */ (error)?.httpStatus;
  return typeof status === "number" && status >= 400 && status < 500 && ![401, 408, 429].includes(status);
}

export function attachSupabase(supabase, client, options = {}) {
  const providers = options.providers ?? { google: {} };
  const storage = options.storage ?? browserStorage("localStorage") ?? memoryStorage();
  // Per tab: a connect is this tab's; another tab's must not claim its tokens.
  const pendingStorage = options.pendingStorage ?? sessionStorageOr(options.storage);
  const onStored = options.onStored ?? (() => {});
  const onError = options.onError ??
    ((e) => console.error("oauth-token-manager: storing provider tokens", e));
  const jobs = new Set();
  let lastUser = null;
  let attached = true;

  const settingsOf = (provider) => {
    const own = Object.hasOwn(providers, provider) ? providers[provider] : undefined;
    if (!own) return null;
    const base = Object.hasOwn(PROVIDER_DEFAULTS, provider) ? PROVIDER_DEFAULTS[provider] : {};
    return {
      connection: own.connection ?? provider,
      scopes: joinScopes(base.scopes, own.scopes),
      queryParams: { ...base.queryParams, ...own.queryParams },
    };
  };

  const storedOf = (user) => {
    const all = readJson(storage, STORED);
    return all?.user === user && Array.isArray(all.fingerprints) ? all.fingerprints : [];
  };
  const setStored = (user, fingerprints) =>
    storage.setItem(STORED, JSON.stringify({ user, fingerprints: fingerprints.slice(-FINGERPRINTS_KEPT) }));

  // A connect that came back with an error (consent denied), or never came
  // back, left its note: it must not claim the next sign-in.
  if (!noteMayApply()) pendingStorage.removeItem(PENDING);

  /**
   * The provider these tokens came from: this tab's connect(), else the
   * identity used last. `DECLINED`: a connect started by another user than
   * the one signed in now (a reconnect that picked another account landed in
   * another Supabase user): not stored, reported.
   */
  function providerOf(session) {
    const pending = readJson(pendingStorage, PENDING);
    pendingStorage.removeItem(PENDING);
    const linked = session.user?.app_metadata?.providers;
    if (
      pending && typeof pending.provider === "string" &&
      Date.now() - Number(pending.at) < PENDING_MAX_AGE_MS &&
      (!Array.isArray(linked) || linked.includes(pending.provider))
    ) {
      if (typeof pending.user === "string" && pending.user !== session.user?.id) {
        onError(
          Object.assign(
            new Error(
              `the ${pending.provider} connect was started by another user than the one signed in now: ` +
                "its tokens are not stored",
            ),
            { code: "FORBIDDEN" },
          ),
          {
            provider: pending.provider,
            connection: settingsOf(pending.provider)?.connection ?? pending.provider,
          },
        );
        return DECLINED;
      }
      return pending.provider;
    }
    // app_metadata.provider is the user's first identity, not necessarily the one just used.
    return newestIdentity(session.user) ?? session.user?.app_metadata?.provider ?? null;
  }

  function capture(session) {
    const user = session.user?.id;
    if (!user) return;
    const fp = fingerprint(session.provider_token);
    if (storedOf(user).includes(fp)) return; // stored before: a reload, another tab, INITIAL_SESSION after SIGNED_IN
    const provider = providerOf(session);
    if (provider === DECLINED) {
      // Remembered as handled, here and in every tab: the events that follow
      // (SIGNED_IN after INITIAL_SESSION, other tabs, reloads) carry the same
      // tokens and no note, and would store them under the identity used last.
      setStored(user, [...storedOf(user), fp]);
      return;
    }
    const settings = provider ? settingsOf(provider) : null;
    // A sign-in with a provider used for login only: its tokens are not kept.
    if (!settings) return;
    const body = { providerToken: session.provider_token };
    if (session.provider_refresh_token) body.providerRefreshToken = session.provider_refresh_token;
    const about = { provider, connection: settings.connection };
    // Claims the token, then stores it. Tabs hear the same SIGNED_IN, and
    // localStorage is not atomic across a browser's processes: where Web Locks
    // exist, the claim is taken under a lock requested with `ifAvailable`
    // (never waits, so it cannot hang): the tab holding it stores, the others
    // skip. Without them, the claim is taken before any await.
    const claimAndStore = async () => {
      const stored = storedOf(user);
      if (stored.includes(fp)) return;
      setStored(user, [...stored, fp]);
      // Out of supabase-js's callback: the client reads the session through supabase-js.
      await new Promise((r) => setTimeout(r, 0));
      let status;
      try {
        // With the event's own session: the tokens are its user's, even if
        // another user has signed in since (getSessionToken would say them).
        status = await client.callFunction(
          `connections/${encodeURIComponent(settings.connection)}/store`,
          body,
          "POST",
          { session: session.access_token },
        );
      } catch (error) {
        // Released, so the next SIGNED_IN with these tokens (a reload) tries
        // again; not when the same request can only be refused again (a
        // connection the functions do not configure, a body they refuse):
        // supabase-js says SIGNED_IN at every tab focus, and each would show
        // the same error.
        if (!refusedForGood(error)) setStored(user, storedOf(user).filter((x) => x !== fp));
        onError(error, about);
        return;
      }
      // Stored: whatever the app's callback does, not to be stored again (a
      // single-use refresh token the server has since rotated would overwrite
      // the live one).
      try {
        onStored({ ...about, status });
      } catch (e) {
        (globalThis.reportError ?? console.error)(e);
      }
    };
    const locks = globalThis.navigator?.locks;
    const job = typeof locks?.request === "function"
      ? locks.request(
        `oauth-token-manager:store:${user}`,
        { ifAvailable: true },
        (lock) => lock ? claimAndStore() : undefined,
      )
      : claimAndStore();
    jobs.add(job);
    job.finally(() => jobs.delete(job));
  }

  const { data } = supabase.auth.onAuthStateChange((event, session) => {
    if (!attached) return;
    if (event === "SIGNED_OUT") {
      lastUser = null;
      storage.removeItem(STORED);
      // A connect started before the sign-out belongs to the user who left.
      pendingStorage.removeItem(PENDING);
      client.reset();
      return;
    }
    const user = session?.user?.id ?? null;
    if (!user) return;
    // Another user signed in over the last one: that user's tokens go (here
    // and in their tabs); what this tab may already hold for the new one stays.
    if (lastUser !== null && lastUser !== user) client.reset({ user: lastUser });
    lastUser = user;
    if (typeof session.provider_token === "string" && session.provider_token) capture(session);
  });

  return {
    /**
     * Connects a provider through Supabase Auth: signed out, signInWithOAuth;
     * signed in with that provider already linked (a reconnect: new consent,
     * new tokens), signInWithOAuth, which Supabase answers with the same user;
     * signed in without it, linkIdentity (Supabase's manual linking must be
     * enabled). In a browser it leaves the page; back on it, supabase-js
     * emits SIGNED_IN and the tokens are stored.
     */
    async connect(provider, opts = {}) {
      const settings = settingsOf(provider);
      if (!settings) {
        throw new TypeError(`'${provider}' is not one of the providers given to attachSupabase`);
      }
      const { data: { session } } = await supabase.auth.getSession();
      let method = "signInWithOAuth";
      if (session) {
        const { data: ids, error } = await supabase.auth.getUserIdentities();
        const identities = error ? session.user?.identities : ids?.identities;
        if (!(identities ?? []).some((i) => i.provider === provider)) method = "linkIdentity";
      }
      const redirectTo = opts.redirectTo ?? options.redirectTo ?? returnAddress();
      const scopes = joinScopes(settings.scopes, opts.scopes);
      const queryParams = { ...settings.queryParams, ...opts.queryParams };
      const oauth = {
        ...(redirectTo ? { redirectTo } : {}),
        ...(scopes ? { scopes } : {}),
        ...(Object.keys(queryParams).length ? { queryParams } : {}),
        ...(opts.skipBrowserRedirect ? { skipBrowserRedirect: true } : {}),
      };
      // Who started it: signed in, the tokens that come back must be this user's.
      pendingStorage.setItem(
        PENDING,
        JSON.stringify({ provider, at: Date.now(), user: session?.user?.id ?? null }),
      );
      const { data, error } = method === "linkIdentity"
        ? await supabase.auth.linkIdentity({ provider, options: oauth })
        : await supabase.auth.signInWithOAuth({ provider, options: oauth });
      if (error) {
        pendingStorage.removeItem(PENDING);
        throw error;
      }
      return { provider, method, url: data?.url ?? null };
    },

    /** Resolves when every store started so far has finished (stored or reported to onError). */
    async settled() {
      while (jobs.size) await Promise.allSettled([...jobs]);
    },

    /** Stops listening to supabase-js. */
    detach() {
      attached = false;
      data?.subscription?.unsubscribe();
    },
  };
}
