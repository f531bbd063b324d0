//! What the orchestration needs from its platform: a clock, sleep,
//! randomness and an event sink. Tests inject deterministic ones.

use super::store::RefreshEvent;

#[allow(async_fn_in_trait)] // single-threaded wasm: futures need not be Send
pub trait Runtime {
    /// Unix epoch milliseconds.
    fn now_ms(&self) -> i64;
    async fn sleep_ms(&self, ms: u64);
    /// A uniform sample in [0, 1), for jitter.
    fn random_unit(&self) -> f64;
    /// Cryptographically secure random bytes, for nonces.
    fn fill_random(&self, buf: &mut [u8]);
    /// Monitoring hook; never receives token bytes.
    fn emit(&self, _event: &RefreshEvent) {}
}
