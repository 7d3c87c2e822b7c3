//! The channels, one file each: IMAP folders (`imap`), local folders, mbox files and
//! standard input (`files`), registrar APIs polled (`poll`, with the protocol text of
//! each registrar in `poll_opensrs` and `poll_autodns`) and pushed to (`push`). Each
//! hands raw bytes and where it found them (`crate::source::Source`) to the one ingest
//! path (`crate::pipeline`), and acknowledges (IMAP cursor, registrar ACK, HTTP 200)
//! only what is committed. Channels know nothing of rules or storage.

pub mod files;
pub mod imap;
pub mod poll;
pub mod poll_autodns;
pub mod poll_opensrs;
pub mod push;

/// `s` with the XML special characters escaped, for text inside a request element.
pub(crate) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}
