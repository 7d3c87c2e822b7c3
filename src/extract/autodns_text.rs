//! AutoDNS "Standard" email format: human text with `<system>` … `</system>` and
//! `<reply>` … `</reply>` blocks of `key: value` lines (a value may wrap onto the next
//! line). Not XML: the blocks are read line by line.

use serde_json::{Map, Value};

use super::{Context, Draft, time};
use crate::event::{Format, Kind, Registrar};
use crate::topics;

const BLOCKS: &[&str] = &["system", "reply"];

/// The key-value blocks of a Standard email as `{"system": {…}, "reply": {…}}`, or
/// None when the text has neither block.
pub fn blocks(text: &str) -> Option<Value> {
    let mut out = Map::new();
    for name in BLOCKS {
        if let Some(body) = block(text, name) {
            out.insert((*name).to_string(), Value::Object(key_values(body)));
        }
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

fn block<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = find_ignore_case(text, &open)? + open.len();
    let len = find_ignore_case(&text[start..], &close)?;
    Some(&text[start..start + len])
}

/// Position of an ASCII `needle` starting with `<`, ignoring case.
fn find_ignore_case(hay: &str, needle: &str) -> Option<usize> {
    let (hay, needle) = (hay.as_bytes(), needle.as_bytes());
    let mut at = 0;
    while let Some(i) = memchr::memchr(b'<', &hay[at..]) {
        let start = at + i;
        if hay.len() - start >= needle.len()
            && hay[start..start + needle.len()].eq_ignore_ascii_case(needle)
        {
            return Some(start);
        }
        at = start + 1;
    }
    None
}

/// `key: value` lines; a line that is not `key:` continues the previous value. A key
/// given twice becomes a list.
fn key_values(body: &str) -> Map<String, Value> {
    let mut map = Map::new();
    let mut last: Option<String> = None;
    for line in body.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        match split_key(trimmed) {
            Some((key, value)) => {
                let value = Value::String(value.to_string());
                match map.get_mut(key) {
                    Some(Value::Array(items)) => items.push(value),
                    Some(existing) => {
                        let first = existing.take();
                        *existing = Value::Array(vec![first, value]);
                    }
                    None => {
                        map.insert(key.to_string(), value);
                    }
                }
                last = Some(key.to_string());
            }
            None => {
                let Some(key) = &last else { continue };
                if let Some(slot) = map.get_mut(key) {
                    let target = match slot {
                        Value::Array(items) => items.last_mut(),
                        other => Some(other),
                    };
                    if let Some(Value::String(s)) = target {
                        if !s.is_empty() {
                            s.push(' ');
                        }
                        s.push_str(trimmed);
                    }
                }
            }
        }
    }
    map
}

fn split_key(line: &str) -> Option<(&str, &str)> {
    let colon = line.find(':')?;
    let key = &line[..colon];
    let ok = !key.is_empty()
        && key.len() <= 40
        && key
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
    ok.then(|| (key, line[colon + 1..].trim()))
}

/// The message id first; else `transaction:`, AutoDNS's own id for the reply.
const ID_KEYS: &[&str] = &[
    "id",
    "message_id",
    "notify_id",
    "ntfy_id",
    "transaction",
    "stid",
    "ctid",
];
const EVENT_KEYS: &[&str] = &["notify", "notify_type", "type", "event"];

/// The event a Standard email reports.
pub fn event(kv: &Value, _ctx: &Context) -> Option<Draft> {
    let get = |key: &str| -> Option<&str> {
        BLOCKS
            .iter()
            .rev()
            .find_map(|b| kv.get(*b)?.get(key))
            .and_then(first_str)
    };
    let event_id = ID_KEYS.iter().find_map(|k| get(k)).map(str::to_string);
    let named = EVENT_KEYS.iter().filter_map(|k| get(k)).find_map(|v| {
        let name = topics::fold_spelling(v.split_whitespace().next()?);
        topics::lookup(Registrar::Autodns, &name).map(|_| name)
    });
    // The `<system>` block's status code wins over a `<reply>` block's `status: success`.
    let status_line = BLOCKS
        .iter()
        .filter_map(|b| kv.get(*b)?.get("status").and_then(first_str))
        .find(|s| s.split_whitespace().next().is_some_and(is_status_code))
        .or_else(|| get("status"));
    let code = status_line
        .and_then(|s| s.split_whitespace().next())
        .filter(|c| is_status_code(c));
    let (kind, event_type, status) = match (named, code) {
        (Some(name), _) => (Kind::Event, name, None),
        (None, Some(code)) => (Kind::Job, code.to_string(), Some(status_of_code(code))),
        (None, None) => return None,
    };
    let domain = get("success_value")
        .and_then(domain_after_label)
        .or_else(|| get("domain").map(str::to_string))
        .or_else(|| get("object").and_then(domain_after_label))
        .or_else(|| {
            get("object")
                .filter(|o| looks_like_domain(o))
                .map(str::to_string)
        })
        .or_else(|| {
            let (sld, tld) = (get("sld")?, get("tld")?);
            let name = format!(
                "{}.{}",
                sld.trim_end_matches('.'),
                tld.trim_start_matches('.')
            );
            looks_like_domain(&name).then_some(name)
        });
    let occurred_at = ["created", "date", "timestamp"]
        .iter()
        .find_map(|k| get(k))
        .and_then(|t| time::normalize(t, time::LocalZone::Berlin));
    let mut draft = Draft::new(
        Registrar::Autodns,
        kind,
        event_type,
        Format::Text,
        kv.clone(),
    );
    draft.event_id = event_id;
    draft.domain = domain;
    draft.status = status.map(str::to_string);
    draft.status_text = status_line.and_then(bracketed);
    draft.occurred_at = occurred_at;
    if kind == Kind::Job {
        draft.table_name = "job".into();
    }
    Some(draft)
}

/// `S0104 [The domain transfer has been completed successfully.]` → the text in brackets.
fn bracketed(line: &str) -> Option<String> {
    let open = line.find('[')?;
    let rest = &line[open + 1..];
    let text = rest.rfind(']').map_or(rest, |close| &rest[..close]).trim();
    (!text.is_empty()).then(|| text.to_string())
}

fn first_str(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        Value::Array(items) => items.first().and_then(first_str),
        _ => None,
    }
}

/// `S0101`, `E1403008`, `N0104`: a letter then digits.
fn is_status_code(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 4 && matches!(b[0], b'S' | b'E' | b'N') && b[1..].iter().all(u8::is_ascii_digit)
}

fn status_of_code(code: &str) -> &'static str {
    match code.as_bytes()[0] {
        b'S' => "success",
        b'E' => "error",
        _ => "pending",
    }
}

/// `domain: example.org` inside a value.
fn domain_after_label(value: &str) -> Option<String> {
    let lower = value.to_ascii_lowercase();
    let at = lower.find("domain")?;
    let rest = value[at + 6..].trim_start_matches([':', ' ', '=']);
    let name = rest.split_whitespace().next()?;
    let name = name.trim_matches(|c: char| matches!(c, ',' | ';' | '"' | '\'' | ']' | '['));
    looks_like_domain(name).then(|| name.to_string())
}

fn looks_like_domain(s: &str) -> bool {
    s.contains('.')
        && !s.contains('@')
        && !s.contains(' ')
        && !s.starts_with('.')
        && !s.ends_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn blocks_with_wrapped_values() {
        let text = "Dear customer,\n\n<system>\ntask: 0104 Domain Transfer\nstatus: S0104 [The domain transfer was\n  completed successfully]\nstid: 20240101-app1-1\n</system>\n<reply>\nsuccess_value: domain: example.org\nkk_answer: AUTOACK\n</reply>\nRegards";
        let kv = blocks(text).unwrap();
        assert_eq!(
            kv,
            json!({"system": {"task": "0104 Domain Transfer",
                    "status": "S0104 [The domain transfer was completed successfully]",
                    "stid": "20240101-app1-1"},
                   "reply": {"success_value": "domain: example.org", "kk_answer": "AUTOACK"}})
        );
        let d = event(&kv, &Context::default()).unwrap();
        assert_eq!(d.event_type, "S0104");
        assert_eq!(d.status.as_deref(), Some("success"));
        assert_eq!(d.domain.as_deref(), Some("example.org"));
        assert_eq!(d.event_id.as_deref(), Some("20240101-app1-1"));
    }

    #[test]
    fn no_blocks_no_payload() {
        assert!(blocks("just <b>html</b>").is_none());
    }
}
