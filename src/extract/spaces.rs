//! The Unicode spaces mail clients put where the sender had ASCII white space: Outlook
//! indents with `&nbsp;` (U+00A0), word processors and web mail add thin, figure or
//! ideographic spaces and a stray byte order mark. Between the tokens of a payload
//! (never inside its strings) they are read as the white space they stand for.

/// Whether `c` is one of the spaces read as white space between payload tokens:
/// U+00A0, U+2000–U+200A, U+202F, U+205F, U+3000 and U+FEFF.
pub fn is_unicode_space(c: char) -> bool {
    matches!(
        c,
        '\u{a0}' | '\u{2000}'..='\u{200a}' | '\u{202f}' | '\u{205f}' | '\u{3000}' | '\u{feff}'
    )
}

/// The UTF-8 length of the Unicode space `bytes` starts with, or 0.
pub fn unicode_space_len(bytes: &[u8]) -> usize {
    match bytes {
        [0xc2, 0xa0, ..] => 2,
        [0xe2, 0x80, 0x80..=0x8a | 0xaf, ..]
        | [0xe2, 0x81, 0x9f, ..]
        | [0xe3, 0x80, 0x80, ..]
        | [0xef, 0xbb, 0xbf, ..] => 3,
        _ => 0,
    }
}

/// Whether the first `end` bytes of `s` (or all of it) hold a Unicode space.
pub fn has_unicode_space(s: &str, end: usize) -> bool {
    let bytes = &s.as_bytes()[..end.min(s.len())];
    // Every such space starts with one of these lead bytes.
    memchr::memchr3_iter(0xc2, 0xe2, 0xe3, bytes)
        .chain(memchr::memchr_iter(0xef, bytes))
        .any(|i| unicode_space_len(&bytes[i..]) > 0)
}

/// `s` without leading and trailing white space, Unicode spaces included.
pub fn trim(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || is_unicode_space(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_space_is_recognised_by_char_and_by_bytes() {
        let spaces = "\u{a0}\u{2000}\u{2005}\u{200a}\u{202f}\u{205f}\u{3000}\u{feff}";
        for c in spaces.chars() {
            assert!(is_unicode_space(c), "{c:?}");
            let mut buf = [0u8; 4];
            let encoded = c.encode_utf8(&mut buf);
            assert_eq!(
                unicode_space_len(encoded.as_bytes()),
                encoded.len(),
                "{c:?}"
            );
        }
    }

    #[test]
    fn letters_sharing_a_lead_byte_are_not_spaces() {
        for s in ["é", "€", "\u{200b}", "\u{2028}", "ア", "\u{fffd}", "x"] {
            assert_eq!(unicode_space_len(s.as_bytes()), 0, "{s:?}");
            assert!(!has_unicode_space(s, s.len()), "{s:?}");
        }
        assert!(has_unicode_space("a\u{a0}b", 3));
        assert!(!has_unicode_space("a\u{a0}b", 1));
    }

    #[test]
    fn trim_removes_unicode_spaces_at_the_ends_only() {
        assert_eq!(trim("\u{feff}\u{a0} a\u{a0}b \u{3000}"), "a\u{a0}b");
    }
}
