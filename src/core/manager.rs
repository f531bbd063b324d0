//! The token manager: `get_valid_token` and the connection lifecycle, written
//! once against the `Transport`, `Store` and `Runtime` traits so the edge
//! functions and the browser run the same refresh path.

use std::cell::{Cell, OnceCell, RefCell};

use super::config::ManagerConfig;
use super::error::{Code, Error, Result};
use super::http::Transport;
use super::identity::Account;
use super::lifecycle::{flag, missing_scope};
use super::provider::Provider;
use super::runtime::Runtime;
use super::seal::{Field, SealContext};
use super::secret::{AccessToken, RefreshToken};
use super::singleflight::{Role, SingleFlight};
use super::status::Status;
use super::store::{ConnectionRow, LeaseOutcome, RefreshEvent, Store, TokenWrite};
use super::token::{effective_margin, freshness, Freshness, TokenSet};
use super::tracked::Tracked;
use super::vecmap::VecMap;

/// A usable access token and what the caller should know about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidToken {
    pub access_token: AccessToken,
    pub expires_at_ms: Option<i64>,
    /// The connection's `token_refreshed_at` marker.
    pub token_refreshed_at_ms: Option<i64>,
    pub scope: Option<String>,
    /// This call's own provider request produced the token. Callers that
    /// shared another caller's refresh (a single-flight follower, a lease
    /// waiter, another instance) get `false`.
    pub refreshed: bool,
    /// The token is still valid but a refresh failed (proactive refresh,
    /// cooldown): monitoring material, not an error for the request.
    pub warning: Option<Error>,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct GetOptions {
    /// Refresh now even if the token is fresh (after a provider 401). Still
    /// deduplicated, and still blocked by a cooldown.
    pub force: bool,
    /// Treat tokens expiring within this many ms as stale (background refresher).
    pub min_validity_ms: Option<i64>,
    /// Epoch ms: no retry of the provider call is started that could end
    /// past it (the background refresher's pass budget).
    pub deadline_ms: Option<i64>,
    /// With `force`: when the token the provider rejected was refreshed
    /// (its `tokenRefreshedAt`). A stored token refreshed after it is
    /// already another caller's answer to the same 401 (another tab, another
    /// isolate, a moment earlier): it is served as without `force`, and the
    /// provider is not asked again.
    pub rejected_refreshed_at_ms: Option<i64>,
}

impl GetOptions {
    /// These options for `row`: `force` dropped when the row holds a token
    /// refreshed after the rejected one.
    pub fn for_row(self, row: &ConnectionRow) -> Self {
        let newer = self
            .rejected_refreshed_at_ms
            .is_some_and(|r| row.token_refreshed_at.is_some_and(|t| t > r));
        Self {
            force: self.force && !newer,
            ..self
        }
    }
}

/// Tokens handed over once by a sign-in (Supabase `provider_token`,
/// `provider_refresh_token`).
#[derive(Clone, Debug, Default)]
pub struct InitialTokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in_secs: Option<u64>,
    pub expires_at_ms: Option<i64>,
    pub scope: Option<String>,
    /// Seconds the refresh token lives, when the provider says (GitHub).
    pub refresh_token_expires_in_secs: Option<u64>,
    /// Who connected, when already known; else it is looked up.
    pub account: Option<Account>,
}

/// A connection's status: never a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusReport {
    pub provider: String,
    pub status: String,
    pub connected: bool,
    pub requires_reauth: bool,
    pub expires_at: Option<i64>,
    pub token_refreshed_at: Option<i64>,
    pub scopes: Vec<String>,
    pub has_refresh_token: bool,
    pub refresh_token_expires_at: Option<i64>,
    pub last_error_code: Option<String>,
    pub last_error_message: Option<String>,
    pub last_error_at: Option<i64>,
    pub failure_count: u32,
    pub cooldown_until: Option<i64>,
    /// Who connected (the provider account), when known.
    pub account_id: Option<String>,
    pub account_email: Option<String>,
    pub account_name: Option<String>,
    /// Set when the grant will die soon: its refresh token's known end is
    /// within the provider's `refreshTokenWarningSeconds`.
    pub warning: Option<StatusWarning>,
}

/// A warning on a connection that still works.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusWarning {
    /// `REFRESH_TOKEN_EXPIRING`.
    pub code: &'static str,
    pub message: String,
    /// The refresh token's end: reconnect before it (epoch ms).
    pub reconnect_before: i64,
}

pub const REFRESH_TOKEN_EXPIRING: &str = "REFRESH_TOKEN_EXPIRING";

/// One provider's upkeep windows (`Manager::upkeep`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderUpkeep {
    pub provider: String,
    /// `None`: keep-alive is off.
    pub keep_alive_secs: Option<u64>,
    pub refresh_token_warning_secs: u64,
}

/// Result of one background refresher pass.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub checked: u32,
    pub refreshed: u32,
    pub failed: u32,
    /// Failure codes, one per failed connection, in order.
    pub codes: Vec<String>,
}

/// Rotated tokens this instance could not save yet.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub write: TokenWrite,
    pub expected_version: i64,
    pub tokens: TokenSet,
    /// The sealed refresh token the refresh spent (the row's when it began):
    /// a write since that kept it (a sign-in without a refresh token) left
    /// the held one the only live one.
    pub spent: Option<String>,
}

pub(crate) type Key = (String, String);

/// Opened access tokens by (sealed value, user, provider): every call reads
/// the store (that is what keeps instances in agreement), but the same sealed
/// value need not be decrypted again. Keyed by the whole context, so a value
/// copied to another row still fails to open. Access tokens only; bounded.
pub(crate) const OPENED_CACHE_MAX: usize = 256;
type OpenedKey = (String, String, String);

pub struct Manager<T: Transport, S: Store, R: Runtime> {
    pub(crate) cfg: ManagerConfig,
    pub(crate) transport: T,
    pub(crate) store: S,
    pub(crate) rt: R,
    /// Drawn at its first use (a lease, an event): a construction, and a
    /// cold isolate's hot path, need no randomness.
    instance: OnceCell<String>,
    pub(crate) flights: SingleFlight<Key, Result<ValidToken>>,
    /// Tracked: the generation is what the JS entry's memo checks.
    /// Usually empty: rotated tokens a commit could not save yet.
    pub(crate) pending: Tracked<VecMap<Key, Pending>>,
    /// Access tokens opened before, by (sealed value, user, provider): at
    /// most OPENED_CACHE_MAX, searched without building a key.
    opened: RefCell<VecMap<OpenedKey, AccessToken>>,
    seq: Cell<u64>,
}

pub(crate) fn not_connected(provider: &str) -> Error {
    Error::new(
        Code::NotConnected,
        format!("no {provider} connection for this user"),
    )
}

impl<T: Transport, S: Store, R: Runtime> Manager<T, S, R> {
    /// What the background refresher needs to know of each configured
    /// provider, sorted by id: its keep-alive and warning windows.
    pub fn upkeep(&self) -> Vec<ProviderUpkeep> {
        self.cfg
            .providers
            .iter()
            .map(|(id, p)| ProviderUpkeep {
                provider: id.clone(),
                keep_alive_secs: p.spec.keep_alive_secs,
                refresh_token_warning_secs: p.spec.refresh_token_warning_secs,
            })
            .collect()
    }

    pub fn new(cfg: ManagerConfig, transport: T, store: S, rt: R) -> Self {
        Self {
            cfg,
            transport,
            store,
            rt,
            instance: OnceCell::new(),
            flights: SingleFlight::default(),
            pending: Tracked::default(),
            opened: RefCell::default(),
            seq: Cell::new(0),
        }
    }

    pub fn instance_id(&self) -> &str {
        self.instance.get_or_init(|| {
            let mut id = [0u8; 6];
            self.rt.fill_random(&mut id);
            super::b64::hex(&id)
        })
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn policy(&self) -> &super::policy::Policy {
        &self.cfg.policy
    }

    pub(crate) fn next_owner(&self) -> String {
        let n = self.seq.get() + 1;
        self.seq.set(n);
        format!("{}:{n}", self.instance_id())
    }

    pub(crate) fn provider(&self, id: &str) -> Result<&Provider> {
        self.cfg.providers.get(id).ok_or_else(|| {
            let known: Vec<&str> = self.cfg.providers.keys().map(String::as_str).collect();
            Error::new(
                Code::BadRequest,
                format!(
                    "provider '{}' is not configured (configured: {})",
                    clean(id),
                    known.join(", ")
                ),
            )
        })
    }

    pub(crate) fn margin_ms(&self, p: &Provider, opts: &GetOptions) -> i64 {
        opts.min_validity_ms
            .or(self.cfg.policy.margin_ms)
            .unwrap_or((p.spec.margin_secs as i64) * 1000)
    }

    /// `margin_ms` for this row's token: the configured margin at most half
    /// the token's lifetime (`token::effective_margin`). A validity the caller
    /// asked for (`minValiditySeconds`) is kept as asked.
    pub(crate) fn row_margin_ms(
        &self,
        p: &Provider,
        opts: &GetOptions,
        row: &ConnectionRow,
    ) -> i64 {
        let margin = self.margin_ms(p, opts);
        if opts.min_validity_ms.is_some() {
            return margin;
        }
        effective_margin(margin, row.token_refreshed_at, row.expires_at)
    }

    pub(crate) fn seal(&self, value: &str, user_id: &str, provider: &str, field: Field) -> String {
        let mut nonce = [0u8; 12];
        self.rt.fill_random(&mut nonce);
        self.cfg.keyring.seal(
            value,
            &SealContext {
                user_id,
                provider,
                field,
            },
            nonce,
        )
    }

    pub(crate) fn open(
        &self,
        sealed: &str,
        user_id: &str,
        provider: &str,
        field: Field,
    ) -> Result<String> {
        self.cfg.keyring.open(
            sealed,
            &SealContext {
                user_id,
                provider,
                field,
            },
        )
    }

    /// How many opened access tokens the cache holds.
    #[cfg(test)]
    pub(crate) fn opened_len(&self) -> usize {
        self.opened.borrow().len()
    }

    /// Opens an access token, from the cache when this exact sealed value was
    /// opened for this row before.
    fn open_access(&self, sealed: &str, user_id: &str, provider: &str) -> Result<AccessToken> {
        let wanted = (sealed, user_id, provider);
        let order = |(s, u, p): &OpenedKey| (s.as_str(), u.as_str(), p.as_str()).cmp(&wanted);
        if let Some(t) = self.opened.borrow().get_by(order) {
            return Ok(t.clone());
        }
        let t = AccessToken::new(self.open(sealed, user_id, provider, Field::AccessToken)?);
        let mut cache = self.opened.borrow_mut();
        if cache.len() >= OPENED_CACHE_MAX {
            cache.clear();
        }
        let key = (
            sealed.to_string(),
            user_id.to_string(),
            provider.to_string(),
        );
        cache.insert(key, t.clone());
        Ok(t)
    }

    /// Opens a row's tokens.
    pub(crate) fn open_tokens(&self, row: &ConnectionRow) -> Result<TokenSet> {
        let access = row
            .access_token_sealed
            .as_deref()
            .ok_or_else(|| not_connected(&row.provider))?;
        let access = self.open(access, &row.user_id, &row.provider, Field::AccessToken)?;
        let refresh = match row.refresh_token_sealed.as_deref() {
            Some(s) => Some(RefreshToken::new(self.open(
                s,
                &row.user_id,
                &row.provider,
                Field::RefreshToken,
            )?)),
            None => None,
        };
        Ok(TokenSet {
            access_token: AccessToken::new(access),
            refresh_token: refresh,
            expires_at_ms: row.expires_at,
            scope: row.scope.clone(),
            refresh_token_expires_at_ms: row.refresh_token_expires_at,
        })
    }

    pub(crate) fn token_from_row(
        &self,
        row: &ConnectionRow,
        warning: Option<Error>,
    ) -> Result<ValidToken> {
        let sealed = row
            .access_token_sealed
            .as_deref()
            .ok_or_else(|| not_connected(&row.provider))?;
        Ok(ValidToken {
            access_token: self.open_access(sealed, &row.user_id, &row.provider)?,
            expires_at_ms: row.expires_at,
            token_refreshed_at_ms: row.token_refreshed_at,
            scope: row.scope.clone(),
            refreshed: false,
            warning,
        })
    }

    /// The row's access token for the caller. A token that cannot be opened
    /// (tampered, wrong key, unbound legacy format) is a failure like any
    /// other: recorded as status `error` with its code and an event, once
    /// per change, so the status never says `connected` while every call fails.
    pub(crate) async fn serve(
        &self,
        row: &ConnectionRow,
        warning: Option<Error>,
    ) -> Result<ValidToken> {
        let result = self.token_from_row(row, warning);
        match &result {
            Err(e) if e.code.is_crypto() => self.record_unopenable(row, e).await,
            Ok(_) if crypto_flagged(row) => self.heal(row).await,
            _ => {}
        }
        result
    }

    /// The row was flagged because a token could not be opened (another
    /// instance without this key, during a key rotation) and it opens here:
    /// its tokens are written back as they are, sealed with the current key,
    /// under the lease (so no refresh under way loses what it saves), which
    /// clears the error. Its marker stays: the tokens did not change.
    async fn heal(&self, row: &ConnectionRow) {
        let Ok(tokens) = self.open_tokens(row) else {
            return;
        };
        let now = self.rt.now_ms();
        let owner = self.next_owner();
        let lease = self
            .store
            .try_lease(
                &row.user_id,
                &row.provider,
                &owner,
                now,
                now + self.cfg.policy.lease_ms,
            )
            .await;
        let Ok(LeaseOutcome::Acquired(current)) = lease else {
            return;
        };
        let mut write = self.sealed_write(&current, &tokens, now);
        write.refreshed_at = current.token_refreshed_at.unwrap_or(now);
        let healed = current.version == row.version
            && matches!(
                self.store
                    .commit_refresh(&write, current.version, None)
                    .await,
                Ok(true)
            );
        if healed {
            self.emit(self.event(&current, "recovered")).await;
        } else {
            let _ = self
                .store
                .release_lease(&row.user_id, &row.provider, &owner)
                .await;
        }
    }

    pub(crate) async fn record_unopenable(&self, row: &ConnectionRow, e: &Error) {
        let already = Status::parse(&row.status) == Some(Status::Error)
            && row.last_error_code.as_deref() == Some(e.code.as_str());
        if already {
            return;
        }
        let _ = self
            .store
            .record_failure(&flag(
                row,
                Status::Error,
                e.code,
                e.message.clone(),
                self.rt.now_ms(),
                row.failure_count.saturating_add(1),
            ))
            .await;
        let mut ev = self.event(row, "failed");
        ev.code = Some(e.code.as_str().to_string());
        ev.message = Some(e.message.clone());
        self.emit(ev).await;
    }

    /// Errors for rows that cannot yield a token at all. A connection flagged
    /// for a missing scope still serves its token for the scopes it has.
    pub(crate) fn check_usable(&self, row: &ConnectionRow) -> Result<()> {
        match Status::parse(&row.status) {
            Some(Status::Disconnected) => Err(not_connected(&row.provider)),
            Some(Status::NeedsReauth)
                if missing_scope(row) && row.access_token_sealed.is_some() =>
            {
                Ok(())
            }
            Some(Status::NeedsReauth) => Err(Error::new(
                Code::ReauthRequired,
                format!(
                    "the {} connection must be reconnected{}",
                    row.provider,
                    row.last_error_message
                        .as_deref()
                        .map(|m| format!(" ({m})"))
                        .unwrap_or_default()
                ),
            )),
            _ if row.access_token_sealed.is_none() => Err(not_connected(&row.provider)),
            _ => Ok(()),
        }
    }

    pub(crate) async fn emit(&self, event: RefreshEvent) {
        self.rt.emit(&event);
        // Monitoring must not fail the request; the runtime hook above has it regardless.
        let _ = self.store.append_event(&event).await;
    }

    pub(crate) fn event(&self, row: &ConnectionRow, kind: &str) -> RefreshEvent {
        RefreshEvent {
            user_id: row.user_id.clone(),
            provider: row.provider.clone(),
            kind: kind.to_string(),
            code: None,
            message: None,
            at: self.rt.now_ms(),
            duration_ms: None,
            attempts: None,
            rotated: None,
            scopes_added: Vec::new(),
            scopes_removed: Vec::new(),
            instance: self.instance_id().to_string(),
        }
    }

    /// A valid access token for the user's connection: cached if fresh,
    /// otherwise refreshed once across every caller, in this instance and
    /// all others sharing the store.
    pub async fn get_valid_token(
        &self,
        user_id: &str,
        provider_id: &str,
        opts: GetOptions,
    ) -> Result<ValidToken> {
        self.get_valid_token_from(user_id, provider_id, opts, None)
            .await
    }

    /// The hot path with the row already read and no I/O: the token when it
    /// is fresh beyond the margin and nothing else needs doing (no pending
    /// rotated token, a usable status, a value that opens from the cache or
    /// at once). `None` means: take the full path.
    pub fn fresh_token(
        &self,
        row: &ConnectionRow,
        user_id: &str,
        provider_id: &str,
        opts: GetOptions,
    ) -> Option<ValidToken> {
        let opts = opts.for_row(row);
        // A row flagged for a token that could not be opened takes the full
        // path, which clears the flag when it opens here.
        if row.user_id != user_id || check_user(user_id).is_err() || crypto_flagged(row) {
            return None;
        }
        let provider = self.cfg.providers.get(provider_id)?;
        let pending = self
            .pending
            .borrow()
            .keys()
            .any(|(u, p)| *u == row.user_id && p == provider_id);
        if opts.force || pending || row.provider != provider_id || self.check_usable(row).is_err() {
            return None;
        }
        let fresh = !provider.spec.access_tokens_expire
            || freshness(
                row.expires_at,
                self.rt.now_ms(),
                self.row_margin_ms(provider, &opts, row),
            ) == Freshness::Fresh;
        if !fresh {
            return None;
        }
        self.token_from_row(row, None).ok()
    }

    /// Changes whenever this instance's own state that `fresh_token` reads
    /// may have (the rotated tokens waiting to be saved). With the row and
    /// the time, it is everything `fresh_token`'s answer depends on.
    pub fn generation(&self) -> u32 {
        self.pending.generation()
    }

    /// When `fresh_token` stops answering for this row (without options):
    /// its expiry less the margin. `None`: tokens that do not expire.
    pub fn fresh_until(&self, row: &ConnectionRow) -> Option<i64> {
        let provider = self.cfg.providers.get(&row.provider)?;
        if !provider.spec.access_tokens_expire {
            return None;
        }
        let margin = self.row_margin_ms(provider, &GetOptions::default(), row);
        row.expires_at.map(|e| e.saturating_sub(margin))
    }

    /// `get_valid_token`, with the first read of the row already done by the
    /// caller (`first`: `Some(None)` when there was no row), so a caller that
    /// tried the hot path does not read the store twice.
    pub async fn get_valid_token_from(
        &self,
        user_id: &str,
        provider_id: &str,
        opts: GetOptions,
        mut first: Option<Option<ConnectionRow>>,
    ) -> Result<ValidToken> {
        let provider = self.provider(provider_id)?;
        check_user(user_id)?;
        let key: Key = (user_id.to_string(), provider_id.to_string());
        for _ in 0..4 {
            let loaded = match first.take() {
                Some(row) => row,
                None => self.store.load(user_id, provider_id).await?,
            };
            let row = loaded.ok_or_else(|| not_connected(provider_id))?;
            let opts = opts.for_row(&row);
            if self.pending.borrow().get(&key).is_none() {
                self.check_usable(&row)?;
                if !opts.force {
                    let now = self.rt.now_ms();
                    let fresh = !provider.spec.access_tokens_expire
                        || freshness(
                            row.expires_at,
                            now,
                            self.row_margin_ms(provider, &opts, &row),
                        ) == Freshness::Fresh;
                    if fresh {
                        return self.serve(&row, None).await;
                    }
                }
            }
            match self.flights.join(key.clone()) {
                Role::Follower(rx) => match rx.await {
                    // The leader's provider call, not ours.
                    Ok(result) => {
                        return result.map(|t| ValidToken {
                            refreshed: false,
                            ..t
                        })
                    }
                    Err(_) => continue, // the leader was dropped: try again
                },
                Role::Leader(leader) => {
                    let result = self.lead_refresh(&row, provider, opts).await;
                    leader.finish(&result);
                    return result;
                }
            }
        }
        Err(Error::new(
            Code::Internal,
            "the refresh was abandoned repeatedly",
        ))
    }
}

fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(64)
        .collect()
}

/// Flagged `error` because a stored token could not be opened.
fn crypto_flagged(row: &ConnectionRow) -> bool {
    Status::parse(&row.status) == Some(Status::Error)
        && row
            .last_error_code
            .as_deref()
            .and_then(Code::parse)
            .is_some_and(|c| c.is_crypto())
}

pub(crate) fn check_user(user_id: &str) -> Result<()> {
    if user_id.is_empty() || user_id.len() > 255 {
        return Err(Error::new(
            Code::BadRequest,
            "userId: must be 1-255 characters",
        ));
    }
    // Tokens are sealed bound to the user id as given, and opened with the
    // id the store returns: Postgres returns a uuid in its canonical form
    // (lower case, 8-4-4-4-12), so a token stored for "A0EE…", for
    // "{a0ee…}" or for the 32 digits alone would never open again.
    // Every call checks it: the canonical form (Supabase's ids) answers first.
    if is_uuid(user_id) && !user_id.bytes().any(|b| b.is_ascii_uppercase()) {
        return Ok(());
    }
    let mut digits = user_id
        .bytes()
        .filter(|&b| !matches!(b, b'-' | b'{' | b'}'));
    let uuid_like = digits.clone().count() == 32 && digits.all(|b| b.is_ascii_hexdigit());
    if uuid_like {
        return Err(Error::new(
            Code::BadRequest,
            "userId: a UUID must be in lower case, 8-4-4-4-12, as Postgres and Supabase Auth write it",
        ));
    }
    Ok(())
}

/// 8-4-4-4-12 hexadecimal digits.
fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}
