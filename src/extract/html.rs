//! An HTML part as the text a reader sees, for mail whose only body is HTML (Outlook
//! forwards, web mail): `<br>` and block elements (`<p>`, `<div>`, `<tr>`, …) end
//! lines, runs of white space collapse to one space, entities are decoded, and markup,
//! comments and the content of `head`, `style`, `script` and `template` are dropped.
//! mail-parser's `html_to_text` breaks lines only at a bare `<br>` and `</p>`, so an
//! Outlook forward (`<div>`s, `<br clear=all>`) became one long line.
//!
//! `&nbsp;` stays U+00A0, as HTML wants; the payload parsers read it as white space
//! between tokens ([`super::spaces`]). One pass, linear in the input.

use mail_parser::decoders::html::add_html_token;

/// Elements that begin and end a line of text.
const BLOCKS: &[&str] = &[
    "address",
    "article",
    "blockquote",
    "center",
    "dd",
    "div",
    "dl",
    "dt",
    "fieldset",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "tr",
    "ul",
];

/// Elements whose content is not text a reader sees.
const HIDDEN: &[&str] = &["head", "script", "style", "template"];

/// The text of an HTML document or fragment.
pub fn to_text(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let bytes = html.as_bytes();
    let mut out = Text::default();
    // Hidden elements found never closed: searching again from further on is futile
    // (and would make many unclosed `<style>`s quadratic).
    let mut unclosed = [false; HIDDEN.len()];
    let mut pre = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'<' if lower[i..].starts_with("<!--") => {
                i = memchr::memmem::find(&bytes[i + 4..], b"-->")
                    .map_or(bytes.len(), |e| i + 4 + e + 3);
            }
            b'<' => match tag_at(&lower, i) {
                Some(tag) => {
                    i = tag.end;
                    let hidden = HIDDEN.iter().position(|h| *h == tag.name);
                    if let Some(h) = hidden.filter(|&h| !tag.closing && !unclosed[h]) {
                        let close = format!("</{}", HIDDEN[h]);
                        match memchr::memmem::find(&lower.as_bytes()[i..], close.as_bytes()) {
                            Some(at) => i = tag_at(&lower, i + at).map_or(i + at + 1, |t| t.end),
                            None => unclosed[h] = true,
                        }
                    } else if tag.name == "br" {
                        out.hard_break();
                    } else if BLOCKS.contains(&tag.name) {
                        out.line_end();
                        if tag.name == "pre" {
                            pre = if tag.closing {
                                pre.saturating_sub(1)
                            } else {
                                pre + 1
                            };
                        }
                    } else if matches!(tag.name, "td" | "th") {
                        out.space();
                    }
                }
                None => {
                    out.push("<");
                    i += 1;
                }
            },
            b'&' => {
                let entity = bytes[i + 1..]
                    .iter()
                    .take(32)
                    .position(|&b| !(b.is_ascii_alphanumeric() || b == b'#'))
                    .filter(|&n| n > 0 && bytes[i + 1 + n] == b';');
                match entity {
                    Some(n) => {
                        out.flush_space();
                        add_html_token(&mut out.s, &bytes[i..i + n + 2], false);
                        i += n + 2;
                    }
                    None => {
                        out.push("&");
                        i += 1;
                    }
                }
            }
            b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' if pre == 0 => {
                out.space();
                i += 1;
            }
            // Inside `<pre>`: white space as written.
            b' ' | b'\t' | b'\x0c' => {
                out.push(&html[i..i + 1]);
                i += 1;
            }
            b'\r' => i += 1,
            b'\n' => {
                out.hard_break();
                i += 1;
            }
            _ => {
                // A run of ordinary text: up to the next byte that means something.
                let run = bytes[i..]
                    .iter()
                    .position(|b| matches!(b, b'<' | b'&' | b' ' | b'\t' | b'\r' | b'\n' | b'\x0c'))
                    .map_or(bytes.len(), |n| i + n);
                out.push(&html[i..run]);
                i = run;
            }
        }
    }
    out.s
}

/// The text being written: white space is held back until more text follows, so lines
/// neither begin nor end with it.
#[derive(Default)]
struct Text {
    s: String,
    space: bool,
}

impl Text {
    fn at_line_start(&self) -> bool {
        self.s.is_empty() || self.s.ends_with('\n')
    }

    fn flush_space(&mut self) {
        if std::mem::take(&mut self.space) && !self.at_line_start() {
            self.s.push(' ');
        }
    }

    fn push(&mut self, text: &str) {
        self.flush_space();
        self.s.push_str(text);
    }

    fn space(&mut self) {
        self.space = true;
    }

    /// `<br>`: always a new line (two in a row leave an empty line).
    fn hard_break(&mut self) {
        self.space = false;
        self.s.push('\n');
    }

    /// A block's start or end: a new line unless one was just begun.
    fn line_end(&mut self) {
        self.space = false;
        if !self.at_line_start() {
            self.s.push('\n');
        }
    }
}

/// A tag at `at` (which holds `<`) in the lower-cased document.
struct Tag<'a> {
    name: &'a str,
    closing: bool,
    /// Just past its `>` (or the end of the document).
    end: usize,
}

/// The tag starting at `at`, or None when the `<` opens none (`a < b`, `<3`). Markup
/// declarations and processing instructions (`<!DOCTYPE …>`, `<?xml …?>`) are tags
/// without a name. Quoted attribute values may hold `>`.
fn tag_at(lower: &str, at: usize) -> Option<Tag<'_>> {
    let b = lower.as_bytes();
    let mut i = at + 1;
    let closing = b.get(i) == Some(&b'/');
    if closing {
        i += 1;
    }
    let start = i;
    match b.get(i) {
        Some(c) if c.is_ascii_alphabetic() => {}
        Some(b'!' | b'?') if !closing => {}
        _ => return None,
    }
    while b
        .get(i)
        .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b':' | b'-' | b'_'))
    {
        i += 1;
    }
    let name = &lower[start..i];
    let mut quote = None;
    while let Some(&c) = b.get(i) {
        i += 1;
        match (quote, c) {
            (None, b'>') => break,
            (None, b'"' | b'\'') if b[i - 2] == b'=' || b[i - 2].is_ascii_whitespace() => {
                quote = Some(c)
            }
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
    }
    Some(Tag {
        name,
        closing,
        end: i,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn br_p_and_div_end_lines() {
        let html = "<div><p class=MsoNormal>{<o:p></o:p></p><p class=MsoNormal>&nbsp;&nbsp;&quot;a&quot;: 1<o:p></o:p></p></div><div>}</div>x<br clear=all>y<br/>z";
        assert_eq!(to_text(html), "{\n\u{a0}\u{a0}\"a\": 1\n}\nx\ny\nz");
    }

    #[test]
    fn white_space_collapses_and_lines_are_trimmed() {
        assert_eq!(
            to_text("<p>  one\r\n   two  </p>\n<p>\tthree </p>"),
            "one two\nthree\n"
        );
    }

    #[test]
    fn hidden_content_and_comments_are_dropped() {
        let html = "<html><head><title>t</title><style><!-- p {x} --></style></head><body><!-- c -->a<script>b</SCRIPT>c</body></html>";
        assert_eq!(to_text(html), "ac");
    }

    #[test]
    fn pre_keeps_its_lines_and_spaces() {
        assert_eq!(to_text("<pre>a\n  b</pre>c"), "a\n  b\nc");
    }

    #[test]
    fn stray_angle_brackets_and_ampersands_are_text() {
        assert_eq!(to_text("a < b & c <3 &amp; d&e"), "a < b & c <3 & d&e");
        assert_eq!(to_text("x <a href=\"1>2\">y</a>"), "x y");
    }

    #[test]
    fn many_unclosed_hidden_elements_stay_linear() {
        let html = "<style>".repeat(50_000) + &"x".repeat(100_000);
        let started = std::time::Instant::now();
        let text = to_text(&html);
        assert_eq!(text.len(), 100_000);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
