//! What a rule asks for an event — forward it by mail, post it to a webhook, collect it
//! into a digest — and what is sent for it, decided when it is queued: the forward
//! mail's recipients, subject and summary (minijinja templates over the event), the
//! webhook body. Pure functions, used by the rules (which actions), by ingest (the
//! outbox rows) and by delivery (digests and notices); values from events can never
//! break out into mail headers (control characters are removed from every header
//! value).

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
    template_env(false)
        .render_str(template, ctx)
        .map_err(|e| e.to_string())
}

/// The environment templates render in; `html`: values HTML-escaped.
fn template_env(html: bool) -> Environment<'static> {
    let mut env = Environment::new();
    if html {
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    }
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
    env
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

/// Where a lookup reads (what a queued mail carries to finish it when sending).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LookupSpec {
    Csv {
        path: std::path::PathBuf,
        key: String,
    },
    Sql {
        db: std::path::PathBuf,
        query: String,
    },
    Url {
        url: String,
        token: Option<chat::SecretRef>,
        cache_secs: u64,
    },
}

/// Chat destinations of a rule (`chat = [{ service = "slack", … }]`): where each goes
/// and the secrets it names; the message itself is made by `deliver::chat`.
pub mod chat {
    use serde::Serialize;
    use serde_json::{Value, json};

    /// The services a rule can post to.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Service {
        Slack,
        Mattermost,
        Teams,
        Discord,
        GoogleChat,
        Ntfy,
        Matrix,
        Telegram,
    }

    impl Service {
        pub const ALL: [Service; 8] = [
            Service::Slack,
            Service::Mattermost,
            Service::Teams,
            Service::Discord,
            Service::GoogleChat,
            Service::Ntfy,
            Service::Matrix,
            Service::Telegram,
        ];

        pub fn as_str(self) -> &'static str {
            match self {
                Service::Slack => "slack",
                Service::Mattermost => "mattermost",
                Service::Teams => "teams",
                Service::Discord => "discord",
                Service::GoogleChat => "google_chat",
                Service::Ntfy => "ntfy",
                Service::Matrix => "matrix",
                Service::Telegram => "telegram",
            }
        }

        pub fn parse(s: &str) -> Option<Service> {
            Service::ALL.into_iter().find(|x| x.as_str() == s)
        }

        /// Services addressed by a webhook URL that is itself the secret.
        pub fn url_is_secret(self) -> bool {
            matches!(
                self,
                Service::Slack
                    | Service::Mattermost
                    | Service::Teams
                    | Service::Discord
                    | Service::GoogleChat
            )
        }
    }

    /// A secret named in a rule file: an environment variable or a command printing it.
    #[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
    pub struct SecretRef {
        pub env: Option<String>,
        pub command: Option<String>,
    }

    impl SecretRef {
        pub fn is_set(&self) -> bool {
            self.env.is_some() || self.command.is_some()
        }

        pub fn to_json(&self) -> Value {
            if self.is_set() {
                json!({ "env": self.env, "command": self.command })
            } else {
                Value::Null
            }
        }
    }

    /// One chat destination of a rule, checked at load.
    #[derive(Debug, Clone, Serialize, serde::Deserialize)]
    pub struct Chat {
        pub service: Service,
        /// Where it goes, for people, logs and holding a destination back: never a secret
        /// (`https://hooks.slack.com/… (SLACK_WEBHOOK_URL)`).
        pub shown: String,
        /// The URL when it is no secret: ntfy's topic URL, Matrix's homeserver, Telegram's
        /// API base.
        pub url: Option<String>,
        /// The webhook URL's secret (Slack, Mattermost, Teams, Discord, Google Chat).
        pub url_secret: SecretRef,
        /// A token: ntfy's access token, Matrix's access token, Telegram's bot token.
        pub token: SecretRef,
        /// Matrix: the room id (`!abc:example.org`).
        pub room: Option<String>,
        /// Telegram: the chat id.
        pub chat_id: Option<String>,
        /// `file:line:column` in its rule file, for errors.
        #[serde(skip)]
        pub origin: String,
    }

    /// Telegram's documented API base.
    pub const TELEGRAM_API: &str = "https://api.telegram.org";
}

/// Mail for the domain's own customer (see `rules::lookup`): templates and recipients
/// rendered with lookup rows.
pub mod customer {
    // Mail for the domain's own customer: a forward whose recipients or template come
    // from lookups (`to = ["{{ customer.email }}"]`, `template = "….{{ customer.language
    // | default('en') }}.txt"`). It is rendered when it is sent, from the event, the rule
    // and every lookup's row (url lookups fetched then): a template file's first line is
    // `Subject: …`, the rest the text; a `.html` twin beside a `.txt` file is the HTML
    // part. No registrar JSON and no original message go with it.
    use std::path::{Path, PathBuf};

    use serde_json::{Map, Value, json};

    use super::Forward;
    use crate::action;
    use crate::event::Event;

    /// A template file read: its subject line and body.
    pub struct TemplateFile {
        pub path: PathBuf,
        pub subject: String,
        pub body: String,
    }

    /// Reads a template file: the first line must be `Subject: …`; one empty line after
    /// it is skipped.
    pub fn read_template(path: &Path) -> Result<TemplateFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("template {}: {}", path.display(), crate::reason::io(&e)))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
        let subject = first
            .trim_end_matches('\r')
            .strip_prefix("Subject:")
            .ok_or_else(|| {
                format!(
                    "template {}: the first line must be \"Subject: …\"",
                    path.display()
                )
            })?
            .trim()
            .to_string();
        let body = rest
            .strip_prefix("\r\n")
            .or_else(|| rest.strip_prefix('\n'))
            .unwrap_or(rest);
        Ok(TemplateFile {
            path: path.to_path_buf(),
            subject,
            body: body.to_string(),
        })
    }

    /// The `.html` twin of a `.txt` template, when there is one.
    pub fn html_twin(path: &Path) -> Option<PathBuf> {
        (path.extension()? == "txt")
            .then(|| path.with_extension("html"))
            .filter(|p| p.is_file())
    }

    /// The template context: the event's fields, `rule`, `key`, and each lookup's row
    /// under its name (absent when it found nobody, so `default(…)` applies).
    pub fn context(event: &Event, rule: &str, rows: &Map<String, Value>) -> minijinja::Value {
        let mut v = serde_json::to_value(event).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut v {
            map.insert("rule".into(), Value::String(rule.to_string()));
            map.insert("key".into(), Value::String(event.key()));
            for (name, row) in rows {
                if !row.is_null() {
                    map.insert(name.clone(), row.clone());
                }
            }
        }
        minijinja::Value::from_serialize(&v)
    }

    /// The template file `forward` names for this context.
    pub fn template_path(f: &Forward, ctx: &minijinja::Value) -> Result<Option<PathBuf>, String> {
        let Some(t) = &f.template else {
            return Ok(None);
        };
        let rendered =
            action::render(t, ctx.clone()).map_err(|e| format!("template path {t:?}: {e}"))?;
        let rel = Path::new(rendered.trim());
        Ok(Some(match &f.base_dir {
            Some(dir) if rel.is_relative() => dir.join(rel),
            _ => rel.to_path_buf(),
        }))
    }

    /// The addresses `list` renders to (each entry may render to several, separated by
    /// commas or spaces; what is not an address is left out).
    pub fn addresses(list: &[String], ctx: &minijinja::Value) -> Vec<String> {
        let mut out = Vec::new();
        for entry in list {
            let text = if entry.contains("{{") || entry.contains("{%") {
                action::render(entry, ctx.clone()).unwrap_or_default()
            } else {
                entry.clone()
            };
            for part in text.split([',', ';', '\n']) {
                let part = part.trim();
                if !part.is_empty()
                    && (lettre::Address::try_from(part.to_string()).is_ok()
                        || part.parse::<lettre::message::Mailbox>().is_ok())
                {
                    out.push(part.to_string());
                }
            }
        }
        out
    }

    /// The mail of a customer forward: `to`, `subject`, `text`, `html`, `from`,
    /// `reply_to`. An error is for a person (a template that went missing).
    pub fn mail(
        f: &Forward,
        event: &Event,
        rule: &str,
        rows: &Map<String, Value>,
        test: bool,
    ) -> Result<Value, String> {
        let ctx = context(event, rule, rows);
        let mut to = addresses(&f.to, &ctx);
        let mut missing = false;
        if to.is_empty() {
            to = f.missing_to.clone();
            missing = true;
        }
        if to.is_empty() {
            return Err(format!(
                "forward.to ({}) rendered to no address and there is no missing_to",
                f.to.join(", ")
            ));
        }
        let (subject, text, html) = match template_path(f, &ctx)? {
            Some(path) => {
                let t = read_template(&path)?;
                let subject = action::render(&t.subject, ctx.clone())
                    .map_err(|e| format!("template {}: subject: {e}", path.display()))?;
                let text = action::render(&t.body, ctx.clone())
                    .map_err(|e| format!("template {}: {e}", path.display()))?;
                let html = match html_twin(&path) {
                    Some(h) => {
                        let src = std::fs::read_to_string(&h).map_err(|e| {
                            format!("template {}: {}", h.display(), crate::reason::io(&e))
                        })?;
                        Some(
                            render_html(&src, ctx.clone())
                                .map_err(|e| format!("template {}: {e}", h.display()))?,
                        )
                    }
                    None => None,
                };
                (subject, text, html)
            }
            None => {
                let subject = action::render(
                    f.subject.as_deref().unwrap_or(action::DEFAULT_SUBJECT),
                    ctx.clone(),
                )
                .map_err(|e| format!("forward.subject: {e}"))?;
                let text = action::render(f.body.as_deref().unwrap_or(action::DEFAULT_BODY), ctx)
                    .map_err(|e| format!("forward.body: {e}"))?;
                (subject, text, None)
            }
        };
        let mut subject = action::header_safe(&subject);
        let mut text = text;
        if test {
            subject = format!("[TEST] {subject}");
            text = format!(
                "This is a test notification sent by `mailroom rules test --send`.\n\n{text}"
            );
        }
        if missing {
            text = format!(
                "(No recipient was found for this event: {} rendered to no address; sent to missing_to.)\n\n{text}",
                f.to.join(", ")
            );
        }
        let mut mail = json!({
            "to": to,
            "cc": addresses(&f.cc, &context(event, rule, rows)),
            "subject": subject,
            "text": text,
            "event_key": event.key(),
        });
        if let Some(h) = html {
            mail["html"] = Value::String(h);
        }
        if let Some(from) = &f.from {
            mail["from"] = Value::String(from.clone());
        }
        if let Some(r) = &f.reply_to {
            mail["reply_to"] = Value::String(r.clone());
        }
        Ok(mail)
    }

    /// An HTML template: values are HTML-escaped.
    fn render_html(src: &str, ctx: minijinja::Value) -> Result<String, String> {
        super::template_env(true)
            .render_str(src, ctx)
            .map_err(|e| e.to_string())
    }
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
