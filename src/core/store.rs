//! The store contract. The Postgres store (edge functions), a JS object
//! (wasm) and the in-memory store all implement it. It only ever sees sealed
//! tokens. Instants are epoch milliseconds.

use super::error::Result;

/// One connection row: a user's grant at one provider.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectionRow {
    pub user_id: String,
    pub provider: String,
    pub access_token_sealed: Option<String>,
    pub refresh_token_sealed: Option<String>,
    pub expires_at: Option<i64>,
    pub refresh_token_expires_at: Option<i64>,
    pub scope: Option<String>,
    /// One of the `Status` strings.
    pub status: String,
    pub last_error_code: Option<String>,
    pub last_error_message: Option<String>,
    pub last_error_at: Option<i64>,
    pub failure_count: u32,
    pub cooldown_until: Option<i64>,
    pub token_refreshed_at: Option<i64>,
    /// Moves on every token write; the lease protocol compares it.
    pub version: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    /// Who connected: the provider account's id, email and login or name.
    pub account_id: Option<String>,
    pub account_email: Option<String>,
    pub account_name: Option<String>,
    /// The SHA-256 (base64url) of the access token of the last sign-in
    /// stored (`store_tokens`), kept by refreshes, disconnects and connects:
    /// the same sign-in's tokens sent again are not written again. `None` in
    /// stores that do not keep it.
    pub signin_digest: Option<String>,
}

/// The outcome of trying to take the refresh lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// We hold the lease; the row as read in the same statement.
    Acquired(ConnectionRow),
    /// Another owner holds an unexpired lease.
    Busy(ConnectionRow),
    /// No such connection.
    Missing,
}

/// Tokens written after a successful refresh or a sign-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenWrite {
    pub user_id: String,
    pub provider: String,
    pub access_token_sealed: String,
    pub refresh_token_sealed: Option<String>,
    pub expires_at: Option<i64>,
    pub refresh_token_expires_at: Option<i64>,
    pub scope: Option<String>,
    /// Becomes `token_refreshed_at`.
    pub refreshed_at: i64,
    /// The account, when known; `None` keeps what is stored. Only sign-ins
    /// and connects set it; a refresh never touches it.
    pub account_id: Option<String>,
    pub account_email: Option<String>,
    pub account_name: Option<String>,
    /// Sign-ins without a refresh token: keep the refresh token the row holds
    /// when the write lands (and its end and lease), not the one read before
    /// (the copy in `refresh_token_sealed`, for stores that ignore this): a
    /// refresh that rotated it meanwhile must not be undone, nor another
    /// sign-in's that landed first. Only when the row's account is the
    /// write's, or either is not known: another account's refresh token is
    /// another grant's.
    pub keep_stored_refresh_token: bool,
    /// saveTokens only: a new grant whose account could not be read (the
    /// provider's user-info failed or needs a scope not asked for): the
    /// account columns become `None` instead of keeping the stored ones,
    /// which name whoever held the grant before. Stores that ignore it keep
    /// them, as before.
    pub forget_stored_account: bool,
    /// saveTokens only (commitRefresh leaves the column): the row's
    /// `signin_digest` after this write (a connect's write carries the
    /// stored one on). `None` is not sent to a JS store.
    pub signin_digest: Option<String>,
}

/// A connect in progress (RFC 6749 §4.1 with PKCE), found by the SHA-256 of
/// its `state`. The verifier and, after the callback, the code are sealed,
/// bound to the state hash. Instants are epoch milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectAttempt {
    pub state_hash: String,
    pub user_id: String,
    pub provider: String,
    pub verifier_sealed: String,
    pub redirect_uri: String,
    pub return_to: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub code_sealed: Option<String>,
    /// SHA-256 of the one-time ticket the app completes the connect with.
    pub ticket_hash: Option<String>,
}

/// The callback's claim on an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// First use of this state: the attempt as it was.
    Claimed(ConnectAttempt),
    /// The state was used before (a replay).
    Used(ConnectAttempt),
    Missing,
}

/// A failed refresh, recorded by the lease owner (which then releases the lease).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailureWrite {
    pub user_id: String,
    pub provider: String,
    pub owner: String,
    pub status: String,
    pub code: String,
    pub message: String,
    pub at: i64,
    pub failure_count: u32,
    pub cooldown_until: Option<i64>,
    /// The grant is dead (`invalid_grant`, expired refresh token): erase the
    /// stored refresh token, keeping the row and its status.
    pub erase_refresh_token: bool,
    /// Written only while the row's `version` is still this one: a refresh's
    /// failure must not land on tokens saved since (a reconnect, another
    /// instance's refresh), nor erase their refresh token. `None`: always.
    pub expected_version: Option<i64>,
}

/// A refresh outcome for monitoring. Carries no token bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshEvent {
    pub user_id: String,
    pub provider: String,
    /// `refreshed`, `failed`, `rotation_not_saved`, `rotation_saved_late`, `rotation_kept`
    /// (a refused answer's new refresh token, stored), `lease_lost`, `stored`, `disconnected`,
    /// `recovered` (a token flagged unopenable opened, and was written back).
    pub kind: String,
    pub code: Option<String>,
    pub message: Option<String>,
    pub at: i64,
    pub duration_ms: Option<i64>,
    pub attempts: Option<u32>,
    pub rotated: Option<bool>,
    pub scopes_added: Vec<String>,
    pub scopes_removed: Vec<String>,
    pub instance: String,
}

/// The store contract. Each method is one atomic step.
#[allow(async_fn_in_trait)] // single-threaded wasm: futures need not be Send
pub trait Store {
    async fn load(&self, user_id: &str, provider: &str) -> Result<Option<ConnectionRow>>;

    /// Takes the lease in one statement when it is free or expired
    /// (`lease_until <= now`), setting `lease_owner = owner, lease_until = until`.
    async fn try_lease(
        &self,
        user_id: &str,
        provider: &str,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<LeaseOutcome>;

    /// Writes refreshed tokens only if `version == expected_version`; bumps
    /// `version`, sets `token_refreshed_at`, status `connected`, clears the
    /// error, failure count, cooldown and lease. False when the version moved.
    /// A row flagged `needs_reauth` with `INSUFFICIENT_SCOPE` keeps its status
    /// and error (a refresh cannot add scopes), in the same write: no status
    /// change is seen in between (no webhook says it reconnected).
    /// With `event` (only when `commits_events()`), the store records it in
    /// the same write when, and only when, the tokens are written: one round
    /// trip instead of two.
    async fn commit_refresh(
        &self,
        write: &TokenWrite,
        expected_version: i64,
        event: Option<&RefreshEvent>,
    ) -> Result<bool>;

    /// True when `commit_refresh` records the event it is given.
    fn commits_events(&self) -> bool {
        false
    }

    /// Records a failed refresh and releases `owner`'s lease; erases the
    /// refresh token when `erase_refresh_token` is set.
    async fn record_failure(&self, write: &FailureWrite) -> Result<()>;

    /// Releases the lease if `owner` still holds it.
    async fn release_lease(&self, user_id: &str, provider: &str, owner: &str) -> Result<()>;

    /// Inserts or replaces a connection's tokens (sign-in), as `commit_refresh`
    /// does but unconditionally. Returns the row written.
    async fn save_tokens(&self, write: &TokenWrite) -> Result<ConnectionRow>;

    /// Marks the connection disconnected and erases its tokens and account.
    async fn disconnect(&self, user_id: &str, provider: &str, at: i64) -> Result<()>;

    async fn append_event(&self, event: &RefreshEvent) -> Result<()>;

    /// Records a connect in progress.
    async fn put_connect(&self, attempt: &ConnectAttempt) -> Result<()>;

    /// The callback, in one step: attaches the code and ticket to the attempt
    /// with this state if it was never claimed.
    async fn claim_connect(
        &self,
        state_hash: &str,
        code_sealed: Option<&str>,
        ticket_hash: Option<&str>,
        now_ms: i64,
    ) -> Result<ClaimOutcome>;

    /// Completion: removes and returns the attempt with this ticket (single use).
    async fn take_connect(&self, ticket_hash: &str) -> Result<Option<ConnectAttempt>>;

    /// Every connection of a user.
    async fn load_all(&self, user_id: &str) -> Result<Vec<ConnectionRow>>;

    /// Connections whose access token expires before `before_ms`, that have a
    /// refresh token, are not `needs_reauth` or `disconnected`, and are not cooling down at `now_ms`.
    async fn list_expiring(
        &self,
        before_ms: i64,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<(String, String)>>;
}
