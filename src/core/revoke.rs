//! Disconnect: revoking the grant at the provider. RFC 7009 (Discord and
//! generic servers), Google's revoke endpoint, GitHub's "Delete an app
//! authorization". Providers without one (Spotify) are erased here only.

use super::error::{Code, Error};
use super::grant::{basic_auth, client_form};
use super::http::{form_body, form_urlencode, HttpRequest, HttpResponse};
use super::provider::{Provider, Revocation};
use super::text;
use super::token::TokenSet;

/// What happened at the provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// The provider confirmed (or the grant was already gone there).
    Revoked,
    /// The provider offers no revocation.
    NotSupported,
    /// There was no token to revoke (already erased, or unreadable).
    NothingToRevoke,
    /// The provider could not be asked or refused; the tokens are erased here anyway.
    Failed(Error),
}

impl RevokeOutcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            RevokeOutcome::Revoked => "revoked",
            RevokeOutcome::NotSupported => "not_supported",
            RevokeOutcome::NothingToRevoke => "nothing_to_revoke",
            RevokeOutcome::Failed(_) => "failed",
        }
    }
}

/// The request that revokes the grant. The refresh token is revoked where
/// there is one (RFC 7009 §2.1: that ends the grant and its access tokens).
pub fn revocation_request(p: &Provider, t: &TokenSet) -> Option<HttpRequest> {
    let (token, hint) = match &t.refresh_token {
        Some(r) => (r.expose(), "refresh_token"),
        None => (t.access_token.expose(), "access_token"),
    };
    match &p.spec.revocation {
        Revocation::None => None,
        Revocation::Rfc7009 { url } => Some(client_form(
            p,
            url,
            &[("token", token), ("token_type_hint", hint)],
        )),
        Revocation::Google { url } => Some(HttpRequest {
            method: "POST",
            url: url.clone(),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: form_body(&[("token", token)]),
        }),
        Revocation::GitHubGrant { url } => Some(HttpRequest {
            method: "DELETE",
            url: text::replace(url, "{client_id}", &form_urlencode(&p.client_id)),
            headers: vec![
                ("authorization".into(), basic_auth(p)),
                ("accept".into(), "application/vnd.github+json".into()),
                ("content-type".into(), "application/json".into()),
                ("x-github-api-version".into(), "2022-11-28".into()),
                ("user-agent".into(), "oauth-token-manager".into()),
            ],
            body: format!(
                "{{\"access_token\":{}}}",
                super::json::quote(t.access_token.expose())
            ),
        }),
    }
}

/// An answer that says "already gone" but that the provider also gives for
/// an app whose credentials it refused: GitHub's 404, which its grant
/// deletion answers both for a token it no longer knows and for a client id
/// or secret that is not the app's (its documented answers are 204 and 422).
/// The token itself tells them apart: a token that still works means the
/// grant stands.
pub fn ambiguous_gone(p: &Provider, resp: &HttpResponse) -> bool {
    matches!(p.spec.revocation, Revocation::GitHubGrant { .. }) && resp.status == 404
}

/// The outcome once the token was tried after an ambiguous "already gone"
/// (`ambiguous_gone`): only a token refused as unknown (401) shows the grant
/// is gone. One that still works (2xx) means the grant stands and the
/// deletion was refused; any other answer, or none, proves nothing.
pub fn confirm_gone(probe_status: Option<u16>) -> RevokeOutcome {
    match probe_status {
        Some(401) => RevokeOutcome::Revoked,
        Some(s) if (200..300).contains(&s) => RevokeOutcome::Failed(
            Error::new(
                Code::InvalidClient,
                "GitHub answered 404 to the grant deletion while the access token still works: the grant stands; check the app's client id and secret",
            )
            .with_status(404),
        ),
        _ => RevokeOutcome::Failed(
            Error::new(
                Code::ProviderUnavailable,
                "GitHub answered 404 to the grant deletion and the access token could not be checked: the grant may still stand",
            )
            .with_status(404),
        ),
    }
}

/// Reads the provider's answer to a revocation request.
pub fn revocation_outcome(p: &Provider, resp: &HttpResponse) -> RevokeOutcome {
    let s = resp.status;
    let already_gone = match &p.spec.revocation {
        // Google answers 400 invalid_token for a token that is already dead.
        Revocation::Google { .. } => s == 400 && text::contains(&resp.body, "invalid_token"),
        // GitHub: 404 when the authorization no longer exists.
        Revocation::GitHubGrant { .. } => s == 404,
        _ => false,
    };
    if (200..300).contains(&s) || already_gone {
        return RevokeOutcome::Revoked;
    }
    // RFC 7009 §2.2.1: the server does not revoke this kind of token (an
    // access token, where the grant has no refresh token): nothing failed
    // that trying again would fix.
    if matches!(p.spec.revocation, Revocation::Rfc7009 { .. })
        && s == 400
        && text::contains(&resp.body, "\"unsupported_token_type\"")
    {
        return RevokeOutcome::NotSupported;
    }
    let code = match s {
        429 => Code::RateLimited,
        // GitHub's secondary rate limits: 403 with Retry-After; its primary
        // limit: 403 with x-ratelimit-remaining 0, often without Retry-After
        // ("Rate limits for the REST API").
        403 if resp.header("retry-after").is_some()
            || resp.header("x-ratelimit-remaining") == Some("0") =>
        {
            Code::RateLimited
        }
        500..=599 => Code::ProviderUnavailable,
        401 | 403 => Code::InvalidClient,
        _ => Code::ProviderRejected,
    };
    RevokeOutcome::Failed(
        Error::new(
            code,
            format!("the provider answered HTTP {s} to the revocation"),
        )
        .with_status(s),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::provider::ProviderConfig;
    use crate::core::secret::{AccessToken, RefreshToken};

    fn p(id: &str) -> Provider {
        Provider::from_config(
            id,
            &ProviderConfig {
                client_id: Some("Iv1.abc".into()),
                client_secret: Some("sec".into()),
                ..Default::default()
            },
        )
        .unwrap()
    }

    fn tokens(refresh: Option<&str>) -> TokenSet {
        TokenSet {
            access_token: AccessToken::new("at-1"),
            refresh_token: refresh.map(RefreshToken::new),
            expires_at_ms: None,
            scope: None,
            refresh_token_expires_at_ms: None,
        }
    }

    #[test]
    fn each_provider_revokes_its_own_way() {
        let r = revocation_request(&p("google"), &tokens(Some("rt-1"))).unwrap();
        assert_eq!(
            (r.method, r.url.as_str()),
            ("POST", "https://oauth2.googleapis.com/revoke")
        );
        assert_eq!(r.body, "token=rt-1");
        assert_eq!(r.header("authorization"), None);
        // Discord: RFC 7009 with the hint, client authenticated (Basic).
        let r = revocation_request(&p("discord"), &tokens(Some("rt-1"))).unwrap();
        assert_eq!(r.url, "https://discord.com/api/oauth2/token/revoke");
        assert_eq!(r.body, "token=rt-1&token_type_hint=refresh_token");
        assert!(r.header("authorization").unwrap().starts_with("Basic "));
        let r = revocation_request(&p("discord"), &tokens(None)).unwrap();
        assert_eq!(r.body, "token=at-1&token_type_hint=access_token");
        // GitHub: delete the app authorization with the access token.
        let r = revocation_request(&p("github"), &tokens(Some("ghr"))).unwrap();
        assert_eq!(
            (r.method, r.url.as_str()),
            (
                "DELETE",
                "https://api.github.com/applications/Iv1.abc/grant"
            )
        );
        assert_eq!(r.body, r#"{"access_token":"at-1"}"#);
        assert_eq!(r.header("authorization"), Some("Basic SXYxLmFiYzpzZWM="));
        // Spotify has none.
        assert!(revocation_request(&p("spotify"), &tokens(Some("rt"))).is_none());
    }

    #[test]
    fn answers_are_read_per_provider() {
        let ok = HttpResponse::new(200, "{}");
        assert_eq!(
            revocation_outcome(&p("google"), &ok),
            RevokeOutcome::Revoked
        );
        let dead = HttpResponse::new(400, r#"{"error":"invalid_token"}"#);
        assert_eq!(
            revocation_outcome(&p("google"), &dead),
            RevokeOutcome::Revoked
        );
        assert_eq!(
            revocation_outcome(&p("github"), &HttpResponse::new(204, "")),
            RevokeOutcome::Revoked
        );
        assert_eq!(
            revocation_outcome(&p("github"), &HttpResponse::new(404, "")),
            RevokeOutcome::Revoked
        );
        // GitHub's rate limits answer 403, not a client problem: the secondary
        // with Retry-After, the primary with x-ratelimit-remaining 0.
        for (header, value) in [("Retry-After", "60"), ("x-ratelimit-remaining", "0")] {
            match revocation_outcome(
                &p("github"),
                &HttpResponse::new(403, "").with_header(header, value),
            ) {
                RevokeOutcome::Failed(e) => assert_eq!(e.code, Code::RateLimited, "{header}"),
                other => panic!("{other:?}"),
            }
        }
        match revocation_outcome(
            &p("github"),
            &HttpResponse::new(403, "").with_header("x-ratelimit-remaining", "4999"),
        ) {
            RevokeOutcome::Failed(e) => assert_eq!(e.code, Code::InvalidClient),
            other => panic!("{other:?}"),
        }
        for (status, code) in [
            (503, Code::ProviderUnavailable),
            (401, Code::InvalidClient),
            (429, Code::RateLimited),
            (422, Code::ProviderRejected),
        ] {
            match revocation_outcome(&p("discord"), &HttpResponse::new(status, "")) {
                RevokeOutcome::Failed(e) => assert_eq!(e.code, code, "{status}"),
                other => panic!("{status}: {other:?}"),
            }
        }
        // RFC 7009 §2.2.1: a server that does not revoke that token type.
        let unsupported = HttpResponse::new(400, r#"{"error":"unsupported_token_type"}"#);
        assert_eq!(
            revocation_outcome(&p("discord"), &unsupported),
            RevokeOutcome::NotSupported
        );
        match revocation_outcome(
            &p("discord"),
            &HttpResponse::new(400, r#"{"error":"invalid_request"}"#),
        ) {
            RevokeOutcome::Failed(e) => assert_eq!(e.code, Code::ProviderRejected),
            other => panic!("{other:?}"),
        }
    }
}
