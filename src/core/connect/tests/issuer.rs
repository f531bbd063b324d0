//! The callback against mix-ups (RFC 9700 §4.4): the response's `iss` (RFC 9207)
//! checked against the issuer of the provider the state was issued for.

use super::*;

/// A world with a provider whose issuer is known (Google's, built in), one
/// configured with its own (`my-idp`), and one without (`spotify`).
fn issuer_world() -> (M, Server, MemoryStore, Rt) {
    let cfg = ManagerConfig::from_json(&format!(
        r#"{{"providers":{{
            "google":{{"clientId":"cid","clientSecret":"cs"}},
            "spotify":{{"clientId":"sid","clientSecret":"ss"}},
            "my-idp":{{"clientId":"mid","clientSecret":"ms","tokenUrl":"https://idp.example/token",
                       "authUrl":"https://idp.example/authorize","issuer":"https://idp.example"}},
            "strict-idp":{{"clientId":"sid","clientSecret":"ss","tokenUrl":"https://strict.example/token",
                       "authUrl":"https://strict.example/authorize","issuer":"https://strict.example",
                       "issuerRequired":true}}}},
          "encryptionKeys":[{{"id":"k1","key":"{KEY}"}}]}}"#
    ))
    .unwrap();
    let (rt, server, store) = (Rt::new(), Server::default(), MemoryStore::new());
    let m = Manager::new(cfg, server.clone(), store.clone(), rt.clone());
    (m, server, store, rt)
}

/// Begin a connect to `provider` and come back with `iss`: the ticket, or the error.
fn callback_with_iss(provider: &str, iss: Option<&str>) -> std::result::Result<String, Error> {
    let (m, s, _, rt) = issuer_world();
    let start = rt.run(m.begin_connect("u1", provider, opts())).unwrap();
    let state = s.approve(&start.authorization_url, "code-1");
    let cb = rt
        .run(m.connect_callback(&state, Some("code-1"), None, iss))
        .unwrap();
    assert_eq!(cb.return_to, RETURN);
    match (cb.ticket, cb.error) {
        (Some(t), None) => Ok(t),
        (None, Some(e)) => Err(e),
        other => panic!("a ticket or an error: {other:?}"),
    }
}

#[test]
fn an_answer_from_another_authorization_server_is_refused_at_the_callback() {
    // RFC 9207 §2.4: the iss of the server this connect went to, or none.
    assert!(callback_with_iss("google", Some("https://accounts.google.com")).is_ok());
    assert!(callback_with_iss("google", None).is_ok(), "iss is optional");
    assert!(callback_with_iss("my-idp", Some("https://idp.example")).is_ok());
    // The mix-up (RFC 9700 §4.4): a Spotify connect whose state came back
    // from Google (a malicious server sent the victim there with it) would
    // send Google's code to Spotify; and an answer naming another server.
    for (provider, iss) in [
        ("spotify", "https://accounts.google.com"),
        ("spotify", "https://idp.example"),
        ("google", "https://idp.example"),
        ("my-idp", "https://accounts.google.com"),
        ("google", "https://accounts.google.com/"),
        (
            "google",
            "https://accounts.google.com https://accounts.google.com",
        ),
    ] {
        let e = callback_with_iss(provider, Some(iss)).unwrap_err();
        assert_eq!(
            e.code,
            Code::ConnectStateInvalid,
            "{provider} answered by {iss}"
        );
        assert!(e.message.contains("another authorization server"));
    }
    // A provider whose issuer is not known: an unknown iss is no evidence.
    assert!(callback_with_iss("spotify", Some("https://accounts.spotify.com")).is_ok());
}

#[test]
fn a_server_that_always_sends_iss_is_refused_an_answer_without_it() {
    // RFC 9207 §2.4: a client MUST reject a response without iss from a
    // server whose metadata says it sends one (issuerRequired).
    assert!(callback_with_iss("strict-idp", Some("https://strict.example")).is_ok());
    let e = callback_with_iss("strict-idp", None).unwrap_err();
    assert_eq!(e.code, Code::ConnectStateInvalid);
    assert!(e.message.contains("(iss)"), "{}", e.message);
    assert!(callback_with_iss("strict-idp", Some("https://idp.example")).is_err());
    // Others still may leave it out (the parameter is optional for them).
    assert!(callback_with_iss("my-idp", None).is_ok());
    // An error answer without iss is refused as well: it could be another
    // server's, and its error is not this provider's word.
    let (m, _, _, rt) = issuer_world();
    let start = rt.run(m.begin_connect("u1", "strict-idp", opts())).unwrap();
    let state = query(&start.authorization_url)["state"].clone();
    let cb = rt
        .run(m.connect_callback(&state, None, Some("access_denied"), None))
        .unwrap();
    assert_eq!(cb.error.unwrap().code, Code::ConnectStateInvalid);
    // Required with no issuer to compare is a configuration error.
    let bad = ManagerConfig::from_json(&format!(
        r#"{{"providers":{{"x":{{"clientId":"m","clientSecret":"s","tokenUrl":"https://x.example/token","issuerRequired":true}}}},
          "encryptionKeys":[{{"id":"k1","key":"{KEY}"}}]}}"#
    ))
    .err()
    .unwrap();
    assert_eq!(bad.code, Code::Config);
    assert!(
        bad.message.starts_with("providers.x.issuerRequired: needs"),
        "{}",
        bad.message
    );
}

#[test]
fn a_refused_callback_leaves_nothing_to_complete() {
    let (m, s, store, rt) = issuer_world();
    let start = rt.run(m.begin_connect("u1", "spotify", opts())).unwrap();
    let state = s.approve(&start.authorization_url, "code-1");
    let cb = rt
        .run(m.connect_callback(
            &state,
            Some("code-1"),
            None,
            Some("https://accounts.google.com"),
        ))
        .unwrap();
    assert_eq!(cb.ticket, None);
    // The state is spent: the attacker's replay of it is refused too.
    let replay = rt
        .run(m.connect_callback(&state, Some("code-1"), None, None))
        .unwrap();
    assert_eq!(replay.ticket, None);
    assert!(store.row("u1", "spotify").is_none());
    assert!(
        s.last("/token").is_none(),
        "no code went to any token endpoint"
    );
}

#[test]
fn issuers_come_from_the_template_or_the_configuration() {
    let (m, ..) = issuer_world();
    let issuer = |id: &str| m.provider(id).unwrap().spec.issuer.clone();
    assert_eq!(
        issuer("google").as_deref(),
        Some("https://accounts.google.com")
    );
    assert_eq!(issuer("my-idp").as_deref(), Some("https://idp.example"));
    assert_eq!(issuer("spotify"), None);
    let bad = ManagerConfig::from_json(&format!(
        r#"{{"providers":{{"my-idp":{{"clientId":"m","clientSecret":"s","tokenUrl":"https://idp.example/token","issuer":"idp.example"}}}},
          "encryptionKeys":[{{"id":"k1","key":"{KEY}"}}]}}"#
    ))
    .err()
    .unwrap();
    assert!(
        bad.message.contains("providers.my-idp.issuer"),
        "{}",
        bad.message
    );
    // A Google token URL pointed elsewhere (an emulator) drops Google's
    // issuer with its other endpoints, unless configured.
    let emulated = ManagerConfig::from_json(&format!(
        r#"{{"providers":{{"google":{{"clientId":"c","clientSecret":"s","tokenUrl":"http://127.0.0.1:9/token"}},
                         "gmail":{{"clientId":"c","clientSecret":"s","tokenUrl":"http://127.0.0.1:9/token","issuer":"http://127.0.0.1:9"}}}},
          "encryptionKeys":[{{"id":"k1","key":"{KEY}"}}]}}"#
    ))
    .unwrap();
    assert_eq!(emulated.providers.get("google").unwrap().spec.issuer, None);
    assert_eq!(
        emulated
            .providers
            .get("gmail")
            .unwrap()
            .spec
            .issuer
            .as_deref(),
        Some("http://127.0.0.1:9")
    );
}
