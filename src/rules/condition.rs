//! Conditions of a rule's `when` table: on any event field (DESIGN §3) or any path into
//! `data`. A value is matched exactly (case-insensitive), `/regex/` (`/…/i` ignores
//! case), any of a list, negated with a leading `!` or `{ not = … }`, or tested for
//! presence with `true`/`false`.

use regex::Regex;
use serde_json::Value;

use crate::event::Event;

/// The event fields a condition may name (beside `data.<path>`).
pub const FIELDS: &[&str] = &[
    "registrar",
    "event_id",
    "kind",
    "object",
    "type",
    "topic",
    "domain",
    "domains",
    "status",
    "status_text",
    "occurred_at",
    "format",
    "authenticated",
];

#[derive(Debug, Clone)]
pub enum Matcher {
    /// Exact, case-insensitive.
    Exact(String),
    Regex(Regex),
    AnyOf(Vec<Matcher>),
    Not(Box<Matcher>),
    /// `true`: the field is there and not null; `false`: absent or null.
    Present(bool),
}

#[derive(Debug, Clone)]
pub struct Condition {
    pub field: String,
    pub matcher: Matcher,
}

impl Condition {
    pub fn matches(&self, event: &Event) -> bool {
        self.matches_with(event, &serde_json::Map::new())
    }

    /// Matches with lookup rows beside the event's fields (`customer.plan`).
    pub fn matches_with(&self, event: &Event, rows: &serde_json::Map<String, Value>) -> bool {
        if let Some((head, column)) = self.field.split_once('.')
            && let Some(row) = rows.get(head)
        {
            return self.matcher.matches(row.get(column));
        }
        let value = event.field(&self.field);
        self.matcher.matches(value.as_ref())
    }
}

impl Matcher {
    pub fn matches(&self, value: Option<&Value>) -> bool {
        let value = value.filter(|v| !v.is_null());
        match self {
            Matcher::Present(want) => value.is_some() == *want,
            Matcher::Not(inner) => !inner.matches(value),
            Matcher::AnyOf(list) => list.iter().any(|m| m.matches(value)),
            Matcher::Exact(_) | Matcher::Regex(_) => match value {
                None => false,
                // A list field matches when any of its items does.
                Some(Value::Array(items)) => items.iter().any(|i| self.matches_scalar(i)),
                Some(v) => self.matches_scalar(v),
            },
        }
    }

    fn matches_scalar(&self, v: &Value) -> bool {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Null => return false,
            other => other.to_string(),
        };
        match self {
            Matcher::Exact(want) => text.to_lowercase() == *want,
            Matcher::Regex(re) => re.is_match(&text),
            _ => false,
        }
    }

    /// Parses one condition value from the rule file. Errors are plain text; the loader
    /// adds file, line and column.
    pub fn parse(value: &toml::Value) -> Result<Matcher, String> {
        match value {
            toml::Value::String(s) => Self::parse_str(s),
            toml::Value::Boolean(b) => Ok(Matcher::Present(*b)),
            toml::Value::Integer(i) => Ok(Matcher::Exact(i.to_string())),
            toml::Value::Float(f) => Ok(Matcher::Exact(f.to_string())),
            toml::Value::Array(items) => {
                if items.is_empty() {
                    return Err("an empty list matches nothing".into());
                }
                Ok(Matcher::AnyOf(
                    items.iter().map(Self::parse).collect::<Result<_, _>>()?,
                ))
            }
            toml::Value::Table(t) => {
                let mut keys = t.keys();
                match (keys.next().map(String::as_str), keys.next()) {
                    (Some("not"), None) => Ok(Matcher::Not(Box::new(Self::parse(&t["not"])?))),
                    (Some("present"), None) => match &t["present"] {
                        toml::Value::Boolean(b) => Ok(Matcher::Present(*b)),
                        _ => Err("present takes true or false".into()),
                    },
                    _ => Err("a condition table takes exactly one key: not or present".into()),
                }
            }
            toml::Value::Datetime(d) => Ok(Matcher::Exact(d.to_string().to_lowercase())),
        }
    }

    fn parse_str(s: &str) -> Result<Matcher, String> {
        if let Some(rest) = s.strip_prefix('!') {
            return Ok(Matcher::Not(Box::new(Self::parse_str(rest)?)));
        }
        if s.len() >= 2 && s.starts_with('/') {
            let (body, flags) = if let Some(b) = s.strip_suffix("/i") {
                (&b[1..], "(?i)")
            } else if let Some(b) = s.strip_suffix('/') {
                (&b[1..], "")
            } else {
                return Ok(Matcher::Exact(s.to_lowercase()));
            };
            return Regex::new(&format!("{flags}{body}"))
                .map(Matcher::Regex)
                .map_err(|e| format!("bad regular expression: {}", first_line(&e.to_string())));
        }
        Ok(Matcher::Exact(s.to_lowercase()))
    }
}

fn first_line(s: &str) -> String {
    s.lines()
        .last()
        .unwrap_or(s)
        .trim()
        .trim_start_matches("error: ")
        .to_string()
}

/// True for a field name a condition may use.
pub fn known_field(name: &str) -> bool {
    FIELDS.contains(&name) || name.strip_prefix("data.").is_some_and(|p| !p.is_empty())
}
