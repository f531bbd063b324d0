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
    assert_eq!(
        w.get("google").unwrap().access_token.expose(),
        "at-initial-2"
    );
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

/// An explicit leaseMs shorter than the retries need (it must only outlive
/// one call): a retry that would end past the lease is not started, since
/// another instance may take the lease then and send the same refresh token.
#[test]
fn a_retry_is_not_started_past_the_lease() {
    let w = world("google");
    let m = Manager::new(
        config("google", r#","leaseMs":11000,"requestTimeoutMs":10000"#),
        w.p.clone(),
        w.store.clone(),
        w.rt.clone(),
    );
    w.connect("google", -1, Some("rt-0"));
    w.p.latency_ms.set(4_000);
    for _ in 0..3 {
        w.p.push(Reply::Http(HttpResponse::new(503, "unavailable")));
    }
    let e =
        w.rt.run(m.get_valid_token("user-1", "google", GetOptions::default()))
            .unwrap_err();
    assert_eq!(e.code, Code::ProviderUnavailable);
    assert_eq!(
        w.p.calls(),
        1,
        "a second call could end 4 s + 10 s + 5 s after a lease of 11 s"
    );
    // With the derived lease (every attempt fits), the same failures are retried.
    w.rt.advance(86_400_000);
    for _ in 0..3 {
        w.p.push(Reply::Http(HttpResponse::new(503, "unavailable")));
    }
    w.get("google").unwrap_err();
    assert_eq!(w.p.calls(), 4);
}

/// A flag written from a row as read (an unopenable token) does not land on
/// a disconnect written since.
#[test]
fn a_flag_does_not_land_on_a_row_changed_since_it_was_read() {
    let w = world("google");
    w.connect("google", 3600, Some("rt-0"));
    let read = w.store.row("user-1", "google").unwrap();
    w.rt.run(w.store.disconnect("user-1", "google", w.rt.now_ms()))
        .unwrap();
    let e = super::super::error::Error::new(Code::CryptoIntegrity, "tampered");
    w.rt.run(w.m.record_unopenable(&read, &e));
    assert_eq!(
        w.store.row("user-1", "google").unwrap().status,
        "disconnected"
    );
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

#[test]
fn every_retryable_failure_says_when_this_instance_tries_again() {
    // A 503 asking for 5 s: the cooldown recorded is longer (policy), and
    // retrying at 5 s would only meet "retry in …": the answer says the cooldown.
    let w = world("google");
    w.connect("google", -1, Some("rt-0"));
    for _ in 0..3 {
        w.p.push(Reply::Http(
            HttpResponse::new(503, "").with_header("Retry-After", "5"),
        ));
    }
    let e = w.get("google").unwrap_err();
    assert_eq!(e.code, Code::ProviderUnavailable);
    let row = w.store.row("user-1", "google").unwrap();
    let cooldown =
        crate::core::policy::ms_to_secs_ceil(row.cooldown_until.unwrap() - w.rt.now_ms());
    assert!(cooldown > 5);
    assert_eq!(e.retry_after_secs, Some(cooldown));
    // A timeout too (it had none).
    let w = world("google");
    w.connect("google", -1, Some("rt-0"));
    for _ in 0..3 {
        w.p.push(Reply::Timeout);
    }
    let e = w.get("google").unwrap_err();
    assert_eq!(e.code, Code::Timeout);
    assert!(e.retry_after_secs.is_some_and(|s| s > 0));
}

#[test]
fn a_permanent_failure_serves_the_old_token_and_keeps_its_code_through_the_cooldown() {
    // invalid_client while the old token is still valid: the old token, with
    // the failure as a warning, on the first call as on the next.
    let w = world("google");
    w.connect("google", 10, Some("rt-0"));
    w.p.push_json(401, json!({"error": "invalid_client"}));
    let t = w.get("google").unwrap();
    assert_eq!(t.access_token.expose(), "at-initial");
    assert_eq!(t.warning.as_ref().unwrap().code, Code::InvalidClient);
    assert_eq!(w.store.row("user-1", "google").unwrap().status, "error");
    // Once it has expired: the failure's own code (not retryable, no
    // Retry-After), not a retryable COOLDOWN.
    w.rt.advance(11_000);
    let row = w.store.row("user-1", "google").unwrap();
    assert!(
        row.cooldown_until.unwrap() > w.rt.now_ms(),
        "still cooling down"
    );
    let e = w.get("google").unwrap_err();
    assert_eq!(e.code, Code::InvalidClient);
    assert!(!e.retryable());
    assert_eq!(e.retry_after_secs, None);
    assert_eq!(w.p.calls(), 1);
}

#[test]
fn a_transient_failure_keeps_a_missing_scope_flag() {
    let w = world("google");
    w.connect("google", 120, Some("rt-0"));
    let scope = "https://www.googleapis.com/auth/calendar.events".to_string();
    w.rt.run(w.m.record_scope_error("user-1", "google", std::slice::from_ref(&scope)))
        .unwrap();
    for _ in 0..3 {
        w.p.push_json(503, json!({"error": "temporarily_unavailable"}));
    }
    let t = w.get("google").unwrap();
    assert!(t.warning.is_some());
    let st = w.rt.run(w.m.status("user-1", "google")).unwrap();
    assert_eq!(
        (st.status.as_str(), st.last_error_code.as_deref()),
        ("needs_reauth", Some("INSUFFICIENT_SCOPE"))
    );
    assert!(st.last_error_message.unwrap().contains(&scope));
}

#[test]
fn a_provider_description_that_echoes_the_refresh_token_in_any_form_is_dropped() {
    let w = world("google");
    w.connect("google", -1, Some("1//0gRefreshTokenValue-abc_DEF.xyz"));
    for echoed in [
        "bad token 1%2F%2F0gRefreshTokenValue-abc_DEF.xyz",
        "token starting 1//0gRefreshTok… is unknown",
        "TOKEN 1//0GREFRESHTOKENVALUE-ABC_DEF.XYZ revoked",
    ] {
        w.p.push_json(
            400,
            json!({"error": "invalid_request", "error_description": echoed}),
        );
        let e = w.get("google").unwrap_err();
        assert_eq!(
            e.message, "the provider answered invalid_request",
            "{echoed}"
        );
        w.rt.advance(3_600_000);
    }
    // A client-authentication failure's description may quote the secret: dropped.
    w.p.push_json(401, json!({"error": "invalid_client", "error_description": "client_secret 's3cr3t' does not match"}));
    let e = w.get("google").unwrap_err();
    assert_eq!(e.message, "the provider answered invalid_client");
}

#[test]
fn a_status_written_while_the_old_token_was_valid_turns_token_expired_when_it_expires_in_the_cooldown(
) {
    // 240 s left, and the provider asks for an hour: the old token is served,
    // the status is connected; five minutes on, every call fails until the
    // cooldown ends and the status says so at once.
    let w = world("google");
    w.connect("google", 240, Some("rt-0"));
    w.p.push(Reply::Http(
        HttpResponse::new(429, "").with_header("Retry-After", "3600"),
    ));
    assert!(w.get("google").unwrap().warning.is_some());
    let st = w.rt.run(w.m.status("user-1", "google")).unwrap();
    assert_eq!(st.status, "connected");
    w.rt.advance(300_000);
    assert_eq!(w.get("google").unwrap_err().code, Code::RateLimited);
    let st = w.rt.run(w.m.status("user-1", "google")).unwrap();
    assert_eq!(st.status, "token_expired");
    assert!(
        st.connected,
        "the grant is not dead: connected, its token expired"
    );
}

#[test]
fn a_403_with_retry_after_is_a_rate_limit_not_a_misconfigured_client() {
    // GitHub's secondary rate limits answer 403 with Retry-After.
    let w = world("github");
    w.connect("github", -1, Some("ghr_0"));
    w.p.push(Reply::Http(
        HttpResponse::new(403, "").with_header("Retry-After", "60"),
    ));
    let e = w.get("github").unwrap_err();
    assert_eq!(e.code, Code::RateLimited);
    assert!(e.retry_after_secs.is_some_and(|s| s >= 60));
    assert_ne!(w.store.row("user-1", "github").unwrap().status, "error");
    // Without it, a 403 is still the client's problem.
    let w = world("github");
    w.connect("github", -1, Some("ghr_0"));
    w.p.push(Reply::Http(HttpResponse::new(403, "")));
    assert_eq!(w.get("github").unwrap_err().code, Code::InvalidClient);
}

/// GitHub ends the old access token when it serves a refresh: after a refresh
/// that may have been served (it timed out), the old token is not handed out
/// as still good, and the status does not say connected.
#[test]
fn an_ambiguous_failure_does_not_serve_a_token_the_refresh_may_have_ended() {
    let w = world("github");
    // Valid for two more minutes, inside the margin: refreshed ahead.
    w.connect("github", 120, Some("ghr_0"));
    w.p.push(Reply::Timeout);
    let e = w.get("github").unwrap_err();
    assert_eq!(e.code, Code::Timeout);
    assert_eq!(
        w.p.calls(),
        1,
        "not sent again: the refresh token may be spent"
    );
    assert_ne!(w.store.row("user-1", "github").unwrap().status, "connected");
    // Google's old access token outlives a refresh: served with the failure as a warning.
    let w = world("google");
    w.connect("google", 120, Some("rt-0"));
    for _ in 0..3 {
        w.p.push(Reply::Timeout);
    }
    let t = w.get("google").unwrap();
    assert_eq!(t.access_token.expose(), "at-initial");
    assert!(t.warning.is_some());
}

/// A deadline (the background refresher's budget) starts no retry that could
/// end past it; without one, the same failures are retried.
#[test]
fn a_deadline_starts_no_retry_that_could_end_past_it() {
    let w = world("google");
    w.connect("google", -1, Some("rt-0"));
    w.p.latency_ms.set(1_000);
    for _ in 0..3 {
        w.p.push(Reply::Http(HttpResponse::new(503, "unavailable")));
    }
    let opts = GetOptions {
        deadline_ms: Some(w.rt.now_ms() + 5_000),
        ..Default::default()
    };
    let e =
        w.rt.run(w.m.get_valid_token("user-1", "google", opts))
            .unwrap_err();
    assert_eq!(e.code, Code::ProviderUnavailable);
    assert_eq!(
        w.p.calls(),
        1,
        "a retry could end 10 s later, past the deadline"
    );
    w.rt.advance(86_400_000);
    for _ in 0..3 {
        w.p.push(Reply::Http(HttpResponse::new(503, "unavailable")));
    }
    w.get("google").unwrap_err();
    assert_eq!(w.p.calls(), 4, "without a deadline: three attempts");
}

/// The deadline bounds the wait for another instance's refresh too: the
/// refresher does not wait out a lease (up to two of them) past its stop point.
#[test]
fn a_deadline_bounds_the_wait_for_another_instances_refresh() {
    let w = world("google");
    w.connect("google", -1, Some("rt-0"));
    w.store.keep_leased_by_others();
    let start = w.rt.now_ms();
    let opts = GetOptions {
        deadline_ms: Some(start + 3_000),
        ..Default::default()
    };
    let e =
        w.rt.run(w.m.get_valid_token("user-1", "google", opts))
            .unwrap_err();
    assert_eq!(e.code, Code::LeaseTimeout);
    let waited = w.rt.now_ms() - start;
    assert!((3_000..3_500).contains(&waited), "waited {waited} ms");
    assert_eq!(w.p.calls(), 0);
}
