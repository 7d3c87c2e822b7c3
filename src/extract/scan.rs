//! Finds machine-readable payloads inside one decoded text: JSON objects, Python dict
//! literals, XML documents (AutoDNS, EPP, OPS), the AutoDNS "Standard" key-value blocks
//! and the Gandi test sentence, wherever they sit between preamble and signature.

use serde_json::Value;

use super::xml::{self, Element};
use super::{pyliteral, spaces};

/// A payload found in the text, not yet interpreted.
#[derive(Debug, Clone)]
pub enum Payload {
    Json(Value),
    Python(Value),
    Xml(Element),
    /// XML read only by the tolerant second pass ([`xml::parse_document_tolerant`]).
    RecoveredXml(Element),
    /// AutoDNS "Standard" email text: the `<system>`/`<reply>` blocks.
    KeyValue(Value),
    /// `Hello, this is a Gandi Notification test message for notification NAME`
    GandiTest {
        name: String,
        sentence: String,
    },
}

/// What one text held: payloads, and why candidates that looked like payloads failed.
#[derive(Debug, Default)]
pub struct Found {
    pub payloads: Vec<Payload>,
    pub errors: Vec<String>,
    /// Bytes the payload parsers examined, over every candidate: what the work budget
    /// ([`WORK_FACTOR`]) bounds.
    pub examined: usize,
}

/// How many candidates that turn out not to be payloads one text may have (each leaves
/// an error behind). Payloads found do not count: a poll reply of thousands of events
/// is read whole (and then meets `[limits] max_events_per_message`).
const MAX_FAILED: usize = 512;

/// The parsers may examine at most this many times the text's length (plus
/// [`WORK_SLACK`]) over all candidates. A failed candidate can read far ahead (to the
/// end of its window, looking for a closing brace or tag) without that text being
/// skipped afterwards, since a real payload may start inside it; this budget keeps
/// such texts linear: a hostile text costs a few passes over itself, never one per
/// candidate.
pub const WORK_FACTOR: usize = 4;
pub const WORK_SLACK: usize = 2 * WINDOW;

const XML_ROOTS: &[&str] = &["<?xml", "<!DOCTYPE", "<OPS_envelope", "<response", "<epp"];

pub fn scan(text: &str, found: &mut Found) {
    scan_structured(text, found);
    if let Some(kv) = super::autodns_text::blocks(text) {
        found.payloads.push(Payload::KeyValue(kv));
    }
    if let Some(test) = gandi_test(text) {
        found.payloads.push(test);
    }
}

fn scan_structured(text: &str, found: &mut Found) {
    let bytes = text.as_bytes();
    let budget = found.examined + WORK_FACTOR * text.len() + WORK_SLACK;
    let mut pos = 0;
    let mut attempts = 0;
    let mut failed = 0;
    while let Some(off) = memchr::memchr2(b'{', b'<', &bytes[pos..]) {
        let start = pos + off;
        pos = start + 1;
        let rest = &text[start..];
        let is_object = bytes[start] == b'{';
        if is_object {
            if !looks_like_object(rest) {
                continue;
            }
        } else if !XML_ROOTS.iter().any(|r| starts_with_ignore_case(rest, r)) {
            continue;
        }
        if failed >= MAX_FAILED {
            found.errors.push(format!(
                "gave up after {MAX_FAILED} payload candidates that were not payloads"
            ));
            return;
        }
        if found.examined >= budget {
            found.errors.push(format!(
                "gave up after {attempts} payload candidates that read {} times the text",
                WORK_FACTOR
            ));
            return;
        }
        attempts += 1;
        let payloads = found.payloads.len();
        let attempt = if is_object {
            object_at(rest, found)
        } else {
            xml_at(rest, found)
        };
        if found.payloads.len() == payloads {
            failed += 1;
        }
        found.examined += attempt.reach;
        pos = start + attempt.skip.max(1);
    }
}

/// What trying one candidate did: how far to go on, and how far the parsers read.
struct Attempt {
    /// Bytes to skip from the candidate's start (past a payload, or past what a
    /// failed parse proved is not one).
    skip: usize,
    /// Bytes examined from the candidate's start.
    reach: usize,
}

fn xml_at(rest: &str, found: &mut Found) -> Attempt {
    let rest = window(rest);
    match xml::parse_document(rest) {
        Ok((root, used)) => {
            found.payloads.push(Payload::Xml(root));
            Attempt {
                skip: used,
                reach: used,
            }
        }
        Err(e) => {
            let reached = match &e {
                xml::XmlError::Malformed { offset, .. } if *offset > 0 => {
                    (*offset as usize).min(rest.len())
                }
                _ => rest.len(),
            };
            // A small defect (a mistyped closing tag): read again, forgivingly, and say
            // so. Hostile documents fail the second pass too.
            if matches!(e, xml::XmlError::Malformed { .. })
                && let Ok((root, used)) = xml::parse_document_tolerant(rest)
            {
                found.payloads.push(Payload::RecoveredXml(root));
                return Attempt {
                    skip: used,
                    reach: reached + used,
                };
            }
            found.errors.push(e.to_string());
            // A broken document is not re-read from inside.
            let (skip, searched) = skip_to_close(rest);
            Attempt {
                skip,
                reach: reached.max(searched),
            }
        }
    }
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// `{` followed (after white space, Unicode spaces included) by a quote or `u'`/`u"`:
/// the start of an object.
fn looks_like_object(rest: &str) -> bool {
    let mut it = skip_white(&rest[1..]).bytes();
    match it.next() {
        Some(b'"' | b'\'') => true,
        Some(b'u' | b'U') => matches!(it.next(), Some(b'"' | b'\'')),
        _ => false,
    }
}

/// `s` from its first character that is neither white space nor a Unicode space.
fn skip_white(s: &str) -> &str {
    s.trim_start_matches(|c: char| c.is_whitespace() || spaces::is_unicode_space(c))
}

/// Parses the object at the start of `rest` as JSON, then as a repaired JSON (line
/// breaks inside strings removed: hard-wrapped mail; Unicode spaces between tokens read
/// as spaces: Outlook's `&nbsp;`), then as a Python literal. After
/// a failure it goes on past everything the parsers accepted, so no byte is parsed
/// twice as part of a value; `reach` says how far they read.
fn object_at(rest: &str, found: &mut Found) -> Attempt {
    let rest = window(rest);
    let done = |skip: usize, reach: usize| Attempt {
        skip,
        reach: reach.max(skip),
    };
    // `{'` and `{u'` are Python literals (Gandi): no JSON attempt.
    let first = skip_white(&rest[1..]).as_bytes();
    if matches!(first, [b'\'', ..] | [b'u' | b'U', b'\'', ..]) {
        return match pyliteral::parse_prefix(rest) {
            Ok((v @ Value::Object(_), used)) => {
                found.payloads.push(Payload::Python(v));
                done(used, used)
            }
            Ok((_, used)) => done(used, used),
            Err(e) => {
                found.errors.push(e.to_string());
                done(e.offset.max(1), e.offset)
            }
        };
    }
    let (json_err, json_reached) = match json_prefix(rest) {
        Ok((v, used)) => {
            found.payloads.push(Payload::Json(v));
            return done(used, used);
        }
        Err(e) => e,
    };
    let mut reach = json_reached;
    // Hard-wrapped strings, or Unicode spaces (Outlook's `&nbsp;`) between tokens up
    // to where the parser stopped (plus the longest such character).
    if json_err.starts_with("invalid JSON: control character")
        || spaces::has_unicode_space(rest, json_reached + 3)
    {
        match repaired_json(rest) {
            Ok((v, used)) => {
                found.payloads.push(Payload::Json(v));
                return done(used, used);
            }
            Err(repair_reached) => reach = reach.max(repair_reached),
        }
    }
    match pyliteral::parse_prefix(rest) {
        Ok((v @ Value::Object(_), used)) => {
            found.payloads.push(Payload::Python(v));
            done(used, used.max(reach))
        }
        Ok((_, used)) => done(used.max(json_reached), used.max(reach)),
        Err(py) => {
            found.errors.push(json_err);
            done(json_reached.max(py.offset), reach.max(py.offset))
        }
    }
}

/// Payloads are small; no candidate is read past this many bytes.
const WINDOW: usize = 1 << 20;

/// The most the payload parsers may examine of a text of `len` bytes: the budget plus the
/// one candidate that may start just under it (and read at most a window).
pub fn work_bound(len: usize) -> usize {
    WORK_FACTOR * len + WORK_SLACK + WINDOW
}

fn window(s: &str) -> &str {
    if s.len() <= WINDOW {
        return s;
    }
    let mut end = WINDOW;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// One JSON value at the start of `s`, and the bytes it used; on failure a message and
/// the byte offset the parser reached.
fn json_prefix(s: &str) -> Result<(Value, usize), (String, usize)> {
    let mut stream = serde_json::Deserializer::from_str(s).into_iter::<Value>();
    match stream.next() {
        Some(Ok(v)) => Ok((v, stream.byte_offset())),
        Some(Err(e)) => {
            let offset = offset_of(s, e.line(), e.column());
            let what = if e.is_eof() {
                "truncated JSON".to_string()
            } else if e.to_string().contains("recursion limit") {
                "JSON nesting too deep".to_string()
            } else {
                format!("invalid JSON: {e}")
            };
            Err((what, offset.max(1)))
        }
        None => Err(("empty JSON".into(), 1)),
    }
}

/// The byte offset of a 1-based line and column. Only the lines before `line` are
/// searched (a failure on the first line of a 1 MiB window costs nothing).
fn offset_of(s: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for _ in 1..line {
        match memchr::memchr(b'\n', &s.as_bytes()[offset..]) {
            Some(i) => offset += i + 1,
            None => return s.len(),
        }
    }
    (offset + column).min(s.len())
}

/// JSON as a mail client left it, repaired up to the balancing brace: CR/LF inside
/// strings dropped (lines broken by the client), Unicode spaces between tokens read
/// as spaces (inside strings they are kept). On failure, how many bytes it read.
fn repaired_json(rest: &str) -> Result<(Value, usize), usize> {
    let mut out = String::with_capacity(rest.len().min(1 << 16));
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut changed = false;
    for (i, c) in rest.char_indices() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            } else if c == '\r' || c == '\n' {
                changed = true;
                continue;
            }
            out.push(c);
            continue;
        }
        match c {
            '"' => in_string = true,
            c if spaces::is_unicode_space(c) => {
                out.push(' ');
                changed = true;
                continue;
            }
            '{' | '[' => depth += 1,
            '}' | ']' => {
                depth = depth.checked_sub(1).ok_or(i + 1)?;
                if depth == 0 {
                    out.push(c);
                    if !changed {
                        return Err(i + 1);
                    }
                    let v = serde_json::from_str(&out).map_err(|_| i + 1)?;
                    return Ok((v, i + 1));
                }
            }
            _ => {}
        }
        out.push(c);
        if depth > 128 {
            return Err(i + 1);
        }
    }
    Err(rest.len())
}

/// After a broken XML document, go on after its root's closing tag if there is one,
/// else after the opening `<`. Also returns how many bytes the search read.
fn skip_to_close(rest: &str) -> (usize, usize) {
    let name: String = rest[1..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-'))
        .collect();
    if name.is_empty() {
        return (1, 1);
    }
    let close = format!("</{name}>");
    match memchr::memmem::find(rest.as_bytes(), close.as_bytes()) {
        Some(i) => (i + close.len(), i + close.len()),
        None => (1, rest.len()),
    }
}

const GANDI_TEST: &str = "Gandi Notification test message for notification ";

fn gandi_test(text: &str) -> Option<Payload> {
    let at = text.find(GANDI_TEST)?;
    let after = &text[at + GANDI_TEST.len()..];
    let name: String = after
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect();
    let name = name.trim_end_matches('.').to_string();
    if name.is_empty() {
        return None;
    }
    // The sentence as Gandi wrote it, from "Hello" when present.
    let begin = text[..at]
        .rfind("Hello")
        .filter(|h| at - h < 40)
        .unwrap_or(at);
    let sentence = format!("{}{}{}", &text[begin..at], GANDI_TEST, name);
    Some(Payload::GandiTest { name, sentence })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Found {
        let mut f = Found::default();
        scan(text, &mut f);
        f
    }

    #[test]
    fn json_between_preamble_and_signature() {
        let f = run("Hello {name},\n\n{\"a\": {\"b\": 1}}\n-- \nSupport {team}\n");
        assert_eq!(f.payloads.len(), 1);
        assert!(matches!(&f.payloads[0], Payload::Json(v) if v["a"]["b"] == 1));
    }

    #[test]
    fn two_objects_in_a_row() {
        let f = run("{\"a\":1}\n\n{\"b\":2}");
        assert_eq!(f.payloads.len(), 2);
    }

    #[test]
    fn hard_wrapped_json_is_repaired() {
        let f = run("{\"note\": \"a long\nline\", \"x\": 1}");
        assert!(matches!(&f.payloads[0], Payload::Json(v) if v["note"] == "a longline"));
    }

    #[test]
    fn unicode_spaces_between_json_tokens_are_white_space_and_kept_in_strings() {
        // Outlook's HTML-to-text: `&nbsp;` indentation, an em space, a byte order mark.
        let f = run("{\n\u{a0}\u{a0} \"note\":\u{a0}\"a\u{a0}b\",\u{2003}\"n\": 1\u{feff}}");
        assert!(
            matches!(&f.payloads[0], Payload::Json(v) if v["note"] == "a\u{a0}b" && v["n"] == 1),
            "{:?} {:?}",
            f.payloads,
            f.errors
        );
    }

    #[test]
    fn unicode_spaces_between_python_literal_tokens_are_white_space() {
        let f = run("{\u{a0}'a':\u{3000}u'x\u{a0}y',\u{a0}\n\u{a0}'b': None}");
        assert!(
            matches!(&f.payloads[0], Payload::Python(v) if v["a"] == "x\u{a0}y" && v["b"].is_null()),
            "{:?} {:?}",
            f.payloads,
            f.errors
        );
    }

    #[test]
    fn python_literal_and_truncation() {
        let f = run("{'a': u'b', 'c': None}");
        assert!(matches!(&f.payloads[0], Payload::Python(v) if v["a"] == "b"));
        let f = run("{\"object_data\":{\"domain_name\":\"x.com\"");
        assert!(f.payloads.is_empty());
        assert_eq!(f.errors, vec!["truncated JSON".to_string()]);
    }

    #[test]
    fn deep_nesting_is_linear_and_refused() {
        let deep = "{\"a\":".repeat(100_000);
        let f = run(&deep);
        assert!(f.payloads.is_empty());
        assert!(f.errors[0].contains("nesting too deep"), "{:?}", f.errors);
    }

    /// Texts built to make a candidate parser read far and fail, many times over.
    fn adversarial(filler: usize) -> Vec<(&'static str, String)> {
        let pad = "x".repeat(filler);
        vec![
            ("open objects", "{\"".repeat(20_000) + &pad),
            (
                "open objects, line break",
                "{\"".repeat(20_000) + "\n" + &pad,
            ),
            ("broken strings", "{\"a\n".repeat(20_000) + &pad),
            ("python dicts", "{'".repeat(20_000) + &pad),
            (
                "spread broken strings",
                format!("{{\"\n{}", "x".repeat(filler / 512)).repeat(512),
            ),
            ("unclosed XML", "<response>".repeat(20_000) + &pad),
            // Unicode spaces make every failed object worth a second, repairing read.
            ("nbsp objects", "{\u{a0}\"\u{a0}".repeat(20_000) + &pad),
            (
                "nbsp spread broken strings",
                format!("{{\u{a0}\"\n{}\u{a0}", "x".repeat(filler / 512)).repeat(512),
            ),
            ("XML roots", "<epp ".repeat(20_000) + &pad),
        ]
    }

    #[test]
    fn regression_hostile_candidates_are_examined_a_bounded_number_of_times() {
        for (name, text) in adversarial(1 << 20) {
            let f = run(&text);
            // Without the work budget the parsers examined up to 512 × 1 MiB here.
            let bound = work_bound(text.len());
            assert!(
                f.examined <= bound,
                "{name}: examined {} bytes of a {}-byte text (bound {bound})",
                f.examined,
                text.len()
            );
        }
    }

    #[test]
    fn a_payload_after_some_broken_candidates_is_still_found() {
        let text = "{\"oops\n".repeat(20)
            + &"y".repeat(50_000)
            + "\n{\"object\": \"DOMAIN\", \"event_id\": \"1\"}\n";
        let f = run(&text);
        assert!(
            f.payloads
                .iter()
                .any(|p| matches!(p, Payload::Json(v) if v["event_id"] == "1")),
            "{:?}",
            f.errors
        );
    }

    #[test]
    fn thousands_of_payloads_in_one_text_are_all_read() {
        let text = (0..5000)
            .map(|i| format!("{{\"event_id\": \"{i}\"}}"))
            .collect::<Vec<_>>()
            .join(",\n");
        let f = run(&format!("[{text}]"));
        assert_eq!(f.payloads.len(), 5000, "{:?}", f.errors);
    }

    #[test]
    fn gandi_test_sentence() {
        let f =
            run("Hello, this is a Gandi Notification test message for notification paas.create\n");
        assert!(
            matches!(&f.payloads[0], Payload::GandiTest { name, sentence }
            if name == "paas.create" && sentence.starts_with("Hello, this is"))
        );
    }
}
