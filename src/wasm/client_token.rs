//! `getAccessToken`: the session asked once per call, the cache's answer
//! without a future when it can give one, and the memo entry points the
//! package's browser entry (js/browser.js) remembers that answer through.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

use super::client::{
    connection_of, reject, token_to_js, BrowserTokenClient, ForceOptionsJs, Inner,
};
use super::convert::{error_from_js, get};
use super::util::settle;
use crate::core::client::{jwt_subject, CachedToken, DEFAULT_CONNECTION};
use crate::core::error::{Code, Error, Result};

/// What `getSessionToken` threw or rejected with, as the client reports it.
pub(super) fn session_failed(e: &JsValue) -> Error {
    error_from_js(e, Code::Unauthorized, "getSessionToken")
}

/// The session JWT `getSessionToken` gave (once settled).
pub(super) fn session_jwt(v: &JsValue) -> Result<String> {
    v.as_string().filter(|t| !t.is_empty()).ok_or_else(|| {
        Error::new(
            Code::Unauthorized,
            "not signed in: getSessionToken returned no token",
        )
    })
}

/// What the synchronous hot path of `getAccessToken` remembers: the last
/// session value (compared with `===`, so an unchanged session is not copied
/// into the module on every call) with its subject, and the frozen token
/// object last handed out per connection with the token it shows. It holds
/// no authority of its own: every hit is the core's answer
/// (`peek_usable`: the session user's cache, fresh now), and only the object
/// it is shown as is reused.
#[derive(Default)]
pub(super) struct Hot {
    session: JsValue,
    sub: Option<String>,
    shown: Vec<(String, CachedToken, JsValue)>,
}

impl Hot {
    /// The token object for `conn` and the time it stops being fresh, if the
    /// core would answer from its cache for this session now, with no I/O.
    fn hit(&mut self, inner: &Inner, session: &JsValue, conn: &str) -> Option<(JsValue, f64)> {
        if *session != self.session {
            let jwt = session.as_string()?;
            self.sub = jwt_subject(&jwt).ok();
            self.session = session.clone();
        }
        let sub = self.sub.clone()?;
        inner
            .peek_usable(&sub, conn, |t| (t.clone(), inner.fresh_until(t)))
            .map(|(t, until)| {
                let until = until.map_or(f64::INFINITY, |u| u as f64);
                (self.show(conn, &t), until)
            })
    }

    /// The frozen object showing `t`, kept for the next hit.
    fn show(&mut self, conn: &str, t: &CachedToken) -> JsValue {
        if let Some((_, st, o)) = self.shown.iter().find(|(c, _, _)| c == conn) {
            if st == t {
                return o.clone();
            }
        }
        let o = token_to_js(t);
        js_sys::Object::freeze(o.unchecked_ref::<js_sys::Object>());
        self.shown.retain(|(c, _, _)| c != conn);
        self.shown.push((conn.to_string(), t.clone(), o.clone()));
        o
    }
}

/// `getAccessToken` once the session value is known: the token object when
/// the cache answers for this session's user, else a promise for the full
/// path (which is given the session, so `getSessionToken` is asked once).
fn answer(
    inner: &Rc<Inner>,
    hot: &Rc<RefCell<Hot>>,
    session: JsValue,
    conn: String,
    force: bool,
) -> JsValue {
    if !force {
        if let Some((hit, _)) = hot.borrow_mut().hit(inner, &session, &conn) {
            return hit;
        }
    }
    let (inner, hot) = (inner.clone(), hot.clone());
    future_to_promise(async move {
        let jwt = session_jwt(&session).map_err(reject)?;
        let t = inner
            .access_token_in(jwt, &conn, force)
            .await
            .map_err(reject)?;
        let shown = hot.borrow_mut().show(&conn, &t);
        Ok(shown)
    })
    .into()
}

#[wasm_bindgen]
impl BrowserTokenClient {
    /// A valid access token for a connection (`provider`, default `google`):
    /// cached, or one call to its token function shared by all callers.
    /// `getSessionToken` is asked once per call. While the token is unchanged
    /// the same frozen object is returned.
    #[wasm_bindgen(js_name = getAccessToken, unchecked_return_type = "Promise<BrowserToken>")]
    pub fn get_access_token(&self, options: Option<ForceOptionsJs>) -> Promise {
        let options: JsValue = options.map(Into::into).unwrap_or(JsValue::UNDEFINED);
        let (conn, force) = if options.is_undefined() {
            (DEFAULT_CONNECTION.to_string(), false)
        } else {
            let force = get(&options, "force").as_bool().unwrap_or(false);
            (connection_of(&options), force)
        };
        let session = match self.inner.host().get_session.call0(&JsValue::UNDEFINED) {
            Ok(v) => v,
            Err(e) => return Promise::reject(&reject(session_failed(&e))),
        };
        self.respond(session, conn, force)
    }

    /// `getAccessToken` with the value `getSessionToken` returned (the
    /// package's entry asks it once and remembers the last cached answer; see
    /// js/browser.js).
    #[wasm_bindgen(js_name = _answer, skip_typescript)]
    pub fn respond(&self, session: JsValue, conn: String, force: bool) -> Promise {
        if !session.is_object() {
            // A session given at once: answered now from the cache when fresh.
            return Promise::resolve(&answer(&self.inner, &self.hot, session, conn, force));
        }
        let (inner, hot) = (self.inner.clone(), self.hot.clone());
        future_to_promise(async move {
            let session = settle(session)
                .await
                .map_err(|e| reject(session_failed(&e)))?;
            JsFuture::from(Promise::resolve(&answer(
                &inner, &hot, session, conn, force,
            )))
            .await
        })
    }

    /// The cached answer for this session and connection as
    /// `[session, token, freshUntil, generation]`: the same token object
    /// stays the answer while `generation` is unchanged and `Date.now()` is
    /// before `freshUntil`. `undefined` when the cache cannot answer.
    #[wasm_bindgen(js_name = _memo, skip_typescript)]
    pub fn memo(&self, session: JsValue, conn: String) -> JsValue {
        let Some((token, until)) = self.hot.borrow_mut().hit(&self.inner, &session, &conn) else {
            return JsValue::UNDEFINED;
        };
        let generation = self.inner.generation();
        js_sys::Array::of4(&session, &token, &until.into(), &generation.into()).into()
    }

    /// Changes whenever the cached answers may have (see `_memo`).
    #[wasm_bindgen(getter, js_name = _generation, skip_typescript)]
    pub fn generation(&self) -> u32 {
        self.inner.generation()
    }
}
