//! An in-memory `Store`: the reference implementation of the contract, used
//! by the tests and fit for single-process use. Clones share one state, so
//! two managers given clones behave like two instances on one database.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use super::error::{Error, Result};
use super::status::Status;
use super::store::{
    ClaimOutcome, ConnectAttempt, ConnectionRow, FailureWrite, LeaseOutcome, RefreshEvent, Store,
    TokenWrite,
};

#[derive(Default)]
struct Inner {
    rows: RefCell<HashMap<(String, String), ConnectionRow>>,
    events: RefCell<Vec<RefreshEvent>>,
    /// Connect attempts by state hash, and whether the callback claimed them.
    connects: RefCell<HashMap<String, (ConnectAttempt, bool)>>,
    /// The next N commit_refresh / record_failure calls fail.
    fail_commits: Cell<u32>,
    fail_failures: Cell<u32>,
    /// The next N commit_refresh calls that write answer an error anyway
    /// (the connection dropped on the way back).
    lose_answers: Cell<u32>,
    /// See `fail_commit_after`.
    fail_after: Cell<Option<u32>>,
    commits: Cell<u32>,
    leases: Cell<u32>,
    /// Test hook: every expired lease is taken by a new owner that never finishes.
    ghosts: Cell<u32>,
    #[allow(clippy::type_complexity)]
    before_next_save: RefCell<Option<Box<dyn FnOnce(&mut ConnectionRow)>>>,
}

#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Rc<Inner>,
}

fn key(u: &str, p: &str) -> (String, String) {
    (u.to_string(), p.to_string())
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn row(&self, user: &str, provider: &str) -> Option<ConnectionRow> {
        self.inner.rows.borrow().get(&key(user, provider)).cloned()
    }
    pub fn put_row(&self, row: ConnectionRow) {
        self.inner
            .rows
            .borrow_mut()
            .insert(key(&row.user_id, &row.provider), row);
    }
    pub fn events(&self) -> Vec<RefreshEvent> {
        self.inner.events.borrow().clone()
    }
    /// Tests: the connect attempt with this state hash.
    pub fn connect_attempt(&self, state_hash: &str) -> Option<ConnectAttempt> {
        self.inner
            .connects
            .borrow()
            .get(state_hash)
            .map(|(a, _)| a.clone())
    }
    /// Tests: every connect attempt.
    pub fn connect_attempts(&self) -> Vec<ConnectAttempt> {
        self.inner
            .connects
            .borrow()
            .values()
            .map(|(a, _)| a.clone())
            .collect()
    }
    /// Tests: replaces an attempt (to tamper with it or move its expiry).
    pub fn put_connect_attempt(&self, a: ConnectAttempt) {
        let mut c = self.inner.connects.borrow_mut();
        let claimed = c.get(&a.state_hash).is_some_and(|(_, used)| *used);
        c.insert(a.state_hash.clone(), (a, claimed));
    }
    /// Makes the next `n` token writes fail with `STORAGE`.
    pub fn fail_next_commits(&self, n: u32) {
        self.inner.fail_commits.set(n);
    }
    /// The commit after the next `skip` ones fails (once).
    pub fn fail_commit_after(&self, skip: u32) {
        self.inner.fail_after.set(Some(skip));
    }
    pub fn lose_next_commit_answers(&self, n: u32) {
        self.inner.lose_answers.set(n);
    }
    pub fn fail_next_failure_writes(&self, n: u32) {
        self.inner.fail_failures.set(n);
    }
    /// Tests: `meanwhile` changes the stored row just before the next
    /// `save_tokens` applies its write (another writer in between; a row
    /// made there counts as one that was there).
    pub fn before_next_save(&self, meanwhile: impl FnOnce(&mut ConnectionRow) + 'static) {
        *self.inner.before_next_save.borrow_mut() = Some(Box::new(meanwhile));
    }
    /// Tests: from now on an expired lease is always taken over by another
    /// (dead) owner before the caller can take it.
    pub fn keep_leased_by_others(&self) {
        self.inner.ghosts.set(1);
    }
    pub fn lease_calls(&self) -> u32 {
        self.inner.leases.get()
    }
    pub fn commit_calls(&self) -> u32 {
        self.inner.commits.get()
    }
    fn take_fault(c: &Cell<u32>) -> bool {
        let n = c.get();
        if n > 0 {
            c.set(n - 1);
            true
        } else {
            false
        }
    }
}

fn apply_write(row: &mut ConnectionRow, w: &TokenWrite) {
    row.access_token_sealed = Some(w.access_token_sealed.clone());
    row.refresh_token_sealed = w.refresh_token_sealed.clone();
    row.expires_at = w.expires_at;
    row.refresh_token_expires_at = w.refresh_token_expires_at;
    row.scope = w.scope.clone();
    row.status = Status::Connected.as_str().to_string();
    row.last_error_code = None;
    row.last_error_message = None;
    row.last_error_at = None;
    row.failure_count = 0;
    row.cooldown_until = None;
    row.token_refreshed_at = Some(w.refreshed_at);
    row.version += 1;
    row.lease_owner = None;
    row.lease_until = None;
    for (to, from) in [
        (&mut row.account_id, &w.account_id),
        (&mut row.account_email, &w.account_email),
        (&mut row.account_name, &w.account_name),
    ] {
        if from.is_some() || w.forget_stored_account {
            to.clone_from(from);
        }
    }
}

impl Store for MemoryStore {
    async fn load(&self, user_id: &str, provider: &str) -> Result<Option<ConnectionRow>> {
        Ok(self.row(user_id, provider))
    }

    async fn try_lease(
        &self,
        user_id: &str,
        provider: &str,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<LeaseOutcome> {
        self.inner.leases.set(self.inner.leases.get() + 1);
        let mut rows = self.inner.rows.borrow_mut();
        let Some(row) = rows.get_mut(&key(user_id, provider)) else {
            return Ok(LeaseOutcome::Missing);
        };
        let expired = row.lease_until.is_none_or(|u| u <= now_ms);
        let ghost = self.inner.ghosts.get();
        if ghost > 0 && expired {
            self.inner.ghosts.set(ghost + 1);
            row.lease_owner = Some(format!("ghost:{ghost}"));
            row.lease_until = Some(until_ms);
            return Ok(LeaseOutcome::Busy(row.clone()));
        }
        let free = expired || row.lease_owner.as_deref() == Some(owner);
        if free {
            row.lease_owner = Some(owner.to_string());
            row.lease_until = Some(until_ms);
            Ok(LeaseOutcome::Acquired(row.clone()))
        } else {
            Ok(LeaseOutcome::Busy(row.clone()))
        }
    }

    async fn commit_refresh(
        &self,
        w: &TokenWrite,
        expected_version: i64,
        event: Option<&RefreshEvent>,
    ) -> Result<bool> {
        self.inner.commits.set(self.inner.commits.get() + 1);
        if Self::take_fault(&self.inner.fail_commits) {
            return Err(Error::storage("injected write failure"));
        }
        match self.inner.fail_after.get() {
            Some(0) => {
                self.inner.fail_after.set(None);
                return Err(Error::storage("injected write failure"));
            }
            Some(n) => self.inner.fail_after.set(Some(n - 1)),
            None => {}
        }
        let mut rows = self.inner.rows.borrow_mut();
        match rows.get_mut(&key(&w.user_id, &w.provider)) {
            Some(row) if row.version == expected_version => {
                let flag = super::lifecycle::missing_scope(row).then(|| {
                    (
                        row.status.clone(),
                        row.last_error_code.clone(),
                        row.last_error_message.clone(),
                        row.last_error_at,
                    )
                });
                apply_write(row, w);
                if let Some((status, code, message, at)) = flag {
                    // A refresh cannot add scopes: the flag stays, in this write.
                    row.status = status;
                    row.last_error_code = code;
                    row.last_error_message = message;
                    row.last_error_at = at;
                }
                if let Some(e) = event {
                    self.inner.events.borrow_mut().push(e.clone());
                }
                if Self::take_fault(&self.inner.lose_answers) {
                    return Err(Error::storage("the answer was lost"));
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn record_failure(&self, w: &FailureWrite) -> Result<()> {
        if Self::take_fault(&self.inner.fail_failures) {
            return Err(Error::storage("injected write failure"));
        }
        if let Some(row) = self
            .inner
            .rows
            .borrow_mut()
            .get_mut(&key(&w.user_id, &w.provider))
            .filter(|row| w.expected_version.is_none_or(|v| v == row.version))
        {
            row.status = w.status.clone();
            row.last_error_code = Some(w.code.clone());
            row.last_error_message = Some(w.message.clone());
            row.last_error_at = Some(w.at);
            row.failure_count = w.failure_count;
            row.cooldown_until = w.cooldown_until;
            if w.erase_refresh_token {
                row.refresh_token_sealed = None;
            }
            if row.lease_owner.as_deref() == Some(w.owner.as_str()) {
                row.lease_owner = None;
                row.lease_until = None;
            }
        }
        Ok(())
    }

    async fn release_lease(&self, user_id: &str, provider: &str, owner: &str) -> Result<()> {
        if let Some(row) = self
            .inner
            .rows
            .borrow_mut()
            .get_mut(&key(user_id, provider))
        {
            if row.lease_owner.as_deref() == Some(owner) {
                row.lease_owner = None;
                row.lease_until = None;
            }
        }
        Ok(())
    }

    async fn save_tokens(&self, w: &TokenWrite) -> Result<ConnectionRow> {
        let mut rows = self.inner.rows.borrow_mut();
        // An insert takes the write's refresh token; an update may keep the row's.
        let existed = rows.contains_key(&key(&w.user_id, &w.provider));
        let row = rows
            .entry(key(&w.user_id, &w.provider))
            .or_insert_with(|| ConnectionRow {
                user_id: w.user_id.clone(),
                provider: w.provider.clone(),
                access_token_sealed: None,
                refresh_token_sealed: None,
                expires_at: None,
                refresh_token_expires_at: None,
                scope: None,
                status: Status::Connected.as_str().to_string(),
                last_error_code: None,
                last_error_message: None,
                last_error_at: None,
                failure_count: 0,
                cooldown_until: None,
                token_refreshed_at: None,
                version: 0,
                lease_owner: None,
                lease_until: None,
                account_id: None,
                account_email: None,
                account_name: None,
                signin_digest: None,
            });
        // Tests: another writer lands between the caller's read and this write.
        let mut existed = existed;
        if let Some(meanwhile) = self.inner.before_next_save.borrow_mut().take() {
            meanwhile(row);
            existed = true;
        }
        let same_account = match (&row.account_id, &w.account_id) {
            (Some(stored), Some(written)) => stored == written,
            _ => true,
        };
        let kept = (
            row.refresh_token_sealed.clone(),
            row.refresh_token_expires_at,
            row.lease_owner.clone(),
            row.lease_until,
        );
        apply_write(row, w);
        if w.signin_digest.is_some() {
            row.signin_digest.clone_from(&w.signin_digest);
        }
        if w.keep_stored_refresh_token && existed && same_account {
            (
                row.refresh_token_sealed,
                row.refresh_token_expires_at,
                row.lease_owner,
                row.lease_until,
            ) = kept;
        }
        Ok(row.clone())
    }

    async fn disconnect(&self, user_id: &str, provider: &str, at: i64) -> Result<()> {
        if let Some(row) = self
            .inner
            .rows
            .borrow_mut()
            .get_mut(&key(user_id, provider))
        {
            row.access_token_sealed = None;
            row.refresh_token_sealed = None;
            row.account_id = None;
            row.account_email = None;
            row.account_name = None;
            row.status = Status::Disconnected.as_str().to_string();
            row.version += 1;
            row.token_refreshed_at = Some(at);
            row.lease_owner = None;
            row.lease_until = None;
        }
        Ok(())
    }

    fn commits_events(&self) -> bool {
        true
    }

    async fn append_event(&self, event: &RefreshEvent) -> Result<()> {
        self.inner.events.borrow_mut().push(event.clone());
        Ok(())
    }

    async fn put_connect(&self, a: &ConnectAttempt) -> Result<()> {
        self.inner
            .connects
            .borrow_mut()
            .insert(a.state_hash.clone(), (a.clone(), false));
        Ok(())
    }

    async fn claim_connect(
        &self,
        state_hash: &str,
        code_sealed: Option<&str>,
        ticket_hash: Option<&str>,
        _now_ms: i64,
    ) -> Result<ClaimOutcome> {
        let mut c = self.inner.connects.borrow_mut();
        Ok(match c.get_mut(state_hash) {
            None => ClaimOutcome::Missing,
            Some((a, true)) => ClaimOutcome::Used(a.clone()),
            Some((a, claimed)) => {
                let before = a.clone();
                a.code_sealed = code_sealed.map(str::to_string);
                a.ticket_hash = ticket_hash.map(str::to_string);
                *claimed = true;
                ClaimOutcome::Claimed(before)
            }
        })
    }

    async fn take_connect(&self, ticket_hash: &str) -> Result<Option<ConnectAttempt>> {
        let mut c = self.inner.connects.borrow_mut();
        let key = c
            .iter()
            .find(|(_, (a, _))| a.ticket_hash.as_deref() == Some(ticket_hash))
            .map(|(k, _)| k.clone());
        Ok(key.and_then(|k| c.remove(&k)).map(|(a, _)| a))
    }

    async fn load_all(&self, user_id: &str) -> Result<Vec<ConnectionRow>> {
        let mut rows: Vec<ConnectionRow> = self
            .inner
            .rows
            .borrow()
            .values()
            .filter(|r| r.user_id == user_id)
            .cloned()
            .collect();
        rows.sort_by(|a, b| a.provider.cmp(&b.provider));
        Ok(rows)
    }

    async fn list_expiring(
        &self,
        before_ms: i64,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<(String, String)>> {
        let rows = self.inner.rows.borrow();
        let mut out: Vec<(i64, String, String)> = rows
            .values()
            .filter(|r| {
                r.refresh_token_sealed.is_some()
                    && r.expires_at.is_some_and(|e| e < before_ms)
                    && !matches!(r.status.as_str(), "needs_reauth" | "disconnected")
                    && r.cooldown_until.is_none_or(|c| c <= now_ms)
            })
            .map(|r| {
                (
                    r.expires_at.unwrap_or(0),
                    r.user_id.clone(),
                    r.provider.clone(),
                )
            })
            .collect();
        out.sort();
        Ok(out
            .into_iter()
            .take(limit as usize)
            .map(|(_, u, p)| (u, p))
            .collect())
    }
}
