//! From one raw email to the events it holds. Pure: bytes in, events or a quarantine
//! reason out; no I/O, no clock.
//!
//! The message is decoded by mail-parser (transfer encodings, charsets, nested
//! `message/rfc822`), every text part is scanned for payloads ([`scan`]), and each
//! payload is offered to the registrar extractors, one file per format.

mod autodns_epp;
mod autodns_json;
mod autodns_text;
mod autodns_xml;
pub mod canonical;
pub mod flowed;
mod gandi;
pub mod html;
mod mime;
mod opensrs;
pub mod opensrs_ops;
pub mod pyliteral;
mod scan;
mod spaces;
pub mod suggest;
pub mod time;
pub mod xml;

use std::collections::HashSet;

use serde_json::Value;

use crate::event::{Event, Format, Kind, Registrar};
use crate::topics::{self, OTHER_TOPIC};
pub use mime::MessageMeta;
use scan::Payload;

/// The payload scanner alone, for the fuzzers: what one text holds, and the work it took.
#[doc(hidden)]
pub mod fuzzing {
    /// Scans `text` as a text part is scanned: (payloads found, candidate errors, bytes
    /// the payload parsers examined).
    pub fn scan(text: &str) -> (usize, usize, usize) {
        let mut found = super::scan::Found::default();
        super::scan::scan(text, &mut found);
        (found.payloads.len(), found.errors.len(), found.examined)
    }

    /// The most bytes extraction may have live at once per input byte, plus
    /// [`MEMORY_SLACK`]: what tests/extract_bounds.rs and the fuzz targets assert. The
    /// worst seen is a notification whose payload holds a long array of small numbers
    /// (83 bytes per byte: each two-byte `0,` is a 32-byte JSON value, kept as read and as
    /// stored); many tiny MIME parts or headers cost 20–48.
    pub const MEMORY_PER_BYTE: usize = 128;
    pub const MEMORY_SLACK: usize = 256 << 10;

    /// The most [`scan`] may examine of a text of `len` bytes (linear in `len`).
    pub fn work_bound(len: usize) -> usize {
        super::scan::work_bound(len)
    }
}

/// Messages larger than this are quarantined unread.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// What one email gave: its events, or (when there are none) why not.
#[derive(Debug, Clone, Default)]
pub struct Extraction {
    pub meta: MessageMeta,
    pub events: Vec<Event>,
    /// Further copies in the same message of an event in `events` (same registrar and
    /// id) whose payload differs: kept as conflicts, never dropped unseen.
    pub conflicts: Vec<Event>,
    /// One line saying why nothing was found; None when there are events.
    pub reason: Option<String>,
}

/// Finds every notification event in one raw email. A bug that panics while reading a
/// message quarantines that message instead of stopping the pipeline.
pub fn extract(raw: &[u8]) -> Extraction {
    match std::panic::catch_unwind(|| extract_strict(raw)) {
        Ok(x) => x,
        Err(_) => Extraction {
            reason: Some(
                "internal error while reading this message (a bug: please report it)".into(),
            ),
            ..Extraction::default()
        },
    }
}

/// [`extract`] without the panic guard, for fuzzing and property tests, where a panic
/// must surface.
pub fn extract_strict(raw: &[u8]) -> Extraction {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return quarantined(MessageMeta::default(), "empty message".into());
    }
    if raw.len() > MAX_MESSAGE_BYTES {
        return quarantined(
            MessageMeta::default(),
            format!(
                "message too large ({} bytes, limit {} MiB)",
                raw.len(),
                MAX_MESSAGE_BYTES >> 20
            ),
        );
    }
    if let Some(text) = bare_payload(raw) {
        // A registrar API's reply (poll or push body), not an email: read as one text.
        let mut run = Run::default();
        run.text(&text, &Context::default());
        if !run.events.is_empty() {
            return Extraction {
                meta: MessageMeta::default(),
                events: run.events,
                conflicts: run.conflicts,
                reason: None,
            };
        }
        let reason = run.reason();
        return quarantined(MessageMeta::default(), reason);
    }
    let Some(message) = parser().parse(raw) else {
        return quarantined(MessageMeta::default(), "not a MIME message".into());
    };
    let meta = MessageMeta::of(&message);
    let mut run = Run::default();
    mime::walk(&message, &Context::of(&message, None), &mut run);
    if !run.events.is_empty() {
        return Extraction {
            meta,
            events: run.events,
            conflicts: run.conflicts,
            reason: None,
        };
    }
    let reason = run.reason();
    quarantined(meta, reason)
}

/// The text of `raw` when it is a bare JSON or XML document (a registrar API's poll
/// reply or push body, stored as received) rather than an email: no header section can
/// begin with `{`, `[` or `<`.
fn bare_payload(raw: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    let raw = raw.strip_prefix(b"\xef\xbb\xbf").unwrap_or(raw);
    let first = raw.iter().find(|b| !b.is_ascii_whitespace())?;
    matches!(first, b'{' | b'[' | b'<').then(|| String::from_utf8_lossy(raw))
}

/// mail-parser set to decode only the headers mailroom reads: the MIME structure,
/// Subject, From, Date and Message-ID (Received chains and the like stay raw).
pub(crate) fn parser() -> &'static mail_parser::MessageParser {
    static PARSER: std::sync::LazyLock<mail_parser::MessageParser> =
        std::sync::LazyLock::new(|| {
            use mail_parser::HeaderName;
            mail_parser::MessageParser::new()
                .with_mime_headers()
                .header_text(HeaderName::Subject)
                .header_address(HeaderName::From)
                .header_date(HeaderName::Date)
                .header_id(HeaderName::MessageId)
        });
    &PARSER
}

fn quarantined(meta: MessageMeta, reason: String) -> Extraction {
    Extraction {
        meta,
        events: Vec::new(),
        conflicts: Vec::new(),
        reason: Some(one_line(&reason)),
    }
}

/// Longest quarantine reason kept, in characters.
const MAX_REASON: usize = 240;

/// A reason fit for one log line: control characters and runs of white space become
/// one space, and it is cut at [`MAX_REASON`] characters.
fn one_line(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len().min(MAX_REASON + 3));
    for word in reason.split(|c: char| c.is_whitespace() || c.is_control()) {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.chars().count() > MAX_REASON {
        out = out.chars().take(MAX_REASON).collect::<String>() + "…";
    }
    out
}

/// What the extractors know about the email a payload came from.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub subject: Option<String>,
    /// The registrar the sender or subject points to.
    pub hint: Option<Registrar>,
}

impl Context {
    fn of(message: &mail_parser::Message<'_>, parent: Option<&Context>) -> Context {
        let subject = message.subject().map(str::to_string);
        let from = message
            .from()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let hint = registrar_hint(&from, subject.as_deref()).or(parent.and_then(|p| p.hint));
        Context { subject, hint }
    }

    /// The id at the end of an OpenSRS subject `Event notification: OBJECT: EVENT: <id>`.
    pub fn subject_event_id(&self) -> Option<String> {
        let subject = self.subject.as_deref()?;
        let rest = &subject[subject.find("Event notification:")?..];
        let id = rest.rsplit(':').next()?.trim();
        (rest.matches(':').count() >= 3 && !id.is_empty() && !id.contains(' '))
            .then(|| id.to_string())
    }
}

fn registrar_hint(from: &str, subject: Option<&str>) -> Option<Registrar> {
    let domain = from.rsplit('@').next().unwrap_or_default();
    if ["opensrs", "tucows"].iter().any(|d| domain.contains(d))
        || subject.is_some_and(|s| s.contains("Event notification:"))
    {
        Some(Registrar::Opensrs)
    } else if ["autodns", "internetx", "schlundtech", "domainrobot"]
        .iter()
        .any(|d| domain.contains(d))
        || subject.is_some_and(|s| s.contains("AutoDNS"))
    {
        Some(Registrar::Autodns)
    } else if domain.contains("gandi") {
        Some(Registrar::Gandi)
    } else {
        None
    }
}

/// An event being built by an extractor; [`Draft::finish`] fills in what the topic
/// table implies and derives the id when the registrar gave none.
#[derive(Debug, Clone)]
pub struct Draft {
    pub registrar: Registrar,
    pub kind: Kind,
    pub event_type: String,
    /// The name to look up in the topic table (OpenSRS: `OBJECT EVENT`).
    pub table_name: String,
    pub format: Format,
    pub data: Value,
    pub event_id: Option<String>,
    pub object: Option<String>,
    pub topic: Option<&'static str>,
    pub domain: Option<String>,
    pub domains: Vec<String>,
    pub status: Option<String>,
    pub status_text: Option<String>,
    pub occurred_at: Option<String>,
    /// The table's default status does not apply (test messages).
    pub no_default_status: bool,
}

impl Draft {
    pub fn new(
        registrar: Registrar,
        kind: Kind,
        event_type: String,
        format: Format,
        data: Value,
    ) -> Draft {
        Draft {
            registrar,
            kind,
            table_name: event_type.clone(),
            event_type,
            format,
            data,
            event_id: None,
            object: None,
            topic: None,
            domain: None,
            domains: Vec::new(),
            status: None,
            status_text: None,
            occurred_at: None,
            no_default_status: false,
        }
    }

    pub fn finish(self) -> Event {
        let entry = topics::lookup(self.registrar, &self.table_name);
        let event_id = self
            .event_id
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| canonical::derived_id(&self.data));
        let domain = self
            .domain
            .as_deref()
            .map(normalize_domain)
            .filter(|d| !d.is_empty());
        let mut domains: Vec<String> = Vec::new();
        for d in domain
            .iter()
            .cloned()
            .chain(self.domains.iter().map(|d| normalize_domain(d)))
        {
            if !d.is_empty() && !domains.contains(&d) {
                domains.push(d);
            }
        }
        let default_status = if self.no_default_status {
            None
        } else {
            entry.and_then(|e| e.status)
        };
        Event {
            registrar: self.registrar,
            event_id,
            kind: self.kind,
            object: self
                .object
                .or_else(|| entry.map(|e| e.object.to_string()))
                .unwrap_or_else(|| "unknown".into()),
            event_type: self.event_type,
            topic: self
                .topic
                .or_else(|| entry.map(|e| e.topic))
                .unwrap_or(OTHER_TOPIC)
                .to_string(),
            domain,
            domains,
            status: self
                .status
                .filter(|s| !s.is_empty())
                .or_else(|| default_status.map(str::to_string)),
            status_text: self
                .status_text
                .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|t| !t.is_empty()),
            occurred_at: self.occurred_at,
            format: self.format,
            data: self.data,
            authenticated: None,
            authentication: None,
            occurred_at_source: None,
            rules_skipped: None,
        }
    }
}

fn normalize_domain(d: &str) -> String {
    d.trim().trim_end_matches('.').to_lowercase()
}

/// The state of one extraction: events so far, and what went wrong on the way.
#[derive(Debug, Default)]
pub(crate) struct Run {
    events: Vec<Event>,
    conflicts: Vec<Event>,
    seen: HashSet<(Registrar, String)>,
    errors: Vec<String>,
    unrecognised: Vec<String>,
    texts: usize,
    /// The sender or subject is a registrar's: what nobody could read is worth a
    /// suggestion.
    shaped: Option<Registrar>,
    suggestion: Option<suggest::Suggestion>,
}

impl Run {
    /// Scans one decoded text and turns its payloads into events. Returns how many
    /// new events it added. A reply quotes the notification (`> `, also `> > `): when
    /// the text as it stands gave no event, it is read again without quote markers.
    /// No event rather than no payload, because the quoted text itself can look like
    /// one: quoted Standard blocks (`> <system>`) are blocks whose lines all fail to
    /// read as `key: value`.
    pub(crate) fn text(&mut self, text: &str, ctx: &Context) -> usize {
        self.texts += 1;
        self.shaped = self.shaped.or(ctx.hint);
        let before = self.events.len();
        self.payloads(text, ctx);
        if self.events.len() == before && (text.starts_with('>') || text.contains("\n>")) {
            self.payloads(&unquote(text), ctx);
        }
        self.events.len() - before
    }

    /// The events of the payloads in one text.
    fn payloads(&mut self, text: &str, ctx: &Context) {
        let before = self.events.len();
        let mut found = scan::Found::default();
        scan::scan(text, &mut found);
        self.errors.append(&mut found.errors);
        let mut standard = Vec::new();
        for payload in found.payloads {
            match payload {
                Payload::Json(v) => self.value(&v, ctx, Format::Json, 0),
                Payload::Python(v) => self.value(&v, ctx, Format::PythonLiteral, 0),
                Payload::Xml(root) => self.xml(&root, ctx, false),
                Payload::RecoveredXml(root) => self.xml(&root, ctx, true),
                Payload::KeyValue(kv) => standard.push(kv),
                Payload::GandiTest { name, sentence } => {
                    self.add(gandi::test_event(&name, &sentence))
                }
            }
        }
        // The Standard format's key-value blocks only count when no structured AutoDNS
        // payload in the same text already reported the event.
        if !self.events[before..]
            .iter()
            .any(|e| e.registrar == Registrar::Autodns)
        {
            for kv in standard {
                match autodns_text::event(&kv, ctx) {
                    Some(d) => self.add(d),
                    None => {
                        self.unrecognised
                            .push("AutoDNS text blocks without a status or event name".into());
                        self.suggestion.get_or_insert_with(suggest::for_text);
                    }
                }
            }
        }
    }

    fn value(&mut self, v: &Value, ctx: &Context, format: Format, depth: usize) {
        if depth > 4 {
            return;
        }
        if let Some(inner) = sns_message(v) {
            let mut found = scan::Found::default();
            scan::scan(inner, &mut found);
            let before = self.events.len();
            for p in found.payloads {
                match p {
                    Payload::Json(v) => self.value(&v, ctx, Format::Json, depth + 1),
                    Payload::Python(v) => self.value(&v, ctx, Format::PythonLiteral, depth + 1),
                    _ => {}
                }
            }
            if self.events.len() == before {
                self.unrecognised
                    .push("SNS envelope whose Message is not a notification".into());
            }
            return;
        }
        if opensrs::is_event(v) {
            if let Some(d) = opensrs::event(v, ctx, format) {
                self.add(d);
            }
        } else if let Some(drafts) = autodns_json::events(v, ctx) {
            drafts.into_iter().for_each(|d| self.add(d));
        } else if gandi::is_payload(v, ctx) {
            if let Some(d) = gandi::event(v, ctx, format) {
                self.add(d);
            }
        } else if let Value::Array(items) = v {
            items
                .iter()
                .for_each(|i| self.value(i, ctx, format, depth + 1));
        } else {
            self.unrecognised.push(describe(v));
            if self.suggestion.is_none() {
                self.suggestion = suggest::for_json(v, ctx.hint);
            }
        }
    }

    /// `recovered`: the tolerant second pass read it; each event says so in its data
    /// (`"recovered": true`).
    fn xml(&mut self, root: &xml::Element, ctx: &Context, recovered: bool) {
        let drafts = opensrs_ops::events(root, ctx)
            .or_else(|| autodns_xml::events(root, ctx))
            .or_else(|| autodns_epp::events(root, ctx));
        match drafts {
            Some(drafts) if !drafts.is_empty() => {
                for mut d in drafts {
                    if recovered && let serde_json::Value::Object(map) = &mut d.data {
                        map.insert("recovered".into(), serde_json::Value::Bool(true));
                    }
                    self.add(d);
                }
            }
            Some(_) => {
                self.unrecognised
                    .push(format!("<{}> without events", root.name));
                self.suggestion
                    .get_or_insert_with(|| suggest::for_xml(root));
            }
            None => {
                self.unrecognised
                    .push(format!("XML document <{}>", root.name));
                self.suggestion
                    .get_or_insert_with(|| suggest::for_xml(root));
            }
        }
    }

    fn add(&mut self, draft: Draft) {
        let event = draft.finish();
        if self.seen.insert((event.registrar, event.event_id.clone())) {
            self.events.push(event);
        } else if !self.events.iter().chain(&self.conflicts).any(|e| {
            e.registrar == event.registrar && e.event_id == event.event_id && e.data == event.data
        }) {
            // The same id with another payload (an alternative part repeats the same
            // payload, which is no conflict).
            self.conflicts.push(event);
        }
    }

    fn reason(&self) -> String {
        if let Some(first) = self.errors.first() {
            return first.clone();
        }
        if let Some(first) = self.unrecognised.first() {
            if self.shaped.is_some()
                && let Some(s) = &self.suggestion
            {
                // The suggestion first, so cutting a long reason never loses it.
                return format!(
                    "payload is not a registrar notification any extractor knows (notification-shaped mail; {}): {first}",
                    s.to_reason()
                );
            }
            return format!("payload is not a registrar notification: {first}");
        }
        if self.texts == 0 {
            return "no text part to read (only binary parts)".into();
        }
        if let Some(registrar) = self.shaped {
            let s = suggest::without_payload(registrar);
            return format!(
                "no payload any extractor knows in {} text part{} of notification-shaped mail ({})",
                self.texts,
                if self.texts == 1 { "" } else { "s" },
                s.to_reason()
            );
        }
        format!(
            "no JSON, XML, EPP or Python-literal payload in {} text part{}",
            self.texts,
            if self.texts == 1 { "" } else { "s" }
        )
    }
}

/// The `Message` of an AWS SNS notification envelope relayed by email.
fn sns_message(v: &Value) -> Option<&str> {
    let is_sns = v.get("Type").and_then(Value::as_str) == Some("Notification")
        || v.get("TopicArn").is_some();
    if !is_sns {
        return None;
    }
    v.get("Message").and_then(Value::as_str)
}

/// A short description of an unrecognised JSON value for the quarantine reason.
fn describe(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let keys: Vec<&str> = map.keys().take(5).map(String::as_str).collect();
            format!("JSON object with keys {}", keys.join(", "))
        }
        other => format!("JSON {}", type_name(other)),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Removes reply quote markers (`> `) from the start of lines.
fn unquote(text: &str) -> String {
    text.lines()
        .map(|l| {
            let mut l = l;
            while let Some(rest) = l.strip_prefix('>') {
                l = rest.strip_prefix(' ').unwrap_or(rest);
            }
            l
        })
        .collect::<Vec<_>>()
        .join("\n")
}
