//! Sealing: the envelope, binding to the row, key rotation and the legacy format.
use super::*;

const K1: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // "0123456789abcdef0123456789abcdef"
const K2_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn ring(keys: &[(&str, &str)]) -> Keyring {
    Keyring::new(
        &keys
            .iter()
            .map(|(i, k)| KeyConfig {
                id: i.to_string(),
                key: k.to_string(),
            })
            .collect::<Vec<_>>(),
    )
    .unwrap()
}

fn ctx<'a>(user: &'a str, field: Field) -> SealContext<'a> {
    SealContext {
        user_id: user,
        provider: "google",
        field,
    }
}

#[test]
fn seal_open_round_trip() {
    let r = ring(&[("k1", K1)]);
    let s = r.seal("ya29.token", &ctx("u1", Field::AccessToken), [7; 12]);
    assert!(s.starts_with("v1.k1."));
    assert!(!s.contains("ya29"));
    assert_eq!(
        r.open(&s, &ctx("u1", Field::AccessToken)).unwrap(),
        "ya29.token"
    );
    assert!(!r.needs_reseal(&s));
}

#[test]
fn hex_round_trips() {
    let bytes: Vec<u8> = (0..=255).collect();
    let hex = b64::hex(&bytes);
    assert_eq!(&hex[..8], "00010203");
    assert_eq!(&hex[hex.len() - 4..], "feff");
    assert_eq!(decode_hex(&hex), Some(bytes));
}

#[test]
fn a_key_schedule_runs_only_when_its_key_is_used() {
    let r = ring(&[("k1", K1), ("k2", K2_HEX)]);
    let built = |r: &Keyring| {
        r.keys
            .iter()
            .map(|k| k.cipher.get().is_some())
            .collect::<Vec<_>>()
    };
    assert_eq!(built(&r), [false, false]);
    let s = r.seal("ya29.token", &ctx("u1", Field::AccessToken), [7; 12]);
    assert_eq!(built(&r), [true, false]);
    assert_eq!(
        r.open(&s, &ctx("u1", Field::AccessToken)).unwrap(),
        "ya29.token"
    );
    assert_eq!(built(&r), [true, false]);
}

#[test]
fn swapped_rows_fields_and_tampering_fail_with_integrity() {
    let r = ring(&[("k1", K1)]);
    let s = r.seal("secret", &ctx("u1", Field::AccessToken), [1; 12]);
    for bad_ctx in [
        ctx("u2", Field::AccessToken),
        ctx("u1", Field::RefreshToken),
    ] {
        assert_eq!(
            r.open(&s, &bad_ctx).unwrap_err().code,
            Code::CryptoIntegrity
        );
    }
    let other_provider = SealContext {
        provider: "spotify",
        ..ctx("u1", Field::AccessToken)
    };
    assert_eq!(
        r.open(&s, &other_provider).unwrap_err().code,
        Code::CryptoIntegrity
    );
    // Flip one ciphertext character.
    let mut t = s.clone().into_bytes();
    let last = t.len() - 3;
    t[last] = if t[last] == b'A' { b'B' } else { b'A' };
    let t = String::from_utf8(t).unwrap();
    assert_eq!(
        r.open(&t, &ctx("u1", Field::AccessToken)).unwrap_err().code,
        Code::CryptoIntegrity
    );
    // The same key id but different key bytes.
    let wrong = ring(&[("k1", K2_HEX)]);
    assert_eq!(
        wrong
            .open(&s, &ctx("u1", Field::AccessToken))
            .unwrap_err()
            .code,
        Code::CryptoIntegrity
    );
}

#[test]
fn unknown_key_and_malformed_have_their_codes() {
    let r = ring(&[("k1", K1)]);
    let s = ring(&[("k9", K2_HEX)]).seal("x", &ctx("u", Field::AccessToken), [0; 12]);
    assert_eq!(
        r.open(&s, &ctx("u", Field::AccessToken)).unwrap_err().code,
        Code::CryptoUnknownKey
    );
    for bad in [
        "",
        "plain",
        "v1.k1.AAAA",
        "v1.k1.!!!.AAAA",
        "v1.k1.AAAAAAAAAAAAAAAA.AA",
    ] {
        assert_eq!(
            r.open(bad, &ctx("u", Field::AccessToken)).unwrap_err().code,
            Code::CryptoMalformed,
            "{bad}"
        );
    }
}

#[test]
fn rotation_opens_old_seals_with_new() {
    let old = ring(&[("k1", K1)]);
    let s = old.seal("tok", &ctx("u", Field::RefreshToken), [3; 12]);
    let rotated = ring(&[("k2", K2_HEX), ("k1", K1)]);
    assert_eq!(rotated.current_kid(), "k2");
    assert!(rotated.needs_reseal(&s));
    assert_eq!(
        rotated.open(&s, &ctx("u", Field::RefreshToken)).unwrap(),
        "tok"
    );
    let resealed = rotated.seal("tok", &ctx("u", Field::RefreshToken), [4; 12]);
    assert!(resealed.starts_with("v1.k2."));
}

#[test]
fn rekey_moves_a_value_to_the_current_key_bound_as_before() {
    let old = ring(&[("k1", K1)]);
    let c = ctx("u", Field::RefreshToken);
    let s = old.seal("tok", &c, [3; 12]);
    assert_eq!(key_id_of(&s), Some("k1"));
    let rotated = ring(&[("k2", K2_HEX), ("k1", K1)]);
    let moved = rotated.rekey(&s, &c, [5; 12]).unwrap().unwrap();
    assert_eq!(key_id_of(&moved), Some("k2"));
    // The old key can go: the value opens with the new key alone, and
    // only for its own row and column.
    let only_new = ring(&[("k2", K2_HEX)]);
    assert_eq!(only_new.open(&moved, &c).unwrap(), "tok");
    assert_eq!(
        only_new
            .open(&moved, &ctx("u", Field::AccessToken))
            .unwrap_err()
            .code,
        Code::CryptoIntegrity
    );
    // Already under the current key: nothing to do.
    assert_eq!(rotated.rekey(&moved, &c, [6; 12]).unwrap(), None);
    // A key no longer in the ring, a value moved to another row, a legacy value: errors.
    assert_eq!(
        only_new.rekey(&s, &c, [7; 12]).unwrap_err().code,
        Code::CryptoUnknownKey
    );
    assert_eq!(
        rotated
            .rekey(&s, &ctx("someone-else", Field::RefreshToken), [7; 12])
            .unwrap_err()
            .code,
        Code::CryptoIntegrity
    );
    assert_eq!(
        rotated
            .rekey(&moved.replace("v1.k2.", "v1.k2.A"), &c, [7; 12])
            .unwrap_err()
            .code,
        Code::CryptoMalformed
    );
    assert_eq!(key_id_of("aa:bb:cc"), None);
    assert_eq!(key_id_of("v1."), None);
    assert_eq!(key_id_of("v1.k1"), None);
}

/// Fixtures made with Node: `crypto.createCipheriv('aes-256-gcm',
/// Buffer.from('0123456789abcdef0123456789abcdef'), iv)` on
/// "legacy-refresh-token", iv = bytes 0, 1, 2, ... (16 and 12 bytes).
const LEGACY_IV16: &str = "000102030405060708090a0b0c0d0e0f:abeec322272293cdcba63729d002fba8:8aa3f5c1ab04f367a5e89ee8cf663dd3a133effd";
const LEGACY_IV12: &str = "000102030405060708090a0b:0e757eb88476d35314e57130583adbe6:4180dc1dba61ffdecdba03db02a7fc70896366e9";

fn importer(legacy: &[&str], ring_keys: &[(&str, &str)]) -> LegacyImporter {
    LegacyImporter::new(
        &legacy.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
        ring(ring_keys),
    )
    .unwrap()
}

#[test]
fn legacy_values_are_refused_on_the_read_path() {
    // Before: a legacy value opened for any row (no associated data).
    let r = ring(&[("k2", K2_HEX), ("k1", K1)]);
    for sealed in [LEGACY_IV16, LEGACY_IV12] {
        for user in ["owner", "someone-else"] {
            let e = r.open(sealed, &ctx(user, Field::RefreshToken)).unwrap_err();
            assert_eq!(e.code, Code::CryptoUnbound, "{user}");
            assert!(e.message.contains("import-legacy"));
        }
        assert!(is_legacy(sealed));
        assert!(r.needs_reseal(sealed));
    }
    assert!(!is_legacy(&r.seal(
        "x",
        &ctx("u", Field::AccessToken),
        [0; 12]
    )));
}

#[test]
fn legacy_import_opens_with_the_legacy_key_and_reseals_bound() {
    // The legacy key as a 32-character UTF-8 string, as the Node app used it.
    let imp = importer(&["0123456789abcdef0123456789abcdef"], &[("k2", K2_HEX)]);
    for sealed in [LEGACY_IV16, LEGACY_IV12] {
        assert_eq!(imp.open(sealed).unwrap(), "legacy-refresh-token");
        let bound = imp
            .reseal(sealed, &ctx("owner", Field::RefreshToken), [9; 12])
            .unwrap();
        assert!(bound.starts_with("v1.k2."));
        let r = ring(&[("k2", K2_HEX)]);
        assert_eq!(
            r.open(&bound, &ctx("owner", Field::RefreshToken)).unwrap(),
            "legacy-refresh-token"
        );
        // Bound now: another row, or the other column, does not open it.
        for other in [
            ctx("someone-else", Field::RefreshToken),
            ctx("owner", Field::AccessToken),
        ] {
            assert_eq!(
                r.open(&bound, &other).unwrap_err().code,
                Code::CryptoIntegrity
            );
        }
        let mut tampered = sealed.to_string();
        tampered.replace_range(tampered.len() - 2.., "00");
        assert_eq!(imp.open(&tampered).unwrap_err().code, Code::CryptoIntegrity);
    }
    // The same key given as base64 works too; a wrong key does not.
    assert!(importer(&[K1], &[("k2", K2_HEX)]).open(LEGACY_IV16).is_ok());
    let wrong = importer(&[K2_HEX], &[("k2", K2_HEX)]);
    assert_eq!(
        wrong.open(LEGACY_IV16).unwrap_err().code,
        Code::CryptoIntegrity
    );
    for bad in ["0011:22:33", "zz:yy:xx", "a:b", "v1.k2.x.y"] {
        assert_eq!(
            imp.open(bad).unwrap_err().code,
            Code::CryptoMalformed,
            "{bad}"
        );
    }
    let e = LegacyImporter::new(&["short".into()], ring(&[("k2", K2_HEX)])).unwrap_err();
    assert_eq!(e.code, Code::Config);
    assert!(!e.message.contains("short"));
    assert!(!format!("{imp:?}").contains(K2_HEX));
}

#[test]
fn bad_keys_name_the_field_without_echoing() {
    let e = Keyring::new(&[]).unwrap_err();
    assert_eq!(e.message, "encryptionKeys: at least one key is required");
    let e = Keyring::new(&[KeyConfig {
        id: "k1".into(),
        key: "c2hvcnQ=".into(),
    }])
    .unwrap_err();
    assert_eq!(e.code, Code::Config);
    assert!(e
        .message
        .starts_with("encryptionKeys[0].key: must be 32 bytes"));
    assert!(!e.message.contains("c2hvcnQ"));
    let e = Keyring::new(&[KeyConfig {
        id: "k 1".into(),
        key: K1.into(),
    }])
    .unwrap_err();
    assert!(e.message.starts_with("encryptionKeys[0].id"));
    let e = Keyring::new(&[
        KeyConfig {
            id: "k1".into(),
            key: K1.into(),
        },
        KeyConfig {
            id: "k1".into(),
            key: K2_HEX.into(),
        },
    ])
    .unwrap_err();
    assert!(e.message.starts_with("encryptionKeys[1].id: duplicate"));
    assert!(!format!(
        "{:?}",
        KeyConfig {
            id: "k".into(),
            key: K1.into()
        }
    )
    .contains(K1));
}
