//! One error type for the whole crate, with stable string codes shared with
//! JavaScript (`err.code`). Callers branch on the code, never on the message.
//! Messages never contain token, secret or key bytes.

use std::fmt;

/// Stable error codes. The string form is the public contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    /// No connection stored for this user and provider.
    NotConnected,
    /// The grant is dead (`invalid_grant`, revoked, expired refresh token): the user must reconnect.
    ReauthRequired,
    /// The grant lacks a scope the call needs (RFC 6750 §3.1 `insufficient_scope`, Google's
    /// `insufficientPermissions`): the user must consent to it by reconnecting.
    InsufficientScope,
    /// A connect's `state` or ticket is unknown, used or expired: start again.
    ConnectStateInvalid,
    /// The user declined at the provider's consent page (`access_denied`, RFC 6749 §4.1.2.1).
    ConsentDenied,
    /// The provider rejected our client credentials (`invalid_client`, `unauthorized_client`).
    InvalidClient,
    /// The provider returned another RFC 6749 §5.2 error (`invalid_request`, `unsupported_grant_type`, ...).
    ProviderRejected,
    /// HTTP 429 or a provider "slow down" answer; `retry_after` says when to come back.
    RateLimited,
    /// HTTP 5xx from the provider.
    ProviderUnavailable,
    /// The request never got an HTTP answer (DNS, refused, reset).
    Network,
    /// The provider did not answer within the timeout.
    Timeout,
    /// The provider answered with something that is not a valid token response.
    BadProviderResponse,
    /// A refresh failed recently; no provider call until the cooldown ends.
    Cooldown,
    /// Another instance holds the refresh lease and did not finish in time.
    LeaseTimeout,
    /// Malformed sealed value.
    CryptoMalformed,
    /// Sealed with a key id that is not in the keyring.
    CryptoUnknownKey,
    /// Authentication failed: tampered, moved to another row/field, or wrong key.
    CryptoIntegrity,
    /// A format not bound to its row (legacy `iv:authTag:ciphertext`): refused on the
    /// read path; the operator's legacy import reseals it bound.
    CryptoUnbound,
    /// The store failed.
    Storage,
    /// The provider rotated the refresh token and it could not be saved.
    RotationNotSaved,
    /// The database is missing columns or tables.
    SchemaMismatch,
    /// The caller is not authenticated.
    Unauthorized,
    /// The caller could not be verified now (the JWKS is unreachable): try again.
    AuthUnavailable,
    /// The caller's origin is not allowed (CORS allowlist), or a connect's ticket is another user's.
    Forbidden,
    /// The thing asked for (a calendar event) does not exist for this user.
    NotFound,
    /// The HTTP method is not supported by this endpoint.
    MethodNotAllowed,
    /// The caller sent an invalid request.
    BadRequest,
    /// The request body is larger than the endpoint accepts.
    PayloadTooLarge,
    /// An idempotency key (`requestId`) was reused with a different request.
    IdempotencyConflict,
    /// Invalid or missing configuration.
    Config,
    /// A bug: an invariant was broken.
    Internal,
}

impl Code {
    pub const ALL: [Code; 31] = [
        Code::NotConnected,
        Code::ReauthRequired,
        Code::InsufficientScope,
        Code::ConnectStateInvalid,
        Code::ConsentDenied,
        Code::InvalidClient,
        Code::ProviderRejected,
        Code::RateLimited,
        Code::ProviderUnavailable,
        Code::Network,
        Code::Timeout,
        Code::BadProviderResponse,
        Code::Cooldown,
        Code::LeaseTimeout,
        Code::CryptoMalformed,
        Code::CryptoUnknownKey,
        Code::CryptoIntegrity,
        Code::CryptoUnbound,
        Code::Storage,
        Code::RotationNotSaved,
        Code::SchemaMismatch,
        Code::Unauthorized,
        Code::AuthUnavailable,
        Code::Forbidden,
        Code::NotFound,
        Code::MethodNotAllowed,
        Code::BadRequest,
        Code::PayloadTooLarge,
        Code::IdempotencyConflict,
        Code::Config,
        Code::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::NotConnected => "NOT_CONNECTED",
            Code::ReauthRequired => "REAUTH_REQUIRED",
            Code::InsufficientScope => "INSUFFICIENT_SCOPE",
            Code::ConnectStateInvalid => "CONNECT_STATE_INVALID",
            Code::ConsentDenied => "CONSENT_DENIED",
            Code::InvalidClient => "INVALID_CLIENT",
            Code::ProviderRejected => "PROVIDER_REJECTED",
            Code::RateLimited => "RATE_LIMITED",
            Code::ProviderUnavailable => "PROVIDER_UNAVAILABLE",
            Code::Network => "NETWORK",
            Code::Timeout => "TIMEOUT",
            Code::BadProviderResponse => "BAD_PROVIDER_RESPONSE",
            Code::Cooldown => "COOLDOWN",
            Code::LeaseTimeout => "LEASE_TIMEOUT",
            Code::CryptoMalformed => "CRYPTO_MALFORMED",
            Code::CryptoUnknownKey => "CRYPTO_UNKNOWN_KEY",
            Code::CryptoIntegrity => "CRYPTO_INTEGRITY",
            Code::CryptoUnbound => "CRYPTO_UNBOUND",
            Code::Storage => "STORAGE",
            Code::RotationNotSaved => "ROTATION_NOT_SAVED",
            Code::SchemaMismatch => "SCHEMA_MISMATCH",
            Code::Unauthorized => "UNAUTHORIZED",
            Code::AuthUnavailable => "AUTH_UNAVAILABLE",
            Code::Forbidden => "FORBIDDEN",
            Code::NotFound => "NOT_FOUND",
            Code::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Code::BadRequest => "BAD_REQUEST",
            Code::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Code::IdempotencyConflict => "IDEMPOTENCY_CONFLICT",
            Code::Config => "CONFIG",
            Code::Internal => "INTERNAL",
        }
    }

    pub fn parse(s: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.as_str() == s)
    }

    /// Worth trying again later without user action.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            Code::RateLimited
                | Code::ProviderUnavailable
                | Code::Network
                | Code::Timeout
                | Code::Cooldown
                | Code::LeaseTimeout
                | Code::Storage
                | Code::AuthUnavailable
        )
    }

    /// Only the user reconnecting the account fixes it.
    pub fn requires_reauth(self) -> bool {
        matches!(self, Code::ReauthRequired | Code::InsufficientScope)
    }

    /// A sealed token could not be opened.
    pub fn is_crypto(self) -> bool {
        matches!(
            self,
            Code::CryptoMalformed
                | Code::CryptoUnknownKey
                | Code::CryptoIntegrity
                | Code::CryptoUnbound
        )
    }

    /// The HTTP status an edge function answers with for this code.
    pub fn http_status(self) -> u16 {
        match self {
            Code::NotConnected => 404,
            Code::ReauthRequired => 401,
            Code::Unauthorized => 401,
            Code::Forbidden | Code::InsufficientScope | Code::ConsentDenied => 403,
            Code::PayloadTooLarge => 413,
            Code::IdempotencyConflict => 409,
            Code::NotFound => 404,
            Code::MethodNotAllowed => 405,
            Code::BadRequest | Code::ConnectStateInvalid => 400,
            Code::RateLimited | Code::Cooldown => 429,
            Code::ProviderUnavailable
            | Code::Network
            | Code::LeaseTimeout
            | Code::Storage
            | Code::AuthUnavailable => 503,
            Code::Timeout => 504,
            Code::InvalidClient
            | Code::ProviderRejected
            | Code::BadProviderResponse
            | Code::RotationNotSaved => 502,
            Code::CryptoMalformed
            | Code::CryptoUnknownKey
            | Code::CryptoIntegrity
            | Code::CryptoUnbound
            | Code::SchemaMismatch
            | Code::Config
            | Code::Internal => 500,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The crate's error: a code, a human message (never secret bytes), the
/// provider's HTTP status when there was one, and Retry-After in seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub code: Code,
    pub message: String,
    pub status: Option<u16>,
    pub retry_after_secs: Option<u64>,
    /// The provider's own Retry-After, when it sent one: what says the
    /// provider is busy, apart from this grant's cooldown (`retry_after_secs`
    /// says when this instance tries this grant again).
    pub provider_retry_after_secs: Option<u64>,
}

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            status: None,
            retry_after_secs: None,
            provider_retry_after_secs: None,
        }
    }
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }
    pub fn with_retry_after(mut self, secs: Option<u64>) -> Self {
        self.retry_after_secs = secs;
        self
    }
    pub fn retryable(&self) -> bool {
        self.code.retryable()
    }
    pub fn requires_reauth(&self) -> bool {
        self.code.requires_reauth()
    }
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(Code::Config, message)
    }
    pub fn storage(message: impl Into<String>) -> Self {
        Self::new(Code::Storage, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in Code::ALL {
            assert!(seen.insert(c.as_str()), "duplicate {c}");
            assert_eq!(Code::parse(c.as_str()), Some(c));
            assert!(c
                .as_str()
                .chars()
                .all(|ch| ch.is_ascii_uppercase() || ch == '_'));
        }
        assert_eq!(Code::parse("nope"), None);
    }

    #[test]
    fn only_dead_grants_and_missing_scopes_require_reauth_and_are_not_retryable() {
        for c in Code::ALL {
            assert_eq!(
                c.requires_reauth(),
                matches!(c, Code::ReauthRequired | Code::InsufficientScope)
            );
            if c.requires_reauth() {
                assert!(!c.retryable());
            }
        }
        assert!(Code::RateLimited.retryable());
        assert!(!Code::InvalidClient.retryable());
        assert!(!Code::BadProviderResponse.retryable());
    }

    #[test]
    fn statuses_are_errors() {
        for c in Code::ALL {
            assert!((400..600).contains(&c.http_status()), "{c}");
        }
    }
}

#[cfg(test)]
mod readme {
    use super::Code;

    /// The TypeScript `ErrorCode` union is the same list.
    #[test]
    fn the_typescript_union_lists_every_code() {
        let ts = include_str!("../wasm/common.rs");
        let start = ts.find("export type ErrorCode =").expect("ErrorCode union");
        let end = start + ts[start..].find(';').unwrap();
        let union = &ts[start..end];
        let listed = union.matches('"').count() / 2;
        for c in Code::ALL {
            assert!(
                union.contains(&format!("\"{}\"", c.as_str())),
                "{c} missing from ErrorCode"
            );
        }
        assert_eq!(
            listed,
            Code::ALL.len(),
            "ErrorCode lists codes that do not exist"
        );
    }

    /// The README's error table is the public contract: it must list every
    /// code with its HTTP status, retryability and re-auth flag.
    #[test]
    fn readme_table_matches_the_codes() {
        let readme = include_str!("../../README.md");
        // Rows as cells, whatever the column padding.
        let rows: Vec<Vec<&str>> = readme
            .lines()
            .filter(|l| l.starts_with("| `"))
            .map(|l| l.split('|').map(str::trim).collect())
            .collect();
        for c in Code::ALL {
            let yn = |b: bool| if b { "yes" } else { "no" };
            let name = format!("`{}`", c.as_str());
            let row = rows
                .iter()
                .find(|r| r.get(1) == Some(&name.as_str()))
                .unwrap_or_else(|| panic!("README.md has no error-table row for {name}"));
            let status = c.http_status().to_string();
            assert_eq!(
                &row[2..5],
                &[status.as_str(), yn(c.retryable()), yn(c.requires_reauth())],
                "README.md row for {name}"
            );
        }
    }
}
