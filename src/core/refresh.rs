//! One refresh, across instances: the lease protocol, the provider call with
//! retries, and saving the result without ever losing a rotated refresh token.
//!
//! 1. Take the lease in one statement (free or expired).
//! 2. Winner: if `version` moved since the caller read the row, someone else
//!    refreshed: return theirs. Otherwise call the provider, then write the
//!    tokens conditionally on `version`, which bumps it and clears the lease.
//! 3. Losers poll until `version` moves or a failure is recorded. A dead
//!    owner's lease expires and the next caller takes it; waiters follow the
//!    lease as it passes to a new owner (each owner gets a full lease to
//!    finish), within an overall bound of two leases.
//! 4. A failed proactive refresh returns the still-valid old token.

use super::error::{Code, Error, Result};
use super::grant::{
    apply_response, process_token_response, refresh_request, refresh_token_in_refused, Applied,
};
use super::http::Transport;
use super::manager::{GetOptions, Manager, Pending, ValidToken};
use super::policy::ms_to_secs_ceil;
use super::provider::{Provider, Rotation};
use super::runtime::Runtime;
use super::seal::Field;
use super::secret::RefreshToken;
use super::status::{after_failure, Status};
use super::store::{ConnectionRow, FailureWrite, LeaseOutcome, RefreshEvent, Store, TokenWrite};
use super::token::{freshness, Freshness, TokenSet};

/// What an event says of a failed store write, rather than the store's words.
const STORE_FAILED: &str = "the refreshed tokens could not be saved";

/// First poll delay while another instance refreshes; doubles up to the cap.
const POLL_BASE_MS: u64 = 25;
const POLL_CAP_MS: u64 = 200;

/// The lease left for the write after a provider call: a retry that would
/// end later is not started.
const LEASE_SPARE_MS: i64 = 5_000;

/// What saving a pending rotation came to.
enum Flushed {
    /// The call's answer.
    Answer(Result<ValidToken>),
    /// Saved, with an access token already expired: refresh now.
    SavedExpired,
}

fn still_valid(row: &ConnectionRow, now: i64) -> bool {
    row.access_token_sealed.is_some() && freshness(row.expires_at, now, 0) != Freshness::Expired
}

impl<T: Transport, S: Store, R: Runtime> Manager<T, S, R> {
    /// The single-flight leader's path. `seen` is the row as this call read it.
    pub(crate) async fn lead_refresh(
        &self,
        seen: &ConnectionRow,
        provider: &Provider,
        opts: GetOptions,
    ) -> Result<ValidToken> {
        let saved;
        let seen = match self.flush_pending(seen).await {
            Some(Flushed::Answer(result)) => return result,
            // Saved with an expired access token (a refused answer's kept
            // refresh token): refresh from the row as it now is.
            Some(Flushed::SavedExpired) => {
                saved = self
                    .store
                    .load(&seen.user_id, &seen.provider)
                    .await?
                    .ok_or_else(|| super::manager::not_connected(&seen.provider))?;
                &saved
            }
            None => seen,
        };
        let now = self.rt.now_ms();
        if seen.cooldown_until.is_some_and(|c| c > now) {
            return self.during_cooldown(seen, opts).await;
        }
        let owner = self.next_owner();
        let policy = &self.cfg.policy;
        // Each owner gets a full lease to finish; a takeover after a dead
        // owner's lease expired needs a second one. Never longer than that.
        let overall = now + 2 * policy.wait_for_other_ms;
        let mut deadline = now + policy.wait_for_other_ms;
        let mut followed: Option<Option<String>> = None;
        let mut polls = 0u32;
        loop {
            let now = self.rt.now_ms();
            let outcome = self
                .store
                .try_lease(
                    &seen.user_id,
                    &seen.provider,
                    &owner,
                    now,
                    now + policy.lease_ms,
                )
                .await?;
            match outcome {
                LeaseOutcome::Missing => return Err(super::manager::not_connected(&seen.provider)),
                LeaseOutcome::Acquired(row) => {
                    // New tokens that are already expired (a sign-in that stored a stale
                    // token) are no answer: we hold the lease, so refresh them.
                    if self.someone_else_acted(seen, &row, now)
                        && !self.expired_news(seen, &row, now)
                    {
                        let _ = self
                            .store
                            .release_lease(&row.user_id, &row.provider, &owner)
                            .await;
                        return self.outcome_of_other(&row, opts).await;
                    }
                    return self.refresh_with_lease(row, provider, &owner, opts).await;
                }
                LeaseOutcome::Busy(row) => {
                    if self.someone_else_acted(seen, &row, now)
                        && !self.expired_news(seen, &row, now)
                    {
                        return self.outcome_of_other(&row, opts).await;
                    }
                    if followed.as_ref() != Some(&row.lease_owner) {
                        // The lease passed to a new owner: give it its lease.
                        if followed.is_some() {
                            deadline = (now + policy.wait_for_other_ms).min(overall);
                        }
                        followed = Some(row.lease_owner.clone());
                    }
                    if now >= deadline {
                        let e = Error::new(
                            Code::LeaseTimeout,
                            "another instance is refreshing this connection and has not finished",
                        )
                        .with_retry_after(Some(1));
                        // Still valid, unless the refresh under way ends it.
                        if still_valid(&row, now)
                            && !opts.force
                            && !provider.spec.refresh_ends_access_token
                        {
                            return self.serve(&row, Some(e)).await;
                        }
                        return Err(e);
                    }
                    polls += 1;
                    let ceiling = (POLL_BASE_MS << polls.min(6)).min(POLL_CAP_MS);
                    let delay = ceiling / 2 + (ceiling as f64 / 2.0 * self.rt.random_unit()) as u64;
                    self.rt.sleep_ms(delay).await;
                }
            }
        }
    }

    /// Tokens moved, a failure was recorded, or the grant died since `seen`.
    fn someone_else_acted(&self, seen: &ConnectionRow, row: &ConnectionRow, now: i64) -> bool {
        row.version != seen.version
            || row.cooldown_until.is_some_and(|c| c > now)
            || row.status != seen.status
    }

    /// Only the tokens moved, and the new access token is already expired.
    fn expired_news(&self, seen: &ConnectionRow, row: &ConnectionRow, now: i64) -> bool {
        row.version != seen.version
            && row.status == seen.status
            && row.cooldown_until.is_none_or(|c| c <= now)
            && Status::parse(&row.status) == Some(Status::Connected)
            && !still_valid(row, now)
    }

    async fn outcome_of_other(&self, row: &ConnectionRow, opts: GetOptions) -> Result<ValidToken> {
        self.check_usable(row)?;
        let now = self.rt.now_ms();
        if row.cooldown_until.is_some_and(|c| c > now) {
            return self.during_cooldown(row, opts).await;
        }
        if !still_valid(row, now) {
            return Err(Error::new(
                Code::Internal,
                "another instance stored an already expired token",
            ));
        }
        self.serve(row, None).await
    }

    /// A refresh failed recently: no provider call. The old token if it is
    /// still valid, else the recorded failure with the time left.
    async fn during_cooldown(&self, row: &ConnectionRow, opts: GetOptions) -> Result<ValidToken> {
        let now = self.rt.now_ms();
        let until = row.cooldown_until.unwrap_or(now);
        let last = row.last_error_code.as_deref().and_then(Code::parse);
        // A recorded retryable failure keeps its code (RATE_LIMITED stays
        // RATE_LIMITED); anything else is reported as COOLDOWN.
        // A permanent failure (a misconfigured client, a token that cannot be
        // opened) keeps its code: no retry fixes it.
        let code = match last {
            Some(c) if c.retryable() => c,
            Some(c)
                if Status::parse(&row.status) == Some(Status::Error) && !c.requires_reauth() =>
            {
                c
            }
            _ => Code::Cooldown,
        };
        let last_code = row.last_error_code.as_deref().unwrap_or("unknown");
        let err = Error::new(
            code,
            if code.retryable() || code == Code::Cooldown {
                format!(
                    "refreshing is paused after a failed attempt ({last_code}); retry in {}s",
                    ms_to_secs_ceil(until - now)
                )
            } else {
                format!("refreshing failed ({last_code}): its cause must be fixed first")
            },
        )
        .with_retry_after(code.retryable().then(|| ms_to_secs_ceil(until - now)));
        if still_valid(row, now) && !opts.force {
            return self.serve(row, Some(err)).await;
        }
        Err(err)
    }

    async fn refresh_with_lease(
        &self,
        row: ConnectionRow,
        provider: &Provider,
        owner: &str,
        opts: GetOptions,
    ) -> Result<ValidToken> {
        let started = self.rt.now_ms();
        let old = match self.open_tokens(&row) {
            Ok(t) => t,
            Err(e) => return self.fail(&row, owner, e, opts, 0, started).await,
        };
        let Some(refresh_token) = old.refresh_token.clone() else {
            let e = Error::new(
                Code::ReauthRequired,
                "no refresh token is stored for this connection",
            );
            return self.fail(&row, owner, e, opts, 0, started).await;
        };
        if row.refresh_token_expires_at.is_some_and(|t| t <= started) {
            let e = Error::new(Code::ReauthRequired, "the refresh token has expired");
            return self.fail(&row, owner, e, opts, 0, started).await;
        }
        let policy = &self.cfg.policy;
        let mut attempts = 0;
        // A new refresh token in an answer the strict checks refused.
        let mut refused_rotation = None;
        let result = loop {
            attempts += 1;
            let request = refresh_request(provider, &refresh_token);
            let result = match self
                .transport
                .send(request, policy.request_timeout_ms)
                .await
            {
                Ok(resp) => {
                    let r = process_token_response(&resp, refresh_token.expose(), self.rt.now_ms());
                    if r.is_err() {
                        refused_rotation =
                            refresh_token_in_refused(&resp).filter(|n| *n != refresh_token);
                    }
                    r
                }
                Err(e) => Err(e.into()),
            };
            let err = match result {
                Ok(r) => break Ok(r),
                Err(e) => e,
            };
            // A request that timed out, lost its connection or met a gateway
            // error (502, 504) may have been served: with single-use refresh
            // tokens, sending the old one again would count as reuse, which
            // servers with reuse detection punish by revoking the grant.
            let ambiguous = provider.spec.rotation == Rotation::SingleUse
                && (matches!(err.code, Code::Timeout | Code::Network)
                    || matches!(err.status, Some(502 | 504)));
            let wait_hint = err.retry_after_secs.map(|s| s.saturating_mul(1000));
            let retry = err.retryable()
                && err.code != Code::RateLimited
                && attempts < policy.max_attempts
                && !ambiguous
                && refused_rotation.is_none()
                && wait_hint.is_none_or(|w| w <= policy.backoff_cap_ms);
            if !retry {
                break Err(err);
            }
            let backoff = policy
                .backoff_ms(attempts, self.rt.random_unit())
                .max(wait_hint.unwrap_or(0));
            // Another attempt only while our lease outlasts it, with 5 s to
            // spare for the write (an explicit leaseMs may be shorter than
            // the retries need): past it, another instance may take the
            // lease and send the same refresh token.
            let next_ends =
                self.rt.now_ms() + (backoff + policy.request_timeout_ms) as i64 + LEASE_SPARE_MS;
            if next_ends > started + policy.lease_ms
                || opts
                    .deadline_ms
                    .is_some_and(|d| next_ends - LEASE_SPARE_MS > d)
            {
                break Err(err);
            }
            self.rt.sleep_ms(backoff).await;
        };
        match result {
            Ok(resp) => {
                let applied = apply_response(&old, resp, provider, self.rt.now_ms());
                self.save_refreshed(&row, applied, owner, attempts, started)
                    .await
            }
            Err(e) => {
                let mut row = row;
                if let Some(new) = refused_rotation {
                    if self.keep_refused_rotation(&row, &old, new).await {
                        // The failure is recorded on the row just written.
                        row.version += 1;
                    }
                }
                self.fail(&row, owner, e, opts, attempts, started).await
            }
        }
    }

    /// An answer refused by the strict checks still carried a new refresh
    /// token: the server has rotated and the one it was sent may be dead.
    /// Stores the new one beside the access token the row already has (its
    /// marker unchanged: the access token is the same); the refusal is then
    /// recorded as any failure. If the store fails here too, the failure's
    /// cooldown keeps this instance from sending the old token again soon.
    async fn keep_refused_rotation(
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
                    super::manager::Pending {
                        write,
                        expected_version: row.version,
                        tokens,
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
        }
    }

    async fn save_refreshed(
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
                    if super::lifecycle::missing_scope(row) {
                        // A refresh cannot add scopes: the flag stays. The
                        // store's commit keeps it in the same write (the
                        // contract); this write is for a store that does not.
                        self.keep_scope_flag(row).await;
                    }
                    return Ok(token);
                }
                Ok(false) => {
                    if applied.rotated
                        && self
                            .commit_over_spent_token(row, &write, with_event.then_some(&ev))
                            .await
                    {
                        if with_event {
                            self.rt.emit(&ev);
                        } else {
                            self.emit(ev).await;
                        }
                        return Ok(token);
                    }
                    // Our lease expired and another writer moved the version.
                    // Our token is valid; theirs is in the store.
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
            },
        );
        let err = Error::new(
            Code::RotationNotSaved,
            // Recorded on the row and in an event, which the user may read:
            // the store's own words (`cause`) stay out, as above.
            "the provider issued a new refresh token that could not be saved; this instance holds it and retries the save on the next call",
        );
        let _ = self
            .store
            .record_failure(&FailureWrite {
                user_id: row.user_id.clone(),
                provider: row.provider.clone(),
                owner: owner.to_string(),
                status: Status::Error.as_str().to_string(),
                code: err.code.as_str().to_string(),
                message: err.message.clone(),
                at: now,
                failure_count: row.failure_count + 1,
                cooldown_until: Some(now + policy.cooldown_cap_ms),
                erase_refresh_token: false,
                expected_version: Some(row.version),
            })
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
    /// only live one: it is written over it. True when written.
    async fn commit_over_spent_token(
        &self,
        row: &ConnectionRow,
        write: &TokenWrite,
        ev: Option<&RefreshEvent>,
    ) -> bool {
        let Ok(Some(current)) = self.store.load(&row.user_id, &row.provider).await else {
            return false;
        };
        current.refresh_token_sealed.is_some()
            && current.refresh_token_sealed == row.refresh_token_sealed
            && matches!(
                self.store.commit_refresh(write, current.version, ev).await,
                Ok(true)
            )
    }

    /// Saves rotated tokens an earlier call could not. `None`: nothing pending.
    async fn flush_pending(&self, row: &ConnectionRow) -> Option<Flushed> {
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
                self.pending.borrow_mut().remove(&key);
                let mut ev = self.event(row, "rotation_saved_late");
                ev.rotated = Some(true);
                self.emit(ev).await;
                // A refused answer's kept token comes with the old access
                // token: saved, and refreshed now if that one has expired.
                if freshness(pending.tokens.expires_at_ms, now, 0) == Freshness::Expired {
                    return Some(Flushed::SavedExpired);
                }
                Some(Flushed::Answer(Ok(token)))
            }
            Ok(false) => {
                // Someone else wrote newer tokens (a new sign-in): ours are obsolete.
                self.pending.borrow_mut().remove(&key);
                None
            }
            Err(e) => {
                let err = Error::new(
                    Code::RotationNotSaved,
                    format!("a rotated refresh token is still unsaved: {}", e.message),
                );
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
        let mut w = super::lifecycle::flag(
            row,
            Status::NeedsReauth,
            Code::InsufficientScope,
            row.last_error_message.clone().unwrap_or_default(),
            row.last_error_at.unwrap_or_else(|| self.rt.now_ms()),
            0,
        );
        // Only on the row our commit wrote (not on a reconnect or a
        // disconnect landed since), whose cooldown the commit cleared.
        w.expected_version = Some(row.version + 1);
        w.cooldown_until = None;
        let _ = self.store.record_failure(&w).await;
    }

    async fn fail(
        &self,
        row: &ConnectionRow,
        owner: &str,
        e: Error,
        opts: GetOptions,
        attempts: u32,
        started: i64,
    ) -> Result<ValidToken> {
        let now = self.rt.now_ms();
        let policy = &self.cfg.policy;
        let failures = row.failure_count.saturating_add(1);
        // Where a refresh ends the old access token (GitHub), a call that may
        // have been served (timed out, connection lost, a gateway error) may
        // have ended it: it is not served as still good.
        let maybe_ended = self
            .provider(&row.provider)
            .is_ok_and(|p| p.spec.refresh_ends_access_token)
            && (matches!(e.code, Code::Timeout | Code::Network)
                || matches!(e.status, Some(502 | 504)));
        let old_valid = still_valid(row, now) && !maybe_ended;
        let status = after_failure(e.code, old_valid, policy.is_exhausted(failures));
        // A grant flagged for a missing scope stays flagged through a
        // failure that is not its death: only a new consent clears it.
        let keep_scope_flag = super::lifecycle::missing_scope(row) && status != Status::NeedsReauth;
        let cooldown_until = match status {
            Status::NeedsReauth => None,
            _ => Some(
                now + policy.cooldown_ms(
                    failures,
                    e.retry_after_secs.map(|s| (s as i64).saturating_mul(1000)),
                ),
            ),
        };
        let recorded = self
            .store
            .record_failure(&FailureWrite {
                user_id: row.user_id.clone(),
                provider: row.provider.clone(),
                owner: owner.to_string(),
                status: if keep_scope_flag {
                    Status::NeedsReauth.as_str().to_string()
                } else {
                    status.as_str().to_string()
                },
                code: if keep_scope_flag {
                    Code::InsufficientScope.as_str().to_string()
                } else {
                    e.code.as_str().to_string()
                },
                message: if keep_scope_flag {
                    row.last_error_message.clone().unwrap_or_default()
                } else {
                    e.message.clone()
                },
                at: now,
                failure_count: failures,
                cooldown_until,
                // A dead grant's refresh token is useless and still a secret.
                erase_refresh_token: status == Status::NeedsReauth,
                // Not over tokens saved since this refresh began (a reconnect):
                // they are not the ones that failed.
                expected_version: Some(row.version),
            })
            .await;
        if recorded.is_err() {
            let _ = self
                .store
                .release_lease(&row.user_id, &row.provider, owner)
                .await;
        }
        let mut ev = self.event(row, "failed");
        ev.code = Some(e.code.as_str().to_string());
        ev.message = Some(e.message.clone());
        ev.attempts = Some(attempts);
        ev.duration_ms = Some(now - started);
        self.emit(ev).await;
        // Retry when this instance will try again: the recorded cooldown (at
        // least the provider's Retry-After), for every retryable failure.
        let e = match cooldown_until {
            Some(c) if e.retryable() => {
                let secs = ms_to_secs_ceil(c - now);
                Error {
                    retry_after_secs: Some(secs.max(e.retry_after_secs.unwrap_or(0))),
                    provider_retry_after_secs: e.retry_after_secs,
                    ..e
                }
            }
            _ => e,
        };
        // A failed refresh while the old token is still valid returns the old
        // token with the failure as a warning, as the next call during the
        // cooldown does (a permanent failure's status says `error`).
        if old_valid && !opts.force && status != Status::NeedsReauth {
            return self.token_from_row(row, Some(e));
        }
        Err(e)
    }
}
