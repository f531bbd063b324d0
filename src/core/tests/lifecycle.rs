//! The connection lifecycle (core/lifecycle.rs): sign-ins that keep or lack a
//! refresh token, disconnect, the background sweep, expiry warnings and the
//! upkeep windows. The world and doubles are the parent module's.

use super::*;
use crate::core::revoke::RevokeOutcome;

#[test]
fn sign_in_without_refresh_token_keeps_the_stored_one() {
    let w = world("google");
    w.connect("google", 3600, Some("rt-first-consent"));
    w.connect("google", 3600, None);
    assert_eq!(
        w.stored_refresh_token("google").as_deref(),
        Some("rt-first-consent")
    );
}

#[test]
fn github_tokens_without_an_expiry_are_never_refreshed() {
    let w = world("github");
    w.sign_in(
        "github",
        InitialTokens {
            access_token: "gho_app_token".into(),
            ..Default::default()
        },
    );
    w.rt.advance(365 * 86_400_000);
    assert_eq!(
        w.get("github").unwrap().access_token.expose(),
        "gho_app_token"
    );
    assert_eq!(w.p.calls(), 0);
}

#[test]
fn github_app_tokens_from_a_sign_in_expire_in_eight_hours_and_are_refreshed() {
    // A Supabase sign-in with a GitHub App hands over its user token and
    // refresh token without their lifetimes; GitHub's user tokens with a
    // refresh token live 8 hours ("Refreshing user access tokens").
    let w = world("github");
    w.sign_in(
        "github",
        InitialTokens {
            access_token: "ghu_user_token".into(),
            refresh_token: Some("ghr_refresh".into()),
            ..Default::default()
        },
    );
    let row = w.store.row("user-1", "github").unwrap();
    assert_eq!(row.expires_at, Some(w.rt.now_ms() + 28_800_000));
    assert_eq!(
        w.get("github").unwrap().access_token.expose(),
        "ghu_user_token"
    );
    w.rt.advance(8 * 3_600_000);
    let t = w.get("github").unwrap();
    assert!(t.refreshed);
    assert_eq!(w.p.calls(), 1);
}

#[test]
fn disconnect_erases_tokens() {
    let w = world("google");
    w.connect("google", 3600, Some("rt-0"));
    w.rt.run(w.m.disconnect("user-1", "google")).unwrap();
    let row = w.store.row("user-1", "google").unwrap();
    assert_eq!(
        (row.access_token_sealed, row.refresh_token_sealed),
        (None, None)
    );
    assert_eq!(w.get("google").unwrap_err().code, Code::NotConnected);
}

#[test]
fn background_refresher_refreshes_only_what_is_due() {
    let w = world("google");
    w.connect("google", 600, Some("rt-0"));
    for (user, exp) in [("user-2", 100), ("user-3", 7200)] {
        w.rt.run(w.m.store_tokens(
            user,
            "google",
            InitialTokens {
                access_token: "x".into(),
                refresh_token: Some("r".into()),
                expires_in_secs: Some(exp),
                ..Default::default()
            },
        ))
        .unwrap();
    }
    let report = w.rt.run(w.m.refresh_expiring(15 * 60_000, 50)).unwrap();
    assert_eq!((report.checked, report.refreshed, report.failed), (2, 2, 0));
    assert_eq!(w.p.calls(), 2);
    let report = w.rt.run(w.m.refresh_expiring(15 * 60_000, 50)).unwrap();
    assert_eq!(report.checked, 0);
}

#[test]
fn a_grant_with_a_known_end_warns_reconnect_before_it_within_the_notice() {
    let w = world("google");
    // Google's refresh tokens for apps in testing mode last 7 days.
    w.sign_in(
        "google",
        InitialTokens {
            access_token: "at".into(),
            refresh_token: Some("rt".into()),
            expires_in_secs: Some(3600),
            refresh_token_expires_in_secs: Some(7 * 86_400),
            ..Default::default()
        },
    );
    let end = w.rt.now_ms() + 7 * 86_400_000;
    let status = || w.rt.run(w.m.status("user-1", "google")).unwrap();
    assert_eq!(status().warning, None, "four days' notice is not due yet");
    w.rt.advance(4 * 86_400_000 - 1);
    assert_eq!(status().warning, None);
    w.rt.advance(1);
    let warning = status().warning.expect("three days before the end");
    assert_eq!(warning.code, "REFRESH_TOKEN_EXPIRING");
    assert_eq!(warning.reconnect_before, end);
    assert!(warning
        .message
        .contains(&crate::core::time::format_rfc3339_ms(end)));
    // A dead grant says so in its status, not as a warning.
    let row = w.store.row("user-1", "google").unwrap();
    w.rt.run(w.store.record_failure(&crate::core::lifecycle::flag(
        &row,
        crate::core::status::Status::NeedsReauth,
        Code::ReauthRequired,
        "gone".into(),
        w.rt.now_ms(),
        1,
    )))
    .unwrap();
    assert_eq!(status().warning, None);
}

#[test]
fn upkeep_windows_default_and_configure_per_provider() {
    let w = world("google");
    let u = w.m.upkeep();
    assert_eq!(u.len(), 1);
    assert_eq!(
        (u[0].keep_alive_secs, u[0].refresh_token_warning_secs),
        (Some(30 * 86_400), 3 * 86_400)
    );
    let cfg = ManagerConfig::from_json(&format!(
        r#"{{"providers":{{"b":{{"clientId":"c","clientSecret":"s","tokenUrl":"http://127.0.0.1:1/t","keepAliveSeconds":0,"refreshTokenWarningSeconds":60}},
            "a":{{"clientId":"c","clientSecret":"s","tokenUrl":"http://127.0.0.1:1/t","keepAliveSeconds":86400}}}},
            "encryptionKeys":[{{"id":"k1","key":"{KEY}"}}]}}"#
    ))
    .unwrap();
    let m: M = Manager::new(cfg, w.p.clone(), w.store.clone(), w.rt.clone());
    let u = m.upkeep();
    assert_eq!(
        u.iter()
            .map(|x| (
                x.provider.as_str(),
                x.keep_alive_secs,
                x.refresh_token_warning_secs
            ))
            .collect::<Vec<_>>(),
        vec![("a", Some(86_400), 3 * 86_400), ("b", None, 60)]
    );
}

/// Hour-long tokens: `access`, with `refresh` if any.
fn grant(access: &str, refresh: Option<&str>) -> InitialTokens {
    InitialTokens {
        access_token: access.into(),
        refresh_token: refresh.map(str::to_string),
        expires_in_secs: Some(3600),
        ..Default::default()
    }
}

/// A sign-in's tokens with a scope and no refresh token (Google's on a
/// later consent): the stored refresh token is kept.
fn scoped_sign_in() -> InitialTokens {
    InitialTokens {
        access_token: "at-sign-in".into(),
        expires_in_secs: Some(3600),
        scope: Some("calendar".into()),
        ..Default::default()
    }
}

#[test]
fn a_sign_in_without_a_refresh_token_keeps_one_rotated_while_it_was_saved() {
    // A sign-in with a scope but no refresh token reads the row, then saves;
    // a refresh that rotates the refresh token lands in between: the rotated
    // one must stay (the one read is spent at a rotating provider).
    let w = world("google");
    w.connect("google", 3600, Some("rt-rotated"));
    let rotated = w
        .store
        .row("user-1", "google")
        .unwrap()
        .refresh_token_sealed;
    w.connect("google", 3600, Some("rt-0"));
    w.store
        .before_next_save(move |row| row.refresh_token_sealed = rotated);
    w.sign_in("google", scoped_sign_in());
    assert_eq!(
        w.stored_refresh_token("google").as_deref(),
        Some("rt-rotated")
    );
    assert_eq!(w.get("google").unwrap().access_token.expose(), "at-sign-in");
}

#[test]
fn a_sign_in_without_a_refresh_token_does_not_bring_back_one_erased_while_it_was_saved() {
    // The refresh token is erased between the sign-in's read and its write
    // (invalid_grant, a disconnect): the copy read before is dead and must
    // not come back as `connected`.
    let w = world("google");
    w.connect("google", 3600, Some("rt-0"));
    w.store
        .before_next_save(|row| row.refresh_token_sealed = None);
    w.sign_in("google", scoped_sign_in());
    assert_eq!(w.stored_refresh_token("google"), None);
}

/// GitHub answers its grant deletion with 404 both for a token it no longer
/// knows and for an app whose client id or secret it refused. The token
/// tells them apart: one that still works means the grant stands.
#[test]
fn a_github_404_is_revoked_only_when_the_token_no_longer_works() {
    for (probe, revoked) in [(200, false), (401, true), (503, false)] {
        // GitHub's own endpoints (the transport is scripted).
        let w = world("github");
        let cfg = ManagerConfig::from_json(&format!(
            r#"{{"providers":{{"github":{{"clientId":"cid","clientSecret":"csecret"}}}},
                "encryptionKeys":[{{"id":"k1","key":"{KEY}"}}]}}"#
        ))
        .unwrap();
        let w = World {
            m: Manager::new(cfg, w.p.clone(), w.store.clone(), w.rt.clone()),
            ..w
        };
        w.sign_in(
            "github",
            InitialTokens {
                access_token: "gho_app_token".into(),
                ..Default::default()
            },
        );
        w.p.push(Reply::Http(HttpResponse::json(
            404,
            &serde_json::json!({"message": "Not Found"}),
        )));
        w.p.push(Reply::Http(HttpResponse::json(
            probe,
            &serde_json::json!({"id": 1, "login": "octo"}),
        )));
        let report = w.rt.run(w.m.disconnect("user-1", "github")).unwrap();
        let probe_req = w.p.requests.borrow().last().unwrap().clone();
        assert_eq!(probe_req.url, "https://api.github.com/user");
        assert_eq!(
            probe_req.header("authorization"),
            Some("Bearer gho_app_token")
        );
        match (&report.revocation, revoked) {
            (RevokeOutcome::Revoked, true) => {}
            (RevokeOutcome::Failed(e), false) => {
                let want = if probe == 200 {
                    Code::InvalidClient
                } else {
                    Code::ProviderUnavailable
                };
                assert_eq!(e.code, want, "probe {probe}");
                assert!(!e.message.contains("gho_"), "no token in the message");
            }
            (other, _) => panic!("probe {probe}: {other:?}"),
        }
        assert_eq!(
            w.get("github").unwrap_err().code,
            Code::NotConnected,
            "erased either way"
        );
    }
}

/// A server that issues tokens shorter-lived than the margin (two minutes,
/// against Google's five): each token is used for half its life and
/// refreshed once per expiry, not at every call. A validity the caller asks
/// for is kept as asked.
#[test]
fn tokens_shorter_lived_than_the_margin_are_refreshed_once_per_expiry() {
    let w = world("google");
    w.sign_in(
        "google",
        InitialTokens {
            access_token: "at-short".into(),
            refresh_token: Some("rt-0".into()),
            expires_at_ms: Some(w.rt.now_ms() + 120_000),
            ..Default::default()
        },
    );
    for _ in 0..5 {
        assert_eq!(w.get("google").unwrap().access_token.expose(), "at-short");
    }
    assert_eq!(w.p.calls(), 0, "a fresh two-minute token is used");
    w.rt.advance(60_000);
    w.p.push(Reply::Http(HttpResponse::json(
        200,
        &serde_json::json!({"access_token": "at-next", "expires_in": 120, "token_type": "Bearer"}),
    )));
    assert_eq!(w.get("google").unwrap().access_token.expose(), "at-next");
    for _ in 0..5 {
        assert_eq!(w.get("google").unwrap().access_token.expose(), "at-next");
    }
    assert_eq!(w.p.calls(), 1, "one refresh for that expiry");
    let asked = w.rt.run(w.m.get_valid_token(
        "user-1",
        "google",
        GetOptions {
            min_validity_ms: Some(300_000),
            ..Default::default()
        },
    ));
    assert!(
        asked.unwrap().refreshed,
        "five minutes asked of a two-minute token: a refresh"
    );
}

/// A sign-in's access token alone (no refresh token), expired since: only a
/// new consent brings another, and the status says so before any call.
#[test]
fn an_expired_token_with_no_refresh_token_needs_a_new_consent() {
    let w = world("google");
    w.connect("google", 600, None);
    assert_eq!(
        w.rt.run(w.m.status("user-1", "google")).unwrap().status,
        "connected"
    );
    w.rt.advance(601_000);
    let st = w.rt.run(w.m.status("user-1", "google")).unwrap();
    assert_eq!(
        (st.status.as_str(), st.requires_reauth),
        ("needs_reauth", true)
    );
    // With a refresh token, an expired token is the refresher's to renew.
    let w = world("google");
    w.connect("google", 600, Some("rt-0"));
    w.rt.advance(601_000);
    assert_eq!(
        w.rt.run(w.m.status("user-1", "google")).unwrap().status,
        "connected"
    );
}

#[test]
fn the_same_sign_in_sent_again_does_not_undo_a_rotation_or_a_disconnect() {
    // A client whose first try got no answer (the request may have landed)
    // sends the same sign-in's tokens again, maybe after a refresh rotated
    // the refresh token: written again, the dead one would replace it.
    let w = world("google");
    w.p.rotate.set(true);
    let signin = || grant("at-signin", Some("rt-signin"));
    w.sign_in("google", signin());
    w.rt.advance(3_600_000);
    assert!(w.get("google").unwrap().refreshed);
    let rotated = w.stored_refresh_token("google").unwrap();
    assert_ne!(rotated, "rt-signin");
    let version = w.store.row("user-1", "google").unwrap().version;
    let report = w.sign_in("google", signin());
    assert_eq!(report.status, "connected");
    assert_eq!(w.stored_refresh_token("google").unwrap(), rotated);
    let row = w.store.row("user-1", "google").unwrap();
    assert_eq!(row.version, version, "nothing written");
    assert_ne!(w.get("google").unwrap().access_token.expose(), "at-signin");
    // Nor does it connect again what the user disconnected.
    w.rt.run(w.m.disconnect("user-1", "google")).unwrap();
    assert_eq!(w.sign_in("google", signin()).status, "disconnected");
    assert_eq!(w.get("google").unwrap_err().code, Code::NotConnected);
    // A new sign-in (its own access token) is stored.
    let report = w.sign_in("google", grant("at-next", Some("rt-next")));
    assert_eq!(report.status, "connected");
    assert_eq!(w.stored_refresh_token("google").unwrap(), "rt-next");
    // A connect's newer grant is not replaced by that sign-in resent.
    w.rt.run(w.m.save_grant(
        "user-1",
        "google",
        grant("at-connect", Some("rt-connect")),
        "connected",
    ))
    .unwrap();
    w.sign_in("google", grant("at-next", Some("rt-next")));
    assert_eq!(w.stored_refresh_token("google").unwrap(), "rt-connect");
}

#[test]
fn the_same_access_token_with_the_refresh_token_the_first_store_lacked_is_written() {
    let w = world("google");
    let tokens = |refresh| grant("at-alone", refresh);
    w.sign_in("google", tokens(None));
    assert_eq!(w.stored_refresh_token("google"), None);
    w.sign_in("google", tokens(Some("rt-late")));
    assert_eq!(w.stored_refresh_token("google").as_deref(), Some("rt-late"));
}

#[test]
fn a_lease_a_sign_in_kept_is_released_when_its_holder_fails() {
    // The holder refreshes (its provider failing); a sign-in without a
    // refresh token lands meanwhile and keeps the holder's lease; the
    // holder's failure record writes nothing (the version moved), and the
    // lease must still be freed, not left until it expires.
    let w = world("google");
    w.connect("google", -1, Some("rt-0"));
    w.p.latency_ms.set(300);
    for _ in 0..5 {
        w.p.push(Reply::Http(HttpResponse::json(
            400,
            &json!({"error": "invalid_request"}),
        )));
    }
    let got = w.get_while_signing_in(
        "google",
        GetOptions {
            force: true,
            ..Default::default()
        },
        scoped_sign_in(),
    );
    assert!(got.is_err());
    let row = w.store.row("user-1", "google").unwrap();
    assert_eq!(row.lease_owner, None, "the holder's lease was released");
}

/// A sleep of `ms` on the test clock.
fn after_ms(rt: &Rt, ms: i64) -> crate::core::testkit::Sleep {
    crate::core::testkit::Sleep {
        rt: rt.clone(),
        until: rt.now_ms() + ms,
    }
}

/// user-1's Discord connection (RFC 7009 revocation, refresh tokens that
/// rotate) just expired, a provider taking 300 ms: one instance.
fn rotating_discord() -> (Rt, Provider, MemoryStore, M) {
    let rt = Rt::new();
    let p = Provider {
        clock: Some(rt.clone()),
        ..Default::default()
    };
    p.latency_ms.set(300);
    p.rotate.set(true);
    let cfg = ManagerConfig::from_json(&format!(
        r#"{{"providers":{{"discord":{{"clientId":"cid","clientSecret":"cs",
            "tokenUrl":"http://127.0.0.1:1/token","revocation":"rfc7009",
            "revocationUrl":"http://127.0.0.1:1/revoke"}}}},
            "encryptionKeys":[{{"id":"k1","key":"{KEY}"}}]}}"#
    ))
    .unwrap();
    let store = MemoryStore::new();
    let m: M = Manager::new(cfg, p.clone(), store.clone(), rt.clone());
    rt.run(m.store_tokens(
        "user-1",
        "discord",
        InitialTokens {
            access_token: "at-0".into(),
            refresh_token: Some("rt-0".into()),
            expires_in_secs: Some(0),
            ..Default::default()
        },
    ))
    .unwrap();
    rt.advance(1);
    (rt, p, store, m)
}

#[test]
fn a_refresh_that_lands_after_a_disconnect_revokes_its_new_tokens_and_hands_out_none() {
    // A single-use refresh token spent by the refresh before the disconnect
    // revoked it: the disconnect's revocation may miss the new grant, which
    // the refresh must not hand out (nor leave standing, where it can help).
    let (rt, p, store, m) = rotating_discord();
    let disconnect_meanwhile = async {
        after_ms(&rt, 50).await;
        store
            .disconnect("user-1", "discord", rt.now_ms())
            .await
            .unwrap();
    };
    let (got, ()) = rt.run(futures_util::future::join(
        m.get_valid_token("user-1", "discord", GetOptions::default()),
        disconnect_meanwhile,
    ));
    assert_eq!(got.unwrap_err().code, Code::NotConnected);
    assert_eq!(p.calls(), 2, "the refresh, then the revocation");
    let revoke = p.requests.borrow().last().unwrap().clone();
    assert!(revoke.url.ends_with("/revoke"), "{}", revoke.url);
    assert!(revoke.body.contains("rt-1"), "the new refresh token");
    let row = store.row("user-1", "discord").unwrap();
    assert_eq!(row.status, "disconnected");
    assert_eq!(row.refresh_token_sealed, None);
    assert!(store
        .events()
        .iter()
        .any(|e| e.kind == "revoked_after_disconnect"));
}

#[test]
fn a_refresh_answered_without_expires_in_keeps_the_last_lifetime() {
    // expires_in is only RECOMMENDED (RFC 6749 §5.1): a server that gave the
    // last token an hour and says nothing this time. Taken as never
    // expiring, the new token would be served long after it died.
    let w = world("my-idp");
    w.connect("my-idp", -1, Some("rt-0"));
    w.p.push_json(
        200,
        json!({"access_token": "at-next", "token_type": "Bearer"}),
    );
    assert!(w.get("my-idp").unwrap().refreshed);
    let row = w.store.row("user-1", "my-idp").unwrap();
    assert_eq!(row.expires_at, Some(w.rt.now_ms() + 3_600_000));
    w.rt.advance(3_600_000);
    let t = w.get("my-idp").unwrap();
    assert!(t.refreshed, "refreshed again when that lifetime ends");
    assert_eq!(w.p.calls(), 2);
}

/// A first-consent sign-in (`first`, with the grant's refresh token) lands
/// between a second sign-in's read (no row yet) and its write (`second`,
/// no refresh token): the refresh token the row holds afterwards.
fn two_sign_ins_at_once(first: InitialTokens, second: InitialTokens) -> Option<String> {
    // The first one's row, as it lands: written by another instance with
    // the same keys.
    let other = world("google");
    other.sign_in("google", first);
    let landed = other.store.row("user-1", "google").unwrap();
    let w = world("google");
    w.store.before_next_save(move |row| *row = landed);
    w.sign_in("google", second);
    w.stored_refresh_token("google")
}

fn account(id: &str) -> Option<crate::core::identity::Account> {
    Some(crate::core::identity::Account {
        id: id.into(),
        email: None,
        name: None,
    })
}

#[test]
fn a_sign_in_keeps_the_refresh_token_another_sign_in_brought_meanwhile() {
    let first = || InitialTokens {
        access_token: "at-first".into(),
        refresh_token: Some("rt-first-consent".into()),
        account: account("acct-a"),
        ..Default::default()
    };
    // The same account (or one not read): the grant's only refresh token stays.
    for second in [account("acct-a"), None] {
        let kept = two_sign_ins_at_once(
            first(),
            InitialTokens {
                access_token: "at-second".into(),
                account: second,
                ..Default::default()
            },
        );
        assert_eq!(kept.as_deref(), Some("rt-first-consent"));
    }
    // Another account's refresh token is another grant's: not kept.
    let kept = two_sign_ins_at_once(
        first(),
        InitialTokens {
            access_token: "at-second".into(),
            account: account("acct-b"),
            ..Default::default()
        },
    );
    assert_eq!(kept, None);
}

/// A disconnect 50 ms into a refresh of the rotating Discord connection
/// (`rotate`: whether the refresh brings a new refresh token): the store,
/// the disconnect's report and the bodies of the revocations sent.
fn disconnect_during_a_refresh(
    rotate: bool,
) -> (
    MemoryStore,
    crate::core::connect::DisconnectReport,
    Vec<String>,
) {
    let (rt, p, store, m) = rotating_discord();
    p.rotate.set(rotate);
    let disconnect_meanwhile = async {
        after_ms(&rt, 50).await;
        m.disconnect("user-1", "discord").await.unwrap()
    };
    let (_, report) = rt.run(futures_util::future::join(
        m.get_valid_token("user-1", "discord", GetOptions::default()),
        disconnect_meanwhile,
    ));
    let revoked = p
        .requests
        .borrow()
        .iter()
        .filter(|r| r.url.ends_with("/revoke"))
        .map(|r| r.body.clone())
        .collect();
    (store, report, revoked)
}

#[test]
fn a_disconnect_revokes_the_refresh_token_a_refresh_rotated_while_it_revoked() {
    // The disconnect revokes rt-0 while a refresh spends it and commits
    // rt-1: the server answers 200 for the spent token (RFC 7009 §2.2) and
    // revokes nothing, so rt-1 is revoked too before the row is erased.
    let (store, report, revoked) = disconnect_during_a_refresh(true);
    assert_eq!(revoked.len(), 2, "{revoked:?}");
    assert!(revoked[0].contains("token=rt-0"), "{}", revoked[0]);
    assert!(revoked[1].contains("token=rt-1"), "{}", revoked[1]);
    assert_eq!(report.revocation.as_str(), "revoked");
    let row = store.row("user-1", "discord").unwrap();
    assert_eq!(
        (row.status.as_str(), row.refresh_token_sealed),
        ("disconnected", None)
    );
}

#[test]
fn a_disconnect_does_not_revoke_again_after_a_refresh_that_kept_the_refresh_token() {
    // The same refresh token, sealed anew by the refresh: one revocation.
    let (_, report, revoked) = disconnect_during_a_refresh(false);
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    assert_eq!(report.revocation.as_str(), "revoked");
}
