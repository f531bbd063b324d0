//! The provider registry, as data. Adding a provider is configuration: a token
//! URL, a client authentication method (RFC 6749 §2.3.1) and how it treats
//! refresh tokens.

use super::error::{Code, Error, Result};
use super::fields::Fields;
use super::secret::ClientSecret;

/// How the client authenticates at the token endpoint (RFC 6749 §2.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// `Authorization: Basic base64(urlencode(id):urlencode(secret))`.
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Body,
    /// A public client: `client_id` in the body, no secret.
    None,
}

impl ClientAuth {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "basic" | "client_secret_basic" => Some(Self::Basic),
            "body" | "post" | "client_secret_post" => Some(Self::Body),
            "none" => Some(Self::None),
            _ => None,
        }
    }
}

/// What the provider does with refresh tokens on refresh.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The refresh token stays valid (Google, Spotify usually).
    Reusable,
    /// Every refresh returns a new refresh token and the old one dies; reuse
    /// may revoke the whole grant (Discord, GitHub Apps, OAuth 2.1 servers).
    SingleUse,
}

/// One provider's token endpoint behaviour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderSpec {
    pub id: String,
    pub token_url: String,
    pub client_auth: ClientAuth,
    pub rotation: Rotation,
    /// False for tokens that never expire (GitHub OAuth App tokens): no refresh is attempted.
    pub access_tokens_expire: bool,
    /// Default refresh-ahead margin, seconds.
    pub margin_secs: u64,
    /// Scope separator in responses (`" "` per RFC 6749 §3.3, `","` for GitHub).
    pub scope_separator: char,
    /// Lifetime to assume when a response omits `expires_in` (RFC 6749 §5.1 makes it optional).
    pub default_expires_in_secs: Option<u64>,
}

const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";

/// The built-in provider templates. `google-calendar`, `gmail` and `youtube`
/// are Google connections kept apart so each can hold its own scopes.
pub fn builtin(id: &str) -> Option<ProviderSpec> {
    let spec = |token_url: &str, client_auth, rotation, margin_secs| ProviderSpec {
        id: id.to_string(),
        token_url: token_url.to_string(),
        client_auth,
        rotation,
        access_tokens_expire: true,
        margin_secs,
        scope_separator: ' ',
        default_expires_in_secs: None,
    };
    Some(match id {
        "google" | "google-calendar" | "gmail" | "youtube" => {
            spec(GOOGLE_TOKEN_URL, ClientAuth::Body, Rotation::Reusable, 300)
        }
        "spotify" => spec(
            "https://accounts.spotify.com/api/token",
            ClientAuth::Basic,
            Rotation::Reusable,
            300,
        ),
        "discord" => spec(
            "https://discord.com/api/oauth2/token",
            ClientAuth::Basic,
            Rotation::SingleUse,
            3600,
        ),
        // OAuth App tokens never expire; no refresh token is issued.
        "github" => ProviderSpec {
            access_tokens_expire: false,
            scope_separator: ',',
            ..spec(
                "https://github.com/login/oauth/access_token",
                ClientAuth::Body,
                Rotation::SingleUse,
                600,
            )
        },
        // GitHub App user tokens: 8 h, refresh tokens rotate on every use.
        "github-app" => ProviderSpec {
            scope_separator: ',',
            ..spec(
                "https://github.com/login/oauth/access_token",
                ClientAuth::Body,
                Rotation::SingleUse,
                600,
            )
        },
        _ => return None,
    })
}

pub const BUILTIN_IDS: [&str; 9] = [
    "google",
    "google-calendar",
    "gmail",
    "youtube",
    "spotify",
    "discord",
    "github",
    "github-app",
    "rfc6749",
];

/// A configured provider: its spec and the client credentials.
#[derive(Clone, Debug)]
pub struct Provider {
    pub spec: ProviderSpec,
    pub client_id: String,
    pub client_secret: Option<ClientSecret>,
}

/// Configuration for one provider, as it arrives from JSON.
#[derive(Clone, Debug, Default)]
pub struct ProviderConfig {
    /// Built-in template to start from; defaults to the provider's key.
    /// `"rfc6749"` is the generic template and needs `tokenUrl`.
    pub template: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub token_url: Option<String>,
    /// `basic` | `body` | `none` (also `client_secret_basic`, `client_secret_post`).
    pub client_auth: Option<String>,
    /// `reusable` | `single-use`.
    pub rotation: Option<String>,
    pub access_tokens_expire: Option<bool>,
    pub refresh_margin_seconds: Option<u64>,
    pub default_expires_in_seconds: Option<u64>,
}

impl ProviderConfig {
    pub const FIELDS: [&'static str; 9] = [
        "template",
        "clientId",
        "clientSecret",
        "tokenUrl",
        "clientAuth",
        "rotation",
        "accessTokensExpire",
        "refreshMarginSeconds",
        "defaultExpiresInSeconds",
    ];

    /// Reads `providers.<key>` from JSON.
    pub fn from_json(value: &serde_json::Value, path: &str) -> Result<Self> {
        let f = Fields::new(value, path, Code::Config)?;
        f.only(&Self::FIELDS)?;
        Ok(Self {
            template: f.opt_str("template")?,
            client_id: f.opt_str("clientId")?,
            client_secret: f.opt_str("clientSecret")?,
            token_url: f.opt_str("tokenUrl")?,
            client_auth: f.opt_str("clientAuth")?,
            rotation: f.opt_str("rotation")?,
            access_tokens_expire: f.opt_bool("accessTokensExpire")?,
            refresh_margin_seconds: f.opt_u64("refreshMarginSeconds")?,
            default_expires_in_seconds: f.opt_u64("defaultExpiresInSeconds")?,
        })
    }
}

fn valid_url(u: &str) -> bool {
    (u.starts_with("https://") || u.starts_with("http://"))
        && u.len() > 8
        && !u.contains(char::is_whitespace)
}

impl Provider {
    /// Builds a provider from its config. `key` is the provider id used in
    /// connections; errors name the offending field as `providers.<key>.<field>`.
    pub fn from_config(key: &str, c: &ProviderConfig) -> Result<Self> {
        let field = |f: &str| format!("providers.{key}.{f}");
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(Error::config(format!(
                "providers: provider id '{key}' must be non-empty ASCII letters, digits, '-' or '_'"
            )));
        }
        let template = c.template.as_deref().unwrap_or(key);
        let mut spec = match builtin(template) {
            Some(s) => s,
            None if template == "rfc6749" || c.token_url.is_some() => ProviderSpec {
                id: key.to_string(),
                token_url: String::new(),
                client_auth: ClientAuth::Basic,
                rotation: Rotation::Reusable,
                access_tokens_expire: true,
                margin_secs: 300,
                scope_separator: ' ',
                default_expires_in_secs: None,
            },
            None => {
                return Err(Error::config(format!(
                    "{}: unknown provider '{template}'; built-ins are {}, or set tokenUrl for any RFC 6749 server",
                    if c.template.is_some() { field("template") } else { format!("providers.{key}") },
                    BUILTIN_IDS.join(", ")
                )))
            }
        };
        spec.id = key.to_string();
        if let Some(u) = &c.token_url {
            spec.token_url = u.clone();
        }
        if !valid_url(&spec.token_url) {
            return Err(Error::config(format!(
                "{}: must be an http(s) URL",
                field("tokenUrl")
            )));
        }
        if let Some(a) = &c.client_auth {
            spec.client_auth = ClientAuth::parse(a).ok_or_else(|| {
                Error::config(format!(
                    "{}: '{a}' is not one of basic, body, none",
                    field("clientAuth")
                ))
            })?;
        }
        if let Some(r) = &c.rotation {
            spec.rotation = match r.as_str() {
                "reusable" => Rotation::Reusable,
                "single-use" => Rotation::SingleUse,
                _ => {
                    return Err(Error::config(format!(
                        "{}: '{r}' is not one of reusable, single-use",
                        field("rotation")
                    )))
                }
            };
        }
        if let Some(e) = c.access_tokens_expire {
            spec.access_tokens_expire = e;
        }
        if let Some(m) = c.refresh_margin_seconds {
            spec.margin_secs = m;
        }
        if c.default_expires_in_seconds.is_some() {
            spec.default_expires_in_secs = c.default_expires_in_seconds;
        }
        let client_id = c
            .client_id
            .clone()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| Error::config(format!("{}: required", field("clientId"))))?;
        let client_secret = c.client_secret.clone().filter(|s| !s.is_empty());
        if spec.client_auth != ClientAuth::None && client_secret.is_none() {
            return Err(Error::config(format!(
                "{}: required when clientAuth is not 'none'",
                field("clientSecret")
            )));
        }
        Ok(Provider {
            spec,
            client_id,
            client_secret: client_secret.map(ClientSecret::new),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(id: &str, secret: &str) -> ProviderConfig {
        ProviderConfig {
            client_id: Some(id.into()),
            client_secret: Some(secret.into()),
            ..Default::default()
        }
    }

    #[test]
    fn builtins_have_their_quirks() {
        let sp = Provider::from_config("spotify", &cfg("a", "b")).unwrap();
        assert_eq!(sp.spec.client_auth, ClientAuth::Basic);
        let d = Provider::from_config("discord", &cfg("a", "b")).unwrap();
        assert_eq!(d.spec.rotation, Rotation::SingleUse);
        let gh = Provider::from_config("github", &cfg("a", "b")).unwrap();
        assert!(!gh.spec.access_tokens_expire);
        assert_eq!(gh.spec.scope_separator, ',');
        let gha = Provider::from_config("github-app", &cfg("a", "b")).unwrap();
        assert!(gha.spec.access_tokens_expire);
        for g in ["google", "gmail", "youtube", "google-calendar"] {
            let p = Provider::from_config(g, &cfg("a", "b")).unwrap();
            assert_eq!(p.spec.token_url, GOOGLE_TOKEN_URL);
            assert_eq!(p.spec.id, g);
        }
    }

    #[test]
    fn generic_provider_is_configuration() {
        let c = ProviderConfig {
            template: Some("rfc6749".into()),
            token_url: Some("http://127.0.0.1:9/token".into()),
            client_auth: Some("client_secret_post".into()),
            rotation: Some("single-use".into()),
            ..cfg("id", "s")
        };
        let p = Provider::from_config("my-idp", &c).unwrap();
        assert_eq!(p.spec.client_auth, ClientAuth::Body);
        assert_eq!(p.spec.rotation, Rotation::SingleUse);
        assert_eq!(p.spec.id, "my-idp");
        // A tokenUrl alone is enough for an unknown id.
        let c = ProviderConfig {
            token_url: Some("https://idp.example/token".into()),
            ..cfg("id", "s")
        };
        assert!(Provider::from_config("acme", &c).is_ok());
        // Google pointed at the emulator.
        let c = ProviderConfig {
            token_url: Some("http://127.0.0.1:8787/token".into()),
            ..cfg("id", "s")
        };
        assert_eq!(
            Provider::from_config("google", &c).unwrap().spec.token_url,
            "http://127.0.0.1:8787/token"
        );
    }

    #[test]
    fn bad_config_names_the_field() {
        let e = Provider::from_config("acme", &cfg("a", "b")).unwrap_err();
        assert!(
            e.message
                .starts_with("providers.acme: unknown provider 'acme'"),
            "{}",
            e.message
        );
        let e = Provider::from_config("google", &cfg("", "b")).unwrap_err();
        assert_eq!(e.message, "providers.google.clientId: required");
        let e = Provider::from_config(
            "google",
            &ProviderConfig {
                client_secret: None,
                ..cfg("a", "")
            },
        )
        .unwrap_err();
        assert!(e.message.starts_with("providers.google.clientSecret"));
        let e = Provider::from_config(
            "google",
            &ProviderConfig {
                client_auth: Some("digest".into()),
                ..cfg("a", "b")
            },
        )
        .unwrap_err();
        assert!(e.message.starts_with("providers.google.clientAuth"));
        let e = Provider::from_config(
            "google",
            &ProviderConfig {
                token_url: Some("ftp://x".into()),
                ..cfg("a", "b")
            },
        )
        .unwrap_err();
        assert!(e.message.starts_with("providers.google.tokenUrl"));
        let e = Provider::from_config("bad id", &cfg("a", "b")).unwrap_err();
        assert_eq!(e.code, Code::Config);
        // A public client needs no secret.
        let public = ProviderConfig {
            client_auth: Some("none".into()),
            ..cfg("a", "")
        };
        assert!(Provider::from_config("google", &public)
            .unwrap()
            .client_secret
            .is_none());
    }
}
