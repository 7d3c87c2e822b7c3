//! `format=flowed` text (RFC 3676), as Thunderbird and Apple Mail send it, turned back
//! into the lines the sender wrote before any extractor reads it. A flowed mail
//! soft-breaks long lines (a JSON payload, an event id, a domain) by ending them in a
//! space; read as fixed lines, that space and the break end up inside the payload.

use mail_parser::ContentType;

/// How a text part's lines are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Every line break is the sender's (the default; also `format=fixed`).
    Fixed,
    /// `format=flowed`: a line ending in a space continues on the next line. With
    /// `DelSp=yes` that space was added by the sender's client and is deleted.
    Flowed { delsp: bool },
}

impl Flow {
    /// The flow of a `text/plain` part from its `Content-Type` parameters (names and
    /// values compared without regard to case, as RFC 2045 and RFC 3676 ask).
    pub fn of(ct: Option<&ContentType<'_>>) -> Flow {
        let Some(ct) = ct else {
            return Flow::Fixed;
        };
        let plain = ct.ctype().eq_ignore_ascii_case("text")
            && ct.subtype().is_none_or(|s| s.eq_ignore_ascii_case("plain"));
        let param = |name: &str| {
            ct.attributes()
                .unwrap_or_default()
                .iter()
                .find(|a| a.name.eq_ignore_ascii_case(name))
                .map(|a| a.value.trim())
        };
        let flowed = param("format").is_some_and(|v| v.eq_ignore_ascii_case("flowed"));
        if !plain || !flowed {
            return Flow::Fixed;
        }
        Flow::Flowed {
            delsp: param("delsp").is_some_and(|v| v.eq_ignore_ascii_case("yes")),
        }
    }
}

/// The text with soft line breaks joined (RFC 3676 section 4.2): a line whose content
/// ends in a space is joined with the next line of the same quote depth, less that
/// space when `delsp`; one leading space (space-stuffing, section 4.4) is removed; the
/// signature separator `-- ` is never flowed. Quoted lines keep their depth as a `> `
/// prefix per level, so quote markers still say what was quoted. Linear in the text.
pub fn unflow(text: &str, delsp: bool) -> String {
    let mut out = String::with_capacity(text.len());
    // The quote depth of the paragraph the previous line left open, if it was flowed.
    let mut open: Option<usize> = None;
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let depth = line.bytes().take_while(|&b| b == b'>').count();
        let content = &line[depth..];
        let content = content.strip_prefix(' ').unwrap_or(content);
        let flowed = content.ends_with(' ') && content != "-- ";
        // A flowed line followed by a line of another depth ends its paragraph.
        if open != Some(depth) {
            if i > 0 {
                out.push('\n');
            }
            if depth > 0 {
                (0..depth).for_each(|_| out.push('>'));
                out.push(' ');
            }
        }
        let content = match content.strip_suffix(' ') {
            Some(kept) if flowed && delsp => kept,
            _ => content,
        };
        out.push_str(content);
        open = flowed.then_some(depth);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MimeHeaders;

    fn flow_of(content_type: &str) -> Flow {
        let raw = format!("Subject: x\r\n{content_type}\r\n\r\nbody");
        let message = crate::extract::parser().parse(raw.as_bytes()).unwrap();
        Flow::of(message.parts[0].content_type())
    }

    #[test]
    fn flow_parameters_are_read_without_regard_to_case() {
        assert_eq!(
            flow_of("Content-Type: text/plain; Format=Flowed; DelSp=Yes"),
            Flow::Flowed { delsp: true }
        );
        assert_eq!(
            flow_of("Content-Type: TEXT/Plain; format=\"flowed\"; delsp=no"),
            Flow::Flowed { delsp: false }
        );
        assert_eq!(
            flow_of("Content-Type: text/plain; format=flowed"),
            Flow::Flowed { delsp: false }
        );
        assert_eq!(
            flow_of("Content-Type: text/plain; format=fixed"),
            Flow::Fixed
        );
        assert_eq!(
            flow_of("Content-Type: text/html; format=flowed"),
            Flow::Fixed
        );
        assert_eq!(flow_of("X-No-Content-Type: 1"), Flow::Fixed);
    }

    #[test]
    fn a_soft_break_keeps_its_space_without_delsp() {
        assert_eq!(
            unflow("The quick brown \r\nfox jumps.\r\nNext line.\r\n", false),
            "The quick brown fox jumps.\nNext line.\n"
        );
    }

    #[test]
    fn delsp_yes_deletes_the_space_a_soft_break_added() {
        assert_eq!(
            unflow("\"event_id\":\"173be0ca4bf4d \r\n30cd25ce\"\r\n", true),
            "\"event_id\":\"173be0ca4bf4d30cd25ce\"\n"
        );
        // Only that one space: the sender's own space before it stays.
        assert_eq!(unflow("a  \r\nb", true), "a b");
    }

    #[test]
    fn a_hard_break_stays_a_break() {
        assert_eq!(unflow("one\ntwo\n\nthree", true), "one\ntwo\n\nthree");
    }

    #[test]
    fn space_stuffing_is_removed() {
        // Section 4.4: lines starting with a space, "From " or ">" are stuffed.
        assert_eq!(
            unflow("  indented\n From here\n >not a quote", false),
            " indented\nFrom here\n>not a quote"
        );
    }

    #[test]
    fn only_lines_of_the_same_quote_depth_join() {
        let text = "> quoted and \n> flowed \n>> deeper \n>> still\nown text";
        assert_eq!(
            unflow(text, false),
            "> quoted and flowed \n>> deeper still\nown text"
        );
    }

    #[test]
    fn quoted_lines_are_unstuffed_after_the_quote_marks() {
        assert_eq!(unflow(">  two spaces\n>>x", false), ">  two spaces\n>> x");
    }

    #[test]
    fn the_signature_separator_is_not_flowed() {
        assert_eq!(
            unflow("body\n-- \nSupport team", true),
            "body\n-- \nSupport team"
        );
        assert_eq!(
            unflow("> body\n> -- \n> Support", true),
            "> body\n> -- \n> Support"
        );
    }

    #[test]
    fn a_flowed_last_line_ends_the_text() {
        assert_eq!(unflow("end \n", true), "end");
        assert_eq!(unflow("", true), "");
    }
}
