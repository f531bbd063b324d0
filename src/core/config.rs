//! Manager configuration as it arrives from JSON (the wasm constructor), with
//! errors that name the offending field.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::error::{Error, Result};
use super::policy::Policy;
use super::provider::{Provider, ProviderConfig};
use super::seal::{KeyConfig, Keyring};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigJson {
    pub providers: BTreeMap<String, ProviderConfig>,
    pub encryption_keys: Vec<KeyConfig>,
    pub refresh_margin_seconds: Option<u64>,
    pub request_timeout_ms: Option<u64>,
    pub max_attempts: Option<u32>,
    pub backoff_base_ms: Option<u64>,
    pub backoff_cap_ms: Option<u64>,
    pub cooldown_base_ms: Option<i64>,
    pub cooldown_cap_ms: Option<i64>,
    pub exhausted_after: Option<u32>,
    pub lease_ms: Option<i64>,
}

pub struct ManagerConfig {
    pub providers: HashMap<String, Provider>,
    pub keyring: Keyring,
    pub policy: Policy,
}

impl ManagerConfig {
    pub fn from_json(json: &str) -> Result<Self> {
        if !json.trim_start().starts_with('{') {
            return Err(Error::config("config: must be an object"));
        }
        let de = &mut serde_json::Deserializer::from_str(json);
        let parsed: ConfigJson = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            // serde's message names types and fields, never values of secrets.
            let inner = e.inner().to_string();
            let inner = inner.split(" at line ").next().unwrap_or(&inner).to_string();
            if path == "." || path.is_empty() || path == "?" {
                Error::config(format!("config: {inner}"))
            } else {
                Error::config(format!("{path}: {inner}"))
            }
        })?;
        Self::from_parsed(parsed)
    }

    pub fn from_parsed(c: ConfigJson) -> Result<Self> {
        if c.providers.is_empty() {
            return Err(Error::config("providers: at least one provider is required"));
        }
        let mut providers = HashMap::new();
        for (id, pc) in &c.providers {
            providers.insert(id.clone(), Provider::from_config(id, pc)?);
        }
        let keyring = Keyring::new(&c.encryption_keys)?;
        let mut policy = Policy::default();
        if let Some(m) = c.refresh_margin_seconds {
            policy.margin_ms = Some((m as i64).saturating_mul(1000));
        }
        if let Some(t) = c.request_timeout_ms {
            if t == 0 {
                return Err(Error::config("requestTimeoutMs: must be greater than 0"));
            }
            policy.request_timeout_ms = t;
        }
        if let Some(a) = c.max_attempts {
            if a == 0 {
                return Err(Error::config("maxAttempts: must be at least 1"));
            }
            policy.max_attempts = a;
        }
        if let Some(v) = c.backoff_base_ms {
            policy.backoff_base_ms = v;
        }
        if let Some(v) = c.backoff_cap_ms {
            policy.backoff_cap_ms = v;
        }
        if let Some(v) = c.cooldown_base_ms {
            policy.cooldown_base_ms = v.max(0);
        }
        if let Some(v) = c.cooldown_cap_ms {
            policy.cooldown_cap_ms = v.max(0);
        }
        if let Some(v) = c.exhausted_after {
            policy.exhausted_after = v.max(1);
        }
        policy.derive_lease();
        if let Some(l) = c.lease_ms {
            let min = policy.request_timeout_ms as i64 + 1000;
            if l < min {
                return Err(Error::config(format!(
                    "leaseMs: must outlive one provider call (at least {min} ms with requestTimeoutMs {})",
                    policy.request_timeout_ms
                )));
            }
            policy.lease_ms = l;
            policy.wait_for_other_ms = l + 2_000;
        }
        Ok(Self { providers, keyring, policy })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::error::Code;

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
            err(&format!(r#"{{"providers":{{"google":{{"clientSecret":"s"}}}},{keys}}}"#)),
            "providers.google.clientId: required"
        );
        assert!(err(&format!(r#"{{"providers":{{"google":{{"clientId":5}}}},{keys}}}"#))
            .starts_with("providers.google.clientId: invalid type"));
        assert!(err(&format!(r#"{{"providers":{{"google":{{"clientId":"a","clientSecret":"s","colour":1}}}},{keys}}}"#))
            .starts_with("providers.google.colour: unknown field `colour`"));
        assert!(err(&format!(r#"{{"providers":{{"nope":{{"clientId":"a","clientSecret":"s"}}}},{keys}}}"#))
            .starts_with("providers.nope: unknown provider 'nope'"));
        assert!(err(r#"{"providers":{"google":{"clientId":"a","clientSecret":"s"}},"encryptionKeys":[{"id":"k1","key":"tooshort"}]}"#)
            .starts_with("encryptionKeys[0].key: must be 32 bytes"));
        assert!(err(r#"{"providers":{"google":{"clientId":"a","clientSecret":"s"}}}"#)
            .contains("missing field `encryptionKeys`"));
        assert_eq!(err(&format!(r#"{{"providers":{{}},{keys}}}"#)), "providers: at least one provider is required");
        assert!(err(&format!(r#"{{"providers":{{"google":{{"clientId":"a","clientSecret":"s"}}}},{keys},"leaseMs":10}}"#))
            .starts_with("leaseMs: must outlive"));
        let root = err("[]");
        assert_eq!(root, "config: must be an object");
    }
}
