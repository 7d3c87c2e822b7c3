//! XML payloads (AutoDNS XML, EPP, OpenSRS OPS envelopes) into a small tree, and the
//! tree into JSON. Entities are never expanded: a document that declares any is refused,
//! and only the five predefined entities and character references are resolved.

use quick_xml::Reader;
use quick_xml::events::Event as XmlEvent;
use serde_json::{Map, Value};

/// How deep elements may nest before the payload is refused.
pub const MAX_DEPTH: usize = 64;
/// How many elements one payload may hold.
pub const MAX_ELEMENTS: usize = 200_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("XML declares entities (<!ENTITY>); refused without expansion")]
    EntityDeclaration,
    #[error("XML uses an undefined entity &{0};")]
    UndefinedEntity(String),
    #[error("XML nesting too deep (more than {MAX_DEPTH} levels)")]
    TooDeep,
    #[error("XML has too many elements (more than {MAX_ELEMENTS})")]
    TooLarge,
    #[error("XML is truncated: <{0}> is never closed")]
    Truncated(String),
    #[error("XML has no root element")]
    NoRoot,
    #[error("XML is malformed at byte {offset}: {message}")]
    Malformed { offset: u64, message: String },
}

/// One element: its qualified name, attributes, child elements and text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    /// The name without its namespace prefix (`panData` for `domain:panData`).
    pub fn local_name(&self) -> &str {
        self.name.rsplit(':').next().unwrap_or(&self.name)
    }

    /// The first child whose local name matches.
    pub fn child(&self, local: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.local_name() == local)
    }

    pub fn children_named<'a>(&'a self, local: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children
            .iter()
            .filter(move |c| c.local_name() == local)
    }

    /// Follows child local names, e.g. `path(&["status", "code"])`.
    pub fn path(&self, names: &[&str]) -> Option<&Element> {
        names.iter().try_fold(self, |e, n| e.child(n))
    }

    /// Trimmed text of the element at `names`, if present and non-empty.
    pub fn text_at(&self, names: &[&str]) -> Option<&str> {
        let t = super::spaces::trim(&self.path(names)?.text);
        (!t.is_empty()).then_some(t)
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every element below this one, depth first.
    pub fn descendants(&self) -> Vec<&Element> {
        let mut out = Vec::new();
        let mut stack: Vec<&Element> = self.children.iter().rev().collect();
        while let Some(e) = stack.pop() {
            out.push(e);
            stack.extend(e.children.iter().rev());
        }
        out
    }

    /// Generic XML → JSON: an element with neither attributes nor children is its text;
    /// otherwise an object of `@attribute`s, children by name (repeated names become an
    /// array) and `#text` when it also has text. Namespace declarations are left out.
    pub fn to_json(&self) -> Value {
        let attrs: Vec<&(String, String)> = self
            .attrs
            .iter()
            .filter(|(k, _)| k != "xmlns" && !k.starts_with("xmlns:"))
            .collect();
        let text = super::spaces::trim(&self.text);
        if attrs.is_empty() && self.children.is_empty() {
            return Value::String(text.to_string());
        }
        let mut map = Map::new();
        for (k, v) in attrs {
            map.insert(format!("@{k}"), Value::String(v.clone()));
        }
        for child in &self.children {
            let v = child.to_json();
            match map.get_mut(&child.name) {
                // An element's own JSON is never an array, so an array here holds repeats.
                Some(Value::Array(items)) => items.push(v),
                Some(existing) => {
                    let first = existing.take();
                    *existing = Value::Array(vec![first, v]);
                }
                None => {
                    map.insert(child.name.clone(), v);
                }
            }
        }
        if !text.is_empty() {
            map.insert("#text".into(), Value::String(text.to_string()));
        }
        Value::Object(map)
    }
}

/// Parses the XML document at the start of `src` (declaration, comments and a DOCTYPE
/// without entity declarations may come first). Returns the root element and the
/// number of bytes the document used, so callers can go on scanning after it.
pub fn parse_document(src: &str) -> Result<(Element, usize), XmlError> {
    parse_with(src, false)
}

/// The second, forgiving pass for a document the strict pass refused as malformed. A
/// closing tag that does not match closes the open element (`<code>S0101</cdoe>`, a
/// typo), or every element up to the one it names when that one is open further out
/// (`<a><b>x</a>`, a lost closing tag); a closing tag that lost its `<`
/// (`<text>…polled successfully./text>`, as in InterNetX's own published example)
/// closes the open element it names. Everything hostile is refused exactly as by
/// [`parse_document`]: entity declarations, undefined entities, depth and size limits,
/// truncation.
pub fn parse_document_tolerant(src: &str) -> Result<(Element, usize), XmlError> {
    parse_with(src, true)
}

fn parse_with(src: &str, tolerant: bool) -> Result<(Element, usize), XmlError> {
    let mut reader = Reader::from_str(src);
    reader.config_mut().trim_text(false);
    reader.config_mut().check_end_names = !tolerant;
    let mut stack: Vec<Element> = Vec::new();
    let mut count = 0usize;
    loop {
        let event = reader.read_event().map_err(|e| XmlError::Malformed {
            offset: reader.error_position(),
            message: e.to_string(),
        })?;
        match event {
            XmlEvent::DocType(d) => {
                let raw: &[u8] = &d;
                if raw.windows(8).any(|w| w == b"<!ENTITY") {
                    return Err(XmlError::EntityDeclaration);
                }
            }
            XmlEvent::Start(s) | XmlEvent::Empty(s) if stack.len() >= MAX_DEPTH => {
                let _ = s;
                return Err(XmlError::TooDeep);
            }
            XmlEvent::Start(s) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(XmlError::TooLarge);
                }
                stack.push(start_element(&s)?);
            }
            XmlEvent::Empty(s) => {
                count += 1;
                let el = start_element(&s)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => return Ok((el, reader.buffer_position() as usize)),
                }
            }
            XmlEvent::End(e) => {
                // Strict: quick-xml has checked that it closes the open element.
                let levels = if tolerant {
                    levels_closed(&stack, e.name().as_ref())
                } else {
                    1
                };
                for _ in 0..levels {
                    if let Some(root) = close(&mut stack)? {
                        return Ok((root, reader.buffer_position() as usize));
                    }
                }
            }
            XmlEvent::Text(t) => {
                let text = t.decode().map_err(|e| malformed(&reader, e))?;
                let mut text: &str = &text;
                // `…successfully./text>`: the open element's closing tag without its `<`.
                while tolerant && let Some(open) = stack.last() {
                    let lost = format!("/{}>", open.name);
                    let Some(at) = text.find(&lost) else { break };
                    if let Some(el) = stack.last_mut() {
                        el.text.push_str(&text[..at]);
                    }
                    text = &text[at + lost.len()..];
                    if let Some(root) = close(&mut stack)? {
                        let end = reader.buffer_position() as usize - text.len();
                        return Ok((root, end));
                    }
                }
                if let Some(el) = stack.last_mut() {
                    el.text.push_str(text);
                }
            }
            XmlEvent::CData(t) => {
                if let Some(el) = stack.last_mut() {
                    el.text
                        .push_str(&t.decode().map_err(|e| malformed(&reader, e))?);
                }
            }
            XmlEvent::GeneralRef(r) => {
                let resolved = resolve_ref(&r)?;
                if let Some(el) = stack.last_mut() {
                    el.text.push_str(&resolved);
                }
            }
            XmlEvent::Eof => {
                return Err(match stack.first() {
                    Some(root) => XmlError::Truncated(root.name.clone()),
                    None => XmlError::NoRoot,
                });
            }
            XmlEvent::Decl(_) | XmlEvent::PI(_) | XmlEvent::Comment(_) => {}
        }
    }
}

/// Ends the open element: it becomes its parent's child, or, when it is the root, the
/// document (returned).
fn close(stack: &mut Vec<Element>) -> Result<Option<Element>, XmlError> {
    let el = stack.pop().ok_or(XmlError::NoRoot)?;
    Ok(match stack.last_mut() {
        Some(parent) => {
            parent.children.push(el);
            None
        }
        None => Some(el),
    })
}

/// How many open elements a closing tag `name` ends in the forgiving pass: up to the
/// innermost open element of that name, else (a misspelt name) the innermost one.
fn levels_closed(stack: &[Element], name: &[u8]) -> usize {
    stack
        .iter()
        .rev()
        .position(|open| open.name.as_bytes() == name)
        .map_or(1, |i| i + 1)
}

fn malformed(reader: &Reader<&[u8]>, e: impl std::fmt::Display) -> XmlError {
    XmlError::Malformed {
        offset: reader.buffer_position(),
        message: e.to_string(),
    }
}

fn start_element(s: &quick_xml::events::BytesStart<'_>) -> Result<Element, XmlError> {
    let name = String::from_utf8_lossy(s.name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for a in s.attributes().with_checks(false) {
        let a = a.map_err(|e| XmlError::Malformed {
            offset: 0,
            message: e.to_string(),
        })?;
        let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        let value = a.unescape_value().map_err(|e| match e {
            quick_xml::Error::Escape(quick_xml::escape::EscapeError::UnrecognizedEntity(_, n)) => {
                XmlError::UndefinedEntity(n)
            }
            other => XmlError::Malformed {
                offset: 0,
                message: other.to_string(),
            },
        })?;
        attrs.push((key, value.into_owned()));
    }
    Ok(Element {
        name,
        attrs,
        ..Element::default()
    })
}

fn resolve_ref(r: &quick_xml::events::BytesRef<'_>) -> Result<String, XmlError> {
    let raw: &[u8] = r;
    let name = String::from_utf8_lossy(raw).into_owned();
    if let Ok(Some(ch)) = r.resolve_char_ref() {
        return Ok(ch.to_string());
    }
    let s = match name.as_str() {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        _ => return Err(XmlError::UndefinedEntity(name)),
    };
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tree_and_json() {
        let src = "<?xml version='1.0'?>\n<!-- c --><r a=\"1\" xmlns:d=\"urn:x\"><d:n x=\"y\">t &amp; u</d:n><k>1</k><k>2</k><e/></r> trailing";
        let (root, used) = parse_document(src).unwrap();
        assert_eq!(&src[used..], " trailing");
        assert_eq!(root.child("n").unwrap().text, "t & u");
        assert_eq!(
            root.to_json(),
            json!({"@a":"1","d:n":{"@x":"y","#text":"t & u"},"k":["1","2"],"e":""})
        );
    }

    #[test]
    fn three_repeats_stay_one_array() {
        let (root, _) = parse_document("<r><k>1</k><k>2</k><k>3</k></r>").unwrap();
        assert_eq!(root.to_json(), json!({"k":["1","2","3"]}));
        let (root, _) = parse_document("<r><k><k>1</k><k>2</k></k></r>").unwrap();
        assert_eq!(root.to_json(), json!({"k":{"k":["1","2"]}}));
    }

    #[test]
    fn forgiving_pass_recovers_a_closing_tag_that_lost_its_angle_bracket() {
        let src = "<response><status><code>S0905</code><text>The notification was polled successfully./text>\n  <type>success</type></status></response> after";
        assert!(matches!(
            parse_document(src),
            Err(XmlError::Malformed { .. })
        ));
        let (root, used) = parse_document_tolerant(src).unwrap();
        assert_eq!(&src[used..], " after");
        assert_eq!(
            root.to_json(),
            json!({"status": {"code": "S0905",
                "text": "The notification was polled successfully.", "type": "success"}})
        );
    }

    #[test]
    fn forgiving_pass_closes_misspelt_and_lost_closing_tags() {
        let src = "<r><a>1</b><c><d>2</c><e>3</e></r>";
        assert!(parse_document(src).is_err());
        let (root, used) = parse_document_tolerant(src).unwrap();
        assert_eq!(used, src.len());
        assert_eq!(root.to_json(), json!({"a": "1", "c": {"d": "2"}, "e": "3"}));
    }

    #[test]
    fn forgiving_pass_refuses_what_the_strict_pass_refuses_as_hostile() {
        let bomb = "<!DOCTYPE r [<!ENTITY a \"b\">]><r>&a;</x></r>";
        assert_eq!(
            parse_document_tolerant(bomb).unwrap_err(),
            XmlError::EntityDeclaration
        );
        assert_eq!(
            parse_document_tolerant("<r><a>x/a>").unwrap_err(),
            XmlError::Truncated("r".into())
        );
        let deep = "<a>".repeat(100) + &"x/a>".repeat(100);
        assert_eq!(
            parse_document_tolerant(&deep).unwrap_err(),
            XmlError::TooDeep
        );
    }

    #[test]
    fn unicode_spaces_between_elements_are_white_space_and_kept_in_text() {
        // XML forwarded in an Outlook HTML mail: `&nbsp;` indentation, a stray BOM.
        let src = "<r>\n\u{a0}\u{a0}<a>1\u{a0}000</a>\u{feff}\n\u{a0}<b x=\"\u{a0}\"/></r>";
        let (root, _) = parse_document(src).unwrap();
        assert_eq!(
            root.to_json(),
            json!({"a": "1\u{a0}000", "b": {"@x": "\u{a0}"}})
        );
    }

    #[test]
    fn hostile_documents_are_refused() {
        let bomb = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;\">]><lolz>&lol2;</lolz>";
        assert_eq!(
            parse_document(bomb).unwrap_err(),
            XmlError::EntityDeclaration
        );
        assert_eq!(
            parse_document("<a>&lol9;</a>").unwrap_err(),
            XmlError::UndefinedEntity("lol9".into())
        );
        let deep = "<a>".repeat(100_000);
        assert_eq!(parse_document(&deep).unwrap_err(), XmlError::TooDeep);
        assert!(matches!(
            parse_document("<a><b></a>"),
            Err(XmlError::Malformed { .. })
        ));
        assert_eq!(
            parse_document("<a><b>").unwrap_err(),
            XmlError::Truncated("a".into())
        );
    }
}
