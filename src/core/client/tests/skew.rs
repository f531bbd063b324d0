//! A browser clock minutes off the server's: a token's life is counted on
//! this device's clock from the answer's `expiresIn`, its margin from the
//! server's own two times.

use super::*;

/// The token function on a server whose clock is `skew_ms` ahead of this
/// device's: an hour-long token refreshed at the server's now.
fn skewed_answer(rt: &Rt, skew_ms: i64, access: &str) -> HttpResponse {
    let server_now = rt.now_ms() + skew_ms;
    HttpResponse::json(
        200,
        &json!({"accessToken": access, "expiresAt": server_now + 3_600_000, "expiresIn": 3600,
                "tokenRefreshedAt": marker::format(server_now), "scope": "calendar"}),
    )
}

/// A browser clock ten minutes slow: the server's expiresAt is ten minutes
/// later than the token's end on this device's clock. Counted from the
/// request with expiresIn, the token is asked for again before the provider
/// expires it, not served ten minutes past its end.
#[test]
fn a_slow_browser_clock_does_not_serve_a_token_past_its_end() {
    let (c, f, _, rt) = client();
    f.script
        .borrow_mut()
        .push_back(skewed_answer(&rt, 600_000, "at-skewed"));
    let t = rt.run(c.access_token("google", false)).unwrap();
    assert_eq!(t.expires_at_ms, Some(rt.now_ms() + 3_600_000));
    // Refreshed ahead by the client's margin, on this device's clock.
    rt.advance(3_600_000 - DEFAULT_CLIENT_MARGIN_MS - 1);
    rt.run(c.access_token("google", false)).unwrap();
    assert_eq!(f.calls.borrow().len(), 1, "fresh until the margin");
    rt.advance(1);
    rt.run(c.access_token("google", false)).unwrap();
    assert_eq!(
        f.calls.borrow().len(),
        2,
        "asked again at the margin, not ten minutes after the token's end"
    );
}

/// A browser clock ten minutes fast: by the server's expiresAt the token
/// would look stale for its last ten minutes and be asked for at every call.
#[test]
fn a_fast_browser_clock_keeps_answering_a_good_token_from_the_cache() {
    let (c, f, _, rt) = client();
    f.script
        .borrow_mut()
        .push_back(skewed_answer(&rt, -600_000, "at-skewed"));
    rt.run(c.access_token("google", false)).unwrap();
    rt.advance(3_000_000);
    for _ in 0..3 {
        let t = rt.run(c.access_token("google", false)).unwrap();
        assert_eq!(t.access_token.expose(), "at-skewed");
    }
    assert_eq!(f.calls.borrow().len(), 1, "answered from the cache");
}

/// The margin of a short-lived token is cut to half its life from the
/// server's own two times, whatever this device's clock says.
#[test]
fn a_short_lived_tokens_margin_comes_from_the_servers_times() {
    let (c, f, _, rt) = client();
    let server_now = rt.now_ms() + 600_000;
    f.script.borrow_mut().push_back(HttpResponse::json(
        200,
        &json!({"accessToken": "at-short", "expiresAt": server_now + 60_000, "expiresIn": 60,
                "tokenRefreshedAt": marker::format(server_now)}),
    ));
    let t = rt.run(c.access_token("google", false)).unwrap();
    assert_eq!(c.fresh_until(&t), Some(rt.now_ms() + 30_000));
    rt.run(c.access_token("google", false)).unwrap();
    assert_eq!(f.calls.borrow().len(), 1, "cached for half its life");
}

/// An answer without expiresIn (an older server) keeps the server's expiresAt.
#[test]
fn without_expires_in_the_servers_expiry_stands() {
    let now = T0;
    let t = token_from_body(
        &json!({"accessToken": "a", "expiresAt": now + 5_000, "tokenRefreshedAt": marker::format(now)}).to_string(),
        now - 99_000,
    )
    .unwrap();
    assert_eq!(
        (t.expires_at_ms, t.lifetime_ms),
        (Some(now + 5_000), Some(5_000))
    );
    // A negative or absurd expiresIn is cut to none left, or a year.
    for (expires_in, at) in [(-1, now), (i64::MAX / 2, now + 31_536_000_000)] {
        let body = json!({"accessToken": "a", "expiresIn": expires_in}).to_string();
        assert_eq!(token_from_body(&body, now).unwrap().expires_at_ms, Some(at));
    }
}
