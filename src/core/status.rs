//! Connection status, moved only by real outcomes: a stored grant, a
//! successful refresh, a classified failure, a disconnect.

use super::error::Code;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Tokens stored and the last refresh (if any) succeeded.
    Connected,
    /// The access token expired and refreshing it failed for a transient reason.
    TokenExpired,
    /// The grant is dead; only the user reconnecting fixes it.
    NeedsReauth,
    /// Refreshing keeps failing (exhausted) or the client is misconfigured.
    Error,
    /// The user disconnected; no tokens are kept.
    Disconnected,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Connected => "connected",
            Status::TokenExpired => "token_expired",
            Status::NeedsReauth => "needs_reauth",
            Status::Error => "error",
            Status::Disconnected => "disconnected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Status::Connected,
            Status::TokenExpired,
            Status::NeedsReauth,
            Status::Error,
            Status::Disconnected,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// The status after a failed refresh.
/// `access_still_valid`: the old access token has not expired yet.
/// `exhausted`: this failure reached the consecutive-failure limit.
pub fn after_failure(code: Code, access_still_valid: bool, exhausted: bool) -> Status {
    match code {
        Code::ReauthRequired => Status::NeedsReauth,
        Code::InvalidClient
        | Code::ProviderRejected
        | Code::CryptoIntegrity
        | Code::CryptoMalformed
        | Code::CryptoUnknownKey
        | Code::CryptoUnbound
        | Code::Config => Status::Error,
        _ if exhausted => Status::Error,
        _ if access_still_valid => Status::Connected,
        _ => Status::TokenExpired,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions() {
        assert_eq!(
            after_failure(Code::ReauthRequired, true, false),
            Status::NeedsReauth
        );
        assert_eq!(
            after_failure(Code::InvalidClient, true, false),
            Status::Error
        );
        assert_eq!(
            after_failure(Code::ProviderUnavailable, true, false),
            Status::Connected
        );
        assert_eq!(
            after_failure(Code::ProviderUnavailable, false, false),
            Status::TokenExpired
        );
        assert_eq!(after_failure(Code::Network, false, true), Status::Error);
        assert_eq!(after_failure(Code::RateLimited, true, true), Status::Error);
        for s in [
            "connected",
            "token_expired",
            "needs_reauth",
            "error",
            "disconnected",
        ] {
            assert_eq!(Status::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(Status::parse("expired"), None);
    }
}
