//! Provider calls through the runtime's `fetch` (global, or one passed in
//! options), with an `AbortController` timeout covering headers and body.

use std::cell::Cell;
use std::rc::Rc;

use js_sys::{Function, Object};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::AbortController;

use super::convert::{get, set};
use super::util::{clear_timeout, set_timeout, settle};
use crate::core::http::{HttpRequest, HttpResponse, Transport, TransportError};
use crate::core::text::cat;

pub struct FetchTransport {
    pub fetch: Function,
}

/// The longest answer read from a provider (token, user-info, revocation).
const MAX_BODY_BYTES: usize = 1 << 20;

/// Response headers the core reads.
const HEADERS: [&str; 7] = [
    "retry-after",
    "content-type",
    "content-length",
    "x-token-refreshed-at",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-ratelimit-reset-after",
];

/// What a failed fetch threw, as a transport error's detail (the browser
/// client's driver reports its own the same way).
pub(super) fn describe(e: &JsValue) -> String {
    // Name and message only, never the body.
    let name = get(e, "name").as_string().unwrap_or_else(|| "Error".into());
    let msg = get(e, "message").as_string().unwrap_or_default();
    cat(&[&name, ": ", &msg]).chars().take(200).collect()
}

/// A failed provider call's error: its cause only, as the core words it
/// (Deno's messages name the URL and both ends' addresses).
fn network(e: &JsValue) -> TransportError {
    // The whole message (the cause comes after the URL and both addresses).
    let msg = get(e, "message").as_string().unwrap_or_default();
    TransportError::Network(crate::core::http::network_cause(&msg).into())
}

impl Transport for FetchTransport {
    async fn send(
        &self,
        req: HttpRequest,
        timeout_ms: u64,
    ) -> Result<HttpResponse, TransportError> {
        // Every supported runtime has AbortController; without one the timeout cannot cut the call.
        let controller = AbortController::new().map_err(|e| network(&e))?;
        let timed_out = Rc::new(Cell::new(false));
        let flag = timed_out.clone();
        let ctrl = controller.clone();
        // Kept here and dropped after the timer is cleared: a closure handed
        // to JS for good (`once_into_js`) is freed only if it runs, so every
        // call that beat its timeout leaked it and the controller it holds.
        let on_timeout: Closure<dyn FnMut()> = Closure::once(move || {
            flag.set(true);
            ctrl.abort();
        });
        let timer = set_timeout(on_timeout.as_ref().unchecked_ref(), timeout_ms as f64);

        let headers: JsValue = Object::new().into();
        for (k, v) in &req.headers {
            set(&headers, k, &JsValue::from_str(v));
        }
        let init: JsValue = Object::new().into();
        set(&init, "method", &JsValue::from_str(req.method));
        set(&init, "headers", &headers);
        // Fetch refuses any body on GET and HEAD, even an empty one.
        if !matches!(req.method, "GET" | "HEAD") {
            set(&init, "body", &JsValue::from_str(&req.body));
        }
        set(&init, "signal", controller.signal().as_ref());
        set(&init, "redirect", &JsValue::from_str("error"));

        let result = async {
            let called = self
                .fetch
                .call2(&JsValue::UNDEFINED, &JsValue::from_str(&req.url), &init)
                .map_err(|e| network(&e))?;
            let resp = settle(called).await.map_err(|e| {
                if timed_out.get() {
                    TransportError::Timeout
                } else {
                    network(&e)
                }
            })?;
            let status = get(&resp, "status").as_f64().unwrap_or(0.0) as u16;
            let hdrs = get(&resp, "headers");
            let getter: Option<Function> = get(&hdrs, "get").dyn_into().ok();
            let mut out = Vec::new();
            if let Some(g) = getter {
                for name in HEADERS {
                    if let Ok(v) = g.call1(&hdrs, &JsValue::from_str(name)) {
                        if let Some(s) = v.as_string() {
                            out.push((name.to_string(), s));
                        }
                    }
                }
            }
            // A provider's answer is a few hundred bytes: one past the limit
            // (said by its length, or found so once read) is not parsed into
            // a tree ten times its size. Its body is empty here, which the
            // parsers refuse as no answer (BAD_PROVIDER_RESPONSE).
            let declared = out
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.trim().parse::<u64>().ok());
            if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
                if let Ok(cancel) = get(&get(&resp, "body"), "cancel").dyn_into::<Function>() {
                    let _ = cancel.call0(&get(&resp, "body"));
                }
                return Ok(HttpResponse {
                    status,
                    headers: out,
                    body: String::new(),
                });
            }
            let text_fn: Function = get(&resp, "text").dyn_into().map_err(|_| {
                TransportError::Network("fetch returned something that is not a Response".into())
            })?;
            let text = settle(text_fn.call0(&resp).map_err(|e| network(&e))?)
                .await
                .map_err(|e| {
                    if timed_out.get() {
                        TransportError::Timeout
                    } else {
                        network(&e)
                    }
                })?;
            let too_long = text
                .dyn_ref::<js_sys::JsString>()
                .is_some_and(|s| s.length() as usize > MAX_BODY_BYTES);
            Ok(HttpResponse {
                status,
                headers: out,
                body: if too_long {
                    String::new()
                } else {
                    text.as_string().unwrap_or_default()
                },
            })
        }
        .await;
        clear_timeout(&timer);
        drop(on_timeout);
        result
    }
}
