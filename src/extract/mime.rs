//! Walks a parsed email to the texts worth scanning: text parts (`format=flowed`
//! unflowed), textual attachments (`event_data.json`), HTML (as text, see [`html`])
//! when the plain parts gave nothing, and messages forwarded inside it
//! (`message/rfc822`), each with its own context.

use std::borrow::Cow;

use mail_parser::{Message, MessagePart, MimeHeaders, PartType};
use serde::Serialize;

use super::flowed::{self, Flow};
use super::{Context, Run, html};

/// How many forwarded-message levels are followed.
const MAX_NESTING: usize = 8;

/// The headers the store keeps beside the events.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MessageMeta {
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub from: Option<String>,
    /// The Date header as RFC 3339, when it parses.
    pub date: Option<String>,
}

impl MessageMeta {
    pub fn of(m: &Message<'_>) -> MessageMeta {
        MessageMeta {
            message_id: m.message_id().map(str::to_string),
            subject: m.subject().map(str::to_string),
            from: m
                .from()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .map(str::to_string),
            date: m.date().map(|d| d.to_rfc3339()),
        }
    }
}

pub(crate) fn walk(message: &Message<'_>, ctx: &Context, run: &mut Run) {
    walk_level(message, ctx, run, 0);
}

fn walk_level(message: &Message<'_>, ctx: &Context, run: &mut Run, depth: usize) {
    let mut found = 0;
    let mut html = Vec::new();
    for part in &message.parts {
        match &part.body {
            PartType::Text(text) => found += run.text(&unflowed(part, text), ctx),
            PartType::Html(_) => html.push(part),
            PartType::Binary(bytes) | PartType::InlineBinary(bytes) => {
                if is_forwarded_file(part) && depth < MAX_NESTING {
                    if let Some(inner) = super::parser().parse(bytes.as_ref()) {
                        let inner_ctx = Context::of(&inner, Some(ctx));
                        walk_level(&inner, &inner_ctx, run, depth + 1);
                    }
                } else if is_textual(part) {
                    found += run.text(&unflowed(part, &decode_text(bytes)), ctx);
                }
            }
            PartType::Message(inner) if depth < MAX_NESTING => {
                let inner_ctx = Context::of(inner, Some(ctx));
                walk_level(inner, &inner_ctx, run, depth + 1);
            }
            PartType::Message(_) | PartType::Multipart(_) => {}
        }
    }
    if found > 0 {
        return;
    }
    for part in html {
        let PartType::Html(source) = &part.body else {
            continue;
        };
        let text = html::to_text(source);
        if run.text(&text, ctx) == 0 {
            // XML sent raw inside HTML loses its tags in the conversion.
            run.text(source, ctx);
        }
    }
}

/// The part's text as its sender wrote it: `format=flowed` soft breaks joined.
fn unflowed<'a>(part: &MessagePart<'_>, text: &'a str) -> Cow<'a, str> {
    match Flow::of(part.content_type()) {
        Flow::Fixed => Cow::Borrowed(text),
        Flow::Flowed { delsp } => Cow::Owned(flowed::unflow(text, delsp)),
    }
}

/// An attachment whose bytes are text a payload may sit in.
fn is_textual(part: &MessagePart<'_>) -> bool {
    let name = part
        .attachment_name()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if [".json", ".xml", ".txt", ".epp", ".py"]
        .iter()
        .any(|e| name.ends_with(e))
    {
        return true;
    }
    part.content_type().is_some_and(|ct| {
        let sub = ct.subtype().unwrap_or_default().to_ascii_lowercase();
        ct.ctype().eq_ignore_ascii_case("text")
            || sub == "json"
            || sub == "xml"
            || sub.ends_with("+json")
            || sub.ends_with("+xml")
    })
}

/// An attached `.eml` that mail-parser left as bytes.
fn is_forwarded_file(part: &MessagePart<'_>) -> bool {
    let name = part
        .attachment_name()
        .unwrap_or_default()
        .to_ascii_lowercase();
    name.ends_with(".eml")
        || part.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("message")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("rfc822"))
        })
}

/// UTF-8 when it is, else ISO-8859-1 (every byte a character), never an error.
fn decode_text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(bytes.iter().map(|&b| b as char).collect()),
    }
}
