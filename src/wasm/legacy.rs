//! The operator's tools over sealed values, not part of the read path:
//! `LegacyImporter` imports legacy `iv:authTag:ciphertext` values (see
//! `core::seal`); `KeyRotation` moves values to the current key.

use wasm_bindgen::prelude::*;

use super::convert::{error_to_js, js_to_json};
use crate::core::config::keyring_from;
use crate::core::error::{Code, Error};
use crate::core::fields::Fields;
use crate::core::seal::{
    is_legacy, key_id_of, Field, Keyring, LegacyImporter as Importer, SealContext,
};

#[wasm_bindgen(typescript_custom_section)]
const TS_LEGACY: &'static str = r#"
export interface LegacyImporterConfig {
  /** The old system's key(s): 32 bytes as 64 hex digits or base64, or a 32-character string. */
  legacyKeys: string[];
  /** The keyring the manager uses; the first key seals. */
  encryptionKeys: { id: string; key: string }[];
}

export interface KeyRotationConfig {
  /** The keyring the manager uses (TOKEN_ENCRYPTION_KEYS): the first key seals, every key opens. */
  encryptionKeys: { id: string; key: string }[];
}
"#;

/// The column named and a fresh nonce: what each reseal needs.
fn field_and_nonce(field_name: &str) -> Result<(Field, [u8; 12]), Error> {
    let field = field(field_name)?;
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce)
        .map_err(|_| Error::config("crypto.getRandomValues is unavailable in this runtime"))?;
    Ok((field, nonce))
}

#[wasm_bindgen]
pub struct LegacyImporter {
    inner: Importer,
}

fn field(name: &str) -> Result<Field, Error> {
    match name {
        "access_token" => Ok(Field::AccessToken),
        "refresh_token" => Ok(Field::RefreshToken),
        _ => Err(Error::new(
            Code::BadRequest,
            "field: must be \"access_token\" or \"refresh_token\"",
        )),
    }
}

#[wasm_bindgen]
impl LegacyImporter {
    /// Throws `CONFIG` naming the bad field; never echoes key bytes.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "LegacyImporterConfig")] config: JsValue,
    ) -> Result<LegacyImporter, JsValue> {
        Self::build(&config).map_err(|e| error_to_js(&e))
    }

    fn build(config: &JsValue) -> Result<LegacyImporter, Error> {
        let json = js_to_json(config, "config", Code::Config)?;
        let f = Fields::new(&json, "config", Code::Config)?;
        f.only(&["legacyKeys", "encryptionKeys"])?;
        let keys = f.str_list("legacyKeys")?;
        let inner = Importer::new(&keys, keyring_from(&f)?)?;
        Ok(LegacyImporter { inner })
    }

    /// True when the value is in the legacy format.
    #[wasm_bindgen(js_name = isLegacy)]
    pub fn is_legacy(value: &str) -> bool {
        is_legacy(value)
    }

    /// Opens a legacy value with the legacy key and seals it bound to
    /// (user, provider, field). Throws `CRYPTO_MALFORMED` or `CRYPTO_INTEGRITY`.
    pub fn reseal(
        &self,
        value: &str,
        user_id: &str,
        provider: &str,
        #[wasm_bindgen(unchecked_param_type = "\"access_token\" | \"refresh_token\"")]
        field_name: &str,
    ) -> Result<String, JsValue> {
        let run = || -> Result<String, Error> {
            let (field, nonce) = field_and_nonce(field_name)?;
            let ctx = SealContext {
                user_id,
                provider,
                field,
            };
            self.inner.reseal(value, &ctx, nonce)
        };
        run().map_err(|e| error_to_js(&e))
    }
}

/// A key rotation's second half (`make rekey`): a value sealed with an older
/// key of the ring, opened and sealed again with the current one, bound to
/// the same row and column, so the older key can leave the ring.
#[wasm_bindgen]
pub struct KeyRotation {
    keyring: Keyring,
}

#[wasm_bindgen]
impl KeyRotation {
    /// Throws `CONFIG` naming the bad field; never echoes key bytes.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "KeyRotationConfig")] config: JsValue,
    ) -> Result<KeyRotation, JsValue> {
        let build = || -> Result<KeyRotation, Error> {
            let json = js_to_json(&config, "config", Code::Config)?;
            let f = Fields::new(&json, "config", Code::Config)?;
            f.only(&["encryptionKeys"])?;
            Ok(KeyRotation {
                keyring: keyring_from(&f)?,
            })
        };
        build().map_err(|e| error_to_js(&e))
    }

    /// The key that seals: the ring's first.
    #[wasm_bindgen(getter, js_name = currentKeyId)]
    pub fn current_key_id(&self) -> String {
        self.keyring.current_kid().to_string()
    }

    /// The key id of a `v1.<kid>.…` value; `undefined` for any other format.
    #[wasm_bindgen(js_name = keyIdOf)]
    pub fn key_id(value: &str) -> Option<String> {
        key_id_of(value).map(str::to_string)
    }

    /// The value sealed with the current key, bound to (user, provider,
    /// field) as before; `undefined` when it already is. Throws
    /// `CRYPTO_UNKNOWN_KEY` (its key is not in the ring), `CRYPTO_INTEGRITY`
    /// (not this row's or column's), `CRYPTO_MALFORMED`, `CRYPTO_UNBOUND`.
    pub fn rekey(
        &self,
        value: &str,
        user_id: &str,
        provider: &str,
        #[wasm_bindgen(unchecked_param_type = "\"access_token\" | \"refresh_token\"")]
        field_name: &str,
    ) -> Result<Option<String>, JsValue> {
        let run = || -> Result<Option<String>, Error> {
            let (field, nonce) = field_and_nonce(field_name)?;
            let ctx = SealContext {
                user_id,
                provider,
                field,
            };
            self.keyring.rekey(value, &ctx, nonce)
        };
        run().map_err(|e| error_to_js(&e))
    }
}
