//! Rotation and saving: a rotated refresh token is stored and sent next, a
//! refused answer's new one is kept, a failed store write is retried or held
//! and said, and a refresh's failure never lands on tokens saved meanwhile.
//! The world and doubles are the parent module's.

use super::*;

#[test]
fn rotated_refresh_token_is_persisted_and_used_next_time() {
    let w = world("discord");
    w.p.rotate.set(true);
    w.connect("discord", -1, Some("rt-0"));
    w.get("discord").unwrap();
    assert_eq!(w.stored_refresh_token("discord").as_deref(), Some("rt-1"));
    w.rt.advance(3_600_000);
    assert_eq!(w.get("discord").unwrap().access_token.expose(), "at-2");
    assert!(
        w.p.last_body().contains("refresh_token=rt-1"),
        "the rotated token is the one sent"
    );
    assert_eq!(w.stored_refresh_token("discord").as_deref(), Some("rt-2"));
    let ev = w.rt.events.borrow();
    assert!(ev
        .iter()
        .any(|e| e.kind == "refreshed" && e.rotated == Some(true)));
}

#[test]
fn a_refused_answer_keeps_the_new_refresh_token_it_carried() {
    // Strictly refused (expires_in must be a number), but the server rotated:
    // the token it was sent is spent, so the new one is stored, not lost.
    let w = world("discord");
    w.connect("discord", -1, Some("rt-0"));
    w.p.push(Reply::Http(HttpResponse::json(
        200,
        &json!({"access_token":"at-x","token_type":"Bearer","expires_in":"3600","refresh_token":"rt-new"}),
    )));
    let e = w.get("discord").unwrap_err();
    assert_eq!(e.code, Code::BadProviderResponse);
    assert_eq!(w.p.calls(), 1, "not sent again with the spent token");
    assert_eq!(w.stored_refresh_token("discord").as_deref(), Some("rt-new"));
    let row = w.store.row("user-1", "discord").unwrap();
    assert_eq!(
        row.last_error_code.as_deref(),
        Some("BAD_PROVIDER_RESPONSE")
    );
    assert!(w
        .rt
        .events
        .borrow()
        .iter()
        .any(|e| e.kind == "rotation_kept"));
    // After the cooldown the next refresh sends the new token.
    w.rt.advance(row.cooldown_until.unwrap() - w.rt.now_ms());
    assert!(w.get("discord").is_ok());
    assert!(w.p.last_body().contains("refresh_token=rt-new"));
    // An error answer's refresh_token, or the same token echoed back, is not a rotation.
    let w = world("discord");
    w.connect("discord", -1, Some("rt-0"));
    w.p.push(Reply::Http(HttpResponse::json(
        200,
        &json!({"error":"invalid_grant","refresh_token":"rt-new"}),
    )));
    assert!(w.get("discord").is_err());
    assert_eq!(
        w.stored_refresh_token("discord"),
        None,
        "a dead grant's token is erased"
    );
}

#[test]
fn a_refused_answers_new_refresh_token_survives_a_failed_store_write() {
    // The refused answer rotated (its token was spent) and the store failed
    // as the new one was kept: it is held and saved at the next call, and
    // the next refresh sends it, not the spent one.
    let w = world("discord");
    w.connect("discord", -1, Some("rt-0"));
    w.p.push(Reply::Http(HttpResponse::json(
        200,
        &json!({"access_token":"at-x","token_type":"Bearer","expires_in":"3600","refresh_token":"rt-new"}),
    )));
    w.store.fail_next_commits(1);
    assert!(w.get("discord").is_err());
    assert_eq!(w.stored_refresh_token("discord").as_deref(), Some("rt-0"));
    w.rt.advance(86_400_000);
    w.get("discord").unwrap();
    assert!(
        w.p.last_body().contains("refresh_token=rt-new"),
        "{}",
        w.p.last_body()
    );
}

#[test]
fn store_write_failing_after_rotation_is_retried() {
    let w = world("discord");
    w.p.rotate.set(true);
    w.connect("discord", -1, Some("rt-0"));
    let commits_before = w.store.commit_calls();
    w.store.fail_next_commits(2);
    let t = w.get("discord").unwrap();
    assert_eq!(t.access_token.expose(), "at-1");
    assert_eq!(w.store.commit_calls() - commits_before, 3);
    assert_eq!(w.stored_refresh_token("discord").as_deref(), Some("rt-1"));
    assert_eq!(w.p.calls(), 1);
}

#[test]
fn store_write_failing_for_good_after_rotation_is_never_silent() {
    let w = world("discord");
    w.p.rotate.set(true);
    w.connect("discord", -1, Some("rt-0"));
    w.store.fail_next_commits(3);
    let e = w.get("discord").unwrap_err();
    assert_eq!(e.code, Code::RotationNotSaved);
    let row = w.store.row("user-1", "discord").unwrap();
    assert_eq!(row.status, "error");
    assert_eq!(row.last_error_code.as_deref(), Some("ROTATION_NOT_SAVED"));
    // The store's own words (a driver's message can name its host) stay out of
    // what is recorded on the row and in events, which the user can read.
    let driver = "injected write failure";
    assert!(!row.last_error_message.unwrap().contains(driver));
    assert!(w
        .store
        .events()
        .iter()
        .all(|e| !e.message.as_deref().unwrap_or("").contains(driver)));
    assert!(
        row.cooldown_until.unwrap() > w.rt.now_ms(),
        "other instances must not refresh with the dead token"
    );
    assert!(w
        .rt
        .events
        .borrow()
        .iter()
        .any(|e| e.kind == "rotation_not_saved"));
    assert!(w
        .store
        .events()
        .iter()
        .any(|e| e.kind == "rotation_not_saved"));
    // The store recovers: the next call saves the held token, with no provider call.
    let t = w.get("discord").unwrap();
    assert_eq!(t.access_token.expose(), "at-1");
    assert_eq!(w.p.calls(), 1);
    assert_eq!(w.stored_refresh_token("discord").as_deref(), Some("rt-1"));
    assert_eq!(
        w.store.row("user-1", "discord").unwrap().status,
        "connected"
    );
    assert!(w
        .rt
        .events
        .borrow()
        .iter()
        .any(|e| e.kind == "rotation_saved_late"));
}

#[test]
fn a_failed_refresh_does_not_land_on_tokens_saved_meanwhile() {
    // The provider says invalid_grant for rt-0 while the user reconnects: the
    // failure is rt-0's, not the new grant's, whose refresh token must stay.
    let w = world("google");
    w.connect("google", -1, Some("rt-0"));
    w.p.latency_yields.set(20);
    w.p.push(Reply::Http(HttpResponse::json(
        400,
        &json!({"error": "invalid_grant"}),
    )));
    let (failed, ()) = w.rt.run(futures_util::future::join(
        w.m.get_valid_token("user-1", "google", GetOptions::default()),
        async {
            for _ in 0..5 {
                YieldNow(false).await;
            }
            w.m.store_tokens(
                "user-1",
                "google",
                InitialTokens {
                    access_token: "at-reconnected".into(),
                    refresh_token: Some("rt-new".into()),
                    expires_at_ms: Some(w.rt.now_ms() + 3_600_000),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        },
    ));
    assert_eq!(failed.unwrap_err().code, Code::ReauthRequired);
    assert_eq!(w.stored_refresh_token("google").as_deref(), Some("rt-new"));
    let row = w.store.row("user-1", "google").unwrap();
    assert_eq!(row.status, "connected");
    assert_eq!(row.last_error_code, None);
    assert_eq!(
        w.get("google").unwrap().access_token.expose(),
        "at-reconnected"
    );
}

#[test]
fn a_store_failing_without_rotation_is_recorded_without_the_stores_words() {
    let w = world("discord");
    w.connect("discord", -1, Some("rt-0"));
    w.store.fail_next_commits(3);
    let t = w.get("discord").unwrap();
    assert_eq!(
        t.warning.map(|e| e.code),
        Some(Code::Storage),
        "the caller is told"
    );
    let events = w.store.events();
    let failed = events.iter().find(|e| e.kind == "store_failed").unwrap();
    assert_eq!(
        failed.message.as_deref(),
        Some("the refreshed tokens could not be saved")
    );
}

/// A sign-in without a refresh token lands from another instance while a
/// refresh is at the provider: it keeps the row's refresh token, the one the
/// refresh has just spent. The provider's rotated token is then the only live
/// one: it is written over the spent one, not dropped as a lost lease.
#[test]
fn a_rotation_is_kept_over_a_sign_in_that_kept_the_spent_token() {
    let (rt, p, store, a, _) = two_instances("discord", 300);
    p.rotate.set(true);
    let (refreshed, ()) = rt.run(futures_util::future::join(
        a.get_valid_token("user-1", "discord", GetOptions::default()),
        async {
            // While a's provider call is under way (300 ms), another
            // instance's sign-in write: new access token, the stored refresh
            // token kept (as Supabase hands over none).
            rt.sleep_ms(100).await;
            let row = store.row("user-1", "discord").unwrap();
            store
                .save_tokens(&crate::core::store::TokenWrite {
                    user_id: "user-1".into(),
                    provider: "discord".into(),
                    access_token_sealed: row.access_token_sealed.clone().unwrap(),
                    refresh_token_sealed: row.refresh_token_sealed.clone(),
                    expires_at: Some(rt.now_ms() + 3_600_000),
                    refresh_token_expires_at: None,
                    scope: row.scope.clone(),
                    refreshed_at: rt.now_ms(),
                    account_id: None,
                    account_email: None,
                    account_name: None,
                    keep_stored_refresh_token: true,
                    forget_stored_account: false,
                    signin_digest: None,
                })
                .await
                .unwrap();
        },
    ));
    assert_eq!(refreshed.unwrap().access_token.expose(), "at-1");
    assert_eq!(
        stored_refresh_token(&store, "discord").as_deref(),
        Some("rt-1"),
        "the rotated token, not the spent rt-0"
    );
}
