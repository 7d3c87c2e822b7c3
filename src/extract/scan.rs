//! Finds machine-readable payloads inside one decoded text: JSON objects, Python dict
//! literals, XML documents (AutoDNS, EPP, OPS), the AutoDNS "Standard" key-value blocks
//! and the Gandi test sentence, wherever they sit between preamble and signature.

use serde_json::Value;

use super::pyliteral;
use super::xml::{self, Element};

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
}

/// How many payload starts one text may try, so a text of a million `{"` stays linear.
const MAX_ATTEMPTS: usize = 512;

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
    let mut pos = 0;
    let mut attempts = 0;
    while let Some(off) = memchr::memchr2(b'{', b'<', &bytes[pos..]) {
        let start = pos + off;
        pos = start + 1;
        if attempts >= MAX_ATTEMPTS {
            found
                .errors
                .push(format!("gave up after {MAX_ATTEMPTS} payload candidates"));
            return;
        }
        let rest = &text[start..];
        let end = if bytes[start] == b'{' {
            if !looks_like_object(rest) {
                continue;
            }
            attempts += 1;
            object_at(rest, found)
        } else {
            if !XML_ROOTS.iter().any(|r| starts_with_ignore_case(rest, r)) {
                continue;
            }
            attempts += 1;
            match xml::parse_document(window(rest)) {
                Ok((root, used)) => {
                    found.payloads.push(Payload::Xml(root));
                    Some(used)
                }
                // A small defect (a mistyped closing tag): read again, forgivingly,
                // and say so. Hostile documents fail the second pass too.
                Err(xml::XmlError::Malformed { .. })
                    if let Ok((root, used)) = xml::parse_document_tolerant(window(rest)) =>
                {
                    found.payloads.push(Payload::RecoveredXml(root));
                    Some(used)
                }
                Err(e) => {
                    found.errors.push(e.to_string());
                    // A broken document is not re-read from inside.
                    skip_to_close(window(rest))
                }
            }
        };
        if let Some(used) = end {
            pos = start + used.max(1);
        }
    }
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// `{` followed (after whitespace) by a quote, `u'`/`u"`, or `}`: the start of an object.
fn looks_like_object(rest: &str) -> bool {
    let mut it = rest[1..].bytes().skip_while(|c| c.is_ascii_whitespace());
    match it.next() {
        Some(b'"' | b'\'') => true,
        Some(b'u' | b'U') => matches!(it.next(), Some(b'"' | b'\'')),
        _ => false,
    }
}

/// Parses the object at the start of `rest` as JSON, then as a repaired JSON (line
/// breaks inside strings removed: hard-wrapped mail), then as a Python literal. Returns
/// how many bytes to skip: after a failure, past everything the parsers read, so no
/// byte is parsed twice and hostile text stays linear.
fn object_at(rest: &str, found: &mut Found) -> Option<usize> {
    let rest = window(rest);
    // `{'` and `{u'` are Python literals (Gandi): no JSON attempt.
    let first = rest[1..].trim_start().as_bytes();
    if matches!(first, [b'\'', ..] | [b'u' | b'U', b'\'', ..]) {
        return match pyliteral::parse_prefix(rest) {
            Ok((v @ Value::Object(_), used)) => {
                found.payloads.push(Payload::Python(v));
                Some(used)
            }
            Ok((_, used)) => Some(used),
            Err(e) => {
                found.errors.push(e.to_string());
                Some(e.offset.max(1))
            }
        };
    }
    let (json_err, json_reached) = match json_prefix(rest) {
        Ok((v, used)) => {
            found.payloads.push(Payload::Json(v));
            return Some(used);
        }
        Err(e) => e,
    };
    if json_err.starts_with("invalid JSON: control character")
        && let Some((v, used)) = repaired_json(rest)
    {
        found.payloads.push(Payload::Json(v));
        return Some(used);
    }
    match pyliteral::parse_prefix(rest) {
        Ok((v @ Value::Object(_), used)) => {
            found.payloads.push(Payload::Python(v));
            Some(used)
        }
        Ok((_, used)) => Some(used.max(json_reached)),
        Err(py) => {
            found.errors.push(json_err);
            Some(json_reached.max(py.offset))
        }
    }
}

/// Payloads are small; no candidate is read past this many bytes.
const WINDOW: usize = 1 << 20;

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

fn offset_of(s: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in s.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return (offset + column).min(s.len());
        }
        offset += l.len();
    }
    s.len()
}

/// JSON whose strings were broken across lines by a mail client: drop CR/LF inside
/// strings (and the quote markers `> ` a reply added) up to the balancing brace.
fn repaired_json(rest: &str) -> Option<(Value, usize)> {
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
            '{' | '[' => depth += 1,
            '}' | ']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    out.push(c);
                    if !changed {
                        return None;
                    }
                    let v = serde_json::from_str(&out).ok()?;
                    return Some((v, i + 1));
                }
            }
            _ => {}
        }
        out.push(c);
        if depth > 128 {
            return None;
        }
    }
    None
}

/// After a broken XML document, go on after its root's closing tag if there is one,
/// else after the opening `<`.
fn skip_to_close(rest: &str) -> Option<usize> {
    let name: String = rest[1..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-'))
        .collect();
    if name.is_empty() {
        return Some(1);
    }
    let close = format!("</{name}>");
    Some(rest.find(&close).map(|i| i + close.len()).unwrap_or(1))
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
