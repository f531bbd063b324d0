//! Manager configuration as it arrives from JSON (the wasm constructor), with
//! errors that name the offending field.

use super::json::{self, Value};
use super::text;
use super::vecmap::VecMap;

use super::error::{Code, Error, Result};
use super::fields::Fields;
use super::policy::Policy;
use super::provider::{Provider, ProviderConfig};
use super::seal::{KeyConfig, Keyring};

pub struct ManagerConfig {
    /// By id, in id order.
    pub providers: VecMap<String, Provider>,
    pub keyring: Keyring,
    pub policy: Policy,
}

const FIELDS: [&str; 11] = [
    "providers",
    "encryptionKeys",
    "refreshMarginSeconds",
    "requestTimeoutMs",
    "maxAttempts",
    "backoffBaseMs",
    "backoffCapMs",
    "cooldownBaseMs",
    "cooldownCapMs",
    "exhaustedAfter",
    "leaseMs",
];

/// The longest duration a setting in milliseconds may name: the longest
/// delay `setTimeout` takes (2^31 - 1 ms, about 24.8 days; a longer one fires
/// at once), which the provider calls' timeout and the backoff are waited
/// with. Far below what would overflow a time plus a lease, or a timeout
/// times the attempts.
pub const MAX_MS: u64 = i32::MAX as u64;
/// The longest a setting in seconds may name: ten years.
pub const MAX_SECS: u64 = 3_650 * 86_400;

fn positive(f: &Fields<'_>, key: &str, max: u64) -> Result<Option<u64>> {
    match f.opt_at_most(key, max)? {
        Some(0) => Err(f.err(key, "must be greater than 0")),
        v => Ok(v),
    }
}

impl ManagerConfig {
    pub fn from_json(json: &str) -> Result<Self> {
        let value: Value =
            json::parse(json).map_err(|_| Error::config("config: not valid JSON"))?;
        Self::from_value(&value)
    }

    /// Reads the configuration; errors name the field (`providers.google.clientId: required`).
    pub fn from_value(value: &Value) -> Result<Self> {
        let root = Fields::new(value, "config", Code::Config)?;
        root.only(&FIELDS)?;
        let providers_json = match root.raw("providers") {
            Some(Value::Object(m)) if !m.is_empty() => m,
            Some(Value::Object(_)) | None => {
                return Err(Error::config(
                    "providers: at least one provider is required",
                ))
            }
            Some(_) => {
                return Err(Error::config(
                    "providers: must be an object keyed by provider id",
                ))
            }
        };
        let mut providers = VecMap::default();
        for (id, pv) in providers_json {
            let pc = ProviderConfig::from_json(pv, &text::cat(&["providers.", id]))?;
            providers.insert(id.clone(), Provider::from_config(id, &pc)?);
        }
        let keyring = keyring_from(&root)?;

        let mut policy = Policy::default();
        if let Some(m) = root.opt_at_most("refreshMarginSeconds", MAX_SECS)? {
            policy.margin_ms = Some((m as i64).saturating_mul(1000));
        }
        if let Some(t) = positive(&root, "requestTimeoutMs", MAX_MS)? {
            policy.request_timeout_ms = t;
        }
        if let Some(a) = positive(&root, "maxAttempts", u64::MAX)? {
            policy.max_attempts = a.min(10) as u32;
        }
        if let Some(v) = root.opt_at_most("backoffBaseMs", MAX_MS)? {
            policy.backoff_base_ms = v;
        }
        if let Some(v) = root.opt_at_most("backoffCapMs", MAX_MS)? {
            policy.backoff_cap_ms = v;
        }
        if let Some(v) = root.opt_at_most("cooldownBaseMs", MAX_MS)? {
            policy.cooldown_base_ms = v as i64;
        }
        if let Some(v) = root.opt_at_most("cooldownCapMs", MAX_MS)? {
            policy.cooldown_cap_ms = v as i64;
        }
        if let Some(v) = positive(&root, "exhaustedAfter", u64::MAX)? {
            policy.exhausted_after = v.min(1000) as u32;
        }
        policy.derive_lease();
        if let Some(l) = root.opt_at_most("leaseMs", MAX_MS)? {
            let min = policy.request_timeout_ms + 1000;
            if l < min {
                return Err(lease_too_short(min, policy.request_timeout_ms));
            }
            policy.lease_ms = l as i64;
            policy.wait_for_other_ms = l as i64 + 2_000;
        }
        Ok(Self {
            providers,
            keyring,
            policy,
        })
    }
}

#[cold]
#[inline(never)]
fn lease_too_short(min: u64, timeout: u64) -> Error {
    Error::config(format!(
        "leaseMs: must outlive one provider call (at least {min} ms with requestTimeoutMs {timeout})"
    ))
}

/// `n` in decimal, without the formatting machinery (which a cold isolate
/// would otherwise compile for a construction that succeeds).
fn decimal(n: usize) -> String {
    const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    match DIGITS.get(n) {
        Some(d) => (*d).to_string(),
        None => decimal_long(n),
    }
}

#[cold]
#[inline(never)]
fn decimal_long(n: usize) -> String {
    let mut out = String::new();
    text::push_decimal(&mut out, n as u64, 0);
    out
}

/// The `encryptionKeys` field: `[{ id, key }]`, the first seals.
pub fn keyring_from(root: &Fields<'_>) -> Result<Keyring> {
    let keys_json = match root.raw("encryptionKeys") {
        Some(Value::Array(a)) => a,
        None => return Err(Error::config("encryptionKeys: required")),
        Some(_) => {
            return Err(Error::config(
                "encryptionKeys: must be an array of { id, key }",
            ))
        }
    };
    let mut keys = Vec::with_capacity(keys_json.len());
    for (i, kv) in keys_json.iter().enumerate() {
        let f = Fields::new(
            kv,
            &text::cat(&["encryptionKeys[", &decimal(i), "]"]),
            Code::Config,
        )?;
        f.only(&["id", "key"])?;
        keys.push(KeyConfig {
            id: f.str("id")?,
            key: f.str("key")?,
        });
    }
    Keyring::new(&keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::error::Code;

    #[test]
    fn decimal_writes_what_to_string_writes() {
        for n in [0, 7, 10, 99, 100, 12_345, usize::MAX] {
            assert_eq!(decimal(n), n.to_string());
        }
    }

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    fn err(json: &str) -> String {
        match ManagerConfig::from_json(json) {
            Ok(_) => panic!("expected an error for {json}"),
            Err(e) => {
                assert_eq!(e.code, Code::Config);
                e.message
            }
        }
    }

    #[test]
    fn valid_config() {
        let c = ManagerConfig::from_json(&format!(
            r#"{{"providers":{{"google":{{"clientId":"id","clientSecret":"s"}}}},"encryptionKeys":[{{"id":"k1","key":"{KEY}"}}],"refreshMarginSeconds":60,"requestTimeoutMs":2000}}"#
        ))
        .unwrap();
        assert_eq!(c.policy.margin_ms, Some(60_000));
        assert_eq!(c.policy.request_timeout_ms, 2000);
        assert!(c.policy.lease_ms > 6000);
        assert!(c.providers.contains_key("google"));
    }

    #[test]
    fn errors_name_the_field() {
        let keys = format!(r#""encryptionKeys":[{{"id":"k1","key":"{KEY}"}}]"#);
        assert_eq!(
            err(&format!(
                r#"{{"providers":{{"google":{{"clientSecret":"s"}}}},{keys}}}"#
            )),
            "providers.google.clientId: required"
        );
        assert!(err(&format!(
            r#"{{"providers":{{"google":{{"clientId":5}}}},{keys}}}"#
        ))
        .starts_with("providers.google.clientId: must be a string"));
        assert!(err(&format!(r#"{{"providers":{{"google":{{"clientId":"a","clientSecret":"s","colour":1}}}},{keys}}}"#))
            .starts_with("providers.google.colour: unknown field"));
        assert!(err(&format!(
            r#"{{"providers":{{"nope":{{"clientId":"a","clientSecret":"s"}}}},{keys}}}"#
        ))
        .starts_with("providers.nope: unknown provider 'nope'"));
        assert!(err(r#"{"providers":{"google":{"clientId":"a","clientSecret":"s"}},"encryptionKeys":[{"id":"k1","key":"tooshort"}]}"#)
            .starts_with("encryptionKeys[0].key: must be 32 bytes"));
        assert!(
            err(r#"{"providers":{"google":{"clientId":"a","clientSecret":"s"}}}"#)
                .contains("encryptionKeys: required")
        );
        assert_eq!(
            err(&format!(r#"{{"providers":{{}},{keys}}}"#)),
            "providers: at least one provider is required"
        );
        assert!(err(&format!(r#"{{"providers":{{"google":{{"clientId":"a","clientSecret":"s"}}}},{keys},"leaseMs":10}}"#))
            .starts_with("leaseMs: must outlive"));
        let root = err("[]");
        assert_eq!(root, "config: must be an object");
    }

    #[test]
    fn durations_past_their_limit_are_refused() {
        // Before, 10^17 ms wrapped the lease's end (a time plus leaseMs) and
        // the derived lease (a timeout times the attempts) in release builds.
        let keys = format!(r#""encryptionKeys":[{{"id":"k1","key":"{KEY}"}}]"#);
        let google = r#""providers":{"google":{"clientId":"a","clientSecret":"s"}}"#;
        for key in [
            "requestTimeoutMs",
            "backoffBaseMs",
            "backoffCapMs",
            "cooldownBaseMs",
            "cooldownCapMs",
            "leaseMs",
        ] {
            assert_eq!(
                err(&format!(
                    r#"{{{google},{keys},"{key}":100000000000000000}}"#
                )),
                format!("config.{key}: must be at most 2147483647")
            );
            // The limit itself is accepted.
            let ok = format!(r#"{{{google},{keys},"{key}":{MAX_MS}}}"#);
            assert!(ManagerConfig::from_json(&ok).is_ok(), "{key}");
        }
        assert_eq!(
            err(&format!(
                r#"{{{google},{keys},"refreshMarginSeconds":9223372036854775807}}"#
            )),
            "config.refreshMarginSeconds: must be at most 315360000"
        );
        assert_eq!(
            err(&format!(
                r#"{{"providers":{{"google":{{"clientId":"a","clientSecret":"s","keepAliveSeconds":315360001}}}},{keys}}}"#
            )),
            "providers.google.keepAliveSeconds: must be at most 315360000"
        );
        // The largest of everything together still derives a lease.
        let c = ManagerConfig::from_json(&format!(
            r#"{{{google},{keys},"requestTimeoutMs":{MAX_MS},"backoffCapMs":{MAX_MS},"maxAttempts":10}}"#
        ))
        .unwrap();
        assert!(c.policy.lease_ms > 0 && c.policy.wait_for_other_ms > c.policy.lease_ms);
    }
}
