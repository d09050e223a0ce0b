//! Just enough JSON for plugins that talk to HTTP APIs: an [`Object`] writer and a parser into
//! [`Json`] values. Numbers are kept as written, so 64-bit integers (etcd's lease IDs, for
//! instance) survive without a round trip through `f64`.

use std::fmt::Write;

/// A parsed JSON value. Objects keep their members in the order written.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    /// The number's text as written, e.g. `-12` or `1.5e3`.
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The member `key` of an object (the first one, if written twice).
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    /// An integer written as a number or, as protobuf's JSON mapping writes 64-bit integers, as
    /// a string of digits (`"7587835430457441297"`).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Json::Number(n) | Json::String(n) => n.parse().ok(),
            _ => None,
        }
    }
}

/// Parses one JSON text (surrounding whitespace allowed, nothing else after it). Nesting deeper
/// than 64 levels is refused rather than recursed into.
pub fn parse(text: &str) -> Result<Json, String> {
    let mut parser = Parser {
        text: text.as_bytes(),
        at: 0,
    };
    let value = parser.value(0)?;
    parser.blanks();
    if parser.at != parser.text.len() {
        return Err(parser.error("unexpected text after the value"));
    }
    Ok(value)
}

const MAX_DEPTH: usize = 64;

struct Parser<'t> {
    text: &'t [u8],
    at: usize,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> String {
        format!("invalid JSON at byte {}: {what}", self.at)
    }

    fn blanks(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.text.get(self.at) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.blanks();
        self.text.get(self.at).copied()
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, String> {
        if self.text[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.error("expected a value"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, String> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        match self.peek() {
            None => Err(self.error("unexpected end")),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'"') => self.string().map(Json::String),
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                if self.peek() == Some(b']') {
                    self.at += 1;
                    return Ok(Json::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    match self.peek() {
                        Some(b',') => self.at += 1,
                        Some(b']') => {
                            self.at += 1;
                            return Ok(Json::Array(items));
                        }
                        _ => return Err(self.error("expected ',' or ']'")),
                    }
                }
            }
            Some(b'{') => {
                self.at += 1;
                let mut members = Vec::new();
                if self.peek() == Some(b'}') {
                    self.at += 1;
                    return Ok(Json::Object(members));
                }
                loop {
                    if self.peek() != Some(b'"') {
                        return Err(self.error("expected a member name"));
                    }
                    let key = self.string()?;
                    if self.peek() != Some(b':') {
                        return Err(self.error("expected ':'"));
                    }
                    self.at += 1;
                    members.push((key, self.value(depth + 1)?));
                    match self.peek() {
                        Some(b',') => self.at += 1,
                        Some(b'}') => {
                            self.at += 1;
                            return Ok(Json::Object(members));
                        }
                        _ => return Err(self.error("expected ',' or '}'")),
                    }
                }
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("expected a value")),
        }
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.at;
        let digits = |p: &mut Self| {
            let from = p.at;
            while let Some(b'0'..=b'9') = p.text.get(p.at) {
                p.at += 1;
            }
            p.at > from
        };
        if self.text[self.at] == b'-' {
            self.at += 1;
        }
        if !digits(self) {
            return Err(self.error("expected digits"));
        }
        if self.text.get(self.at) == Some(&b'.') {
            self.at += 1;
            if !digits(self) {
                return Err(self.error("expected digits after '.'"));
            }
        }
        if let Some(b'e' | b'E') = self.text.get(self.at) {
            self.at += 1;
            if let Some(b'+' | b'-') = self.text.get(self.at) {
                self.at += 1;
            }
            if !digits(self) {
                return Err(self.error("expected digits in the exponent"));
            }
        }
        // Only ASCII was consumed.
        let text = String::from_utf8_lossy(&self.text[start..self.at]).into_owned();
        Ok(Json::Number(text))
    }

    /// A string starting at the opening quote.
    fn string(&mut self) -> Result<String, String> {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let Some(&byte) = self.text.get(self.at) else {
                return Err(self.error("unclosed string"));
            };
            self.at += 1;
            match byte {
                b'"' => break,
                b'\\' => {
                    let Some(&escaped) = self.text.get(self.at) else {
                        return Err(self.error("unclosed string"));
                    };
                    self.at += 1;
                    let c = match escaped {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return Err(self.error("unknown escape")),
                    };
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                0..=0x1f => return Err(self.error("control character in a string")),
                _ => out.push(byte),
            }
        }
        String::from_utf8(out).map_err(|_| self.error("a string is not UTF-8"))
    }

    /// The `XXXX` of `\uXXXX` (just read the `u`), with a following low surrogate if this is a
    /// high one. A lone surrogate becomes U+FFFD.
    fn unicode_escape(&mut self) -> Result<char, String> {
        let high = self.hex4()?;
        if !(0xd800..0xdc00).contains(&high) {
            return Ok(char::from_u32(high).unwrap_or('\u{fffd}'));
        }
        if self.text[self.at..].starts_with(b"\\u") {
            let back = self.at;
            self.at += 2;
            let low = self.hex4()?;
            if (0xdc00..0xe000).contains(&low) {
                let c = 0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00);
                return Ok(char::from_u32(c).unwrap_or('\u{fffd}'));
            }
            self.at = back;
        }
        Ok('\u{fffd}')
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self
            .text
            .get(self.at..self.at + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u32::from_str_radix(d, 16).ok())
            .ok_or_else(|| self.error("expected four hex digits after \\u"))?;
        self.at += 4;
        Ok(digits)
    }
}

/// Appends `s` as a JSON string, quotes included.
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Writes one JSON object, member by member in the order given:
///
/// ```
/// # use keel_plugin_sdk::json::Object;
/// let mut o = Object::new();
/// o.string("name", "web").integer("port", 8080).null("pid");
/// assert_eq!(o.finish(), r#"{"name":"web","port":8080,"pid":null}"#);
/// ```
pub struct Object {
    out: String,
}

impl Default for Object {
    fn default() -> Self {
        Self::new()
    }
}

impl Object {
    pub fn new() -> Self {
        Object {
            out: String::from("{"),
        }
    }

    fn key(&mut self, key: &str) -> &mut Self {
        if self.out.len() > 1 {
            self.out.push(',');
        }
        write_string(&mut self.out, key);
        self.out.push(':');
        self
    }

    pub fn string(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        write_string(&mut self.out, value);
        self
    }

    pub fn integer(&mut self, key: &str, value: impl Into<i128>) -> &mut Self {
        self.key(key);
        let _ = write!(self.out, "{}", value.into());
        self
    }

    pub fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        self.key(key);
        self.out.push_str(if value { "true" } else { "false" });
        self
    }

    pub fn null(&mut self, key: &str) -> &mut Self {
        self.key(key);
        self.out.push_str("null");
        self
    }

    /// A value that is already JSON text (e.g. a nested [`Object`]'s `finish()`).
    pub fn raw(&mut self, key: &str, json: &str) -> &mut Self {
        self.key(key);
        self.out.push_str(json);
        self
    }

    /// A string, or null for none.
    pub fn opt_string(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.string(key, v),
            None => self.null(key),
        }
    }

    /// An integer, or null for none.
    pub fn opt_integer<I: Into<i128>>(&mut self, key: &str, value: Option<I>) -> &mut Self {
        match value {
            Some(v) => self.integer(key, v),
            None => self.null(key),
        }
    }

    pub fn finish(&mut self) -> String {
        let mut out = std::mem::take(&mut self.out);
        out.push('}');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_etcd_answers() {
        let grant = r#"{"header":{"cluster_id":"15118495548433857066","revision":"1"},"ID":"4111120507221015813","TTL":"10"}"#;
        let v = parse(grant).unwrap();
        assert_eq!(
            v.get("ID").and_then(Json::as_i64),
            Some(4111120507221015813)
        );
        assert_eq!(v.get("TTL").and_then(Json::as_i64), Some(10));
        let range = r#"{"header":{},"kvs":[{"key":"L2E=","lease":"7"}],"count":"1"}"#;
        let v = parse(range).unwrap();
        let kvs = v.get("kvs").and_then(Json::as_array).unwrap();
        assert_eq!(kvs[0].get("lease").and_then(Json::as_i64), Some(7));
        assert_eq!(parse(" [ ] ").unwrap(), Json::Array(vec![]));
        assert_eq!(parse("-1.5e3").unwrap(), Json::Number("-1.5e3".into()));
    }

    #[test]
    fn strings_round_trip() {
        let text = "quote \" backslash \\ newline \n tab \t bell \u{7} é 🦀";
        let mut json = String::new();
        write_string(&mut json, text);
        assert_eq!(
            json,
            "\"quote \\\" backslash \\\\ newline \\n tab \\t bell \\u0007 é 🦀\""
        );
        assert_eq!(parse(&json).unwrap(), Json::String(text.into()));
        assert_eq!(
            parse(r#""\ud83e\udd80 \u00e9 \ud800""#).unwrap(),
            Json::String("🦀 é \u{fffd}".into())
        );
    }

    #[test]
    fn refuses_bad_json() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\" 1}",
            "01x",
            "\"abc",
            "tru",
            "{} x",
            "\"\u{1}\"",
            "-",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(parse(&deep).unwrap_err().contains("nested too deeply"));
    }

    #[test]
    fn writes_objects() {
        let mut inner = Object::new();
        inner.integer("code", 3);
        let mut o = Object::new();
        o.string("name", "a\"b")
            .integer("port", 8080u16)
            .bool("ok", true)
            .opt_integer::<i32>("pid", None)
            .raw("last_exit", &inner.finish());
        assert_eq!(
            o.finish(),
            r#"{"name":"a\"b","port":8080,"ok":true,"pid":null,"last_exit":{"code":3}}"#
        );
        assert_eq!(Object::new().finish(), "{}");
    }
}
