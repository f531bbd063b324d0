//! Who connected: the provider's user-info endpoint read into an account
//! (id, email, a display login). Only for showing "Connected as …".

use super::json::{self, Value};

use super::error::{Code, Error, Result};
use super::http::{HttpRequest, HttpResponse};
use super::provider::{IdentityKind, Provider};
use super::secret::AccessToken;

/// The provider account behind a connection. Never a secret.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub email: Option<String>,
    /// Login, username or display name: what to show next to the email.
    pub name: Option<String>,
}

/// `GET <userinfo>` with the new access token; `None` when the provider has no user-info endpoint.
pub fn userinfo_request(p: &Provider, access: &AccessToken) -> Option<HttpRequest> {
    let (url, _) = p.spec.userinfo.as_ref()?;
    Some(HttpRequest {
        method: "GET",
        url: url.clone(),
        headers: vec![
            (
                "authorization".into(),
                format!("Bearer {}", access.expose()),
            ),
            ("accept".into(), "application/json".into()),
            // GitHub's REST API refuses requests without a User-Agent.
            ("user-agent".into(), "oauth-token-manager".into()),
        ],
        body: String::new(),
    })
}

/// GitHub's `GET /user` names only the account's public email, which most
/// accounts leave unset; with `user:email` (a default scope) the primary
/// address is at `GET /user/emails` ("List email addresses for the
/// authenticated user"). `None` for other providers.
pub fn emails_request(p: &Provider, access: &AccessToken) -> Option<HttpRequest> {
    if !matches!(p.spec.userinfo, Some((_, IdentityKind::GitHub))) {
        return None;
    }
    let mut r = userinfo_request(p, access)?;
    r.url.push_str("/emails");
    Some(r)
}

/// The primary, verified address in a `/user/emails` answer.
pub fn primary_email(resp: &HttpResponse) -> Option<String> {
    if !(200..300).contains(&resp.status) {
        return None;
    }
    let Ok(Value::Array(items)) = json::parse(&resp.body) else {
        return None;
    };
    let yes = |e: &Value, k: &str| matches!(e.get(k), Some(Value::Bool(true)));
    items
        .iter()
        .find(|e| yes(e, "primary") && yes(e, "verified"))
        .and_then(|e| text(e.get("email")))
}

fn text(v: Option<&Value>) -> Option<String> {
    let s = match v? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let s: String = s.chars().filter(|c| !c.is_control()).take(255).collect();
    (!s.trim().is_empty()).then_some(s)
}

/// Reads a user-info answer. A non-2xx answer or one without an id is an error.
pub fn parse_userinfo(p: &Provider, resp: &HttpResponse) -> Result<Account> {
    let kind = p
        .spec
        .userinfo
        .as_ref()
        .map_or(IdentityKind::Oidc, |(_, k)| *k);
    if !(200..300).contains(&resp.status) {
        return Err(Error::new(
            Code::BadProviderResponse,
            format!("the user-info endpoint answered HTTP {}", resp.status),
        )
        .with_status(resp.status));
    }
    let v: Value = json::parse(&resp.body).map_err(|_| {
        Error::new(
            Code::BadProviderResponse,
            "the user-info answer is not JSON",
        )
    })?;
    let (id, name) = match kind {
        IdentityKind::Oidc => ("sub", "name"),
        IdentityKind::Spotify => ("id", "display_name"),
        IdentityKind::Discord => ("id", "username"),
        IdentityKind::GitHub => ("id", "login"),
    };
    let id = text(v.get(id)).ok_or_else(|| {
        Error::new(
            Code::BadProviderResponse,
            format!("the user-info answer has no '{id}'"),
        )
    })?;
    Ok(Account {
        id,
        email: text(v.get("email")),
        name: text(v.get(name)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::provider::ProviderConfig;
    use serde_json::json;

    fn p(id: &str) -> Provider {
        Provider::from_config(
            id,
            &ProviderConfig {
                client_id: Some("a".into()),
                client_secret: Some("b".into()),
                ..Default::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn each_providers_answer_becomes_an_account() {
        let cases = [
            (
                "google",
                json!({"sub": "1090", "email": "ada@example.com", "email_verified": true, "name": "Ada"}),
                ("1090", Some("ada@example.com"), Some("Ada")),
            ),
            (
                "spotify",
                json!({"id": "ada.l", "display_name": "Ada L", "email": "ada@example.com"}),
                ("ada.l", Some("ada@example.com"), Some("Ada L")),
            ),
            (
                "discord",
                json!({"id": "80351110224678912", "username": "ada", "global_name": "Ada", "email": null}),
                ("80351110224678912", None, Some("ada")),
            ),
            (
                "github",
                json!({"id": 583231, "login": "octocat", "email": "octo@example.com"}),
                ("583231", Some("octo@example.com"), Some("octocat")),
            ),
        ];
        for (id, body, (want_id, email, name)) in cases {
            let a = parse_userinfo(&p(id), &HttpResponse::json(200, &body)).unwrap();
            assert_eq!(a.id, want_id, "{id}");
            assert_eq!(a.email.as_deref(), email, "{id}");
            assert_eq!(a.name.as_deref(), name, "{id}");
        }
    }

    #[test]
    fn requests_carry_the_token_and_bad_answers_are_errors() {
        let r = userinfo_request(&p("github"), &AccessToken::new("gho_x")).unwrap();
        assert_eq!(r.url, "https://api.github.com/user");
        assert_eq!(r.header("authorization"), Some("Bearer gho_x"));
        // GitHub's private primary address, beside /user.
        let r = emails_request(&p("github"), &AccessToken::new("gho_x")).unwrap();
        assert_eq!(r.url, "https://api.github.com/user/emails");
        assert_eq!(r.header("authorization"), Some("Bearer gho_x"));
        assert!(emails_request(&p("google"), &AccessToken::new("x")).is_none());
        let emails =
            |status, body: serde_json::Value| primary_email(&HttpResponse::json(status, &body));
        let listed = json!([
            {"email": "old@example.com", "primary": false, "verified": true},
            {"email": "unverified@example.com", "primary": true, "verified": false},
            {"email": "mona@example.com", "primary": true, "verified": true, "visibility": "private"},
        ]);
        assert_eq!(
            emails(200, listed.clone()).as_deref(),
            Some("mona@example.com")
        );
        assert_eq!(emails(404, listed), None, "no user:email scope");
        assert_eq!(
            emails(200, json!([{"email": "x@example.com", "primary": true}])),
            None
        );
        assert_eq!(emails(200, json!({"message": "Not Found"})), None);
        // Discord's API at a version it supports, not its deprecated default (v6).
        let r = userinfo_request(&p("discord"), &AccessToken::new("d")).unwrap();
        assert_eq!(r.url, "https://discord.com/api/v10/users/@me");
        assert!(r.header("user-agent").is_some());
        for resp in [
            HttpResponse::new(401, "{}"),
            HttpResponse::new(200, "<html>"),
            HttpResponse::json(200, &json!({"email": "x@example.com"})),
        ] {
            assert_eq!(
                parse_userinfo(&p("google"), &resp).unwrap_err().code,
                Code::BadProviderResponse
            );
        }
    }
}
