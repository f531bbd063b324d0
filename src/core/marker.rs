//! The `token_refreshed_at` marker: the server stamps every response that
//! used a token with `X-Token-Refreshed-At`; a client drops its cached token
//! when it sees a marker newer than the one its token came with.

use super::time::{format_rfc3339_ms, parse_rfc3339_ms};

pub const HEADER: &str = "X-Token-Refreshed-At";

pub fn format(ms: i64) -> String {
    format_rfc3339_ms(ms)
}

pub fn parse(marker: &str) -> Option<i64> {
    parse_rfc3339_ms(marker)
}

/// True when `seen` is strictly newer than `known`. An unparseable `seen`
/// is never newer (a garbled header must not flush caches); anything
/// parseable is newer than nothing.
pub fn is_newer(seen: &str, known: Option<i64>) -> bool {
    match (parse(seen), known) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(s), Some(k)) => s > k,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_rules() {
        let t = 1_795_200_239_123;
        let s = format(t);
        assert!(is_newer(&s, None));
        assert!(is_newer(&s, Some(t - 1)));
        assert!(!is_newer(&s, Some(t)), "equal is not newer");
        assert!(!is_newer(&s, Some(t + 1)));
        assert!(!is_newer("garbage", None));
        // Same instant in another offset is equal, not newer.
        assert!(!is_newer("2026-11-20T19:43:59.123+01:00", Some(t)));
    }
}
