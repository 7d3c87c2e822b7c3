//! Registrar API channels: each fetches what a registrar has queued, hands the reply
//! body and where it came from to the one ingest path, and acknowledges only what is
//! committed. Protocol text (requests, replies, signatures) sits apart from the HTTP
//! that carries it, so it can be tested without a network.

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
