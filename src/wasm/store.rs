//! A JS object as the store. Each contract method is an (async) function on
//! the object taking one JSON-shaped argument; see `TokenStore` in the .d.ts.

use js_sys::{Function, Object};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::convert::{error_from_js, from_js, get, set, to_js};
use super::util::settle;
use crate::core::error::{Code, Error, Result};
use crate::core::store::{ConnectionRow, FailureWrite, LeaseOutcome, RefreshEvent, Store, TokenWrite};

pub const METHODS: [&str; 9] = [
    "load",
    "tryLease",
    "commitRefresh",
    "recordFailure",
    "releaseLease",
    "saveTokens",
    "disconnect",
    "appendEvent",
    "listExpiring",
];

pub struct JsStore {
    obj: JsValue,
}

fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o: JsValue = Object::new().into();
    for (k, v) in pairs {
        set(&o, k, v);
    }
    o
}

fn s(v: &str) -> JsValue {
    JsValue::from_str(v)
}

fn n(v: i64) -> JsValue {
    JsValue::from(v as f64)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Due {
    user_id: String,
    provider: String,
}

impl JsStore {
    /// Checks that every contract method is present, naming the first missing one.
    pub fn new(obj: JsValue) -> Result<Self> {
        if !obj.is_object() {
            return Err(Error::config("store: must be an object implementing the TokenStore contract"));
        }
        for m in METHODS {
            if !get(&obj, m).is_function() {
                return Err(Error::config(format!("store.{m}: must be a function")));
            }
        }
        Ok(Self { obj })
    }

    async fn call(&self, method: &str, arg: JsValue) -> Result<JsValue> {
        let f: Function = get(&self.obj, method)
            .dyn_into()
            .map_err(|_| Error::config(format!("store.{method}: must be a function")))?;
        let r = f
            .call1(&self.obj, &arg)
            .map_err(|e| error_from_js(&e, Code::Storage, &format!("store.{method}")))?;
        settle(r)
            .await
            .map_err(|e| error_from_js(&e, Code::Storage, &format!("store.{method}")))
    }

    async fn call_as<T: DeserializeOwned>(&self, method: &str, arg: JsValue) -> Result<T> {
        let v = self.call(method, arg).await?;
        from_js(&v, &format!("store.{method} result"), Code::Storage)
    }
}

impl Store for JsStore {
    async fn load(&self, user_id: &str, provider: &str) -> Result<Option<ConnectionRow>> {
        self.call_as("load", obj(&[("userId", s(user_id)), ("provider", s(provider))])).await
    }

    async fn try_lease(&self, user_id: &str, provider: &str, owner: &str, now_ms: i64, until_ms: i64) -> Result<LeaseOutcome> {
        let arg = obj(&[
            ("userId", s(user_id)),
            ("provider", s(provider)),
            ("owner", s(owner)),
            ("now", n(now_ms)),
            ("until", n(until_ms)),
        ]);
        self.call_as("tryLease", arg).await
    }

    async fn commit_refresh(&self, write: &TokenWrite, expected_version: i64) -> Result<bool> {
        let arg = obj(&[("write", to_js(write)), ("expectedVersion", n(expected_version))]);
        self.call_as("commitRefresh", arg).await
    }

    async fn record_failure(&self, write: &FailureWrite) -> Result<()> {
        self.call("recordFailure", to_js(write)).await.map(|_| ())
    }

    async fn release_lease(&self, user_id: &str, provider: &str, owner: &str) -> Result<()> {
        let arg = obj(&[("userId", s(user_id)), ("provider", s(provider)), ("owner", s(owner))]);
        self.call("releaseLease", arg).await.map(|_| ())
    }

    async fn save_tokens(&self, write: &TokenWrite) -> Result<ConnectionRow> {
        self.call_as("saveTokens", to_js(write)).await
    }

    async fn disconnect(&self, user_id: &str, provider: &str, at: i64) -> Result<()> {
        let arg = obj(&[("userId", s(user_id)), ("provider", s(provider)), ("at", n(at))]);
        self.call("disconnect", arg).await.map(|_| ())
    }

    async fn append_event(&self, event: &RefreshEvent) -> Result<()> {
        self.call("appendEvent", to_js(event)).await.map(|_| ())
    }

    async fn list_expiring(&self, before_ms: i64, now_ms: i64, limit: u32) -> Result<Vec<(String, String)>> {
        let arg = obj(&[("before", n(before_ms)), ("now", n(now_ms)), ("limit", JsValue::from(limit))]);
        let due: Vec<Due> = self.call_as("listExpiring", arg).await?;
        Ok(due.into_iter().map(|d| (d.user_id, d.provider)).collect())
    }
}
