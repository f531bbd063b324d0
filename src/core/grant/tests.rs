//! The token response: RFC 6749 §5.1/§5.2 parsing, errors classified,
//! rotation and scope changes applied.

use super::*;
use crate::core::provider::ProviderConfig;
use base64::Engine;
use serde_json::json;

fn provider(id: &str, auth: &str) -> Provider {
    Provider::from_config(
        id,
        &ProviderConfig {
            client_id: Some("client id/1".into()),
            client_secret: Some("s3cr:et&".into()),
            client_auth: Some(auth.into()),
            ..Default::default()
        },
    )
    .unwrap()
}

fn rt() -> RefreshToken {
    RefreshToken::new("1//rt+/=")
}

#[test]
fn request_with_body_auth() {
    let req = refresh_request(&provider("google", "body"), &rt());
    assert_eq!(req.method, "POST");
    assert_eq!(req.url, "https://oauth2.googleapis.com/token");
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(req.header("accept"), Some("application/json"));
    assert_eq!(req.header("authorization"), None);
    assert_eq!(
        req.body,
        "grant_type=refresh_token&refresh_token=1%2F%2Frt%2B%2F%3D&client_id=client+id%2F1&client_secret=s3cr%3Aet%26"
    );
}

#[test]
fn request_with_basic_auth_urlencodes_before_base64() {
    let req = refresh_request(&provider("spotify", "basic"), &rt());
    let b64 = req
        .header("authorization")
        .unwrap()
        .strip_prefix("Basic ")
        .unwrap();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert_eq!(
        String::from_utf8(raw).unwrap(),
        "client+id%2F1:s3cr%3Aet%26"
    );
    assert_eq!(
        req.body,
        "grant_type=refresh_token&refresh_token=1%2F%2Frt%2B%2F%3D"
    );
}

#[test]
fn request_for_public_client() {
    let p = Provider::from_config(
        "google",
        &ProviderConfig {
            client_id: Some("pub".into()),
            client_auth: Some("none".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let req = refresh_request(&p, &rt());
    assert!(req.body.ends_with("&client_id=pub"));
    assert!(!req.body.contains("client_secret"));
}

fn ok(body: serde_json::Value) -> HttpResponse {
    HttpResponse::json(200, &body)
}

#[test]
fn strict_success_parsing() {
    let r = process_token_response(
        &ok(json!({"access_token":"at","token_type":"bearer","expires_in":3599,"scope":"b a","refresh_token_expires_in":604800})),
        rt().expose(),
        0,
    )
    .unwrap();
    assert_eq!(r.access_token.expose(), "at");
    assert_eq!(r.expires_in_secs, Some(3599));
    assert_eq!(r.refresh_token, None);
    assert_eq!(r.refresh_token_expires_in_secs, Some(604800));

    let cases = [
        (json!({"token_type":"Bearer"}), "access_token is missing"),
        (
            json!({"access_token":"","token_type":"Bearer"}),
            "access_token is missing",
        ),
        (
            json!({"access_token":7,"token_type":"Bearer"}),
            "access_token must be a string",
        ),
        (json!({"access_token":"a"}), "token_type is missing"),
        (
            json!({"access_token":"a","token_type":"mac"}),
            "token_type is not Bearer",
        ),
        (
            json!({"access_token":"a","token_type":"Bearer","expires_in":"3600"}),
            "expires_in must be a number",
        ),
        (
            json!({"access_token":"a","token_type":"Bearer","expires_in":-1}),
            "expires_in must be a non-negative number",
        ),
        (
            json!({"access_token":"a","token_type":"Bearer","expires_in":-0.5}),
            "expires_in must be a non-negative number",
        ),
        (
            json!({"access_token":"a","token_type":"Bearer","refresh_token":5}),
            "refresh_token must be a string",
        ),
        (
            json!({"access_token":"a","token_type":"Bearer","scope":["x"]}),
            "scope must be a string",
        ),
    ];
    for (body, want) in cases {
        let e = process_token_response(&ok(body.clone()), rt().expose(), 0).unwrap_err();
        assert_eq!(e.code, Code::BadProviderResponse, "{body}");
        assert!(e.message.ends_with(want), "{body}: {}", e.message);
    }
    // An empty refresh_token is none: the stored one is kept, the refresh stands.
    let r = process_token_response(
        &ok(json!({"access_token":"a","token_type":"Bearer","refresh_token":""})),
        rt().expose(),
        0,
    )
    .unwrap();
    assert_eq!(r.refresh_token, None);
    for body in ["<html>502</html>", "{not json", "[]", ""] {
        let e =
            process_token_response(&HttpResponse::new(200, body), rt().expose(), 0).unwrap_err();
        assert_eq!(e.code, Code::BadProviderResponse);
    }
}

#[test]
fn error_bodies_are_classified() {
    let cases = [
        (
            400,
            json!({"error":"invalid_grant","error_description":"Token has been expired or revoked."}),
            Code::ReauthRequired,
        ),
        (401, json!({"error":"invalid_client"}), Code::InvalidClient),
        (
            400,
            json!({"error":"unsupported_grant_type"}),
            Code::ProviderRejected,
        ),
        (400, json!({"error":"invalid_scope"}), Code::ReauthRequired),
        (
            200,
            json!({"error":"bad_refresh_token","error_description":"The refresh token passed is incorrect or expired."}),
            Code::ReauthRequired,
        ),
        (
            200,
            json!({"error":"incorrect_client_credentials"}),
            Code::InvalidClient,
        ),
        (400, json!({"error":"slow_down"}), Code::RateLimited),
    ];
    for (status, body, code) in cases {
        let e = process_token_response(&HttpResponse::json(status, &body), rt().expose(), 0)
            .unwrap_err();
        assert_eq!(e.code, code, "{body}");
        assert_eq!(e.status, Some(status));
    }
    let e = process_token_response(
        &HttpResponse::json(400, &json!({"error":"invalid_grant","error_description":"Token has been expired or revoked."})),
        rt().expose(),
        0,
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "the provider answered invalid_grant: Token has been expired or revoked."
    );
}

#[test]
fn rate_limits_say_how_long_in_each_providers_words() {
    let now = 1_700_000_000_000;
    let wait = |r: HttpResponse| {
        let e = process_token_response(&r, rt().expose(), now).unwrap_err();
        (e.code, e.retry_after_secs)
    };
    // Discord: fractional seconds, and its bucket's reset beside them.
    let discord = HttpResponse::new(429, "").with_header("X-RateLimit-Reset-After", "4.2");
    assert_eq!(wait(discord), (Code::RateLimited, Some(5)));
    assert_eq!(
        wait(HttpResponse::new(429, "").with_header("Retry-After", "1.5")),
        (Code::RateLimited, Some(2))
    );
    // GitHub's primary limit: 403, none remaining, the reset as epoch seconds.
    let github = HttpResponse::json(403, &json!({"message":"API rate limit exceeded"}))
        .with_header("x-ratelimit-remaining", "0")
        .with_header("x-ratelimit-reset", "1700000120");
    assert_eq!(wait(github), (Code::RateLimited, Some(120)));
    // Reset headers on an answer that is no rate limit say nothing.
    let dead = HttpResponse::json(400, &json!({"error":"invalid_grant"}))
        .with_header("x-ratelimit-remaining", "9")
        .with_header("X-RateLimit-Reset-After", "60");
    assert_eq!(wait(dead), (Code::ReauthRequired, None));
}

#[test]
fn status_classes() {
    let e = process_token_response(
        &HttpResponse::new(429, "").with_header("Retry-After", "17"),
        rt().expose(),
        0,
    )
    .unwrap_err();
    assert_eq!((e.code, e.retry_after_secs), (Code::RateLimited, Some(17)));
    let e = process_token_response(
        &HttpResponse::new(503, "<html>down</html>").with_header("retry-after", "2"),
        rt().expose(),
        0,
    )
    .unwrap_err();
    assert_eq!(
        (e.code, e.retry_after_secs, e.status),
        (Code::ProviderUnavailable, Some(2), Some(503))
    );
    let e = process_token_response(&HttpResponse::new(401, ""), rt().expose(), 0).unwrap_err();
    assert_eq!(e.code, Code::InvalidClient);
    let e = process_token_response(&HttpResponse::new(404, "nope"), rt().expose(), 0).unwrap_err();
    assert_eq!(e.code, Code::ProviderRejected);
}

#[test]
fn error_messages_never_echo_the_refresh_token() {
    let sent = RefreshToken::new("1//secret-refresh-token");
    let body =
        json!({"error":"invalid_grant","error_description":"bad token 1//secret-refresh-token"});
    let e = process_token_response(&HttpResponse::json(400, &body), sent.expose(), 0).unwrap_err();
    assert!(!e.message.contains("secret-refresh"), "{}", e.message);
    assert_eq!(e.code, Code::ReauthRequired);
}

fn old() -> TokenSet {
    TokenSet {
        access_token: AccessToken::new("old-at"),
        refresh_token: Some(RefreshToken::new("old-rt")),
        expires_at_ms: Some(1_000),
        scope: Some("a b".into()),
        refresh_token_expires_at_ms: Some(99_000),
    }
}

fn resp(refresh: Option<&str>, scope: Option<&str>) -> TokenResponse {
    TokenResponse {
        access_token: AccessToken::new("new-at"),
        token_type: "Bearer".into(),
        expires_in_secs: Some(3600),
        refresh_token: refresh.map(RefreshToken::new),
        scope: scope.map(str::to_string),
        refresh_token_expires_in_secs: None,
    }
}

#[test]
fn keeps_old_refresh_token_when_none_returned() {
    let a = apply_response(
        &old(),
        resp(None, None),
        &provider("google", "body"),
        10_000,
    );
    assert!(!a.rotated);
    assert_eq!(a.tokens.refresh_token, Some(RefreshToken::new("old-rt")));
    assert_eq!(a.tokens.expires_at_ms, Some(10_000 + 3_600_000));
    assert_eq!(a.tokens.scope.as_deref(), Some("a b"));
    assert_eq!(a.tokens.refresh_token_expires_at_ms, Some(99_000));
}

#[test]
fn an_empty_scope_says_nothing() {
    // GitHub Apps' user tokens come back with `scope=` (they carry
    // permissions, not scopes): the stored scope stays, nothing is removed.
    for empty in ["", " "] {
        let body =
            json!({"access_token":"at","token_type":"bearer","expires_in":28800,"scope":empty});
        let r = process_token_response(&ok(body), rt().expose(), 0).unwrap();
        assert_eq!(r.scope, None);
        let a = apply_response(&old(), r, &provider("github-app", "body"), 10_000);
        assert_eq!(a.tokens.scope.as_deref(), Some("a b"));
        assert!(a.scopes_removed.is_empty(), "{:?}", a.scopes_removed);
    }
}

#[test]
fn a_lifetime_of_forever_is_capped_not_wrapped() {
    // "Never" as the largest number a server can write: 100 years, not a
    // wrapped negative time (always expired) or one Postgres cannot store.
    let now = 1_795_000_000_000;
    let hundred_years = 100 * 365 * 86_400_000;
    for huge in [u64::MAX, i64::MAX as u64, 1 << 60] {
        let r = TokenResponse {
            expires_in_secs: Some(huge),
            refresh_token_expires_in_secs: Some(huge),
            ..resp(Some("new-rt"), None)
        };
        let a = apply_response(&old(), r, &provider("google", "body"), now);
        assert_eq!(a.tokens.expires_at_ms, Some(now + hundred_years), "{huge}");
        assert_eq!(
            a.tokens.refresh_token_expires_at_ms,
            Some(now + hundred_years)
        );
    }
}

#[test]
fn an_expires_in_of_zero_counts_as_missing() {
    let now = 1_795_000_000_000;
    let zero = TokenResponse {
        expires_in_secs: Some(0),
        ..resp(Some("new-rt"), None)
    };
    let a = apply_response(&old(), zero, &provider("google", "body"), now);
    assert_eq!(
        a.tokens.expires_at_ms,
        Some(now + 3_599_000),
        "Google's hour"
    );
}

#[test]
fn stores_rotated_refresh_token_and_scope_changes() {
    let a = apply_response(
        &old(),
        resp(Some("new-rt"), Some("c b")),
        &provider("discord", "basic"),
        0,
    );
    assert!(a.rotated);
    assert_eq!(a.tokens.refresh_token, Some(RefreshToken::new("new-rt")));
    assert_eq!(a.tokens.scope.as_deref(), Some("b c"));
    assert_eq!(a.scopes_added, vec!["c"]);
    assert_eq!(a.scopes_removed, vec!["a"]);
    assert_eq!(a.tokens.refresh_token_expires_at_ms, None);
    let same = apply_response(
        &old(),
        resp(Some("old-rt"), None),
        &provider("google", "body"),
        0,
    );
    assert!(!same.rotated);
}

#[test]
fn github_tokens_expire_only_when_github_says_so() {
    // An OAuth App without expiring tokens answers no expires_in: never expires.
    let no_expiry = TokenResponse {
        expires_in_secs: None,
        ..resp(None, Some("repo,user"))
    };
    let gh = provider("github", "body");
    let a = apply_response(&old(), no_expiry, &gh, 0);
    assert_eq!(a.tokens.expires_at_ms, None);
    assert_eq!(a.tokens.scope.as_deref(), Some("repo user"));
    // Expiring user tokens: 8 h, and a refresh token good for ~6 months.
    let expiring = TokenResponse {
        expires_in_secs: Some(28_800),
        refresh_token_expires_in_secs: Some(15_897_600),
        ..resp(Some("ghr_new"), Some(""))
    };
    let a = apply_response(&old(), expiring, &gh, 1_000);
    assert_eq!(a.tokens.expires_at_ms, Some(1_000 + 28_800_000));
    assert_eq!(
        a.tokens.refresh_token_expires_at_ms,
        Some(1_000 + 15_897_600_000)
    );
    assert!(a.rotated);
}

/// Answers real servers give that are not the providers' usual ones.
#[test]
fn client_authentication_failures_are_never_dead_grants() {
    // Spring Security OAuth without the client credentials it wants, and a
    // gateway's 401: configuration errors shared by every user (the refresh
    // token of each would otherwise be erased).
    for body in [
        json!({"error":"unauthorized","error_description":"Full authentication is required to access this resource"}),
        json!({"error":"invalid_token"}),
        json!({"error":"access_denied"}),
        // A word of the server's own (RFC 6749 §5.2 names 401 for the client).
        json!({"error":"client_disabled"}),
        json!({"error":"invalid_request","error_description":"client authentication required"}),
    ] {
        let e =
            process_token_response(&HttpResponse::json(401, &body), rt().expose(), 0).unwrap_err();
        assert_eq!(e.code, Code::InvalidClient, "{body}");
    }
    // A grant the server names dead is dead, whatever the status.
    let e = process_token_response(
        &HttpResponse::json(401, &json!({"error":"invalid_grant"})),
        rt().expose(),
        0,
    )
    .unwrap_err();
    assert_eq!(e.code, Code::ReauthRequired);
    // GitHub's primary rate limit: 403, x-ratelimit-remaining 0, no Retry-After.
    let limited = HttpResponse::json(403, &json!({"message":"API rate limit exceeded"}))
        .with_header("x-ratelimit-remaining", "0");
    let e = process_token_response(&limited, rt().expose(), 0).unwrap_err();
    assert_eq!(e.code, Code::RateLimited);
    // A Request Timeout decided nothing: retryable, not a rejection.
    let e = process_token_response(&HttpResponse::new(408, ""), rt().expose(), 0).unwrap_err();
    assert_eq!(e.code, Code::ProviderUnavailable);
}

#[test]
fn an_empty_error_beside_a_success_is_none_and_huge_lifetimes_are_capped() {
    for error in [json!(""), json!(null)] {
        let body =
            json!({"access_token":"a","token_type":"Bearer","refresh_token":"new","error": error});
        let t = process_token_response(&HttpResponse::json(200, &body), rt().expose(), 0).unwrap();
        assert_eq!(t.refresh_token.unwrap().expose(), "new", "{body}");
    }
    // Refused for another reason, the rotated token is still kept.
    let refused = HttpResponse::json(
        200,
        &json!({"access_token":"a","token_type":"mac","refresh_token":"new","error":""}),
    );
    assert!(process_token_response(&refused, rt().expose(), 0).is_err());
    assert_eq!(refresh_token_in_refused(&refused).unwrap().expose(), "new");
    // "Never expires" as a number past i64: the longest lifetime, not a refusal.
    let body = r#"{"access_token":"a","token_type":"Bearer","expires_in":18446744073709551615,"refresh_token_expires_in":1e20}"#;
    let t = process_token_response(&HttpResponse::new(200, body), rt().expose(), 0).unwrap();
    assert_eq!(t.expires_in_secs, Some(u64::MAX));
    assert_eq!(t.refresh_token_expires_in_secs, Some(u64::MAX));
}

#[test]
fn a_description_that_hides_the_secret_between_control_characters_is_not_kept() {
    // rt() is "1//rt+/=": split by control characters, which the kept text drops.
    let body =
        json!({"error":"invalid_request","error_description":"bad token 1//r\u{1}t+/= given"});
    let e = process_token_response(&HttpResponse::json(400, &body), rt().expose(), 0).unwrap_err();
    assert!(!e.message.contains("1//rt+/="), "{}", e.message);
    // A long description costs a bounded check and is cut.
    let long = "x".repeat(2_000_000);
    let e = process_token_response(
        &HttpResponse::json(
            400,
            &json!({"error":"invalid_request","error_description": long}),
        ),
        rt().expose(),
        0,
    )
    .unwrap_err();
    assert!(e.message.len() < 300);
}
