//! The browser side of the one refresh path: a cached access token from the
//! `refresh-google-token` edge function (the browser never holds a refresh
//! token), single flight, the `token_refreshed_at` marker, and tokens shared
//! between tabs. Sans I/O: `BrowserClient` decides in calls that return at
//! once and js/client.js (through src/wasm/client.rs) does the I/O.
//! `ClientState` (client/state.rs) is what a tab knows; `wire` is what it
//! tells other tabs and listeners.
//!
//! Everything is per user: the cache belongs to the user of the session JWT
//! (its `sub`, read without verifying: the server verifies), every call
//! checks that user first, and every message between tabs names its user, so
//! a tab never serves or accepts another user's token on a shared computer.

use std::cell::{Cell, RefCell};

use super::error::{Code, Error, Result};
use super::fields::Fields;
use super::http::{HttpRequest, HttpResponse, TransportError};
use super::json::{self, Value};
use super::marker;
use super::secret::AccessToken;
use super::text::{cat, decimal};
use super::token::effective_margin;
use super::tracked::Tracked;

/// Default refresh-ahead margin in the browser: a little under the server's,
/// so the server usually has a fresh token ready.
pub const DEFAULT_CLIENT_MARGIN_MS: i64 = 60_000;
/// Timeout of one call to the edge function.
pub const FUNCTION_TIMEOUT_MS: u64 = 20_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedToken {
    pub access_token: AccessToken,
    /// On this device's clock: the request's start plus the answer's
    /// `expiresIn`, so a browser clock minutes off neither serves a token the
    /// provider has expired nor asks again and again for one still good. The
    /// server's own `expiresAt` only when the answer has no `expiresIn`.
    pub expires_at_ms: Option<i64>,
    /// The server's `token_refreshed_at` for this token (the server's clock:
    /// it is compared only with markers, which are too).
    pub refreshed_at_ms: Option<i64>,
    /// How long the token was issued for, from the server's two times (its
    /// `expiresAt` less `tokenRefreshedAt`): what the refresh-ahead margin of
    /// a short-lived token is cut to half of (`margin`).
    pub lifetime_ms: Option<i64>,
    pub scope: Option<String>,
}

impl CachedToken {
    /// The refresh-ahead margin for this token: `margin_ms`, cut to half its
    /// life for a token shorter-lived than twice that (see `effective_margin`).
    pub fn margin(&self, margin_ms: i64) -> i64 {
        match self.lifetime_ms {
            Some(l) => effective_margin(margin_ms, Some(0), Some(l)),
            None => effective_margin(margin_ms, self.refreshed_at_ms, self.expires_at_ms),
        }
    }
}

/// What a client tells its tabs and listeners. Every message to other tabs
/// names its user; tabs of other users ignore it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientEvent {
    /// A new token for `user`'s connection (shared with that user's other tabs).
    Token {
        user: String,
        conn: String,
        token: CachedToken,
    },
    /// A newer marker was seen for a connection; that user's tabs drop older tokens.
    Marker {
        user: String,
        conn: String,
        marker_ms: i64,
    },
    /// This tab's session is `user`'s (first seen, or a switch from
    /// `previous`): ask that user's tabs for their current token.
    User {
        user: String,
        previous: Option<String>,
    },
    /// Sign-out: `user`'s tabs drop their tokens.
    Reset { user: Option<String> },
    /// `user` disconnected `conn`: their tabs drop its token.
    Disconnected { user: String, conn: String },
    /// Getting a connection's token failed (listeners show it; `requires_reauth` shows "reconnect").
    Failed { conn: String, error: Error },
}

mod answers;
pub use answers::{
    check_connection, error_from_body, jwt_subject, token_from_body, token_path, CONNECTION_HEADER,
    DEFAULT_CONNECTION,
};

/// What `begin` decided for one call of `access_token`.
#[derive(Debug)]
pub enum Begin {
    /// The cache answers: a fresh token of the session's user.
    Cached(CachedToken),
    /// This call leads: send `request`, then hand its outcome to `finish(id, …)`.
    Lead { id: u32, request: HttpRequest },
    /// A call for the same user, connection and `force` is on its way: wait
    /// for flight `id`'s outcome.
    Follow(u32),
}

/// One call to a token function on its way.
#[derive(Debug)]
struct Flight {
    id: u32,
    user: String,
    conn: String,
    force: bool,
    /// With `force`: when the token its 401 rejected was refreshed.
    rejected_ms: Option<i64>,
    /// The session epoch it started in.
    epoch: u32,
    /// When its request was sent (this device's clock).
    sent_ms: i64,
    /// The connection was disconnected while it was on its way: its answer
    /// goes to its callers only, not into the cache or to other tabs.
    dropped: bool,
}

/// The browser client's decisions, sans I/O: the cache per user and
/// connection, single flight, the marker, what an answer means and what to
/// tell the user's other tabs. The caller (src/wasm and js/client.js in the
/// package) does the I/O: it sends the requests `begin` hands out, gives
/// `finish` their outcome, and delivers `take_events` to tabs and listeners.
/// Every method returns at once; none reads a clock (`now` is passed in).
pub struct BrowserClient {
    functions_url: String,
    margin_ms: i64,
    /// Tracked: the generation is what the JS entry's memo checks.
    state: Tracked<ClientState>,
    /// The last session JWT and its subject, so each call decodes it once.
    session: RefCell<Option<(String, String)>>,
    /// One call in flight per (user, connection, force).
    flights: RefCell<Vec<Flight>>,
    next_flight: Cell<u32>,
    /// What to tell tabs and listeners, in order, until taken.
    events: RefCell<Vec<Delivery>>,
}

impl BrowserClient {
    pub fn new(functions_url: &str, margin_ms: Option<i64>) -> Self {
        Self {
            functions_url: functions_url.trim_end_matches('/').to_string(),
            margin_ms: margin_ms.unwrap_or(DEFAULT_CLIENT_MARGIN_MS),
            state: Tracked::default(),
            session: RefCell::new(None),
            flights: RefCell::new(Vec::new()),
            next_flight: Cell::new(0),
            events: RefCell::new(Vec::new()),
        }
    }

    pub fn state(&self) -> ClientState {
        self.state.borrow().clone()
    }

    /// The session's user, if one was seen (without copying the state).
    pub fn user(&self) -> Option<String> {
        self.state.borrow().user().map(str::to_string)
    }

    /// Changes whenever the state may have (see `Tracked`).
    pub fn generation(&self) -> u32 {
        self.state.generation()
    }

    /// When a fresh cached token stops being answered from the cache: its
    /// expiry less the margin (`None`: it does not expire).
    pub fn fresh_until(&self, t: &CachedToken) -> Option<i64> {
        let margin = t.margin(self.margin_ms);
        t.expires_at_ms.map(|e| e.saturating_sub(margin))
    }

    pub fn functions_url(&self) -> &str {
        &self.functions_url
    }

    fn publish(&self, event: ClientEvent) {
        self.deliver(Delivery {
            event,
            from_other_tab: false,
            post_only: false,
        });
    }

    fn deliver(&self, d: Delivery) {
        self.events.borrow_mut().push(d);
    }

    /// Everything to tell tabs and listeners since the last call, in order.
    pub fn take_deliveries(&self) -> Vec<Delivery> {
        std::mem::take(&mut *self.events.borrow_mut())
    }

    /// `take_deliveries`, as JSON (see `wire::effects_json`); `None` when empty.
    pub fn take_effects_json(&self) -> Option<String> {
        let d = self.take_deliveries();
        (!d.is_empty()).then(|| wire::effects_json(&d))
    }

    /// The events of `take_deliveries`.
    pub fn take_events(&self) -> Vec<ClientEvent> {
        self.take_deliveries()
            .into_iter()
            .map(|d| d.event)
            .collect()
    }

    /// The session JWT's user. A user other than the cache's drops the cache
    /// first, so a switch is noticed on the very next call.
    pub fn session_of(&self, jwt: String) -> Result<(String, String)> {
        let known = self
            .session
            .borrow()
            .as_ref()
            .filter(|(j, _)| *j == jwt)
            .map(|(_, sub)| sub.clone());
        let user = match known {
            Some(u) => u,
            None => {
                let sub = jwt_subject(&jwt)?;
                *self.session.borrow_mut() = Some((jwt.clone(), sub.clone()));
                sub
            }
        };
        let same = self.state.borrow().user() == Some(user.as_str());
        let switched = if same {
            None
        } else {
            self.state.borrow_mut().switch_user(&user)
        };
        if let Some(previous) = switched {
            self.publish(ClientEvent::User {
                user: user.clone(),
                previous,
            });
        }
        Ok((jwt, user))
    }

    /// One call for a valid access token of the session's user's connection:
    /// the cached one if fresh at `now`, else one call to the edge function
    /// however many callers ask at once. `force` after a 401.
    pub fn begin(&self, jwt: String, conn: &str, force: bool, now: i64) -> Result<Begin> {
        self.begin_with(jwt, conn, force, now, None)
    }

    /// `begin`, with `rejected_ms` for a force after a provider's 401: when
    /// the rejected token was refreshed. A cached token refreshed after it
    /// (another tab's answer to the same 401) is answered without a call;
    /// else the forced request says it, and the server refreshes only if
    /// it holds nothing newer either.
    pub fn begin_with(
        &self,
        jwt: String,
        conn: &str,
        force: bool,
        now: i64,
        rejected_ms: Option<i64>,
    ) -> Result<Begin> {
        check_connection(conn)?;
        let (jwt, user) = self.session_of(jwt)?;
        let rejected_ms = rejected_ms.filter(|_| force);
        if let Some(t) = self
            .state
            .borrow()
            .usable(conn, now, self.margin_ms)
            .filter(|t| {
                !force
                    || t.refreshed_at_ms
                        .zip(rejected_ms)
                        .is_some_and(|(t, r)| t > r)
            })
        {
            return Ok(Begin::Cached(t.clone()));
        }
        let mut flights = self.flights.borrow_mut();
        // A flight of an earlier session (signed out and in again meanwhile)
        // is bound to fail: it is not joined.
        let epoch = self.state.borrow().session_epoch();
        // A forced flight (after a 401) is followed by every call: one that
        // did not force would otherwise ask on its own, and be answered the
        // rejected token while the server still holds it. A forced call
        // follows only a forced flight.
        let joinable = |f: &&Flight, forced: bool| {
            f.user == user && f.conn == conn && f.epoch == epoch && f.force == forced
        };
        // A forced call follows a forced flight only when that flight's
        // answer is sure to be newer than what this call's 401 rejected: it
        // forced outright, or past a rejected token at least as new.
        let answers_this = |f: &&Flight| {
            !force
                || f.rejected_ms.is_none()
                || f.rejected_ms
                    .zip(rejected_ms)
                    .is_some_and(|(rf, rc)| rf >= rc)
        };
        if let Some(f) = flights
            .iter()
            .find(|f| joinable(f, true) && answers_this(f))
            .or_else(|| flights.iter().find(|f| !force && joinable(f, false)))
        {
            return Ok(Begin::Follow(f.id));
        }
        let id = self.next_flight.get().wrapping_add(1);
        self.next_flight.set(id);
        flights.push(Flight {
            id,
            user,
            conn: conn.to_string(),
            force,
            rejected_ms,
            epoch,
            sent_ms: now,
            dropped: false,
        });
        Ok(Begin::Lead {
            id,
            request: self.token_request(&jwt, conn, force, rejected_ms),
        })
    }

    /// The token function's request. A forced one says when the rejected
    /// token was refreshed: the server serves a newer one it holds (another
    /// tab's refresh after the same 401) instead of asking the provider again.
    fn token_request(
        &self,
        jwt: &str,
        conn: &str,
        force: bool,
        rejected: Option<i64>,
    ) -> HttpRequest {
        HttpRequest {
            method: "POST",
            url: cat(&[&self.functions_url, "/", &token_path(conn)]),
            headers: vec![
                ("authorization".into(), cat(&["Bearer ", jwt])),
                ("content-type".into(), "application/json".into()),
            ],
            body: match (force, rejected) {
                (true, Some(r)) => {
                    cat(&[r#"{"force":true,"rejectedRefreshedAt":"#, &decimal(r), "}"])
                }
                (true, None) => r#"{"force":true}"#.into(),
                (false, _) => "{}".into(),
            },
        }
    }

    /// The outcome of flight `id`'s request: the token every caller of the
    /// flight gets, or the error.
    pub fn finish(
        &self,
        id: u32,
        outcome: std::result::Result<HttpResponse, TransportError>,
    ) -> Result<CachedToken> {
        self.settle(id, outcome).map(|(t, _)| t)
    }

    /// `finish`, and whether the cache took the token: not when it is older
    /// than what the cache knows (a marker, or a newer token another call
    /// brought meanwhile). The flight's callers get it either way; only a
    /// token the cache took may be answered again without asking.
    pub fn settle(
        &self,
        id: u32,
        outcome: std::result::Result<HttpResponse, TransportError>,
    ) -> Result<(CachedToken, bool)> {
        let flight = {
            let mut flights = self.flights.borrow_mut();
            let i = flights.iter().position(|f| f.id == id).ok_or_else(|| {
                Error::new(
                    Code::BadRequest,
                    "no call for a token is on its way by that id",
                )
            })?;
            flights.remove(i)
        };
        let Flight {
            user,
            conn,
            epoch,
            sent_ms,
            dropped,
            ..
        } = flight;
        let result = outcome.map_err(Error::from).and_then(|resp| {
            if let Some(m) = resp.header(marker::HEADER).and_then(marker::parse) {
                let named = resp
                    .header(CONNECTION_HEADER)
                    .filter(|c| check_connection(c).is_ok())
                    .unwrap_or(&conn);
                self.observe_marker(&user, named, m);
            }
            if !(200..300).contains(&resp.status) {
                return Err(error_from_body(resp.status, &resp.body));
            }
            token_from_body(&resp.body, sent_ms)
        });
        if self.state.borrow().session_epoch() != epoch {
            // Signed out, or another user signed in, while the answer was on
            // its way: it is not this session's to use, keep or show.
            return Err(Error::new(
                Code::Unauthorized,
                "the session changed while the token was fetched: ask again",
            ));
        }
        match result {
            Ok(t) => {
                // Taken only if the session is still this user's, and the
                // connection was not disconnected meanwhile.
                let taken = !dropped && self.state.borrow_mut().accept(&user, &conn, t.clone());
                if taken {
                    self.publish(ClientEvent::Token {
                        user,
                        conn,
                        token: t.clone(),
                    });
                }
                Ok((t, taken))
            }
            Err(e) => {
                self.publish(ClientEvent::Failed {
                    conn,
                    error: e.clone(),
                });
                Err(e)
            }
        }
    }

    /// The number of calls on their way.
    pub fn in_flight(&self) -> usize {
        self.flights.borrow().len()
    }

    /// The cached token `begin` would answer for `user` (the session's,
    /// decoded by the caller), handed to `f`: only when the cache is that
    /// user's and the token is fresh beyond the margin at `now`.
    pub fn peek_usable<O>(
        &self,
        user: &str,
        conn: &str,
        now: i64,
        f: impl FnOnce(&CachedToken) -> O,
    ) -> Option<O> {
        let state = self.state.borrow();
        if state.user() != Some(user) {
            return None;
        }
        state.usable(conn, now, self.margin_ms).map(f)
    }

    /// A marker for `user`'s connection from any edge response.
    pub fn observe_marker(&self, user: &str, conn: &str, marker_ms: i64) {
        self.observe_marker_from(user, conn, marker_ms, false);
    }

    fn observe_marker_from(&self, user: &str, conn: &str, marker_ms: i64, from_other_tab: bool) {
        let known = self.state.borrow().marker_ms(conn);
        let dropped = self
            .state
            .borrow_mut()
            .observe_marker(user, conn, marker_ms);
        let is_user = self.state.borrow().user() == Some(user);
        if is_user && (dropped || known.is_none_or(|k| marker_ms > k)) {
            self.deliver(Delivery {
                event: ClientEvent::Marker {
                    user: user.to_string(),
                    conn: conn.to_string(),
                    marker_ms,
                },
                from_other_tab,
                post_only: false,
            });
        }
    }

    /// An edge function's error answer (`callFunction` and the connection
    /// helpers): its error, reported to listeners when only a reconnect fixes it.
    pub fn function_error(&self, status: u16, body: &str, conn: Option<&str>) -> Error {
        let e = error_from_body(status, body);
        if e.requires_reauth() {
            let conn = conn
                .filter(|c| check_connection(c).is_ok())
                .unwrap_or(DEFAULT_CONNECTION);
            self.publish(ClientEvent::Failed {
                conn: conn.to_string(),
                error: e.clone(),
            });
        }
        e
    }

    /// A token another tab published for `user`'s connection. True if taken.
    pub fn accept_shared(&self, user: &str, conn: &str, t: CachedToken) -> bool {
        self.state.borrow_mut().accept(user, conn, t)
    }

    /// Another tab of `user` signed out.
    pub fn drop_shared(&self, user: &str) -> bool {
        self.state.borrow_mut().drop_tokens_of(user)
    }

    /// This tab's user disconnected `conn`: its token goes here and in the
    /// user's other tabs, which would otherwise serve it until it expires.
    /// `user` (the session's when the disconnect was asked) disconnected
    /// `conn` here: tells that user's other tabs, and drops the token when
    /// the cache is still that user's.
    pub fn disconnected(&self, user: &str, conn: &str) {
        self.drop_flights_of(user, conn);
        self.state.borrow_mut().drop_connection_of(user, conn);
        self.publish(ClientEvent::Disconnected {
            user: user.to_string(),
            conn: conn.to_string(),
        });
    }

    /// Another tab of `user` disconnected `conn`.
    pub fn disconnected_shared(&self, user: &str, conn: &str) -> bool {
        self.drop_flights_of(user, conn);
        self.state.borrow_mut().drop_connection_of(user, conn)
    }

    /// The answers on their way for `user`'s `conn` are not to be kept.
    fn drop_flights_of(&self, user: &str, conn: &str) {
        for f in self.flights.borrow_mut().iter_mut() {
            if f.user == user && f.conn == conn {
                f.dropped = true;
            }
        }
    }

    /// A provider API call answered 401 with this token: it is forgotten.
    /// True when the retry must force a refresh; false when another call
    /// already brought a newer token (forcing again would cost the provider
    /// one more refresh, and rotation, for nothing).
    pub fn rejected(&self, conn: &str, token: &AccessToken) -> bool {
        self.state.borrow_mut().invalidate(conn, token);
        self.state.borrow().token(conn).is_none()
    }

    /// Sign-out: drops this tab's token and tells the user's other tabs.
    pub fn reset(&self) {
        let user = self.state.borrow_mut().reset();
        *self.session.borrow_mut() = None;
        self.publish(ClientEvent::Reset { user });
    }

    /// `user` is no longer signed in (another user signed in over it): its
    /// other tabs drop its tokens. This tab does too when it is still that
    /// user's (or nobody's); when it already moved on to the next user (a
    /// call read the new session first), it keeps what it holds for them,
    /// and listeners hear nothing. True when this tab was reset.
    pub fn reset_user(&self, user: &str) -> bool {
        let here = self.state.borrow().user().is_none_or(|u| u == user);
        if here {
            self.state.borrow_mut().reset();
            *self.session.borrow_mut() = None;
        }
        self.deliver(Delivery {
            event: ClientEvent::Reset {
                user: Some(user.to_string()),
            },
            from_other_tab: false,
            post_only: !here,
        });
        here
    }
}

mod state;
#[cfg(test)]
mod tests;
mod wire;

pub use state::ClientState;
pub use wire::Delivery;
