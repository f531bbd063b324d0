//! Reading JSON objects field by field, with errors that name the path
//! (`providers.google.clientId: must be a string`). Smaller than derived
//! deserializers in wasm, and the messages are better.

use super::json::{Map, Value};
use super::text::{self, cat};
use super::vecmap::VecMap;

use super::error::{Code, Error, Result};

/// Where `Fields::fill` puts one field's value.
pub enum Slot<'s> {
    /// A required string.
    Str(&'s mut String),
    OptStr(&'s mut Option<String>),
    /// A required integer.
    Int(&'s mut i64),
    OptInt(&'s mut Option<i64>),
    /// A count: a non-negative integer, 0 when absent, at most `u32::MAX`.
    Count(&'s mut u32),
    /// A required array of strings.
    List(&'s mut Vec<String>),
}

pub struct Fields<'a> {
    map: &'a Map,
    path: String,
    code: Code,
}

impl<'a> Fields<'a> {
    /// `value` must be an object; `path` names it in errors.
    pub fn new(value: &'a Value, path: &str, code: Code) -> Result<Self> {
        match value {
            Value::Object(map) => Ok(Self {
                map,
                path: path.to_string(),
                code,
            }),
            _ => Err(Error::new(code, cat(&[path, ": must be an object"]))),
        }
    }

    pub fn path(&self, key: &str) -> String {
        cat(&[&self.path, ".", key])
    }

    /// The error for `key`: `<path>.<key>: <what>`. Out of line and cold, so
    /// that a reading that succeeds compiles no message.
    #[cold]
    #[inline(never)]
    pub fn err(&self, key: &str, what: &str) -> Error {
        Error::new(self.code, cat(&[&self.path(key), ": ", what]))
    }

    /// Rejects keys outside `allowed`, naming the first unknown one.
    pub fn only(&self, allowed: &[&str]) -> Result<()> {
        match self.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(Error::new(
                self.code,
                cat(&[
                    &self.path(k),
                    ": unknown field (expected one of ",
                    &allowed.join(", "),
                    ")",
                ]),
            )),
            None => Ok(()),
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub fn raw(&self, key: &str) -> Option<&'a Value> {
        self.get(key)
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.err(key, "must be a string")),
        }
    }

    pub fn str(&self, key: &str) -> Result<String> {
        self.opt_str(key)?.ok_or_else(|| self.err(key, "required"))
    }

    /// Scopes as an array of strings or one space-separated string.
    pub fn opt_scopes(&self, key: &str) -> Result<Option<Vec<String>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(text::words(s))),
            Some(Value::Array(_)) => self.str_list(key).map(Some),
            Some(_) => Err(self.err(key, "must be a string or an array of strings")),
        }
    }

    /// An object whose values are strings, in key order.
    pub fn opt_string_map(&self, key: &str) -> Result<Option<Vec<(String, String)>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(m)) => {
                // Key order, and the last of a duplicated key.
                let mut pairs = VecMap::default();
                for (k, v) in m {
                    match v {
                        Value::String(s) => pairs.insert(k.clone(), s.clone()),
                        _ => return Err(self.err(key, "values must be strings")),
                    }
                }
                Ok(Some(pairs.into_vec()))
            }
            Some(_) => Err(self.err(key, "must be an object of strings")),
        }
    }

    /// A required array of strings.
    pub fn str_list(&self, key: &str) -> Result<Vec<String>> {
        match self.get(key) {
            None => Err(self.err(key, "required")),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| self.err(key, "must be an array of strings"))
                })
                .collect(),
            Some(_) => Err(self.err(key, "must be an array of strings")),
        }
    }

    /// Reads each field into its slot, in order, stopping at the first error.
    /// One loop for a whole record: a struct literal of a `?` per field
    /// compiles a partial drop for each (a row's reader was 4.4 KB of wasm).
    pub fn fill(&self, slots: &mut [(&str, Slot<'_>)]) -> Result<()> {
        for (key, slot) in slots {
            match slot {
                Slot::Str(s) => **s = self.str(key)?,
                Slot::OptStr(s) => **s = self.opt_str(key)?,
                Slot::Int(n) => **n = self.i64(key)?,
                Slot::OptInt(n) => **n = self.opt_i64(key)?,
                Slot::Count(n) => **n = self.opt_u64(key)?.unwrap_or(0).min(u32::MAX as u64) as u32,
                Slot::List(l) => **l = self.str_list(key)?,
            }
        }
        Ok(())
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.err(key, "must be true or false")),
        }
    }

    pub fn opt_i64(&self, key: &str) -> Result<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.err(key, "must be an integer")),
            Some(_) => Err(self.err(key, "must be a number")),
        }
    }

    pub fn i64(&self, key: &str) -> Result<i64> {
        self.opt_i64(key)?.ok_or_else(|| self.err(key, "required"))
    }

    pub fn opt_u64(&self, key: &str) -> Result<Option<u64>> {
        match self.opt_i64(key)? {
            Some(v) if v < 0 => Err(self.err(key, "must not be negative")),
            v => Ok(v.map(|v| v as u64)),
        }
    }

    /// A duration or count no larger than `max`: the arithmetic that adds it
    /// to a time or multiplies it by attempts stays far from overflow.
    pub fn opt_at_most(&self, key: &str, max: u64) -> Result<Option<u64>> {
        match self.opt_u64(key)? {
            Some(v) if v > max => Err(self.too_large(key, max)),
            v => Ok(v),
        }
    }

    #[cold]
    #[inline(never)]
    fn too_large(&self, key: &str, max: u64) -> Error {
        let mut limit = String::from("must be at most ");
        super::text::push_decimal(&mut limit, max, 0);
        self.err(key, &limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_name_the_path() {
        let v: Value =
            json!({"a": "x", "n": 5, "f": 1.5, "neg": -1, "b": true, "nul": null}).into();
        let f = Fields::new(&v, "cfg", Code::Config).unwrap();
        assert_eq!(f.str("a").unwrap(), "x");
        assert_eq!(f.opt_str("nul").unwrap(), None);
        assert_eq!(f.str("zz").unwrap_err().message, "cfg.zz: required");
        assert_eq!(f.str("n").unwrap_err().message, "cfg.n: must be a string");
        assert_eq!(f.opt_u64("n").unwrap(), Some(5));
        assert_eq!(f.i64("n").unwrap(), 5);
        assert_eq!(f.i64("zz").unwrap_err().message, "cfg.zz: required");
        assert_eq!(
            f.opt_i64("f").unwrap_err().message,
            "cfg.f: must be an integer"
        );
        assert_eq!(
            f.opt_u64("neg").unwrap_err().message,
            "cfg.neg: must not be negative"
        );
        assert_eq!(f.opt_bool("b").unwrap(), Some(true));
        assert_eq!(
            f.opt_bool("a").unwrap_err().message,
            "cfg.a: must be true or false"
        );
        assert_eq!(
            f.only(&["a", "f", "n", "neg", "nul"]).unwrap_err().message,
            "cfg.b: unknown field (expected one of a, f, n, neg, nul)"
        );
        assert!(f.only(&["a", "b", "f", "n", "neg", "nul"]).is_ok());
        assert_eq!(
            Fields::new(&json!([]).into(), "cfg", Code::Config)
                .err()
                .unwrap()
                .message,
            "cfg: must be an object"
        );
    }

    #[test]
    fn fill_reads_each_slot_and_stops_at_the_first_error_in_order() {
        let v: Value = json!({"s": "x", "n": 7, "c": 5_000_000_000u64, "l": ["a", "b"]}).into();
        let f = Fields::new(&v, "row", Code::Storage).unwrap();
        let (mut s, mut o, mut n, mut on, mut c, mut l) =
            (String::new(), None, 0, Some(1), 9, Vec::new());
        f.fill(&mut [
            ("s", Slot::Str(&mut s)),
            ("absent", Slot::OptStr(&mut o)),
            ("n", Slot::Int(&mut n)),
            ("absent", Slot::OptInt(&mut on)),
            ("c", Slot::Count(&mut c)),
            ("l", Slot::List(&mut l)),
        ])
        .unwrap();
        assert_eq!((s.as_str(), o, n, on, c), ("x", None, 7, None, u32::MAX));
        assert_eq!(l, ["a", "b"]);

        let bad: Value = json!({"n": "7", "c": -1}).into();
        let f = Fields::new(&bad, "row", Code::Storage).unwrap();
        let (mut n, mut c, mut s) = (0, 0, String::new());
        let e = f
            .fill(&mut [
                ("c", Slot::Count(&mut c)),
                ("n", Slot::Int(&mut n)),
                ("s", Slot::Str(&mut s)),
            ])
            .unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (Code::Storage, "row.c: must not be negative")
        );
        let e = f
            .fill(&mut [("s", Slot::Str(&mut s)), ("n", Slot::Int(&mut n))])
            .unwrap_err();
        assert_eq!(e.message, "row.s: required");
    }
}
