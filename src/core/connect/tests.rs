//! The connect flow end to end against an authorization-server double that
//! checks what a real one checks: the PKCE challenge (RFC 7636 §4.6), the
//! redirect URI (RFC 6749 §4.1.3) and single-use codes.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use serde_json::json;

use super::*;
use crate::core::authorize::sha256_b64url;
use crate::core::config::ManagerConfig;
use crate::core::http::{HttpRequest, HttpResponse, TransportError};
use crate::core::memory::MemoryStore;
use crate::core::testkit::Rt;

const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const REDIRECT: &str = "https://ref.supabase.co/functions/v1/connections/callback";
const RETURN: &str = "https://app.example/settings";

fn query(url: &str) -> HashMap<String, String> {
    form(url.split_once('?').map(|(_, q)| q).unwrap_or(""))
}

/// Decodes `application/x-www-form-urlencoded`.
fn form(q: &str) -> HashMap<String, String> {
    let dec = |s: &str| {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'%' if i + 3 <= b.len() => {
                    out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                    i += 3;
                }
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                c => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).unwrap()
    };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (dec(k), dec(v))
        })
        .collect()
}

/// An issued code's (challenge, redirect_uri, the scope asked for).
type Issued = (String, String, String);

/// The provider: issues codes for approved authorizations and tokens for codes.
#[derive(Clone, Default)]
struct Server {
    requests: Rc<RefCell<Vec<HttpRequest>>>,
    codes: Rc<RefCell<HashMap<String, Issued>>>,
    revoke_status: Rc<RefCell<u16>>,
    /// The token endpoint's status for refresh_token grants (0: 200 with tokens).
    refresh_status: Rc<RefCell<u16>>,
    /// The account user-info names (default g-42), and whether a code
    /// exchange leaves out the refresh token (a consent given before).
    account: Rc<RefCell<Option<String>>>,
    no_refresh_on_code: Rc<RefCell<bool>>,
    /// User-info answers 401 (a token without the identity scopes).
    userinfo_refused: Rc<RefCell<bool>>,
    /// The scope a code exchange grants (default: the scope asked for).
    code_scope: Rc<RefCell<Option<String>>>,
}

impl Server {
    /// The user approves at the authorization URL: a code for it; the state to return.
    fn approve(&self, url: &str, code: &str) -> String {
        let q = query(url);
        self.codes.borrow_mut().insert(
            code.to_string(),
            (
                q["code_challenge"].clone(),
                q["redirect_uri"].clone(),
                q.get("scope").cloned().unwrap_or_default(),
            ),
        );
        q["state"].clone()
    }
    fn last(&self, url_part: &str) -> Option<HttpRequest> {
        self.requests
            .borrow()
            .iter()
            .rev()
            .find(|r| r.url.contains(url_part))
            .cloned()
    }
}

impl Transport for Server {
    async fn send(
        &self,
        req: HttpRequest,
        _timeout_ms: u64,
    ) -> std::result::Result<HttpResponse, TransportError> {
        self.requests.borrow_mut().push(req.clone());
        if req.method == "DELETE" && req.url.ends_with("/grant") {
            // GitHub's "Delete an app authorization": 204, or 404 for a token it does not know.
            let live = req.body.contains("at-refreshed") || req.body.contains("at-new");
            return Ok(HttpResponse::new(if live { 204 } else { 404 }, ""));
        }
        // GitHub: /user names only a public email, which this account keeps
        // private; /user/emails lists it (the token has user:email).
        if req.url.ends_with("/user/emails") {
            return Ok(HttpResponse::json(
                200,
                &json!([{"email": "ada@example.com", "primary": true, "verified": true, "visibility": "private"}]),
            ));
        }
        if req.url.ends_with("api.github.com/user") {
            return Ok(HttpResponse::json(
                200,
                &json!({"id": 42, "login": "ada", "name": "Ada", "email": null}),
            ));
        }
        if req.url.contains("userinfo") || req.url.ends_with("/v1/me") || req.url.ends_with("/user")
        {
            if *self.userinfo_refused.borrow() {
                return Ok(HttpResponse::new(401, ""));
            }
            let sub = self.account.borrow().clone().unwrap_or("g-42".into());
            return Ok(HttpResponse::json(
                200,
                &json!({"sub": sub, "id": "sp-42", "email": "ada@example.com", "name": "Ada", "display_name": "Ada L"}),
            ));
        }
        if req.url.contains("revoke") {
            let status = *self.revoke_status.borrow();
            // Google's answer for a token it no longer knows.
            let body = if status == 400 {
                r#"{"error":"invalid_token"}"#
            } else {
                "{}"
            };
            return Ok(HttpResponse::new(status, body));
        }
        let f = form(&req.body);
        if f.get("grant_type").map(String::as_str) == Some("refresh_token") {
            let status = *self.refresh_status.borrow();
            if status != 0 {
                return Ok(HttpResponse::json(
                    status,
                    &json!({"error": "temporarily_unavailable"}),
                ));
            }
            return Ok(HttpResponse::json(
                200,
                &json!({"access_token": "at-refreshed", "refresh_token": "rt-2", "token_type": "Bearer", "expires_in": 28800}),
            ));
        }
        if f.get("grant_type").map(String::as_str) != Some("authorization_code") {
            return Ok(HttpResponse::json(
                400,
                &json!({"error": "unsupported_grant_type"}),
            ));
        }
        let issued = self.codes.borrow_mut().remove(&f["code"]);
        let Some((_, _, asked)) = issued.filter(|(challenge, redirect, _)| {
            sha256_b64url(&f["code_verifier"]) == *challenge && f["redirect_uri"] == *redirect
        }) else {
            return Ok(HttpResponse::json(
                400,
                &json!({"error": "invalid_grant", "error_description": "Bad code or verifier"}),
            ));
        };
        if *self.no_refresh_on_code.borrow() {
            return Ok(HttpResponse::json(
                200,
                &json!({"access_token": "at-again", "token_type": "Bearer", "expires_in": 3600, "scope": "openid email"}),
            ));
        }
        let scope = self.code_scope.borrow().clone().unwrap_or(asked);
        Ok(HttpResponse::json(
            200,
            &json!({"access_token": "at-new", "refresh_token": "rt-new", "token_type": "Bearer", "expires_in": 3600, "scope": scope}),
        ))
    }
}

type M = Manager<Server, MemoryStore, Rt>;

const EVENTS: &str = "https://www.googleapis.com/auth/calendar.events";
/// What Google grants when the user unticks the calendar on its consent page.
const UNTICKED: &str = "openid https://www.googleapis.com/auth/userinfo.email";

/// `needs_reauth` with `INSUFFICIENT_SCOPE`: consent again, with the scope.
fn assert_scope_flagged(st: &StatusReport) {
    assert_eq!(
        (
            st.status.as_str(),
            st.last_error_code.as_deref(),
            st.requires_reauth
        ),
        ("needs_reauth", Some("INSUFFICIENT_SCOPE"), true)
    );
}

fn world() -> (M, Server, MemoryStore, Rt) {
    let cfg = ManagerConfig::from_json(&format!(
        r#"{{"providers":{{
            "google":{{"clientId":"cid","clientSecret":"cs"}},
            "spotify":{{"clientId":"sid","clientSecret":"ss"}},
            "github-app":{{"clientId":"ghid","clientSecret":"ghs"}}}},
          "encryptionKeys":[{{"id":"k1","key":"{KEY}"}}]}}"#
    ))
    .unwrap();
    let (rt, server, store) = (Rt::new(), Server::default(), MemoryStore::new());
    *server.revoke_status.borrow_mut() = 200;
    let m = Manager::new(cfg, server.clone(), store.clone(), rt.clone());
    (m, server, store, rt)
}

fn opts() -> ConnectOptions {
    ConnectOptions {
        redirect_uri: REDIRECT.into(),
        return_to: RETURN.into(),
        scopes: None,
    }
}

/// Begin, approve at the provider, callback: the ticket.
fn through_callback(m: &M, s: &Server, rt: &Rt, user: &str, provider: &str) -> String {
    let start = rt.run(m.begin_connect(user, provider, opts())).unwrap();
    let state = s.approve(&start.authorization_url, "code-1");
    let cb = rt
        .run(m.connect_callback(&state, Some("code-1"), None, None))
        .unwrap();
    assert_eq!((cb.return_to.as_str(), cb.error.as_ref()), (RETURN, None));
    cb.ticket.unwrap()
}

#[test]
fn connect_with_pkce_stores_sealed_tokens_and_the_account() {
    let (m, s, store, rt) = world();
    let start = rt.run(m.begin_connect("u1", "google", opts())).unwrap();
    let q = query(&start.authorization_url);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["redirect_uri"], REDIRECT);
    assert_eq!(q["access_type"], "offline");
    assert!(q["scope"].contains("calendar.events"));
    assert!(q["state"].len() >= 43, "256 bits of state");
    // Nothing usable at rest: the state is hashed, the verifier sealed.
    let attempt = &store.connect_attempts()[0];
    assert_eq!(attempt.state_hash, sha256_b64url(&q["state"]));
    assert!(attempt.verifier_sealed.starts_with("v1.k1."));
    let state = s.approve(&start.authorization_url, "code-1");
    let cb = rt
        .run(m.connect_callback(&state, Some("code-1"), None, None))
        .unwrap();
    let st = rt
        .run(m.complete_connect("u1", &cb.ticket.unwrap()))
        .unwrap();
    assert_eq!(st.status, "connected");
    assert_eq!(st.account_id.as_deref(), Some("g-42"));
    assert_eq!(st.account_email.as_deref(), Some("ada@example.com"));
    assert!(s
        .last("/token")
        .unwrap()
        .body
        .contains("grant_type=authorization_code"));
    let row = store.row("u1", "google").unwrap();
    assert!(row.refresh_token_sealed.unwrap().starts_with("v1.k1."));
    assert!(store.events().iter().any(|e| e.kind == "connected"));
    assert!(
        store.connect_attempts().is_empty(),
        "completed attempts are gone"
    );
    let t = rt
        .run(m.get_valid_token("u1", "google", Default::default()))
        .unwrap();
    assert_eq!(t.access_token.expose(), "at-new");
}

#[test]
fn states_and_tickets_are_single_use() {
    let (m, s, _, rt) = world();
    let start = rt.run(m.begin_connect("u1", "google", opts())).unwrap();
    let state = s.approve(&start.authorization_url, "code-1");
    let first = rt
        .run(m.connect_callback(&state, Some("code-1"), None, None))
        .unwrap();
    let replay = rt
        .run(m.connect_callback(&state, Some("code-1"), None, None))
        .unwrap();
    assert_eq!(replay.ticket, None);
    assert_eq!(replay.error.unwrap().code, Code::ConnectStateInvalid);
    assert_eq!(replay.return_to, RETURN);
    let ticket = first.ticket.unwrap();
    rt.run(m.complete_connect("u1", &ticket)).unwrap();
    let again = rt.run(m.complete_connect("u1", &ticket)).unwrap_err();
    assert_eq!(again.code, Code::ConnectStateInvalid);
    // A state nobody issued has no page to return to.
    let forged = rt
        .run(m.connect_callback("forged-state", Some("c"), None, None))
        .unwrap_err();
    assert_eq!(forged.code, Code::ConnectStateInvalid);
}

#[test]
fn another_users_ticket_is_refused_and_burned() {
    let (m, s, store, rt) = world();
    let ticket = through_callback(&m, &s, &rt, "attacker", "google");
    let e = rt.run(m.complete_connect("victim", &ticket)).unwrap_err();
    assert_eq!(e.code, Code::Forbidden);
    assert!(store.row("victim", "google").is_none());
    assert!(store.row("attacker", "google").is_none());
    let e = rt.run(m.complete_connect("attacker", &ticket)).unwrap_err();
    assert_eq!(
        e.code,
        Code::ConnectStateInvalid,
        "burned by the wrong user's try"
    );
}

#[test]
fn expired_denied_and_wrong_verifier_end_in_plain_errors() {
    let (m, s, store, rt) = world();
    // Expired between the authorization URL and the callback.
    let start = rt.run(m.begin_connect("u1", "google", opts())).unwrap();
    let state = s.approve(&start.authorization_url, "code-1");
    rt.advance(CONNECT_TTL_MS + 1);
    let cb = rt
        .run(m.connect_callback(&state, Some("code-1"), None, None))
        .unwrap();
    assert_eq!(cb.error.unwrap().code, Code::ConnectStateInvalid);
    // The user said no at the provider (RFC 6749 §4.1.2.1).
    let start = rt.run(m.begin_connect("u1", "google", opts())).unwrap();
    let state = query(&start.authorization_url)["state"].clone();
    let cb = rt
        .run(m.connect_callback(&state, None, Some("access_denied"), None))
        .unwrap();
    assert_eq!(
        (cb.ticket, cb.error.unwrap().code),
        (None, Code::ConsentDenied)
    );
    // A verifier that does not match the challenge: the provider refuses the code.
    let ticket = through_callback(&m, &s, &rt, "u1", "google");
    let mut a = store
        .connect_attempts()
        .into_iter()
        .find(|a| a.ticket_hash.as_deref() == Some(sha256_b64url(&ticket).as_str()))
        .unwrap();
    let other = crate::core::authorize::Pkce::from_random([9; 32]);
    a.verifier_sealed = m.cfg.keyring.seal(
        other.verifier.expose(),
        &attempt_ctx(&a.state_hash, Field::PkceVerifier),
        [1; 12],
    );
    store.put_connect_attempt(a);
    let e = rt.run(m.complete_connect("u1", &ticket)).unwrap_err();
    // invalid_grant for a code: this connect failed, no grant died (not
    // REAUTH_REQUIRED, which pages read as "reconnect <provider>").
    assert_eq!(e.code, Code::ConnectStateInvalid);
    assert!(e.message.contains("refused the code"), "{}", e.message);
    assert!(store.row("u1", "google").is_none());
    // A ticket completed after the attempt expired.
    let ticket = through_callback(&m, &s, &rt, "u1", "google");
    rt.advance(CONNECT_TTL_MS + 1);
    assert_eq!(
        rt.run(m.complete_connect("u1", &ticket)).unwrap_err().code,
        Code::ConnectStateInvalid
    );
}

#[test]
fn bad_connect_requests_are_refused_before_anything_is_stored() {
    let (m, _, store, rt) = world();
    for o in [
        ConnectOptions {
            return_to: "javascript:alert(1)".into(),
            ..opts()
        },
        ConnectOptions {
            redirect_uri: "//evil.example/cb".into(),
            ..opts()
        },
        ConnectOptions {
            scopes: Some(vec!["a b".into()]),
            ..opts()
        },
        // No scope at all: the URL would carry none, and the provider's own
        // error page would strand the user (Google's "missing scope").
        ConnectOptions {
            scopes: Some(vec![]),
            ..opts()
        },
    ] {
        assert_eq!(
            rt.run(m.begin_connect("u1", "google", o)).unwrap_err().code,
            Code::BadRequest
        );
    }
    assert_eq!(
        rt.run(m.begin_connect("u1", "nope", opts()))
            .unwrap_err()
            .code,
        Code::BadRequest
    );
    assert!(store.connect_attempts().is_empty());
}

#[test]
fn disconnect_revokes_where_it_can_and_always_erases() {
    let (m, s, store, rt) = world();
    let t = through_callback(&m, &s, &rt, "u1", "google");
    rt.run(m.complete_connect("u1", &t)).unwrap();
    let r = rt.run(m.disconnect("u1", "google")).unwrap();
    assert_eq!(r.revocation, RevokeOutcome::Revoked);
    assert_eq!(s.last("revoke").unwrap().body, "token=rt-new");
    assert_eq!(r.status.status, "disconnected");
    let row = store.row("u1", "google").unwrap();
    assert!(row.access_token_sealed.is_none() && row.refresh_token_sealed.is_none());
    assert_eq!(
        r.status.account_id, None,
        "who was connected is forgotten too"
    );
    // Spotify offers no revocation: still disconnected here, and it says so.
    let t = through_callback(&m, &s, &rt, "u1", "spotify");
    rt.run(m.complete_connect("u1", &t)).unwrap();
    let r = rt.run(m.disconnect("u1", "spotify")).unwrap();
    assert_eq!(
        (r.revocation, r.status.status.as_str()),
        (RevokeOutcome::NotSupported, "disconnected")
    );
    // The provider failing: disconnected anyway, the failure reported.
    let t = through_callback(&m, &s, &rt, "u2", "google");
    rt.run(m.complete_connect("u2", &t)).unwrap();
    *s.revoke_status.borrow_mut() = 503;
    let r = rt.run(m.disconnect("u2", "google")).unwrap();
    assert!(
        matches!(r.revocation, RevokeOutcome::Failed(ref e) if e.code == Code::ProviderUnavailable)
    );
    assert_eq!(r.status.status, "disconnected");
    assert!(store
        .events()
        .iter()
        .any(|e| e.kind == "disconnected" && e.code.as_deref() == Some("PROVIDER_UNAVAILABLE")));
}

#[test]
fn a_disconnect_whose_tokens_cannot_be_opened_says_the_grant_was_not_revoked() {
    let (m, s, store, rt) = world();
    let t = through_callback(&m, &s, &rt, "u1", "google");
    rt.run(m.complete_connect("u1", &t)).unwrap();
    // Sealed under a key no longer configured.
    let mut row = store.row("u1", "google").unwrap();
    for v in [&mut row.access_token_sealed, &mut row.refresh_token_sealed] {
        *v = v.as_ref().map(|x| x.replacen("v1.k1.", "v1.k9.", 1));
    }
    store.put_row(row);
    let r = rt.run(m.disconnect("u1", "google")).unwrap();
    assert!(
        matches!(r.revocation, RevokeOutcome::Failed(ref e) if e.code == Code::CryptoUnknownKey),
        "{:?}",
        r.revocation
    );
    assert!(s.last("revoke").is_none(), "nothing could be sent");
    assert_eq!(r.status.status, "disconnected");
    assert!(store
        .events()
        .iter()
        .any(|e| e.kind == "disconnected" && e.code.as_deref() == Some("CRYPTO_UNKNOWN_KEY")));
    // Nothing left to revoke: said so.
    let r = rt.run(m.disconnect("u1", "google")).unwrap();
    assert_eq!(r.revocation, RevokeOutcome::NothingToRevoke);
}

#[test]
fn an_expired_github_token_is_refreshed_before_the_grant_is_deleted() {
    // GitHub deletes a grant by one of its access tokens; an expired one finds
    // nothing (404, read as "already gone") and the app stays authorized.
    let (m, s, _, rt) = world();
    let t = through_callback(&m, &s, &rt, "u1", "github-app");
    rt.run(m.complete_connect("u1", &t)).unwrap();
    rt.advance(9 * 3_600_000); // GitHub App user tokens live 8 hours
    let r = rt.run(m.disconnect("u1", "github-app")).unwrap();
    assert_eq!(r.revocation, RevokeOutcome::Revoked);
    let refresh = s.last("/access_token").unwrap();
    assert!(
        refresh.body.contains("grant_type=refresh_token"),
        "{}",
        refresh.body
    );
    let delete = s.last("/grant").unwrap();
    assert!(delete.body.contains("at-refreshed"), "{}", delete.body);
    assert_eq!(r.status.status, "disconnected");
    // A live token is used as it is: no refresh.
    let (m, s, _, rt) = world();
    let t = through_callback(&m, &s, &rt, "u1", "github-app");
    rt.run(m.complete_connect("u1", &t)).unwrap();
    let r = rt.run(m.disconnect("u1", "github-app")).unwrap();
    assert_eq!(r.revocation, RevokeOutcome::Revoked);
    assert!(!s
        .requests
        .borrow()
        .iter()
        .any(|q| q.body.contains("grant_type=refresh_token")));
}

#[test]
fn a_grant_revoked_by_an_expired_token_is_not_reported_revoked() {
    // The refresh before the deletion fails (GitHub down): the expired token
    // is still sent, GitHub answers 404, and the app stays authorized there.
    let (m, s, store, rt) = world();
    let t = through_callback(&m, &s, &rt, "u1", "github-app");
    rt.run(m.complete_connect("u1", &t)).unwrap();
    rt.advance(9 * 3_600_000);
    *s.refresh_status.borrow_mut() = 503;
    let r = rt.run(m.disconnect("u1", "github-app")).unwrap();
    assert!(
        s.last("/grant").unwrap().body.contains("at-new"),
        "the stale token was tried"
    );
    match &r.revocation {
        RevokeOutcome::Failed(e) => {
            assert_eq!(e.code, Code::ProviderRejected);
            assert!(
                e.message.contains("may still be authorized"),
                "{}",
                e.message
            );
        }
        other => panic!("not revoked: {other:?}"),
    }
    assert_eq!(r.status.status, "disconnected", "erased here all the same");
    assert!(store
        .row("u1", "github-app")
        .unwrap()
        .access_token_sealed
        .is_none());
    // Google with no refresh token stored and its access token expired: the
    // same (Google answers invalid_token for a dead token, the grant stands).
    let (m, s, store, rt) = world();
    let t = through_callback(&m, &s, &rt, "u1", "google");
    rt.run(m.complete_connect("u1", &t)).unwrap();
    let mut row = store.row("u1", "google").unwrap();
    row.refresh_token_sealed = None;
    store.put_row(row);
    rt.advance(2 * 3_600_000);
    *s.revoke_status.borrow_mut() = 400;
    let r = rt.run(m.disconnect("u1", "google")).unwrap();
    assert!(
        matches!(r.revocation, RevokeOutcome::Failed(_)),
        "{:?}",
        r.revocation
    );
    // With a live access token, Google's invalid_token still means already gone.
    let (m, s, store, rt) = world();
    let t = through_callback(&m, &s, &rt, "u1", "google");
    rt.run(m.complete_connect("u1", &t)).unwrap();
    let mut row = store.row("u1", "google").unwrap();
    row.refresh_token_sealed = None;
    store.put_row(row);
    *s.revoke_status.borrow_mut() = 400;
    let r = rt.run(m.disconnect("u1", "google")).unwrap();
    assert_eq!(r.revocation, RevokeOutcome::Revoked);
}

#[test]
fn status_for_all_providers_at_once() {
    let (m, s, _, rt) = world();
    let t = through_callback(&m, &s, &rt, "u1", "spotify");
    rt.run(m.complete_connect("u1", &t)).unwrap();
    let all = rt.run(m.status_all("u1")).unwrap();
    let by: Vec<(&str, &str)> = all
        .iter()
        .map(|r| (r.provider.as_str(), r.status.as_str()))
        .collect();
    assert_eq!(
        by,
        [
            ("github-app", "disconnected"),
            ("google", "disconnected"),
            ("spotify", "connected")
        ]
    );
    assert_eq!(all[2].account_name.as_deref(), Some("Ada L"));
}

#[test]
fn a_reconnect_without_a_refresh_token_keeps_the_stored_one_only_for_the_same_account() {
    // Same account, no refresh token this time (consent given before): the
    // stored one still belongs to this grant and is kept.
    let (m, s, store, rt) = world();
    let t = through_callback(&m, &s, &rt, "u1", "google");
    rt.run(m.complete_connect("u1", &t)).unwrap();
    let first = store.row("u1", "google").unwrap().refresh_token_sealed;
    *s.no_refresh_on_code.borrow_mut() = true;
    let t = through_callback(&m, &s, &rt, "u1", "google");
    rt.run(m.complete_connect("u1", &t)).unwrap();
    let row = store.row("u1", "google").unwrap();
    assert_eq!(row.refresh_token_sealed, first);
    assert_eq!(row.account_id.as_deref(), Some("g-42"));
    // Another account: account A's refresh token must not stay beside B's
    // access token (the next refresh would switch back to A), nor A's scope.
    *s.account.borrow_mut() = Some("g-77".into());
    let t = through_callback(&m, &s, &rt, "u1", "google");
    let st = rt.run(m.complete_connect("u1", &t)).unwrap();
    let row = store.row("u1", "google").unwrap();
    assert_eq!(row.refresh_token_sealed, None);
    assert_eq!(row.account_id.as_deref(), Some("g-77"));
    assert_eq!(row.scope.as_deref(), Some("email openid"));
    assert!(!st.has_refresh_token);
}

#[test]
fn a_reconnect_that_still_lacks_the_flagged_scope_stays_flagged() {
    let (m, s, _, rt) = world();
    let t = through_callback(&m, &s, &rt, "u1", "google");
    rt.run(m.complete_connect("u1", &t)).unwrap();
    let st = rt
        .run(m.record_scope_error("u1", "google", &[EVENTS.to_string()]))
        .unwrap();
    assert_eq!(st.last_error_code.as_deref(), Some("INSUFFICIENT_SCOPE"));
    // The user unticks the calendar on the consent page again.
    *s.code_scope.borrow_mut() = Some(UNTICKED.into());
    let t = through_callback(&m, &s, &rt, "u1", "google");
    let st = rt.run(m.complete_connect("u1", &t)).unwrap();
    assert_scope_flagged(&st);
    let status = rt.run(m.status("u1", "google")).unwrap();
    assert_eq!(status.status, "needs_reauth", "stored, not only reported");
    // A provider that names several scopes names the ones that would do
    // (Google: calendar or calendar.events): one of them granted is enough.
    rt.run(m.record_scope_error(
        "u1",
        "google",
        &[
            "https://www.googleapis.com/auth/calendar".to_string(),
            EVENTS.to_string(),
        ],
    ))
    .unwrap();
    *s.code_scope.borrow_mut() = Some(format!("openid email {EVENTS}"));
    let t = through_callback(&m, &s, &rt, "u1", "google");
    let st = rt.run(m.complete_connect("u1", &t)).unwrap();
    assert_eq!(
        (st.status.as_str(), st.last_error_code),
        ("connected", None)
    );
}

mod granted;
mod issuer;

#[test]
fn a_github_account_with_a_private_email_is_shown_with_its_primary_address() {
    let (m, s, _, rt) = world();
    let t = through_callback(&m, &s, &rt, "u1", "github-app");
    let st = rt.run(m.complete_connect("u1", &t)).unwrap();
    assert_eq!(st.account_id.as_deref(), Some("42"));
    assert_eq!(st.account_name.as_deref(), Some("ada"));
    assert_eq!(
        st.account_email.as_deref(),
        Some("ada@example.com"),
        "from /user/emails: /user had none"
    );
    assert!(s.last("/user/emails").is_some());
}
