//! Timers and promises from the global scope (browsers, workers, Deno, Node).

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    pub fn set_timeout(callback: &Function, ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    pub fn clear_timeout(id: &JsValue);
}

pub async fn sleep_ms(ms: u64) {
    let p = Promise::new(&mut |resolve, _reject| {
        set_timeout(&resolve, ms as f64);
    });
    let _ = JsFuture::from(p).await;
}

/// Awaits a value that may or may not be a promise. A plain value is
/// returned at once: no promise, no future (the browser client reads the
/// session on every call, and most stores answer synchronously or not at all).
pub async fn settle(v: JsValue) -> Result<JsValue, JsValue> {
    // Primitives first: reading a property of one would throw, and throwing is slow.
    let thenable = v.is_object()
        && js_sys::Reflect::get(&v, &JsValue::from_str("then")).is_ok_and(|t| t.is_function());
    if !thenable {
        return Ok(v);
    }
    JsFuture::from(Promise::resolve(&v)).await
}
