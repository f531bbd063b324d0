//! Connecting: the authorization code grant (RFC 6749 §4.1) with PKCE
//! (RFC 7636, S256). Builds the authorization URL and the code exchange;
//! the response is processed like a refresh response (§5.1, §5.2).

use sha2::{Digest, Sha256};

use super::b64;
use super::error::{Error, Result};
use super::grant::token_request;
use super::http::{form_urlencode, HttpRequest};
use super::provider::Provider;
use super::secret::{AuthorizationCode, PkceVerifier};

/// SHA-256 as base64url without padding (RFC 7636 §4.2's encoding).
pub fn sha256_b64url(input: &str) -> String {
    b64::encode(&Sha256::digest(input.as_bytes()), true, false)
}

/// 32 random bytes as base64url: 43 characters of the unreserved set, the
/// entropy RFC 7636 §7.1 asks of a verifier and a fine `state` (§10.12).
pub fn random_token(bytes: [u8; 32]) -> String {
    b64::encode(&bytes, true, false)
}

/// A PKCE pair: the verifier stays on the server; the challenge goes in the
/// authorization request.
pub struct Pkce {
    pub verifier: PkceVerifier,
    pub challenge: String,
}

impl Pkce {
    /// From 32 random bytes (RFC 7636 §4.1, §4.2 S256).
    pub fn from_random(bytes: [u8; 32]) -> Self {
        let verifier = random_token(bytes);
        let challenge = sha256_b64url(&verifier);
        Self {
            verifier: PkceVerifier::new(verifier),
            challenge,
        }
    }
}

/// What one authorization request asks for.
pub struct AuthorizationRequest<'a> {
    pub redirect_uri: &'a str,
    pub scopes: &'a [String],
    pub state: &'a str,
    pub code_challenge: &'a str,
}

/// The URL to send the browser to (RFC 6749 §4.1.1, RFC 7636 §4.3), with the
/// provider's own parameters (Google: offline access, consent, incremental scopes).
pub fn authorization_url(p: &Provider, r: &AuthorizationRequest<'_>) -> Result<String> {
    let base = p.spec.auth_url.as_deref().ok_or_else(|| {
        Error::config(format!(
            "providers.{}.authUrl: required to connect this provider",
            p.spec.id
        ))
    })?;
    let scope = r.scopes.join(" ");
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", &p.client_id),
        ("redirect_uri", r.redirect_uri),
        ("state", r.state),
        ("code_challenge", r.code_challenge),
        ("code_challenge_method", "S256"),
    ];
    if !scope.is_empty() {
        params.push(("scope", &scope));
    }
    for (k, v) in &p.spec.auth_params {
        if !params.iter().any(|(key, _)| key == k) {
            params.push((k, v));
        }
    }
    let query = params
        .iter()
        .map(|(k, v)| format!("{}={}", form_urlencode(k), form_urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let sep = if base.contains('?') { '&' } else { '?' };
    Ok(format!("{base}{sep}{query}"))
}

/// The code exchange (RFC 6749 §4.1.3 with RFC 7636 §4.5's `code_verifier`):
/// the same `redirect_uri` as the authorization request, the client
/// authenticated as at refresh.
pub fn code_request(
    p: &Provider,
    code: &AuthorizationCode,
    redirect_uri: &str,
    verifier: &PkceVerifier,
) -> HttpRequest {
    token_request(
        p,
        &[
            ("grant_type", "authorization_code"),
            ("code", code.expose()),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier.expose()),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::provider::ProviderConfig;

    fn provider(id: &str, auth: Option<&str>) -> Provider {
        Provider::from_config(
            id,
            &ProviderConfig {
                client_id: Some("client id".into()),
                client_secret: Some("s3cret".into()),
                client_auth: auth.map(str::to_string),
                ..Default::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn pkce_matches_rfc_7636_appendix_b() {
        // RFC 7636 Appendix B: these 32 octets give this verifier and challenge.
        let octets = [
            116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212,
            37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
        ];
        let p = Pkce::from_random(octets);
        assert_eq!(
            p.verifier.expose(),
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        );
        assert_eq!(p.challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn authorization_url_carries_the_request_and_googles_parameters() {
        let p = provider("google", None);
        let scopes = vec!["openid".to_string(), "email".to_string()];
        let url = authorization_url(
            &p,
            &AuthorizationRequest {
                redirect_uri: "https://x.supabase.co/functions/v1/connections/callback",
                scopes: &scopes,
                state: "st&te",
                code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            },
        )
        .unwrap();
        assert!(url.starts_with("https://accounts.google.com/o/oauth2/v2/auth?response_type=code&client_id=client+id&redirect_uri=https%3A%2F%2Fx.supabase.co%2Ffunctions%2Fv1%2Fconnections%2Fcallback&state=st%26te&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&scope=openid+email"), "{url}");
        for p in [
            "access_type=offline",
            "prompt=consent",
            "include_granted_scopes=true",
        ] {
            assert!(url.contains(p), "{p}");
        }
        // Spotify: its own endpoint, none of Google's parameters.
        let url = authorization_url(
            &provider("spotify", None),
            &AuthorizationRequest {
                redirect_uri: "http://127.0.0.1/cb",
                scopes: &[],
                state: "s",
                code_challenge: "c",
            },
        )
        .unwrap();
        assert!(url.starts_with("https://accounts.spotify.com/authorize?"));
        assert!(!url.contains("access_type") && !url.contains("scope="));
    }

    #[test]
    fn code_exchange_is_rfc_6749_4_1_3_with_the_verifier() {
        let v = PkceVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        let r = code_request(
            &provider("spotify", None),
            &AuthorizationCode::new("c/1"),
            "http://127.0.0.1/cb",
            &v,
        );
        assert_eq!(r.url, "https://accounts.spotify.com/api/token");
        assert_eq!(r.body, "grant_type=authorization_code&code=c%2F1&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        // Spotify authenticates the client with HTTP Basic.
        assert_eq!(
            r.header("authorization"),
            Some("Basic Y2xpZW50K2lkOnMzY3JldA==")
        );
        // GitHub: in the body, and JSON asked for.
        let r = code_request(
            &provider("github", None),
            &AuthorizationCode::new("c"),
            "http://127.0.0.1/cb",
            &v,
        );
        assert!(r
            .body
            .ends_with("&client_id=client+id&client_secret=s3cret"));
        assert_eq!(r.header("accept"), Some("application/json"));
        // A public client sends only its id.
        let r = code_request(
            &provider("discord", Some("none")),
            &AuthorizationCode::new("c"),
            "http://127.0.0.1/cb",
            &v,
        );
        assert!(r.body.ends_with("&client_id=client+id"));
        assert_eq!(r.header("authorization"), None);
    }

    #[test]
    fn a_provider_without_an_authorization_endpoint_cannot_connect() {
        let p = Provider::from_config(
            "idp",
            &ProviderConfig {
                client_id: Some("a".into()),
                client_secret: Some("b".into()),
                token_url: Some("https://idp.example/token".into()),
                ..Default::default()
            },
        )
        .unwrap();
        let e = authorization_url(
            &p,
            &AuthorizationRequest {
                redirect_uri: "https://x/cb",
                scopes: &[],
                state: "s",
                code_challenge: "c",
            },
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "providers.idp.authUrl: required to connect this provider"
        );
    }
}
