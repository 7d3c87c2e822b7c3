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
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if needs_escape(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
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
