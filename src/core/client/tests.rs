//! Browser client tests on virtual time, with a scripted edge function.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use futures_util::future::join_all;
use serde_json::json;

use super::*;
use crate::core::http::{HttpResponse, TransportError};
use crate::core::testkit::{Rt, YieldNow, T0};

/// The `refresh-google-token` function: scripted answers, else a new token
/// `at-N` refreshed at the current virtual time.
#[derive(Clone, Default)]
struct EdgeFn {
    calls: Rc<RefCell<Vec<HttpRequest>>>,
    script: Rc<RefCell<VecDeque<HttpResponse>>>,
    now: Option<Rt>,
}

impl Transport for EdgeFn {
    async fn send(
        &self,
        req: HttpRequest,
        _timeout_ms: u64,
    ) -> std::result::Result<HttpResponse, TransportError> {
        self.calls.borrow_mut().push(req);
        let n = self.calls.borrow().len();
        for _ in 0..3 {
            YieldNow(false).await;
        }
        if let Some(r) = self.script.borrow_mut().pop_front() {
            return Ok(r);
        }
        let now = self.now.as_ref().map_or(T0, |r| r.now.get());
        let marker = marker::format(now);
        Ok(HttpResponse::json(
            200,
            &json!({"accessToken": format!("at-{n}"), "expiresAt": now + 3_600_000, "tokenRefreshedAt": marker, "scope": "calendar"}),
        )
        .with_header(marker::HEADER, &marker))
    }
}

#[derive(Clone, Default)]
struct Host {
    published: Rc<RefCell<Vec<ClientEvent>>>,
    no_session: Rc<std::cell::Cell<bool>>,
}

impl ClientHost for Host {
    async fn session_token(&self) -> Result<String> {
        if self.no_session.get() {
            return Err(Error::new(Code::Unauthorized, "not signed in"));
        }
        Ok("jwt-1".into())
    }
    fn publish(&self, event: &ClientEvent) {
        self.published.borrow_mut().push(event.clone());
    }
}

type C = BrowserClient<EdgeFn, Host, Rt>;

fn client() -> (C, EdgeFn, Host, Rt) {
    let rt = Rt::new();
    let f = EdgeFn {
        now: Some(rt.clone()),
        ..Default::default()
    };
    let h = Host::default();
    let c = BrowserClient::new(
        "http://127.0.0.1:54321/functions/v1/",
        None,
        f.clone(),
        h.clone(),
        rt.clone(),
    );
    (c, f, h, rt)
}

fn tok(access: &str, expires: i64, refreshed: i64) -> CachedToken {
    CachedToken {
        access_token: AccessToken::new(access),
        expires_at_ms: Some(expires),
        refreshed_at_ms: Some(refreshed),
        scope: None,
    }
}

#[test]
fn cached_until_the_margin_then_one_call() {
    let (c, f, _, rt) = client();
    let t = rt.run(c.access_token(false)).unwrap();
    assert_eq!(t.access_token.expose(), "at-1");
    let req = f.calls.borrow()[0].clone();
    assert_eq!(
        req.url,
        "http://127.0.0.1:54321/functions/v1/refresh-google-token"
    );
    assert_eq!(req.header("authorization"), Some("Bearer jwt-1"));
    assert_eq!(req.body, "{}");
    rt.advance(3_600_000 - 60_001);
    assert_eq!(
        rt.run(c.access_token(false)).unwrap().access_token.expose(),
        "at-1"
    );
    assert_eq!(f.calls.borrow().len(), 1);
    rt.advance(2);
    assert_eq!(
        rt.run(c.access_token(false)).unwrap().access_token.expose(),
        "at-2"
    );
}

#[test]
fn concurrent_callers_share_one_call() {
    let (c, f, h, rt) = client();
    let all = rt.run(join_all((0..50).map(|_| c.access_token(false))));
    assert!(all
        .iter()
        .all(|r| r.as_ref().unwrap().access_token.expose() == "at-1"));
    assert_eq!(f.calls.borrow().len(), 1);
    let tokens = h
        .published
        .borrow()
        .iter()
        .filter(|e| matches!(e, ClientEvent::Token(_)))
        .count();
    assert_eq!(tokens, 1, "other tabs hear about it once");
}

#[test]
fn force_asks_the_server_to_refresh() {
    let (c, f, _, rt) = client();
    rt.run(c.access_token(false)).unwrap();
    rt.advance(10);
    let t = rt.run(c.access_token(true)).unwrap();
    assert_eq!(t.access_token.expose(), "at-2");
    assert_eq!(f.calls.borrow()[1].body, r#"{"force":true}"#);
}

#[test]
fn a_newer_marker_drops_the_cached_token() {
    let (c, f, h, rt) = client();
    let first = rt.run(c.access_token(false)).unwrap();
    // An edge response shows the server refreshed later.
    c.observe_marker(first.refreshed_at_ms.unwrap() + 5_000);
    assert!(c.state().token().is_none());
    assert!(h
        .published
        .borrow()
        .iter()
        .any(|e| matches!(e, ClientEvent::Marker(_))));
    rt.advance(6_000);
    assert_eq!(
        rt.run(c.access_token(false)).unwrap().access_token.expose(),
        "at-2"
    );
    assert_eq!(f.calls.borrow().len(), 2);
    // An older or equal marker changes nothing.
    let now_marker = c.state().marker_ms().unwrap();
    c.observe_marker(now_marker);
    c.observe_marker(now_marker - 1);
    assert!(c.state().token().is_some());
}

#[test]
fn tabs_share_tokens_but_never_go_back_in_time() {
    let mut s = ClientState::default();
    assert!(s.accept(tok("a", T0 + 3_600_000, T0)));
    assert!(
        !s.accept(tok("old", T0 + 3_000_000, T0 - 1)),
        "an older token from a slow tab is refused"
    );
    assert!(s.accept(tok("b", T0 + 3_700_000, T0 + 100)));
    assert_eq!(s.token().unwrap().access_token.expose(), "b");
    assert!(
        !s.accept(tok("b", T0 + 3_700_000, T0 + 100)),
        "the same token twice is not news"
    );
    // A tab opened later, told the current token, uses it without a call.
    let mut late = ClientState::default();
    assert!(late.accept(s.token().unwrap().clone()));
    assert!(late.usable(T0 + 1000, 60_000).is_some());
    // A marker newer than every token empties the cache.
    assert!(s.observe_marker(T0 + 200));
    assert!(s.token().is_none());
    assert!(
        !s.accept(tok("c", T0 + 3_800_000, T0 + 150)),
        "issued before the marker"
    );
}

#[test]
fn invalidate_forgets_only_the_rejected_token() {
    let mut s = ClientState::default();
    s.accept(tok("a", T0 + 3_600_000, T0));
    s.invalidate(&AccessToken::new("zzz"));
    assert!(s.token().is_some());
    s.invalidate(&AccessToken::new("a"));
    assert!(s.token().is_none());
}

#[test]
fn errors_keep_the_servers_codes() {
    let (c, f, h, rt) = client();
    f.script.borrow_mut().push_back(HttpResponse::json(
        401,
        &json!({"error": "the google connection must be reconnected", "code": "REAUTH_REQUIRED", "requiresReauth": true}),
    ));
    let e = rt.run(c.access_token(false)).unwrap_err();
    assert_eq!(e.code, Code::ReauthRequired);
    assert!(e.requires_reauth());
    assert!(h
        .published
        .borrow()
        .iter()
        .any(|ev| matches!(ev, ClientEvent::Failed(e) if e.requires_reauth())));
    f.script.borrow_mut().push_back(HttpResponse::json(
        429,
        &json!({"error": "slow down", "code": "RATE_LIMITED", "requiresReauth": false, "retryAfter": 42}),
    ));
    let e = rt.run(c.access_token(false)).unwrap_err();
    assert_eq!((e.code, e.retry_after_secs), (Code::RateLimited, Some(42)));
    f.script
        .borrow_mut()
        .push_back(HttpResponse::new(502, "<html>bad gateway</html>"));
    assert_eq!(
        rt.run(c.access_token(false)).unwrap_err().code,
        Code::ProviderUnavailable
    );
    f.script
        .borrow_mut()
        .push_back(HttpResponse::json(200, &json!({"expiresAt": 5})));
    assert_eq!(
        rt.run(c.access_token(false)).unwrap_err().code,
        Code::BadProviderResponse
    );
    h.no_session.set(true);
    assert_eq!(
        rt.run(c.access_token(false)).unwrap_err().code,
        Code::Unauthorized
    );
}

#[test]
fn error_bodies_without_codes_fall_back_on_status() {
    assert_eq!(error_from_body(404, "").code, Code::NotFound);
    assert_eq!(error_from_body(401, "nope").code, Code::Unauthorized);
    assert_eq!(error_from_body(500, "{}").code, Code::ProviderUnavailable);
    assert_eq!(
        error_from_body(400, r#"{"code":"WHAT"}"#).code,
        Code::BadRequest
    );
}
