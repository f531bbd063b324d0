//! What tabs and listeners are told (`wire::effects_json`) and what a
//! message from another tab does (`receive`): only this tab's user's, never
//! a token to listeners.

use super::*;

fn effects(c: &BrowserClient) -> serde_json::Value {
    serde_json::from_str(&c.take_effects_json().unwrap_or_else(|| "[]".into())).unwrap()
}

/// What tabs and listeners are told, as the package delivers it: a token to
/// the user's other tabs with its user, to listeners without the token.
#[test]
fn effects_name_their_user_for_tabs_and_never_show_listeners_a_token() {
    let c = core();
    let Begin::Lead { id, .. } = c.begin(jwt_for("user-a"), "spotify", false, T0).unwrap() else {
        panic!()
    };
    let body = json!({"accessToken": "at-\"1\"", "expiresAt": T0 + 3_600_000, "tokenRefreshedAt": marker::format(T0), "scope": null});
    c.finish(id, Ok(HttpResponse::new(200, body.to_string())))
        .unwrap();
    let fx = effects(&c);
    assert_eq!(fx[0], json!([{"type": "hello", "user": "user-a"}, null]));
    assert_eq!(
        fx[1],
        json!([
            {"type": "token", "user": "user-a", "conn": "spotify", "token":
                {"accessToken": "at-\"1\"", "expiresAt": T0 + 3_600_000, "tokenRefreshedAt": marker::format(T0), "lifetimeMs": 3_600_000, "scope": null}},
            {"type": "token", "provider": "spotify", "expiresAt": T0 + 3_600_000, "tokenRefreshedAt": marker::format(T0), "fromOtherTab": false}
        ])
    );
    assert!(
        !fx[1][1].to_string().contains("at-"),
        "listeners never see the token"
    );
    c.disconnected("user-a", "spotify");
    c.reset();
    assert_eq!(
        effects(&c),
        json!([
            [{"type": "disconnect", "user": "user-a", "conn": "spotify"},
             {"type": "disconnected", "provider": "spotify", "fromOtherTab": false}],
            [{"type": "reset", "user": "user-a"}, {"type": "reset", "reason": "sign-out", "fromOtherTab": false}]
        ])
    );
    assert_eq!(c.take_effects_json(), None, "taken once");
}

/// Messages from other tabs: only this tab's user's are taken; what they
/// change is shown to listeners as from another tab and never sent back; a
/// new tab's hello is answered with the fresh tokens.
#[test]
fn messages_from_other_tabs_are_taken_only_for_this_tabs_user() {
    let c = core();
    c.session_of(jwt_for("user-a")).unwrap();
    c.take_deliveries();
    let msg = |v: serde_json::Value| -> Value { v.into() };
    let token = json!({"accessToken": "at-9", "expiresAt": T0 + 3_600_000, "tokenRefreshedAt": marker::format(T0), "scope": "s"});
    c.receive(
        &msg(json!({"type": "token", "user": "user-b", "conn": "google", "token": token})),
        T0,
    );
    assert!(c.state().token("google").is_none(), "another user's token");
    c.receive(
        &msg(json!({"type": "token", "user": "user-a", "conn": "bad name", "token": token})),
        T0,
    );
    c.receive(
        &msg(
            json!({"type": "token", "user": "user-a", "conn": "google", "token": {"expiresAt": 1}}),
        ),
        T0,
    );
    assert_eq!(effects(&c), json!([]));
    c.receive(
        &msg(json!({"type": "token", "user": "user-a", "conn": "google", "token": token})),
        T0,
    );
    assert_eq!(
        c.state().token("google").unwrap().access_token.expose(),
        "at-9"
    );
    assert_eq!(
        effects(&c),
        json!([[null, {"type": "token", "provider": "google", "expiresAt": T0 + 3_600_000, "tokenRefreshedAt": marker::format(T0), "fromOtherTab": true}]])
    );
    c.receive(&msg(json!({"type": "hello", "user": "user-a"})), T0);
    let fx = effects(&c);
    assert_eq!(fx[0][0]["token"]["accessToken"], "at-9");
    assert_eq!(
        fx[0][1],
        serde_json::Value::Null,
        "a hello is answered, not shown"
    );
    c.receive(&msg(json!({"type": "hello", "user": "user-b"})), T0);
    assert_eq!(effects(&c), json!([]), "never handed to another user's tab");
    c.receive(&msg(json!({"type": "marker", "user": "user-a", "conn": "google", "marker": marker::format(T0 + 5)})), T0);
    assert!(c.state().token("google").is_none());
    assert_eq!(
        effects(&c),
        json!([[null, {"type": "marker", "provider": "google", "tokenRefreshedAt": marker::format(T0 + 5)}]])
    );
    c.receive(&msg(json!({"type": "reset", "user": "user-b"})), T0);
    assert_eq!(effects(&c), json!([]));
    c.receive(&msg(json!({"type": "token", "user": "user-a", "conn": "google", "token":
        {"accessToken": "at-10", "expiresAt": T0 + 3_600_000, "tokenRefreshedAt": marker::format(T0 + 6)}})), T0);
    c.take_deliveries();
    c.receive(&msg(json!({"type": "reset", "user": "user-a"})), T0);
    assert_eq!(
        effects(&c),
        json!([[null, {"type": "reset", "reason": "sign-out", "fromOtherTab": true}]])
    );
    assert!(c.state().token("google").is_none());
}
