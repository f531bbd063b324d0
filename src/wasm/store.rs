//! A JS object as the store. Each contract method is an (async) function on
//! the object taking one plain-object argument; see `TokenStore` in the .d.ts.

use js_sys::Function;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::convert::{
    error_from_js, event_to_js, get, n, obj, opt_n, opt_s, row_key_js, s, set, store_json, strings,
};
use super::util::settle;
use crate::core::error::{Code, Error, Result};
use crate::core::fields::{Fields, Slot};
use crate::core::json;
use crate::core::store::{
    ClaimOutcome, ConnectAttempt, ConnectionRow, FailureWrite, LeaseOutcome, RefreshEvent, Store,
    TokenWrite,
};

/// Required of every store. The connect methods (`putConnect`,
/// `claimConnect`, `takeConnect`, `loadAll`) are needed only to connect
/// providers and list connections; a missing one is a CONFIG error when used.
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
    /// `store.commitsEvents === true`: `commitRefresh` records the event it is given.
    commits_events: bool,
}

pub(crate) fn row_from_js(v: &JsValue, path: &str) -> Result<ConnectionRow> {
    row_from_json(&store_json(v, path)?, path)
}

fn row_from_json(json: &json::Value, path: &str) -> Result<ConnectionRow> {
    let f = Fields::new(json, path, Code::Storage)?;
    let mut r = ConnectionRow::default();
    f.fill(&mut [
        ("userId", Slot::Str(&mut r.user_id)),
        ("provider", Slot::Str(&mut r.provider)),
        (
            "accessTokenSealed",
            Slot::OptStr(&mut r.access_token_sealed),
        ),
        (
            "refreshTokenSealed",
            Slot::OptStr(&mut r.refresh_token_sealed),
        ),
        ("expiresAt", Slot::OptInt(&mut r.expires_at)),
        (
            "refreshTokenExpiresAt",
            Slot::OptInt(&mut r.refresh_token_expires_at),
        ),
        ("scope", Slot::OptStr(&mut r.scope)),
        ("status", Slot::Str(&mut r.status)),
        ("lastErrorCode", Slot::OptStr(&mut r.last_error_code)),
        ("lastErrorMessage", Slot::OptStr(&mut r.last_error_message)),
        ("lastErrorAt", Slot::OptInt(&mut r.last_error_at)),
        ("failureCount", Slot::Count(&mut r.failure_count)),
        ("cooldownUntil", Slot::OptInt(&mut r.cooldown_until)),
        ("tokenRefreshedAt", Slot::OptInt(&mut r.token_refreshed_at)),
        ("version", Slot::Int(&mut r.version)),
        ("leaseOwner", Slot::OptStr(&mut r.lease_owner)),
        ("leaseUntil", Slot::OptInt(&mut r.lease_until)),
        ("accountId", Slot::OptStr(&mut r.account_id)),
        ("accountEmail", Slot::OptStr(&mut r.account_email)),
        ("accountName", Slot::OptStr(&mut r.account_name)),
        ("signinDigest", Slot::OptStr(&mut r.signin_digest)),
    ])?;
    Ok(r)
}

fn attempt_from_js(v: &JsValue, path: &str) -> Result<ConnectAttempt> {
    let json = store_json(v, path)?;
    let f = Fields::new(&json, path, Code::Storage)?;
    let mut a = ConnectAttempt::default();
    f.fill(&mut [
        ("stateHash", Slot::Str(&mut a.state_hash)),
        ("userId", Slot::Str(&mut a.user_id)),
        ("provider", Slot::Str(&mut a.provider)),
        ("verifierSealed", Slot::Str(&mut a.verifier_sealed)),
        ("redirectUri", Slot::Str(&mut a.redirect_uri)),
        ("returnTo", Slot::Str(&mut a.return_to)),
        ("scopes", Slot::List(&mut a.scopes)),
        ("createdAt", Slot::Int(&mut a.created_at)),
        ("expiresAt", Slot::Int(&mut a.expires_at)),
        ("codeSealed", Slot::OptStr(&mut a.code_sealed)),
        ("ticketHash", Slot::OptStr(&mut a.ticket_hash)),
    ])?;
    Ok(a)
}

fn attempt_to_js(a: &ConnectAttempt) -> JsValue {
    obj(&[
        ("stateHash", s(&a.state_hash)),
        ("userId", s(&a.user_id)),
        ("provider", s(&a.provider)),
        ("verifierSealed", s(&a.verifier_sealed)),
        ("redirectUri", s(&a.redirect_uri)),
        ("returnTo", s(&a.return_to)),
        ("scopes", strings(&a.scopes)),
        ("createdAt", n(a.created_at)),
        ("expiresAt", n(a.expires_at)),
        ("codeSealed", opt_s(a.code_sealed.as_deref())),
        ("ticketHash", opt_s(a.ticket_hash.as_deref())),
    ])
}

fn write_to_js(w: &TokenWrite) -> JsValue {
    let o = obj(&[
        ("userId", s(&w.user_id)),
        ("provider", s(&w.provider)),
        ("accessTokenSealed", s(&w.access_token_sealed)),
        (
            "refreshTokenSealed",
            opt_s(w.refresh_token_sealed.as_deref()),
        ),
        ("expiresAt", opt_n(w.expires_at)),
        ("refreshTokenExpiresAt", opt_n(w.refresh_token_expires_at)),
        ("scope", opt_s(w.scope.as_deref())),
        ("refreshedAt", n(w.refreshed_at)),
        ("accountId", opt_s(w.account_id.as_deref())),
        ("accountEmail", opt_s(w.account_email.as_deref())),
        ("accountName", opt_s(w.account_name.as_deref())),
        (
            "keepStoredRefreshToken",
            JsValue::from_bool(w.keep_stored_refresh_token),
        ),
        (
            "forgetStoredAccount",
            JsValue::from_bool(w.forget_stored_account),
        ),
    ]);
    // Only when there is one: a commitRefresh write has none, and a store
    // that copies a write's fields must not clear the row's with a null.
    if let Some(d) = &w.signin_digest {
        set(&o, "signinDigest", &s(d));
    }
    o
}

impl JsStore {
    /// Checks that every contract method is present, naming the first missing one.
    pub fn new(obj: JsValue) -> Result<Self> {
        if !obj.is_object() {
            return Err(Error::config(
                "store: must be an object implementing the TokenStore contract",
            ));
        }
        for m in METHODS {
            if !get(&obj, m).is_function() {
                return Err(Error::config(format!("store.{m}: must be a function")));
            }
        }
        let commits_events = get(&obj, "commitsEvents").as_bool() == Some(true);
        Ok(Self {
            obj,
            commits_events,
        })
    }

    /// Calls a contract method; its result may still be a promise.
    fn call_now(&self, method: &str, arg: JsValue) -> Result<JsValue> {
        let f: Function = get(&self.obj, method)
            .dyn_into()
            .map_err(|_| Error::config(format!("store.{method}: must be a function")))?;
        f.call1(&self.obj, &arg)
            .map_err(|e| error_from_js(&e, Code::Storage, &format!("store.{method}")))
    }

    async fn call(&self, method: &str, arg: JsValue) -> Result<JsValue> {
        let r = self.call_now(method, arg)?;
        settle_result(method, r).await
    }

    /// Starts `load`: the row at once when the store answers synchronously
    /// (an in-memory store), else the promise it returned.
    pub fn load_now(&self, user_id: &str, provider: &str) -> Result<Loading> {
        Loading::of(self.call_now("load", row_key_js(user_id, provider))?)
    }
}

/// What `load_now` got.
pub enum Loading {
    Now(Option<Box<ConnectionRow>>),
    Later(JsValue),
}

impl Loading {
    /// What `store.load` returned: a row, `null`, or a promise for either.
    pub fn of(v: JsValue) -> Result<Loading> {
        if is_thenable(&v) {
            Ok(Loading::Later(v))
        } else {
            parse_loaded(&v).map(|row| Loading::Now(row.map(Box::new)))
        }
    }

    /// The row, awaiting the store's promise if it gave one.
    pub async fn row(self) -> Result<Option<ConnectionRow>> {
        match self {
            Loading::Now(row) => Ok(row.map(|r| *r)),
            Loading::Later(p) => parse_loaded(&settle_result("load", p).await?),
        }
    }
}

fn is_thenable(v: &JsValue) -> bool {
    v.is_object() && get(v, "then").is_function()
}

async fn settle_result(method: &str, r: JsValue) -> Result<JsValue> {
    settle(r)
        .await
        .map_err(|e| error_from_js(&e, Code::Storage, &format!("store.{method}")))
}

pub(super) fn parse_loaded(v: &JsValue) -> Result<Option<ConnectionRow>> {
    if v.is_null() || v.is_undefined() {
        return Ok(None);
    }
    row_from_js(v, "store.load result").map(Some)
}

fn bad_result(method: &str, what: &str) -> Error {
    Error::storage(format!("store.{method} result: {what}"))
}

impl Store for JsStore {
    fn commits_events(&self) -> bool {
        self.commits_events
    }

    async fn load(&self, user_id: &str, provider: &str) -> Result<Option<ConnectionRow>> {
        self.load_now(user_id, provider)?.row().await
    }

    async fn try_lease(
        &self,
        user_id: &str,
        provider: &str,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<LeaseOutcome> {
        let arg = obj(&[
            ("userId", s(user_id)),
            ("provider", s(provider)),
            ("owner", s(owner)),
            ("now", n(now_ms)),
            ("until", n(until_ms)),
        ]);
        let v = self.call("tryLease", arg).await?;
        let json = store_json(&v, "store.tryLease result")?;
        let f = Fields::new(&json, "store.tryLease result", Code::Storage)?;
        let row = || {
            let row = f.raw("row").unwrap_or(&json::Value::Null);
            row_from_json(row, "store.tryLease result.row")
        };
        match f.str("outcome")?.as_str() {
            "acquired" => Ok(LeaseOutcome::Acquired(row()?)),
            "busy" => Ok(LeaseOutcome::Busy(row()?)),
            "missing" => Ok(LeaseOutcome::Missing),
            _ => Err(bad_result(
                "tryLease",
                "outcome must be acquired, busy or missing",
            )),
        }
    }

    async fn commit_refresh(
        &self,
        write: &TokenWrite,
        expected_version: i64,
        event: Option<&RefreshEvent>,
    ) -> Result<bool> {
        let arg = obj(&[
            ("write", write_to_js(write)),
            ("expectedVersion", n(expected_version)),
            ("event", event.map_or(JsValue::UNDEFINED, event_to_js)),
        ]);
        self.call("commitRefresh", arg)
            .await?
            .as_bool()
            .ok_or_else(|| bad_result("commitRefresh", "must be true or false"))
    }

    async fn record_failure(&self, w: &FailureWrite) -> Result<()> {
        let arg = obj(&[
            ("userId", s(&w.user_id)),
            ("provider", s(&w.provider)),
            ("owner", s(&w.owner)),
            ("status", s(&w.status)),
            ("code", s(&w.code)),
            ("message", s(&w.message)),
            ("at", n(w.at)),
            ("failureCount", n(w.failure_count.into())),
            ("cooldownUntil", opt_n(w.cooldown_until)),
            (
                "eraseRefreshToken",
                JsValue::from_bool(w.erase_refresh_token),
            ),
            ("expectedVersion", opt_n(w.expected_version)),
        ]);
        self.call("recordFailure", arg).await.map(|_| ())
    }

    async fn release_lease(&self, user_id: &str, provider: &str, owner: &str) -> Result<()> {
        let arg = obj(&[
            ("userId", s(user_id)),
            ("provider", s(provider)),
            ("owner", s(owner)),
        ]);
        self.call("releaseLease", arg).await.map(|_| ())
    }

    async fn save_tokens(&self, write: &TokenWrite) -> Result<ConnectionRow> {
        let v = self.call("saveTokens", write_to_js(write)).await?;
        row_from_js(&v, "store.saveTokens result")
    }

    async fn disconnect(&self, user_id: &str, provider: &str, at: i64) -> Result<()> {
        let arg = obj(&[
            ("userId", s(user_id)),
            ("provider", s(provider)),
            ("at", n(at)),
        ]);
        self.call("disconnect", arg).await.map(|_| ())
    }

    async fn append_event(&self, event: &RefreshEvent) -> Result<()> {
        self.call("appendEvent", event_to_js(event))
            .await
            .map(|_| ())
    }

    async fn put_connect(&self, a: &ConnectAttempt) -> Result<()> {
        self.call("putConnect", attempt_to_js(a)).await.map(|_| ())
    }

    async fn claim_connect(
        &self,
        state_hash: &str,
        code_sealed: Option<&str>,
        ticket_hash: Option<&str>,
        now_ms: i64,
    ) -> Result<ClaimOutcome> {
        let arg = obj(&[
            ("stateHash", s(state_hash)),
            ("codeSealed", opt_s(code_sealed)),
            ("ticketHash", opt_s(ticket_hash)),
            ("now", n(now_ms)),
        ]);
        let v = self.call("claimConnect", arg).await?;
        let path = "store.claimConnect result.attempt";
        match get(&v, "outcome").as_string().as_deref() {
            Some("claimed") => Ok(ClaimOutcome::Claimed(attempt_from_js(
                &get(&v, "attempt"),
                path,
            )?)),
            Some("used") => Ok(ClaimOutcome::Used(attempt_from_js(
                &get(&v, "attempt"),
                path,
            )?)),
            Some("missing") => Ok(ClaimOutcome::Missing),
            _ => Err(bad_result(
                "claimConnect",
                "outcome must be claimed, used or missing",
            )),
        }
    }

    async fn take_connect(&self, ticket_hash: &str) -> Result<Option<ConnectAttempt>> {
        let v = self
            .call("takeConnect", obj(&[("ticketHash", s(ticket_hash))]))
            .await?;
        if v.is_null() || v.is_undefined() {
            return Ok(None);
        }
        attempt_from_js(&v, "store.takeConnect result").map(Some)
    }

    async fn load_all(&self, user_id: &str) -> Result<Vec<ConnectionRow>> {
        let v = self.call("loadAll", obj(&[("userId", s(user_id))])).await?;
        let arr: js_sys::Array = v
            .dyn_into()
            .map_err(|_| bad_result("loadAll", "must be an array of rows"))?;
        arr.iter()
            .enumerate()
            .map(|(i, row)| row_from_js(&row, &format!("store.loadAll result[{i}]")))
            .collect()
    }

    async fn list_expiring(
        &self,
        before_ms: i64,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<(String, String)>> {
        let arg = obj(&[
            ("before", n(before_ms)),
            ("now", n(now_ms)),
            ("limit", n(limit.into())),
        ]);
        let v = self.call("listExpiring", arg).await?;
        let arr: js_sys::Array = v
            .dyn_into()
            .map_err(|_| bad_result("listExpiring", "must be an array of { userId, provider }"))?;
        arr.iter()
            .enumerate()
            .map(|(i, item)| {
                let path = format!("store.listExpiring result[{i}]");
                let json = store_json(&item, &path)?;
                let f = Fields::new(&json, &path, Code::Storage)?;
                Ok((f.str("userId")?, f.str("provider")?))
            })
            .collect()
    }
}
