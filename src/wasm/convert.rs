//! JSON-shaped values across the boundary, and errors as real JS `Error`s
//! carrying `code`, `status`, `requiresReauth`, `retryable` and `retryAfter`.

use js_sys::{Reflect, JSON};
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::core::error::{Code, Error};

pub fn to_js<T: Serialize>(value: &T) -> JsValue {
    match serde_json::to_string(value) {
        Ok(s) => JSON::parse(&s).unwrap_or(JsValue::NULL),
        Err(_) => JsValue::NULL,
    }
}

/// Decodes a JS value through JSON. `what` names it in the error.
pub fn from_js<T: DeserializeOwned>(value: &JsValue, what: &str, code: Code) -> Result<T, Error> {
    let text: String = if value.is_undefined() {
        "null".to_string()
    } else {
        JSON::stringify(value)
            .ok()
            .and_then(|s| s.as_string())
            .ok_or_else(|| Error::new(code, format!("{what}: not JSON-serialisable")))?
    };
    let de = &mut serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner().to_string();
        let inner = inner.split(" at line ").next().unwrap_or(&inner).to_string();
        if path == "." || path.is_empty() {
            Error::new(code, format!("{what}: {inner}"))
        } else {
            Error::new(code, format!("{what}.{path}: {inner}"))
        }
    })
}

pub fn set(obj: &JsValue, key: &str, value: &JsValue) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), value);
}

pub fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// A JS `Error` for a core error.
pub fn error_to_js(e: &Error) -> JsValue {
    let err = js_sys::Error::new(&e.message);
    err.set_name("TokenManagerError");
    let v: JsValue = err.into();
    set(&v, "code", &JsValue::from_str(e.code.as_str()));
    set(&v, "status", &e.status.map(|s| JsValue::from(s as f64)).unwrap_or(JsValue::NULL));
    set(&v, "httpStatus", &JsValue::from(e.code.http_status() as f64));
    set(&v, "requiresReauth", &JsValue::from_bool(e.requires_reauth()));
    set(&v, "retryable", &JsValue::from_bool(e.retryable()));
    if let Some(r) = e.retry_after_secs {
        set(&v, "retryAfter", &JsValue::from(r as f64));
    }
    v
}

/// A plain object for a warning carried by a successful result.
pub fn warning_to_js(e: &Error) -> JsValue {
    let o: JsValue = js_sys::Object::new().into();
    set(&o, "code", &JsValue::from_str(e.code.as_str()));
    set(&o, "message", &JsValue::from_str(&e.message));
    if let Some(r) = e.retry_after_secs {
        set(&o, "retryAfter", &JsValue::from(r as f64));
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
    Error::new(own.unwrap_or(code), format!("{context}: {message}"))
}
