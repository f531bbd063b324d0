//! Tokens sealed at rest with AES-256-GCM.
//!
//! Envelope: `v1.<kid>.<nonce>.<ciphertext+tag>` (base64url, no padding).
//! The associated data binds a ciphertext to its (user, provider, field), so a
//! value copied into another row or column fails to open. A keyring seals with
//! its first key and opens with any key by id, for rotation.
//!
//! The legacy `iv:authTag:ciphertext` hex format (Node `crypto`, no associated
//! data) is bound to nothing: a value copied from another user's row would open
//! as if it were this row's. `Keyring::open` therefore refuses it
//! (`CRYPTO_UNBOUND`); only `LegacyImporter`, run by an operator, opens it with
//! the old system's key and reseals it bound to the row it was read from.

use std::cell::OnceCell;

use aes_gcm::aead::generic_array::typenum::U16;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, AesGcm, Nonce};

use super::error::{Code, Error, Result};

type Aes256Gcm16 = AesGcm<aes_gcm::aes::Aes256, U16>;

use super::b64;

/// Which column a sealed value belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    AccessToken,
    RefreshToken,
    /// A connect attempt's PKCE verifier (bound to the attempt's state hash).
    PkceVerifier,
    /// A connect attempt's authorization code (bound to the attempt's state hash).
    AuthorizationCode,
}

impl Field {
    fn as_str(self) -> &'static str {
        match self {
            Field::AccessToken => "access_token",
            Field::RefreshToken => "refresh_token",
            Field::PkceVerifier => "pkce_verifier",
            Field::AuthorizationCode => "authorization_code",
        }
    }
}

/// What a sealed value is bound to.
#[derive(Clone, Copy, Debug)]
pub struct SealContext<'a> {
    pub user_id: &'a str,
    pub provider: &'a str,
    pub field: Field,
}

impl SealContext<'_> {
    fn aad(&self) -> Vec<u8> {
        let mut out = b"otm-seal-v1".to_vec();
        for part in [self.user_id, self.provider, self.field.as_str()] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

struct Key {
    id: String,
    material: [u8; 32],
    /// Built at the key's first use: an instance that only reads statuses or
    /// starts a connect never runs (or, on a cold wasm isolate, compiles) the
    /// AES key schedule.
    cipher: OnceCell<Aes256Gcm>,
}

impl Key {
    fn cipher(&self) -> &Aes256Gcm {
        self.cipher
            .get_or_init(|| Aes256Gcm::new(&self.material.into()))
    }
}

/// Key material as configured: `{ id, key }`, key as 32 bytes in base64,
/// base64url or 64 hex digits.
#[derive(Clone)]
pub struct KeyConfig {
    pub id: String,
    pub key: String,
}

impl std::fmt::Debug for KeyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyConfig {{ id: {:?}, key: [redacted] }}", self.id)
    }
}

/// Sealing keys; the first seals, all open.
pub struct Keyring {
    keys: Vec<Key>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        write!(f, "Keyring {{ ids: {ids:?} }}")
    }
}

pub fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn decode_key(s: &str) -> Option<[u8; 32]> {
    let s = s.trim_ascii();
    let bytes = if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        decode_hex(s)?
    } else {
        // Base64 or base64url, padded or not.
        b64::decode(s, false, true)
            .or_else(|| b64::decode(s, false, false))
            .or_else(|| b64::decode(s, true, true))
            .or_else(|| b64::decode(s, true, false))?
    };
    bytes.try_into().ok()
}

fn valid_kid(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 32
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

enum KeyFault {
    Id,
    Duplicate,
    Material,
}

/// The error for `encryptionKeys[i]`; it never echoes key bytes. Out of line
/// and cold: a construction that succeeds compiles no message.
#[cold]
#[inline(never)]
fn key_refused(i: usize, k: &KeyConfig, fault: KeyFault) -> Error {
    Error::config(match fault {
        KeyFault::Id => format!(
            "encryptionKeys[{i}].id: must be 1-32 characters of A-Z, a-z, 0-9, '-' or '_'"
        ),
        KeyFault::Duplicate => format!("encryptionKeys[{i}].id: duplicate key id '{}'", k.id),
        KeyFault::Material => format!(
            "encryptionKeys[{i}].key: must be 32 bytes as base64 or 64 hex digits (got {} characters)",
            k.key.trim_ascii().len()
        ),
    })
}

/// The key id of a `v1.<kid>.<nonce>.<ciphertext>` value, `None` for any
/// other format.
pub fn key_id_of(sealed: &str) -> Option<&str> {
    let rest = sealed.strip_prefix("v1.")?;
    let kid = rest.split('.').next()?;
    (!kid.is_empty() && rest.len() > kid.len()).then_some(kid)
}

impl Keyring {
    /// Builds a keyring. Errors name the field (`encryptionKeys[i].key`) and never echo key bytes.
    pub fn new(keys: &[KeyConfig]) -> Result<Self> {
        if keys.is_empty() {
            return Err(Error::config(
                "encryptionKeys: at least one key is required",
            ));
        }
        let mut out: Vec<Key> = Vec::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            if !valid_kid(&k.id) {
                return Err(key_refused(i, k, KeyFault::Id));
            }
            if out.iter().any(|o| o.id == k.id) {
                return Err(key_refused(i, k, KeyFault::Duplicate));
            }
            let bytes = decode_key(&k.key).ok_or_else(|| key_refused(i, k, KeyFault::Material))?;
            out.push(Key {
                id: k.id.clone(),
                material: bytes,
                cipher: OnceCell::new(),
            });
        }
        Ok(Self { keys: out })
    }

    pub fn current_kid(&self) -> &str {
        &self.keys[0].id
    }

    /// Seals with the current key. `nonce` must be fresh random bytes (the caller injects randomness).
    pub fn seal(&self, plaintext: &str, ctx: &SealContext<'_>, nonce: [u8; 12]) -> String {
        let key = &self.keys[0];
        let aad = ctx.aad();
        let ct = key
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        format!(
            "v1.{}.{}.{}",
            key.id,
            b64::encode(&nonce, true, false),
            b64::encode(&ct, true, false)
        )
    }

    /// Opens a sealed value bound to `ctx`. Unbound formats are refused.
    pub fn open(&self, sealed: &str, ctx: &SealContext<'_>) -> Result<String> {
        if let Some(rest) = sealed.strip_prefix("v1.") {
            return self.open_v1(rest, ctx);
        }
        if is_legacy(sealed) {
            return Err(Error::new(
                Code::CryptoUnbound,
                "the stored token is in the legacy unbound format, which is not opened on the read path; an operator imports it with `make import-legacy`",
            ));
        }
        Err(malformed("not a sealed value"))
    }

    /// True when the value should be resealed with the current key.
    pub fn needs_reseal(&self, sealed: &str) -> bool {
        key_id_of(sealed) != Some(self.current_kid())
    }

    /// A key rotation's step for one value: opened with whichever key of the
    /// ring sealed it and sealed again, bound to the same `ctx`, with the
    /// current key. `None` when it is sealed with the current key already.
    /// The errors are `open`'s (a key no longer in the ring is
    /// `CRYPTO_UNKNOWN_KEY`, a legacy value `CRYPTO_UNBOUND`).
    pub fn rekey(
        &self,
        sealed: &str,
        ctx: &SealContext<'_>,
        nonce: [u8; 12],
    ) -> Result<Option<String>> {
        if !self.needs_reseal(sealed) && sealed.starts_with("v1.") {
            // Opened all the same: a value that does not open is reported, not skipped.
            self.open(sealed, ctx)?;
            return Ok(None);
        }
        let plain = self.open(sealed, ctx)?;
        Ok(Some(self.seal(&plain, ctx, nonce)))
    }

    fn open_v1(&self, rest: &str, ctx: &SealContext<'_>) -> Result<String> {
        let parts: Vec<&str> = rest.split('.').collect();
        let [kid, nonce_b64, ct_b64] = parts.as_slice() else {
            return Err(malformed("expected v1.<kid>.<nonce>.<ciphertext>"));
        };
        let key = self.keys.iter().find(|k| k.id == *kid).ok_or_else(|| {
            let shown: String = kid
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .take(32)
                .collect();
            Error::new(
                Code::CryptoUnknownKey,
                format!("sealed with key id '{shown}', which is not in the keyring"),
            )
        })?;
        let nonce = b64::decode(nonce_b64, true, false)
            .ok_or_else(|| malformed("nonce is not base64url"))?;
        if nonce.len() != 12 {
            return Err(malformed("nonce must be 12 bytes"));
        }
        let ct = b64::decode(ct_b64, true, false)
            .ok_or_else(|| malformed("ciphertext is not base64url"))?;
        if ct.len() < 16 {
            return Err(malformed("ciphertext is shorter than the tag"));
        }
        let aad = ctx.aad();
        let pt = key
            .cipher()
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ct,
                    aad: &aad,
                },
            )
            .map_err(|_| integrity())?;
        String::from_utf8(pt).map_err(|_| integrity())
    }
}

/// Shaped like the legacy format: three `:`-separated parts.
pub fn is_legacy(sealed: &str) -> bool {
    !sealed.starts_with("v1.") && sealed.split(':').count() == 3
}

/// The operator's import of legacy `iv:authTag:ciphertext` values: opens them
/// with the old system's key(s) and reseals them bound to the row they were
/// read from. Never used on the read path.
pub struct LegacyImporter {
    legacy: Vec<(Aes256Gcm, Aes256Gcm16)>,
    keyring: Keyring,
}

impl std::fmt::Debug for LegacyImporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "LegacyImporter {{ legacy_keys: {}, keyring: {:?} }}",
            self.legacy.len(),
            self.keyring
        )
    }
}

/// A legacy key: 32 bytes as 64 hex digits or base64, or a 32-character
/// string used as its UTF-8 bytes (as Node apps often did).
fn decode_legacy_key(s: &str) -> Option<[u8; 32]> {
    decode_key(s).or_else(|| s.as_bytes().try_into().ok())
}

impl LegacyImporter {
    pub fn new(legacy_keys: &[String], keyring: Keyring) -> Result<Self> {
        if legacy_keys.is_empty() {
            return Err(Error::config("legacyKeys: at least one key is required"));
        }
        let legacy = legacy_keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let bytes = decode_legacy_key(k).ok_or_else(|| {
                    Error::config(format!(
                        "legacyKeys[{i}]: must be 32 bytes as 64 hex digits, base64, or a 32-character string (got {} characters)",
                        k.len()
                    ))
                })?;
                Ok((Aes256Gcm::new(&bytes.into()), Aes256Gcm16::new(&bytes.into())))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { legacy, keyring })
    }

    /// Opens a legacy value with the legacy keys.
    pub fn open(&self, sealed: &str) -> Result<String> {
        let parts: Vec<&str> = sealed.split(':').collect();
        let [iv, tag, ct] = parts.as_slice() else {
            return Err(malformed("expected iv:authTag:ciphertext"));
        };
        let iv = decode_hex(iv).ok_or_else(|| malformed("legacy iv is not hex"))?;
        let tag = decode_hex(tag).ok_or_else(|| malformed("legacy auth tag is not hex"))?;
        let ct = decode_hex(ct).ok_or_else(|| malformed("legacy ciphertext is not hex"))?;
        if tag.len() != 16 {
            return Err(malformed("legacy auth tag must be 16 bytes"));
        }
        if iv.len() != 12 && iv.len() != 16 {
            return Err(malformed("legacy iv must be 12 or 16 bytes"));
        }
        let mut msg = ct;
        msg.extend_from_slice(&tag);
        for (c12, c16) in &self.legacy {
            let pt = if iv.len() == 12 {
                c12.decrypt(Nonce::from_slice(&iv), msg.as_slice())
            } else {
                c16.decrypt(aes_gcm::Nonce::<U16>::from_slice(&iv), msg.as_slice())
            };
            if let Ok(pt) = pt {
                return String::from_utf8(pt)
                    .map_err(|_| malformed("legacy plaintext is not UTF-8"));
            }
        }
        Err(integrity())
    }

    /// Opens a legacy value and seals it bound to `ctx` with the current key.
    pub fn reseal(&self, sealed: &str, ctx: &SealContext<'_>, nonce: [u8; 12]) -> Result<String> {
        let plain = self.open(sealed)?;
        Ok(self.keyring.seal(&plain, ctx, nonce))
    }
}

fn malformed(what: &str) -> Error {
    Error::new(
        Code::CryptoMalformed,
        format!("sealed token is malformed: {what}"),
    )
}

fn integrity() -> Error {
    Error::new(
        Code::CryptoIntegrity,
        "sealed token failed authentication: tampered, moved from another row or field, or sealed with a different key",
    )
}

#[cfg(test)]
mod tests;
