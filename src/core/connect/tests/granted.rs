//! What a connect's grant is known to hold: the scopes the provider names
//! (RFC 6749 §5.1), the connection saying what is missing; and the account,
//! never another grant's when user-info cannot tell.

use super::*;

#[test]
fn a_connect_granted_less_than_it_asked_says_what_is_missing() {
    let (m, s, store, rt) = world();
    // Google's granular consent: the user unticks the calendar.
    *s.code_scope.borrow_mut() = Some(UNTICKED.into());
    let t = through_callback(&m, &s, &rt, "u1", "google");
    let st = rt.run(m.complete_connect("u1", &t)).unwrap();
    assert_scope_flagged(&st);
    assert!(
        st.last_error_message.as_deref().unwrap().contains(EVENTS),
        "{:?}",
        st.last_error_message
    );
    // The tokens are kept for what they grant.
    assert!(st.has_refresh_token);
    let row = store.row("u1", "google").unwrap();
    assert_eq!(row.status, "needs_reauth");
    assert!(row.access_token_sealed.is_some());
    assert!(store
        .events()
        .iter()
        .any(|e| e.kind == "insufficient_scope"));
    // Consenting again with the calendar allowed: connected.
    *s.code_scope.borrow_mut() = Some(format!("{UNTICKED} {EVENTS}"));
    let t = through_callback(&m, &s, &rt, "u1", "google");
    let st = rt.run(m.complete_connect("u1", &t)).unwrap();
    assert_eq!(
        (st.status.as_str(), st.last_error_code),
        ("connected", None)
    );
}

#[test]
fn a_grant_that_names_no_scope_or_an_empty_one_is_what_was_asked() {
    // RFC 6749 §5.1: no `scope` means the scope asked for; GitHub Apps'
    // tokens answer `scope: ""` (they carry permissions, not scopes).
    for granted in [None, Some("")] {
        let (m, s, _, rt) = world();
        *s.code_scope.borrow_mut() = granted.map(String::from);
        let t = through_callback(&m, &s, &rt, "u1", "github-app");
        let st = rt.run(m.complete_connect("u1", &t)).unwrap();
        assert_eq!(
            (st.status.as_str(), st.last_error_code),
            ("connected", None),
            "{granted:?}"
        );
    }
}

#[test]
fn a_new_grant_of_an_account_not_read_does_not_keep_the_previous_accounts_name() {
    let (m, s, store, rt) = world();
    let t = through_callback(&m, &s, &rt, "u1", "google");
    let st = rt.run(m.complete_connect("u1", &t)).unwrap();
    assert_eq!(st.account_id.as_deref(), Some("g-42"));
    // Reconnected, perhaps as someone else, and user-info refuses the token:
    // the new grant's account is unknown, not g-42's.
    *s.userinfo_refused.borrow_mut() = true;
    let t = through_callback(&m, &s, &rt, "u1", "google");
    let st = rt.run(m.complete_connect("u1", &t)).unwrap();
    assert_eq!(
        (st.account_id, st.account_email, st.account_name),
        (None, None, None)
    );
    assert!(st.has_refresh_token);
    // A sign-in's access token alone (the same grant, kept): the name stays.
    *s.userinfo_refused.borrow_mut() = false;
    let t = through_callback(&m, &s, &rt, "u1", "google");
    rt.run(m.complete_connect("u1", &t)).unwrap();
    *s.userinfo_refused.borrow_mut() = true;
    *s.no_refresh_on_code.borrow_mut() = true;
    let t = through_callback(&m, &s, &rt, "u1", "google");
    rt.run(m.complete_connect("u1", &t)).unwrap();
    let row = store.row("u1", "google").unwrap();
    assert_eq!(row.account_id.as_deref(), Some("g-42"));
}
