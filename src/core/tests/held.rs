//! Rotations held in memory: the provider rotated the refresh token and the
//! store could not take the new one. It is never lost while the row still
//! holds the token it replaced (a sign-in may keep that one), and never
//! written over a newer grant or a disconnect. The world and doubles are the
//! parent module's.

use super::*;

/// `w.m` holds a rotation it could not save: the provider rotated rt-0 into
/// rt-1 and the store failed every write of it.
fn holding_world() -> World {
    let w = world("discord");
    w.p.rotate.set(true);
    w.connect("discord", -1, Some("rt-0"));
    w.store.fail_next_commits(3);
    assert_eq!(w.get("discord").unwrap_err().code, Code::RotationNotSaved);
    w
}

/// Another instance on `w`'s store and provider.
fn other_instance(w: &World) -> M {
    Manager::new(
        config("discord", ""),
        w.p.clone(),
        w.store.clone(),
        w.rt.clone(),
    )
}

/// A sign-in's tokens: `access`, with `refresh` if Supabase handed one over.
fn sign_in_tokens(access: &str, refresh: Option<&str>) -> InitialTokens {
    InitialTokens {
        access_token: access.into(),
        refresh_token: refresh.map(str::to_string),
        expires_in_secs: Some(3600),
        scope: Some("identify".into()),
        ..Default::default()
    }
}

/// `tokens` stored through `m`.
fn sign_in_through(w: &World, m: &M, tokens: InitialTokens) {
    w.rt.run(m.store_tokens("user-1", "discord", tokens))
        .unwrap();
}

/// The row's error code and whether its cooldown is still running.
fn marked(w: &World) -> (Option<String>, bool) {
    let row = w.store.row("user-1", "discord").unwrap();
    let now = w.rt.now_ms();
    (
        row.last_error_code,
        row.cooldown_until.is_some_and(|c| c > now),
    )
}

/// The holder's next call writes the held rt-1 beside the sign-in's access
/// token, which it serves, without a refresh.
fn assert_saved_beside_the_sign_in(w: &World) {
    let t = w.get("discord").unwrap();
    assert_eq!(t.access_token.expose(), "at-sign-in");
    assert_eq!(w.stored_refresh_token("discord").as_deref(), Some("rt-1"));
    assert_eq!(w.p.calls(), 1, "no refresh with the spent token");
}

/// A sign-in without a refresh token keeps the stored one, which the held
/// rotation has spent: in the holder's instance its write carries the held one.
#[test]
fn a_sign_in_without_a_refresh_token_keeps_a_held_rotation() {
    let w = holding_world();
    w.sign_in("discord", sign_in_tokens("at-sign-in", None));
    assert_eq!(w.stored_refresh_token("discord").as_deref(), Some("rt-1"));
}

/// The same sign-in landing through another instance: the holder's next
/// call finds the spent token kept and writes the held one beside the
/// sign-in's access token.
#[test]
fn a_held_rotation_is_saved_over_a_write_that_kept_the_spent_token() {
    let w = holding_world();
    sign_in_through(&w, &other_instance(&w), sign_in_tokens("at-sign-in", None));
    assert_eq!(w.stored_refresh_token("discord").as_deref(), Some("rt-0"));
    assert_saved_beside_the_sign_in(&w);
}

/// A held rotation made obsolete by a new grant (a sign-in with its own
/// refresh token, through another instance): the new grant's fresh token is
/// served, without a refresh.
#[test]
fn a_held_rotation_made_obsolete_by_a_new_grant_serves_it_without_a_refresh() {
    let w = holding_world();
    sign_in_through(
        &w,
        &other_instance(&w),
        sign_in_tokens("at-new-grant", Some("rt-new-grant")),
    );
    let t = w.get("discord").unwrap();
    assert_eq!(t.access_token.expose(), "at-new-grant");
    assert_eq!(w.p.calls(), 1, "no refresh of a fresh grant");
    assert_eq!(
        w.stored_refresh_token("discord").as_deref(),
        Some("rt-new-grant")
    );
}

/// The held rotation's write beside a sign-in's access token fails: still
/// held (not lost), said on the row (with a cooldown, so no other instance
/// refreshes with the spent token), in an event and as the served token's
/// warning, and saved by the next call.
#[test]
fn a_held_rotation_whose_late_write_fails_stays_held() {
    let w = holding_world();
    sign_in_through(&w, &other_instance(&w), sign_in_tokens("at-sign-in", None));
    // The flush's first commit finds the version moved; the one beside the
    // sign-in's token fails: the sign-in's fresh token serves meanwhile.
    w.store.fail_commit_after(1);
    let served = w.get("discord").unwrap();
    assert_eq!(served.access_token.expose(), "at-sign-in");
    assert_eq!(served.warning.unwrap().code, Code::RotationNotSaved);
    assert_eq!(w.stored_refresh_token("discord").as_deref(), Some("rt-0"));
    assert_eq!(marked(&w), (Some("ROTATION_NOT_SAVED".into()), true));
    assert_saved_beside_the_sign_in(&w);
}

/// The holder's next call after a disconnect made through another instance
/// answers NOT_CONNECTED and leaves the row disconnected (not refreshed, not
/// marked token_expired over it).
#[test]
fn a_held_rotation_does_not_outlive_a_disconnect() {
    let w = holding_world();
    w.rt.run(other_instance(&w).disconnect("user-1", "discord"))
        .unwrap();
    assert_eq!(w.get("discord").unwrap_err().code, Code::NotConnected);
    let row = w.store.row("user-1", "discord").unwrap();
    assert_eq!(row.status, "disconnected");
    assert_eq!(w.p.calls(), 1, "no refresh");
}

/// A sign-in without a refresh token reaching the holder after a disconnect
/// does not bring the held token back.
#[test]
fn a_sign_in_after_a_disconnect_does_not_bring_back_a_held_rotation() {
    let w = holding_world();
    w.rt.run(other_instance(&w).disconnect("user-1", "discord"))
        .unwrap();
    w.sign_in("discord", sign_in_tokens("at-new-sign-in", None));
    assert_eq!(w.stored_refresh_token("discord"), None);
}

/// A commit that landed but whose answer was lost: the retry finds the
/// version moved by our own write, which is a success, not a lost lease.
#[test]
fn a_commit_whose_answer_was_lost_is_recognised_as_saved() {
    let w = world("discord");
    w.p.rotate.set(true);
    w.connect("discord", -1, Some("rt-0"));
    w.store.lose_next_commit_answers(1);
    let t = w.get("discord").unwrap();
    assert_eq!(t.access_token.expose(), "at-1");
    assert_eq!(w.stored_refresh_token("discord").as_deref(), Some("rt-1"));
    let kinds: Vec<String> =
        w.rt.events
            .borrow()
            .iter()
            .map(|e| e.kind.clone())
            .collect();
    assert!(kinds.iter().any(|k| k == "refreshed"), "{kinds:?}");
    assert!(!kinds.iter().any(|k| k == "lease_lost"), "{kinds:?}");
    // Recorded once, by the commit that landed, not again.
    let stored = w.store.events();
    assert_eq!(
        stored.iter().filter(|e| e.kind == "refreshed").count(),
        1,
        "{stored:?}"
    );
}

/// A sign-in without a refresh token lands while a rotating refresh is out;
/// the refresh's write over the kept (spent) token then fails: the rotated
/// token is held, not lost, the row says so, and the next call writes it.
#[test]
fn a_rotation_whose_write_over_a_kept_token_fails_is_held() {
    let w = world("discord");
    w.p.rotate.set(true);
    w.p.latency_ms.set(300);
    w.connect("discord", -1, Some("rt-0"));
    // The refresh's own commit finds the version moved; the one over the
    // kept token fails.
    w.store.fail_commit_after(1);
    let got = w.get_while_signing_in(
        "discord",
        GetOptions::default(),
        sign_in_tokens("at-sign-in", None),
    );
    assert_eq!(got.unwrap_err().code, Code::RotationNotSaved);
    assert_eq!(w.stored_refresh_token("discord").as_deref(), Some("rt-0"));
    assert_eq!(marked(&w), (Some("ROTATION_NOT_SAVED".into()), true));
    assert_saved_beside_the_sign_in(&w);
}
