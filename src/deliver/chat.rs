//! Chat destinations (`chat = [{ service = "slack", … }]` in a rule): one event as the
//! message each service's own documentation asks for, made when it is sent from what
//! was queued (the destination, the event, the rule, the link), the same each time, so
//! a retry sends the same message. The call says how to send it (method, URL or the
//! secret that holds it, headers, body); secrets (webhook URLs, tokens) are named,
//! never stored, and read when sending.
//!
//! Every message says in one glance the registrar, what happened, the domain, its state
//! and the registrar's own words, with a link to the event in the console when
//! `[http] public_url` is set. Values from payloads are escaped for each service's
//! markup, and mentions are never triggered by them.

use serde_json::{Value, json};

use crate::action::chat::{Chat, Service, TELEGRAM_API};
use crate::event::Event;

/// The call for a queued chat message (`ingest::rules::chat_payload`).
pub fn call_of(payload: &Value) -> Result<Value, super::DeliveryError> {
    let broken = |what: &str| {
        super::DeliveryError::permanent(format!("chat: the queued item has no {what}"))
    };
    let chat: Chat =
        serde_json::from_value(payload["chat"].clone()).map_err(|_| broken("destination"))?;
    let event: Event =
        serde_json::from_value(payload["event"].clone()).map_err(|_| broken("event"))?;
    Ok(call(
        &event,
        &chat,
        payload["rule"].as_str().unwrap_or_default(),
        payload["link"].as_str(),
        payload["test"] == true,
    ))
}

/// The call that posts `event` to `chat`: what the webhook sender reads (see
/// `deliver::webhook`). `link`: the event's page in the console, when there is one.
pub fn call(event: &Event, chat: &Chat, rule: &str, link: Option<&str>, test: bool) -> Value {
    let m = Message::of(event, link, test);
    let mut call = json!({
        "service": chat.service.as_str(),
        "url": chat.shown,
        "method": "POST",
        "content_type": "application/json",
        "idempotency_key": Value::Null,
        "url_secret": chat.url_secret.to_json(),
        "bearer": Value::Null,
        "headers": [],
        "rule": rule,
    });
    let (body, extra) = match chat.service {
        Service::Slack => (slack(&m), json!({})),
        Service::Mattermost => (json!({ "text": m.markdown(escape_markdown) }), json!({})),
        Service::Teams => (teams(&m), json!({})),
        Service::Discord => (discord(&m), json!({})),
        Service::GoogleChat => (google_chat(&m), json!({})),
        Service::Ntfy => {
            let mut headers = vec![
                json!(["Title", header_text(&m.title_in(str::to_string))]),
                json!([
                    "Priority",
                    if m.attention.is_some() {
                        "high"
                    } else {
                        "default"
                    }
                ]),
                json!(["Tags", m.tags().join(",")]),
            ];
            if let Some(l) = m.link {
                headers.push(json!(["Click", l]));
            }
            (
                Value::String(m.plain_body()),
                json!({
                    "send_url": chat.url,
                    "content_type": "text/plain; charset=utf-8",
                    "bearer": chat.token.to_json(),
                    "headers": headers,
                }),
            )
        }
        Service::Matrix => {
            let homeserver = chat
                .url
                .as_deref()
                .unwrap_or_default()
                .trim_end_matches('/');
            let room = chat.room.as_deref().unwrap_or_default();
            // The transaction id makes a retry the same message (Matrix ignores a
            // second PUT with it): one per event, rule and room.
            let txn = format!(
                "mailroom-{}",
                &crate::text::to_hex(&sha(&[&event.key(), rule, room]))[..24]
            );
            (
                json!({
                    "msgtype": if m.attention.is_some() { "m.text" } else { "m.notice" },
                    "body": m.plain(),
                    "format": "org.matrix.custom.html",
                    "formatted_body": m.html(),
                }),
                json!({
                    "method": "PUT",
                    "send_url": format!(
                        "{homeserver}/_matrix/client/v3/rooms/{}/send/m.room.message/{txn}",
                        percent(room)
                    ),
                    "bearer": chat.token.to_json(),
                }),
            )
        }
        Service::Telegram => {
            let base = chat
                .url
                .as_deref()
                .unwrap_or(TELEGRAM_API)
                .trim_end_matches('/');
            (
                json!({
                    "chat_id": chat.chat_id,
                    "text": clip_chars(&m.telegram_html(), 4096),
                    "parse_mode": "HTML",
                    "link_preview_options": { "is_disabled": true },
                }),
                json!({
                    "url_template": format!("{base}/bot{{secret}}/sendMessage"),
                    "url_secret": chat.token.to_json(),
                }),
            )
        }
    };
    if let (Value::Object(c), Value::Object(e)) = (&mut call, extra) {
        for (k, v) in e {
            c.insert(k, v);
        }
    }
    call["body"] = Value::String(match body {
        Value::String(s) => s,
        other => other.to_string(),
    });
    call
}

fn sha(parts: &[&str]) -> Vec<u8> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize().to_vec()
}

/// What every service's message says.
struct Message<'a> {
    /// `[TEST] ` when sent by `rules test --send`.
    test: bool,
    registrar: &'static str,
    /// One line: registrar, what happened, the domain.
    title: String,
    what: String,
    domain: Option<&'a str>,
    state: Option<String>,
    words: Option<&'a str>,
    attention: Option<&'static str>,
    link: Option<&'a str>,
    event: &'a Event,
}

impl<'a> Message<'a> {
    fn of(event: &'a Event, link: Option<&'a str>, test: bool) -> Message<'a> {
        let registrar = match event.registrar {
            crate::event::Registrar::Opensrs => "OpenSRS",
            crate::event::Registrar::Autodns => "AutoDNS",
            crate::event::Registrar::Gandi => "Gandi",
            crate::event::Registrar::Mailroom => "mailroom",
            crate::event::Registrar::Unknown => "Registrar",
        };
        let what = event.topic.replace(['.', '_'], " ");
        let domain = event.domain.as_deref();
        let mut title = format!("{registrar}: {what}");
        if let Some(d) = domain {
            title.push_str(&format!(" {d}"));
        }
        let state = match (&event.status, event.attention()) {
            (_, Some(why)) => Some(why.to_string()),
            (Some(s), None) => Some(s.clone()),
            (None, None) => None,
        };
        Message {
            test,
            registrar,
            title: crate::action::header_safe(&title),
            what,
            domain,
            state,
            words: event
                .status_text
                .as_deref()
                .filter(|s| !s.trim().is_empty()),
            attention: event.attention(),
            link,
            event,
        }
    }

    /// The title in a service's markup (`esc`), after `[TEST] ` when it is a test.
    fn title_in(&self, esc: fn(&str) -> String) -> String {
        let prefix = if self.test { "[TEST] " } else { "" };
        format!("{prefix}{}", esc(&self.title))
    }

    /// (label, value) lines beneath the title.
    fn facts(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![("Registrar", self.registrar.to_string())];
        out.push(("What", format!("{} ({})", self.what, self.event.event_type)));
        if let Some(d) = self.domain {
            out.push(("Domain", d.to_string()));
        }
        if let Some(s) = &self.state {
            out.push(("State", s.clone()));
        }
        if let Some(w) = self.words {
            out.push(("Registrar says", clip_chars(w, 500)));
        }
        if let Some(t) = &self.event.occurred_at {
            out.push(("When", t.clone()));
        }
        out.push(("Event", self.event.key()));
        out
    }

    fn tags(&self) -> Vec<String> {
        let mut t = vec![if self.attention.is_some() {
            "warning".to_string()
        } else {
            "information_source".to_string()
        }];
        t.push(self.event.registrar.as_str().to_string());
        if self.test {
            t.push("test".into());
        }
        t
    }

    fn plain_body(&self) -> String {
        let mut out = String::new();
        for (k, v) in self.facts() {
            out.push_str(&format!("{k}: {v}\n"));
        }
        if self.test {
            out.push_str("This is a test sent by `mailroom rules test --send`.\n");
        }
        out
    }

    fn plain(&self) -> String {
        let mut out = format!("{}\n", self.title_in(str::to_string));
        out.push_str(&self.plain_body());
        if let Some(l) = self.link {
            out.push_str(l);
            out.push('\n');
        }
        out
    }

    /// Markdown with values escaped by `esc` (Mattermost, Discord, Google Chat).
    fn markdown(&self, esc: fn(&str) -> String) -> String {
        let mut out = format!("**{}**\n", self.title_in(esc));
        for (k, v) in self.facts() {
            out.push_str(&format!("{k}: {}\n", esc(&v)));
        }
        if let Some(l) = self.link {
            out.push_str(&format!("[Open in mailroom]({l})\n"));
        }
        out
    }

    fn html(&self) -> String {
        let e = crate::text::esc;
        let mut out = format!("<strong>{}</strong><br>", self.title_in(e));
        for (k, v) in self.facts() {
            out.push_str(&format!("{k}: {}<br>", e(&v)));
        }
        if let Some(l) = self.link {
            out.push_str(&format!("<a href=\"{}\">Open in mailroom</a>", e(l)));
        }
        out
    }

    /// Telegram's HTML subset: `<b>`, `<a href>`, and `&lt; &gt; &amp; &quot;` only.
    fn telegram_html(&self) -> String {
        let e = telegram_escape;
        let mut out = format!("<b>{}</b>\n", self.title_in(e));
        for (k, v) in self.facts() {
            out.push_str(&format!("{k}: {}\n", e(&v)));
        }
        if let Some(l) = self.link {
            out.push_str(&format!("<a href=\"{}\">Open in mailroom</a>\n", e(l)));
        }
        out
    }
}

fn slack(m: &Message<'_>) -> Value {
    let facts: Vec<String> = m
        .facts()
        .into_iter()
        .map(|(k, v)| format!("*{k}:* {}", slack_escape(&v)))
        .collect();
    let mut blocks = vec![
        json!({ "type": "section", "text": { "type": "mrkdwn",
            "text": clip_chars(&format!("*{}*", m.title_in(slack_escape)), 3000) } }),
        json!({ "type": "section", "text": { "type": "mrkdwn",
            "text": clip_chars(&facts.join("\n"), 3000) } }),
    ];
    if let Some(l) = m.link {
        blocks.push(json!({ "type": "context", "elements": [
            { "type": "mrkdwn", "text": format!("<{}|Open in mailroom>", slack_escape(l)) }
        ] }));
    }
    json!({ "text": m.title_in(slack_escape), "blocks": blocks })
}

fn teams(m: &Message<'_>) -> Value {
    let facts: Vec<Value> = m
        .facts()
        .into_iter()
        .map(|(k, v)| json!({ "title": k, "value": v }))
        .collect();
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            { "type": "TextBlock", "text": m.title_in(str::to_string), "weight": "Bolder", "size": "Medium",
              "wrap": true, "color": if m.attention.is_some() { "Attention" } else { "Default" } },
            { "type": "FactSet", "facts": facts },
        ],
    });
    if let Some(l) = m.link {
        card["actions"] =
            json!([{ "type": "Action.OpenUrl", "title": "Open in mailroom", "url": l }]);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

fn discord(m: &Message<'_>) -> Value {
    let fields: Vec<Value> = m
        .facts()
        .into_iter()
        .take(25)
        .map(|(k, v)| {
            json!({ "name": k, "value": clip_chars(&escape_markdown(&v), 1024), "inline": k != "Registrar says" })
        })
        .collect();
    let mut embed = json!({
        "title": clip_chars(&m.title_in(str::to_string), 256),
        "color": if m.attention.is_some() { 0xE67E22 } else { 0x3498DB },
        "fields": fields,
    });
    if let Some(l) = m.link {
        embed["url"] = json!(l);
    }
    json!({
        "content": clip_chars(&m.title_in(escape_markdown), 2000),
        "embeds": [embed],
        // Nothing from a payload may ping anyone.
        "allowed_mentions": { "parse": [] },
    })
}

fn google_chat(m: &Message<'_>) -> Value {
    let mut text = format!("*{}*\n", m.title_in(escape_markdown));
    for (k, v) in m.facts() {
        text.push_str(&format!("{k}: {}\n", escape_markdown(&v)));
    }
    if let Some(l) = m.link {
        text.push_str(&format!("<{l}|Open in mailroom>\n"));
    }
    json!({ "text": text })
}

/// Slack's mrkdwn: `&`, `<` and `>` escaped, as its documentation asks.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Telegram's HTML mode: `<`, `>`, `&` and `"` as entities.
fn telegram_escape(s: &str) -> String {
    slack_escape(s).replace('"', "&quot;")
}

/// Markdown's emphasis, code, link and mention characters made literal.
fn escape_markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '~' | '`' | '|' | '[' | ']' | '<' | '>' | '@' | '#'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A header value: printable, one line, at most 200 characters; beyond ASCII as an
/// RFC 2047 encoded word, which ntfy decodes.
fn header_text(s: &str) -> String {
    use base64::Engine;
    let safe = crate::action::header_safe(s);
    if safe.is_ascii() {
        return safe;
    }
    format!(
        "=?UTF-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(safe.as_bytes())
    )
}

fn clip_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A path segment with everything but unreserved characters percent-encoded.
fn percent(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::chat::SecretRef;
    use crate::event::{Format, Kind, Registrar};

    fn event(status: &str, words: &str) -> Event {
        Event {
            registrar: Registrar::Autodns,
            event_id: "job-1".into(),
            kind: Kind::Event,
            object: "domain".into(),
            event_type: "TRANSFER_OUT".into(),
            topic: "transfer.out".into(),
            domain: Some("b<ad>&_co.de".into()),
            domains: vec![],
            status: Some(status.into()),
            status_text: Some(words.into()),
            occurred_at: Some("2026-12-01T10:00:00Z".into()),
            format: Format::Json,
            data: json!({"a": 1}),
            authenticated: None,
            authentication: None,
            occurred_at_source: None,
            rules_skipped: None,
        }
    }

    fn chat(service: Service) -> Chat {
        Chat {
            service,
            shown: "https://hooks.example/… (X)".into(),
            url: Some("https://chat.example".into()),
            url_secret: SecretRef {
                env: Some("X".into()),
                command: None,
            },
            token: SecretRef {
                env: Some("T".into()),
                command: None,
            },
            room: Some("!room:example.org".into()),
            chat_id: Some("-100123".into()),
            origin: String::new(),
        }
    }

    fn body(c: &Value) -> Value {
        serde_json::from_str(c["body"].as_str().unwrap()).unwrap()
    }

    #[test]
    fn each_service_gets_its_documented_shape_with_values_escaped() {
        let e = event("pending", "@everyone <b>losing</b> it");
        let link = Some("https://mr.example/events/7");
        let slack = call(&e, &chat(Service::Slack), "r", link, false);
        let b = body(&slack);
        assert!(
            b["text"]
                .as_str()
                .unwrap()
                .contains("b&lt;ad&gt;&amp;_co.de")
        );
        assert_eq!(b["blocks"][0]["type"], "section");
        assert_eq!(b["blocks"][2]["type"], "context");
        assert!(slack["send_url"].is_null() && slack["url_secret"]["env"] == "X");

        let teams = body(&call(&e, &chat(Service::Teams), "r", link, false));
        assert_eq!(teams["type"], "message");
        let att = &teams["attachments"][0];
        assert_eq!(
            att["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(att["content"]["type"], "AdaptiveCard");
        assert_eq!(
            att["content"]["actions"][0]["url"],
            "https://mr.example/events/7"
        );

        let discord = body(&call(&e, &chat(Service::Discord), "r", None, false));
        assert_eq!(discord["allowed_mentions"]["parse"], json!([]));
        assert!(
            discord["embeds"][0]["fields"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["value"].as_str().unwrap().contains("\\@everyone"))
        );

        let tg = call(&e, &chat(Service::Telegram), "r", link, false);
        assert_eq!(
            tg["url_template"],
            "https://chat.example/bot{secret}/sendMessage"
        );
        let t = body(&tg);
        assert_eq!(t["parse_mode"], "HTML");
        assert_eq!(t["chat_id"], "-100123");
        let text = t["text"].as_str().unwrap();
        assert!(text.contains("&lt;b&gt;losing&lt;/b&gt;") && !text.contains("<b>losing"));

        let ntfy = call(&e, &chat(Service::Ntfy), "r", link, false);
        let headers = ntfy["headers"].as_array().unwrap();
        let h = |k: &str| {
            headers
                .iter()
                .find(|x| x[0] == k)
                .map(|x| x[1].as_str().unwrap().to_string())
        };
        // A pending transfer out needs a person: high priority.
        assert_eq!(h("Priority").as_deref(), Some("high"));
        assert_eq!(h("Click").as_deref(), link);
        assert!(h("Tags").unwrap().starts_with("warning"));
        assert_eq!(ntfy["content_type"], "text/plain; charset=utf-8");
        let calm = call(
            &event("completed", "done"),
            &chat(Service::Ntfy),
            "r",
            None,
            false,
        );
        assert!(calm["headers"][1][1] == "default");
    }

    #[test]
    fn a_matrix_retry_is_the_same_transaction() {
        let e = event("pending", "x");
        let a = call(&e, &chat(Service::Matrix), "rule", None, false);
        let b = call(&e, &chat(Service::Matrix), "rule", None, false);
        let other = call(&e, &chat(Service::Matrix), "other rule", None, false);
        assert_eq!(a["method"], "PUT");
        assert_eq!(a["send_url"], b["send_url"]);
        assert_ne!(a["send_url"], other["send_url"]);
        assert!(a["send_url"].as_str().unwrap().starts_with(
            "https://chat.example/_matrix/client/v3/rooms/%21room%3Aexample.org/send/m.room.message/mailroom-"
        ));
        assert_eq!(body(&a)["format"], "org.matrix.custom.html");
        assert!(
            !body(&a)["formatted_body"]
                .as_str()
                .unwrap()
                .contains("<ad>")
        );
    }

    #[test]
    fn non_ascii_titles_are_encoded_words() {
        assert_eq!(header_text("plain"), "plain");
        assert_eq!(header_text("bücher.de"), "=?UTF-8?B?YsO8Y2hlci5kZQ==?=");
    }
}
