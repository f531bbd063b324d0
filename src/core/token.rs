//! Token sets and expiry decisions. Every decision takes `now` (epoch ms).

use super::secret::{AccessToken, RefreshToken};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenSet {
    pub access_token: AccessToken,
    pub refresh_token: Option<RefreshToken>,
    /// Absolute expiry of the access token; `None` when it never expires or is unknown.
    pub expires_at_ms: Option<i64>,
    /// Granted scopes, normalised: sorted, deduplicated, space separated.
    pub scope: Option<String>,
    /// When the refresh token itself dies (Google testing-mode apps, GitHub Apps).
    pub refresh_token_expires_at_ms: Option<i64>,
}

/// The longest lifetime a provider's `expires_in` (or `refresh_token_expires_in`)
/// is taken at: 100 years. Some servers say "never" with a huge number; taken
/// as given it would overflow, or be a time Postgres cannot store.
pub const MAX_LIFETIME_SECS: u64 = 100 * 365 * 86_400;

/// The time `secs` seconds after `now_ms` (epoch ms), the lifetime capped at
/// `MAX_LIFETIME_SECS`.
pub fn after_secs(now_ms: i64, secs: u64) -> i64 {
    // The cap keeps the product far inside i64.
    now_ms.saturating_add(secs.min(MAX_LIFETIME_SECS) as i64 * 1000)
}

/// Where an access token stands relative to `now` and the refresh-ahead margin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// Valid beyond the margin: use it, no refresh.
    Fresh,
    /// Still valid but inside the margin: refresh proactively, and fall back to it if that fails.
    Expiring,
    /// Expired: a refresh is required.
    Expired,
}

/// The refresh-ahead margin for a token issued at `issued_at_ms` that
/// expires at `expires_at_ms`: the configured margin, but at most half the
/// token's lifetime. A token that lives shorter than the margin (a server
/// that issues two-minute tokens, against a five-minute margin) would
/// otherwise be "expiring" from the moment it is issued, and every call
/// would refresh it: one provider call per call, not per expiry. Never
/// below `MIN_MARGIN_MS` (nor above the configured margin): a token stored
/// near its end (an import, a sign-in handing over an old token) looks
/// short-lived, and is still not served in its last seconds.
pub fn effective_margin(
    margin_ms: i64,
    issued_at_ms: Option<i64>,
    expires_at_ms: Option<i64>,
) -> i64 {
    match (issued_at_ms, expires_at_ms) {
        (Some(i), Some(e)) if e > i => margin_ms.min((e.saturating_sub(i) / 2).max(MIN_MARGIN_MS)),
        _ => margin_ms,
    }
}

/// The least refresh-ahead margin `effective_margin` leaves (or the
/// configured margin, when that is less).
pub const MIN_MARGIN_MS: i64 = 30_000;

pub fn freshness(expires_at_ms: Option<i64>, now_ms: i64, margin_ms: i64) -> Freshness {
    match expires_at_ms {
        None => Freshness::Fresh,
        Some(exp) if now_ms >= exp => Freshness::Expired,
        Some(exp) if now_ms >= exp - margin_ms => Freshness::Expiring,
        Some(_) => Freshness::Fresh,
    }
}

/// Normalises a scope string (RFC 6749 §3.3 is space separated; GitHub uses commas).
pub fn normalize_scope(raw: &str, separator: char) -> String {
    // Sorted and deduplicated as they are inserted.
    let mut parts: Vec<&str> = Vec::new();
    for p in raw.split(|c: char| c == separator || c.is_whitespace()) {
        if let (false, Err(i)) = (p.is_empty(), parts.binary_search(&p)) {
            parts.insert(i, p);
        }
    }
    parts.join(" ")
}

/// Scopes added and removed between two normalised scope strings.
pub fn scope_diff(old: &str, new: &str) -> (Vec<String>, Vec<String>) {
    let o: Vec<&str> = old.split(' ').filter(|s| !s.is_empty()).collect();
    let n: Vec<&str> = new.split(' ').filter(|s| !s.is_empty()).collect();
    let added = n
        .iter()
        .filter(|s| !o.contains(s))
        .map(|s| s.to_string())
        .collect();
    let removed = o
        .iter()
        .filter(|s| !n.contains(s))
        .map(|s| s.to_string())
        .collect();
    (added, removed)
}

/// The requested scopes a token response's `scope` does not grant (RFC 6749
/// §5.1: a server names the scope when it differs from the request), in the
/// order requested. A granted scope covers a requested one when it is the
/// same, Google's long name for it (`email` is granted as
/// `…/auth/userinfo.email`), or a broader scope of GitHub's kind (`user`
/// covers `user:email` and `read:user`, `admin:org` covers `write:org` and
/// `read:org`, `repo` covers `repo:status`, `repo_deployment`,
/// `public_repo`).
pub fn ungranted(requested: &[String], granted: &str, separator: char) -> Vec<String> {
    let granted: Vec<&str> = granted
        .split(|c: char| c == separator || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .collect();
    requested
        .iter()
        .filter(|r| !granted.iter().any(|g| covers(g, r)))
        .cloned()
        .collect()
}

fn covers(granted: &str, requested: &str) -> bool {
    const GOOGLE: &str = "https://www.googleapis.com/auth/userinfo.";
    if granted == requested
        || granted.strip_prefix(GOOGLE) == Some(requested)
        || requested.strip_prefix(GOOGLE) == Some(granted)
    {
        return true;
    }
    // `user` covers `user:email`; `repo` covers `repo:status`, `repo_deployment`.
    if let Some(rest) = requested.strip_prefix(granted) {
        if rest.starts_with(':') || rest.starts_with('_') {
            return true;
        }
    }
    if granted == "repo" && matches!(requested, "public_repo" | "security_events") {
        return true;
    }
    // `read:X` is covered by `write:X`, `admin:X` and `X`; `write:X` by `admin:X`.
    fn level(s: &str) -> Option<(u8, &str)> {
        match s.split_once(':') {
            Some(("read", x)) => Some((0, x)),
            Some(("write", x)) => Some((1, x)),
            Some(("admin", x)) => Some((2, x)),
            _ => None,
        }
    }
    match (level(requested), level(granted)) {
        (Some((r, x)), Some((g, y))) => g >= r && x == y,
        (Some((0, x)), None) => x == granted,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_margin_is_at_most_half_the_lifetime_and_never_below_thirty_seconds() {
        let m = 300_000;
        // An hour-long token: the configured margin.
        assert_eq!(effective_margin(m, Some(0), Some(3_600_000)), m);
        // Two-minute tokens: half their life.
        assert_eq!(effective_margin(m, Some(0), Some(120_000)), 60_000);
        // A token stored 40 s before its end: still 30 s ahead, not 20.
        assert_eq!(effective_margin(m, Some(0), Some(40_000)), MIN_MARGIN_MS);
        // A configured margin under the floor stays as configured.
        assert_eq!(effective_margin(10_000, Some(0), Some(40_000)), 10_000);
        // Without an issue time, or with one after the expiry: as configured.
        assert_eq!(effective_margin(m, None, Some(40_000)), m);
        assert_eq!(effective_margin(m, Some(50_000), Some(40_000)), m);
        assert_eq!(effective_margin(m, Some(0), None), m);
    }

    #[test]
    fn after_secs_caps_the_lifetime_and_never_wraps() {
        assert_eq!(after_secs(1_000, 3_600), 3_601_000);
        let cap = MAX_LIFETIME_SECS as i64 * 1000;
        for huge in [MAX_LIFETIME_SECS + 1, i64::MAX as u64, u64::MAX] {
            assert_eq!(after_secs(1_000, huge), 1_000 + cap);
        }
        assert_eq!(after_secs(i64::MAX - 5, 10), i64::MAX);
    }

    #[test]
    fn freshness_uses_the_margin() {
        let exp = Some(10_000);
        assert_eq!(freshness(exp, 0, 5_000), Freshness::Fresh);
        assert_eq!(freshness(exp, 4_999, 5_000), Freshness::Fresh);
        assert_eq!(freshness(exp, 5_000, 5_000), Freshness::Expiring);
        assert_eq!(freshness(exp, 9_999, 5_000), Freshness::Expiring);
        assert_eq!(freshness(exp, 10_000, 5_000), Freshness::Expired);
        assert_eq!(freshness(None, i64::MAX, 5_000), Freshness::Fresh);
    }

    #[test]
    fn scopes_normalise_and_diff() {
        assert_eq!(normalize_scope("b a  b", ' '), "a b");
        assert_eq!(normalize_scope("repo,user", ','), "repo user");
        let (added, removed) = scope_diff("a b", "b c");
        assert_eq!(added, vec!["c"]);
        assert_eq!(removed, vec!["a"]);
    }

    #[test]
    fn ungranted_scopes_are_the_requested_ones_nothing_granted_covers() {
        let req = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        const EVENTS: &str = "https://www.googleapis.com/auth/calendar.events";
        // Google grants `email` and `profile` under their long names.
        let google = req(&format!("openid email profile {EVENTS}"));
        let all = format!(
            "openid https://www.googleapis.com/auth/userinfo.email \
             https://www.googleapis.com/auth/userinfo.profile {EVENTS}"
        );
        assert!(ungranted(&google, &all, ' ').is_empty());
        // The user unticked the calendar on Google's granular consent page.
        let unticked = "openid https://www.googleapis.com/auth/userinfo.email \
                        https://www.googleapis.com/auth/userinfo.profile";
        assert_eq!(ungranted(&google, unticked, ' '), vec![EVENTS]);
        assert_eq!(
            ungranted(&req("identify email guilds"), "identify email", ' '),
            vec!["guilds"]
        );
        // GitHub: comma-separated, broader scopes cover narrower ones.
        let gh = req("read:user user:email read:org repo:status public_repo write:packages");
        assert!(ungranted(&gh, "user,admin:org,repo,write:packages", ',').is_empty());
        assert_eq!(
            ungranted(&gh, "read:user,user:email,read:org", ','),
            vec!["repo:status", "public_repo", "write:packages"]
        );
        assert_eq!(
            ungranted(&req("write:org"), "read:org", ','),
            vec!["write:org"],
            "a narrower scope covers nothing broader"
        );
        assert_eq!(ungranted(&req("user"), "user:email", ','), vec!["user"]);
        assert_eq!(
            ungranted(&req("repository"), "repo", ','),
            vec!["repository"]
        );
    }

    #[test]
    fn the_margin_of_a_lifetime_past_i64_does_not_overflow() {
        // A store row (or another tab's message) with times at i64's ends.
        assert_eq!(
            effective_margin(600_000, Some(i64::MIN + 1), Some(i64::MAX)),
            600_000
        );
    }
}
