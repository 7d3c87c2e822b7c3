//! Mail for the domain's own customer: a forward whose recipients or template come
//! from lookups (`to = ["{{ customer.email }}"]`, `template = "….{{ customer.language
//! | default('en') }}.txt"`). It is rendered when it is sent, from the event, the rule
//! and every lookup's row (url lookups fetched then): a template file's first line is
//! `Subject: …`, the rest the text; a `.html` twin beside a `.txt` file is the HTML
//! part. No registrar JSON and no original message go with it.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::action::{self, Forward};
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
        text =
            format!("This is a test notification sent by `mailroom rules test --send`.\n\n{text}");
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
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    env.set_formatter(|out, state, value| {
        let value = if value.is_none() {
            &minijinja::Value::UNDEFINED
        } else {
            value
        };
        minijinja::escape_formatter(out, state, value)
    });
    env.render_str(src, ctx).map_err(|e| e.to_string())
}
