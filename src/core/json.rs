//! JSON text (RFC 8259) read into a small tree, and strings written as JSON.
//!
//! The crate reads JSON in a handful of places (provider answers, the edge
//! functions' answers, configuration) and always through `Fields` or a
//! `get`: it never needs a general-purpose (de)serializer. This reader is a
//! few KB of wasm where serde_json with its `Value` and `BTreeMap` was about
//! 25 KB, and the browser build, which reads nothing else, drops serde
//! entirely. It follows serde_json's semantics where JSON leaves a choice, so
//! callers read the same values: the last of a duplicated key wins (as in
//! `JSON.parse`), nesting stops at 128 levels, and a lone UTF-16 surrogate in
//! an escape is refused. One difference: a number beyond a double's range
//! (`1e400`) is read, as `JSON.parse` reads it, and is no integer.

use std::fmt;

/// Nesting deeper than this is refused rather than recursed into: the input
/// may come from a provider, and the wasm stack is small.
const MAX_DEPTH: usize = 128;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Value>),
    Object(Map),
}

/// A number as written, checked against the grammar. Its integer value is
/// computed from the digits (`12`, `5.0` and `1.5e3` are whole numbers, `1.5`
/// is not), without parsing a float: float parsing would bring a few KB of
/// code and 8 KB of tables into the wasm for values that are always whole.
#[derive(Clone, Debug, PartialEq)]
pub struct Number(String);

impl Number {
    /// The value when it is a whole number that fits.
    pub fn as_i64(&self) -> Option<i64> {
        self.signed(false)
    }

    /// The value when it is a non-negative whole number that fits.
    pub fn as_u64(&self) -> Option<u64> {
        match self.magnitude(false)? {
            (true, m) if m != 0 => None,
            (_, m) => Some(m),
        }
    }

    /// The value rounded toward zero (`3599.9` is 3599), when that fits.
    pub fn trunc_i64(&self) -> Option<i64> {
        self.signed(true)
    }

    /// Below zero (`-0` and `-0.0` are not).
    pub fn is_negative(&self) -> bool {
        self.0.starts_with('-')
            && self
                .0
                .bytes()
                .take_while(|b| !matches!(b, b'e' | b'E'))
                .any(|b| matches!(b, b'1'..=b'9'))
    }

    fn signed(&self, truncate: bool) -> Option<i64> {
        let (negative, m) = self.magnitude(truncate)?;
        if negative {
            0i64.checked_sub_unsigned(m)
        } else {
            i64::try_from(m).ok()
        }
    }

    /// Sign and magnitude: the digits times ten to the exponent, less the
    /// fraction's digits. `None` when the magnitude overflows u64, or when
    /// digits that are not zero would be dropped and `truncate` is false.
    fn magnitude(&self, truncate: bool) -> Option<(bool, u64)> {
        // On bytes, without `str` slicing (whose panic path alone is 3 KB of
        // wasm); the grammar was checked when the number was read.
        let t = self.0.as_bytes();
        let (negative, t) = t.strip_prefix(b"-").map_or((false, t), |r| (true, r));
        let e = t.iter().position(|c| matches!(c, b'e' | b'E'));
        let (mantissa, exp) = match e {
            Some(i) => (&t[..i], exponent(&t[i + 1..])?),
            None => (t, 0),
        };
        let dot = mantissa.iter().position(|&c| c == b'.');
        let frac_len = dot.map_or(0, |d| mantissa.len() - d - 1);
        let scale = exp - frac_len as i64;
        let digits = mantissa.iter().filter(|&&c| c != b'.');
        let kept = (mantissa.len() - usize::from(dot.is_some())) as i64 + scale.min(0);
        let mut m: u64 = 0;
        for (i, &d) in digits.enumerate() {
            let d = u64::from(d - b'0');
            if (i as i64) < kept {
                m = m.checked_mul(10)?.checked_add(d)?;
            } else if d != 0 && !truncate {
                return None;
            }
        }
        if m != 0 {
            for _ in 0..scale.max(0) {
                m = m.checked_mul(10)?;
            }
        }
        Some((negative, m))
    }

    /// As a double (Rust's exact parse; only the tests read numbers so).
    #[cfg(test)]
    pub fn as_f64(&self) -> Option<f64> {
        self.0.parse().ok()
    }
}

/// An exponent's value (`+5`, `-12`, `007`), `None` from ±10^9 on.
fn exponent(b: &[u8]) -> Option<i64> {
    let (negative, digits) = match b {
        [b'-', d @ ..] => (true, d),
        [b'+', d @ ..] => (false, d),
        d => (false, d),
    };
    let zeros = digits.iter().take_while(|&&c| c == b'0').count();
    let digits = &digits[zeros..];
    if digits.len() > 9 {
        return None;
    }
    let v = digits
        .iter()
        .fold(0i64, |acc, &c| acc * 10 + i64::from(c - b'0'));
    Some(if negative { -v } else { v })
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An object's members in the order written, duplicated keys included;
/// `get` reads the last of a key, as `JSON.parse` and serde_json do. (Not
/// sorted or deduplicated when read: that is code the wasm would carry, and
/// callers look up a few keys or check each one.)
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Map(Vec<(String, Value)>);

impl Map {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a String, &'a Value);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, Value)>,
        fn(&'a (String, Value)) -> (&'a String, &'a Value),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl Value {
    /// A member of an object; `None` for a missing key or a non-object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(m) => m.get(key),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

/// Parses JSON text. The error carries nothing of the input: callers say
/// what was being read.
pub fn parse(text: &str) -> Result<Value, Invalid> {
    let mut p = Parser {
        text,
        s: text.as_bytes(),
        i: 0,
    };
    let v = p.value(0)?;
    p.ws();
    if p.i == p.s.len() {
        Ok(v)
    } else {
        Err(Invalid)
    }
}

/// Parses JSON bytes (which must be UTF-8).
pub fn parse_bytes(bytes: &[u8]) -> Result<Value, Invalid> {
    parse(std::str::from_utf8(bytes).map_err(|_| Invalid)?)
}

/// The input is not JSON text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Invalid;

struct Parser<'a> {
    /// The input, sliced for the parts that are copied out: the stops are
    /// ASCII bytes, so `get` finds char boundaries there and the copy needs
    /// no UTF-8 validation (which a cold isolate would otherwise compile).
    text: &'a str,
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.i += usize::from(hit);
        hit
    }

    fn word(&mut self, w: &[u8], v: Value) -> Result<Value, Invalid> {
        if self.s[self.i..].starts_with(w) {
            self.i += w.len();
            Ok(v)
        } else {
            Err(Invalid)
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, Invalid> {
        self.ws();
        match self.peek().ok_or(Invalid)? {
            b'n' => self.word(b"null", Value::Null),
            b't' => self.word(b"true", Value::Bool(true)),
            b'f' => self.word(b"false", Value::Bool(false)),
            b'"' => self.string().map(Value::String),
            b'-' | b'0'..=b'9' => self.number(),
            b'[' if depth < MAX_DEPTH => self.array(depth + 1),
            b'{' if depth < MAX_DEPTH => self.object(depth + 1),
            _ => Err(Invalid),
        }
    }

    /// A separated list between `open` and `close`, each item read by `item`.
    fn list(
        &mut self,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Result<(), Invalid>,
    ) -> Result<(), Invalid> {
        self.i += 1; // the opening bracket
        self.ws();
        if self.eat(close) {
            return Ok(());
        }
        loop {
            item(self)?;
            self.ws();
            if self.eat(close) {
                return Ok(());
            }
            if !self.eat(b',') {
                return Err(Invalid);
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, Invalid> {
        let mut items = Vec::new();
        self.list(b']', |p| {
            items.push(p.value(depth)?);
            Ok(())
        })?;
        Ok(Value::Array(items))
    }

    fn object(&mut self, depth: usize) -> Result<Value, Invalid> {
        let mut members = Vec::new();
        self.list(b'}', |p| {
            p.ws();
            if p.peek() != Some(b'"') {
                return Err(Invalid);
            }
            let key = p.string()?;
            p.ws();
            if !p.eat(b':') {
                return Err(Invalid);
            }
            members.push((key, p.value(depth)?));
            Ok(())
        })?;
        Ok(Value::Object(Map(members)))
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<Value, Invalid> {
        let start = self.i;
        self.eat(b'-');
        if !self.eat(b'0') && self.digits() == 0 {
            return Err(Invalid);
        }
        if self.eat(b'.') && self.digits() == 0 {
            return Err(Invalid);
        }
        if self.eat(b'e') || self.eat(b'E') {
            let _ = self.eat(b'+') || self.eat(b'-');
            if self.digits() == 0 {
                return Err(Invalid);
            }
        }
        let text = self.text.get(start..self.i).ok_or(Invalid)?;
        Ok(Value::Number(Number(text.to_string())))
    }

    fn hex4(&mut self) -> Result<u32, Invalid> {
        let h = self.s.get(self.i..self.i + 4).ok_or(Invalid)?;
        self.i += 4;
        h.iter().try_fold(0u32, |acc, &c| {
            let d = (c as char).to_digit(16).ok_or(Invalid)?;
            Ok(acc * 16 + d)
        })
    }

    /// The index of the first `"`, `\\` or control byte from `from` on
    /// (the end of the text if none), scanned over a local copy of the index.
    fn plain_run(&self, from: usize) -> usize {
        let s = self.s;
        let mut j = from;
        while j < s.len() {
            let c = s[j];
            if c == b'"' || c == b'\\' || c < 0x20 {
                break;
            }
            j += 1;
        }
        j
    }

    fn string(&mut self) -> Result<String, Invalid> {
        self.i += 1; // the opening quote
        let mut out = String::new();
        loop {
            let start = self.i;
            self.i = self.plain_run(start);
            let run = self.text.get(start..self.i).ok_or(Invalid)?;
            if out.is_empty() && self.peek() == Some(b'"') {
                // The usual string, with no escape: one exact allocation.
                self.i += 1;
                return Ok(run.to_string());
            }
            out.push_str(run);
            match self.peek().ok_or(Invalid)? {
                b'"' => {
                    self.i += 1;
                    return Ok(out);
                }
                b'\\' => {
                    self.i += 1;
                    let c = self.peek().ok_or(Invalid)?;
                    self.i += 1;
                    out.push(match c {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.escaped_char()?,
                        _ => return Err(Invalid),
                    });
                }
                _ => return Err(Invalid), // a raw control character
            }
        }
    }

    /// The character of a `\uXXXX` escape (the `\u` read), joining a
    /// surrogate pair; a lone surrogate is refused.
    fn escaped_char(&mut self) -> Result<char, Invalid> {
        let hi = self.hex4()?;
        let code = match hi {
            0xD800..=0xDBFF => {
                if !(self.eat(b'\\') && self.eat(b'u')) {
                    return Err(Invalid);
                }
                let lo = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&lo) {
                    return Err(Invalid);
                }
                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
            }
            _ => hi,
        };
        char::from_u32(code).ok_or(Invalid)
    }
}

/// `s` as a JSON string literal, quotes included, escaped as serde_json and
/// `JSON.stringify` escape it.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                out.push_str("\\u00");
                out.push_str(&super::b64::hex(&[c as u8]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Tests write their JSON with serde_json's `json!`.
#[cfg(test)]
impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Self {
        parse(&v.to_string()).expect("serde_json writes JSON")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(t: &str) -> Value {
        parse(t).unwrap_or_else(|_| panic!("should parse: {t}"))
    }

    #[test]
    fn reads_every_kind_of_value() {
        let v = ok(
            r#" {"s":"a\"b\\c\/d\n\u00e9\ud83d\ude00","n":-12,"f":1.5e3,"t":true,"x":false,"z":null,"a":[1,[],{}]} "#,
        );
        assert_eq!(v.get("s").and_then(Value::as_str), Some("a\"b\\c/d\né😀"));
        let Some(Value::Number(n)) = v.get("n") else {
            panic!("n is a number")
        };
        assert_eq!(
            (n.as_i64(), n.as_u64(), n.as_f64()),
            (Some(-12), None, Some(-12.0))
        );
        let Some(Value::Number(f)) = v.get("f") else {
            panic!("f is a number")
        };
        assert_eq!((f.as_i64(), f.as_f64()), (Some(1500), Some(1500.0)));
        assert_eq!(v.get("t"), Some(&Value::Bool(true)));
        assert_eq!(v.get("x"), Some(&Value::Bool(false)));
        assert!(v.get("z").is_some_and(Value::is_null));
        assert_eq!(
            v.get("a"),
            Some(&Value::Array(vec![
                Value::Number(Number("1".into())),
                Value::Array(vec![]),
                Value::Object(Map::default())
            ]))
        );
        assert_eq!(v.get("missing"), None);
        assert_eq!(ok("7").get("n"), None);
    }

    #[test]
    fn refuses_what_the_grammar_refuses() {
        for bad in [
            "",
            " ",
            "{",
            "}",
            "[1,]",
            "[,1]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{a:1}",
            "{1:1}",
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "1e+",
            "+1",
            "NaN",
            "Infinity",
            "nul",
            "truex",
            "[1] 2",
            "\"a",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\ud800\"",
            "\"\\ud800\\u0041\"",
            "\"\\udc00\"",
            "\"a\u{1}b\"",
            "'a'",
            "[1 2]",
            "{\"a\":1 \"b\":2}",
        ] {
            assert_eq!(parse(bad), Err(Invalid), "{bad:?}");
        }
        assert_eq!(parse_bytes(b"\"\xff\""), Err(Invalid));
    }

    #[test]
    fn keys_keep_their_order_and_the_last_duplicate_wins() {
        let v = ok(r#"{"b":1,"a":2,"b":3,"c":{"k":1,"k":2}}"#);
        let Value::Object(m) = &v else {
            panic!("an object")
        };
        assert_eq!(
            m.keys().map(String::as_str).collect::<Vec<_>>(),
            ["b", "a", "b", "c"]
        );
        assert_eq!(v.get("b").and_then(Value::as_u64), Some(3));
        assert_eq!(
            v.get("c").and_then(|c| c.get("k")).and_then(Value::as_u64),
            Some(2)
        );
    }

    #[test]
    fn numbers_are_whole_when_their_digits_say_so() {
        let num = |t: &str| match ok(t) {
            Value::Number(n) => n,
            _ => panic!("{t} is a number"),
        };
        for (t, i, u, trunc) in [
            ("0", Some(0), Some(0), Some(0)),
            ("-0", Some(0), Some(0), Some(0)),
            ("12", Some(12), Some(12), Some(12)),
            ("-12", Some(-12), None, Some(-12)),
            ("5.0", Some(5), Some(5), Some(5)),
            ("1.5e3", Some(1500), Some(1500), Some(1500)),
            ("15e-1", None, None, Some(1)),
            ("3599.9", None, None, Some(3599)),
            ("-0.5", None, None, Some(0)),
            ("1E+2", Some(100), Some(100), Some(100)),
            ("0e999999", Some(0), Some(0), Some(0)),
            (
                "9223372036854775807",
                Some(i64::MAX),
                Some(i64::MAX as u64),
                Some(i64::MAX),
            ),
            ("-9223372036854775808", Some(i64::MIN), None, Some(i64::MIN)),
            ("9223372036854775808", None, Some(1 << 63), None),
            ("18446744073709551615", None, Some(u64::MAX), None),
            ("18446744073709551616", None, None, None),
            ("1e400", None, None, None),
            ("1e99999999999", None, None, None),
            ("1e0000000000002", Some(100), Some(100), Some(100)),
            ("25E-0001", None, None, Some(2)),
        ] {
            let n = num(t);
            assert_eq!(
                (n.as_i64(), n.as_u64(), n.trunc_i64()),
                (i, u, trunc),
                "{t}"
            );
        }
        assert_eq!(num("1e400").to_string(), "1e400");
        for (t, negative) in [
            ("-0", false),
            ("-0.0e5", false),
            ("-0.5", true),
            ("-1e-9", true),
            ("0", false),
            ("3", false),
        ] {
            assert_eq!(num(t).is_negative(), negative, "{t}");
        }
    }

    #[test]
    fn nesting_stops_at_128_levels() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(&nested(128)).is_ok());
        assert_eq!(parse(&nested(129)), Err(Invalid));
        assert_eq!(parse(&"{\"a\":".repeat(100_000)), Err(Invalid));
    }

    #[test]
    fn quote_escapes_as_json_stringify_does() {
        assert_eq!(
            quote("a\"b\\c\n\r\t\u{8}\u{c}\u{1}\u{1f}é/"),
            r#""a\"b\\c\n\r\t\b\f\u0001\u001fé/""#
        );
        assert_eq!(ok(&quote("x\u{0}y\"")).as_str(), Some("x\u{0}y\""));
    }
}
