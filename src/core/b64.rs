//! Base64 (RFC 4648 §4) and base64url (§5), strict as the `base64` crate's
//! engines are: only the alphabet's characters, padding exactly as asked
//! (required and canonical, or absent), and zero bits after the last byte,
//! so each byte string has one encoding. Written here because the crate is
//! 3.5 KB of the browser's wasm for one JWT payload and a few short values;
//! the property tests hold this to the crate's answers. Lower-case hex is
//! here too.

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn symbol(v: u32, url: bool) -> char {
    match (v & 63, url) {
        (62, true) => '-',
        (63, true) => '_',
        (v, _) => STANDARD[v as usize] as char,
    }
}

fn value(c: u8, url: bool) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' if !url => 62,
        b'/' if !url => 63,
        b'-' if url => 62,
        b'_' if url => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Lower-case hex, two digits a byte (without `format!`, which a cold
/// isolate would otherwise compile for the constructor's instance id).
pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}

/// `bytes` in base64 (`url`: base64url), with `=` padding when `pad`.
pub fn encode(bytes: &[u8], url: bool, pad: bool) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        for i in 0..=chunk.len() {
            out.push(symbol(n >> (18 - 6 * i), url));
        }
        if pad {
            for _ in chunk.len()..3 {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes base64 (`url`: base64url); `pad` says the padding is required,
/// otherwise it must be absent. `None` for anything but the one encoding.
pub fn decode(text: &str, url: bool, pad: bool) -> Option<Vec<u8>> {
    let mut s = text.as_bytes();
    if pad {
        let n = s.iter().rev().take_while(|&&c| c == b'=').count();
        s = &s[..s.len() - n];
        if n != (4 - s.len() % 4) % 4 {
            return None;
        }
    }
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in s {
        acc = ((acc << 6) | value(c, url)?) & 0x3fff;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    (acc & ((1 << bits) - 1) == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4648_test_vectors() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(raw.as_bytes(), false, true), enc);
            assert_eq!(decode(enc, false, true).as_deref(), Some(raw.as_bytes()));
            let bare = enc.trim_end_matches('=');
            assert_eq!(encode(raw.as_bytes(), true, false), bare);
            assert_eq!(decode(bare, true, false).as_deref(), Some(raw.as_bytes()));
        }
        assert_eq!(encode(&[0xfb, 0xff], false, false), "+/8");
        assert_eq!(encode(&[0xfb, 0xff], true, false), "-_8");
    }

    #[test]
    fn only_the_one_encoding_is_read() {
        for (text, url, pad) in [
            ("Zg", false, true),       // padding required
            ("Zg==", true, false),     // padding forbidden
            ("Zg=", false, true),      // short padding
            ("Zm9v====", false, true), // too much
            ("Zh==", false, true),     // bits after the last byte
            ("Z", true, false),        // no byte in one symbol
            ("+/8", true, false),      // the other alphabet
            ("-_8", false, false),
            ("Zm 9v", false, false),
            ("Z=g=", false, true),
        ] {
            assert_eq!(decode(text, url, pad), None, "{text}");
        }
    }
}
