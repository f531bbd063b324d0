//! Failures classified: a dead grant, rate limits, server errors with backoff,
//! transient errors, what is not retried for single-use refresh tokens, a
//! failed proactive refresh serving the old token, and exhaustion. The world
//! and doubles are the parent module's.

use super::*;

#[test]
fn invalid_grant_needs_reauth_and_stops_calling() {
    let w = world("google");
    w.connect("google", -1, Some("rt-0"));
    w.p.push_json(400, json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}));
    let e = w.get("google").unwrap_err();
    assert_eq!(e.code, Code::ReauthRequired);
    assert!(e.requires_reauth());
    let row = w.store.row("user-1", "google").unwrap();
    assert_eq!(row.status, "needs_reauth");
    assert_eq!(
        row.refresh_token_sealed, None,
        "the dead refresh token is erased"
    );
    assert!(row.access_token_sealed.is_some(), "the row is kept");
    let report = w.rt.run(w.m.status("user-1", "google")).unwrap();
    assert!(report.requires_reauth);
    assert!(!report.has_refresh_token);
    assert_eq!(report.last_error_code.as_deref(), Some("REAUTH_REQUIRED"));
    let e = w.get("google").unwrap_err();
    assert_eq!(e.code, Code::ReauthRequired);
    assert_eq!(w.p.calls(), 1, "no provider call for a dead grant");
    // Reconnecting restores it.
    w.connect("google", 3600, Some("rt-new"));
    assert_eq!(w.get("google").unwrap().access_token.expose(), "at-initial");
    assert_eq!(
        w.rt.run(w.m.status("user-1", "google")).unwrap().status,
        "connected"
    );
}

#[test]
fn rate_limit_sets_a_cooldown_with_no_provider_calls_during_it() {
    let w = world("google");
    w.connect("google", -1, Some("rt-0"));
    w.p.push(Reply::Http(
        HttpResponse::new(429, "").with_header("Retry-After", "120"),
    ));
    let e = w.get("google").unwrap_err();
    assert_eq!(e.code, Code::RateLimited);
    assert_eq!(e.retry_after_secs, Some(120));
    assert_eq!(w.p.calls(), 1);
    w.rt.advance(60_000);
    let e = w.get("google").unwrap_err();
    assert_eq!(e.code, Code::RateLimited);
    assert_eq!(e.retry_after_secs, Some(60));
    assert_eq!(w.p.calls(), 1, "no provider call during the cooldown");
    assert_eq!(
        w.store.row("user-1", "google").unwrap().status,
        "token_expired"
    );
    w.rt.advance(61_000);
    assert_eq!(w.get("google").unwrap().access_token.expose(), "at-2");
    assert_eq!(w.p.calls(), 2);
    assert_eq!(w.store.row("user-1", "google").unwrap().status, "connected");
}

#[test]
fn server_errors_are_retried_with_backoff_then_reported() {
    let w = world("google");
    w.connect("google", -1, Some("rt-0"));
    for _ in 0..3 {
        w.p.push(Reply::Http(HttpResponse::new(
            503,
            "<html>unavailable</html>",
        )));
    }
    let e = w.get("google").unwrap_err();
    assert_eq!(e.code, Code::ProviderUnavailable);
    assert_eq!(w.p.calls(), 3);
    // Full jitter with the injected 0.5: half of 250 ms, then half of 500 ms.
    assert_eq!(*w.rt.sleeps.borrow(), vec![125, 250]);
    let row = w.store.row("user-1", "google").unwrap();
    assert_eq!(row.failure_count, 1);
    assert_eq!(row.status, "token_expired");
}

#[test]
fn transient_failure_then_success_within_one_call() {
    let w = world("google");
    w.connect("google", -1, Some("rt-0"));
    w.p.push(Reply::Network);
    w.p.push(Reply::Http(HttpResponse::new(502, "bad gateway")));
    let t = w.get("google").unwrap();
    assert_eq!(t.access_token.expose(), "at-3");
    assert_eq!(w.p.calls(), 3);
}

#[test]
fn timeouts_are_not_retried_for_single_use_refresh_tokens() {
    let w = world("discord");
    w.connect("discord", -1, Some("rt-0"));
    w.p.push(Reply::Timeout);
    assert_eq!(w.get("discord").unwrap_err().code, Code::Timeout);
    assert_eq!(w.p.calls(), 1);
    let w = world("google");
    w.connect("google", -1, Some("rt-0"));
    w.p.push(Reply::Timeout);
    assert!(w.get("google").is_ok());
    assert_eq!(w.p.calls(), 2);
}

#[test]
fn lost_connections_and_gateway_errors_are_not_retried_for_single_use_refresh_tokens() {
    // The server may have rotated before the answer was lost: the old token
    // sent again is reuse. Reusable tokens are retried as before.
    for reply in [
        Reply::Network,
        Reply::Http(HttpResponse::new(502, "bad gateway")),
        Reply::Http(HttpResponse::new(504, "gateway timeout")),
    ] {
        let w = world("discord");
        w.connect("discord", -1, Some("rt-0"));
        w.p.push(reply.clone());
        assert!(w.get("discord").is_err());
        assert_eq!(w.p.calls(), 1, "{reply:?}");
        let w = world("google");
        w.connect("google", -1, Some("rt-0"));
        w.p.push(reply.clone());
        assert!(w.get("google").is_ok());
        assert_eq!(w.p.calls(), 2, "{reply:?}");
    }
    // A 503 says the request was not served: retried for single-use tokens too.
    let w = world("discord");
    w.connect("discord", -1, Some("rt-0"));
    w.p.push(Reply::Http(HttpResponse::new(503, "unavailable")));
    assert!(w.get("discord").is_ok());
    assert_eq!(w.p.calls(), 2);
}

#[test]
fn failed_proactive_refresh_returns_the_still_valid_token() {
    let w = world("google");
    w.connect("google", 60, Some("rt-0"));
    w.p.push(Reply::Http(HttpResponse::new(500, "")));
    w.p.push(Reply::Http(HttpResponse::new(500, "")));
    w.p.push(Reply::Http(HttpResponse::new(500, "")));
    let t = w.get("google").unwrap();
    assert_eq!(t.access_token.expose(), "at-initial");
    assert_eq!(t.warning.as_ref().unwrap().code, Code::ProviderUnavailable);
    let row = w.store.row("user-1", "google").unwrap();
    assert_eq!(row.status, "connected");
    assert_eq!(row.last_error_code.as_deref(), Some("PROVIDER_UNAVAILABLE"));
    // Inside the cooldown the old token keeps being served without calls.
    let t = w.get("google").unwrap();
    assert_eq!(t.access_token.expose(), "at-initial");
    assert_eq!(t.warning.unwrap().code, Code::ProviderUnavailable);
    assert_eq!(w.p.calls(), 3);
}

#[test]
fn repeated_failures_exhaust_the_connection() {
    let w = world("google");
    w.connect("google", -1, Some("rt-0"));
    for round in 1..=5 {
        w.p.push(Reply::Network);
        w.p.push(Reply::Network);
        w.p.push(Reply::Network);
        assert_eq!(w.get("google").unwrap_err().code, Code::Network);
        let row = w.store.row("user-1", "google").unwrap();
        assert_eq!(row.failure_count, round);
        assert_eq!(
            row.status,
            if round < 5 { "token_expired" } else { "error" }
        );
        w.rt.advance(row.cooldown_until.unwrap() - w.rt.now_ms());
    }
}
