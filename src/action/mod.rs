//! What a rule asks for an event — forward it by mail, post it to a webhook, collect it
//! into a digest — and what is sent for it, decided when it is queued: the forward
//! mail's recipients, subject and summary (minijinja templates over the event), the
//! webhook body. Pure functions, used by the rules (which actions), by ingest (the
//! outbox rows) and by delivery (digests and notices); values from events can never
//! break out into mail headers (control characters are removed from every header
//! value).

pub mod chat;

pub use chat::Chat;

use minijinja::Environment;
use serde::Serialize;
use serde_json::{Value, json};

use crate::event::Event;
use crate::schedule::Schedule;

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Forward {
    /// Addresses, or templates rendering to addresses (`{{ customer.email }}`).
    pub to: Vec<String>,
    pub cc: Vec<String>,
    /// minijinja template over the event fields; None for the default.
    pub subject: Option<String>,
    /// minijinja template of the summary; None for the default.
    pub body: Option<String>,
    /// `From` of this mail instead of `[smtp] from` (the reseller's brand).
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub reply_to: Option<String>,
    /// A template file (its path itself a template): `Subject:` line, then the body.
    #[serde(default)]
    pub template: Option<String>,
    /// The folder of the rule file naming it: relative template paths start there.
    #[serde(default)]
    pub base_dir: Option<std::path::PathBuf>,
    /// Where the mail goes when `to` renders to no address (the lookup found nobody).
    #[serde(default)]
    pub missing_to: Vec<String>,
    /// The lookups this forward reads, by name.
    #[serde(default)]
    pub lookups: Vec<String>,
}

impl Forward {
    /// Mail for a customer (a template file or lookups): rendered when sent, without
    /// the registrar's JSON or the original message unless its template shows them.
    pub fn is_customer_mail(&self) -> bool {
        self.template.is_some() || !self.lookups.is_empty()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Webhook {
    pub url: String,
    /// Environment variable holding the HMAC secret.
    pub secret_env: Option<String>,
    /// Command printing the HMAC secret.
    pub secret_command: Option<String>,
    /// `file:line:column` of the webhook in its rule file, for errors.
    #[serde(skip)]
    pub origin: String,
    /// `body = "templates/zammad.json.j2"`: the body's template (read at load), for
    /// ticket systems and billing hooks that want their own JSON. None: the event.
    #[serde(skip)]
    pub body: Option<String>,
    /// `Content-Type` of a templated body (default `application/json`).
    pub content_type: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Digest {
    pub name: String,
    pub origin: String,
    pub schedule: Schedule,
    pub to: Vec<String>,
    pub subject: Option<String>,
    pub send_empty: bool,
}

/// What one rule asks for one event.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Action {
    Forward {
        rule: String,
        forward: Forward,
    },
    Webhook {
        rule: String,
        webhook: Webhook,
    },
    Digest {
        rule: Option<String>,
        digest: String,
    },
    Chat {
        rule: String,
        chat: Chat,
        /// `[http] public_url`, for a link to the event.
        public_url: Option<String>,
    },
}

pub const DEFAULT_SUBJECT: &str = "[mailroom] {{ registrar }} {{ type }}{% if domain %} {{ domain }}{% endif %}{% if status %} ({{ status }}){% endif %}";

pub const DEFAULT_BODY: &str = "\
{{ registrar }} reports {{ type }} ({{ topic }}){% if domain %} for {{ domain }}{% endif %}.

Status:    {{ status or \"-\" }}
{% if status_text %}Text:      {{ status_text }}
{% endif %}Occurred:  {{ occurred_at or \"-\" }}
Kind:      {{ kind }} about {{ object }}
Event:     {{ registrar }}:{{ event_id }}
{% if domains|length > 1 %}Domains:   {{ domains|join(\", \") }}
{% endif %}Rule:      {{ rule }}
";

/// Longest subject sent, in characters; a longer one is cut with an ellipsis.
pub const MAX_SUBJECT_CHARS: usize = 200;

/// A subject fit for a header: control characters (CR, LF, …) turned into spaces,
/// runs of white space into one, cut at [`MAX_SUBJECT_CHARS`] (a 200 KB domain from a
/// payload must not make a 200 KB header). Folding and encoding happen when the mail
/// is built.
pub fn header_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_SUBJECT_CHARS * 4 + 3));
    let mut chars = 0;
    for word in s.split(|c: char| c.is_control() || c.is_whitespace()) {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
            chars += 1;
        }
        for c in word.chars() {
            if chars >= MAX_SUBJECT_CHARS {
                out.truncate(out.trim_end().len());
                out.push('…');
                return out;
            }
            out.push(c);
            chars += 1;
        }
    }
    out
}

/// Renders a template of the rule files (subjects and bodies, plain text).
pub fn render(template: &str, ctx: minijinja::Value) -> Result<String, String> {
    let mut env = Environment::new();
    // A field the event does not have (`{{ status }}` without a status) renders
    // empty, not "none"; so does a column of a lookup that found nobody
    // (`{{ customer.email }}`), which `default(…)` then replaces.
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    env.set_formatter(|out, state, value| {
        let value = if value.is_none() {
            &minijinja::Value::UNDEFINED
        } else {
            value
        };
        minijinja::escape_formatter(out, state, value)
    });
    env.render_str(template, ctx).map_err(|e| e.to_string())
}

pub fn event_context(event: &Event, rule: &str) -> minijinja::Value {
    let mut v = serde_json::to_value(event).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        map.insert("rule".into(), Value::String(rule.to_string()));
        map.insert("key".into(), Value::String(event.key()));
    }
    minijinja::Value::from_serialize(&v)
}

/// The forward mail of one event: recipients, subject and text, decided now.
pub fn forward(event: &Event, f: &Forward, rule: &str, test: bool) -> Value {
    let ctx = event_context(event, rule);
    let subject = render(f.subject.as_deref().unwrap_or(DEFAULT_SUBJECT), ctx.clone())
        .unwrap_or_else(|e| format!("[mailroom] {} (subject template failed: {e})", event.key()));
    let summary = render(f.body.as_deref().unwrap_or(DEFAULT_BODY), ctx)
        .unwrap_or_else(|e| format!("(summary template failed: {e})\n"));
    let payload = serde_json::to_string_pretty(&event.data).unwrap_or_default();
    let mut subject = header_safe(&subject);
    let mut text = format!(
        "{summary}\nPayload ({}):\n{payload}\n",
        event.format.as_str()
    );
    if test {
        subject = format!("[TEST] {subject}");
        text =
            format!("This is a test notification sent by `mailroom rules test --send`.\n\n{text}");
    }
    json!({
        "to": f.to,
        "cc": f.cc,
        "subject": subject,
        "text": text,
        "event_key": event.key(),
        "payload_json": serde_json::to_string_pretty(event).unwrap_or_default(),
    })
}

/// The subject of a forward carrying more than one event: the first event's subject
/// (cut so the count always shows) and how many more there are.
pub fn group_subject(first: &str, more: i64) -> String {
    let first: String = if first.chars().count() > MAX_SUBJECT_CHARS - 30 {
        first
            .chars()
            .take(MAX_SUBJECT_CHARS - 31)
            .collect::<String>()
            + "…"
    } else {
        first.to_string()
    };
    let s = if more == 1 { "" } else { "s" };
    header_safe(&format!("{first} (+{more} more event{s})"))
}

/// The webhook call of one event: the exact body bytes, decided now; the secret is read
/// when sending and never stored.
pub fn webhook(event: &Event, w: &Webhook, rule: &str) -> Value {
    let body = match &w.body {
        Some(t) => render_body(t, event_context(event, rule)).unwrap_or_else(|e| {
            json!({ "mailroom_error": format!("body template failed: {e}"), "event": event })
                .to_string()
        }),
        None => serde_json::to_string(event).unwrap_or_default(),
    };
    json!({
        "url": w.url,
        "secret_env": w.secret_env,
        "secret_command": w.secret_command,
        "body": body,
        "content_type": w.content_type.as_deref().unwrap_or("application/json"),
        "idempotency_key": event.key(),
    })
}

/// A webhook body template: values print as they are (`| tojson` quotes them for
/// JSON); a missing field renders empty.
pub fn render_body(template: &str, ctx: minijinja::Value) -> Result<String, String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    env.render_str(template, ctx).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Format, Kind, Registrar};

    fn event() -> Event {
        Event {
            registrar: Registrar::Gandi,
            event_id: "sha256:ab".into(),
            kind: Kind::Event,
            object: "domain".into(),
            event_type: "domain.transfer_out".into(),
            topic: "transfer.out".into(),
            domain: Some("evil.example\r\nBcc: victim@example.com".into()),
            domains: vec![],
            status: Some("pending".into()),
            status_text: None,
            occurred_at: None,
            format: Format::PythonLiteral,
            data: json!({"a": 1}),
            authenticated: None,
            authentication: None,
            occurred_at_source: None,
            rules_skipped: None,
        }
    }

    #[test]
    fn a_missing_status_renders_empty() {
        let mut e = event();
        e.status = None;
        e.domain = Some("x.example".into());
        let f = Forward {
            to: vec!["ops@example.com".into()],
            cc: vec![],
            subject: Some("[{{ status }}] {{ domain }} {{ occurred_at }}".into()),
            ..Default::default()
        };
        let v = forward(&e, &f, "r", false);
        assert_eq!(v["subject"], "[] x.example");
    }

    #[test]
    fn long_subjects_are_cut_with_an_ellipsis() {
        let long = format!("[mailroom] {}.example", "a".repeat(200_000));
        let s = header_safe(&long);
        assert_eq!(s.chars().count(), MAX_SUBJECT_CHARS + 1);
        assert!(s.ends_with('…') && s.starts_with("[mailroom] aaa"), "{s}");
        assert_eq!(header_safe("  a \x00\x1b b\t"), "a b");
        assert_eq!(header_safe(&"é".repeat(300)).chars().count(), 201);
    }

    #[test]
    fn subjects_cannot_carry_headers() {
        let f = Forward {
            to: vec!["ops@example.com".into()],
            cc: vec![],
            ..Default::default()
        };
        let v = forward(&event(), &f, "r", false);
        let subject = v["subject"].as_str().unwrap();
        assert!(
            !subject.contains('\n') && !subject.contains('\r'),
            "{subject}"
        );
        assert!(subject.contains("evil.example Bcc: victim@example.com"));
        assert!(
            v["text"]
                .as_str()
                .unwrap()
                .contains("Payload (python-literal):")
        );
        let t = forward(&event(), &f, "r", true);
        assert!(t["subject"].as_str().unwrap().starts_with("[TEST] "));
    }
}
