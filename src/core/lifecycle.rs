//! The connection lifecycle around the refresh path: saving a grant's tokens
//! (a sign-in's or a connect's) with who connected, the status report, the
//! missing-scope flag, and the background refresher's pass.

use super::authorize::sha256_b64url;
use super::error::{Code, Error, Result};
use super::http::Transport;
use super::identity::{emails_request, parse_userinfo, primary_email, userinfo_request, Account};
use super::manager::{
    check_user, not_connected, GetOptions, InitialTokens, Manager, StatusReport, StatusWarning,
    SweepReport, REFRESH_TOKEN_EXPIRING,
};
use super::provider::Provider;
use super::runtime::Runtime;
use super::seal::Field;
use super::secret::AccessToken;
use super::status::Status;
use super::store::{ConnectionRow, FailureWrite, Store, TokenWrite};
use super::token::after_secs;
use super::token::normalize_scope;

impl<T: Transport, S: Store, R: Runtime> Manager<T, S, R> {
    /// Saves the tokens a sign-in returned. Without a new refresh token the
    /// stored one is kept (Google sends one only on first consent).
    pub async fn store_tokens(
        &self,
        user_id: &str,
        provider_id: &str,
        t: InitialTokens,
    ) -> Result<StatusReport> {
        self.save_grant(user_id, provider_id, t, "stored").await
    }

    /// Who the access token belongs to, from the provider's user-info
    /// endpoint; `None` when it has none or the lookup fails (it is only
    /// for display, never a reason to refuse the tokens).
    pub(crate) async fn identify(&self, provider: &Provider, access: &str) -> Option<Account> {
        let access = AccessToken::new(access);
        let timeout = self.cfg.policy.request_timeout_ms;
        let resp = self
            .transport
            .send(userinfo_request(provider, &access)?, timeout)
            .await
            .ok()?;
        let mut account = parse_userinfo(provider, &resp).ok()?;
        if account.email.is_none() {
            if let Some(req) = emails_request(provider, &access) {
                if let Ok(resp) = self.transport.send(req, timeout).await {
                    account.email = primary_email(&resp);
                }
            }
        }
        Some(account)
    }

    /// Saves a grant's tokens (a sign-in's or a connect's), sealed, with the account.
    pub(crate) async fn save_grant(
        &self,
        user_id: &str,
        provider_id: &str,
        t: InitialTokens,
        kind: &str,
    ) -> Result<StatusReport> {
        let provider = self.provider(provider_id)?;
        check_user(user_id)?;
        if t.access_token.trim().is_empty() {
            return Err(Error::new(Code::BadRequest, "accessToken: required"));
        }
        if t.refresh_token.as_deref() == Some("") {
            return Err(Error::new(
                Code::BadRequest,
                "refreshToken: must not be empty",
            ));
        }
        let account = match t.account.clone() {
            Some(a) => Some(a),
            None => self.identify(provider, &t.access_token).await,
        };
        let now = self.rt.now_ms();
        let loaded = self.store.load(user_id, provider_id).await?;
        // A sign-in's tokens are handed over once, but a client whose first
        // try failed without an answer (the request may have landed) sends
        // them again. Written again, they would undo what happened since: a
        // refresh that rotated the refresh token (the old one then dead, or
        // its reuse revoking the grant), a disconnect, a connect's newer
        // grant. The same access token is the same sign-in: nothing to write,
        // unless it brings the refresh token a working grant lacks (nothing
        // can have rotated then; the first store came without it).
        let digest = (kind == "stored").then(|| sha256_b64url(&t.access_token));
        if let Some(row) = loaded.as_ref().filter(|r| {
            digest.is_some()
                && r.signin_digest == digest
                && !(t.refresh_token.is_some()
                    && r.refresh_token_sealed.is_none()
                    && Status::parse(&r.status) == Some(Status::Connected))
        }) {
            return Ok(self.report(provider_id, Some(row)));
        }
        // A connect's grant keeps the last sign-in's digest: that sign-in,
        // resent, must not replace it either.
        let digest = digest.or_else(|| loaded.as_ref().and_then(|r| r.signin_digest.clone()));
        // Tokens without a refresh token keep the stored one (a provider
        // sends it on first consent only), but not another account's: a
        // refresh token belongs to the grant it came with (RFC 6749 §6), and
        // the next refresh would switch the connection back to that account.
        let other_account = matches!(
            (&account, loaded.as_ref().and_then(|r| r.account_id.as_deref())),
            (Some(a), Some(stored)) if a.id != stored
        );
        let existing = loaded.filter(|_| !other_account);
        // A sign-in's access token alone (no refresh token, no scope) does
        // not replace a working grant of the same account: the sign-in may
        // have asked for less (an app's own sign-in without the Calendar
        // scope), and it brings nothing a refresh of that grant cannot.
        if kind == "stored" && t.refresh_token.is_none() && t.scope.is_none() {
            if let Some(row) = existing.as_ref().filter(|r| {
                r.refresh_token_sealed.is_some()
                    && r.access_token_sealed.is_some()
                    && Status::parse(&r.status) == Some(Status::Connected)
            }) {
                return Ok(self.report(provider_id, Some(row)));
            }
        }
        // A rotation this instance holds unsaved (the store failed after
        // the provider rotated): the stored refresh token is the spent one,
        // the held one the live one, which a sign-in without its own keeps.
        // Only while the row still holds the token it spent: a new grant or
        // a disconnect since made it obsolete.
        let held = existing
            .as_ref()
            .filter(|_| t.refresh_token.is_none())
            .and_then(|row| {
                let key = (user_id.to_string(), provider_id.to_string());
                let pending = self.pending.borrow();
                let p = pending.get(&key)?;
                if row.refresh_token_sealed.is_none()
                    || row.refresh_token_sealed != p.spent
                    || Status::parse(&row.status) == Some(Status::Disconnected)
                {
                    return None;
                }
                Some((
                    p.write.refresh_token_sealed.clone()?,
                    p.write.refresh_token_expires_at,
                ))
            });
        let refresh_sealed = match (&t.refresh_token, &held) {
            (Some(r), _) => Some(self.seal(r, user_id, provider_id, Field::RefreshToken)),
            (None, Some((h, _))) => Some(h.clone()),
            (None, None) => existing
                .as_ref()
                .and_then(|row| row.refresh_token_sealed.clone()),
        };
        let expires_at = if provider.spec.access_tokens_expire {
            t.expires_at_ms.or_else(|| {
                t.expires_in_secs
                    .or(provider.spec.default_expires_in_secs)
                    .or(provider
                        .spec
                        .refreshable_expires_in_secs
                        .filter(|_| refresh_sealed.is_some()))
                    .map(|s| after_secs(now, s))
            })
        } else {
            None
        };
        let write = TokenWrite {
            user_id: user_id.to_string(),
            provider: provider_id.to_string(),
            access_token_sealed: self.seal(
                &t.access_token,
                user_id,
                provider_id,
                Field::AccessToken,
            ),
            refresh_token_sealed: refresh_sealed,
            expires_at,
            refresh_token_expires_at: match (&t.refresh_token, t.refresh_token_expires_in_secs) {
                (Some(_), Some(s)) => Some(after_secs(now, s)),
                (Some(_), None) => None,
                (None, _) => match &held {
                    Some((_, end)) => *end,
                    None => existing.as_ref().and_then(|r| r.refresh_token_expires_at),
                },
            },
            scope: t
                .scope
                .as_deref()
                .map(|s| normalize_scope(s, provider.spec.scope_separator))
                .or_else(|| existing.as_ref().and_then(|r| r.scope.clone())),
            refreshed_at: now,
            account_id: account.as_ref().map(|a| a.id.clone()),
            account_email: account.as_ref().and_then(|a| a.email.clone()),
            account_name: account.as_ref().and_then(|a| a.name.clone()),
            // Also when no row was read: another sign-in's may land first
            // (two at once), and its refresh token is the grant's only one
            // (a provider sends it on first consent). The store keeps it only
            // for the same account (or one not known on either side).
            keep_stored_refresh_token: t.refresh_token.is_none()
                && !other_account
                && held.is_none(),
            // A new grant (its own refresh token) of an account not read: the
            // stored account may be another one's (a reconnect as someone
            // else with user-info failing), so it is not kept.
            forget_stored_account: account.is_none() && t.refresh_token.is_some(),
            signin_digest: digest,
        };
        // A grant flagged for a missing scope whose new consent says it still
        // lacks it (Google's granular consent lets the user untick it) stays
        // flagged: the next call needing it would fail again. Tokens that do
        // not say what they grant clear the flag, as before.
        let still_missing = existing
            .as_ref()
            .filter(|r| t.scope.is_some() && missing_scope(r))
            .and_then(|r| r.last_error_message.clone())
            .filter(|m| {
                let granted = write.scope.as_deref().unwrap_or("");
                // The scopes a provider names are the ones that would do
                // (Google's challenge lists calendar and calendar.events):
                // still missing when none of them is granted.
                let granted = super::text::words(granted);
                let flagged = flagged_scopes(m);
                !flagged.is_empty() && flagged.iter().all(|s| !granted.contains(s))
            });
        let mut row = self.store.save_tokens(&write).await?;
        self.pending
            .borrow_mut()
            .remove(&(user_id.to_string(), provider_id.to_string()));
        let mut ev = self.event(&row, kind);
        ev.rotated = Some(t.refresh_token.is_some());
        self.emit(ev).await;
        if let Some(message) = still_missing {
            let f = flag(
                &row,
                Status::NeedsReauth,
                Code::InsufficientScope,
                message,
                now,
                0,
            );
            self.store.record_failure(&f).await?;
            row.status = f.status;
            row.last_error_code = Some(f.code);
            row.last_error_message = Some(f.message);
            row.last_error_at = Some(now);
        }
        Ok(self.report(provider_id, Some(&row)))
    }

    /// The provider refused a call for a scope this grant lacks: the
    /// connection is `needs_reauth` with `INSUFFICIENT_SCOPE` until the user
    /// consents again (a new sign-in or connect); its token keeps serving
    /// the scopes it has. A refresh cannot add scopes (RFC 6749 §6), so it
    /// keeps the flag.
    pub async fn record_scope_error(
        &self,
        user_id: &str,
        provider_id: &str,
        missing_scopes: &[String],
    ) -> Result<StatusReport> {
        self.provider(provider_id)?;
        check_user(user_id)?;
        let row = self
            .store
            .load(user_id, provider_id)
            .await?
            .ok_or_else(|| not_connected(provider_id))?;
        let scopes: Vec<String> = missing_scopes
            .iter()
            .map(|s| clean_scope(s))
            .filter(|s| !s.is_empty())
            .take(20)
            .collect();
        let message = if scopes.is_empty() {
            format!("the {provider_id} grant lacks a scope this call needs: reconnect and allow it")
        } else {
            format!(
                "the {provider_id} grant lacks the scope {}: reconnect and allow it",
                scopes.join(" ")
            )
        };
        self.store
            .record_failure(&flag(
                &row,
                Status::NeedsReauth,
                Code::InsufficientScope,
                message.clone(),
                self.rt.now_ms(),
                row.failure_count,
            ))
            .await?;
        let mut ev = self.event(&row, "insufficient_scope");
        ev.code = Some(Code::InsufficientScope.as_str().to_string());
        ev.message = Some(message);
        self.emit(ev).await;
        self.status(user_id, provider_id).await
    }

    /// The connection's status. Never contains a token.
    pub async fn status(&self, user_id: &str, provider_id: &str) -> Result<StatusReport> {
        self.provider(provider_id)?;
        check_user(user_id)?;
        let row = self.store.load(user_id, provider_id).await?;
        Ok(self.report(provider_id, row.as_ref()))
    }

    pub(crate) fn report(&self, provider_id: &str, row: Option<&ConnectionRow>) -> StatusReport {
        let Some(row) = row else {
            return StatusReport {
                provider: provider_id.to_string(),
                status: Status::Disconnected.as_str().to_string(),
                connected: false,
                requires_reauth: false,
                expires_at: None,
                token_refreshed_at: None,
                scopes: Vec::new(),
                has_refresh_token: false,
                refresh_token_expires_at: None,
                last_error_code: None,
                last_error_message: None,
                last_error_at: None,
                failure_count: 0,
                cooldown_until: None,
                account_id: None,
                account_email: None,
                account_name: None,
                warning: None,
            };
        };
        let stored = Status::parse(&row.status).unwrap_or(Status::Error);
        // `connected` was written while the token was still valid. Expired
        // since, with no refresh token to renew it (a sign-in's token alone),
        // only a new consent brings one: every call fails now. With a failed
        // refresh's cooldown that outlasts it, every call fails until the
        // cooldown ends. The status says so without waiting for a call.
        let now = self.rt.now_ms();
        let expired = stored == Status::Connected && row.expires_at.is_some_and(|e| e <= now);
        let status = if expired && row.refresh_token_sealed.is_none() {
            Status::NeedsReauth
        } else if expired && row.cooldown_until.is_some_and(|c| c > now) {
            Status::TokenExpired
        } else {
            stored
        };
        StatusReport {
            provider: provider_id.to_string(),
            status: status.as_str().to_string(),
            connected: matches!(status, Status::Connected | Status::TokenExpired),
            requires_reauth: status == Status::NeedsReauth,
            expires_at: row.expires_at,
            token_refreshed_at: row.token_refreshed_at,
            scopes: row
                .scope
                .as_deref()
                .map(|s| {
                    s.split(' ')
                        .filter(|x| !x.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            has_refresh_token: row.refresh_token_sealed.is_some(),
            refresh_token_expires_at: row.refresh_token_expires_at,
            last_error_code: row.last_error_code.clone(),
            last_error_message: row.last_error_message.clone(),
            last_error_at: row.last_error_at,
            failure_count: row.failure_count,
            cooldown_until: row.cooldown_until,
            account_id: row.account_id.clone(),
            account_email: row.account_email.clone(),
            account_name: row.account_name.clone(),
            warning: self.expiry_warning(row, status),
        }
    }

    /// "Reconnect before …" when the refresh token's known end is near and
    /// the connection still works (a dead grant says so in its status).
    fn expiry_warning(&self, row: &ConnectionRow, status: Status) -> Option<StatusWarning> {
        let end = row.refresh_token_expires_at?;
        let spec = &self.cfg.providers.get(&row.provider)?.spec;
        let works = matches!(
            status,
            Status::Connected | Status::TokenExpired | Status::Error
        );
        let notice_ms =
            i64::try_from(spec.refresh_token_warning_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        if !works
            || row.refresh_token_sealed.is_none()
            || end.saturating_sub(self.rt.now_ms()) > notice_ms
        {
            return None;
        }
        Some(StatusWarning {
            code: REFRESH_TOKEN_EXPIRING,
            message: format!(
                "the provider's grant ends at {}: reconnect before then to keep access",
                super::time::format_rfc3339_ms(end)
            ),
            reconnect_before: end,
        })
    }

    /// Background refresher: refreshes connections whose token expires within
    /// `within_ms`, at most `limit` of them, one at a time.
    pub async fn refresh_expiring(&self, within_ms: i64, limit: u32) -> Result<SweepReport> {
        let now = self.rt.now_ms();
        let due = self
            .store
            .list_expiring(now + within_ms, now, limit)
            .await?;
        let mut report = SweepReport::default();
        for (user, provider) in due {
            if !self.cfg.providers.contains_key(&provider) {
                continue;
            }
            report.checked += 1;
            let opts = GetOptions {
                min_validity_ms: Some(within_ms),
                ..Default::default()
            };
            match self.get_valid_token(&user, &provider, opts).await {
                Ok(t) if t.warning.is_none() => report.refreshed += u32::from(t.refreshed),
                Ok(t) => {
                    report.failed += 1;
                    report.codes.push(
                        t.warning
                            .map(|w| w.code.as_str().to_string())
                            .unwrap_or_default(),
                    );
                }
                Err(e) => {
                    report.failed += 1;
                    report.codes.push(e.code.as_str().to_string());
                }
            }
        }
        Ok(report)
    }
}

/// A status change outside a refresh (no lease held, so none released):
/// keeps the row's cooldown and keeps its refresh token.
pub(crate) fn flag(
    row: &ConnectionRow,
    status: Status,
    code: Code,
    message: String,
    at: i64,
    failure_count: u32,
) -> FailureWrite {
    FailureWrite {
        user_id: row.user_id.clone(),
        provider: row.provider.clone(),
        owner: String::new(),
        status: status.as_str().to_string(),
        code: code.as_str().to_string(),
        message,
        at,
        failure_count,
        cooldown_until: row.cooldown_until,
        erase_refresh_token: false,
        // Only on the row as read: not over a reconnect or a disconnect
        // written since.
        expected_version: Some(row.version),
    }
}

/// The scopes a missing-scope flag's message names (`record_scope_error`'s
/// "… lacks the scope a b: reconnect …"); none when it named none.
fn flagged_scopes(message: &str) -> Vec<String> {
    // super::text's search: str::split_once(&str) brings core's two-way
    // searcher into the wasm (6 KB gzip).
    const FROM: &str = " lacks the scope ";
    let Some(start) = super::text::find(message, FROM).map(|i| i + FROM.len()) else {
        return Vec::new();
    };
    // `get`, not indexing: a slice that can panic brings str's and char's
    // debug formatting into the wasm (4 KB).
    let rest = message.get(start..).unwrap_or("");
    match super::text::find(rest, ": reconnect").and_then(|end| rest.get(..end)) {
        Some(scopes) => super::text::words(scopes),
        None => Vec::new(),
    }
}

/// The row is flagged for a missing scope, not a dead grant.
pub(crate) fn missing_scope(row: &ConnectionRow) -> bool {
    Status::parse(&row.status) == Some(Status::NeedsReauth)
        && row.last_error_code.as_deref() == Some(Code::InsufficientScope.as_str())
}

/// A scope as a provider names it (URLs, `a:b`, `a.b`), nothing else.
fn clean_scope(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '<' | '>'))
        .take(200)
        .collect()
}
