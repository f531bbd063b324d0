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
    apply_response, process_token_response, refresh_request, refresh_token_in_refused,
};
use super::http::Transport;
use super::manager::{GetOptions, Manager, ValidToken};
use super::policy::ms_to_secs_ceil;
use super::provider::{Provider, Rotation};
use super::runtime::Runtime;
use super::status::{after_failure, Status};
use super::store::{ConnectionRow, FailureWrite, LeaseOutcome, Store};
use super::token::{freshness, Freshness};
use save::Flushed;

/// First poll delay while another instance refreshes; doubles up to the cap.
const POLL_BASE_MS: u64 = 25;
const POLL_CAP_MS: u64 = 200;

/// The lease left for the write after a provider call: a retry that would
/// end later is not started.
const LEASE_SPARE_MS: i64 = 5_000;

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
            // The row's own access token while it is fresh, with the unsaved
            // rotation as a warning; never a refresh with the row's (spent)
            // refresh token.
            Some(Flushed::Held(current, err)) => {
                self.check_usable(&current)?;
                let fresh = !provider.spec.access_tokens_expire
                    || freshness(
                        current.expires_at,
                        self.rt.now_ms(),
                        self.row_margin_ms(provider, &opts, &current),
                    ) == Freshness::Fresh;
                // Not `serve`: healing a flagged row would seal its refresh
                // token anew, and the held one is matched by its sealed value.
                return if fresh && !opts.force {
                    self.token_from_row(&current, Some(err))
                } else {
                    Err(err)
                };
            }
            // Saved with an expired access token (a refused answer's kept
            // refresh token): refresh from the row as it now is. Another
            // write came first: the row as it now is may be fresh (a sign-in).
            Some(flushed @ (Flushed::SavedExpired | Flushed::Superseded)) => {
                saved = self
                    .store
                    .load(&seen.user_id, &seen.provider)
                    .await?
                    .ok_or_else(|| super::manager::not_connected(&seen.provider))?;
                self.check_usable(&saved)?;
                if matches!(flushed, Flushed::Superseded)
                    && !opts.force
                    && (!provider.spec.access_tokens_expire
                        || freshness(
                            saved.expires_at,
                            self.rt.now_ms(),
                            self.row_margin_ms(provider, &opts, &saved),
                        ) == Freshness::Fresh)
                {
                    return self.serve(&saved, None).await;
                }
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
        // A caller's own deadline (the background refresher's stop point)
        // bounds the wait too: another instance is refreshing this row.
        let overall =
            (now + 2 * policy.wait_for_other_ms).min(opts.deadline_ms.unwrap_or(i64::MAX));
        let mut deadline = (now + policy.wait_for_other_ms).min(overall);
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
            Ok(mut resp) => {
                // No lifetime said (expires_in is only RECOMMENDED, RFC 6749
                // §5.1) and none documented: the last token's, rather than a
                // token taken as never expiring and served after it died.
                if resp.expires_in_secs.unwrap_or(0) == 0
                    && provider.spec.default_expires_in_secs.is_none()
                {
                    if let (Some(end), Some(start)) = (row.expires_at, row.token_refreshed_at) {
                        resp.expires_in_secs =
                            u64::try_from((end - start) / 1000).ok().filter(|&s| s > 0);
                    }
                }
                let applied = apply_response(&old, resp, provider, self.rt.now_ms());
                self.save_refreshed(&row, applied, owner, attempts, started)
                    .await
            }
            Err(e) => {
                let mut row = row;
                if let Some(new) = refused_rotation {
                    if self.keep_refused_rotation(&row, &old, new).await {
                        // The failure is recorded on the row just written.
                        row.version = row.version.saturating_add(1);
                    }
                }
                self.fail(&row, owner, e, opts, attempts, started).await
            }
        }
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
        // Released whatever the write came to: it may have written nothing
        // (a sign-in since moved the version but kept our lease) or failed.
        // Only our own lease is released.
        let _ = recorded;
        let _ = self
            .store
            .release_lease(&row.user_id, &row.provider, owner)
            .await;
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

mod save;
