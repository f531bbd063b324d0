//! Property tests of the parsers that read untrusted input: JSON (against
//! serde_json), base64 (against the base64 crate), token responses, sealed values, the marker and `Retry-After`. Arbitrary bytes never panic,
//! and what we write, we read back. `PROPTEST_CASES` sets the case count
//! (256 by default in `make test`).

use proptest::prelude::*;
use serde_json::{json, Value};

use super::b64;
use super::error::Code;
use super::grant::process_token_response;
use super::http::HttpResponse;
use super::json;
use super::marker;
use super::policy::parse_retry_after_ms;
use super::seal::{is_legacy, Field, KeyConfig, Keyring, LegacyImporter, SealContext};
use super::time::parse_http_date_ms;

const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
/// Year 0000 to 9999: what RFC 3339 can write.
const MAX_MS: i64 = 253_402_300_799_999;
const MIN_MS: i64 = -62_167_219_200_000;

fn ring() -> Keyring {
    Keyring::new(&[KeyConfig {
        id: "k1".into(),
        key: KEY.into(),
    }])
    .unwrap()
}

/// JSON values shaped like token responses: the fields providers send, with
/// any JSON type in them, plus strays.
fn token_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
    ];
    let value = leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    let key = prop_oneof![
        Just("access_token".to_string()),
        Just("token_type".to_string()),
        Just("expires_in".to_string()),
        Just("refresh_token".to_string()),
        Just("refresh_token_expires_in".to_string()),
        Just("scope".to_string()),
        Just("error".to_string()),
        Just("error_description".to_string()),
        "[a-z_]{1,12}",
    ];
    prop::collection::btree_map(key, value, 0..8)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

/// Any JSON value, strings of any characters (controls and astral ones too).
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,12}|[\u{0}-\u{1f}\"\\\\/]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-c]{0,2}|\\PC{0,6}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Our tree and serde_json's say the same thing.
fn same(ours: &json::Value, theirs: &Value) -> bool {
    match (ours, theirs) {
        (json::Value::Null, Value::Null) => true,
        (json::Value::Bool(a), Value::Bool(b)) => a == b,
        (json::Value::String(a), Value::String(b)) => a == b,
        (json::Value::Number(a), Value::Number(b)) => {
            // serde_json parses floats to within an ulp by default (exact
            // only with its `float_roundtrip` feature); Rust's parse is exact.
            let (x, y) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            let close = x == y || (x - y).abs() <= 2.0 * f64::EPSILON * x.abs();
            // Ours reads `5.0` as the whole number 5, serde_json as a float.
            let whole = match (b.as_i64(), b.as_u64()) {
                (Some(i), _) => a.as_i64() == Some(i),
                (None, Some(u)) => a.as_u64() == Some(u),
                _ => a.as_i64().is_none_or(|i| i as f64 == y),
            };
            close && whole
        }
        (json::Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        // serde_json keeps one member per key, sorted; ours keeps them all.
        (json::Value::Object(a), Value::Object(b)) => {
            a.keys().all(|k| b.contains_key(k))
                && b.iter()
                    .all(|(k, vb)| a.get(k).is_some_and(|va| same(va, vb)))
        }
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn token_responses_of_any_bytes_never_panic(
        status in 100u16..600,
        body in prop::collection::vec(any::<u8>(), 0..300),
        retry_after in proptest::option::of(".{0,40}"),
    ) {
        let mut resp = HttpResponse::new(status, String::from_utf8_lossy(&body).into_owned());
        if let Some(r) = &retry_after {
            resp = resp.with_header("retry-after", r);
        }
        let _ = process_token_response(&resp, "rt-sent", 0);
    }

    #[test]
    fn token_responses_of_any_json_are_accepted_only_when_valid(
        status in prop_oneof![Just(200u16), Just(400u16), Just(401u16), 100u16..600],
        body in token_json(),
    ) {
        let resp = HttpResponse::json(status, &body);
        match process_token_response(&resp, "rt-sent", 0) {
            Ok(t) => {
                prop_assert!((200..300).contains(&status));
                prop_assert!(body.get("error").is_none_or(Value::is_null));
                prop_assert_eq!(Some(t.access_token.expose()), body["access_token"].as_str());
                prop_assert!(!t.access_token.expose().is_empty());
                prop_assert!(body["token_type"].is_string());
            }
            Err(e) => {
                // Whatever went wrong, the refresh token sent is not in the message.
                prop_assert!(!e.message.contains("rt-sent"));
            }
        }
    }

    #[test]
    fn sealed_values_of_any_text_never_panic(s in ".{0,120}", tail in "[A-Za-z0-9_.:-]{0,80}") {
        let r = ring();
        let ctx = SealContext { user_id: "u", provider: "google", field: Field::AccessToken };
        for candidate in [s.clone(), format!("v1.{tail}"), format!("v1.k1.{tail}"), tail.clone()] {
            let e = r.open(&candidate, &ctx).unwrap_err();
            prop_assert!(e.code.is_crypto(), "{:?}", e.code);
            if is_legacy(&candidate) {
                prop_assert_eq!(e.code, Code::CryptoUnbound);
            }
        }
        let imp = LegacyImporter::new(&[KEY.to_string()], ring()).unwrap();
        for candidate in [s, tail] {
            let _ = imp.open(&candidate);
        }
    }

    #[test]
    fn seal_then_open_round_trips_and_binds(
        plain in ".{0,200}",
        user in "[a-zA-Z0-9-]{1,40}",
        provider in "[a-z-]{1,20}",
        nonce in any::<[u8; 12]>(),
    ) {
        let r = ring();
        let ctx = SealContext { user_id: &user, provider: &provider, field: Field::RefreshToken };
        let sealed = r.seal(&plain, &ctx, nonce);
        prop_assert_eq!(r.open(&sealed, &ctx).unwrap(), plain);
        let moved = SealContext { user_id: "someone-else", ..ctx };
        prop_assert_eq!(r.open(&sealed, &moved).unwrap_err().code, Code::CryptoIntegrity);
        let other_field = SealContext { field: Field::AccessToken, ..ctx };
        prop_assert_eq!(r.open(&sealed, &other_field).unwrap_err().code, Code::CryptoIntegrity);
    }

    #[test]
    fn markers_format_then_parse_round_trip(ms in MIN_MS..=MAX_MS) {
        let m = marker::format(ms);
        prop_assert_eq!(marker::parse(&m), Some(ms));
        prop_assert!(!marker::is_newer(&m, Some(ms)));
        prop_assert!(marker::is_newer(&m, Some(ms - 1)));
    }

    #[test]
    fn markers_and_http_dates_of_any_text_never_panic(s in ".{0,64}", digits in "[0-9 :TZ.+-]{0,40}") {
        for candidate in [&s, &digits] {
            let _ = marker::parse(candidate);
            let _ = marker::is_newer(candidate, Some(0));
            let _ = parse_http_date_ms(candidate);
            let _ = parse_retry_after_ms(candidate, 0);
        }
    }

    #[test]
    fn http_dates_of_any_numbers_never_panic(
        wd in "[A-Z][a-z]{2}",
        mo in "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec|Foo)",
        // Mostly plausible fields, so the arithmetic is reached; years up to u32::MAX.
        d in "[0-9]{1,10}|[12]?[1-9]",
        y in "[0-9]{1,4}|[1-4][0-9]{8,9}",
        t in "[0-9]{1,3}:[0-9]{1,3}:[0-9]{1,3}|[01][0-9]:[0-5][0-9]:[0-5][0-9]",
    ) {
        for candidate in [
            format!("{wd}, {d} {mo} {y} {t} GMT"),
            format!("{wd}day, {d}-{mo}-{y} {t} GMT"),
            format!("{wd} {mo} {d} {t} {y}"),
        ] {
            let _ = parse_http_date_ms(&candidate);
            let _ = parse_retry_after_ms(&candidate, 0);
        }
    }

    #[test]
    fn retry_after_seconds_round_trip(secs in 0i64..10_000_000_000, now in MIN_MS..=MAX_MS) {
        prop_assert_eq!(parse_retry_after_ms(&secs.to_string(), now), Some(secs * 1000));
    }

    #[test]
    fn retry_after_http_dates_round_trip(at_s in 0i64..=253_402_300_799, now_s in 0i64..=253_402_300_799) {
        // IMF-fixdate from the RFC 3339 form of the same instant.
        let iso = marker::format(at_s * 1000);
        let (y, mo, d, hms) = (&iso[0..4], &iso[5..7], &iso[8..10], &iso[11..19]);
        let months = ["Jan","Feb","Mar","Apr","May","Jun","Jul","Aug","Sep","Oct","Nov","Dec"];
        let month = months[mo.parse::<usize>().unwrap() - 1];
        let date = format!("Mon, {d} {month} {y} {hms} GMT");
        prop_assert_eq!(parse_http_date_ms(&date), Some(at_s * 1000));
        prop_assert_eq!(
            parse_retry_after_ms(&date, now_s * 1000),
            Some((at_s * 1000 - now_s * 1000).max(0))
        );
    }

    #[test]
    fn json_reads_what_serde_json_writes(v in any_json()) {
        for text in [v.to_string(), serde_json::to_string_pretty(&v).unwrap()] {
            let ours = json::parse(&text);
            prop_assert!(ours.as_ref().is_ok_and(|o| same(o, &v)), "{text}");
        }
    }

    #[test]
    fn json_agrees_with_serde_json_on_any_text(
        text in "[\\[\\]{}\",:0-9eE.+\\-a-z\\\\ \t\u{1}\u{e9}]{0,24}",
        parts in prop::collection::vec(
            prop_oneof![
                Just("{\"a\":"), Just("["), Just("]"), Just("}"), Just(","), Just("\"\\u"),
                Just("d83d"), Just("\\ude00"), Just("dc00\""), Just("-0.5e+3"), Just("1e400"),
                Just("null"), Just("tru"), Just("\"x\""), Just(" "), Just("\"a\":"),
            ],
            0..10,
        ),
    ) {
        for t in [text, parts.concat()] {
            let theirs = serde_json::from_str::<Value>(&t);
            let ours = json::parse(&t);
            // The one difference: a number beyond a double (`1e400`), which
            // serde_json refuses and ours reads, as `JSON.parse` does.
            let out_of_range = theirs.as_ref().is_err_and(|e| e.to_string().contains("out of range"));
            prop_assert!(
                ours.is_ok() == theirs.is_ok() || (ours.is_ok() && out_of_range),
                "{:?}",
                t
            );
            if let (Ok(o), Ok(v)) = (ours, theirs) {
                prop_assert!(same(&o, &v), "{:?}", t);
            }
        }
    }

    #[test]
    fn json_duplicate_keys_resolve_as_serde_json_does(
        members in prop::collection::vec(("[a-c]", any::<i32>()), 0..8),
    ) {
        let body: Vec<String> = members.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        let t = format!("{{{}}}", body.join(","));
        let theirs = serde_json::from_str::<Value>(&t).unwrap();
        prop_assert!(json::parse(&t).is_ok_and(|o| same(&o, &theirs)), "{}", t);
    }

    #[test]
    fn json_quote_is_what_serde_json_writes(s in "\\PC{0,16}|[\u{0}-\u{1f}\u{7f}\"\\\\/]{0,8}") {
        prop_assert_eq!(json::quote(&s), Value::String(s.clone()).to_string());
    }

    #[test]
    fn base64_is_the_base64_crates(
        bytes in prop::collection::vec(any::<u8>(), 0..40),
        text in "[A-Za-z0-9+/_=-]{0,12}",
    ) {
        use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
        use base64::Engine;
        for (engine, url, pad) in [
            (STANDARD, false, true),
            (STANDARD_NO_PAD, false, false),
            (URL_SAFE, true, true),
            (URL_SAFE_NO_PAD, true, false),
        ] {
            let enc = b64::encode(&bytes, url, pad);
            prop_assert_eq!(&enc, &engine.encode(&bytes));
            prop_assert_eq!(b64::decode(&enc, url, pad), Some(bytes.clone()));
            prop_assert_eq!(b64::decode(&text, url, pad), engine.decode(&text).ok(), "{:?}", text);
        }
    }
}
