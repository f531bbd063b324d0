//! `ClientCore`: the browser client's decisions (the core's `BrowserClient`)
//! for js/client.js, which does its I/O. Every method returns at once: no
//! future, no promise and no fetch in this build. The driver sends what
//! `begin` hands out, gives `finish` or `fail` the outcome, and delivers
//! `effects()` (messages to the user's other tabs, changes for listeners).
//! Every message names its user (the session JWT's `sub`); a tab takes only
//! its own user's.

use wasm_bindgen::prelude::*;

use super::convert::{error_from_js, error_to_js, js_to_json, obj, opt_n, opt_s, s};
use super::fetch::describe;
use crate::core::client::{
    check_connection, jwt_subject, Begin, BrowserClient, CachedToken, DEFAULT_CONNECTION,
    FUNCTION_TIMEOUT_MS,
};
use crate::core::error::{Code, Error, Result};
use crate::core::fields::Fields;
use crate::core::http::{HttpResponse, TransportError};
use crate::core::marker;
use crate::core::secret::AccessToken;

#[wasm_bindgen(typescript_custom_section)]
const TS_CLIENT: &'static str = r#"
export interface BrowserClientOptions {
  /** e.g. https://<ref>.supabase.co/functions/v1 */
  functionsUrl: string;
  /** The user's Supabase access token, e.g. (await supabase.auth.getSession()).data.session.access_token */
  getSessionToken: () => string | Promise<string>;
  /** Refresh this long before expiry (default 60). */
  refreshMarginSeconds?: number;
  /** BroadcastChannel name shared by the app's tabs (default "oauth-token-manager"). */
  channelName?: string;
  /** Defaults to globalThis.fetch. Also sends what `client.fetch(input, init)` is given, a URL or a Request as it came. */
  fetch?: (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
  /** How long `callFunction` (and the connection helpers) wait for an edge function before TIMEOUT, ms (default 60000). */
  functionTimeoutMs?: number;
}

export interface BrowserToken {
  accessToken: string;
  /** Epoch ms on this device's clock: the request's start plus the function's `expiresIn` (its `expiresAt` from an older server). */
  expiresAt: number | null;
  tokenRefreshedAt: string | null;
  scope: string | null;
}

/** Change events: never carry the token itself. */
export type ClientChange =
  | { type: "token"; provider: string; expiresAt: number | null; tokenRefreshedAt: string | null; fromOtherTab: boolean }
  | { type: "marker"; provider: string; tokenRefreshedAt: string }
  /** The user disconnected the provider (here or in another tab): its token is gone from the cache. */
  | { type: "disconnected"; provider: string; fromOtherTab: boolean }
  /** The cache was emptied: `"user-changed"` (another user's session), `"sign-out"` (this or another tab of the user called reset()). */
  | { type: "reset"; reason: "user-changed" | "sign-out"; fromOtherTab: boolean }
  | { type: "error"; provider: string; code: ErrorCode; message: string; requiresReauth: boolean; retryAfter?: number };
"#;

fn token_to_js(t: &CachedToken) -> JsValue {
    obj(&[
        ("accessToken", s(t.access_token.expose())),
        ("expiresAt", opt_n(t.expires_at_ms)),
        (
            "tokenRefreshedAt",
            opt_s(t.refreshed_at_ms.map(marker::format).as_deref()),
        ),
        ("scope", opt_s(t.scope.as_deref())),
    ])
}

fn reject(e: Error) -> JsValue {
    error_to_js(&e)
}

/// The session JWT `getSessionToken` gave (once settled).
fn session_jwt(v: &JsValue) -> Result<String> {
    v.as_string().filter(|t| !t.is_empty()).ok_or_else(|| {
        Error::new(
            Code::Unauthorized,
            "not signed in: getSessionToken returned no token",
        )
    })
}

/// The browser client's core, driven by js/client.js (the package's
/// `BrowserTokenClient`). Not for direct use.
#[wasm_bindgen(skip_typescript)]
pub struct ClientCore {
    core: BrowserClient,
    channel_name: String,
}

impl ClientCore {
    fn build(options: &JsValue) -> Result<ClientCore> {
        let json = js_to_json(options, "options", Code::Config)?;
        let f = Fields::new(&json, "options", Code::Config)?;
        f.only(&[
            "functionsUrl",
            "getSessionToken",
            "refreshMarginSeconds",
            "channelName",
            "fetch",
            "functionTimeoutMs",
        ])?;
        let url = f.str("functionsUrl")?;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(Error::config(
                "options.functionsUrl: must be an http(s) URL",
            ));
        }
        // getSessionToken, fetch and functionTimeoutMs are js/client.js's
        // (it calls and times them), checked there.
        let margin = f
            .opt_u64("refreshMarginSeconds")?
            .map(|s| (s as i64) * 1000);
        let channel_name = f
            .opt_str("channelName")?
            .unwrap_or_else(|| "oauth-token-manager".to_string());
        Ok(ClientCore {
            core: BrowserClient::new(&url, margin),
            channel_name,
        })
    }

    /// `[token, freshUntil, generation]`: the token as the page sees it,
    /// when the cache stops answering with it (`Infinity`: it does not
    /// expire), and the state's generation it is the cache's answer at
    /// (`null`: the cache did not take it, so it is this answer only).
    fn answer(&self, t: &CachedToken, cached: bool) -> JsValue {
        let until = self.core.fresh_until(t).map_or(f64::INFINITY, |u| u as f64);
        let generation = if cached {
            self.core.generation().into()
        } else {
            JsValue::NULL
        };
        js_sys::Array::of3(&token_to_js(t), &until.into(), &generation).into()
    }
}

#[wasm_bindgen]
impl ClientCore {
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> std::result::Result<ClientCore, JsValue> {
        Self::build(&options).map_err(reject)
    }

    /// `[channelName, functionsUrl]`.
    pub fn config(&self) -> js_sys::Array {
        js_sys::Array::of2(&s(&self.channel_name), &s(self.core.functions_url()))
    }

    /// The session's user, if one was seen.
    #[wasm_bindgen(getter)]
    pub fn user(&self) -> Option<String> {
        self.core.user()
    }

    /// What to tell the user's other tabs and listeners since the last
    /// call: a JSON array of `[message, change]` pairs, or `undefined`.
    pub fn effects(&self) -> Option<String> {
        self.core.take_effects_json()
    }

    /// One `getAccessToken` with the settled session value: `[token,
    /// freshUntil, generation]` when the cache answers, the flight to wait for (its id),
    /// or `[id, url, body, timeoutMs]` for the call this one leads (then
    /// `finish` or `fail`).
    pub fn begin(
        &self,
        session: JsValue,
        conn: String,
        force: bool,
        rejected_ms: Option<f64>,
    ) -> std::result::Result<JsValue, JsValue> {
        let jwt = session_jwt(&session).map_err(reject)?;
        let begun = self.core.begin_with(
            jwt,
            &conn,
            force,
            js_sys::Date::now() as i64,
            rejected_ms.filter(|r| r.is_finite()).map(|r| r as i64),
        );
        Ok(match begun.map_err(reject)? {
            Begin::Cached(t) => self.answer(&t, true),
            Begin::Follow(id) => id.into(),
            Begin::Lead { id, request } => {
                let timeout = (FUNCTION_TIMEOUT_MS as f64).into();
                js_sys::Array::of4(&id.into(), &s(&request.url), &s(&request.body), &timeout).into()
            }
        })
    }

    /// The answer to flight `id`: `[token, freshUntil, generation]` (see
    /// `answer`), or the error.
    pub fn finish(
        &self,
        id: u32,
        status: u16,
        marker: Option<String>,
        connection: Option<String>,
        body: String,
    ) -> std::result::Result<JsValue, JsValue> {
        let mut resp = HttpResponse::new(status, &body);
        if let Some(m) = marker {
            resp = resp.with_header(marker::HEADER, &m);
        }
        if let Some(c) = connection {
            resp = resp.with_header(crate::core::client::CONNECTION_HEADER, &c);
        }
        let r = self.core.settle(id, Ok(resp));
        r.map(|(t, cached)| self.answer(&t, cached)).map_err(reject)
    }

    /// Flight `id` got no response (`fetch` or reading the body threw, or
    /// the timeout cut it): the error its callers get.
    pub fn fail(&self, id: u32, cause: JsValue, timed_out: bool) -> JsValue {
        let outcome = if timed_out {
            TransportError::Timeout
        } else {
            TransportError::Network(describe(&cause))
        };
        let e = self
            .core
            .finish(id, Err(outcome))
            .err()
            .unwrap_or_else(|| Error::new(Code::Network, "no response"));
        reject(e)
    }

    /// Changes whenever the cached answers may have: an answer of `begin`
    /// stays the answer while it is unchanged, until its `freshUntil`.
    #[wasm_bindgen(getter)]
    pub fn generation(&self) -> u32 {
        self.core.generation()
    }

    /// The user of a settled session value. `adopt`: it is this tab's
    /// session now (a user switch empties the cache); else only decoded (a
    /// session given for one call: a sign-in event's own).
    pub fn session(&self, session: JsValue, adopt: bool) -> std::result::Result<String, JsValue> {
        let jwt = session_jwt(&session).map_err(reject)?;
        let r = if adopt {
            self.core.session_of(jwt).map(|(_, user)| user)
        } else {
            jwt_subject(&jwt)
        };
        r.map_err(reject)
    }

    /// A marker on an edge response made with `user`'s session.
    pub fn observe(&self, user: String, marker: String, connection: Option<String>) {
        if let Some(m) = marker::parse(&marker) {
            let conn = connection
                .filter(|c| check_connection(c).is_ok())
                .unwrap_or_else(|| DEFAULT_CONNECTION.to_string());
            self.core.observe_marker(&user, &conn, m);
        }
    }

    /// An edge function's error answer, as the error to reject with.
    #[wasm_bindgen(js_name = functionError)]
    pub fn function_error(&self, status: u16, body: String, connection: Option<String>) -> JsValue {
        let e = self
            .core
            .function_error(status, &body, connection.as_deref());
        reject(e)
    }

    /// A `TokenManagerError` with `code`: `context: <what was thrown>` when
    /// `cause` (`[thrown]`, so that a thrown `undefined` is still a cause) is
    /// given, its own code kept when it has one; else `context`.
    pub fn error(&self, code: String, context: String, cause: Option<js_sys::Array>) -> JsValue {
        let code = Code::parse(&code).unwrap_or(Code::Internal);
        reject(match cause {
            Some(c) => error_from_js(&c.get(0), code, &context),
            None => Error::new(code, context),
        })
    }

    /// Throws BAD_REQUEST unless `conn` is a connection id.
    #[wasm_bindgen(js_name = checkConnection)]
    pub fn check_connection(&self, conn: JsValue) -> std::result::Result<(), JsValue> {
        let c = conn.as_string().unwrap_or_default();
        check_connection(&c).map_err(reject)
    }

    /// A provider API answered 401 with this token: true when the retry
    /// must force a refresh (nothing newer came meanwhile).
    pub fn rejected(&self, conn: String, token: String) -> bool {
        self.core.rejected(&conn, &AccessToken::new(token))
    }

    /// `user` (the session's when it was asked) disconnected `conn` here.
    pub fn disconnected(&self, user: String, conn: String) {
        self.core.disconnected(&user, &conn);
    }

    /// Sign-out; with `user`, that user signed out by another user's
    /// sign-in (see `BrowserClient::reset_user`). True when this tab was reset.
    pub fn reset(&self, user: Option<String>) -> bool {
        match user {
            Some(u) => self.core.reset_user(&u),
            None => {
                self.core.reset();
                true
            }
        }
    }

    /// What the client holds for a connection, without the token.
    #[wasm_bindgen(js_name = tokenInfo)]
    pub fn token_info(&self, conn: String) -> JsValue {
        let st = self.core.state();
        let t = st.token(&conn);
        obj(&[
            ("hasToken", JsValue::from_bool(t.is_some())),
            ("expiresAt", opt_n(t.and_then(|t| t.expires_at_ms))),
            (
                "tokenRefreshedAt",
                opt_s(st.marker_ms(&conn).map(marker::format).as_deref()),
            ),
        ])
    }

    /// A message from another tab (see `effects`).
    pub fn message(&self, data: JsValue) {
        if let Ok(msg) = js_to_json(&data, "message", Code::BadRequest) {
            self.core.receive(&msg, js_sys::Date::now() as i64);
        }
    }
}
