//! Saving a refresh's outcome without ever losing a rotated refresh token:
//! the conditional write and its retries, a rotation held in memory when the
//! store fails (saved before anything else at the next call), a refused
//! answer's new refresh token kept, and a missing scope's flag kept.

use super::super::error::{Code, Error, Result};
use super::super::grant::Applied;
use super::super::http::Transport;
use super::super::manager::{Manager, Pending, ValidToken};
use super::super::runtime::Runtime;
use super::super::seal::Field;
use super::super::secret::RefreshToken;
use super::super::status::Status;
use super::super::store::{ConnectionRow, RefreshEvent, Store, TokenWrite};
use super::super::token::{freshness, Freshness, TokenSet};

/// What an event says of a failed store write, rather than the store's words.
const STORE_FAILED: &str = "the refreshed tokens could not be saved";

/// A held rotation's save failed again.
fn still_unsaved(e: &Error) -> Error {
    Error::new(
        Code::RotationNotSaved,
        format!("a rotated refresh token is still unsaved: {}", e.message),
    )
}

/// Recorded on the row and in events, which the user may read: never the
/// store's own words.
const HELD: &str = "the provider issued a new refresh token that could not be saved; this instance holds it and retries the save on the next call";

/// What writing over a refresh token a sign-in kept came to.
enum Over {
    /// The row holds another refresh token: ours is not the only live one.
    NotSpent,
    Written,
    /// Another write moved the version again.
    Raced,
    /// The store failed; the row's version when it was read.
    Failed(Error, i64),
}

/// What saving a pending rotation came to.
pub(super) enum Flushed {
    /// The call's answer.
    Answer(Result<ValidToken>),
    /// Saved, with an access token already expired: refresh now.
    SavedExpired,
    /// Another write came first (the held tokens were obsolete, or were
    /// written beside it): the row as it now is decides.
    Superseded,
    /// Another write kept the refresh token the held one replaces, and the
    /// held one could not be written beside it: still held. The row's own
    /// access token may serve meanwhile (never a refresh with its token).
    Held(Box<ConnectionRow>, Error),
}

impl<T: Transport, S: Store, R: Runtime> Manager<T, S, R> {
    /// An answer refused by the strict checks still carried a new refresh
    /// token: the server has rotated and the one it was sent may be dead.
    /// Stores the new one beside the access token the row already has (its
    /// marker unchanged: the access token is the same); the refusal is then
    /// recorded as any failure. If the store fails here too, the new token is
    /// held in memory and saved at the next call, as a refresh's would be.
    pub(super) async fn keep_refused_rotation(
        &self,
        row: &ConnectionRow,
        old: &TokenSet,
        new: RefreshToken,
    ) -> bool {
        let now = self.rt.now_ms();
        let tokens = TokenSet {
            refresh_token: Some(new),
            // The refused answer's lifetime for the new token is not trusted.
            refresh_token_expires_at_ms: None,
            ..old.clone()
        };
        let mut write = self.sealed_write(row, &tokens, now);
        write.refreshed_at = row.token_refreshed_at.unwrap_or(now);
        let saved = match self.store.commit_refresh(&write, row.version, None).await {
            Ok(saved) => saved,
            Err(_) => {
                // The store failed: the old token is spent, so the new one
                // is held in memory and saved before anything else at the
                // next call, as a successful refresh's would be.
                self.pending.borrow_mut().insert(
                    (row.user_id.clone(), row.provider.clone()),
                    Pending {
                        write,
                        expected_version: row.version,
                        tokens,
                        spent: row.refresh_token_sealed.clone(),
                    },
                );
                false
            }
        };
        let mut ev = self.event(row, "rotation_kept");
        ev.rotated = Some(true);
        if !saved {
            ev.kind = "rotation_not_saved".to_string();
            ev.code = Some(Code::RotationNotSaved.as_str().to_string());
        }
        self.emit(ev).await;
        saved
    }

    pub(crate) fn sealed_write(&self, row: &ConnectionRow, t: &TokenSet, now: i64) -> TokenWrite {
        TokenWrite {
            user_id: row.user_id.clone(),
            provider: row.provider.clone(),
            access_token_sealed: self.seal(
                t.access_token.expose(),
                &row.user_id,
                &row.provider,
                Field::AccessToken,
            ),
            refresh_token_sealed: t
                .refresh_token
                .as_ref()
                .map(|r| self.seal(r.expose(), &row.user_id, &row.provider, Field::RefreshToken)),
            expires_at: t.expires_at_ms,
            refresh_token_expires_at: t.refresh_token_expires_at_ms,
            scope: t.scope.clone(),
            refreshed_at: now,
            account_id: None,
            account_email: None,
            account_name: None,
            keep_stored_refresh_token: false,
            forget_stored_account: false,
            signin_digest: None,
        }
    }

    pub(super) async fn save_refreshed(
        &self,
        row: &ConnectionRow,
        applied: Applied,
        owner: &str,
        attempts: u32,
        started: i64,
    ) -> Result<ValidToken> {
        let now = self.rt.now_ms();
        let write = self.sealed_write(row, &applied.tokens, now);
        let token = ValidToken {
            access_token: applied.tokens.access_token.clone(),
            expires_at_ms: applied.tokens.expires_at_ms,
            token_refreshed_at_ms: Some(now),
            scope: applied.tokens.scope.clone(),
            refreshed: true,
            warning: None,
        };
        let mut ev = self.event(row, "refreshed");
        ev.attempts = Some(attempts);
        ev.rotated = Some(applied.rotated);
        ev.scopes_added = applied.scopes_added.clone();
        ev.scopes_removed = applied.scopes_removed.clone();
        let policy = &self.cfg.policy;
        let mut last_err = None;
        // The row's version when a write over a kept spent token failed.
        let mut held_version = None;
        let with_event = self.store.commits_events();
        for attempt in 1..=policy.store_write_attempts {
            ev.duration_ms = Some(self.rt.now_ms() - started);
            match self
                .store
                .commit_refresh(&write, row.version, with_event.then_some(&ev))
                .await
            {
                Ok(true) => {
                    if with_event {
                        // Recorded with the tokens; the runtime hook still hears it.
                        self.rt.emit(&ev);
                    } else {
                        self.emit(ev).await;
                    }
                    if super::super::lifecycle::missing_scope(row) {
                        // A refresh cannot add scopes: the flag stays. The
                        // store's commit keeps it in the same write (the
                        // contract); this write is for a store that does not.
                        self.keep_scope_flag(row).await;
                    }
                    return Ok(token);
                }
                Ok(false) => {
                    let mut current = self
                        .store
                        .load(&row.user_id, &row.provider)
                        .await
                        .ok()
                        .flatten();
                    // An earlier attempt that failed on its way back had
                    // landed (a sealed value is unique: its nonce is random).
                    if current
                        .as_ref()
                        .and_then(|c| c.access_token_sealed.as_deref())
                        == Some(write.access_token_sealed.as_str())
                    {
                        // The landed commit recorded the event with the tokens.
                        if with_event {
                            self.rt.emit(&ev);
                        } else {
                            self.emit(ev).await;
                        }
                        return Ok(token);
                    }
                    if applied.rotated {
                        match self
                            .commit_over_spent_token(
                                current.as_ref(),
                                row,
                                &write,
                                with_event.then_some(&ev),
                            )
                            .await
                        {
                            Over::Written => {
                                if with_event {
                                    self.rt.emit(&ev);
                                } else {
                                    self.emit(ev).await;
                                }
                                return Ok(token);
                            }
                            // Ours is the only live refresh token and it
                            // could not be written: held, as below.
                            Over::Failed(e, version) => {
                                held_version = Some(version);
                                last_err = Some(e);
                                break;
                            }
                            Over::Raced => {
                                // Another write again: a disconnect is handled
                                // below; anything else, ours is held.
                                current = self
                                    .store
                                    .load(&row.user_id, &row.provider)
                                    .await
                                    .ok()
                                    .flatten();
                                if !current.as_ref().is_some_and(|c| {
                                    Status::parse(&c.status) == Some(Status::Disconnected)
                                }) {
                                    held_version = current.as_ref().map(|c| c.version);
                                    last_err = Some(Error::storage(
                                        "the connection changed again while the rotated token was saved",
                                    ));
                                    break;
                                }
                            }
                            Over::NotSpent => {}
                        }
                    }
                    // The user disconnected while the provider answered: the
                    // tokens it just issued are revoked where the provider
                    // allows (a single-use refresh token spent before the
                    // disconnect's revocation would leave them standing) and
                    // not handed out.
                    if current
                        .as_ref()
                        .is_some_and(|c| Status::parse(&c.status) == Some(Status::Disconnected))
                    {
                        self.revoke_quietly(&row.provider, &applied.tokens).await;
                        ev.kind = "revoked_after_disconnect".to_string();
                        ev.code = Some(Code::NotConnected.as_str().to_string());
                        self.emit(ev).await;
                        return Err(super::super::manager::not_connected(&row.provider));
                    }
                    // Our lease expired and another writer moved the version.
                    // Our token is valid; theirs is in the store. A writer
                    // that kept our lease (a sign-in keeping the refresh
                    // token) left it ours to release.
                    let _ = self
                        .store
                        .release_lease(&row.user_id, &row.provider, owner)
                        .await;
                    ev.kind = "lease_lost".to_string();
                    ev.code = Some(Code::LeaseTimeout.as_str().to_string());
                    self.emit(ev).await;
                    return Ok(token);
                }
                Err(e) => {
                    last_err = Some(e);
                    if attempt < policy.store_write_attempts {
                        self.rt
                            .sleep_ms(policy.backoff_ms(attempt, self.rt.random_unit()))
                            .await;
                    }
                }
            }
        }
        let cause = last_err.map(|e| e.message).unwrap_or_default();
        if !applied.rotated {
            // The stored refresh token still works: nothing is lost.
            let _ = self
                .store
                .release_lease(&row.user_id, &row.provider, owner)
                .await;
            ev.kind = "store_failed".to_string();
            ev.code = Some(Code::Storage.as_str().to_string());
            // Not the store's own words: they can name the database's host,
            // and events are the user's to read (the caller's warning has them).
            ev.message = Some(STORE_FAILED.to_string());
            self.emit(ev).await;
            return Ok(ValidToken {
                warning: Some(Error::storage(format!(
                    "refreshed but could not save: {cause}"
                ))),
                ..token
            });
        }
        // The provider rotated the refresh token and the old one may be dead.
        // Keep the new one in memory (the next call saves it before anything
        // else) and block other instances from refreshing with the old one.
        self.pending.borrow_mut().insert(
            (row.user_id.clone(), row.provider.clone()),
            Pending {
                write,
                expected_version: row.version,
                tokens: applied.tokens.clone(),
                spent: row.refresh_token_sealed.clone(),
            },
        );
        // Recorded on the row and in an event, which the user may read: the
        // store's own words (`cause`) stay out, as above.
        let err = Error::new(Code::RotationNotSaved, HELD);
        // Our lease stays until it ends, where the row could not say so: no
        // one else refreshes with the spent token meanwhile.
        self.mark_held(row, held_version.unwrap_or(row.version), owner, now)
            .await;
        ev.kind = "rotation_not_saved".to_string();
        ev.code = Some(err.code.as_str().to_string());
        ev.message = Some(err.message.clone());
        self.emit(ev).await;
        Err(err)
    }

    /// Our refresh spent the row's refresh token and the provider rotated it,
    /// but another write moved the version meanwhile. When that write kept
    /// the same, now spent, refresh token (a sign-in without one), ours is the
    /// only live one: it is written over it.
    async fn commit_over_spent_token(
        &self,
        current: Option<&ConnectionRow>,
        row: &ConnectionRow,
        write: &TokenWrite,
        ev: Option<&RefreshEvent>,
    ) -> Over {
        let Some(current) = current else {
            return Over::NotSpent;
        };
        if current.refresh_token_sealed.is_none()
            || current.refresh_token_sealed != row.refresh_token_sealed
        {
            return Over::NotSpent;
        }
        match self.store.commit_refresh(write, current.version, ev).await {
            Ok(true) => Over::Written,
            Ok(false) => Over::Raced,
            Err(e) => Over::Failed(e, current.version),
        }
    }

    /// A rotation this instance holds unsaved: the row as it now is
    /// (`version`) says so, with a cooldown, so that no other instance
    /// refreshes with the spent token meanwhile. Best effort.
    async fn mark_held(&self, row: &ConnectionRow, version: i64, owner: &str, now: i64) {
        let mut f = super::super::lifecycle::flag(
            row,
            Status::Error,
            Code::RotationNotSaved,
            HELD.to_string(),
            now,
            row.failure_count.saturating_add(1),
        );
        f.owner = owner.to_string();
        f.cooldown_until = Some(now + self.cfg.policy.cooldown_cap_ms);
        f.expected_version = Some(version);
        let _ = self.store.record_failure(&f).await;
    }

    /// Revokes tokens no connection holds any more, where the provider
    /// allows; the outcome changes nothing (best effort).
    async fn revoke_quietly(&self, provider_id: &str, tokens: &TokenSet) {
        let Some(provider) = self.cfg.providers.get(provider_id) else {
            return;
        };
        if let Some(req) = super::super::revoke::revocation_request(provider, tokens) {
            let _ = self
                .transport
                .send(req, self.cfg.policy.request_timeout_ms)
                .await;
        }
    }

    /// A held rotation is saved: no longer held, and said so.
    async fn saved_late(&self, row: &ConnectionRow, key: &(String, String)) {
        self.pending.borrow_mut().remove(key);
        let mut ev = self.event(row, "rotation_saved_late");
        ev.rotated = Some(true);
        self.emit(ev).await;
    }

    /// Saves rotated tokens an earlier call could not. `None`: nothing pending.
    pub(super) async fn flush_pending(&self, row: &ConnectionRow) -> Option<Flushed> {
        let key = (row.user_id.clone(), row.provider.clone());
        let pending = self.pending.borrow().get(&key).cloned()?;
        let now = self.rt.now_ms();
        let token = ValidToken {
            access_token: pending.tokens.access_token.clone(),
            expires_at_ms: pending.tokens.expires_at_ms,
            token_refreshed_at_ms: Some(pending.write.refreshed_at),
            scope: pending.tokens.scope.clone(),
            refreshed: false,
            warning: None,
        };
        match self
            .store
            .commit_refresh(&pending.write, pending.expected_version, None)
            .await
        {
            Ok(true) => {
                self.saved_late(row, &key).await;
                // A refused answer's kept token comes with the old access
                // token: saved, and refreshed now if that one has expired.
                if freshness(pending.tokens.expires_at_ms, now, 0) == Freshness::Expired {
                    return Some(Flushed::SavedExpired);
                }
                Some(Flushed::Answer(Ok(token)))
            }
            Ok(false) => {
                // Someone else wrote newer tokens. A new grant's make ours
                // obsolete; a write that kept the refresh token ours spent
                // (a sign-in without one) does not: ours is the only live
                // one, written beside that write's access token. Held until
                // it is written or shown obsolete.
                let current = match self.store.load(&row.user_id, &row.provider).await {
                    Ok(Some(c)) => c,
                    Ok(None) => {
                        self.pending.borrow_mut().remove(&key);
                        return Some(Flushed::Superseded);
                    }
                    Err(e) => return Some(Flushed::Answer(Err(still_unsaved(&e)))),
                };
                if current.refresh_token_sealed.is_none()
                    || current.refresh_token_sealed != pending.spent
                    || current.access_token_sealed.is_none()
                {
                    self.pending.borrow_mut().remove(&key);
                    return Some(Flushed::Superseded);
                }
                let write = TokenWrite {
                    access_token_sealed: current.access_token_sealed.clone().unwrap_or_default(),
                    expires_at: current.expires_at,
                    scope: current.scope.clone(),
                    refreshed_at: current.token_refreshed_at.unwrap_or(now),
                    ..pending.write
                };
                match self
                    .store
                    .commit_refresh(&write, current.version, None)
                    .await
                {
                    Ok(true) => {
                        self.saved_late(row, &key).await;
                        Some(Flushed::Superseded)
                    }
                    // Another write came first again (a disconnect, maybe):
                    // still held, looked at afresh by the next call; nothing
                    // served from a row that is no longer as read.
                    Ok(false) => Some(Flushed::Answer(Err(Error::new(
                        Code::RotationNotSaved,
                        "a rotated refresh token is still unsaved: the connection changed meanwhile; ask again",
                    )
                    .with_retry_after(Some(1))))),
                    Err(e) => {
                        // Still held, as it was: the next call finds the
                        // version moved again and writes it beside the row's.
                        // The row says so, with a cooldown, so that no other
                        // instance refreshes with the spent token meanwhile.
                        self.mark_held(&current, current.version, "", now).await;
                        let mut ev = self.event(row, "rotation_not_saved");
                        ev.rotated = Some(true);
                        ev.code = Some(Code::RotationNotSaved.as_str().to_string());
                        self.emit(ev).await;
                        Some(Flushed::Held(Box::new(current), still_unsaved(&e)))
                    }
                }
            }
            Err(e) => {
                let err = still_unsaved(&e);
                Some(Flushed::Answer(
                    if freshness(pending.tokens.expires_at_ms, now, 0) != Freshness::Expired {
                        Ok(ValidToken {
                            warning: Some(err),
                            ..token
                        })
                    } else {
                        Err(err)
                    },
                ))
            }
        }
    }

    async fn keep_scope_flag(&self, row: &ConnectionRow) {
        let mut w = super::super::lifecycle::flag(
            row,
            Status::NeedsReauth,
            Code::InsufficientScope,
            row.last_error_message.clone().unwrap_or_default(),
            row.last_error_at.unwrap_or_else(|| self.rt.now_ms()),
            0,
        );
        // Only on the row our commit wrote (not on a reconnect or a
        // disconnect landed since), whose cooldown the commit cleared.
        w.expected_version = Some(row.version.saturating_add(1));
        w.cooldown_until = None;
        let _ = self.store.record_failure(&w).await;
    }
}
