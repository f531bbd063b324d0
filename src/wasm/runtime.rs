//! The platform for the core: `Date.now`, `setTimeout`, Web Crypto random
//! bytes (through getrandom), `Math.random` jitter, and the `onEvent` hook.

use js_sys::Function;
use wasm_bindgen::prelude::*;

use crate::core::runtime::Runtime;
use crate::core::store::RefreshEvent;

pub struct JsRuntime {
    pub on_event: Option<Function>,
}

impl Runtime for JsRuntime {
    fn now_ms(&self) -> i64 {
        js_sys::Date::now() as i64
    }
    async fn sleep_ms(&self, ms: u64) {
        super::util::sleep_ms(ms).await
    }
    fn random_unit(&self) -> f64 {
        js_sys::Math::random()
    }
    fn fill_random(&self, buf: &mut [u8]) {
        // Web Crypto is present in every supported runtime (the constructor
        // checks); without it sealing is unsafe. A plain message: `expect`
        // would format getrandom's error with Debug, whose escaping and
        // Unicode tables cost the server build 10 KB (5 KB gzip).
        if getrandom::fill(buf).is_err() {
            panic!("crypto.getRandomValues is unavailable");
        }
    }
    fn emit(&self, event: &RefreshEvent) {
        if let Some(f) = &self.on_event {
            // A throwing monitor must not break refreshes.
            let _ = f.call1(&JsValue::UNDEFINED, &super::convert::event_to_js(event));
        }
    }
}
