//! The sans-IO core's flights as its driver sees them: who leads and who
//! follows, what an answer, a missing one or a late one means, and what a
//! 401, a disconnect or a new session does to the calls on their way.

use super::*;

/// A token function's answer: `access`, valid for an hour from T0.
fn answer(access: &str) -> HttpResponse {
    HttpResponse::new(
        200,
        json!({"accessToken": access, "expiresAt": T0 + 3_600_000}).to_string(),
    )
}

/// What the driver is told: lead once, follow that flight, and a flight's
/// outcome is handed over once.
#[test]
fn begin_leads_one_flight_per_user_connection_and_force() {
    let c = core();
    let jwt = jwt_for("user-a");
    let Begin::Lead { id, request } = c.begin(jwt.clone(), "google", false, T0).unwrap() else {
        panic!("the first call leads")
    };
    assert!(request.url.ends_with("/refresh-google-token"));
    assert!(
        matches!(c.begin(jwt.clone(), "google", false, T0).unwrap(), Begin::Follow(f) if f == id)
    );
    let Begin::Lead {
        id: forced,
        request,
    } = c.begin(jwt.clone(), "google", true, T0).unwrap()
    else {
        panic!("a forced call is a flight of its own")
    };
    assert_ne!(forced, id);
    assert_eq!(request.body, r#"{"force":true}"#);
    assert!(
        matches!(c.begin(jwt.clone(), "spotify", false, T0).unwrap(), Begin::Lead { request, .. }
        if request.url.ends_with("/connections/spotify/token"))
    );
    assert_eq!(c.in_flight(), 3);
    let t = c.finish(id, Ok(answer("at-1"))).unwrap();
    assert_eq!(t.access_token.expose(), "at-1");
    assert_eq!(
        c.finish(id, Ok(answer("at-1"))).unwrap_err().code,
        Code::BadRequest,
        "a flight ends once"
    );
    assert!(
        matches!(c.begin(jwt, "google", false, T0).unwrap(), Begin::Cached(t) if t.access_token.expose() == "at-1")
    );
    assert!(matches!(
        c.take_events().as_slice(),
        [ClientEvent::User { .. }, ClientEvent::Token { .. }]
    ));
}

/// No response at all: the flight's callers get NETWORK or TIMEOUT, and
/// listeners hear of it.
#[test]
fn a_flight_without_a_response_fails_with_the_transport_error() {
    let c = core();
    for (outcome, code) in [
        (TransportError::Timeout, Code::Timeout),
        (
            TransportError::Network("TypeError: failed".into()),
            Code::Network,
        ),
    ] {
        let Begin::Lead { id, .. } = c.begin(jwt_for("user-a"), "google", false, T0).unwrap()
        else {
            panic!()
        };
        assert_eq!(c.finish(id, Err(outcome)).unwrap_err().code, code);
        assert!(
            matches!(c.take_events().last(), Some(ClientEvent::Failed { error, .. }) if error.code == code)
        );
    }
    assert_eq!(c.in_flight(), 0);
}

/// After a provider's 401 the retry forces a refresh, unless another call
/// brought a newer token meanwhile.
#[test]
fn a_rejected_token_forces_the_retry_only_when_nothing_newer_came() {
    let (c, _, _, rt) = client();
    let t1 = rt.run(c.access_token("google", false)).unwrap();
    assert!(
        c.invalidate("google", &t1.access_token),
        "nothing newer: force"
    );
    rt.advance(10);
    let t2 = rt.run(c.access_token("google", true)).unwrap();
    assert_ne!(t1.access_token, t2.access_token);
    assert!(
        !c.invalidate("google", &t1.access_token),
        "a late 401 of the old token: the new one is used, no second refresh"
    );
}

/// The retry after a 401 tells the server when the rejected token was
/// refreshed: it then refreshes only if it holds nothing newer. A token
/// another tab brought, refreshed after the rejected one, is answered at once.
#[test]
fn a_forced_refresh_says_when_the_rejected_token_was_refreshed() {
    let c = core();
    let jwt = jwt_for("user-a");
    let Begin::Lead { id, request } = c.begin_with(jwt.clone(), "google", true, T0, None).unwrap()
    else {
        panic!("leads");
    };
    assert_eq!(request.body, r#"{"force":true}"#);
    let _ = c.finish(id, Err(TransportError::Timeout));
    let Begin::Lead { id, request } = c
        .begin_with(jwt.clone(), "google", true, T0, Some(T0 - 5))
        .unwrap()
    else {
        panic!("leads");
    };
    assert_eq!(
        request.body,
        format!(r#"{{"force":true,"rejectedRefreshedAt":{}}}"#, T0 - 5)
    );
    let _ = c.finish(id, Err(TransportError::Timeout));
    // Without force it is not sent.
    let Begin::Lead { id, request } = c
        .begin_with(jwt.clone(), "google", false, T0, Some(T0 - 5))
        .unwrap()
    else {
        panic!("leads");
    };
    assert_eq!(request.body, "{}");
    let _ = c.finish(id, Err(TransportError::Timeout));
    // Another tab's token, refreshed after the rejected one: no call.
    assert!(c.state.borrow_mut().accept(
        "user-a",
        "google",
        super::tok("b", T0 + 3_600_000, T0 - 1)
    ));
    assert!(matches!(
        c.begin_with(jwt.clone(), "google", true, T0, Some(T0 - 5)).unwrap(),
        Begin::Cached(t) if t.access_token.expose() == "b"
    ));
    // Not one refreshed when the rejected one was (it may be that one).
    assert!(matches!(
        c.begin_with(jwt, "google", true, T0, Some(T0 - 1)).unwrap(),
        Begin::Lead { .. }
    ));
}

/// While the retry after a 401 forces a refresh, a call that does not force
/// follows it: on its own it would be answered the rejected token (the
/// server still holds it) and serve it again.
#[test]
fn a_call_during_a_forced_refresh_follows_it() {
    let c = core();
    let jwt = jwt_for("user-a");
    let Begin::Lead { id, request } = c.begin(jwt.clone(), "google", true, T0).unwrap() else {
        panic!("a forced call leads");
    };
    assert!(request.body.contains("force"));
    assert!(matches!(
        c.begin(jwt.clone(), "google", false, T0).unwrap(),
        Begin::Follow(f) if f == id
    ));
    assert!(matches!(
        c.begin(jwt.clone(), "google", true, T0).unwrap(),
        Begin::Follow(f) if f == id
    ));
    assert_eq!(c.in_flight(), 1);
    // A forced call does not follow a flight that does not force.
    let Begin::Lead { id: plain, .. } = c.begin(jwt.clone(), "spotify", false, T0).unwrap() else {
        panic!("leads");
    };
    assert!(matches!(
        c.begin(jwt, "spotify", true, T0).unwrap(),
        Begin::Lead { id: forced, .. } if forced != plain
    ));
}

/// An edge function's error tells listeners only when a reconnect is needed,
/// for the connection the response names.
#[test]
fn function_errors_reach_listeners_only_when_a_reconnect_is_needed() {
    let c = core();
    let reauth = r#"{"error":"reconnect","code":"REAUTH_REQUIRED"}"#;
    assert_eq!(
        c.function_error(401, reauth, Some("spotify")).code,
        Code::ReauthRequired
    );
    assert!(
        matches!(c.take_events().as_slice(), [ClientEvent::Failed { conn, .. }] if conn == "spotify")
    );
    c.function_error(401, reauth, Some("bad name!"));
    assert!(
        matches!(c.take_events().as_slice(), [ClientEvent::Failed { conn, .. }] if conn == "google")
    );
    assert_eq!(
        c.function_error(503, "", None).code,
        Code::ProviderUnavailable
    );
    assert!(c.take_events().is_empty());
}

/// A flight's answer older than what the cache knows by then is its callers'
/// only: `settle` says the cache did not take it (the package's driver then
/// does not remember it as the cache's answer).
#[test]
fn an_answer_older_than_the_cache_is_settled_but_not_taken() {
    let c = core();
    let jwt = jwt_for("user-a");
    let Begin::Lead { id: slow, .. } = c.begin(jwt.clone(), "google", false, T0).unwrap() else {
        panic!()
    };
    let Begin::Lead { id: forced, .. } = c.begin(jwt.clone(), "google", true, T0).unwrap() else {
        panic!()
    };
    let body = |at: &str, refreshed: i64| {
        json!({"accessToken": at, "expiresAt": T0 + 3_600_000, "tokenRefreshedAt": marker::format(refreshed)})
            .to_string()
    };
    let (t, taken) = c
        .settle(forced, Ok(HttpResponse::new(200, body("at-new", T0 + 2))))
        .unwrap();
    assert!(taken);
    assert_eq!(t.access_token.expose(), "at-new");
    let (t, taken) = c
        .settle(slow, Ok(HttpResponse::new(200, body("at-old", T0 + 1))))
        .unwrap();
    assert_eq!(t.access_token.expose(), "at-old", "its callers get it");
    assert!(!taken, "the cache keeps the newer token");
    assert!(
        matches!(c.begin(jwt, "google", false, T0).unwrap(), Begin::Cached(t) if t.access_token.expose() == "at-new")
    );
}

/// A sign-out and a sign-in again while a call is on its way: a new call
/// does not join the old flight, which is bound to fail with UNAUTHORIZED.
#[test]
fn a_flight_of_an_earlier_session_is_not_joined() {
    let c = core();
    let jwt = jwt_for("user-a");
    let Begin::Lead { id: old, .. } = c.begin(jwt.clone(), "google", false, T0).unwrap() else {
        panic!()
    };
    c.reset();
    let Begin::Lead { id: new, .. } = c.begin(jwt.clone(), "google", false, T0).unwrap() else {
        panic!("a new session leads its own call")
    };
    assert_ne!(old, new);
    assert!(matches!(c.begin(jwt, "google", false, T0).unwrap(), Begin::Follow(f) if f == new));
    assert_eq!(
        c.finish(old, Ok(answer("at-1"))).unwrap_err().code,
        Code::Unauthorized
    );
    assert!(c.finish(new, Ok(answer("at-1"))).is_ok());
}

/// A disconnect while a refresh is on its way: the refresh's answer goes to
/// its callers only; it does not put the token back or go to other tabs.
/// A disconnect asked by a user who is no longer the tab's leaves the new
/// user's cache alone and tells the asking user's tabs.
#[test]
fn a_refresh_that_lands_after_a_disconnect_is_not_kept() {
    for here in [true, false] {
        let c = core();
        let Begin::Lead { id, .. } = c.begin(jwt_for("user-a"), "spotify", false, T0).unwrap()
        else {
            panic!()
        };
        if here {
            c.disconnected("user-a", "spotify");
        } else {
            c.receive(
                &json!({"type": "disconnect", "user": "user-a", "conn": "spotify"}).into(),
                T0,
            );
        }
        c.take_deliveries();
        let (t, taken) = c.settle(id, Ok(answer("at-1"))).unwrap();
        assert_eq!(
            t.access_token.expose(),
            "at-1",
            "its caller gets its answer"
        );
        assert!(!taken, "here: {here}");
        assert!(c.state().token("spotify").is_none());
        assert!(c.take_events().is_empty(), "nothing told to other tabs");
    }
    let c = core();
    c.session_of(jwt_for("user-b")).unwrap();
    c.accept_shared("user-b", "spotify", tok("at-b", T0 + 3_600_000, T0));
    c.take_deliveries();
    c.disconnected("user-a", "spotify");
    assert!(c.state().token("spotify").is_some(), "user-b's token stays");
    assert!(
        matches!(c.take_events().as_slice(), [ClientEvent::Disconnected { user, .. }] if user == "user-a")
    );
}

/// Another user signed in over `user-a` (the adapter's `reset({ user })`):
/// user-a's tabs drop their tokens; this tab, already moved on to user-b by
/// a call that read the new session first, keeps what it holds for them and
/// tells its own listeners nothing.
#[test]
fn a_reset_of_the_previous_user_spares_the_next_users_state() {
    let c = core();
    c.session_of(jwt_for("user-b")).unwrap();
    assert!(c
        .state
        .borrow_mut()
        .accept("user-b", "google", super::tok("b", T0 + 3_600_000, T0)));
    c.take_deliveries();
    assert!(!c.reset_user("user-a"));
    assert!(c.state().token("google").is_some(), "user-b's token stays");
    assert_eq!(c.state().user(), Some("user-b"));
    let sent = c.take_deliveries();
    assert!(matches!(
        sent.as_slice(),
        [Delivery { event: ClientEvent::Reset { user: Some(u) }, post_only: true, .. }] if u == "user-a"
    ));
    // Still user-a's tab: reset as a sign-out.
    let c = core();
    c.session_of(jwt_for("user-a")).unwrap();
    assert!(c.reset_user("user-a"));
    assert_eq!(c.state().user(), None);
}

/// A forced call follows a forced flight only when that flight's answer is
/// sure to be newer than the token this call's 401 rejected: a flight that
/// forced past an older rejected token may be answered the very token this
/// call was refused with.
#[test]
fn a_forced_call_follows_only_a_flight_that_answers_its_401() {
    let c = core();
    let jwt = jwt_for("user-a");
    let lead = |rejected| match c.begin_with(jwt.clone(), "google", true, T0, rejected) {
        Ok(Begin::Lead { id, .. }) => Some(id),
        _ => None,
    };
    let follows = |rejected| match c.begin_with(jwt.clone(), "google", true, T0, rejected) {
        Ok(Begin::Follow(id)) => Some(id),
        _ => None,
    };
    let older = lead(Some(T0 - 5)).expect("leads");
    let newer =
        lead(Some(T0 - 1)).expect("its own flight: the older one may answer T0 - 1's token");
    assert_eq!(follows(Some(T0 - 10)), Some(older));
    let plain = lead(None).expect("a plain force wants a refresh, not a stored token");
    assert_ne!(plain, newer);
    assert_eq!(follows(Some(T0 - 1)), Some(newer));
    assert_eq!(follows(None), Some(plain));
}
