//! Connecting and disconnecting a provider: the authorization code grant
//! with PKCE (RFC 6749 §4.1, RFC 7636), and revocation at the provider.
//!
//! 1. `begin_connect` (the user's JWT): a random single-use `state` and PKCE
//!    verifier, stored bound to the user, provider, redirect URI and the page
//!    to return to; the authorization URL.
//! 2. `connect_callback` (a browser redirect, no JWT): claims the state once,
//!    keeps the code sealed, hands the browser a one-time ticket.
//! 3. `complete_connect` (the user's JWT again): the ticket must be this
//!    user's. Exchanges the code with the verifier, reads who connected,
//!    stores the tokens sealed.
//!
//! Step 3 is what stops login CSRF: a consent link an attacker started, opened
//! by a victim, ends with a ticket that only the attacker's session could
//! complete, so the victim's provider account never lands on the attacker's
//! user.

use super::authorize::{
    authorization_url, code_request, random_token, sha256_b64url, AuthorizationRequest, Pkce,
};
use super::error::{Code, Error, Result};
use super::grant::process_token_response;
use super::http::Transport;
use super::identity::userinfo_request;
use super::manager::{check_user, not_connected, GetOptions, InitialTokens, Manager, StatusReport};
use super::provider::{Provider, Revocation};
use super::revoke::{
    ambiguous_gone, confirm_gone, revocation_outcome, revocation_request, RevokeOutcome,
};
use super::runtime::Runtime;
use super::seal::{Field, SealContext};
use super::secret::{AccessToken, AuthorizationCode, PkceVerifier};
use super::store::{ClaimOutcome, ConnectAttempt, ConnectionRow, Store};
use super::token::ungranted;

/// How long a connect may take from the authorization URL to completion.
pub const CONNECT_TTL_MS: i64 = 10 * 60_000;
/// At most this many scopes, each at most this long.
const MAX_SCOPES: usize = 50;
const MAX_SCOPE_LEN: usize = 200;

#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    /// The callback URL registered at the provider.
    pub redirect_uri: String,
    /// The page to return to; the caller checks it against its allowlist.
    pub return_to: String,
    /// Scopes to ask for; the provider's defaults when `None`.
    pub scopes: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectStart {
    pub authorization_url: String,
    pub expires_at: i64,
}

/// Where the callback sends the browser: back to `return_to` with a ticket
/// to complete, or with an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackResult {
    pub provider: String,
    pub return_to: String,
    pub ticket: Option<String>,
    pub error: Option<Error>,
}

/// What disconnecting did, here and at the provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisconnectReport {
    pub status: StatusReport,
    pub revocation: RevokeOutcome,
}

fn invalid(message: &str) -> Error {
    Error::new(Code::ConnectStateInvalid, message)
}

fn http_url(v: &str, what: &str) -> Result<()> {
    let ok = (v.starts_with("https://") || v.starts_with("http://"))
        && v.len() <= 2048
        && !v.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            Code::BadRequest,
            format!("{what}: must be an http(s) URL"),
        ))
    }
}

fn check_scopes(scopes: &[String]) -> Result<()> {
    let ok = scopes.len() <= MAX_SCOPES
        && scopes.iter().all(|s| {
            !s.is_empty()
                && s.len() <= MAX_SCOPE_LEN
                && s.chars()
                    .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            Code::BadRequest,
            format!("scopes: at most {MAX_SCOPES} scopes of printable characters without spaces"),
        ))
    }
}

/// The verifier and the code are sealed bound to the attempt's state hash:
/// the callback knows neither user nor provider until its claim succeeds, and
/// the claim must carry the sealed code to be one statement.
fn attempt_ctx(state_hash: &str, field: Field) -> SealContext<'_> {
    SealContext {
        user_id: state_hash,
        provider: "connect",
        field,
    }
}

impl<T: Transport, S: Store, R: Runtime> Manager<T, S, R> {
    fn random32(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        self.rt.fill_random(&mut b);
        b
    }

    /// Step 1: the authorization URL for the user's browser.
    pub async fn begin_connect(
        &self,
        user_id: &str,
        provider_id: &str,
        opts: ConnectOptions,
    ) -> Result<ConnectStart> {
        let provider = self.provider(provider_id)?;
        check_user(user_id)?;
        http_url(&opts.redirect_uri, "redirectUri")?;
        http_url(&opts.return_to, "returnTo")?;
        let scopes = match opts.scopes {
            Some(s) if s.is_empty() => {
                return Err(Error::new(
                    Code::BadRequest,
                    "scopes: name at least one, or leave it out for the provider's defaults",
                ))
            }
            Some(s) => s,
            None => provider.spec.default_scopes.clone(),
        };
        check_scopes(&scopes)?;
        let state = random_token(self.random32());
        let pkce = Pkce::from_random(self.random32());
        let state_hash = sha256_b64url(&state);
        let now = self.rt.now_ms();
        let url = authorization_url(
            provider,
            &AuthorizationRequest {
                redirect_uri: &opts.redirect_uri,
                scopes: &scopes,
                state: &state,
                code_challenge: &pkce.challenge,
            },
        )?;
        let mut nonce = [0u8; 12];
        self.rt.fill_random(&mut nonce);
        let verifier_sealed = self.cfg.keyring.seal(
            pkce.verifier.expose(),
            &attempt_ctx(&state_hash, Field::PkceVerifier),
            nonce,
        );
        self.store
            .put_connect(&ConnectAttempt {
                state_hash,
                user_id: user_id.to_string(),
                provider: provider_id.to_string(),
                verifier_sealed,
                redirect_uri: opts.redirect_uri,
                return_to: opts.return_to,
                scopes,
                created_at: now,
                expires_at: now + CONNECT_TTL_MS,
                code_sealed: None,
                ticket_hash: None,
            })
            .await?;
        Ok(ConnectStart {
            authorization_url: url,
            expires_at: now + CONNECT_TTL_MS,
        })
    }

    /// Step 2: the provider redirected the browser back. Consumes the state.
    /// An unknown state is an error (no page to return to is known); anything
    /// else returns to the page the connect started from. `issuer` is the
    /// response's `iss` (RFC 9207), when it has one.
    pub async fn connect_callback(
        &self,
        state: &str,
        code: Option<&str>,
        provider_error: Option<&str>,
        issuer: Option<&str>,
    ) -> Result<CallbackResult> {
        if state.is_empty() || state.len() > 512 {
            return Err(invalid(
                "this connect link is not valid: start connecting again",
            ));
        }
        let state_hash = sha256_b64url(state);
        let now = self.rt.now_ms();
        let code = code.filter(|c| !c.is_empty() && c.len() <= 4096 && provider_error.is_none());
        let ticket = code.map(|_| random_token(self.random32()));
        let code_sealed = code.map(|c| {
            let mut nonce = [0u8; 12];
            self.rt.fill_random(&mut nonce);
            self.cfg.keyring.seal(
                c,
                &attempt_ctx(&state_hash, Field::AuthorizationCode),
                nonce,
            )
        });
        let ticket_hash = ticket.as_deref().map(sha256_b64url);
        // One statement: the state is claimed once, with its code and ticket.
        let claimed = self
            .store
            .claim_connect(
                &state_hash,
                code_sealed.as_deref(),
                ticket_hash.as_deref(),
                now,
            )
            .await?;
        let attempt = match claimed {
            ClaimOutcome::Missing => {
                return Err(invalid(
                    "this connect link is not valid: start connecting again",
                ))
            }
            ClaimOutcome::Used(a) => {
                return Ok(CallbackResult {
                    provider: a.provider,
                    return_to: a.return_to,
                    ticket: None,
                    error: Some(invalid(
                        "this connect link was already used: start connecting again",
                    )),
                })
            }
            ClaimOutcome::Claimed(a) => a,
        };
        let back = |error: Error| CallbackResult {
            provider: attempt.provider.clone(),
            return_to: attempt.return_to.clone(),
            ticket: None,
            error: Some(error),
        };
        if now >= attempt.expires_at {
            return Ok(back(invalid(
                "the connect took too long: start connecting again",
            )));
        }
        // The code (if any) stays sealed in the attempt; without the ticket
        // nobody can complete it, and it expires with it.
        match issuer {
            Some(iss) if self.mixed_up(&attempt.provider, iss) => {
                return Ok(back(invalid(
                    "the answer came from another authorization server than this connect went to: start connecting again",
                )));
            }
            None if self
                .cfg
                .providers
                .get(&attempt.provider)
                .is_some_and(|p| p.spec.issuer_required) =>
            {
                return Ok(back(invalid(
                    "the answer did not say which authorization server sent it (iss), as this provider's always do: start connecting again",
                )));
            }
            _ => {}
        }
        if let Some(e) = provider_error {
            let error = if e == "access_denied" {
                Error::new(
                    Code::ConsentDenied,
                    "access was not granted at the provider",
                )
            } else {
                let shown: String = e
                    .chars()
                    .filter(|c| c.is_ascii_graphic())
                    .take(64)
                    .collect();
                Error::new(
                    Code::ProviderRejected,
                    format!("the provider answered {shown}"),
                )
            };
            return Ok(back(error));
        }
        let Some(ticket) = ticket else {
            return Ok(back(Error::new(
                Code::BadProviderResponse,
                "the provider returned without a code",
            )));
        };
        Ok(CallbackResult {
            provider: attempt.provider.clone(),
            return_to: attempt.return_to.clone(),
            ticket: Some(ticket),
            error: None,
        })
    }

    /// A mix-up (RFC 9700 §4.4, RFC 9207 §2.4): the response's `iss` is not
    /// the issuer of the provider this connect went to, or, for a provider
    /// whose issuer is not known, it is another configured provider's. All
    /// providers share the one callback, so without this a malicious or
    /// compromised server could have a victim's code for another provider
    /// sent to it.
    fn mixed_up(&self, provider_id: &str, iss: &str) -> bool {
        match self
            .cfg
            .providers
            .get(provider_id)
            .and_then(|p| p.spec.issuer.as_deref())
        {
            Some(expected) => iss != expected,
            None => self
                .cfg
                .providers
                .iter()
                .any(|(_, p)| p.spec.issuer.as_deref() == Some(iss)),
        }
    }

    /// Step 3: the user's session completes the connect with the ticket.
    pub async fn complete_connect(&self, user_id: &str, ticket: &str) -> Result<StatusReport> {
        check_user(user_id)?;
        if ticket.is_empty() || ticket.len() > 512 {
            return Err(invalid(
                "this connect ticket is not valid: start connecting again",
            ));
        }
        let attempt = self
            .store
            .take_connect(&sha256_b64url(ticket))
            .await?
            .ok_or_else(|| {
                invalid(
                    "this connect ticket was already used or is unknown: start connecting again",
                )
            })?;
        if attempt.user_id != user_id {
            return Err(Error::new(
                Code::Forbidden,
                "this connect was started by another user: start connecting again",
            ));
        }
        let now = self.rt.now_ms();
        if now >= attempt.expires_at {
            return Err(invalid("the connect took too long: start connecting again"));
        }
        let provider = self.provider(&attempt.provider)?;
        let open = |sealed: &str, field| {
            self.cfg
                .keyring
                .open(sealed, &attempt_ctx(&attempt.state_hash, field))
        };
        let verifier = PkceVerifier::new(open(&attempt.verifier_sealed, Field::PkceVerifier)?);
        let code = AuthorizationCode::new(open(
            attempt
                .code_sealed
                .as_deref()
                .ok_or_else(|| invalid("this connect has no code"))?,
            Field::AuthorizationCode,
        )?);
        let request = code_request(provider, &code, &attempt.redirect_uri, &verifier);
        let resp = self
            .transport
            .send(request, self.cfg.policy.request_timeout_ms)
            .await
            .map_err(Error::from)?;
        let t = process_token_response(&resp, code.expose(), self.rt.now_ms()).map_err(|e| {
            // invalid_grant for a code is a code that expired or was used
            // (RFC 6749 §5.2), not a dead grant: nothing to reconnect, only
            // this connect to start again.
            if e.code == Code::ReauthRequired {
                invalid("the provider refused the code (expired or already used): start connecting again")
            } else {
                e
            }
        })?;
        let scope = t.scope.clone().or_else(|| Some(attempt.scopes.join(" ")));
        // What the user allowed, when the provider says (RFC 6749 §5.1; an
        // empty `scope`, as GitHub Apps send, says nothing and is `None`).
        let missing = t
            .scope
            .as_deref()
            .map(|g| ungranted(&attempt.scopes, g, provider.spec.scope_separator))
            .unwrap_or_default();
        let report = self
            .save_grant(
                user_id,
                &attempt.provider,
                InitialTokens {
                    access_token: t.access_token.expose().to_string(),
                    refresh_token: t.refresh_token.as_ref().map(|r| r.expose().to_string()),
                    expires_in_secs: t.expires_in_secs,
                    expires_at_ms: None,
                    scope,
                    refresh_token_expires_in_secs: t.refresh_token_expires_in_secs,
                    account: None,
                },
                "connected",
            )
            .await?;
        if missing.is_empty() {
            return Ok(report);
        }
        // Connected with less than was asked (Google's consent page lets the
        // user untick a scope): the tokens are kept for what they grant, and
        // the connection says what is missing until the user consents again.
        self.record_scope_error(user_id, &attempt.provider, &missing)
            .await
    }

    /// After an ambiguous "already gone" (`revoke::ambiguous_gone`): tries the
    /// access token on the provider's user-info endpoint. A token that still
    /// works means the grant stands; no answer keeps "revoked", as before.
    async fn probe_token(&self, provider: &Provider, access: &AccessToken) -> RevokeOutcome {
        let Some(req) = userinfo_request(provider, access) else {
            return RevokeOutcome::Revoked;
        };
        let status = self
            .transport
            .send(req, self.cfg.policy.request_timeout_ms)
            .await
            .ok()
            .map(|r| r.status);
        confirm_gone(status)
    }

    /// Revokes the grant at the provider where it can, then erases the sealed
    /// tokens and marks the connection disconnected, whatever the provider said.
    pub async fn disconnect(&self, user_id: &str, provider_id: &str) -> Result<DisconnectReport> {
        let provider = self.provider(provider_id)?;
        check_user(user_id)?;
        let row = self
            .store
            .load(user_id, provider_id)
            .await?
            .ok_or_else(|| not_connected(provider_id))?;
        // A refresh that rotated the refresh token while the provider was
        // revoking it: the token revoked was spent (an RFC 7009 server
        // answers 200 for it, §2.2, and revokes nothing), the new one is
        // revoked too before the row is erased (a few rounds at most).
        // Google's revocation and GitHub's grant deletion end the whole grant.
        let per_token = matches!(provider.spec.revocation, Revocation::Rfc7009 { .. });
        let mut row = row;
        let mut revocation = self.revoke_row(provider, user_id, provider_id, &row).await;
        for _ in 0..2 {
            if !per_token {
                break;
            }
            // Compared opened: a refresh that kept the token seals it anew.
            let refresh_of = |r: &ConnectionRow| self.open_tokens(r).ok()?.refresh_token;
            match self.store.load(user_id, provider_id).await? {
                Some(now)
                    if now.refresh_token_sealed.is_some()
                        && now.refresh_token_sealed != row.refresh_token_sealed
                        && refresh_of(&now) != refresh_of(&row) =>
                {
                    row = now;
                    revocation = self.revoke_row(provider, user_id, provider_id, &row).await;
                }
                _ => break,
            }
        }
        let now = self.rt.now_ms();
        self.store.disconnect(user_id, provider_id, now).await?;
        self.pending
            .borrow_mut()
            .remove(&(user_id.to_string(), provider_id.to_string()));
        let mut ev = self.event(&row, "disconnected");
        ev.message = Some(format!("revocation: {}", revocation.as_str()));
        if let RevokeOutcome::Failed(e) = &revocation {
            ev.code = Some(e.code.as_str().to_string());
        }
        self.emit(ev).await;
        Ok(DisconnectReport {
            status: self.status(user_id, provider_id).await?,
            revocation,
        })
    }

    /// Revokes the grant of `row`'s tokens at the provider where it can.
    async fn revoke_row(
        &self,
        provider: &Provider,
        user_id: &str,
        provider_id: &str,
        row: &ConnectionRow,
    ) -> RevokeOutcome {
        match self.open_tokens(row) {
            Err(_) if row.access_token_sealed.is_none() && row.refresh_token_sealed.is_none() => {
                RevokeOutcome::NothingToRevoke
            }
            // Tokens that cannot be opened (a key no longer configured, a
            // value not bound to its row) cannot be sent: the grant may still
            // stand at the provider, and erased here it cannot be revoked
            // from here again. Said, not reported as nothing to revoke.
            Err(e) => RevokeOutcome::Failed(Error::new(
                e.code,
                "the stored tokens could not be opened, so the grant was not revoked: it may still be authorized at the provider",
            )),
            Ok(mut tokens) => {
                if revokes_with_access_token(provider)
                    && tokens.refresh_token.is_some()
                    && tokens.expires_at_ms.is_some_and(|e| e <= self.rt.now_ms())
                {
                    // GitHub deletes a grant by one of its access tokens, and
                    // an expired one (GitHub App tokens live 8 hours) finds no
                    // grant: refresh first, through the lease like any call.
                    // If that fails, the stale token is still tried.
                    let first = Some(Some(row.clone()));
                    if let Ok(t) = self
                        .get_valid_token_from(user_id, provider_id, GetOptions::default(), first)
                        .await
                    {
                        tokens.access_token = t.access_token;
                        tokens.expires_at_ms = t.expires_at_ms;
                    }
                }
                // Revoking by an access token that has expired proves
                // nothing: the provider no longer knows it (GitHub's 404,
                // Google's invalid_token, RFC 7009's 200 for any invalid
                // token), while the grant may still stand.
                let by_access_token =
                    revokes_with_access_token(provider) || tokens.refresh_token.is_none();
                let stale =
                    by_access_token && tokens.expires_at_ms.is_some_and(|e| e <= self.rt.now_ms());
                match revocation_request(provider, &tokens) {
                    None => RevokeOutcome::NotSupported,
                    Some(req) => match self
                        .transport
                        .send(req, self.cfg.policy.request_timeout_ms)
                        .await
                    {
                        Ok(resp) => match revocation_outcome(provider, &resp) {
                            RevokeOutcome::Revoked if stale => RevokeOutcome::Failed(Error::new(
                                Code::ProviderRejected,
                                "only an expired access token was left to revoke the grant with: it may still be authorized at the provider",
                            )),
                            RevokeOutcome::Revoked if ambiguous_gone(provider, &resp) => {
                                self.probe_token(provider, &tokens.access_token).await
                            }
                            outcome => outcome,
                        },
                        Err(e) => RevokeOutcome::Failed(e.into()),
                    },
                }
            }
        }
    }

    /// Every configured provider's status for the user, in id order.
    pub async fn status_all(&self, user_id: &str) -> Result<Vec<StatusReport>> {
        check_user(user_id)?;
        let rows = self.store.load_all(user_id).await?;
        Ok(self
            .cfg
            .providers
            .keys()
            .map(|id| self.report(id, rows.iter().find(|r| &r.provider == id)))
            .collect())
    }
}

/// Whether the provider revokes a grant by an access token (GitHub's "Delete
/// an app authorization"), which must then be a live one.
fn revokes_with_access_token(p: &Provider) -> bool {
    matches!(p.spec.revocation, Revocation::GitHubGrant { .. })
}

#[cfg(test)]
mod tests;
