//! What the browser client reads: connection ids and the functions that
//! serve them, the session JWT's user, and the token functions' answers
//! (a token, or the error they mean).

use super::*;

/// The connection the Google-only functions serve (`refresh-google-token`,
/// the Meet functions); the marker header names no connection for it.
pub const DEFAULT_CONNECTION: &str = "google";
/// The response header naming the connection a marker belongs to.
pub const CONNECTION_HEADER: &str = "X-Token-Connection";

/// A connection id as the functions accept it.
pub fn check_connection(conn: &str) -> Result<()> {
    let ok = !conn.is_empty()
        && conn.len() <= 64
        && conn
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            Code::BadRequest,
            "provider: must be 1-64 letters, digits, '-' or '_'",
        ))
    }
}

/// The function that hands out `conn`'s access tokens: Google's own for the
/// default connection, the routed `connections` function for the others.
pub fn token_path(conn: &str) -> String {
    if conn == DEFAULT_CONNECTION {
        "refresh-google-token".to_string()
    } else {
        cat(&["connections/", conn, "/token"])
    }
}

/// The `sub` of a JWT, read without verifying it (the server verifies). Only
/// to key the cache: a token is never trusted on this basis.
pub fn jwt_subject(jwt: &str) -> Result<String> {
    let bad = || {
        Error::new(
            Code::Unauthorized,
            "the session token is not a JWT with a subject",
        )
    };
    let payload = jwt.split('.').nth(1).ok_or_else(bad)?;
    let bytes =
        crate::core::b64::decode(payload.trim_end_matches('='), true, false).ok_or_else(bad)?;
    let v = json::parse_bytes(&bytes).map_err(|_| bad())?;
    v.get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= 255)
        .map(str::to_string)
        .ok_or_else(bad)
}

/// Parses the edge function's JSON error body into the shared error type.
pub fn error_from_body(status: u16, body: &str) -> Error {
    let parsed = json::parse(body).ok();
    let code = parsed
        .as_ref()
        .and_then(|v| v.get("code"))
        .and_then(Value::as_str)
        .and_then(Code::parse);
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("error"))
        .and_then(Value::as_str)
        .map(|m| m.chars().take(300).collect::<String>());
    let retry_after = parsed
        .as_ref()
        .and_then(|v| v.get("retryAfter"))
        .and_then(Value::as_u64);
    let code = code.unwrap_or(match status {
        401 => Code::Unauthorized,
        403 => Code::Forbidden,
        404 => Code::NotFound,
        429 => Code::RateLimited,
        400..=499 => Code::BadRequest,
        _ => Code::ProviderUnavailable,
    });
    Error::new(
        code,
        message.unwrap_or_else(|| {
            cat(&[
                "the edge function answered HTTP ",
                &decimal(i64::from(status)),
            ])
        }),
    )
    .with_status(status)
    .with_retry_after(retry_after)
}

/// Parses a token function's answer (`refresh-google-token`,
/// `connections/<id>/token`) to a request sent at `sent_ms` (this device's
/// clock).
pub fn token_from_body(body: &str, sent_ms: i64) -> Result<CachedToken> {
    let bad = |what: &str| {
        Error::new(
            Code::BadProviderResponse,
            cat(&["the token function's answer: ", what]),
        )
    };
    let v = json::parse(body).map_err(|_| bad("not JSON"))?;
    let f = Fields::new(&v, "the token function's answer", Code::BadProviderResponse)?;
    let access = f.str("accessToken")?;
    let refreshed = match f.opt_str("tokenRefreshedAt")? {
        Some(m) => Some(marker::parse(&m).ok_or_else(|| bad("tokenRefreshedAt is not RFC 3339"))?),
        None => None,
    };
    let expires_at = f.opt_i64("expiresAt")?;
    // Seconds left when the server answered, which is after the request was
    // sent: counted from the sending, the expiry is never later than the
    // provider's, whatever either clock says.
    // (Clamped to a year: past that it makes no difference.)
    let expires_in = f.opt_i64("expiresIn")?;
    Ok(CachedToken {
        access_token: AccessToken::new(access),
        expires_at_ms: match expires_in {
            Some(s) => Some(sent_ms + s.clamp(0, 31_536_000) * 1000),
            None => expires_at,
        },
        lifetime_ms: match (expires_at, refreshed) {
            (Some(e), Some(r)) if e > r => Some(e.saturating_sub(r)),
            _ => None,
        },
        refreshed_at_ms: refreshed,
        scope: f.opt_str("scope")?,
    })
}
