//! Text for a terminal: values from registrar mail (domains, subjects, payload
//! strings) may hold ESC, BEL or other control characters that would move the cursor,
//! retitle the window or ring the bell. Everything printed for people goes through
//! [`printable`], which shows them escaped instead.

use std::borrow::Cow;
use std::fmt::Write;

/// `s` with every control character except newline and tab shown as `\u{1b}`: C0
/// (including CR, which could overwrite a line), DEL and C1. Borrowed when there is
/// nothing to escape.
pub fn printable(s: &str) -> Cow<'_, str> {
    escape(s, |c| c.is_control() && c != '\n' && c != '\t')
}

/// [`printable`] for one cell of a table: newline and tab escaped too (`\n`, `\t`), so
/// a value can never break a listing's lines or columns.
pub fn one_line(s: &str) -> Cow<'_, str> {
    escape(s, char::is_control)
}

fn escape(s: &str, needs_escape: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(&needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '\n' if needs_escape(c) => out.push_str("\\n"),
            '\t' if needs_escape(c) => out.push_str("\\t"),
            _ if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            _ => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_text_is_kept() {
        assert!(matches!(printable("plain ünïcode\n\tok"), Cow::Borrowed(_)));
        assert_eq!(
            printable("evil\x1b]0;owned\x07.example\r"),
            "evil\\u{1b}]0;owned\\u{7}.example\\u{d}"
        );
        assert_eq!(
            printable("a\u{9b}31mb\x00\x7f"),
            "a\\u{9b}31mb\\u{0}\\u{7f}"
        );
    }
}
