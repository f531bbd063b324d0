//! Provider templates and configuration: endpoints, client auth, rotation and
//! the connect and upkeep settings, as data.

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
    // With PKCE a Spotify refresh token refreshes once: no blind resend.
    assert_eq!(sp.spec.rotation, Rotation::SingleUse);
    let d = Provider::from_config("discord", &cfg("a", "b")).unwrap();
    assert_eq!(d.spec.rotation, Rotation::SingleUse);
    let gh = Provider::from_config("github", &cfg("a", "b")).unwrap();
    assert_eq!(gh.spec.scope_separator, ',');
    assert_eq!(gh.spec.rotation, Rotation::SingleUse);
    assert!(matches!(gh.spec.revocation, Revocation::GitHubGrant { .. }));
    let gha = Provider::from_config("github-app", &cfg("a", "b")).unwrap();
    assert_eq!(gha.spec.token_url, gh.spec.token_url);
    let sp = Provider::from_config("spotify", &cfg("a", "b")).unwrap();
    assert_eq!(
        sp.spec.revocation,
        Revocation::None,
        "Spotify has no revocation endpoint"
    );
    assert!(matches!(d.spec.revocation, Revocation::Rfc7009 { .. }));
    let g = Provider::from_config("google", &cfg("a", "b")).unwrap();
    assert!(g
        .spec
        .auth_params
        .contains(&("access_type".into(), "offline".into())));
    assert!(g
        .spec
        .default_scopes
        .iter()
        .any(|s| s.ends_with("calendar.events")));
    for g in ["google", "gmail", "youtube", "google-calendar"] {
        let p = Provider::from_config(g, &cfg("a", "b")).unwrap();
        assert_eq!(p.spec.token_url, GOOGLE_TOKEN_URL);
        assert_eq!(p.spec.id, g);
    }
}

#[test]
fn auth_params_go_over_the_templates_own() {
    let with = |params: &[(&str, &str)]| {
        let c = ProviderConfig {
            auth_params: Some(
                params
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..cfg("a", "b")
        };
        Provider::from_config("google", &c)
            .unwrap()
            .spec
            .auth_params
    };
    let has = |p: &[(String, String)], k: &str, v: &str| p.iter().any(|(a, b)| a == k && b == v);
    // An extra parameter keeps Google's offline access: without it no refresh token comes back.
    let p = with(&[("hd", "example.com")]);
    assert!(has(&p, "hd", "example.com"));
    assert!(has(&p, "access_type", "offline"));
    assert!(has(&p, "prompt", "consent"));
    // A template key given again is replaced, not doubled; "" removes it.
    let p = with(&[
        ("prompt", "select_account consent"),
        ("include_granted_scopes", ""),
    ]);
    assert!(has(&p, "prompt", "select_account consent"));
    assert_eq!(p.iter().filter(|(k, _)| k == "prompt").count(), 1);
    assert!(!p.iter().any(|(k, _)| k == "include_granted_scopes"));
    assert!(has(&p, "access_type", "offline"));
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
fn endpoints_follow_the_token_url_and_keep_the_templates_styles() {
    let emulated = |extra: ProviderConfig| {
        Provider::from_config(
            "github",
            &ProviderConfig {
                token_url: Some("http://127.0.0.1:9/github/login/oauth/access_token".into()),
                ..extra
            },
        )
        .unwrap()
    };
    // Only the token URL overridden: no call may reach the real GitHub.
    let p = emulated(cfg("a", "b"));
    assert_eq!(p.spec.auth_url, None);
    assert_eq!(p.spec.revocation, Revocation::None);
    assert_eq!(p.spec.userinfo, None);
    // URLs configured too: GitHub's own styles, at the configured URLs.
    let p = emulated(ProviderConfig {
        revocation_url: Some("http://127.0.0.1:9/github/api/applications/{client_id}/grant".into()),
        userinfo_url: Some("http://127.0.0.1:9/github/api/user".into()),
        ..cfg("a", "b")
    });
    assert!(
        matches!(p.spec.revocation, Revocation::GitHubGrant { ref url } if url.starts_with("http://127.0.0.1:9/"))
    );
    assert_eq!(
        p.spec.userinfo,
        Some((
            "http://127.0.0.1:9/github/api/user".into(),
            IdentityKind::GitHub
        ))
    );
    // A template left alone keeps its real endpoints.
    let real = Provider::from_config("discord", &cfg("a", "b")).unwrap();
    assert!(real
        .spec
        .revocation
        .url()
        .unwrap()
        .starts_with("https://discord.com/"));
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

#[test]
fn urls_with_whitespace_or_control_characters_are_refused() {
    for url in ["https://idp.example/token", "http://127.0.0.1:9/token"] {
        assert!(valid_url(url), "{url}");
    }
    for url in [
        "https://",
        "ftp://idp.example/token",
        "https://idp.example/to ken",
        "https://idp.example/token\n",
        "https://idp.example/\ttoken",
        "https://idp.example/tok\u{7f}en",
        "https://idp.example/tok\u{0}en",
    ] {
        assert!(!valid_url(url), "{url:?}");
    }
    let mut c = cfg("a", "b");
    c.token_url = Some("https://idp.example/t\u{1b}oken".into());
    assert_eq!(
        Provider::from_config("idp", &c).unwrap_err().message,
        "providers.idp.tokenUrl: must be an http(s) URL"
    );
}
