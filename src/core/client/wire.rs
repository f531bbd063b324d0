//! What the browser client tells the user's other tabs and the page's
//! listeners, as JSON: each `Delivery` becomes a message for the
//! BroadcastChannel and a change for listeners (`ClientChange` in the
//! package's types). Messages never leave the user's browser; changes never
//! carry a token. And the other way: a message from another tab, handled.

use super::{check_connection, BrowserClient, CachedToken, ClientEvent};
use crate::core::error::Code;
use crate::core::fields::Fields;
use crate::core::json::{quote, Value};
use crate::core::marker;
use crate::core::secret::AccessToken;
use crate::core::text::decimal;

/// One event, and where it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub event: ClientEvent,
    /// Learnt from another tab: listeners are told so, and nothing is sent back.
    pub from_other_tab: bool,
    /// Sent to the user's other tabs only (a token handed to a new tab).
    pub post_only: bool,
}

/// A JSON object written field by field; values are JSON already.
struct Obj(String);

impl Obj {
    fn of(kind: &str) -> Obj {
        let mut o = Obj(String::from("{"));
        o.0.push_str("\"type\":");
        o.0.push_str(&quote(kind));
        o
    }
    fn raw(mut self, key: &str, value: &str) -> Obj {
        self.0.push(',');
        self.0.push_str(&quote(key));
        self.0.push(':');
        self.0.push_str(value);
        self
    }
    fn str(self, key: &str, value: &str) -> Obj {
        self.raw(key, &quote(value))
    }
    fn opt_str(self, key: &str, value: Option<&str>) -> Obj {
        match value {
            Some(v) => self.str(key, v),
            None => self.raw(key, "null"),
        }
    }
    fn opt_i64(self, key: &str, value: Option<i64>) -> Obj {
        match value {
            Some(v) => self.raw(key, &decimal(v)),
            None => self.raw(key, "null"),
        }
    }
    fn bool(self, key: &str, value: bool) -> Obj {
        self.raw(key, if value { "true" } else { "false" })
    }
    fn end(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

fn token_json(t: &CachedToken) -> String {
    let mut o = Obj(String::from("{"));
    o.0.push_str("\"accessToken\":");
    o.0.push_str(&quote(t.access_token.expose()));
    o.opt_i64("expiresAt", t.expires_at_ms)
        .opt_str(
            "tokenRefreshedAt",
            t.refreshed_at_ms.map(marker::format).as_deref(),
        )
        .opt_i64("lifetimeMs", t.lifetime_ms)
        .opt_str("scope", t.scope.as_deref())
        .end()
}

fn reset_change(reason: &str, from_other_tab: bool) -> String {
    Obj::of("reset")
        .str("reason", reason)
        .bool("fromOtherTab", from_other_tab)
        .end()
}

/// The message for the user's other tabs and the change for listeners that
/// a delivery makes (either may be absent).
pub fn effect(d: &Delivery) -> (Option<String>, Option<String>) {
    let other = d.from_other_tab;
    let (post, notify) = match &d.event {
        ClientEvent::Token { user, conn, token } => (
            Some(
                Obj::of("token")
                    .str("user", user)
                    .str("conn", conn)
                    .raw("token", &token_json(token))
                    .end(),
            ),
            Some(
                Obj::of("token")
                    .str("provider", conn)
                    .opt_i64("expiresAt", token.expires_at_ms)
                    .opt_str(
                        "tokenRefreshedAt",
                        token.refreshed_at_ms.map(marker::format).as_deref(),
                    )
                    .bool("fromOtherTab", other)
                    .end(),
            ),
        ),
        ClientEvent::Marker {
            user,
            conn,
            marker_ms,
        } => {
            let m = marker::format(*marker_ms);
            (
                Some(
                    Obj::of("marker")
                        .str("user", user)
                        .str("conn", conn)
                        .str("marker", &m)
                        .end(),
                ),
                Some(
                    Obj::of("marker")
                        .str("provider", conn)
                        .str("tokenRefreshedAt", &m)
                        .end(),
                ),
            )
        }
        // Ask this user's other tabs for their current token.
        ClientEvent::User { user, previous } => (
            Some(Obj::of("hello").str("user", user).end()),
            previous
                .as_ref()
                .map(|_| reset_change("user-changed", other)),
        ),
        ClientEvent::Reset { user } => (
            user.as_ref().map(|u| Obj::of("reset").str("user", u).end()),
            Some(reset_change("sign-out", other)),
        ),
        ClientEvent::Disconnected { user, conn } => (
            Some(
                Obj::of("disconnect")
                    .str("user", user)
                    .str("conn", conn)
                    .end(),
            ),
            Some(
                Obj::of("disconnected")
                    .str("provider", conn)
                    .bool("fromOtherTab", other)
                    .end(),
            ),
        ),
        ClientEvent::Failed { conn, error: e } => {
            let mut change = Obj::of("error")
                .str("provider", conn)
                .str("code", e.code.as_str())
                .str("message", &e.message)
                .bool("requiresReauth", e.requires_reauth());
            if let Some(r) = e.retry_after_secs {
                change = change.raw("retryAfter", &decimal(r as i64));
            }
            (None, Some(change.end()))
        }
    };
    if other {
        (None, notify)
    } else if d.post_only {
        (post, None)
    } else {
        (post, notify)
    }
}

/// Deliveries as one JSON array of `[message, change]` pairs (`null` where absent).
pub fn effects_json(deliveries: &[Delivery]) -> String {
    let mut out = String::from("[");
    for (i, d) in deliveries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let (post, notify) = effect(d);
        out.push('[');
        out.push_str(post.as_deref().unwrap_or("null"));
        out.push(',');
        out.push_str(notify.as_deref().unwrap_or("null"));
        out.push(']');
    }
    out.push(']');
    out
}

fn token_of(v: &Value) -> Option<CachedToken> {
    let f = Fields::new(v, "token", Code::BadRequest).ok()?;
    Some(CachedToken {
        access_token: AccessToken::new(f.str("accessToken").ok()?),
        expires_at_ms: f.opt_i64("expiresAt").ok()?,
        refreshed_at_ms: f
            .opt_str("tokenRefreshedAt")
            .ok()?
            .and_then(|m| marker::parse(&m)),
        lifetime_ms: f.opt_i64("lifetimeMs").ok()?,
        scope: f.opt_str("scope").ok()?,
    })
}

impl BrowserClient {
    /// A message from another tab, at `now`. Messages without a user, or for
    /// a user other than this tab's, change nothing.
    pub fn receive(&self, msg: &Value, now: i64) {
        let Some(user) = msg.get("user").and_then(Value::as_str) else {
            return;
        };
        let conn = msg
            .get("conn")
            .and_then(Value::as_str)
            .filter(|c| check_connection(c).is_ok());
        let shared = |event: ClientEvent| Delivery {
            event,
            from_other_tab: true,
            post_only: false,
        };
        match (msg.get("type").and_then(Value::as_str), conn) {
            (Some("token"), Some(conn)) => {
                if let Some(t) = msg.get("token").and_then(token_of) {
                    if self.accept_shared(user, conn, t.clone()) {
                        self.deliver(shared(ClientEvent::Token {
                            user: user.to_string(),
                            conn: conn.to_string(),
                            token: t,
                        }));
                    }
                }
            }
            (Some("marker"), Some(conn)) => {
                if let Some(m) = msg
                    .get("marker")
                    .and_then(Value::as_str)
                    .and_then(marker::parse)
                {
                    self.observe_marker_from(user, conn, m, true);
                }
            }
            (Some("hello"), _) => {
                // Another tab of this user: hand it the current tokens.
                let state = self.state();
                if state.user() == Some(user) {
                    for (conn, t) in state.usable_all(now, 0) {
                        self.deliver(Delivery {
                            event: ClientEvent::Token {
                                user: user.to_string(),
                                conn: conn.to_string(),
                                token: t.clone(),
                            },
                            from_other_tab: false,
                            post_only: true,
                        });
                    }
                }
            }
            (Some("disconnect"), Some(conn)) if self.disconnected_shared(user, conn) => {
                self.deliver(shared(ClientEvent::Disconnected {
                    user: user.to_string(),
                    conn: conn.to_string(),
                }));
            }
            (Some("reset"), _) if self.drop_shared(user) => {
                self.deliver(shared(ClientEvent::Reset {
                    user: Some(user.to_string()),
                }));
            }
            _ => {}
        }
    }
}
