//! The provider registry, as data. Adding a provider is configuration: a token
//! URL, a client authentication method (RFC 6749 §2.3.1), how it treats
//! refresh tokens, and for connecting: its authorization endpoint, default
//! scopes, revocation (RFC 7009 or the provider's own) and user-info endpoint.

use super::error::{Code, Error, Result};
use super::fields::Fields;
use super::secret::ClientSecret;
use super::text;

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

/// How a provider revokes a grant, for disconnect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// No revocation endpoint (Spotify): disconnect erases the tokens here only.
    None,
    /// RFC 7009: `POST token=…&token_type_hint=…`, the client authenticated as
    /// at the token endpoint (Discord's `/oauth2/token/revoke`).
    Rfc7009 { url: String },
    /// Google's `POST /revoke` with `token=…` (no client authentication);
    /// revoking either token revokes the grant.
    Google { url: String },
    /// GitHub's "Delete an app authorization": `DELETE
    /// /applications/{client_id}/grant`, HTTP Basic client credentials, JSON
    /// `{"access_token": …}`. `url` holds `{client_id}`.
    GitHubGrant { url: String },
}

impl Revocation {
    pub fn url(&self) -> Option<&str> {
        match self {
            Revocation::None => None,
            Revocation::Rfc7009 { url }
            | Revocation::Google { url }
            | Revocation::GitHubGrant { url } => Some(url),
        }
    }
}

/// How to read a user-info answer into an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentityKind {
    /// OpenID Connect UserInfo (§5.3): `sub`, `email`, `name`.
    Oidc,
    /// Spotify `GET /v1/me`: `id`, `email`, `display_name`.
    Spotify,
    /// Discord `GET /users/@me`: `id`, `email`, `username`.
    Discord,
    /// GitHub `GET /user`: `id` (a number), `email`, `login`.
    GitHub,
}

impl IdentityKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "oidc" => Some(Self::Oidc),
            "spotify" => Some(Self::Spotify),
            "discord" => Some(Self::Discord),
            "github" => Some(Self::GitHub),
            _ => None,
        }
    }
}

/// One provider's endpoints and behaviour.
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
    /// The same for tokens that come with a refresh token (GitHub: an OAuth
    /// App's tokens never expire, a GitHub App's expiring user tokens live 8
    /// hours; a Supabase sign-in hands either over without its lifetime).
    pub refreshable_expires_in_secs: Option<u64>,
    /// A refresh ends the access token it replaces (GitHub: "that refresh
    /// token and the old user access token will no longer work"): while
    /// another instance refreshes, the old token is not handed out.
    pub refresh_ends_access_token: bool,
    /// The authorization endpoint (RFC 6749 §3.1); connecting needs it.
    pub auth_url: Option<String>,
    /// The authorization server's issuer identifier (RFC 9207): what its
    /// authorization responses carry as `iss`, compared at the callback
    /// against mix-up attacks (RFC 9700 §4.4). `None`: not known.
    pub issuer: Option<String>,
    /// The server says its authorization responses always carry `iss`
    /// (`authorization_response_iss_parameter_supported`, RFC 9207 §3): a
    /// response without it is refused (§2.4).
    pub issuer_required: bool,
    pub revocation: Revocation,
    /// The user-info endpoint and how to read it: who connected.
    pub userinfo: Option<(String, IdentityKind)>,
    /// Scopes a connect asks for when the caller names none.
    pub default_scopes: Vec<String>,
    /// Extra authorization request parameters (Google: offline access, consent, incremental scopes).
    pub auth_params: Vec<(String, String)>,
    /// Keep-alive: the background refresher refreshes a connection not
    /// refreshed for this long even while its access token is valid, because
    /// providers revoke refresh tokens left unused (Google after six months).
    /// `None`: never.
    pub keep_alive_secs: Option<u64>,
    /// How long before a known refresh-token end (`refresh_token_expires_in`)
    /// the connection's status warns "reconnect before …".
    pub refresh_token_warning_secs: u64,
}

/// Thirty days: well inside every provider's idle-revocation window.
pub const DEFAULT_KEEP_ALIVE_SECS: u64 = 30 * 86_400;
/// Three days' notice before a refresh token's known end.
pub const DEFAULT_REFRESH_TOKEN_WARNING_SECS: u64 = 3 * 86_400;

const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
const GOOGLE_AUTH_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";

/// A template's defaults: what every provider starts from before its own
/// endpoints, scopes and settings (its id is set by `Provider::from_config`).
#[inline(never)]
fn base_spec(
    token_url: &str,
    client_auth: ClientAuth,
    rotation: Rotation,
    margin_secs: u64,
) -> ProviderSpec {
    ProviderSpec {
        id: String::new(),
        token_url: token_url.to_string(),
        client_auth,
        rotation,
        access_tokens_expire: true,
        margin_secs,
        scope_separator: ' ',
        default_expires_in_secs: None,
        refreshable_expires_in_secs: None,
        refresh_ends_access_token: false,
        auth_url: None,
        issuer: None,
        issuer_required: false,
        revocation: Revocation::None,
        userinfo: None,
        default_scopes: Vec::new(),
        auth_params: Vec::new(),
        keep_alive_secs: Some(DEFAULT_KEEP_ALIVE_SECS),
        refresh_token_warning_secs: DEFAULT_REFRESH_TOKEN_WARNING_SECS,
    }
}

/// The built-in provider templates. `google-calendar`, `gmail` and `youtube`
/// are Google connections kept apart so each holds its own scopes and consent.
pub fn builtin(id: &str) -> Option<ProviderSpec> {
    let google = |scope: &str| ProviderSpec {
        auth_url: Some(GOOGLE_AUTH_URL.to_string()),
        // Google's authorization responses carry iss (RFC 9207).
        issuer: Some("https://accounts.google.com".into()),
        revocation: Revocation::Google {
            url: "https://oauth2.googleapis.com/revoke".into(),
        },
        userinfo: Some((
            "https://openidconnect.googleapis.com/v1/userinfo".into(),
            IdentityKind::Oidc,
        )),
        default_scopes: text::words(&text::cat(&["openid email ", scope])),
        // Google's access tokens live an hour (3599 s, as its token endpoint
        // says); a Supabase sign-in hands one over without its lifetime.
        default_expires_in_secs: Some(3_599),
        // A refresh token comes back only for offline access, and again on
        // reconnect only with prompt=consent; incremental authorization keeps
        // the scopes granted before (Google's "OAuth 2.0 for web server apps").
        auth_params: vec![
            ("access_type".into(), "offline".into()),
            ("prompt".into(), "consent".into()),
            ("include_granted_scopes".into(), "true".into()),
        ],
        ..base_spec(GOOGLE_TOKEN_URL, ClientAuth::Body, Rotation::Reusable, 300)
    };
    // GitHub: tokens of apps with expiring user tokens last 8 h and their
    // refresh tokens rotate; a token answered without `expires_in` (an OAuth
    // App's) never expires and is never refreshed.
    let github = || ProviderSpec {
        scope_separator: ',',
        auth_url: Some("https://github.com/login/oauth/authorize".into()),
        revocation: Revocation::GitHubGrant {
            url: "https://api.github.com/applications/{client_id}/grant".into(),
        },
        userinfo: Some(("https://api.github.com/user".into(), IdentityKind::GitHub)),
        default_scopes: text::words("read:user user:email"),
        // "Refreshing user access tokens": expires_in "will always be 28800",
        // and the old token stops working once its refresh token is used.
        refreshable_expires_in_secs: Some(28_800),
        refresh_ends_access_token: true,
        ..base_spec(
            "https://github.com/login/oauth/access_token",
            ClientAuth::Body,
            Rotation::SingleUse,
            600,
        )
    };
    Some(match id {
        "google" | "google-calendar" => google("https://www.googleapis.com/auth/calendar.events"),
        "gmail" => google("https://www.googleapis.com/auth/gmail.readonly"),
        "youtube" => google("https://www.googleapis.com/auth/youtube.readonly"),
        "spotify" => ProviderSpec {
            auth_url: Some("https://accounts.spotify.com/authorize".into()),
            userinfo: Some((
                "https://api.spotify.com/v1/me".into(),
                IdentityKind::Spotify,
            )),
            default_scopes: text::words("user-read-email user-read-private"),
            // Spotify's access tokens last an hour ("Refreshing tokens"); a
            // Supabase sign-in hands one over without its lifetime.
            default_expires_in_secs: Some(3_600),
            // Its answer may carry a new refresh token, and with PKCE (every
            // connect here uses it) a refresh token refreshes once: a request
            // whose answer was lost is not sent again with it.
            ..base_spec(
                "https://accounts.spotify.com/api/token",
                ClientAuth::Basic,
                Rotation::SingleUse,
                300,
            )
        },
        "discord" => ProviderSpec {
            auth_url: Some("https://discord.com/oauth2/authorize".into()),
            revocation: Revocation::Rfc7009 {
                url: "https://discord.com/api/oauth2/token/revoke".into(),
            },
            // Versioned: an unversioned path goes to Discord's default API
            // version, v6, which is deprecated (API Reference, "API Versioning").
            userinfo: Some((
                "https://discord.com/api/v10/users/@me".into(),
                IdentityKind::Discord,
            )),
            default_scopes: text::words("identify email"),
            // Discord's access tokens last 7 days (OAuth2 "Access Token Response").
            default_expires_in_secs: Some(604_800),
            ..base_spec(
                "https://discord.com/api/oauth2/token",
                ClientAuth::Basic,
                Rotation::SingleUse,
                3600,
            )
        },
        "github" | "github-app" => github(),
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
    pub auth_url: Option<String>,
    /// The issuer identifier its authorization responses carry as `iss` (RFC 9207); `""`: none.
    pub issuer: Option<String>,
    /// Its authorization responses always carry `iss` (RFC 9207 §3's
    /// `authorization_response_iss_parameter_supported`): one without is refused.
    pub issuer_required: Option<bool>,
    /// `rfc7009`, `google`, `github-grant` or `none`.
    pub revocation: Option<String>,
    pub revocation_url: Option<String>,
    pub userinfo_url: Option<String>,
    /// How to read the user-info answer: `oidc`, `spotify`, `discord`, `github`.
    pub identity: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub auth_params: Option<Vec<(String, String)>>,
    /// Seconds; 0 turns keep-alive off.
    pub keep_alive_seconds: Option<u64>,
    pub refresh_token_warning_seconds: Option<u64>,
}

impl ProviderConfig {
    pub const FIELDS: [&'static str; 20] = [
        "template",
        "clientId",
        "clientSecret",
        "tokenUrl",
        "clientAuth",
        "rotation",
        "accessTokensExpire",
        "refreshMarginSeconds",
        "defaultExpiresInSeconds",
        "authUrl",
        "issuer",
        "issuerRequired",
        "revocation",
        "revocationUrl",
        "userinfoUrl",
        "identity",
        "scopes",
        "authParams",
        "keepAliveSeconds",
        "refreshTokenWarningSeconds",
    ];

    /// Reads `providers.<key>` from JSON.
    #[allow(clippy::field_reassign_with_default)] // on purpose: see below
    pub fn from_json(value: &super::json::Value, path: &str) -> Result<Self> {
        let f = Fields::new(value, path, Code::Config)?;
        f.only(&Self::FIELDS)?;
        // Filled in place, the strings and the numbers each by one loop: a
        // struct literal of eighteen `?`s compiled to 4 KB of wasm (a partial
        // drop for each), which a cold isolate compiles before its first
        // construction; this is a third of that.
        let mut c = Self::default();
        for (key, slot) in [
            ("template", &mut c.template),
            ("clientId", &mut c.client_id),
            ("clientSecret", &mut c.client_secret),
            ("tokenUrl", &mut c.token_url),
            ("clientAuth", &mut c.client_auth),
            ("rotation", &mut c.rotation),
            ("authUrl", &mut c.auth_url),
            ("issuer", &mut c.issuer),
            ("revocation", &mut c.revocation),
            ("revocationUrl", &mut c.revocation_url),
            ("userinfoUrl", &mut c.userinfo_url),
            ("identity", &mut c.identity),
        ] {
            *slot = f.opt_str(key)?;
        }
        for (key, slot) in [
            ("refreshMarginSeconds", &mut c.refresh_margin_seconds),
            ("defaultExpiresInSeconds", &mut c.default_expires_in_seconds),
            ("keepAliveSeconds", &mut c.keep_alive_seconds),
            (
                "refreshTokenWarningSeconds",
                &mut c.refresh_token_warning_seconds,
            ),
        ] {
            *slot = f.opt_at_most(key, super::config::MAX_SECS)?;
        }
        c.access_tokens_expire = f.opt_bool("accessTokensExpire")?;
        c.issuer_required = f.opt_bool("issuerRequired")?;
        c.scopes = f.opt_scopes("scopes")?;
        c.auth_params = f.opt_string_map("authParams")?;
        Ok(c)
    }
}

fn valid_url(u: &str) -> bool {
    (u.starts_with("https://") || u.starts_with("http://"))
        && u.len() > 8
        && !u
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
}

impl Provider {
    /// Builds a provider from its config. `key` is the provider id used in
    /// connections; errors name the offending field as `providers.<key>.<field>`.
    pub fn from_config(key: &str, c: &ProviderConfig) -> Result<Self> {
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(Error::config(text::cat(&[
                "providers: provider id '",
                key,
                "' must be non-empty ASCII letters, digits, '-' or '_'",
            ])));
        }
        let template = c.template.as_deref().unwrap_or(key);
        let mut spec = match builtin(template) {
            Some(s) => s,
            None if template == "rfc6749" || c.token_url.is_some() => {
                base_spec("", ClientAuth::Basic, Rotation::Reusable, 300)
            }
            None => return Err(unknown_template(key, c.template.is_some(), template)),
        };
        spec.id = key.to_string();
        if let Some(u) = &c.token_url {
            spec.token_url = u.clone();
        }
        if !valid_url(&spec.token_url) {
            return Err(refused(key, "tokenUrl", &[URL_REFUSED]));
        }
        if let Some(a) = &c.client_auth {
            spec.client_auth = ClientAuth::parse(a).ok_or_else(|| {
                refused(
                    key,
                    "clientAuth",
                    &["'", a, "' is not one of basic, body, none"],
                )
            })?;
        }
        if let Some(r) = &c.rotation {
            spec.rotation = match r.as_str() {
                "reusable" => Rotation::Reusable,
                "single-use" => Rotation::SingleUse,
                _ => {
                    return Err(refused(
                        key,
                        "rotation",
                        &["'", r, "' is not one of reusable, single-use"],
                    ))
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
        if let Some(k) = c.keep_alive_seconds {
            spec.keep_alive_secs = (k > 0).then_some(k);
        }
        if let Some(w) = c.refresh_token_warning_seconds {
            spec.refresh_token_warning_secs = w;
        }
        apply_connect_config(&mut spec, c, key)?;
        let client_id = c
            .client_id
            .clone()
            .filter(|s| !s.trim_ascii().is_empty())
            .ok_or_else(|| refused(key, "clientId", &["required"]))?;
        let client_secret = c.client_secret.clone().filter(|s| !s.is_empty());
        if spec.client_auth != ClientAuth::None && client_secret.is_none() {
            return Err(refused(
                key,
                "clientSecret",
                &["required when clientAuth is not 'none'"],
            ));
        }
        Ok(Provider {
            spec,
            client_id,
            client_secret: client_secret.map(ClientSecret::new),
        })
    }
}

const URL_REFUSED: &str = "must be an http(s) URL";

/// A refused provider setting: `providers.<key>.<field>: <what>`. Out of
/// line and cold: a construction that succeeds compiles none of its
/// messages (V8 compiles a wasm function whole, at its first call).
#[cold]
#[inline(never)]
fn refused(key: &str, field: &str, what: &[&str]) -> Error {
    let mut m = text::cat(&["providers.", key, ".", field, ": "]);
    for w in what {
        m.push_str(w);
    }
    Error::config(m)
}

#[cold]
#[inline(never)]
fn unknown_template(key: &str, named: bool, template: &str) -> Error {
    let at = if named {
        text::cat(&["providers.", key, ".template"])
    } else {
        text::cat(&["providers.", key])
    };
    Error::config(format!(
        "{at}: unknown provider '{template}'; built-ins are {}, or set tokenUrl for any RFC 6749 server",
        BUILTIN_IDS.join(", ")
    ))
}

/// `v` if it is an http(s) URL.
fn url_field(v: &str, key: &str, name: &str) -> Result<String> {
    if valid_url(v) {
        Ok(v.to_string())
    } else {
        Err(refused(key, name, &[URL_REFUSED]))
    }
}

/// The connect-side configuration: endpoints, scopes and parameters. A
/// configured URL replaces the template's and keeps its style.
fn apply_connect_config(spec: &mut ProviderSpec, c: &ProviderConfig, key: &str) -> Result<()> {
    // A token URL pointed elsewhere (an emulator, a proxy) with the template's
    // other endpoints left as they are would send tokens to the real provider:
    // those URLs are dropped unless configured too. The template's styles stay
    // (GitHub's grant deletion, Spotify's user-info shape) for a configured URL.
    let template_revocation = spec.revocation.clone();
    let template_identity = spec.userinfo.as_ref().map(|(_, k)| *k);
    if c.token_url.is_some() {
        spec.auth_url = None;
        spec.issuer = None;
        spec.revocation = Revocation::None;
        spec.userinfo = None;
    }
    if let Some(u) = &c.auth_url {
        spec.auth_url = Some(url_field(u, key, "authUrl")?);
    }
    match c.issuer.as_deref() {
        None => {}
        Some("") => spec.issuer = None,
        // RFC 9207 §2: an https URL (a plain http one for local servers).
        Some(i) => spec.issuer = Some(url_field(i, key, "issuer")?),
    }
    if let Some(required) = c.issuer_required {
        if required && spec.issuer.is_none() {
            return Err(refused(
                key,
                "issuerRequired",
                &["needs the issuer its responses carry (issuer)"],
            ));
        }
        spec.issuer_required = required;
    }
    let url = match &c.revocation_url {
        Some(u) => Some(url_field(u, key, "revocationUrl")?),
        None => None,
    };
    spec.revocation = match c.revocation.as_deref() {
        Some("none") => Revocation::None,
        // A URL alone keeps the template's style (RFC 7009 for a generic server).
        None => match (url, &template_revocation) {
            (None, _) => spec.revocation.clone(),
            (Some(url), Revocation::Google { .. }) => Revocation::Google { url },
            (Some(url), Revocation::GitHubGrant { .. }) => Revocation::GitHubGrant { url },
            (Some(url), _) => Revocation::Rfc7009 { url },
        },
        Some(style) => {
            let url = url
                .or_else(|| spec.revocation.url().map(str::to_string))
                .ok_or_else(|| {
                    refused(
                        key,
                        "revocationUrl",
                        &["required for revocation '", style, "'"],
                    )
                })?;
            match style {
                "rfc7009" => Revocation::Rfc7009 { url },
                "google" => Revocation::Google { url },
                "github-grant" => Revocation::GitHubGrant { url },
                other => {
                    return Err(refused(
                        key,
                        "revocation",
                        &[
                            "'",
                            other,
                            "' is not one of rfc7009, google, github-grant, none",
                        ],
                    ))
                }
            }
        }
    };
    let kind = match &c.identity {
        Some(k) => Some(IdentityKind::parse(k).ok_or_else(|| {
            refused(
                key,
                "identity",
                &["'", k, "' is not one of oidc, spotify, discord, github"],
            )
        })?),
        None => None,
    };
    match (&c.userinfo_url, &mut spec.userinfo) {
        (Some(u), Some((url, k))) => {
            *url = url_field(u, key, "userinfoUrl")?;
            *k = kind.unwrap_or(*k);
        }
        (Some(u), None) => {
            spec.userinfo = Some((
                url_field(u, key, "userinfoUrl")?,
                kind.or(template_identity).unwrap_or(IdentityKind::Oidc),
            ))
        }
        (None, Some((_, k))) => *k = kind.unwrap_or(*k),
        (None, None) => {}
    }
    if let Some(s) = &c.scopes {
        spec.default_scopes = s.clone();
    }
    // Over the template's own (Google's offline access and consent): a key
    // given here replaces the template's value, and "" removes it.
    if let Some(p) = &c.auth_params {
        for (k, v) in p {
            spec.auth_params.retain(|(key, _)| key != k);
            if !v.is_empty() {
                spec.auth_params.push((k.clone(), v.clone()));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
