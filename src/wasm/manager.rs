//! `TokenManager`, the class the edge functions use, and the small helpers
//! shared with browsers (error codes, marker comparison).

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::future_to_promise;

use super::convert::{
    error_to_js, get, js_to_json, n, obj, opt_n, opt_s, s, strings, valid_token_js, warning_to_js,
};
use super::fetch::FetchTransport;
use super::runtime::JsRuntime;
use super::store::{parse_loaded, row_from_js, JsStore, Loading};
use crate::core::config::ManagerConfig;
use crate::core::connect::{ConnectOptions, DisconnectReport};
use crate::core::error::{Code, Error};
use crate::core::fields::Fields;
use crate::core::manager::{
    GetOptions, InitialTokens, Manager, StatusReport, SweepReport, ValidToken,
};
use crate::core::marker;
use crate::core::revoke::RevokeOutcome;
use crate::core::text::cat;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(typescript_type = "ManagerOptions")]
    pub type ManagerOptionsJs;
    #[wasm_bindgen(typescript_type = "GetOptions")]
    pub type GetOptionsJs;
}

type Inner = Manager<FetchTransport, JsStore, JsRuntime>;

/// The server-side token manager.
#[wasm_bindgen]
pub struct TokenManager {
    inner: Rc<Inner>,
}

fn get_options(v: &JsValue) -> Result<GetOptions, Error> {
    if v.is_undefined() || v.is_null() {
        return Ok(GetOptions::default());
    }
    let json = js_to_json(v, "options", Code::BadRequest)?;
    let f = Fields::new(&json, "options", Code::BadRequest)?;
    f.only(&[
        "force",
        "minValiditySeconds",
        "deadline",
        "rejectedRefreshedAt",
    ])?;
    Ok(GetOptions {
        force: f.opt_bool("force")?.unwrap_or(false),
        rejected_refreshed_at_ms: f.opt_i64("rejectedRefreshedAt")?,
        min_validity_ms: f
            .opt_u64("minValiditySeconds")?
            .map(|s| (s as i64).saturating_mul(1000)),
        deadline_ms: f.opt_i64("deadline")?,
    })
}

fn initial_tokens(v: &JsValue) -> Result<InitialTokens, Error> {
    let json = js_to_json(v, "tokens", Code::BadRequest)?;
    let f = Fields::new(&json, "tokens", Code::BadRequest)?;
    f.only(&[
        "accessToken",
        "refreshToken",
        "expiresIn",
        "expiresAt",
        "scope",
    ])?;
    Ok(InitialTokens {
        access_token: f.str("accessToken")?,
        refresh_token: f.opt_str("refreshToken")?,
        expires_in_secs: f.opt_u64("expiresIn")?,
        expires_at_ms: f.opt_i64("expiresAt")?,
        scope: f.opt_str("scope")?,
        refresh_token_expires_in_secs: None,
        account: None,
    })
}

fn report_to_js(r: &StatusReport) -> JsValue {
    obj(&[
        ("provider", s(&r.provider)),
        ("status", s(&r.status)),
        ("connected", JsValue::from_bool(r.connected)),
        ("requiresReauth", JsValue::from_bool(r.requires_reauth)),
        ("expiresAt", opt_n(r.expires_at)),
        ("tokenRefreshedAt", opt_n(r.token_refreshed_at)),
        ("scopes", strings(&r.scopes)),
        ("hasRefreshToken", JsValue::from_bool(r.has_refresh_token)),
        ("refreshTokenExpiresAt", opt_n(r.refresh_token_expires_at)),
        ("lastErrorCode", opt_s(r.last_error_code.as_deref())),
        ("lastErrorMessage", opt_s(r.last_error_message.as_deref())),
        ("lastErrorAt", opt_n(r.last_error_at)),
        ("failureCount", n(r.failure_count.into())),
        ("cooldownUntil", opt_n(r.cooldown_until)),
        ("accountId", opt_s(r.account_id.as_deref())),
        ("accountEmail", opt_s(r.account_email.as_deref())),
        ("accountName", opt_s(r.account_name.as_deref())),
        (
            "warning",
            r.warning.as_ref().map_or(JsValue::NULL, |w| {
                obj(&[
                    ("code", s(w.code)),
                    ("message", s(&w.message)),
                    ("reconnectBefore", n(w.reconnect_before)),
                ])
            }),
        ),
    ])
}

fn error_obj(e: &Error) -> JsValue {
    obj(&[("code", s(e.code.as_str())), ("message", s(&e.message))])
}

fn connect_options(v: &JsValue) -> Result<ConnectOptions, Error> {
    let json = js_to_json(v, "options", Code::BadRequest)?;
    let f = Fields::new(&json, "options", Code::BadRequest)?;
    f.only(&["redirectUri", "returnTo", "scopes"])?;
    Ok(ConnectOptions {
        redirect_uri: f.str("redirectUri")?,
        return_to: f.str("returnTo")?,
        scopes: f.opt_scopes("scopes")?,
    })
}

fn disconnect_to_js(r: &DisconnectReport) -> JsValue {
    obj(&[
        ("provider", s(&r.status.provider)),
        ("status", report_to_js(&r.status)),
        ("revocation", s(r.revocation.as_str())),
        (
            "revocationError",
            match &r.revocation {
                RevokeOutcome::Failed(e) => error_obj(e),
                _ => JsValue::NULL,
            },
        ),
    ])
}

fn sweep_to_js(r: &SweepReport) -> JsValue {
    obj(&[
        ("checked", n(r.checked.into())),
        ("refreshed", n(r.refreshed.into())),
        ("failed", n(r.failed.into())),
        ("codes", strings(&r.codes)),
    ])
}

fn reject(e: Error) -> JsValue {
    error_to_js(&e)
}

/// One `future_to_promise` for every export: the executor's task, its
/// promise callbacks and their drop code are instantiated once, for a boxed
/// future, rather than once per export's future type (2.6 KB gzip).
fn promise(f: impl Future<Output = Result<JsValue, JsValue>> + 'static) -> Promise {
    let f: Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>> = Box::pin(f);
    future_to_promise(f)
}

/// `getValidToken`'s promise, for the three entries that ask for a token:
/// one state machine for the three.
fn token_promise(
    inner: Rc<Inner>,
    user_id: String,
    provider: String,
    opts: GetOptions,
    first: Loading,
) -> Promise {
    promise(async move {
        let row = first.row().await.map_err(reject)?;
        let t = inner
            .get_valid_token_from(&user_id, &provider, opts, Some(row))
            .await
            .map_err(reject)?;
        Ok(valid_token_to_js(&t))
    })
}

fn function_option(options: &JsValue, name: &str) -> Result<Option<Function>, Error> {
    if options.is_undefined() || options.is_null() {
        return Ok(None);
    }
    let v = get(options, name);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.dyn_into::<Function>()
        .map(Some)
        .map_err(|_| Error::config(format!("options.{name}: must be a function")))
}

fn valid_token_to_js(t: &ValidToken) -> JsValue {
    valid_token_js(
        t.access_token.expose(),
        opt_n(t.expires_at_ms),
        opt_s(t.token_refreshed_at_ms.map(marker::format).as_deref()),
        opt_n(t.token_refreshed_at_ms),
        opt_s(t.scope.as_deref()),
        t.refreshed,
        t.warning
            .as_ref()
            .map(warning_to_js)
            .unwrap_or(JsValue::NULL),
    )
}

#[wasm_bindgen]
impl TokenManager {
    /// Validates the configuration and the store; throws a `TokenManagerError`
    /// with code `CONFIG` naming the offending field.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "ManagerConfig")] config: JsValue,
        #[wasm_bindgen(unchecked_param_type = "TokenStore")] store: JsValue,
        options: Option<ManagerOptionsJs>,
    ) -> Result<TokenManager, JsValue> {
        Self::build(
            config,
            store,
            options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED),
        )
        .map_err(reject)
    }

    fn build(config: JsValue, store: JsValue, options: JsValue) -> Result<TokenManager, Error> {
        if !config.is_object() {
            return Err(Error::config("config: must be an object"));
        }
        let cfg = ManagerConfig::from_value(&js_to_json(&config, "config", Code::Config)?)?;
        let store = JsStore::new(store)?;
        let fetch = match function_option(&options, "fetch")? {
            Some(f) => f,
            None => get(&js_sys::global(), "fetch")
                .dyn_into::<Function>()
                .map_err(|_| {
                    Error::config("options.fetch: no global fetch in this runtime; pass one")
                })?,
        };
        let on_event = function_option(&options, "onEvent")?;
        // Lease owner ids and nonces are drawn from Web Crypto (getrandom's
        // wasm_js backend): a runtime without it is refused here, not at its
        // first draw. Looked up, not called: a cold isolate compiles the draw
        // when it first needs one.
        if !get(&get(&js_sys::global(), "crypto"), "getRandomValues").is_function() {
            return Err(Error::config(
                "crypto.getRandomValues is unavailable in this runtime",
            ));
        }
        let inner = Manager::new(cfg, FetchTransport { fetch }, store, JsRuntime { on_event });
        Ok(TokenManager {
            inner: Rc::new(inner),
        })
    }

    /// This instance's id, the prefix of its lease owner ids.
    #[wasm_bindgen(getter, js_name = instanceId)]
    pub fn instance_id(&self) -> String {
        self.inner.instance_id().to_string()
    }

    /// A valid access token: cached if fresh, else refreshed once across all callers.
    #[wasm_bindgen(js_name = getValidToken, unchecked_return_type = "Promise<ValidToken>")]
    pub fn get_valid_token(
        &self,
        user_id: String,
        provider: String,
        options: Option<GetOptionsJs>,
    ) -> Promise {
        let inner = self.inner.clone();
        let options = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        let opts = match get_options(&options) {
            Ok(o) => o,
            Err(e) => return Promise::reject(&reject(e)),
        };
        // The hot path: every call reads the store (that is what keeps
        // instances in agreement), but a synchronous store and a fresh token
        // need no future. An async store's read is handed on, not repeated.
        let first = match inner.store().load_now(&user_id, &provider) {
            Ok(Loading::Now(Some(row))) => {
                if let Some(t) = inner.fresh_token(&row, &user_id, &provider, opts) {
                    return Promise::resolve(&valid_token_to_js(&t));
                }
                Loading::Now(Some(row))
            }
            Ok(loading) => loading,
            Err(e) => return Promise::reject(&reject(e)),
        };
        token_promise(inner, user_id, provider, opts, first)
    }

    /// `getValidToken` (no options) for what the caller's own `store.load`
    /// returned: a row, `null`, or a promise for either (the package's entry
    /// reads the store itself to check its memo; see js/index.js).
    #[wasm_bindgen(js_name = _fromLoaded, skip_typescript)]
    pub fn from_loaded(&self, user_id: String, provider: String, loaded: JsValue) -> Promise {
        let inner = self.inner.clone();
        let first = match Loading::of(loaded) {
            Ok(l) => l,
            Err(e) => return Promise::reject(&reject(e)),
        };
        token_promise(inner, user_id, provider, GetOptions::default(), first)
    }

    /// `getValidToken`'s answer (no options) for this row, when it needs no
    /// I/O, as `[token, freshUntil, generation]`: the same answer for the
    /// same row values at the same `generation` while `Date.now()` is before
    /// `freshUntil`. `undefined` when the full path must run.
    #[wasm_bindgen(js_name = _memo, skip_typescript)]
    pub fn memo(&self, row: JsValue, user_id: String, provider: String) -> JsValue {
        let Ok(Some(row)) = parse_loaded(&row) else {
            return JsValue::UNDEFINED;
        };
        let Some(t) = self
            .inner
            .fresh_token(&row, &user_id, &provider, GetOptions::default())
        else {
            return JsValue::UNDEFINED;
        };
        let token = valid_token_to_js(&t);
        js_sys::Object::freeze(token.unchecked_ref::<js_sys::Object>());
        let until = self
            .inner
            .fresh_until(&row)
            .map_or(f64::INFINITY, |u| u as f64);
        js_sys::Array::of3(&token, &until.into(), &self.inner.generation().into()).into()
    }

    /// Changes whenever `_memo`'s answers may have for reasons other than
    /// the row and the time.
    #[wasm_bindgen(getter, js_name = _generation, skip_typescript)]
    pub fn generation(&self) -> u32 {
        self.inner.generation()
    }

    /// `getValidToken` for a connection row the caller has just read from the
    /// store (a background refresher's claim returns them): the same refresh,
    /// lease and checks, without reading the row again.
    #[wasm_bindgen(js_name = getValidTokenFor, unchecked_return_type = "Promise<ValidToken>")]
    pub fn get_valid_token_for(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ConnectionRow")] row: JsValue,
        options: Option<GetOptionsJs>,
    ) -> Promise {
        let inner = self.inner.clone();
        let options = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        let parsed = get_options(&options).and_then(|o| Ok((o, row_from_js(&row, "row")?)));
        let (opts, row) = match parsed {
            Ok(x) => x,
            Err(e) => return Promise::reject(&reject(e)),
        };
        let (user_id, provider) = (row.user_id.clone(), row.provider.clone());
        token_promise(
            inner,
            user_id,
            provider,
            opts,
            Loading::Now(Some(Box::new(row))),
        )
    }

    /// Saves the tokens a sign-in returned (Supabase `provider_token` / `provider_refresh_token`).
    /// The same sign-in's tokens sent again (the same access token: a retry
    /// after an answer lost on the way) write nothing and answer the status as
    /// it is, unless they bring the refresh token a working grant lacks.
    #[wasm_bindgen(js_name = storeTokens, unchecked_return_type = "Promise<StatusReport>")]
    pub fn store_tokens(
        &self,
        user_id: String,
        provider: String,
        #[wasm_bindgen(unchecked_param_type = "InitialTokens")] tokens: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let t = initial_tokens(&tokens).map_err(reject)?;
            let r = inner
                .store_tokens(&user_id, &provider, t)
                .await
                .map_err(reject)?;
            Ok(report_to_js(&r))
        })
    }

    /// Status, expiry, marker, scopes and last error. Never a token.
    #[wasm_bindgen(unchecked_return_type = "Promise<StatusReport>")]
    pub fn status(&self, user_id: String, provider: String) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let r = inner.status(&user_id, &provider).await.map_err(reject)?;
            Ok(report_to_js(&r))
        })
    }

    /// The refresh lease in milliseconds, as derived from the timeout and
    /// retry policy (or `leaseMs`): the longest one refresh may hold it.
    #[wasm_bindgen(getter, js_name = leaseMs)]
    pub fn lease_ms(&self) -> f64 {
        self.inner.policy().lease_ms as f64
    }

    /// One provider call's timeout in milliseconds (`requestTimeoutMs`): how
    /// long a refresh begun just before a deadline may still run past it.
    #[wasm_bindgen(getter, js_name = requestTimeoutMs)]
    pub fn request_timeout_ms(&self) -> f64 {
        self.inner.policy().request_timeout_ms as f64
    }

    /// Each configured provider's keep-alive and warning windows, sorted by
    /// id: what the background refresher schedules by.
    #[wasm_bindgen(getter, js_name = providerUpkeep, unchecked_return_type = "ProviderUpkeep[]")]
    pub fn provider_upkeep(&self) -> js_sys::Array {
        self.inner
            .upkeep()
            .iter()
            .map(|u| {
                obj(&[
                    ("provider", s(&u.provider)),
                    (
                        "keepAliveSeconds",
                        u.keep_alive_secs
                            .map_or(JsValue::NULL, |k| JsValue::from_f64(k as f64)),
                    ),
                    (
                        "refreshTokenWarningSeconds",
                        JsValue::from_f64(u.refresh_token_warning_secs as f64),
                    ),
                ])
            })
            .collect()
    }

    /// The provider refused an API call for lack of a scope: marks the
    /// connection `needs_reauth` / `INSUFFICIENT_SCOPE` (the token keeps
    /// serving the scopes it has) and writes an event.
    #[wasm_bindgen(js_name = recordScopeError, unchecked_return_type = "Promise<StatusReport>")]
    pub fn record_scope_error(
        &self,
        user_id: String,
        provider: String,
        missing_scopes: Vec<String>,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let r = inner
                .record_scope_error(&user_id, &provider, &missing_scopes)
                .await
                .map_err(reject)?;
            Ok(report_to_js(&r))
        })
    }

    /// Revokes the grant at the provider where it can (RFC 7009, Google,
    /// GitHub), then erases the sealed tokens and marks the connection
    /// disconnected whatever the provider said; the report says what happened there.
    #[wasm_bindgen(unchecked_return_type = "Promise<DisconnectReport>")]
    pub fn disconnect(&self, user_id: String, provider: String) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let r = inner
                .disconnect(&user_id, &provider)
                .await
                .map_err(reject)?;
            Ok(disconnect_to_js(&r))
        })
    }

    /// Every configured provider's status for the user (`disconnected` where none).
    #[wasm_bindgen(js_name = statusAll, unchecked_return_type = "Promise<StatusReport[]>")]
    pub fn status_all(&self, user_id: String) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let all = inner.status_all(&user_id).await.map_err(reject)?;
            Ok(all
                .iter()
                .map(report_to_js)
                .collect::<js_sys::Array>()
                .into())
        })
    }

    /// Connect, step 1 (the user's session): the provider's authorization URL
    /// (RFC 6749 §4.1.1 with PKCE S256). Check `returnTo` against your
    /// allowlist first.
    #[wasm_bindgen(js_name = beginConnect, unchecked_return_type = "Promise<ConnectStart>")]
    pub fn begin_connect(
        &self,
        user_id: String,
        provider: String,
        #[wasm_bindgen(unchecked_param_type = "ConnectOptions")] options: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let opts = connect_options(&options).map_err(reject)?;
            let r = inner
                .begin_connect(&user_id, &provider, opts)
                .await
                .map_err(reject)?;
            Ok(obj(&[
                ("authorizationUrl", s(&r.authorization_url)),
                ("expiresAt", n(r.expires_at)),
            ]))
        })
    }

    /// Connect, step 2 (the provider's redirect, no session): consumes the
    /// state. Rejects with `CONNECT_STATE_INVALID` for a state it never
    /// issued; otherwise says where to send the browser, with a ticket or an error.
    #[wasm_bindgen(js_name = connectCallback, unchecked_return_type = "Promise<ConnectCallbackResult>")]
    pub fn connect_callback(
        &self,
        #[wasm_bindgen(
            unchecked_param_type = "{ state: string; code?: string | null; error?: string | null; iss?: string | null }"
        )]
        params: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let state = get(&params, "state").as_string().unwrap_or_default();
            let code = get(&params, "code").as_string();
            let error = get(&params, "error").as_string();
            let iss = get(&params, "iss").as_string();
            let r = inner
                .connect_callback(&state, code.as_deref(), error.as_deref(), iss.as_deref())
                .await
                .map_err(reject)?;
            Ok(obj(&[
                ("provider", s(&r.provider)),
                ("returnTo", s(&r.return_to)),
                ("ticket", opt_s(r.ticket.as_deref())),
                (
                    "error",
                    r.error.as_ref().map(error_obj).unwrap_or(JsValue::NULL),
                ),
            ]))
        })
    }

    /// Connect, step 3 (the user's session again): the ticket must be this
    /// user's. Exchanges the code, reads who connected, stores the tokens.
    #[wasm_bindgen(js_name = completeConnect, unchecked_return_type = "Promise<StatusReport>")]
    pub fn complete_connect(&self, user_id: String, ticket: String) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let r = inner
                .complete_connect(&user_id, &ticket)
                .await
                .map_err(reject)?;
            Ok(report_to_js(&r))
        })
    }

    /// Background refresher: refreshes up to `limit` (100) connections
    /// expiring within `withinSeconds`. Numbers as JavaScript gives them: a
    /// missing limit, a fraction or a negative is not wrapped into another.
    #[wasm_bindgen(js_name = refreshExpiring, unchecked_return_type = "Promise<SweepReport>")]
    pub fn refresh_expiring(
        &self,
        #[wasm_bindgen(js_name = withinSeconds, unchecked_param_type = "number")]
        within_seconds: Option<f64>,
        limit: Option<f64>,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let whole = |v: Option<f64>, name: &str, max: u64| match v {
                Some(x) if x.fract() == 0.0 && x >= 0.0 && x <= max as f64 => Ok(Some(x as u64)),
                None => Ok(None),
                Some(_) => Err(reject(Error::new(
                    Code::BadRequest,
                    cat(&[
                        name,
                        ": must be a whole number from 0 to ",
                        &max.to_string(),
                    ]),
                ))),
            };
            let within = whole(
                within_seconds,
                "withinSeconds",
                crate::core::config::MAX_SECS,
            )?
            .ok_or_else(|| reject(Error::new(Code::BadRequest, "withinSeconds: required")))?;
            let limit = whole(limit, "limit", u32::MAX.into())?.map_or(100, |l| l as u32);
            let r = inner
                .refresh_expiring(within as i64 * 1000, limit)
                .await
                .map_err(reject)?;
            Ok(sweep_to_js(&r))
        })
    }
}
