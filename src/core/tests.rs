//! Orchestration tests with in-memory doubles: a virtual clock whose sleeps
//! advance time, a scripted provider, and the memory store.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use futures_util::future::join_all;
use serde_json::json;

use super::config::ManagerConfig;
use super::error::Code;
use super::http::{HttpRequest, HttpResponse, Transport, TransportError};
use super::manager::{GetOptions, InitialTokens, Manager};
use super::memory::MemoryStore;
use super::runtime::Runtime;
use super::seal::{Field, SealContext};
use super::store::Store;
use super::testkit::{Rt, Sleep, YieldNow};
const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

#[derive(Clone, Debug)]
enum Reply {
    Http(HttpResponse),
    Timeout,
    Network,
}

/// A scripted token endpoint. Unscripted calls succeed with `at-N`; in
/// rotation mode they also return `rt-N`.
#[derive(Clone, Default)]
struct Provider {
    script: Rc<RefCell<VecDeque<Reply>>>,
    requests: Rc<RefCell<Vec<HttpRequest>>>,
    rotate: Rc<Cell<bool>>,
    latency_yields: Rc<Cell<u32>>,
    clock: Option<Rt>,
    latency_ms: Rc<Cell<i64>>,
}

impl Provider {
    fn calls(&self) -> usize {
        self.requests.borrow().len()
    }
    fn push(&self, r: Reply) {
        self.script.borrow_mut().push_back(r);
    }
    fn push_json(&self, status: u16, body: serde_json::Value) {
        self.push(Reply::Http(HttpResponse::json(status, &body)));
    }
    fn last_body(&self) -> String {
        self.requests.borrow().last().unwrap().body.clone()
    }
}

impl Transport for Provider {
    async fn send(
        &self,
        request: HttpRequest,
        _timeout_ms: u64,
    ) -> Result<HttpResponse, TransportError> {
        self.requests.borrow_mut().push(request);
        let n = self.calls();
        for _ in 0..self.latency_yields.get() {
            YieldNow(false).await;
        }
        if let (Some(c), ms) = (&self.clock, self.latency_ms.get()) {
            if ms > 0 {
                Sleep {
                    rt: c.clone(),
                    until: c.now_ms() + ms,
                }
                .await;
            }
        }
        let next = self.script.borrow_mut().pop_front();
        match next {
            Some(Reply::Http(r)) => Ok(r),
            Some(Reply::Timeout) => Err(TransportError::Timeout),
            Some(Reply::Network) => Err(TransportError::Network("connection reset".into())),
            None => {
                let mut body = json!({"access_token": format!("at-{n}"), "token_type": "Bearer", "expires_in": 3600});
                if self.rotate.get() {
                    body["refresh_token"] = json!(format!("rt-{n}"));
                }
                Ok(HttpResponse::json(200, &body))
            }
        }
    }
}

type M = Manager<Provider, MemoryStore, Rt>;

fn config(provider: &str, extra: &str) -> ManagerConfig {
    ManagerConfig::from_json(&format!(
        r#"{{"providers":{{"{provider}":{{"clientId":"cid","clientSecret":"csecret","tokenUrl":"http://127.0.0.1:1/token"}}}},
            "encryptionKeys":[{{"id":"k1","key":"{KEY}"}}]{extra}}}"#
    ))
    .unwrap()
}

struct World {
    m: M,
    rt: Rt,
    p: Provider,
    store: MemoryStore,
    /// `connect` calls so far: each is a new sign-in with its own access token.
    sign_ins: Cell<u32>,
}

fn world(provider: &str) -> World {
    let rt = Rt::new();
    let p = Provider {
        clock: Some(rt.clone()),
        ..Default::default()
    };
    p.latency_yields.set(3);
    let store = MemoryStore::new();
    let m = Manager::new(config(provider, ""), p.clone(), store.clone(), rt.clone());
    World {
        m,
        rt,
        p,
        store,
        sign_ins: Cell::new(0),
    }
}

impl World {
    /// Stores a connection whose access token expires in `expires_in`
    /// seconds: an hour-long token issued earlier (so the margin is the
    /// configured one, not capped by a short lifetime). The first one's
    /// access token is `at-initial`, the next ones' `at-initial-2`, … (a
    /// sign-in brings a new one; the same one again is a resend).
    fn connect(&self, provider: &str, expires_in: i64, refresh: Option<&str>) {
        let n = self.sign_ins.get() + 1;
        self.sign_ins.set(n);
        self.sign_in(
            provider,
            InitialTokens {
                access_token: if n == 1 {
                    "at-initial".into()
                } else {
                    format!("at-initial-{n}")
                },
                refresh_token: refresh.map(str::to_string),
                expires_at_ms: Some(self.rt.now_ms() + expires_in * 1000),
                scope: Some("calendar".into()),
                ..Default::default()
            },
        );
        if let Some(mut row) = self.store.row("user-1", provider) {
            row.token_refreshed_at = row.expires_at.map(|e| e - 3_600_000);
            self.store.put_row(row);
        }
    }
    /// Stores `user-1`'s tokens for `provider`, as a sign-in hands them over.
    fn sign_in(&self, provider: &str, tokens: InitialTokens) -> super::manager::StatusReport {
        self.rt
            .run(self.m.store_tokens("user-1", provider, tokens))
            .unwrap()
    }
    fn get(&self, provider: &str) -> super::error::Result<super::manager::ValidToken> {
        self.rt.run(
            self.m
                .get_valid_token("user-1", provider, GetOptions::default()),
        )
    }
    fn stored_refresh_token(&self, provider: &str) -> Option<String> {
        stored_refresh_token(&self.store, provider)
    }
    /// A call for user-1's token with `opts` while, 50 ms into it (the
    /// provider's latency set longer), the same instance stores a sign-in's
    /// `tokens`: the call's outcome.
    fn get_while_signing_in(
        &self,
        provider: &str,
        opts: GetOptions,
        tokens: InitialTokens,
    ) -> super::error::Result<super::manager::ValidToken> {
        let meanwhile = async {
            Sleep {
                rt: self.rt.clone(),
                until: self.rt.now_ms() + 50,
            }
            .await;
            self.m
                .store_tokens("user-1", provider, tokens)
                .await
                .unwrap();
        };
        let (got, ()) = self.rt.run(futures_util::future::join(
            self.m.get_valid_token("user-1", provider, opts),
            meanwhile,
        ));
        got
    }
}

/// user-1's refresh token for `provider` as `store` holds it, opened.
fn stored_refresh_token(store: &MemoryStore, provider: &str) -> Option<String> {
    let row = store.row("user-1", provider).unwrap();
    let ring = super::seal::Keyring::new(&[super::seal::KeyConfig {
        id: "k1".into(),
        key: KEY.into(),
    }])
    .unwrap();
    row.refresh_token_sealed.map(|s| {
        ring.open(
            &s,
            &SealContext {
                user_id: "user-1",
                provider,
                field: Field::RefreshToken,
            },
        )
        .unwrap()
    })
}

#[test]
fn construction_draws_no_randomness_and_the_instance_id_is_drawn_once() {
    let w = world("google");
    assert_eq!(w.rt.seq.get(), 0, "nothing drawn by Manager::new");
    let id = w.m.instance_id().to_string();
    assert_eq!(id.len(), 12);
    let drawn = w.rt.seq.get();
    assert_ne!(drawn, 0);
    assert_eq!(w.m.instance_id(), id);
    assert_eq!(w.rt.seq.get(), drawn, "kept, not drawn again");
}

#[test]
fn fresh_token_needs_no_provider_call() {
    let w = world("google");
    w.connect("google", 3600, Some("rt-0"));
    let t = w.get("google").unwrap();
    assert_eq!(t.access_token.expose(), "at-initial");
    assert!(!t.refreshed);
    assert_eq!(w.p.calls(), 0);
}

#[test]
fn expired_token_is_refreshed_once_and_the_marker_moves() {
    let w = world("google");
    w.connect("google", -10, Some("rt-0"));
    let before = w.store.row("user-1", "google").unwrap();
    w.rt.advance(1000);
    let t = w.get("google").unwrap();
    assert_eq!(t.access_token.expose(), "at-1");
    assert!(t.refreshed);
    assert_eq!(w.p.calls(), 1);
    assert!(w
        .p
        .last_body()
        .contains("grant_type=refresh_token&refresh_token=rt-0"));
    let row = w.store.row("user-1", "google").unwrap();
    assert_eq!(row.version, before.version + 1);
    assert!(row.token_refreshed_at.unwrap() > before.token_refreshed_at.unwrap());
    assert_eq!(t.token_refreshed_at_ms, row.token_refreshed_at);
    assert_eq!(row.status, "connected");
    assert_eq!(row.lease_owner, None);
    assert_eq!(
        w.stored_refresh_token("google").as_deref(),
        Some("rt-0"),
        "old refresh token kept"
    );
    // Second call: cached, no provider call.
    assert_eq!(w.get("google").unwrap().access_token.expose(), "at-1");
    assert_eq!(w.p.calls(), 1);
    assert!(w.rt.events.borrow().iter().any(|e| e.kind == "refreshed"));
}

#[test]
fn proactive_refresh_inside_the_margin() {
    let w = world("google");
    w.connect("google", 120, Some("rt-0")); // default Google margin is 300 s
    let t = w.get("google").unwrap();
    assert!(t.refreshed);
    assert_eq!(w.p.calls(), 1);
}

#[test]
fn hundred_concurrent_requests_on_one_instance_make_one_provider_call() {
    let w = world("google");
    w.connect("google", -1, Some("rt-0"));
    let results = w.rt.run(join_all((0..100).map(|_| {
        w.m.get_valid_token("user-1", "google", GetOptions::default())
    })));
    assert_eq!(w.p.calls(), 1);
    assert_eq!(
        w.store.lease_calls(),
        1,
        "in-process single flight: one lease attempt, not 100"
    );
    let mut refreshed = 0;
    for r in results {
        let t = r.unwrap();
        assert_eq!(t.access_token.expose(), "at-1");
        refreshed += usize::from(t.refreshed);
    }
    assert_eq!(refreshed, 1, "followers shared the leader's refresh");
    assert_eq!(w.m.flights.in_flight(), 0);
}

/// Two instances (managers) on one store, a provider taking `latency_ms`,
/// and user-1's `provider` connection just expired.
fn two_instances(provider: &str, latency_ms: i64) -> (Rt, Provider, MemoryStore, M, M) {
    let rt = Rt::new();
    let p = Provider {
        clock: Some(rt.clone()),
        ..Default::default()
    };
    p.latency_ms.set(latency_ms);
    let store = MemoryStore::new();
    let a: M = Manager::new(config(provider, ""), p.clone(), store.clone(), rt.clone());
    let b: M = Manager::new(config(provider, ""), p.clone(), store.clone(), rt.clone());
    rt.run(a.store_tokens(
        "user-1",
        provider,
        InitialTokens {
            access_token: "at-0".into(),
            refresh_token: Some("rt-0".into()),
            expires_in_secs: Some(0),
            ..Default::default()
        },
    ))
    .unwrap();
    rt.advance(1);
    (rt, p, store, a, b)
}

#[test]
fn two_instances_sharing_a_store_make_one_provider_call() {
    let (rt, p, store, a, b) = two_instances("discord", 300);
    p.latency_yields.set(20);
    p.rotate.set(true);
    assert_ne!(a.instance_id(), b.instance_id());
    let calls = (0..100).map(|i| {
        let m = if i % 2 == 0 { &a } else { &b };
        m.get_valid_token("user-1", "discord", GetOptions::default())
    });
    let results = rt.run(join_all(calls));
    assert_eq!(p.calls(), 1, "exactly one token call across both instances");
    for r in results {
        assert_eq!(r.unwrap().access_token.expose(), "at-1");
    }
    let row = store.row("user-1", "discord").unwrap();
    assert_eq!(row.lease_owner, None);
}

#[test]
fn a_dead_lease_holder_is_taken_over_after_the_lease() {
    let w = world("google");
    w.connect("google", -1, Some("rt-0"));
    let now = w.rt.now_ms();
    let lease = w.m.policy().lease_ms;
    w.rt.run(
        w.store
            .try_lease("user-1", "google", "dead-instance:1", now, now + lease),
    )
    .unwrap();
    let t = w.get("google").unwrap();
    assert_eq!(t.access_token.expose(), "at-1");
    assert_eq!(w.p.calls(), 1);
    assert!(
        w.rt.now_ms() >= now + lease,
        "waited for the lease to expire"
    );
    assert!(w.rt.now_ms() < now + lease + 2_000, "took it over promptly");
}

#[test]
fn waiting_for_a_live_holder_returns_its_result() {
    let w = world("google");
    w.connect("google", -1, Some("rt-0"));
    let other: M = Manager::new(
        config("google", ""),
        w.p.clone(),
        w.store.clone(),
        w.rt.clone(),
    );
    w.p.latency_yields.set(50);
    let (a, b) = w.rt.run(futures_util::future::join(
        other.get_valid_token("user-1", "google", GetOptions::default()),
        w.m.get_valid_token("user-1", "google", GetOptions::default()),
    ));
    assert_eq!(a.unwrap().access_token, b.unwrap().access_token);
    assert_eq!(w.p.calls(), 1);
}

#[test]
fn force_refreshes_a_fresh_token_once_for_concurrent_callers() {
    let w = world("google");
    w.connect("google", 3600, Some("rt-0"));
    let force = GetOptions {
        force: true,
        ..Default::default()
    };
    let results = w.rt.run(join_all(
        (0..10).map(|_| w.m.get_valid_token("user-1", "google", force)),
    ));
    assert_eq!(w.p.calls(), 1);
    for r in results {
        assert_eq!(r.unwrap().access_token.expose(), "at-1");
    }
}

/// Isolates (two managers on one store) whose Calendar calls each got a 401
/// for the same token force one after another: the later one finds the
/// stored token refreshed after the one rejected and asks no provider.
#[test]
fn a_forced_refresh_after_a_401_another_caller_already_answered_asks_no_provider() {
    let w = world("google");
    w.connect("google", 3600, Some("rt-0"));
    let other: M = Manager::new(
        config("google", ""),
        w.p.clone(),
        w.store.clone(),
        w.rt.clone(),
    );
    let rejected = w.get("google").unwrap();
    let after_401 = GetOptions {
        force: true,
        rejected_refreshed_at_ms: rejected.token_refreshed_at_ms,
        ..Default::default()
    };
    w.rt.advance(1_000);
    let first =
        w.rt.run(w.m.get_valid_token("user-1", "google", after_401))
            .unwrap();
    assert!(first.refreshed);
    assert_eq!(w.p.calls(), 1);
    let second =
        w.rt.run(other.get_valid_token("user-1", "google", after_401))
            .unwrap();
    assert_eq!(second.access_token, first.access_token);
    assert!(!second.refreshed);
    assert_eq!(w.p.calls(), 1, "no second provider call for the same 401");
    // A 401 of the new token, or a force without what was rejected: refreshed.
    w.rt.advance(1_000);
    let again = GetOptions {
        rejected_refreshed_at_ms: first.token_refreshed_at_ms,
        ..after_401
    };
    assert!(
        w.rt.run(other.get_valid_token("user-1", "google", again))
            .unwrap()
            .refreshed
    );
    w.rt.advance(1_000);
    let plain = GetOptions {
        force: true,
        ..Default::default()
    };
    assert!(
        w.rt.run(other.get_valid_token("user-1", "google", plain))
            .unwrap()
            .refreshed
    );
    assert_eq!(w.p.calls(), 3);
}

#[test]
fn missing_and_unknown() {
    let w = world("google");
    assert_eq!(w.get("google").unwrap_err().code, Code::NotConnected);
    assert_eq!(w.get("spotify").unwrap_err().code, Code::BadRequest);
    let e =
        w.rt.run(w.m.get_valid_token("", "google", GetOptions::default()))
            .unwrap_err();
    assert_eq!(e.code, Code::BadRequest);
    let report = w.rt.run(w.m.status("user-1", "google")).unwrap();
    assert_eq!(report.status, "disconnected");
}

#[test]
fn no_refresh_token_means_reauth() {
    let w = world("google");
    w.connect("google", -1, None);
    assert_eq!(w.get("google").unwrap_err().code, Code::ReauthRequired);
    assert_eq!(w.p.calls(), 0);
}

#[test]
fn new_tokens_that_are_already_expired_are_refreshed_not_returned() {
    let w = world("google");
    w.connect("google", -1, Some("rt-0"));
    let other: M = Manager::new(
        config("google", ""),
        w.p.clone(),
        w.store.clone(),
        w.rt.clone(),
    );
    // While this caller is on its way to the lease, another instance stores an
    // already expired token (a stale sign-in).
    let seen = w.store.row("user-1", "google").unwrap();
    w.rt.run(other.store_tokens(
        "user-1",
        "google",
        InitialTokens {
            access_token: "stale".into(),
            refresh_token: None,
            expires_at_ms: Some(w.rt.now_ms() - 1000),
            // Saying what it grants: a token alone would not replace the grant.
            scope: Some("calendar".into()),
            ..Default::default()
        },
    ))
    .unwrap();
    assert_ne!(
        w.store.row("user-1", "google").unwrap().version,
        seen.version
    );
    let provider = w.m.provider("google").unwrap();
    let t =
        w.rt.run(w.m.lead_refresh(&seen, provider, GetOptions::default()))
            .unwrap();
    assert_eq!(t.access_token.expose(), "at-1");
    assert!(t.refreshed);
    assert_eq!(w.p.calls(), 1);
}

mod failures;
mod hardening;
mod held;
mod lifecycle;
mod rotation;

/// The JS entry reuses `fresh_token`'s answer for an unchanged row at the
/// same generation before `fresh_until`: that is only sound if the answer
/// flips exactly at `fresh_until` and the generation moves when the rotated
/// tokens waiting to be saved (the instance's own state) change.
#[test]
fn fresh_token_ends_at_fresh_until_and_pending_tokens_move_the_generation() {
    let w = world("discord");
    w.p.rotate.set(true);
    w.connect("discord", 3600, Some("rt-0"));
    let row = w.store.row("user-1", "discord").unwrap();
    let until = w.m.fresh_until(&row).unwrap();
    let fresh = |w: &World| {
        w.m.fresh_token(&row, "user-1", "discord", GetOptions::default())
            .is_some()
    };
    w.rt.advance(until - 1 - w.rt.now_ms());
    assert!(fresh(&w));
    w.rt.advance(1);
    assert!(!fresh(&w));
    let g = w.m.generation();
    w.store.fail_next_commits(3);
    w.get("discord").unwrap_err();
    assert_ne!(w.m.generation(), g, "rotated tokens now wait to be saved");
    let g = w.m.generation();
    w.get("discord").unwrap();
    assert_ne!(w.m.generation(), g, "and were saved");
}
