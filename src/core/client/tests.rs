//! Browser client tests on virtual time, with a scripted edge function. The
//! core does no I/O: `Driver` below does what js/client.js does in the
//! package (sends what `begin` hands out, waits for a flight, delivers the
//! events), on the virtual runtime.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use futures_util::future::join_all;
use serde_json::json;

use base64::Engine;

use super::*;
use crate::core::http::{HttpResponse, Transport, TransportError};
use crate::core::runtime::Runtime;
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

/// An unsigned JWT-shaped session token for `sub` (the client never verifies).
fn jwt_for(sub: &str) -> String {
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    format!(
        "{}.{}.sig",
        b64(&json!({"alg": "HS256", "typ": "JWT"})),
        b64(&json!({"sub": sub, "role": "authenticated"}))
    )
}

/// The page around the client: its session and what reached tabs and listeners.
#[derive(Clone, Default)]
struct Host {
    published: Rc<RefCell<Vec<ClientEvent>>>,
    no_session: Rc<std::cell::Cell<bool>>,
    /// The signed-in user; "user-a" by default.
    user: Rc<RefCell<Option<String>>>,
}

impl Host {
    fn sign_in(&self, sub: &str) {
        *self.user.borrow_mut() = Some(sub.to_string());
    }

    fn session_token(&self) -> Result<String> {
        if self.no_session.get() {
            return Err(Error::new(Code::Unauthorized, "not signed in"));
        }
        Ok(jwt_for(self.user.borrow().as_deref().unwrap_or("user-a")))
    }
}

/// What js/client.js does around the core, on virtual time.
struct Driver {
    core: BrowserClient,
    edge: EdgeFn,
    host: Host,
    rt: Rt,
    /// Each flight's outcome, for the callers that follow it.
    outcomes: RefCell<HashMap<u32, Result<CachedToken>>>,
}

type C = Driver;

impl Driver {
    fn flush(&self) {
        let events = self.core.take_events();
        self.host.published.borrow_mut().extend(events);
    }

    async fn access_token(&self, conn: &str, force: bool) -> Result<CachedToken> {
        let jwt = self.host.session_token()?;
        self.access_token_in(jwt, conn, force).await
    }

    async fn access_token_in(&self, jwt: String, conn: &str, force: bool) -> Result<CachedToken> {
        let begun = self.core.begin(jwt, conn, force, self.rt.now_ms());
        self.flush();
        match begun? {
            Begin::Cached(t) => Ok(t),
            Begin::Lead { id, request } => {
                let outcome = self.edge.send(request, FUNCTION_TIMEOUT_MS).await;
                let r = self.core.finish(id, outcome);
                self.flush();
                self.outcomes.borrow_mut().insert(id, r.clone());
                r
            }
            Begin::Follow(id) => loop {
                if let Some(r) = self.outcomes.borrow().get(&id) {
                    return r.clone();
                }
                YieldNow(false).await;
            },
        }
    }

    fn state(&self) -> ClientState {
        self.core.state()
    }
    fn generation(&self) -> u32 {
        self.core.generation()
    }
    fn fresh_until(&self, t: &CachedToken) -> Option<i64> {
        self.core.fresh_until(t)
    }
    fn peek_usable<O>(
        &self,
        user: &str,
        conn: &str,
        f: impl FnOnce(&CachedToken) -> O,
    ) -> Option<O> {
        self.core.peek_usable(user, conn, self.rt.now_ms(), f)
    }
    fn observe_marker(&self, user: &str, conn: &str, marker_ms: i64) {
        self.core.observe_marker(user, conn, marker_ms);
        self.flush();
    }
    fn accept_shared(&self, user: &str, conn: &str, t: CachedToken) -> bool {
        self.core.accept_shared(user, conn, t)
    }
    fn drop_shared(&self, user: &str) -> bool {
        self.core.drop_shared(user)
    }
    fn invalidate(&self, conn: &str, token: &AccessToken) -> bool {
        self.core.rejected(conn, token)
    }
    fn reset(&self) {
        self.core.reset();
        self.flush();
    }
}

fn client() -> (C, EdgeFn, Host, Rt) {
    let rt = Rt::new();
    let f = EdgeFn {
        now: Some(rt.clone()),
        ..Default::default()
    };
    let h = Host::default();
    let c = Driver {
        core: BrowserClient::new("http://127.0.0.1:54321/functions/v1/", None),
        edge: f.clone(),
        host: h.clone(),
        rt: rt.clone(),
        outcomes: RefCell::default(),
    };
    (c, f, h, rt)
}

/// A client core on its own (no driver around it).
fn core() -> BrowserClient {
    BrowserClient::new("https://x.supabase.co/functions/v1", None)
}

fn tok(access: &str, expires: i64, refreshed: i64) -> CachedToken {
    CachedToken {
        access_token: AccessToken::new(access),
        expires_at_ms: Some(expires),
        refreshed_at_ms: Some(refreshed),
        lifetime_ms: None,
        scope: None,
    }
}

#[test]
fn cached_until_the_margin_then_one_call() {
    let (c, f, _, rt) = client();
    let t = rt.run(c.access_token("google", false)).unwrap();
    assert_eq!(t.access_token.expose(), "at-1");
    let req = f.calls.borrow()[0].clone();
    assert_eq!(
        req.url,
        "http://127.0.0.1:54321/functions/v1/refresh-google-token"
    );
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {}", jwt_for("user-a")).as_str())
    );
    assert_eq!(req.body, "{}");
    rt.advance(3_600_000 - 60_001);
    assert_eq!(
        rt.run(c.access_token("google", false))
            .unwrap()
            .access_token
            .expose(),
        "at-1"
    );
    assert_eq!(f.calls.borrow().len(), 1);
    rt.advance(2);
    assert_eq!(
        rt.run(c.access_token("google", false))
            .unwrap()
            .access_token
            .expose(),
        "at-2"
    );
}

#[test]
fn concurrent_callers_share_one_call() {
    let (c, f, h, rt) = client();
    let all = rt.run(join_all((0..50).map(|_| c.access_token("google", false))));
    assert!(all
        .iter()
        .all(|r| r.as_ref().unwrap().access_token.expose() == "at-1"));
    assert_eq!(f.calls.borrow().len(), 1);
    let tokens = h
        .published
        .borrow()
        .iter()
        .filter(|e| matches!(e, ClientEvent::Token { .. }))
        .count();
    assert_eq!(tokens, 1, "other tabs hear about it once");
}

#[test]
fn force_asks_the_server_to_refresh() {
    let (c, f, _, rt) = client();
    rt.run(c.access_token("google", false)).unwrap();
    rt.advance(10);
    let t = rt.run(c.access_token("google", true)).unwrap();
    assert_eq!(t.access_token.expose(), "at-2");
    assert_eq!(f.calls.borrow()[1].body, r#"{"force":true}"#);
}

#[test]
fn a_newer_marker_drops_the_cached_token() {
    let (c, f, h, rt) = client();
    let first = rt.run(c.access_token("google", false)).unwrap();
    // An edge response shows the server refreshed later.
    c.observe_marker("user-a", "google", first.refreshed_at_ms.unwrap() + 5_000);
    assert!(c.state().token("google").is_none());
    assert!(h
        .published
        .borrow()
        .iter()
        .any(|e| matches!(e, ClientEvent::Marker { .. })));
    rt.advance(6_000);
    assert_eq!(
        rt.run(c.access_token("google", false))
            .unwrap()
            .access_token
            .expose(),
        "at-2"
    );
    assert_eq!(f.calls.borrow().len(), 2);
    // An older or equal marker changes nothing.
    let now_marker = c.state().marker_ms("google").unwrap();
    c.observe_marker("user-a", "google", now_marker);
    c.observe_marker("user-a", "google", now_marker - 1);
    assert!(c.state().token("google").is_some());
}

#[test]
fn tabs_share_tokens_but_never_go_back_in_time() {
    let mut s = ClientState::default();
    s.switch_user("u");
    assert!(s.accept("u", "google", tok("a", T0 + 3_600_000, T0)));
    assert!(
        !s.accept("u", "google", tok("old", T0 + 3_000_000, T0 - 1)),
        "an older token from a slow tab is refused"
    );
    assert!(s.accept("u", "google", tok("b", T0 + 3_700_000, T0 + 100)));
    assert_eq!(s.token("google").unwrap().access_token.expose(), "b");
    assert!(
        !s.accept("u", "google", tok("b", T0 + 3_700_000, T0 + 100)),
        "the same token twice is not news"
    );
    // A tab opened later, told the current token, uses it without a call.
    let mut late = ClientState::default();
    late.switch_user("u");
    assert!(late.accept("u", "google", s.token("google").unwrap().clone()));
    assert!(late.usable("google", T0 + 1000, 60_000).is_some());
    // A marker newer than every token empties the cache.
    assert!(s.observe_marker("u", "google", T0 + 200));
    assert!(s.token("google").is_none());
    assert!(
        !s.accept("u", "google", tok("c", T0 + 3_800_000, T0 + 150)),
        "issued before the marker"
    );
}

#[test]
fn invalidate_forgets_only_the_rejected_token() {
    let mut s = ClientState::default();
    s.switch_user("u");
    s.accept("u", "google", tok("a", T0 + 3_600_000, T0));
    s.invalidate("google", &AccessToken::new("zzz"));
    assert!(s.token("google").is_some());
    s.invalidate("google", &AccessToken::new("a"));
    assert!(s.token("google").is_none());
    // It does not come back: not from a call that was on its way (the server
    // still held it), nor from another tab still holding it.
    assert!(!s.accept("u", "google", tok("a", T0 + 3_600_000, T0)));
    assert!(s.token("google").is_none());
    assert!(s.accept("u", "google", tok("b", T0 + 3_700_000, T0 + 1)));
}

#[test]
fn a_disconnected_connections_token_does_not_come_back_from_another_tab() {
    let mut s = ClientState::default();
    s.switch_user("u");
    s.accept("u", "google", tok("a", T0 + 3_600_000, T0));
    assert!(s.drop_connection_of("u", "google"));
    // Another tab's answer, crossing the disconnect, still carries it.
    assert!(!s.accept("u", "google", tok("a", T0 + 3_600_000, T0)));
    // A new connection's token is refreshed later: taken.
    assert!(s.accept("u", "google", tok("n", T0 + 7_200_000, T0 + 5_000)));
}

#[test]
fn errors_keep_the_servers_codes() {
    let (c, f, h, rt) = client();
    f.script.borrow_mut().push_back(HttpResponse::json(
        401,
        &json!({"error": "the google connection must be reconnected", "code": "REAUTH_REQUIRED", "requiresReauth": true}),
    ));
    let e = rt.run(c.access_token("google", false)).unwrap_err();
    assert_eq!(e.code, Code::ReauthRequired);
    assert!(e.requires_reauth());
    assert!(h
        .published
        .borrow()
        .iter()
        .any(|ev| matches!(ev, ClientEvent::Failed { error: e, .. } if e.requires_reauth())));
    f.script.borrow_mut().push_back(HttpResponse::json(
        429,
        &json!({"error": "slow down", "code": "RATE_LIMITED", "requiresReauth": false, "retryAfter": 42}),
    ));
    let e = rt.run(c.access_token("google", false)).unwrap_err();
    assert_eq!((e.code, e.retry_after_secs), (Code::RateLimited, Some(42)));
    f.script
        .borrow_mut()
        .push_back(HttpResponse::new(502, "<html>bad gateway</html>"));
    assert_eq!(
        rt.run(c.access_token("google", false)).unwrap_err().code,
        Code::ProviderUnavailable
    );
    f.script
        .borrow_mut()
        .push_back(HttpResponse::json(200, &json!({"expiresAt": 5})));
    assert_eq!(
        rt.run(c.access_token("google", false)).unwrap_err().code,
        Code::BadProviderResponse
    );
    h.no_session.set(true);
    assert_eq!(
        rt.run(c.access_token("google", false)).unwrap_err().code,
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

#[test]
fn a_tab_never_holds_or_takes_another_users_token() {
    let mut s = ClientState::default();
    assert!(
        !s.accept("a", "google", tok("x", T0 + 3_600_000, T0)),
        "no user yet"
    );
    assert_eq!(s.switch_user("a"), Some(None));
    assert!(s.accept("a", "google", tok("a-token", T0 + 3_600_000, T0)));
    assert!(!s.accept("b", "google", tok("b-token", T0 + 3_700_000, T0 + 5)));
    assert!(
        !s.observe_marker("b", "google", T0 + 10),
        "another user's marker"
    );
    assert_eq!(s.token("google").unwrap().access_token.expose(), "a-token");
    assert_eq!(s.switch_user("a"), None, "same user: nothing changes");
    assert_eq!(s.switch_user("b"), Some(Some("a".into())));
    assert!(
        s.token("google").is_none(),
        "a switch drops the previous user's token"
    );
    assert_eq!(s.marker_ms("google"), None);
    assert!(!s.drop_tokens_of("a"));
    assert!(s.accept("b", "google", tok("b-token", T0 + 3_700_000, T0 + 5)));
    assert!(
        !s.drop_tokens_of("a"),
        "a sign-out of another user is not ours"
    );
    assert!(s.drop_tokens_of("b"));
    // Another of b's tabs fetched this before it heard of the sign-out: it
    // arrives after it and is not taken (nor handed to b's next tab).
    assert!(
        !s.accept("b", "google", tok("b-late", T0 + 3_800_000, T0 + 6)),
        "a token arriving after the sign-out"
    );
    assert_eq!(s.user(), None, "a sign-out in another tab forgets the user");
    assert_eq!(
        s.switch_user("b"),
        Some(None),
        "learnt again at the next call"
    );
}

#[test]
fn a_user_switch_in_the_same_tab_is_noticed_on_the_next_call() {
    let (c, f, h, rt) = client();
    h.sign_in("user-a");
    let a = rt.run(c.access_token("google", false)).unwrap();
    assert_eq!(a.access_token.expose(), "at-1");
    h.sign_in("user-b");
    let b = rt.run(c.access_token("google", false)).unwrap();
    assert_eq!(b.access_token.expose(), "at-2", "not user-a's cached token");
    assert_eq!(f.calls.borrow().len(), 2);
    assert_eq!(
        f.calls.borrow()[1].header("authorization"),
        Some(format!("Bearer {}", jwt_for("user-b")).as_str())
    );
    let published = h.published.borrow();
    assert!(published.iter().any(|e| matches!(e,
        ClientEvent::User { user, previous: Some(p) } if user == "user-b" && p == "user-a")));
    assert!(published.iter().any(|e| matches!(e,
        ClientEvent::Token { user, token, .. } if user == "user-b" && token.access_token.expose() == "at-2")));
    assert!(!published.iter().any(|e| matches!(e,
        ClientEvent::Token { user, token, .. } if user == "user-a" && token.access_token.expose() == "at-2")));
}

#[test]
fn a_refresh_in_flight_for_one_user_is_not_cached_for_the_next() {
    let (c, f, h, rt) = client();
    h.sign_in("user-a");
    let c = Rc::new(c);
    let (c1, h1) = (c.clone(), h.clone());
    // user-a asks; before the answer arrives, user-b signs in and asks.
    let (ra, rb) = rt.run(futures_util::future::join(
        c.access_token("google", false),
        async move {
            YieldNow(false).await;
            h1.sign_in("user-b");
            c1.access_token("google", false).await
        },
    ));
    assert_eq!(f.calls.borrow().len(), 2, "one call per user, not shared");
    // user-a's answer came after the switch: not handed to the tab that is user-b's now.
    assert_eq!(ra.unwrap_err().code, Code::Unauthorized);
    let tb = rb.unwrap();
    assert_eq!(
        c.state().token("google").unwrap().access_token,
        tb.access_token,
        "the cache holds only user-b's token"
    );
    assert!(
        !h.published
            .borrow()
            .iter()
            .any(|e| matches!(e, ClientEvent::Failed { .. })),
        "user-a's outcome is not shown to user-b"
    );
}

#[test]
fn an_answer_that_arrives_after_a_sign_out_is_not_kept_shared_or_returned() {
    // Here (reset) or in another tab of the user (its reset message).
    for other_tab in [false, true] {
        let (c, f, h, rt) = client();
        h.sign_in("user-a");
        let c = Rc::new(c);
        let c1 = c.clone();
        let (r, ()) = rt.run(futures_util::future::join(
            c.access_token("google", false),
            async move {
                YieldNow(false).await;
                if other_tab {
                    c1.drop_shared("user-a");
                } else {
                    c1.reset();
                }
            },
        ));
        assert_eq!(f.calls.borrow().len(), 1);
        assert_eq!(
            r.unwrap_err().code,
            Code::Unauthorized,
            "other tab: {other_tab}"
        );
        assert!(c.state().token("google").is_none());
        assert!(!h
            .published
            .borrow()
            .iter()
            .any(|e| matches!(e, ClientEvent::Token { .. })));
    }
}

#[test]
fn reset_drops_the_token_and_tells_the_users_tabs() {
    let (c, f, h, rt) = client();
    h.sign_in("user-a");
    rt.run(c.access_token("google", false)).unwrap();
    c.reset();
    assert!(c.state().token("google").is_none());
    assert_eq!(c.state().user(), None);
    assert!(h
        .published
        .borrow()
        .iter()
        .any(|e| matches!(e, ClientEvent::Reset { user: Some(u) } if u == "user-a")));
    rt.run(c.access_token("google", false)).unwrap();
    assert_eq!(
        f.calls.borrow().len(),
        2,
        "after sign-out the token is fetched again"
    );
}

mod cache;
mod flights;
mod skew;
mod wire;
