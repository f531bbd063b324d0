//! Retry and cooldown policy: named constants with units, exponential backoff
//! with full jitter (jitter injected), Retry-After parsing, per-connection
//! cooldown and the exhausted state.

use super::time::parse_http_date_ms;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Refresh this long before expiry (overridden per provider).
    pub margin_ms: Option<i64>,
    /// Timeout of one provider call.
    pub request_timeout_ms: u64,
    /// Provider calls per refresh, first try included.
    pub max_attempts: u32,
    pub backoff_base_ms: u64,
    pub backoff_cap_ms: u64,
    /// First cooldown after a failed refresh; doubles per consecutive failure.
    pub cooldown_base_ms: i64,
    pub cooldown_cap_ms: i64,
    /// Longest Retry-After honoured; longer values are clamped.
    pub retry_after_cap_ms: i64,
    /// Consecutive failed refreshes after which the connection is `error` (exhausted).
    pub exhausted_after: u32,
    /// How long a refresh lease is held before others may take it over.
    pub lease_ms: i64,
    /// How long a caller waits for another instance's refresh.
    pub wait_for_other_ms: i64,
    /// Attempts to save a rotated refresh token before giving up.
    pub store_write_attempts: u32,
}

pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
pub const DEFAULT_BACKOFF_BASE_MS: u64 = 250;
pub const DEFAULT_BACKOFF_CAP_MS: u64 = 4_000;
pub const DEFAULT_COOLDOWN_BASE_MS: i64 = 30_000;
pub const DEFAULT_COOLDOWN_CAP_MS: i64 = 15 * 60_000;
pub const DEFAULT_RETRY_AFTER_CAP_MS: i64 = 60 * 60_000;
pub const DEFAULT_EXHAUSTED_AFTER: u32 = 5;
pub const DEFAULT_STORE_WRITE_ATTEMPTS: u32 = 3;

impl Default for Policy {
    fn default() -> Self {
        let mut p = Policy {
            margin_ms: None,
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            backoff_base_ms: DEFAULT_BACKOFF_BASE_MS,
            backoff_cap_ms: DEFAULT_BACKOFF_CAP_MS,
            cooldown_base_ms: DEFAULT_COOLDOWN_BASE_MS,
            cooldown_cap_ms: DEFAULT_COOLDOWN_CAP_MS,
            retry_after_cap_ms: DEFAULT_RETRY_AFTER_CAP_MS,
            exhausted_after: DEFAULT_EXHAUSTED_AFTER,
            lease_ms: 0,
            wait_for_other_ms: 0,
            store_write_attempts: DEFAULT_STORE_WRITE_ATTEMPTS,
        };
        p.derive_lease();
        p
    }
}

impl Policy {
    /// The lease must outlive every provider call and backoff of one refresh,
    /// so an owner that is alive never loses it mid-refresh.
    pub fn derive_lease(&mut self) {
        let calls = self.request_timeout_ms * self.max_attempts as u64;
        let sleeps = self.backoff_cap_ms * self.max_attempts.saturating_sub(1) as u64;
        self.lease_ms = (calls + sleeps + 5_000) as i64;
        self.wait_for_other_ms = self.lease_ms + 2_000;
    }

    /// Full-jitter backoff before retry number `attempt` (1-based):
    /// uniform in [0, min(cap, base * 2^(attempt-1))]. `unit` is in [0, 1).
    pub fn backoff_ms(&self, attempt: u32, unit: f64) -> u64 {
        let exp = self
            .backoff_base_ms
            .saturating_mul(1u64 << attempt.saturating_sub(1).min(20));
        let ceiling = exp.min(self.backoff_cap_ms);
        (ceiling as f64 * unit.clamp(0.0, 1.0)) as u64
    }

    /// Cooldown after `failures` consecutive failures, at least `retry_after_ms`.
    pub fn cooldown_ms(&self, failures: u32, retry_after_ms: Option<i64>) -> i64 {
        let exp = self
            .cooldown_base_ms
            .saturating_mul(1i64 << failures.saturating_sub(1).min(20));
        let c = exp.min(self.cooldown_cap_ms);
        match retry_after_ms {
            Some(r) => c.max(r.min(self.retry_after_cap_ms)),
            None => c,
        }
    }

    pub fn is_exhausted(&self, failures: u32) -> bool {
        failures >= self.exhausted_after
    }
}

/// Parses `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
/// Returns milliseconds from `now_ms`, never negative.
/// Seconds with a fraction (`1.5`, as Discord sends them) are taken too,
/// rounded up to the millisecond.
pub fn parse_retry_after_ms(value: &str, now_ms: i64) -> Option<i64> {
    let v = value.trim();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (whole, fraction) = v.split_once('.').unwrap_or((v, ""));
    if digits(whole) && (fraction.is_empty() || digits(fraction)) && !v.ends_with('.') {
        let ms = whole.parse::<i64>().ok()?.saturating_mul(1000);
        let f = fraction.as_bytes();
        let mut part = 0;
        for i in 0..3 {
            part = part * 10 + f.get(i).map_or(0, |d| i64::from(d - b'0'));
        }
        let rest = f.iter().skip(3).any(|&d| d != b'0');
        return Some(ms.saturating_add(part + i64::from(rest)));
    }
    parse_http_date_ms(v).map(|at| (at - now_ms).max(0))
}

/// Seconds for a JS `retryAfter`, rounded up.
pub fn ms_to_secs_ceil(ms: i64) -> u64 {
    (ms.max(0) as u64).div_ceil(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_full_jitter_and_capped() {
        let p = Policy::default();
        assert_eq!(p.backoff_ms(1, 0.0), 0);
        assert_eq!(p.backoff_ms(1, 0.5), 125);
        assert_eq!(p.backoff_ms(2, 0.5), 250);
        assert_eq!(p.backoff_ms(3, 0.999_999), 999);
        assert_eq!(p.backoff_ms(30, 1.0), 4_000);
        assert_eq!(p.backoff_ms(2, 7.0), 500, "unit is clamped");
    }

    #[test]
    fn cooldown_grows_and_honours_retry_after() {
        let p = Policy::default();
        assert_eq!(p.cooldown_ms(1, None), 30_000);
        assert_eq!(p.cooldown_ms(2, None), 60_000);
        assert_eq!(p.cooldown_ms(10, None), 15 * 60_000);
        assert_eq!(p.cooldown_ms(1, Some(120_000)), 120_000);
        assert_eq!(p.cooldown_ms(1, Some(10 * 3_600_000)), 3_600_000);
        assert!(!p.is_exhausted(4));
        assert!(p.is_exhausted(5));
    }

    #[test]
    fn lease_outlives_a_whole_refresh() {
        let p = Policy::default();
        assert!(
            p.lease_ms as u64 > p.request_timeout_ms * p.max_attempts as u64 + p.backoff_cap_ms * 2
        );
        assert!(p.wait_for_other_ms > p.lease_ms);
    }

    #[test]
    fn retry_after_in_both_forms() {
        let now = 784_111_777_000 - 30_000;
        assert_eq!(parse_retry_after_ms("120", now), Some(120_000));
        assert_eq!(parse_retry_after_ms(" 0 ", now), Some(0));
        assert_eq!(
            parse_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(30_000)
        );
        assert_eq!(
            parse_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", now + 60_000),
            Some(0)
        );
        assert_eq!(parse_retry_after_ms("1.5", now), Some(1_500));
        assert_eq!(parse_retry_after_ms("0.0001", now), Some(1));
        assert_eq!(parse_retry_after_ms("2.000", now), Some(2_000));
        for bad in ["1.", ".5", "1.5.2", "1,5", "1.-5"] {
            assert_eq!(parse_retry_after_ms(bad, now), None, "{bad}");
        }
        assert_eq!(parse_retry_after_ms("-5", now), None);
        assert_eq!(parse_retry_after_ms("soon", now), None);
        assert_eq!(ms_to_secs_ceil(1), 1);
        assert_eq!(ms_to_secs_ceil(2000), 2);
    }
}
