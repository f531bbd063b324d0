//! Values across the boundary: results built field by field through
//! `Reflect`, arguments read from one `JSON.stringify` (errors name the
//! field), and errors as real JS `Error`s carrying `code`, `status`,
//! `requiresReauth`, `retryable` and `retryAfter`.

use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;

use crate::core::error::{Code, Error, Result};
use crate::core::json;
use crate::core::store::RefreshEvent;
use crate::core::text::cat;

pub fn set(obj: &JsValue, key: &str, value: &JsValue) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), value);
}

/// `obj[key]`, or `undefined` when `obj` is not an object (reading a property
/// of `undefined` throws, and throwing is slow on a hot path).
pub fn get(obj: &JsValue, key: &str) -> JsValue {
    if !obj.is_object() && !obj.is_function() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// A new object from key/value pairs.
pub fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o: JsValue = Object::new().into();
    for (k, v) in pairs {
        set(&o, k, v);
    }
    o
}

pub fn s(v: &str) -> JsValue {
    JsValue::from_str(v)
}

pub fn n(v: i64) -> JsValue {
    JsValue::from(v as f64)
}

pub fn opt_n(v: Option<i64>) -> JsValue {
    v.map(n).unwrap_or(JsValue::NULL)
}

pub fn opt_s(v: Option<&str>) -> JsValue {
    v.map(s).unwrap_or(JsValue::NULL)
}

pub fn strings(v: &[String]) -> JsValue {
    v.iter().map(|x| s(x)).collect::<js_sys::Array>().into()
}

#[wasm_bindgen(module = "/js/boundary.js")]
extern "C" {
    /// `{ accessToken, expiresAt, tokenRefreshedAt, tokenRefreshedAtMs, scope, refreshed, warning }` in one call.
    #[wasm_bindgen(js_name = validToken)]
    pub fn valid_token_js(
        access_token: &str,
        expires_at: JsValue,
        token_refreshed_at: JsValue,
        token_refreshed_at_ms: JsValue,
        scope: JsValue,
        refreshed: bool,
        warning: JsValue,
    ) -> JsValue;
    /// A store row's `JSON.stringify`, with BigInt numbers read as numbers.
    #[wasm_bindgen(js_name = rowJson, catch)]
    fn row_json(row: &JsValue) -> std::result::Result<JsValue, JsValue>;
    /// `{ userId, provider }` in one call.
    #[wasm_bindgen(js_name = rowKey)]
    pub fn row_key_js(user_id: &str, provider: &str) -> JsValue;
}

#[wasm_bindgen(module = "/js/errors.js")]
extern "C" {
    /// The package's exported error class (js/errors.js).
    #[wasm_bindgen(js_name = TokenManagerError)]
    type TokenManagerErrorJs;
    #[wasm_bindgen(constructor, js_class = "TokenManagerError")]
    fn new(
        message: &str,
        code: &str,
        http_status: u16,
        status: JsValue,
        requires_reauth: bool,
        retryable: bool,
        retry_after: JsValue,
    ) -> TokenManagerErrorJs;
}

/// A `TokenManagerError` (a real `Error` subclass) for a core error.
pub fn error_to_js(e: &Error) -> JsValue {
    let js: JsValue = TokenManagerErrorJs::new(
        &e.message,
        e.code.as_str(),
        e.code.http_status(),
        opt_n(e.status.map(i64::from)),
        e.requires_reauth(),
        e.retryable(),
        e.retry_after_secs
            .map(|r| n(r as i64))
            .unwrap_or(JsValue::UNDEFINED),
    )
    .into();
    if let Some(r) = e.provider_retry_after_secs {
        set(&js, "providerRetryAfter", &n(r as i64));
    }
    js
}

/// A plain object for a warning carried by a successful result.
pub fn warning_to_js(e: &Error) -> JsValue {
    let o = obj(&[("code", s(e.code.as_str())), ("message", s(&e.message))]);
    if let Some(r) = e.retry_after_secs {
        set(&o, "retryAfter", &n(r as i64));
    }
    if let Some(r) = e.provider_retry_after_secs {
        set(&o, "providerRetryAfter", &n(r as i64));
    }
    o
}

/// Reads a thrown JS value into a core error of `code`, keeping a `code`
/// property that names one of ours (a JS store may throw SCHEMA_MISMATCH).
pub fn error_from_js(v: &JsValue, code: Code, context: &str) -> Error {
    let own = get(v, "code").as_string().and_then(|c| Code::parse(&c));
    let message = get(v, "message")
        .as_string()
        .or_else(|| v.as_string())
        .unwrap_or_else(|| "unknown error".to_string());
    let message: String = message.chars().take(300).collect();
    Error::new(own.unwrap_or(code), cat(&[context, ": ", &message]))
}

/// A JS value as JSON data: one native `JSON.stringify` and one parse, rather
/// than a walk across the boundary property by property (which costs a call
/// per field, and on a cold isolate a wrapper compiled per import). The core's
/// `Fields` then reads it with the same rules and messages as JSON text.
/// Functions, symbols and `undefined` are dropped, as `JSON.stringify` drops
/// them; a value it refuses (a cycle, a BigInt, a throwing `toJSON`) is an
/// error naming the path and no part of the value or what was thrown.
pub fn js_to_json(v: &JsValue, path: &str, code: Code) -> Result<json::Value> {
    json_of(js_sys::JSON::stringify(v).map(JsValue::from), path, code)
}

/// What a store returned, as JSON data: as `js_to_json`, but int8 columns
/// may come as BigInt (see `rowJson` in js/boundary.js).
pub fn store_json(v: &JsValue, path: &str) -> Result<json::Value> {
    json_of(row_json(v), path, Code::Storage)
}

fn json_of(
    text: std::result::Result<JsValue, JsValue>,
    path: &str,
    code: Code,
) -> Result<json::Value> {
    let refused = || {
        Error::new(
            code,
            cat(&[
                path,
                ": must be JSON data (no cycles, BigInts or throwing toJSON)",
            ]),
        )
    };
    match text.map_err(|_| refused())?.as_string() {
        // `JSON.stringify(undefined)` and of a function: nothing to read.
        None => Ok(json::Value::Null),
        Some(t) => json::parse(&t).map_err(|_| refused()),
    }
}

/// A refresh event for JS (the store's `appendEvent`, the `onEvent` hook).
pub fn event_to_js(e: &RefreshEvent) -> JsValue {
    obj(&[
        ("userId", s(&e.user_id)),
        ("provider", s(&e.provider)),
        ("kind", s(&e.kind)),
        ("code", opt_s(e.code.as_deref())),
        ("message", opt_s(e.message.as_deref())),
        ("at", n(e.at)),
        ("durationMs", opt_n(e.duration_ms)),
        ("attempts", opt_n(e.attempts.map(i64::from))),
        (
            "rotated",
            e.rotated.map(JsValue::from_bool).unwrap_or(JsValue::NULL),
        ),
        ("scopesAdded", strings(&e.scopes_added)),
        ("scopesRemoved", strings(&e.scopes_removed)),
        ("instance", s(&e.instance)),
    ])
}
