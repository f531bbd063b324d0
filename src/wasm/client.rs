//! `BrowserTokenClient`: the browser side of the one refresh path. Tokens come
//! from the `refresh-google-token` edge function; tabs share them over a
//! BroadcastChannel (no cross-tab lock that could hang: the server lease is
//! the correctness guarantee, tabs only share results). Every message names
//! its user (the session JWT's `sub`); a tab takes only its own user's.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use web_sys::BroadcastChannel;

use super::client_token::{session_failed, session_jwt, Hot};
use super::convert::{error_from_js, error_to_js, get, js_to_json, n, obj, opt_n, opt_s, s, set};
use super::fetch::FetchTransport;
use super::runtime::JsRuntime;
use super::util::settle;
use crate::core::client::{
    check_connection, error_from_body, BrowserClient, CachedToken, ClientEvent, ClientHost,
    CONNECTION_HEADER, DEFAULT_CONNECTION,
};
use crate::core::error::{Code, Error, Result};
use crate::core::fields::Fields;
use crate::core::marker;
use crate::core::secret::AccessToken;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(typescript_type = "BrowserClientOptions")]
    pub type BrowserClientOptionsJs;
    #[wasm_bindgen(typescript_type = "{ force?: boolean; provider?: string }")]
    pub type ForceOptionsJs;
}

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
  /** Defaults to globalThis.fetch. */
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
}

export interface BrowserToken {
  accessToken: string;
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

pub(super) fn token_to_js(t: &CachedToken) -> JsValue {
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

fn token_from_js(v: &JsValue) -> Result<CachedToken> {
    let json = js_to_json(v, "token", Code::BadRequest)?;
    let f = Fields::new(&json, "token", Code::BadRequest)?;
    Ok(CachedToken {
        access_token: AccessToken::new(f.str("accessToken")?),
        expires_at_ms: f.opt_i64("expiresAt")?,
        refreshed_at_ms: f
            .opt_str("tokenRefreshedAt")?
            .and_then(|m| marker::parse(&m)),
        scope: f.opt_str("scope")?,
    })
}

fn reset_change(reason: &str, from_other_tab: bool) -> JsValue {
    obj(&[
        ("type", s("reset")),
        ("reason", s(reason)),
        ("fromOtherTab", JsValue::from_bool(from_other_tab)),
    ])
}

fn disconnected_change(conn: &str, from_other_tab: bool) -> JsValue {
    obj(&[
        ("type", s("disconnected")),
        ("provider", s(conn)),
        ("fromOtherTab", JsValue::from_bool(from_other_tab)),
    ])
}

fn change_for_token(conn: &str, t: &CachedToken, from_other_tab: bool) -> JsValue {
    obj(&[
        ("type", s("token")),
        ("provider", s(conn)),
        ("expiresAt", opt_n(t.expires_at_ms)),
        (
            "tokenRefreshedAt",
            opt_s(t.refreshed_at_ms.map(marker::format).as_deref()),
        ),
        ("fromOtherTab", JsValue::from_bool(from_other_tab)),
    ])
}

fn token_message(user: &str, conn: &str, t: &CachedToken) -> JsValue {
    obj(&[
        ("type", s("token")),
        ("user", s(user)),
        ("conn", s(conn)),
        ("token", token_to_js(t)),
    ])
}

pub(super) struct JsHost {
    pub(super) get_session: Function,
    listeners: RefCell<Vec<Function>>,
    channel: Option<BroadcastChannel>,
    /// Set while handling another tab's message: do not echo it back.
    replaying: Cell<bool>,
}

impl JsHost {
    fn notify(&self, change: &JsValue) {
        let listeners = self.listeners.borrow().clone();
        for f in listeners {
            let _ = f.call1(&JsValue::UNDEFINED, change);
        }
    }

    fn post(&self, msg: &JsValue) {
        if self.replaying.get() {
            return;
        }
        if let Some(c) = &self.channel {
            let _ = c.post_message(msg);
        }
    }
}

impl ClientHost for JsHost {
    async fn session_token(&self) -> Result<String> {
        let v = self
            .get_session
            .call0(&JsValue::UNDEFINED)
            .map_err(|e| session_failed(&e))?;
        let v = settle(v).await.map_err(|e| session_failed(&e))?;
        session_jwt(&v)
    }

    fn publish(&self, event: &ClientEvent) {
        match event {
            ClientEvent::Token { user, conn, token } => {
                self.post(&token_message(user, conn, token));
                self.notify(&change_for_token(conn, token, false));
            }
            ClientEvent::Marker {
                user,
                conn,
                marker_ms,
            } => {
                let m = marker::format(*marker_ms);
                self.post(&obj(&[
                    ("type", s("marker")),
                    ("user", s(user)),
                    ("conn", s(conn)),
                    ("marker", s(&m)),
                ]));
                self.notify(&obj(&[
                    ("type", s("marker")),
                    ("provider", s(conn)),
                    ("tokenRefreshedAt", s(&m)),
                ]));
            }
            ClientEvent::User { user, previous } => {
                // Ask this user's other tabs for their current token.
                self.post(&obj(&[("type", s("hello")), ("user", s(user))]));
                if previous.is_some() {
                    self.notify(&reset_change("user-changed", false));
                }
            }
            ClientEvent::Reset { user } => {
                if let Some(u) = user {
                    self.post(&obj(&[("type", s("reset")), ("user", s(u))]));
                }
                self.notify(&reset_change("sign-out", false));
            }
            ClientEvent::Disconnected { user, conn } => {
                self.post(&obj(&[
                    ("type", s("disconnect")),
                    ("user", s(user)),
                    ("conn", s(conn)),
                ]));
                self.notify(&disconnected_change(conn, false));
            }
            ClientEvent::Failed { conn, error: e } => {
                let change = obj(&[
                    ("type", s("error")),
                    ("provider", s(conn)),
                    ("code", s(e.code.as_str())),
                    ("message", s(&e.message)),
                    ("requiresReauth", JsValue::from_bool(e.requires_reauth())),
                ]);
                if let Some(r) = e.retry_after_secs {
                    set(&change, "retryAfter", &n(r as i64));
                }
                self.notify(&change);
            }
        }
    }
}

pub(super) type Inner = BrowserClient<FetchTransport, JsHost, JsRuntime>;

/// The browser's token client.
#[wasm_bindgen]
pub struct BrowserTokenClient {
    pub(super) inner: Rc<Inner>,
    pub(super) fetch: Function,
    pub(super) hot: Rc<RefCell<Hot>>,
    _on_message: Option<Closure<dyn FnMut(JsValue)>>,
}

pub(super) fn reject(e: Error) -> JsValue {
    error_to_js(&e)
}

/// A message from another tab. Messages without a user, or for a user other
/// than this tab's, are ignored.
fn handle_message(weak: &Weak<Inner>, data: JsValue) {
    let Some(inner) = weak.upgrade() else { return };
    let Some(user) = get(&data, "user").as_string() else {
        return;
    };
    let conn = get(&data, "conn")
        .as_string()
        .filter(|c| check_connection(c).is_ok());
    let host = inner_host(&inner);
    host.replaying.set(true);
    match (get(&data, "type").as_string().as_deref(), conn) {
        (Some("token"), Some(conn)) => {
            if let Ok(t) = token_from_js(&get(&data, "token")) {
                if inner.accept_shared(&user, &conn, t.clone()) {
                    host.notify(&change_for_token(&conn, &t, true));
                }
            }
        }
        (Some("marker"), Some(conn)) => {
            if let Some(m) = get(&data, "marker")
                .as_string()
                .and_then(|m| marker::parse(&m))
            {
                inner.observe_marker(&user, &conn, m);
            }
        }
        (Some("hello"), _) => {
            // Another tab of this user: hand it the current tokens.
            host.replaying.set(false);
            let state = inner.state();
            if state.user() == Some(user.as_str()) {
                for (conn, t) in state.usable_all(js_sys::Date::now() as i64, 0) {
                    host.post(&token_message(&user, conn, t));
                }
            }
        }
        (Some("disconnect"), Some(conn)) if inner.disconnected_shared(&user, &conn) => {
            host.notify(&disconnected_change(&conn, true));
        }
        (Some("reset"), _) if inner.drop_shared(&user) => {
            host.notify(&reset_change("sign-out", true));
        }
        _ => {}
    }
    host.replaying.set(false);
}

fn inner_host(inner: &Inner) -> &JsHost {
    inner.host()
}

#[wasm_bindgen]
impl BrowserTokenClient {
    #[wasm_bindgen(constructor)]
    pub fn new(
        options: BrowserClientOptionsJs,
    ) -> std::result::Result<BrowserTokenClient, JsValue> {
        Self::build(options.into()).map_err(reject)
    }

    fn build(options: JsValue) -> Result<BrowserTokenClient> {
        let json = js_to_json(&options, "options", Code::Config)?;
        let f = Fields::new(&json, "options", Code::Config)?;
        f.only(&[
            "functionsUrl",
            "getSessionToken",
            "refreshMarginSeconds",
            "channelName",
            "fetch",
        ])?;
        let url = f.str("functionsUrl")?;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(Error::config(
                "options.functionsUrl: must be an http(s) URL",
            ));
        }
        let get_session: Function = get(&options, "getSessionToken")
            .dyn_into()
            .map_err(|_| Error::config("options.getSessionToken: must be a function"))?;
        let fetch: Function = match get(&options, "fetch") {
            v if v.is_undefined() || v.is_null() => {
                get(&js_sys::global(), "fetch").dyn_into().map_err(|_| {
                    Error::config("options.fetch: no global fetch in this runtime; pass one")
                })?
            }
            v => v
                .dyn_into()
                .map_err(|_| Error::config("options.fetch: must be a function"))?,
        };
        let margin = f
            .opt_u64("refreshMarginSeconds")?
            .map(|s| (s as i64) * 1000);
        let name = f
            .opt_str("channelName")?
            .unwrap_or_else(|| "oauth-token-manager".to_string());
        let channel = BroadcastChannel::new(&name).ok();
        let host = JsHost {
            get_session,
            listeners: RefCell::new(Vec::new()),
            channel,
            replaying: Cell::new(false),
        };
        let inner = Rc::new(BrowserClient::new(
            &url,
            margin,
            FetchTransport {
                fetch: fetch.clone(),
            },
            host,
            JsRuntime { on_event: None },
        ));
        let mut on_message = None;
        if let Some(c) = &inner.host().channel {
            let weak = Rc::downgrade(&inner);
            let cb = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
                handle_message(&weak, get(&ev, "data"))
            });
            c.set_onmessage(Some(cb.as_ref().unchecked_ref()));
            on_message = Some(cb);
            // Learn whose session this is now, so this user's other tabs can
            // hand over their token before the first call (best effort: a
            // signed-out page simply has no user yet).
            let weak = Rc::downgrade(&inner);
            wasm_bindgen_futures::spawn_local(async move {
                if let Some(inner) = weak.upgrade() {
                    let _ = inner.session().await;
                }
            });
        }
        Ok(BrowserTokenClient {
            inner,
            fetch,
            hot: Rc::default(),
            _on_message: on_message,
        })
    }

    /// `fetch` for provider APIs (Google Calendar, Spotify, …): attaches the
    /// connection's bearer token and retries once when the provider answers
    /// 401, with a forced refresh unless a newer token came meanwhile.
    /// `options.provider` names the connection.
    #[wasm_bindgen(unchecked_return_type = "Promise<Response>")]
    pub fn fetch(
        &self,
        input: String,
        #[wasm_bindgen(unchecked_optional_param_type = "RequestInit")] init: Option<js_sys::Object>,
        #[wasm_bindgen(unchecked_optional_param_type = "{ provider?: string }")] options: Option<
            js_sys::Object,
        >,
    ) -> Promise {
        let inner = self.inner.clone();
        let fetch = self.fetch.clone();
        let conn = connection_of(&options.map(Into::into).unwrap_or(JsValue::UNDEFINED));
        future_to_promise(async move {
            let init: JsValue = init
                .map(Into::into)
                .unwrap_or_else(|| js_sys::Object::new().into());
            let send = |token: &str| -> std::result::Result<JsValue, JsValue> {
                let headers_ctor: Function = get(&js_sys::global(), "Headers").dyn_into()?;
                let args = js_sys::Array::of1(&get(&init, "headers"));
                let headers = js_sys::Reflect::construct(&headers_ctor, &args)?;
                let set_fn: Function = get(&headers, "set").dyn_into()?;
                set_fn.call2(
                    &headers,
                    &s("authorization"),
                    &s(&format!("Bearer {token}")),
                )?;
                let next = js_sys::Object::assign(&js_sys::Object::new(), &init.clone().into());
                set(&next, "headers", &headers);
                fetch.call2(&JsValue::UNDEFINED, &s(&input), &next)
            };
            let t = inner.access_token(&conn, false).await.map_err(reject)?;
            let resp = JsFuture::from(Promise::resolve(&send(t.access_token.expose())?)).await?;
            if get(&resp, "status").as_f64() != Some(401.0) {
                return Ok(resp);
            }
            inner.invalidate(&conn, &t.access_token);
            // Another request that met the same 401 may have refreshed already:
            // then the cache holds a newer token, and forcing again would
            // cost the provider one more refresh (and rotation) for nothing.
            let newer = inner.state().token(&conn).is_some();
            let t = inner.access_token(&conn, !newer).await.map_err(reject)?;
            JsFuture::from(Promise::resolve(&send(t.access_token.expose())?)).await
        })
    }

    /// Calls an edge function with the session JWT and JSON; observes its
    /// marker. Rejects with a `TokenManagerError` carrying the server's code.
    #[wasm_bindgen(js_name = callFunction, unchecked_return_type = "Promise<any>")]
    pub fn call_function(&self, name: String, body: JsValue, method: Option<String>) -> Promise {
        let (inner, fetch) = (self.inner.clone(), self.fetch.clone());
        future_to_promise(async move { call_json(&inner, &fetch, &name, body, method).await })
    }

    /// Reads `X-Token-Refreshed-At` (and `X-Token-Connection`) from an
    /// edge-function response made with the current user's session.
    #[wasm_bindgen(js_name = observeResponse)]
    pub fn observe_response(&self, response: &JsValue) {
        let user = self.inner.state().user().map(str::to_string);
        if let Some(user) = user {
            observe(&self.inner, &user, response);
        }
    }

    /// Sign-out: drops this tab's tokens and tells this user's other tabs to
    /// drop theirs. Call it on Supabase's `SIGNED_OUT`.
    pub fn reset(&self) {
        self.inner.reset();
    }

    /// Listens for token, marker, reset and error changes. Returns a function
    /// that stops listening.
    #[wasm_bindgen(js_name = onChange, unchecked_return_type = "() => void")]
    pub fn on_change(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(change: ClientChange) => void")] listener: Function,
    ) -> JsValue {
        self.inner
            .host()
            .listeners
            .borrow_mut()
            .push(listener.clone());
        let weak = Rc::downgrade(&self.inner);
        Closure::once_into_js(move || {
            if let Some(inner) = weak.upgrade() {
                inner
                    .host()
                    .listeners
                    .borrow_mut()
                    .retain(|f| f != &listener);
            }
        })
    }

    #[wasm_bindgen(js_name = offChange)]
    pub fn off_change(&self, listener: &Function) {
        self.inner
            .host()
            .listeners
            .borrow_mut()
            .retain(|f| f != listener);
    }

    /// What the client holds for a connection (default `google`), without the token.
    #[wasm_bindgen(js_name = tokenInfo, unchecked_return_type = "{ hasToken: boolean; expiresAt: number | null; tokenRefreshedAt: string | null }")]
    pub fn token_info(&self, provider: Option<String>) -> JsValue {
        let conn = provider.unwrap_or_else(|| DEFAULT_CONNECTION.to_string());
        let st = self.inner.state();
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

    /// Stops listening to other tabs.
    pub fn close(&self) {
        if let Some(c) = &self.inner.host().channel {
            c.set_onmessage(None);
            c.close();
        }
    }
}

/// Freed (`free()`, or collected) without `close()`: the channel would keep
/// calling a handler that no longer exists, an error at every message.
impl Drop for BrowserTokenClient {
    fn drop(&mut self) {
        self.close();
    }
}

/// `options.provider`, default `google`.
pub(super) fn connection_of(options: &JsValue) -> String {
    get(options, "provider")
        .as_string()
        .unwrap_or_else(|| DEFAULT_CONNECTION.to_string())
}

/// An edge function call with the session JWT and a JSON body.
pub(super) async fn call_json(
    inner: &Inner,
    fetch: &Function,
    name: &str,
    body: JsValue,
    method: Option<String>,
) -> std::result::Result<JsValue, JsValue> {
    let (jwt, user) = inner.session().await.map_err(reject)?;
    let method = method.unwrap_or_else(|| {
        if body.is_undefined() {
            "GET".into()
        } else {
            "POST".into()
        }
    });
    let headers = obj(&[
        ("authorization", s(&format!("Bearer {jwt}"))),
        ("content-type", s("application/json")),
    ]);
    let init = obj(&[("method", s(&method)), ("headers", headers)]);
    if !body.is_undefined() {
        let text = js_sys::JSON::stringify(&body).map_err(|_| {
            reject(Error::new(
                Code::BadRequest,
                "body is not JSON-serialisable",
            ))
        })?;
        set(&init, "body", &text.into());
    }
    let url = format!("{}/{}", inner.functions_url(), name);
    let resp = fetch
        .call2(&JsValue::UNDEFINED, &s(&url), &init)
        .map_err(|e| reject(error_from_js(&e, Code::Network, name)))?;
    let resp = JsFuture::from(Promise::resolve(&resp)).await.map_err(|e| {
        reject(error_from_js(
            &e,
            Code::Network,
            &format!("{name} could not be reached"),
        ))
    })?;
    observe(inner, &user, &resp);
    let status = get(&resp, "status").as_f64().unwrap_or(0.0) as u16;
    let text_fn: Function = get(&resp, "text").dyn_into()?;
    let text = JsFuture::from(Promise::resolve(&text_fn.call0(&resp)?))
        .await?
        .as_string()
        .unwrap_or_default();
    if !(200..300).contains(&status) {
        let e = error_from_body(status, &text);
        if e.requires_reauth() {
            let conn = response_connection(&resp).unwrap_or_else(|| DEFAULT_CONNECTION.to_string());
            inner.host().publish(&ClientEvent::Failed {
                conn,
                error: e.clone(),
            });
        }
        return Err(reject(e));
    }
    if text.is_empty() {
        return Ok(JsValue::NULL);
    }
    js_sys::JSON::parse(&text).map_err(|_| {
        reject(Error::new(
            Code::BadProviderResponse,
            format!("{name} answered non-JSON"),
        ))
    })
}

fn header(response: &JsValue, name: &str) -> Option<String> {
    let headers = get(response, "headers");
    let get_fn = get(&headers, "get").dyn_into::<Function>().ok()?;
    get_fn.call1(&headers, &s(name)).ok()?.as_string()
}

fn response_connection(response: &JsValue) -> Option<String> {
    header(response, CONNECTION_HEADER).filter(|c| check_connection(c).is_ok())
}

fn observe(inner: &Inner, user: &str, response: &JsValue) {
    if let Some(m) = header(response, marker::HEADER).and_then(|m| marker::parse(&m)) {
        let conn = response_connection(response).unwrap_or_else(|| DEFAULT_CONNECTION.to_string());
        inner.observe_marker(user, &conn, m);
    }
}
