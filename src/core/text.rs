//! Substring search by byte windows. `str::contains(&str)` and
//! `str::replace` bring core's two-way searcher and, through its char
//! boundary panic, `str` and `char` debug formatting into the wasm (about
//! 6 KB); the texts searched here are short (a provider's error text, a URL
//! template).

/// `parts` joined, for the configuration paths a construction builds:
/// `[..].concat()` is std's generic join (1 KB of wasm a cold isolate would
/// compile for it).
pub fn cat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.push_str(p);
    }
    out
}

/// The space-separated words of `s` (RFC 6749's scope syntax: scope tokens
/// are printable ASCII, separated by spaces). ASCII whitespace separates, so
/// no UTF-8 decoding is compiled for it.
pub fn words(s: &str) -> Vec<String> {
    s.split_ascii_whitespace().map(str::to_string).collect()
}

/// `n` in decimal, zero-padded to `width` digits, as `format!("{n:0width$}")`
/// writes it but without the formatting machinery.
pub fn push_decimal(out: &mut String, mut n: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for _ in len..width {
        out.push('0');
    }
    for &c in digits[..len].iter().rev() {
        out.push(char::from(c));
    }
}

/// `n` in decimal, as `n.to_string()` writes it.
pub fn decimal(n: i64) -> String {
    let mut out = String::new();
    if n < 0 {
        out.push('-');
    }
    push_decimal(&mut out, n.unsigned_abs(), 0);
    out
}

/// Where `needle` first occurs in `hay`. An empty needle is at 0.
pub fn find(hay: &str, needle: &str) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.as_bytes()
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
}

pub fn contains(hay: &str, needle: &str) -> bool {
    find(hay, needle).is_some()
}

/// `hay` with every `needle` (not empty) replaced by `with`.
pub fn replace(hay: &str, needle: &str, with: &str) -> String {
    if needle.is_empty() {
        return hay.to_string();
    }
    let mut out = String::with_capacity(hay.len());
    let mut rest = hay;
    while let Some(i) = find(rest, needle) {
        // `i` is where a whole `needle` (valid UTF-8) starts, so both are
        // char boundaries; `get` says so without a panic path.
        let (Some(head), Some(tail)) = (rest.get(..i), rest.get(i + needle.len()..)) else {
            break;
        };
        out.push_str(head);
        out.push_str(with);
        rest = tail;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cat_joins_as_concat_does() {
        for parts in [
            &[][..],
            &[""],
            &["providers.", "google"],
            &["a", "", "é", "[", "0", "]"],
        ] {
            assert_eq!(cat(parts), parts.concat());
        }
    }

    #[test]
    fn push_decimal_writes_what_format_writes() {
        for (n, width) in [
            (0, 0),
            (0, 3),
            (7, 2),
            (42, 2),
            (999, 2),
            (12_345, 4),
            (u64::MAX, 0),
        ] {
            let mut out = String::from(">");
            push_decimal(&mut out, n, width);
            assert_eq!(out, format!(">{n:0width$}"));
        }
    }

    #[test]
    fn words_are_separated_by_ascii_whitespace_only() {
        assert_eq!(
            words("  openid\temail\n https://x/y  "),
            ["openid", "email", "https://x/y"]
        );
        assert!(words(" \t ").is_empty());
        // No-break spaces are not RFC 6749 separators: they stay in the word.
        assert_eq!(words("a\u{a0}b c"), ["a\u{a0}b", "c"]);
    }

    #[test]
    fn finds_and_replaces_as_str_does() {
        for (hay, needle) in [
            ("", ""),
            ("abc", ""),
            ("abc", "c"),
            ("aaa", "aa"),
            ("é{client_id}é{client_id}", "{client_id}"),
            ("invalid_grant", "invalid_token"),
            ("x", "xyz"),
        ] {
            assert_eq!(find(hay, needle), hay.find(needle), "{hay} {needle}");
            assert_eq!(contains(hay, needle), hay.contains(needle));
            if !needle.is_empty() {
                assert_eq!(replace(hay, needle, "[é]"), hay.replace(needle, "[é]"));
            }
        }
    }
}
