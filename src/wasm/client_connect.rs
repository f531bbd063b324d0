//! The browser client's connection helpers: every connection's status,
//! connect / reconnect through the provider's consent page, finishing a
//! connect on return (the ticket only this session can use), and disconnect.

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::future_to_promise;

use super::client::{call_json, reject, BrowserTokenClient};
use super::convert::{get, obj, s, set};
use crate::core::client::check_connection;
use crate::core::error::{Code, Error};

#[wasm_bindgen]
impl BrowserTokenClient {
    /// The status of every connection of the user (`GET connections`): status,
    /// account, scopes, expiry, last error, `requiresReauth`. Never a token.
    #[wasm_bindgen(unchecked_return_type = "Promise<StatusReport[]>")]
    pub fn connections(&self) -> Promise {
        let (inner, fetch) = (self.inner.clone(), self.fetch.clone());
        future_to_promise(async move {
            call_json(&inner, &fetch, "connections", JsValue::UNDEFINED, None).await
        })
    }

    /// Connect or reconnect a provider: asks the functions for the
    /// authorization URL (state and PKCE stay on the server) and, in a
    /// browser, goes there. Back on `returnTo` (default: this page), call
    /// `completeConnect()`.
    #[wasm_bindgen(unchecked_return_type = "Promise<{ authorizationUrl: string }>")]
    pub fn connect(
        &self,
        provider: String,
        #[wasm_bindgen(
            unchecked_optional_param_type = "{ returnTo?: string; scopes?: string[]; navigate?: boolean }"
        )]
        options: Option<js_sys::Object>,
    ) -> Promise {
        let (inner, fetch) = (self.inner.clone(), self.fetch.clone());
        let options: JsValue = options.map(Into::into).unwrap_or(JsValue::UNDEFINED);
        future_to_promise(async move {
            check_connection(&provider).map_err(reject)?;
            let location = get(&js_sys::global(), "location");
            let return_to = get(&options, "returnTo")
                .as_string()
                .or_else(|| get(&location, "href").as_string())
                .ok_or_else(|| {
                    reject(Error::new(
                        Code::BadRequest,
                        "returnTo: required outside a browser",
                    ))
                })?;
            let body = obj(&[("returnTo", s(&return_to))]);
            let scopes = get(&options, "scopes");
            if !scopes.is_undefined() {
                set(&body, "scopes", &scopes);
            }
            let r = call_json(
                &inner,
                &fetch,
                &format!("connections/{provider}/connect"),
                body,
                None,
            )
            .await?;
            let navigate = get(&options, "navigate").as_bool().unwrap_or(true);
            if navigate {
                if let Ok(assign) = get(&location, "assign").dyn_into::<Function>() {
                    assign.call1(&location, &get(&r, "authorizationUrl"))?;
                }
            }
            Ok(r)
        })
    }

    /// Back from a provider's consent page: completes the connect with this
    /// session (the ticket only this user can use), or reports the error the
    /// callback sent. Reads `otm_connect` / `otm_error` from `url` (default:
    /// this page) and removes them from the address bar. Resolves to `null`
    /// when the page was not a connect's return.
    #[wasm_bindgen(js_name = completeConnect, unchecked_return_type = "Promise<{ provider: string; status: StatusReport | null; error: { code: ErrorCode; message: string } | null } | null>")]
    pub fn complete_connect(&self, url: Option<String>) -> Promise {
        let (inner, fetch) = (self.inner.clone(), self.fetch.clone());
        future_to_promise(async move {
            let location = get(&js_sys::global(), "location");
            let Some(url) = url.or_else(|| get(&location, "href").as_string()) else {
                return Ok(JsValue::NULL);
            };
            let params = return_params(&url);
            let Some(provider) = params.provider else {
                return Ok(JsValue::NULL);
            };
            forget_return_params(&url);
            let result = match (params.ticket, params.error) {
                (Some(ticket), _) => {
                    match call_json(
                        &inner,
                        &fetch,
                        "connections/complete",
                        obj(&[("ticket", s(&ticket))]),
                        None,
                    )
                    .await
                    {
                        Ok(status) => obj(&[
                            ("provider", s(&provider)),
                            ("status", status),
                            ("error", JsValue::NULL),
                        ]),
                        Err(e) => obj(&[
                            ("provider", s(&provider)),
                            ("status", JsValue::NULL),
                            (
                                "error",
                                obj(&[("code", get(&e, "code")), ("message", get(&e, "message"))]),
                            ),
                        ]),
                    }
                }
                (None, Some(code)) => obj(&[
                    ("provider", s(&provider)),
                    ("status", JsValue::NULL),
                    (
                        "error",
                        obj(&[
                            ("code", s(&code)),
                            ("message", s(&connect_error_sentence(&code))),
                        ]),
                    ),
                ]),
                (None, None) => return Ok(JsValue::NULL),
            };
            Ok(result)
        })
    }

    /// Disconnect a provider: revoked there where it can be, erased here; the
    /// report says what happened at the provider. Drops the cached token,
    /// here and in the user's other tabs.
    #[wasm_bindgen(unchecked_return_type = "Promise<DisconnectReport>")]
    pub fn disconnect(&self, provider: String) -> Promise {
        let (inner, fetch) = (self.inner.clone(), self.fetch.clone());
        future_to_promise(async move {
            check_connection(&provider).map_err(reject)?;
            let r = call_json(
                &inner,
                &fetch,
                &format!("connections/{provider}/disconnect"),
                obj(&[]),
                None,
            )
            .await?;
            inner.disconnected(&provider);
            Ok(r)
        })
    }
}

/// What the connect callback put on the return page's address.
struct ReturnParams {
    provider: Option<String>,
    ticket: Option<String>,
    error: Option<String>,
}

fn return_params(url: &str) -> ReturnParams {
    let params = js_sys::Reflect::construct(
        &get(&js_sys::global(), "URL").unchecked_into::<Function>(),
        &js_sys::Array::of1(&s(url)),
    )
    .map(|u| get(&u, "searchParams"))
    .unwrap_or(JsValue::UNDEFINED);
    let param = |k: &str| -> Option<String> {
        let f: Function = get(&params, "get").dyn_into().ok()?;
        f.call1(&params, &s(k)).ok()?.as_string()
    };
    ReturnParams {
        provider: param("otm_provider").filter(|p| check_connection(p).is_ok()),
        ticket: param("otm_connect"),
        error: param("otm_error"),
    }
}

/// Removes the connect's parameters from the address bar (the ticket is single use).
fn forget_return_params(url: &str) {
    let history = get(&js_sys::global(), "history");
    let Ok(replace) = get(&history, "replaceState").dyn_into::<Function>() else {
        return;
    };
    let Ok(u) = js_sys::Reflect::construct(
        &get(&js_sys::global(), "URL").unchecked_into::<Function>(),
        &js_sys::Array::of1(&s(url)),
    ) else {
        return;
    };
    let params = get(&u, "searchParams");
    if let Ok(delete) = get(&params, "delete").dyn_into::<Function>() {
        for k in ["otm_connect", "otm_error", "otm_provider"] {
            let _ = delete.call1(&params, &s(k));
        }
    }
    let _ = replace.call3(&history, &JsValue::NULL, &s(""), &get(&u, "href"));
}

/// Plain words for the errors the callback can send back.
fn connect_error_sentence(code: &str) -> String {
    match code {
        "CONSENT_DENIED" => "Access was not granted at the provider.",
        "CONNECT_STATE_INVALID" => {
            "That connect link expired or was already used. Start connecting again."
        }
        _ => "Connecting did not finish. Start connecting again.",
    }
    .to_string()
}
