//! What a browser client knows: whose session it is and, per connection, the
//! cached token and the newest marker seen. Pure state, changed only through
//! `BrowserClient` and by messages from the user's other tabs.

use super::CachedToken;
use crate::core::secret::AccessToken;
use crate::core::token::{freshness, Freshness};
use crate::core::vecmap::VecMap;

/// One connection's cache: its token and the newest marker seen for it.
#[derive(Clone, Debug, Default)]
struct Slot {
    token: Option<CachedToken>,
    marker_ms: Option<i64>,
}

impl Slot {
    fn observe_marker(&mut self, marker_ms: i64) -> bool {
        if self.marker_ms.is_none_or(|m| marker_ms > m) {
            self.marker_ms = Some(marker_ms);
        }
        let stale = self
            .token
            .as_ref()
            .is_some_and(|t| t.refreshed_at_ms.is_none_or(|r| r < marker_ms));
        if stale {
            self.token = None;
        }
        stale
    }

    /// Forgets the token and refuses it from now on, from the server (a call
    /// already on its way answers with it while the server still holds it)
    /// or from another tab still holding it: only a token refreshed after it
    /// is taken. True if there was one.
    fn forget(&mut self) -> bool {
        let Some(t) = self.token.take() else {
            return false;
        };
        if let Some(r) = t.refreshed_at_ms {
            let after = r.saturating_add(1);
            self.marker_ms = Some(self.marker_ms.map_or(after, |m| m.max(after)));
        }
        true
    }

    fn accept(&mut self, t: CachedToken) -> bool {
        let r = t.refreshed_at_ms.unwrap_or(i64::MIN);
        if self.marker_ms.is_some_and(|m| r < m) {
            return false;
        }
        if let Some(cur) = &self.token {
            let cur_r = cur.refreshed_at_ms.unwrap_or(i64::MIN);
            if r < cur_r
                || (r == cur_r
                    && cur.expires_at_ms >= t.expires_at_ms
                    && cur.access_token == t.access_token)
            {
                return false;
            }
        }
        if let Some(m) = t.refreshed_at_ms {
            self.marker_ms = Some(self.marker_ms.map_or(m, |k| k.max(m)));
        }
        self.token = Some(t);
        true
    }
}

/// What a client knows: whose it is and, per connection (`google`,
/// `spotify`, …), its cached token and the newest marker seen.
#[derive(Clone, Debug, Default)]
pub struct ClientState {
    user: Option<String>,
    /// In connection order.
    slots: VecMap<String, Slot>,
    /// Moves at every sign-out, user switch or sign-out in another tab: an
    /// answer to a call made before it is no longer this session's.
    sessions: u32,
}

impl ClientState {
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// See `sessions`.
    pub fn session_epoch(&self) -> u32 {
        self.sessions
    }

    /// The session is `user`'s now. A different user than before drops
    /// everything the previous one had. Returns the previous user when it changed.
    pub fn switch_user(&mut self, user: &str) -> Option<Option<String>> {
        if self.user.as_deref() == Some(user) {
            return None;
        }
        let previous = self.user.replace(user.to_string());
        self.slots.clear();
        self.sessions = self.sessions.wrapping_add(1);
        Some(previous)
    }

    /// Sign-out: forget the user and everything of theirs.
    pub fn reset(&mut self) -> Option<String> {
        self.slots.clear();
        self.sessions = self.sessions.wrapping_add(1);
        self.user.take()
    }

    fn is(&self, user: &str) -> bool {
        self.user.as_deref() == Some(user)
    }

    /// Another tab of this user signed out: forget the user and everything
    /// of theirs, as `reset` does. Keeping the user would let a token another
    /// of their tabs fetched before it heard of the sign-out, arriving after
    /// it, be taken again and handed to their next tab; this tab learns its
    /// user again at its next call. True if this tab was the user's.
    pub fn drop_tokens_of(&mut self, user: &str) -> bool {
        if !self.is(user) {
            return false;
        }
        self.reset();
        true
    }

    /// `user` disconnected `conn` (here or in another tab): its token goes.
    pub fn drop_connection_of(&mut self, user: &str, conn: &str) -> bool {
        if !self.is(user) {
            return false;
        }
        self.slots.get_mut(conn).is_some_and(Slot::forget)
    }

    pub fn token(&self, conn: &str) -> Option<&CachedToken> {
        self.slots.get(conn)?.token.as_ref()
    }

    pub fn marker_ms(&self, conn: &str) -> Option<i64> {
        self.slots.get(conn)?.marker_ms
    }

    /// Every connection's cached token valid beyond `margin_ms` at `now`.
    pub fn usable_all(&self, now: i64, margin_ms: i64) -> Vec<(&str, &CachedToken)> {
        self.slots
            .iter()
            .filter_map(|(c, _)| Some((c.as_str(), self.usable(c, now, margin_ms)?)))
            .collect()
    }

    /// The connection's cached token if it is valid beyond `margin_ms` at `now`.
    pub fn usable(&self, conn: &str, now: i64, margin_ms: i64) -> Option<&CachedToken> {
        self.token(conn)
            .filter(|t| freshness(t.expires_at_ms, now, t.margin(margin_ms)) == Freshness::Fresh)
    }

    /// A marker for `user`'s connection from an edge response or another tab.
    /// Ignored for another user. Drops the cached token when the server
    /// refreshed after it was issued. True if dropped.
    pub fn observe_marker(&mut self, user: &str, conn: &str, marker_ms: i64) -> bool {
        if !self.is(user) {
            return false;
        }
        self.slots
            .get_or_insert_with(conn.to_string(), Slot::default)
            .observe_marker(marker_ms)
    }

    /// A token for `user`'s connection from the server or another tab.
    /// Refused for another user, and when older than what is known (a late
    /// message from a slow tab). True if taken.
    pub fn accept(&mut self, user: &str, conn: &str, t: CachedToken) -> bool {
        if !self.is(user) {
            return false;
        }
        self.slots
            .get_or_insert_with(conn.to_string(), Slot::default)
            .accept(t)
    }

    /// The provider rejected the cached token: forget it, and refuse it
    /// if it comes back (see `Slot::forget`).
    pub fn invalidate(&mut self, conn: &str, token: &AccessToken) {
        if let Some(slot) = self.slots.get_mut(conn) {
            if slot
                .token
                .as_ref()
                .is_some_and(|t| &t.access_token == token)
            {
                slot.forget();
            }
        }
    }
}
