//! The cache per connection: its endpoint and marker, the sessions it
//! answers, its generation and how long a token stays fresh in it.

use super::*;

#[test]
fn session_tokens_without_a_subject_are_unauthorized() {
    for bad in ["", "opaque", "a.b.c", &jwt_for("")] {
        assert_eq!(
            jwt_subject(bad).unwrap_err().code,
            Code::Unauthorized,
            "{bad}"
        );
    }
    assert_eq!(
        jwt_subject(&jwt_for("11111111-1111")).unwrap(),
        "11111111-1111"
    );
}

#[test]
fn each_connection_has_its_own_endpoint_cache_and_marker() {
    let (c, f, _, rt) = client();
    let g = rt.run(c.access_token("google", false)).unwrap();
    let sp = rt.run(c.access_token("spotify", false)).unwrap();
    assert_ne!(g.access_token, sp.access_token);
    let urls: Vec<String> = f.calls.borrow().iter().map(|r| r.url.clone()).collect();
    assert_eq!(
        urls,
        [
            "http://127.0.0.1:54321/functions/v1/refresh-google-token",
            "http://127.0.0.1:54321/functions/v1/connections/spotify/token"
        ]
    );
    // Both cached.
    rt.run(c.access_token("google", false)).unwrap();
    rt.run(c.access_token("spotify", false)).unwrap();
    assert_eq!(f.calls.borrow().len(), 2);
    // The server refreshed Spotify: only Spotify's token is dropped.
    c.observe_marker("user-a", "spotify", sp.refreshed_at_ms.unwrap() + 5_000);
    assert!(c.state().token("spotify").is_none());
    assert_eq!(
        c.state().token("google").unwrap().access_token,
        g.access_token
    );
    assert_eq!(
        rt.run(c.access_token("no such/id", false))
            .unwrap_err()
            .code,
        Code::BadRequest
    );
}

/// The wasm layer's synchronous hot path asks `peek_usable`: it must answer
/// only what `access_token` would (the session user's cache, fresh beyond
/// the margin), never another user's token.
#[test]
fn peek_usable_answers_only_the_session_users_fresh_token() {
    let (c, _, h, rt) = client();
    let peek = |user: &str| c.peek_usable(user, "google", |t| t.access_token.expose().to_string());
    assert_eq!(peek("user-a"), None, "nothing cached yet");
    rt.run(c.access_token("google", false)).unwrap();
    assert_eq!(peek("user-a").as_deref(), Some("at-1"));
    assert_eq!(peek("user-b"), None, "another user's session never sees it");
    assert_eq!(c.peek_usable("user-a", "spotify", |_| ()), None);
    rt.advance(3_600_000 - 60_000);
    assert_eq!(
        peek("user-a"),
        None,
        "within the margin: the full path refreshes"
    );
    *h.user.borrow_mut() = Some("user-b".into());
    rt.run(c.access_token("google", false)).unwrap();
    assert_eq!(peek("user-a"), None, "the cache is user-b's now");
    assert!(peek("user-b").is_some());
    c.reset();
    assert_eq!(peek("user-b"), None, "signed out");
}

#[test]
fn access_token_in_uses_the_given_session() {
    let (c, f, h, rt) = client();
    h.no_session.set(true);
    let t = rt
        .run(c.access_token_in(jwt_for("user-c"), "google", false))
        .unwrap();
    assert_eq!(t.access_token.expose(), "at-1");
    assert_eq!(
        f.calls.borrow()[0].header("authorization"),
        Some(format!("Bearer {}", jwt_for("user-c")).as_str())
    );
    assert!(c.peek_usable("user-c", "google", |_| ()).is_some());
}

/// The generation moves with every change a cached answer depends on, and
/// `fresh_until` is exactly where `peek_usable` stops answering.
#[test]
fn generation_moves_with_every_change_and_fresh_until_matches_the_margin() {
    let (c, _, h, rt) = client();
    let mut seen = vec![c.generation()];
    let mut changed = |c: &C, what: &str| {
        let g = c.generation();
        assert!(!seen.contains(&g), "{what}: the generation did not move");
        seen.push(g);
    };
    let t = rt.run(c.access_token("google", false)).unwrap();
    changed(&c, "a token");
    let before = c.generation();
    rt.run(c.access_token("google", false)).unwrap();
    c.peek_usable("user-a", "google", |_| ());
    assert_eq!(c.generation(), before, "reading the cache changes nothing");
    let until = c.fresh_until(&t).unwrap();
    rt.advance(until - 1 - rt.now_ms());
    assert!(c.peek_usable("user-a", "google", |_| ()).is_some());
    rt.advance(1);
    assert!(c.peek_usable("user-a", "google", |_| ()).is_none());
    c.observe_marker("user-a", "google", rt.now_ms());
    changed(&c, "a marker");
    c.accept_shared(
        "user-a",
        "google",
        tok("at-9", rt.now_ms() + 3_600_000, rt.now_ms()),
    );
    changed(&c, "another tab's token");
    c.invalidate("google", &AccessToken::new("at-9"));
    changed(&c, "a 401");
    c.drop_shared("user-a");
    changed(&c, "another tab's sign-out");
    *h.user.borrow_mut() = Some("user-b".into());
    rt.run(c.access_token("google", false)).unwrap();
    changed(&c, "another user");
    c.reset();
    changed(&c, "sign-out");
}

/// A token that lives shorter than the client's margin (one minute, against
/// 60 s) is still answered from the cache for half its life, not fetched
/// again at every call.
#[test]
fn a_token_shorter_lived_than_the_margin_is_cached_for_half_its_life() {
    let (c, f, _, rt) = client();
    let now = rt.now_ms();
    f.script.borrow_mut().push_back(HttpResponse::json(
        200,
        &json!({"accessToken": "at-short", "expiresAt": now + 60_000, "tokenRefreshedAt": marker::format(now)}),
    ));
    for _ in 0..3 {
        assert_eq!(
            rt.run(c.access_token("google", false))
                .unwrap()
                .access_token
                .expose(),
            "at-short"
        );
    }
    assert_eq!(f.calls.borrow().len(), 1);
    let t = c.state().token("google").unwrap().clone();
    assert_eq!(c.fresh_until(&t), Some(now + 30_000));
    rt.advance(30_000);
    rt.run(c.access_token("google", false)).unwrap();
    assert_eq!(f.calls.borrow().len(), 2, "asked again at half its life");
}
