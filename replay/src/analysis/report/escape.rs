//! Escaping of strings that come from the inputs (trace header strings such as the guest
//! and the workload, file names, stage labels, error messages): in plain text every
//! control character is shown as an escape (`\n`, `\u{1b}`), so nothing reaches the
//! terminal as a control sequence and no newline forges a row; in Markdown the
//! metacharacters are backslash-escaped as well, so a string is never markup, a link or a
//! table cell boundary. JSON needs nothing (serde_json escapes), HTML is escaped by maud.

use std::borrow::Cow;

/// `s` with every control character (C0, DEL, C1) written as an escape.
pub fn text(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            o.extend(c.escape_default());
        } else {
            o.push(c);
        }
    }
    Cow::Owned(o)
}

/// Characters with an inline meaning in (CommonMark / GitHub) Markdown: emphasis, code,
/// links and images, HTML and entities, table cells, strike-through, autolinks (`:`).
/// Escaped strings never start a line in the report, so line-start markers (`-`, `1.`)
/// need nothing; `|` is escaped by the table renderer (in every cell).
const MARKDOWN_META: &[char] = &[
    '\\', '`', '*', '_', '{', '}', '[', ']', '<', '>', '(', ')', '#', '+', '!', '~', '&', ':', '$',
];

/// `s` for Markdown: control characters escaped as in [`text`], then every Markdown
/// metacharacter preceded by a backslash.
pub fn markdown(s: &str) -> String {
    let t = text(s);
    let mut o = String::with_capacity(t.len() + 8);
    for c in t.chars() {
        if MARKDOWN_META.contains(&c) {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

/// `s` escaped for the format (`markdown` or plain text).
pub fn cell(s: &str, markdown: bool) -> String {
    if markdown {
        self::markdown(s)
    } else {
        text(s).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_pass() {
        let forged = "linux\u{1b}[31m\nfake | row\r\u{9b}2J\u{7f}";
        let t = text(forged);
        assert!(!t.chars().any(char::is_control), "{t:?}");
        assert_eq!(t, "linux\\u{1b}[31m\\nfake | row\\r\\u{9b}2J\\u{7f}");
        assert_eq!(text("plain"), Cow::Borrowed("plain"));
    }

    #[test]
    fn markdown_metacharacters_are_escaped() {
        let m = markdown("a *c* [x](http://e) <b>\n# h");
        assert_eq!(m, "a \\*c\\* \\[x\\]\\(http\\://e\\) \\<b\\>\\\\n\\# h");
        assert!(!m.contains('\n'));
    }
}
