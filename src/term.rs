//! Text for a terminal. Values from registrar mail (domains, subjects, payload strings)
//! may hold ESC, BEL or other control characters that would move the cursor, retitle
//! the window or ring the bell: everything printed for people goes through
//! [`printable`], which shows them escaped instead. Listings fit the terminal they are
//! printed on ([`width`], [`table`]), and times read the same everywhere ([`local_time`]).

mod table;

pub use table::{Column, Cut, Table, line};

use std::borrow::Cow;
use std::fmt::Write;
use std::io::IsTerminal;

use chrono::{DateTime, Local};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// How wide a listing may be: `None` (no limit) when stdout is not a terminal, so piped
/// output keeps every value whole, or when `wide` asks for everything; else `COLUMNS`
/// when set, else the terminal's own width (80 if it will not say).
pub fn width(wide: bool) -> Option<usize> {
    if wide || !std::io::stdout().is_terminal() {
        return None;
    }
    let columns = std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0);
    Some(columns.or_else(window_columns).unwrap_or(80))
}

/// The terminal's width as the kernel knows it (what `stty size` shows).
fn window_columns() -> Option<usize> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct passed, which we own.
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) };
    (rc == 0 && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

/// How many terminal columns `s` takes (a CJK character two, a combining mark none).
pub fn columns(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// `s` in at most `max` columns: whole when it fits, else cut with `…` where `how`
/// says (a domain keeps its end: `…ng-name.example.com`).
pub fn cut(s: &str, max: usize, how: Cut) -> Cow<'_, str> {
    if how == Cut::Never || columns(s) <= max {
        return Cow::Borrowed(s);
    }
    let room = max.saturating_sub(1);
    let mut used = 0;
    let keep = |c: &char| {
        used += c.width().unwrap_or(0);
        used <= room
    };
    let ellipsis = std::iter::once('…').take(max.min(1));
    Cow::Owned(match how {
        Cut::Start => {
            let tail: Vec<char> = s.chars().rev().take_while(keep).collect();
            ellipsis.chain(tail.into_iter().rev()).collect()
        }
        _ => s.chars().take_while(keep).chain(ellipsis).collect(),
    })
}

/// A line of prose (a digest's text) in lines of at most `width` columns, broken
/// between words; the lines after the first indented under it, so a wrapped line
/// reads as one. A word longer than a line is broken where it must.
pub fn wrap(line: &str, width: usize) -> Vec<String> {
    if columns(line) <= width {
        return vec![line.to_string()];
    }
    let lead = line.len() - line.trim_start().len();
    let indent = " ".repeat((lead + 6).min(width / 2));
    let mut out = Vec::new();
    let mut rest = line;
    loop {
        let prefix = if out.is_empty() { "" } else { indent.as_str() };
        let room = width - prefix.len();
        if columns(rest) <= room {
            out.push(format!("{prefix}{rest}"));
            return out;
        }
        // The last space that fits, else as many characters as fit (at least one).
        let mut used = 0;
        let mut space = None;
        let mut end = 0;
        for (i, c) in rest.char_indices() {
            used += c.width().unwrap_or(0);
            if used > room {
                break;
            }
            if c == ' ' && i > 0 {
                space = Some(i);
            }
            end = i + c.len_utf8();
        }
        let at = space.unwrap_or(end.max(rest.chars().next().map_or(1, char::len_utf8)));
        out.push(format!("{prefix}{}", rest[..at].trim_end()));
        rest = rest[at..].trim_start();
        if rest.is_empty() {
            return out;
        }
    }
}

/// A stored UTC time (RFC 3339) as people read it everywhere: local time to the
/// minute, `2026-11-20 14:30` (`TZ` decides the zone). Anything else is shown as it is.
pub fn local_time(stamp: &str) -> String {
    match DateTime::parse_from_rfc3339(stamp) {
        Ok(t) => t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string(),
        Err(_) => one_line(stamp).into_owned(),
    }
}

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

    #[test]
    fn a_long_value_is_cut_with_an_ellipsis_where_asked() {
        let domain = "a-very-long-testing-name.example.com";
        assert_eq!(cut(domain, 20, Cut::Start), "…ng-name.example.com");
        assert_eq!(cut(domain, 20, Cut::End), "a-very-long-testing…");
        assert_eq!(cut(domain, 20, Cut::Never), domain);
        assert!(matches!(cut("short", 5, Cut::End), Cow::Borrowed(_)));
        assert_eq!(columns(&cut(domain, 20, Cut::Start)), 20);
        // Wide characters count twice: never half a character past the edge.
        assert_eq!(cut("日本語ドメイン.jp", 8, Cut::End), "日本語…");
        assert_eq!(cut("日本語ドメイン.jp", 8, Cut::Start), "…イン.jp");
    }

    #[test]
    fn prose_wraps_between_words_under_its_first_line() {
        let line = "* example.de: failed (opensrs ZONE_CHECK_STATUS_CHANGE invalid, domain.zone_check) 2026-11-14 20:29";
        let lines = wrap(line, 40);
        assert!(lines.iter().all(|l| columns(l) <= 40), "{lines:#?}");
        assert_eq!(lines[0], "* example.de: failed (opensrs");
        assert!(
            lines[1..].iter().all(|l| l.starts_with("      ")),
            "{lines:#?}"
        );
        let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        assert_eq!(words(&lines.join(" ")), words(line));
        assert_eq!(wrap("short", 40), ["short"]);
        let long = wrap(&"x".repeat(30), 12);
        assert!(long.iter().all(|l| columns(l) <= 12), "{long:#?}");
    }

    #[test]
    fn times_read_as_local_minutes() {
        // The zone is the process's; UTC and an offset in the stamp both convert.
        let utc = local_time("2026-11-20T14:30:59.123Z");
        assert_eq!(utc.len(), "2026-11-20 14:30".len(), "{utc}");
        assert_eq!(local_time("not a time\x1b"), "not a time\\u{1b}");
    }
}
