//! The hardening tests (issue 7): unbound legacy values, unopenable tokens,
//! missing scopes, tampered rows, no secret in any event or status, lease
//! waiters following a new owner, the open cache and the hot path. The world and doubles are the parent module's.

use super::*;

/// Node-made legacy value (`iv:authTag:ciphertext`, no associated data) of
/// "legacy-refresh-token" under `KEY`'s bytes.
const LEGACY: &str = "000102030405060708090a0b:0e757eb88476d35314e57130583adbe6:4180dc1dba61ffdecdba03db02a7fc70896366e9";

#[test]
fn a_legacy_value_copied_into_a_row_is_refused_and_recorded() {
    // Another user's legacy token copied into user-1's row must not open
    // for user-1: no provider call, CRYPTO_UNBOUND, and an honest status.
    let w = world("google");
    w.connect("google", -1, Some("rt-0"));
    let mut row = w.store.row("user-1", "google").unwrap();
    row.refresh_token_sealed = Some(LEGACY.into());
    w.store.put_row(row.clone());
    assert_eq!(w.get("google").unwrap_err().code, Code::CryptoUnbound);
    assert_eq!(w.p.calls(), 0);
    let st = w.rt.run(w.m.status("user-1", "google")).unwrap();
    assert_eq!(st.status, "error");
    assert_eq!(st.last_error_code.as_deref(), Some("CRYPTO_UNBOUND"));
    // And a legacy access token on the fresh path, too.
    row.access_token_sealed = Some(LEGACY.into());
    row.refresh_token_sealed = None;
    row.expires_at = Some(w.rt.now_ms() + 3_600_000);
    row.status = "connected".into();
    row.last_error_code = None;
    w.store.put_row(row);
    assert_eq!(w.get("google").unwrap_err().code, Code::CryptoUnbound);
    assert_eq!(
        w.rt.run(w.m.status("user-1", "google")).unwrap().status,
        "error"
    );
}

#[test]
fn a_token_that_cannot_be_opened_sets_status_error_once_with_an_event() {
    let w = world("google");
    w.connect("google", 3600, Some("rt-0"));
    let mut row = w.store.row("user-1", "google").unwrap();
    // Tamper one character of the fresh access token's ciphertext.
    let mut sealed = row.access_token_sealed.clone().unwrap().into_bytes();
    let i = sealed.len() - 4;
    sealed[i] = if sealed[i] == b'A' { b'B' } else { b'A' };
    row.access_token_sealed = Some(String::from_utf8(sealed).unwrap());
    w.store.put_row(row);
    for _ in 0..3 {
        assert_eq!(w.get("google").unwrap_err().code, Code::CryptoIntegrity);
    }
    let st = w.rt.run(w.m.status("user-1", "google")).unwrap();
    assert_eq!(st.status, "error");
    assert!(!st.connected);
    assert_eq!(st.last_error_code.as_deref(), Some("CRYPTO_INTEGRITY"));
    assert_eq!(st.failure_count, 1);
    let failed: Vec<_> = w
        .store
        .events()
        .into_iter()
        .filter(|e| e.kind == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "recorded once per change, not per call");
    assert_eq!(failed[0].code.as_deref(), Some("CRYPTO_INTEGRITY"));
    assert_eq!(w.p.calls(), 0);
    // A new sign-in heals it.
    w.connect("google", 3600, Some("rt-1"));
    assert_eq!(
        w.get("google").unwrap().access_token.expose(),
        "at-initial-2"
    );
    assert_eq!(
        w.rt.run(w.m.status("user-1", "google")).unwrap().status,
        "connected"
    );
}

#[test]
fn a_missing_scope_needs_reauth_keeps_serving_and_survives_a_refresh() {
    let w = world("google");
    w.connect("google", 3600, Some("rt-0"));
    let scope = "https://www.googleapis.com/auth/calendar.events".to_string();
    let st =
        w.rt.run(w.m.record_scope_error("user-1", "google", std::slice::from_ref(&scope)))
            .unwrap();
    assert_eq!(st.status, "needs_reauth");
    assert!(st.requires_reauth);
    assert_eq!(st.last_error_code.as_deref(), Some("INSUFFICIENT_SCOPE"));
    assert!(st.last_error_message.as_deref().unwrap().contains(&scope));
    assert!(w
        .store
        .events()
        .iter()
        .any(|e| e.kind == "insufficient_scope"));
    // The grant is alive: its token still serves the scopes it has.
    assert_eq!(w.get("google").unwrap().access_token.expose(), "at-initial");
    // A refresh cannot add scopes (RFC 6749 §6): the flag stays.
    let mut row = w.store.row("user-1", "google").unwrap();
    row.expires_at = Some(w.rt.now_ms() - 1);
    w.store.put_row(row);
    let t = w.get("google").unwrap();
    assert!(t.refreshed);
    let st = w.rt.run(w.m.status("user-1", "google")).unwrap();
    assert_eq!(st.status, "needs_reauth");
    assert_eq!(st.last_error_code.as_deref(), Some("INSUFFICIENT_SCOPE"));
    // New consent that still lacks it (the sign-in's scope says so) keeps it.
    w.connect("google", 3600, Some("rt-1"));
    let st = w.rt.run(w.m.status("user-1", "google")).unwrap();
    assert_eq!(st.status, "needs_reauth");
    // New consent that grants it clears it.
    w.sign_in(
        "google",
        InitialTokens {
            access_token: "at-granted".into(),
            refresh_token: Some("rt-2".into()),
            expires_in_secs: Some(3600),
            scope: Some(format!("calendar {scope}")),
            ..Default::default()
        },
    );
    let st = w.rt.run(w.m.status("user-1", "google")).unwrap();
    assert_eq!(st.status, "connected");
    assert_eq!(st.last_error_code, None);
}

#[test]
fn waiters_follow_the_lease_to_a_new_owner_when_the_provider_is_slow() {
    // The holder died; its lease expires; one survivor takes it over and the
    // provider takes 3 s. Every caller on the survivors must succeed.
    let (rt, p, store, b, c) = two_instances("google", 3_000);
    let now = rt.now_ms();
    let lease = b.policy().lease_ms;
    rt.run(store.try_lease("user-1", "google", "dead:1", now, now + lease))
        .unwrap();
    let calls = (0..20).map(|i| {
        let m = if i % 2 == 0 { &b } else { &c };
        m.get_valid_token("user-1", "google", GetOptions::default())
    });
    let results = rt.run(join_all(calls));
    assert_eq!(p.calls(), 1);
    let mut refreshed = 0;
    for r in results {
        let t = r.expect("every caller on a surviving instance succeeds");
        assert_eq!(t.access_token.expose(), "at-1");
        refreshed += usize::from(t.refreshed);
    }
    assert_eq!(
        refreshed, 1,
        "`refreshed` only for the caller whose request refreshed"
    );
    assert!(rt.now_ms() >= now + lease + 3_000);
}

#[test]
fn waiters_give_up_within_two_leases_when_owners_keep_dying() {
    let w = world("google");
    w.connect("google", -1, Some("rt-0"));
    let start = w.rt.now_ms();
    let lease = w.m.policy().lease_ms;
    // An owner that never finishes, re-taken by a new dead owner each time.
    w.store.keep_leased_by_others();
    let e = w.get("google").unwrap_err();
    assert_eq!(e.code, Code::LeaseTimeout);
    let waited = w.rt.now_ms() - start;
    assert!(
        waited <= 2 * w.m.policy().wait_for_other_ms + 500,
        "{waited}"
    );
    assert!(waited > lease, "{waited}");
    assert_eq!(w.p.calls(), 0);
}

#[test]
fn the_open_cache_never_serves_a_value_moved_to_another_row() {
    let w = world("google");
    w.connect("google", 3600, Some("rt-0"));
    // Opened (and cached) for user-1.
    assert_eq!(w.get("google").unwrap().access_token.expose(), "at-initial");
    // The same sealed value copied into user-2's row must still fail.
    let mut stolen = w.store.row("user-1", "google").unwrap();
    stolen.user_id = "user-2".into();
    w.store.put_row(stolen);
    let e =
        w.rt.run(w.m.get_valid_token("user-2", "google", GetOptions::default()))
            .unwrap_err();
    assert_eq!(e.code, Code::CryptoIntegrity);
    // And user-1 keeps getting its own from the cache.
    assert_eq!(w.get("google").unwrap().access_token.expose(), "at-initial");
}

#[test]
fn the_open_cache_answers_each_row_its_own_token_and_stays_bounded() {
    let w = world("google");
    let user = |i: usize| format!("user-{i}");
    let n = super::super::manager::OPENED_CACHE_MAX + 3;
    // Stored in an order unlike the cache's key order.
    for i in (0..n).rev() {
        w.rt.run(w.m.store_tokens(
            &user(i),
            "google",
            InitialTokens {
                access_token: format!("at-{i}"),
                expires_at_ms: Some(w.rt.now_ms() + 3_600_000),
                ..Default::default()
            },
        ))
        .unwrap();
    }
    let get = |i: usize| {
        w.rt.run(w.m.get_valid_token(&user(i), "google", GetOptions::default()))
            .unwrap()
            .access_token
            .expose()
            .to_string()
    };
    assert_eq!(get(7), "at-7");
    assert_eq!(get(7), "at-7");
    assert_eq!(w.m.opened_len(), 1, "one entry per row");
    for round in 0..2 {
        for i in 0..n {
            assert_eq!(get(i), format!("at-{i}"), "round {round}");
            assert!(w.m.opened_len() <= super::super::manager::OPENED_CACHE_MAX);
        }
    }
    assert_eq!(w.p.calls(), 0);
}

#[test]
fn the_hot_path_answers_only_a_fresh_usable_token_of_that_user() {
    let w = world("google");
    w.connect("google", 3600, Some("rt-0"));
    let row = w.store.row("user-1", "google").unwrap();
    let fresh = |r: &crate::core::store::ConnectionRow, user: &str, force: bool| {
        w.m.fresh_token(
            r,
            user,
            "google",
            GetOptions {
                force,
                ..Default::default()
            },
        )
    };
    assert_eq!(
        fresh(&row, "user-1", false).unwrap().access_token.expose(),
        "at-initial"
    );
    assert!(
        fresh(&row, "user-1", true).is_none(),
        "force takes the full path"
    );
    assert!(fresh(&row, "user-2", false).is_none(), "another user's row");
    let mut expiring = row.clone();
    expiring.expires_at = Some(w.rt.now_ms() + 60_000); // inside Google's 300 s margin
    expiring.token_refreshed_at = Some(w.rt.now_ms() + 60_000 - 3_600_000); // an hour-long token
    assert!(fresh(&expiring, "user-1", false).is_none());
    let mut dead = row.clone();
    dead.status = "needs_reauth".into();
    assert!(fresh(&dead, "user-1", false).is_none());
    let mut tampered = row;
    tampered.access_token_sealed = Some("v1.k1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA".into());
    assert!(
        fresh(&tampered, "user-1", false).is_none(),
        "a failure goes to the full path, which records it"
    );
}

#[test]
fn a_tampered_row_is_a_crypto_error_not_a_panic() {
    let w = world("google");
    w.connect("google", 3600, Some("rt-0"));
    let mut row = w.store.row("user-1", "google").unwrap();
    row.access_token_sealed = Some(row.access_token_sealed.unwrap().replace("v1.k1.", "v1.k9."));
    w.store.put_row(row);
    assert_eq!(w.get("google").unwrap_err().code, Code::CryptoUnknownKey);
}

#[test]
fn no_token_bytes_in_events_errors_or_status() {
    let w = world("google");
    w.connect("google", -1, Some("rt-SECRET-0"));
    w.p.push_json(
        400,
        json!({"error":"invalid_grant","error_description":"bad rt-SECRET-0"}),
    );
    let e = w.get("google").unwrap_err();
    let status = format!("{:?}", w.rt.run(w.m.status("user-1", "google")).unwrap());
    let events = format!("{:?} {:?}", w.rt.events.borrow(), w.store.events());
    for text in [format!("{e:?}"), e.to_string(), status, events] {
        assert!(!text.contains("SECRET"), "{text}");
        assert!(!text.contains("at-initial"), "{text}");
        assert!(!text.contains("csecret"), "{text}");
    }
}

#[test]
fn a_uuid_user_id_not_as_postgres_writes_it_is_refused_before_anything_is_sealed() {
    // Postgres returns a uuid in lower case: tokens sealed for the upper-case
    // id would never open again (CRYPTO_INTEGRITY, the refresh token lost).
    let w = world("google");
    let upper = "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11";
    let e =
        w.rt.run(w.m.store_tokens(
            upper,
            "google",
            InitialTokens {
                access_token: "at".into(),
                refresh_token: Some("rt".into()),
                ..Default::default()
            },
        ))
        .unwrap_err();
    assert_eq!(e.code, Code::BadRequest);
    assert!(e.message.contains("lower case"), "{}", e.message);
    assert!(w.store.row(upper, "google").is_none());
    let e =
        w.rt.run(w.m.get_valid_token(upper, "google", GetOptions::default()))
            .unwrap_err();
    assert_eq!(e.code, Code::BadRequest);
    // Other forms Postgres reads as the same uuid, and writes back canonical.
    for other in [
        "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
        "a0eebc999c0b4ef8bb6d6bb9bd380a11",
        "a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11",
    ] {
        let e =
            w.rt.run(w.m.get_valid_token(other, "google", GetOptions::default()))
                .unwrap_err();
        assert_eq!(e.code, Code::BadRequest, "{other}");
    }
    // The same id in lower case, and ids that are not UUIDs, as before.
    for id in [
        upper.to_ascii_lowercase().as_str(),
        "User-ABC",
        "github|12345",
    ] {
        w.rt.run(w.m.store_tokens(
            id,
            "google",
            InitialTokens {
                access_token: "at".into(),
                expires_in_secs: Some(3600),
                ..Default::default()
            },
        ))
        .unwrap();
        let t =
            w.rt.run(w.m.get_valid_token(id, "google", GetOptions::default()))
                .unwrap();
        assert_eq!(t.access_token.expose(), "at");
    }
}

#[test]
fn a_sign_in_token_alone_does_not_replace_a_working_grant() {
    // Connected with a refresh token and the Calendar scope; then the user
    // signs in with Google on a page that asks for less (no offline access):
    // Supabase hands over an access token only, its scope unknown.
    let w = world("google");
    w.connect("google", 3600, Some("rt-0"));
    let before = w.store.row("user-1", "google").unwrap();
    let st = w.sign_in(
        "google",
        InitialTokens {
            access_token: "at-login-only".into(),
            expires_in_secs: Some(3600),
            ..Default::default()
        },
    );
    assert_eq!(st.status, "connected");
    let after = w.store.row("user-1", "google").unwrap();
    assert_eq!(after.access_token_sealed, before.access_token_sealed);
    assert_eq!(after.version, before.version, "nothing written");
    assert_eq!(w.get("google").unwrap().access_token.expose(), "at-initial");
    // With a refresh token (a new consent), or a scope saying what it
    // grants, the sign-in's tokens are the grant.
    w.sign_in(
        "google",
        InitialTokens {
            access_token: "at-with-scope".into(),
            expires_in_secs: Some(3600),
            scope: Some("calendar".into()),
            ..Default::default()
        },
    );
    assert_eq!(
        w.get("google").unwrap().access_token.expose(),
        "at-with-scope"
    );
    // A grant that does not work (needs_reauth) is replaced by any sign-in.
    let mut row = w.store.row("user-1", "google").unwrap();
    row.status = "needs_reauth".into();
    row.last_error_code = Some("REAUTH_REQUIRED".into());
    w.store.put_row(row);
    w.sign_in(
        "google",
        InitialTokens {
            access_token: "at-again".into(),
            expires_in_secs: Some(3600),
            ..Default::default()
        },
    );
    assert_eq!(w.get("google").unwrap().access_token.expose(), "at-again");
}

#[test]
fn a_row_flagged_by_an_instance_without_the_key_is_healed_where_it_opens() {
    // A key rotation under way: instance A seals with k2 (its ring k2, k1),
    // instance B still runs with k1 alone and flags the row `error`.
    const K2: &str = "MTIzNDU2Nzg5MGFiY2RlZjEyMzQ1Njc4OTBhYmNkZWY=";
    let rt = Rt::new();
    let p = Provider {
        clock: Some(rt.clone()),
        ..Default::default()
    };
    let store = MemoryStore::new();
    let ring = |keys: &str| {
        ManagerConfig::from_json(&format!(
            r#"{{"providers":{{"google":{{"clientId":"cid","clientSecret":"cs","tokenUrl":"http://127.0.0.1:1/token"}}}},
                "encryptionKeys":[{keys}]}}"#
        ))
        .unwrap()
    };
    let a: M = Manager::new(
        ring(&format!(
            r#"{{"id":"k2","key":"{K2}"}},{{"id":"k1","key":"{KEY}"}}"#
        )),
        p.clone(),
        store.clone(),
        rt.clone(),
    );
    let b: M = Manager::new(
        ring(&format!(r#"{{"id":"k1","key":"{KEY}"}}"#)),
        p.clone(),
        store.clone(),
        rt.clone(),
    );
    rt.run(a.store_tokens(
        "user-1",
        "google",
        InitialTokens {
            access_token: "at-k2".into(),
            refresh_token: Some("rt-k2".into()),
            expires_in_secs: Some(3600),
            ..Default::default()
        },
    ))
    .unwrap();
    let marker = store.row("user-1", "google").unwrap().token_refreshed_at;
    assert_eq!(
        rt.run(b.get_valid_token("user-1", "google", GetOptions::default()))
            .unwrap_err()
            .code,
        Code::CryptoUnknownKey
    );
    assert_eq!(
        rt.run(a.status("user-1", "google")).unwrap().status,
        "error"
    );
    // A serves it: the flag goes, the tokens stay as they were (the marker
    // too), no provider call, and nothing of the lease is left behind.
    let t = rt
        .run(a.get_valid_token("user-1", "google", GetOptions::default()))
        .unwrap();
    assert_eq!(t.access_token.expose(), "at-k2");
    let st = rt.run(a.status("user-1", "google")).unwrap();
    assert_eq!(
        (st.status.as_str(), st.last_error_code),
        ("connected", None)
    );
    let row = store.row("user-1", "google").unwrap();
    assert_eq!(row.token_refreshed_at, marker);
    assert_eq!((row.lease_owner, row.lease_until), (None, None));
    assert!(row.refresh_token_sealed.unwrap().starts_with("v1.k2."));
    assert!(store.events().iter().any(|e| e.kind == "recovered"));
    assert_eq!(p.calls(), 0);
}

#[test]
fn while_another_instance_refreshes_a_github_token_the_old_one_is_not_handed_out() {
    // Google keeps an old access token alive after a refresh: a caller that
    // waited out the lease gets it. GitHub ends it the moment its refresh
    // token is used: the caller gets LEASE_TIMEOUT (retry in 1 s) instead.
    for (provider, serves_old) in [("google", true), ("github", false)] {
        let w = world(provider);
        w.connect(provider, 290, Some("rt-0")); // inside the refresh margin, valid past the wait
        w.store.keep_leased_by_others();
        let r = w.get(provider);
        if serves_old {
            let t = r.unwrap();
            assert_eq!(t.access_token.expose(), "at-initial");
            assert_eq!(t.warning.unwrap().code, Code::LeaseTimeout);
        } else {
            let e = r.unwrap_err();
            assert_eq!(e.code, Code::LeaseTimeout);
            assert_eq!(e.retry_after_secs, Some(1));
        }
        assert_eq!(w.p.calls(), 0);
    }
}
