//! The refresh grant: build the request (RFC 6749 §6 with client
//! authentication per §2.3.1) and process the response strictly (§5.1, §5.2).

use super::json::{self, Map, Value};

use super::error::{Code, Error, Result};
use super::http::{form_body, form_urlencode, HttpRequest, HttpResponse};
use super::policy::{ms_to_secs_ceil, parse_retry_after_ms};
use super::provider::{ClientAuth, Provider};
use super::secret::{AccessToken, RefreshToken};
use super::token::{after_secs, normalize_scope, scope_diff, TokenSet};

/// Builds the refresh request (RFC 6749 §6). The body and Authorization header carry secrets.
pub fn refresh_request(provider: &Provider, refresh_token: &RefreshToken) -> HttpRequest {
    token_request(
        provider,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ],
    )
}

/// A token endpoint request with the client authenticated as the provider
/// wants (RFC 6749 §2.3.1): HTTP Basic, in the body, or a public client.
pub fn token_request(provider: &Provider, params: &[(&str, &str)]) -> HttpRequest {
    client_form(provider, &provider.spec.token_url, params)
}

/// A form POST to `url` with the client authenticated as at the token
/// endpoint (also RFC 7009 §2.1 revocation requests).
pub fn client_form(provider: &Provider, url: &str, params: &[(&str, &str)]) -> HttpRequest {
    let mut headers = vec![
        (
            "content-type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        ),
        // GitHub answers form-encoded unless asked for JSON.
        ("accept".to_string(), "application/json".to_string()),
    ];
    let mut pairs: Vec<(&str, &str)> = params.to_vec();
    let secret = provider
        .client_secret
        .as_ref()
        .map(|s| s.expose())
        .unwrap_or("");
    match provider.spec.client_auth {
        ClientAuth::Basic => headers.push(("authorization".to_string(), basic_auth(provider))),
        ClientAuth::Body => {
            pairs.push(("client_id", &provider.client_id));
            pairs.push(("client_secret", secret));
        }
        ClientAuth::None => pairs.push(("client_id", &provider.client_id)),
    }
    HttpRequest {
        method: "POST",
        url: url.to_string(),
        headers,
        body: form_body(&pairs),
    }
}

/// `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
pub fn basic_auth(provider: &Provider) -> String {
    let secret = provider
        .client_secret
        .as_ref()
        .map(|s| s.expose())
        .unwrap_or("");
    let raw = format!(
        "{}:{}",
        form_urlencode(&provider.client_id),
        form_urlencode(secret)
    );
    format!("Basic {}", super::b64::encode(raw.as_bytes(), false, true))
}

/// A successful token response (RFC 6749 §5.1), fields checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenResponse {
    pub access_token: AccessToken,
    pub token_type: String,
    pub expires_in_secs: Option<u64>,
    pub refresh_token: Option<RefreshToken>,
    pub scope: Option<String>,
    pub refresh_token_expires_in_secs: Option<u64>,
}

/// Maps an RFC 6749 §5.2 `error` value (plus GitHub's and common
/// non-standard ones) to a code.
pub fn classify_oauth_error(error: &str) -> Code {
    match error {
        "invalid_grant"
        | "bad_refresh_token"
        // GitHub's for a code that is wrong, expired or used (a connect's exchange).
        | "bad_verification_code"
        | "invalid_token"
        | "expired_token"
        | "access_denied"
        | "consent_required"
        | "interaction_required"
        | "login_required"
        | "invalid_scope" => Code::ReauthRequired,
        // "unauthorized": Spring Security OAuth's answer to missing or wrong
        // client credentials (401), a configuration error shared by every user.
        "invalid_client" | "unauthorized_client" | "incorrect_client_credentials"
        | "unauthorized" => Code::InvalidClient,
        "slow_down" | "rate_limited" => Code::RateLimited,
        "temporarily_unavailable" | "server_error" => Code::ProviderUnavailable,
        _ => Code::ProviderRejected,
    }
}

/// Keeps a provider's `error_description` only if it is short, printable and
/// does not echo the secret we sent: whole, URL-encoded, or any 12 of its
/// characters in a row, in any case.
fn safe_description(v: Option<&Value>, sent: &str) -> Option<String> {
    // Cleaned and cut first: the text kept is the text checked (a secret split
    // by control characters would join again once they are dropped), and the
    // check's cost stays bounded whatever the provider sends.
    let clean: String = v?
        .as_str()?
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    if clean.is_empty() || echoes(&clean, sent) {
        return None;
    }
    Some(clean)
}

/// `text` holds `secret`, its URL encoding, or a 12-byte run of it (ASCII case ignored).
fn echoes(text: &str, secret: &str) -> bool {
    const RUN: usize = 12;
    if secret.len() < 4 {
        return false;
    }
    let lower = |s: &str| s.to_ascii_lowercase();
    let (t, s) = (lower(text), lower(secret));
    let encoded = lower(&super::http::form_urlencode(secret));
    if super::text::contains(&t, &s) || super::text::contains(&t, &encoded) {
        return true;
    }
    s.len() >= RUN
        && s.as_bytes()
            .windows(RUN)
            .any(|w| t.as_bytes().windows(RUN).any(|x| x == w))
}

/// How long the provider asks to wait: `Retry-After`, else, on a rate
/// limit's answer (429, or no requests remaining), Discord's bucket reset
/// (`X-RateLimit-Reset-After`, seconds) or GitHub's primary limit's
/// (`x-ratelimit-reset`, epoch seconds: "do not retry until after" it).
pub(crate) fn rate_limit_wait_ms(resp: &HttpResponse, now_ms: i64) -> Option<i64> {
    let header = |name| resp.header(name).map(str::trim);
    if let Some(ms) = header("retry-after").and_then(|v| parse_retry_after_ms(v, now_ms)) {
        return Some(ms);
    }
    if resp.status != 429 && header("x-ratelimit-remaining") != Some("0") {
        return None;
    }
    if let Some(ms) = header("x-ratelimit-reset-after").and_then(|v| parse_retry_after_ms(v, 0)) {
        return Some(ms);
    }
    let at_secs = header("x-ratelimit-reset")?.parse::<i64>().ok()?;
    Some(at_secs.saturating_mul(1000).saturating_sub(now_ms).max(0))
}

fn oauth_error(obj: &Map, status: u16, sent: &str, retry_after: Option<u64>) -> Option<Error> {
    // An empty `error` beside a success is no error (a lenient server's null).
    let code_str = obj
        .get("error")?
        .as_str()
        .filter(|s| !s.trim().is_empty())?;
    let code = match classify_oauth_error(code_str) {
        // 401 is the client's authentication failing (RFC 6749 §5.2), for
        // every user alike: not a dead grant to erase, nor a request to
        // blame, whatever word the server (or a gateway before it) put in
        // `error`; a grant the server names dead is dead, and a rate limit
        // or an outage is what it says.
        Code::ReauthRequired | Code::ProviderRejected
            if status == 401 && !matches!(code_str, "invalid_grant" | "bad_refresh_token") =>
        {
            Code::InvalidClient
        }
        c => c,
    };
    let safe_code: String = code_str
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect();
    let mut message = format!("the provider answered {safe_code}");
    // A client-authentication failure's description may quote the client
    // secret, which is not at hand here: not kept.
    let described = if code == Code::InvalidClient {
        None
    } else {
        safe_description(obj.get("error_description"), sent)
    };
    if let Some(d) = described {
        message.push_str(": ");
        message.push_str(&d);
    }
    Some(
        Error::new(code, message)
            .with_status(status)
            .with_retry_after(retry_after),
    )
}

fn bad_response(status: u16, what: &str) -> Error {
    Error::new(
        Code::BadProviderResponse,
        format!("invalid token response: {what}"),
    )
    .with_status(status)
}

fn opt_u64(obj: &Map, key: &str, status: u16) -> Result<Option<u64>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            // `3599.5` is read as 3599 (a float from a lenient server).
            if let Some(u) = n
                .trunc_i64()
                .filter(|_| !n.is_negative())
                .and_then(|t| u64::try_from(t).ok())
            {
                Ok(Some(u))
            } else if !n.is_negative() {
                // Past i64 ("never expires" written as a huge number): the
                // longest lifetime, capped where it is used (token::after_secs).
                Ok(Some(u64::MAX))
            } else {
                Err(bad_response(
                    status,
                    &format!("{key} must be a non-negative number"),
                ))
            }
        }
        Some(_) => Err(bad_response(status, &format!("{key} must be a number"))),
    }
}

fn opt_str<'a>(obj: &'a Map, key: &str, status: u16) -> Result<Option<&'a str>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(bad_response(status, &format!("{key} must be a string"))),
    }
}

/// Processes a token endpoint response (refresh or code exchange). `sent` is
/// the secret that was sent (refresh token, or code), used only to keep it out
/// of error messages.
pub fn process_token_response(
    resp: &HttpResponse,
    sent: &str,
    now_ms: i64,
) -> Result<TokenResponse> {
    let status = resp.status;
    let retry_after = rate_limit_wait_ms(resp, now_ms).map(ms_to_secs_ceil);
    let parsed: Option<Map> = match json::parse(&resp.body) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    };

    if status == 429 {
        return Err(Error::new(
            Code::RateLimited,
            "the provider is rate limiting token requests",
        )
        .with_status(status)
        .with_retry_after(retry_after));
    }
    if status >= 500 {
        return Err(Error::new(
            Code::ProviderUnavailable,
            format!("the provider answered HTTP {status}"),
        )
        .with_status(status)
        .with_retry_after(retry_after));
    }
    // §5.2 error bodies, and providers (GitHub) that send them with 200.
    if let Some(err) = parsed
        .as_ref()
        .and_then(|o| oauth_error(o, status, sent, retry_after))
    {
        return Err(err);
    }
    if !(200..300).contains(&status) {
        let code = match status {
            // GitHub's rate limits answer 403: the secondary ones with
            // Retry-After, the primary one with x-ratelimit-remaining 0.
            403 if retry_after.is_some()
                || resp.header("x-ratelimit-remaining").map(str::trim) == Some("0") =>
            {
                Code::RateLimited
            }
            401 | 403 => Code::InvalidClient,
            // Request Timeout: the server gave up waiting, nothing was decided.
            408 => Code::ProviderUnavailable,
            _ => Code::ProviderRejected,
        };
        return Err(Error::new(
            code,
            format!("the provider answered HTTP {status} without an OAuth error body"),
        )
        .with_status(status)
        .with_retry_after(retry_after.filter(|_| code != Code::ProviderRejected)));
    }
    let obj = parsed.ok_or_else(|| bad_response(status, "body is not a JSON object"))?;
    let access = opt_str(&obj, "access_token", status)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad_response(status, "access_token is missing"))?;
    let token_type = opt_str(&obj, "token_type", status)?
        .ok_or_else(|| bad_response(status, "token_type is missing"))?;
    if !token_type.eq_ignore_ascii_case("bearer") {
        return Err(bad_response(status, "token_type is not Bearer"));
    }
    // An empty refresh_token is no new token: the stored one stays (§6).
    let refresh = opt_str(&obj, "refresh_token", status)?.filter(|s| !s.is_empty());
    Ok(TokenResponse {
        access_token: AccessToken::new(access),
        token_type: "Bearer".to_string(),
        expires_in_secs: opt_u64(&obj, "expires_in", status)?,
        refresh_token: refresh.map(RefreshToken::new),
        // An empty scope says nothing (GitHub Apps send `scope=`): as omitted (§5.1).
        scope: opt_str(&obj, "scope", status)?
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string),
        refresh_token_expires_in_secs: opt_u64(&obj, "refresh_token_expires_in", status)?,
    })
}

/// The refresh token in a success answer that the strict checks refused
/// (`process_token_response` failed on it), when there is one: a server that
/// rotates has spent the token it was sent, so the new one must be kept even
/// though the answer is not used. Not for error answers (an `error` member).
pub fn refresh_token_in_refused(resp: &HttpResponse) -> Option<RefreshToken> {
    if !(200..300).contains(&resp.status) {
        return None;
    }
    let Ok(Value::Object(obj)) = json::parse(&resp.body) else {
        return None;
    };
    // An error answer spent nothing; an empty or null `error` is none.
    match obj.get("error") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.trim().is_empty() => {}
        Some(_) => return None,
    }
    match obj.get("refresh_token") {
        Some(Value::String(s)) if !s.is_empty() => Some(RefreshToken::new(s.as_str())),
        _ => None,
    }
}

/// The result of applying a refresh response to the stored token set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub tokens: TokenSet,
    /// The provider issued a new refresh token (the old one may now be dead).
    pub rotated: bool,
    pub scopes_added: Vec<String>,
    pub scopes_removed: Vec<String>,
}

/// Applies a token response: keeps the old refresh token when none is
/// returned (§6), stores a rotated one, keeps the old scope when omitted
/// (§5.1), and records scope changes.
pub fn apply_response(
    old: &TokenSet,
    resp: TokenResponse,
    provider: &Provider,
    now_ms: i64,
) -> Applied {
    let sep = provider.spec.scope_separator;
    // `expires_in: 0` is no lifetime to plan with: saved as expiring now, the
    // token would send every waiting caller to the provider again, one after
    // another. It counts as missing: the provider's documented lifetime.
    let expires_in = resp
        .expires_in_secs
        .filter(|&s| s > 0)
        .or(provider.spec.default_expires_in_secs);
    let expires_at_ms = if provider.spec.access_tokens_expire {
        expires_in.map(|s| after_secs(now_ms, s))
    } else {
        None
    };
    let rotated = matches!((&resp.refresh_token, &old.refresh_token), (Some(n), Some(o)) if n != o)
        || (resp.refresh_token.is_some() && old.refresh_token.is_none());
    let new_scope = resp.scope.as_deref().map(|s| normalize_scope(s, sep));
    let (scopes_added, scopes_removed) = match (&old.scope, &new_scope) {
        (Some(o), Some(n)) => scope_diff(o, n),
        _ => (Vec::new(), Vec::new()),
    };
    let refresh_token_expires_at_ms = match resp.refresh_token_expires_in_secs {
        Some(s) => Some(after_secs(now_ms, s)),
        None if rotated => None,
        None => old.refresh_token_expires_at_ms,
    };
    Applied {
        tokens: TokenSet {
            access_token: resp.access_token,
            refresh_token: resp.refresh_token.or_else(|| old.refresh_token.clone()),
            expires_at_ms,
            scope: new_scope.or_else(|| old.scope.clone()),
            refresh_token_expires_at_ms,
        },
        rotated,
        scopes_added,
        scopes_removed,
    }
}

#[cfg(test)]
mod tests;
