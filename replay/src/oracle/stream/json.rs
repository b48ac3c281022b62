//! A small JSON parser that keeps the byte span of every value, so the vmdesc (the JSON
//! that closes a QEMU migration stream) can be edited in place: a changed `size`, a removed
//! or added subsection object, and every other byte left exactly as QEMU wrote it.
//!
//! QEMU's `JSONWriter` (used by `qemu_savevm_state_complete_precopy_non_iterable` to
//! build the vmdesc) writes `{"key": value, "key": value}` and `[a, b]`: `": "` after keys,
//! `", "` between members. [`quote`] and the editor produce text in that style.
//!
//! Hostile input: nesting is limited to [`MAX_DEPTH`] (no unbounded recursion); numbers
//! are kept as text and read on demand; every string is at most as long as the input.

use std::ops::Range;

/// Deepest nesting of objects and arrays accepted.
pub const MAX_DEPTH: usize = 200;

/// Why the JSON text could not be parsed (`offset` is relative to the JSON text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// Byte offset in the JSON text.
    pub offset: usize,
    /// What was wrong there.
    pub reason: String,
}

/// A parsed JSON value with its span in the text.
#[derive(Debug, Clone, PartialEq)]
pub struct Json {
    /// Bytes of the value in the JSON text (for a string: including its quotes).
    pub span: Range<usize>,
    /// The value.
    pub kind: JsonKind,
}

/// One member of an object.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// The key, unescaped.
    pub key: String,
    /// Span of the key, quotes included.
    pub key_span: Range<usize>,
    /// The value.
    pub value: Json,
}

/// The kinds of JSON values.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonKind {
    Null,
    Bool(bool),
    /// A number, kept as its text.
    Number(String),
    String(String),
    Array(Vec<Json>),
    /// Members in text order (duplicate keys are kept; look-ups take the first).
    Object(Vec<Member>),
}

impl Json {
    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.member(key).map(|m| &m.value)
    }

    /// The member `key` of an object, with its key span.
    pub fn member(&self, key: &str) -> Option<&Member> {
        match &self.kind {
            JsonKind::Object(members) => members.iter().find(|m| m.key == key),
            _ => None,
        }
    }

    /// Members of an object (empty for other kinds).
    pub fn members(&self) -> &[Member] {
        match &self.kind {
            JsonKind::Object(members) => members,
            _ => &[],
        }
    }

    /// Elements of an array, `None` for other kinds.
    pub fn as_array(&self) -> Option<&[Json]> {
        match &self.kind {
            JsonKind::Array(v) => Some(v),
            _ => None,
        }
    }

    /// A string value.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            JsonKind::String(s) => Some(s),
            _ => None,
        }
    }

    /// A non-negative integer value.
    pub fn as_u64(&self) -> Option<u64> {
        match &self.kind {
            JsonKind::Number(n) => n.parse().ok(),
            _ => None,
        }
    }

    /// A signed integer value.
    pub fn as_i64(&self) -> Option<i64> {
        match &self.kind {
            JsonKind::Number(n) => n.parse().ok(),
            _ => None,
        }
    }
}

/// Parses `text` as one JSON value (surrounding whitespace allowed).
pub fn parse(text: &[u8]) -> Result<Json, JsonError> {
    let mut p = Parser { text, pos: 0 };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.pos != text.len() {
        return Err(p.err("trailing bytes after the JSON value"));
    }
    Ok(v)
}

/// `s` as a JSON string literal, escaped as QEMU's `JSONWriter` escapes it.
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
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, reason: impl Into<String>) -> JsonError {
        JsonError {
            offset: self.pos,
            reason: reason.into(),
        }
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.text.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn expect(&mut self, b: u8) -> Result<(), JsonError> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(format!("expected `{}`", b as char)))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, JsonError> {
        let start = self.pos;
        let kind = match self.peek() {
            None => return Err(self.err("unexpected end of JSON")),
            Some(b'{') => {
                if depth >= MAX_DEPTH {
                    return Err(self.err(format!("nested deeper than {MAX_DEPTH}")));
                }
                self.pos += 1;
                let mut members = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                } else {
                    loop {
                        self.ws();
                        let key_start = self.pos;
                        let key = self.string()?;
                        let key_span = key_start..self.pos;
                        self.ws();
                        self.expect(b':')?;
                        self.ws();
                        let value = self.value(depth + 1)?;
                        members.push(Member {
                            key,
                            key_span,
                            value,
                        });
                        self.ws();
                        match self.peek() {
                            Some(b',') => self.pos += 1,
                            Some(b'}') => {
                                self.pos += 1;
                                break;
                            }
                            _ => return Err(self.err("expected `,` or `}` in an object")),
                        }
                    }
                }
                JsonKind::Object(members)
            }
            Some(b'[') => {
                if depth >= MAX_DEPTH {
                    return Err(self.err(format!("nested deeper than {MAX_DEPTH}")));
                }
                self.pos += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                } else {
                    loop {
                        self.ws();
                        items.push(self.value(depth + 1)?);
                        self.ws();
                        match self.peek() {
                            Some(b',') => self.pos += 1,
                            Some(b']') => {
                                self.pos += 1;
                                break;
                            }
                            _ => return Err(self.err("expected `,` or `]` in an array")),
                        }
                    }
                }
                JsonKind::Array(items)
            }
            Some(b'"') => JsonKind::String(self.string()?),
            Some(b't') => {
                self.literal(b"true")?;
                JsonKind::Bool(true)
            }
            Some(b'f') => {
                self.literal(b"false")?;
                JsonKind::Bool(false)
            }
            Some(b'n') => {
                self.literal(b"null")?;
                JsonKind::Null
            }
            Some(b'-' | b'0'..=b'9') => JsonKind::Number(self.number()?),
            Some(b) => return Err(self.err(format!("unexpected byte {b:#04x}"))),
        };
        Ok(Json {
            span: start..self.pos,
            kind,
        })
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), JsonError> {
        if self.text.get(self.pos..self.pos + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn number(&mut self) -> Result<String, JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let digits = |p: &mut Self| {
            let s = p.pos;
            while let Some(b'0'..=b'9') = p.peek() {
                p.pos += 1;
            }
            p.pos - s
        };
        if digits(self) == 0 {
            return Err(self.err("a number needs digits"));
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if digits(self) == 0 {
                return Err(self.err("a fraction needs digits"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(self.err("an exponent needs digits"));
            }
        }
        // Only ASCII digits and signs were consumed.
        Ok(String::from_utf8_lossy(&self.text[start..self.pos]).into_owned())
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let Some(h) = self.text.get(self.pos..self.pos + 4) else {
            return Err(self.err("truncated \\u escape"));
        };
        let s = std::str::from_utf8(h).map_err(|_| self.err("bad \\u escape"))?;
        let v = u32::from_str_radix(s, 16).map_err(|_| self.err("bad \\u escape"))?;
        self.pos += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return Err(self.err("unterminated string"));
            };
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return Err(self.err("unterminated escape"));
                    };
                    self.pos += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                if self.text.get(self.pos..self.pos + 2) != Some(b"\\u") {
                                    return Err(self.err("lone surrogate"));
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err("bad low surrogate"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            char::from_u32(cp).ok_or_else(|| self.err("invalid code point"))?
                        }
                        _ => return Err(self.err("unknown escape")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                0..=0x1f => return Err(self.err("control byte in a string")),
                _ => out.push(b),
            }
        }
        String::from_utf8(out).map_err(|_| self.err("string is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_values() {
        let text =
            br#"{"page_size": 4096, "devices": [{"name": "a\"b", "x": [1, -2.5e3, true, null]}]}"#;
        let v = parse(text).unwrap();
        assert_eq!(v.span, 0..text.len());
        assert_eq!(v.get("page_size").unwrap().as_u64(), Some(4096));
        let dev = &v.get("devices").unwrap().as_array().unwrap()[0];
        assert_eq!(dev.get("name").unwrap().as_str(), Some("a\"b"));
        let name = dev.get("name").unwrap();
        assert_eq!(&text[name.span.clone()], br#""a\"b""#);
        let x = dev.get("x").unwrap().as_array().unwrap();
        assert_eq!(x.len(), 4);
        assert_eq!(&text[x[1].span.clone()], b"-2.5e3");
        assert_eq!(quote("a\"b\n"), r#""a\"b\n""#);
    }

    #[test]
    fn hostile_inputs_are_errors() {
        for bad in [
            &b""[..],
            b"{",
            b"[1,",
            b"\"abc",
            b"{\"a\" 1}",
            b"01x",
            b"[1] 2",
            b"\"\\ud800\"",
            b"-",
            b"\"\x01\"",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(parse(deep.as_bytes()).is_err());
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(ok.as_bytes()).is_ok());
    }
}
