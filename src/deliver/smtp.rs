//! Mail out: SMTP with implicit TLS, STARTTLS or none, AUTH, an extra CA file (system
//! roots are trusted too; certificates are always verified), or a directory of `.eml`
//! files for local runs.

use std::path::PathBuf;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Body, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::Value;

use super::DeliveryError;
use crate::config::{Config, SmtpConfig, Tls as TlsMode};

pub enum Mailer {
    Smtp(Box<AsyncSmtpTransport<Tokio1Executor>>),
    Files(AsyncFileTransport<Tokio1Executor>, PathBuf),
    /// No `[smtp]` in the config: mail stays queued with an error saying so.
    Unconfigured,
}

impl Mailer {
    pub fn from_config(config: &Config) -> Result<Mailer, DeliveryError> {
        let Some(s) = &config.smtp else {
            return Ok(Mailer::Unconfigured);
        };
        if let Some(dir) = &s.dir {
            let dir = config.resolve(dir);
            std::fs::create_dir_all(&dir)
                .map_err(|e| DeliveryError::config(format!("{}: {e}", dir.display())))?;
            return Ok(Mailer::Files(AsyncFileTransport::new(&dir), dir));
        }
        smtp(config, s).map(|t| Mailer::Smtp(Box::new(t)))
    }

    pub fn describe(&self) -> String {
        match self {
            Mailer::Smtp(_) => "smtp".into(),
            Mailer::Files(_, dir) => format!("files in {}", dir.display()),
            Mailer::Unconfigured => "none".into(),
        }
    }

    /// Sends a composed mail (`to`, `cc`, `subject`, `text`, optional `html`), with
    /// the original message and the event attached when given.
    pub async fn send(
        &self,
        from: &str,
        mail: &Value,
        message_id: &str,
        original: Option<(Vec<u8>, bool)>,
    ) -> Result<(), DeliveryError> {
        let message = build(from, mail, message_id, original)?;
        match self {
            Mailer::Smtp(t) => t
                .send(message)
                .await
                .map(|_| ())
                .map_err(DeliveryError::from_smtp),
            Mailer::Files(t, _) => t
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| DeliveryError::transient(format!("writing the mail file: {e}"))),
            Mailer::Unconfigured => Err(DeliveryError::transient(
                "no [smtp] section in the config: mail cannot be sent".to_string(),
            )),
        }
    }
}

fn smtp(
    config: &Config,
    s: &SmtpConfig,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, DeliveryError> {
    let host = s.host.clone().unwrap_or_default();
    let port = s.port.unwrap_or(match s.tls {
        TlsMode::Implicit => 465,
        TlsMode::Starttls => 587,
        TlsMode::None => 25,
    });
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
        .port(port)
        .timeout(Some(s.timeout));
    if s.tls != TlsMode::None {
        let mut params = TlsParameters::builder(host.clone());
        if let Some(ca) = &s.ca_file {
            let path = config.resolve(ca);
            let pem = std::fs::read(&path).map_err(|e| {
                DeliveryError::config(format!("smtp ca_file {}: {e}", path.display()))
            })?;
            let cert = Certificate::from_pem(&pem).map_err(|e| {
                DeliveryError::config(format!("smtp ca_file {}: {e}", path.display()))
            })?;
            params = params.add_root_certificate(cert);
        }
        let params = params
            .build_rustls()
            .map_err(|e| DeliveryError::config(format!("smtp TLS setup: {e}")))?;
        builder = builder.tls(match s.tls {
            TlsMode::Implicit => Tls::Wrapper(params),
            _ => Tls::Required(params),
        });
    }
    if let Some(user) = &s.username {
        let password = s
            .password
            .resolve()
            .map_err(|e| DeliveryError::config(format!("smtp password: {e}")))?
            .unwrap_or_default();
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    Ok(builder.build())
}

fn mailboxes(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn parse_mailbox(s: &str) -> Result<Mailbox, DeliveryError> {
    s.parse::<Mailbox>()
        .map_err(|e| DeliveryError::permanent(format!("bad address {s:?}: {e}")))
}

fn build(
    from: &str,
    mail: &Value,
    message_id: &str,
    original: Option<(Vec<u8>, bool)>,
) -> Result<Message, DeliveryError> {
    let mut b = Message::builder()
        .from(parse_mailbox(from)?)
        .subject(mail["subject"].as_str().unwrap_or("[mailroom]"))
        .message_id(Some(message_id.to_string()));
    let to = mailboxes(&mail["to"]);
    if to.is_empty() {
        return Err(DeliveryError::permanent("no recipients".to_string()));
    }
    for t in &to {
        b = b.to(parse_mailbox(t)?);
    }
    for c in mailboxes(&mail["cc"]) {
        b = b.cc(parse_mailbox(&c)?);
    }
    let text = mail["text"].as_str().unwrap_or_default().to_string();
    let html = mail
        .get("html")
        .and_then(Value::as_str)
        .filter(|h| !h.is_empty());
    let event_json = mail.get("payload_json").and_then(Value::as_str);
    let built = if let Some(html) = html {
        b.multipart(MultiPart::alternative_plain_html(text, html.to_string()))
    } else if event_json.is_some() || original.is_some() {
        let mut mixed = MultiPart::mixed().singlepart(SinglePart::plain(text));
        if let Some(json) = event_json {
            mixed = mixed.singlepart(Attachment::new("event.json".into()).body(
                json.to_string(),
                ContentType::parse("application/json").unwrap_or(ContentType::TEXT_PLAIN),
            ));
        }
        if let Some((raw, complete)) = original {
            mixed = mixed.singlepart(original_part(raw, complete));
        }
        b.multipart(mixed)
    } else {
        b.singlepart(SinglePart::plain(text))
    };
    built.map_err(|e| DeliveryError::permanent(format!("composing the mail: {e}")))
}

/// The original message as `message/rfc822` (8-bit, as RFC 2046 wants) when it can be
/// sent so, else as an `.eml` file in base64. Only headers were kept for messages over
/// the size limit: those go as `text/rfc822-headers`.
fn original_part(raw: Vec<u8>, complete: bool) -> SinglePart {
    let (name, ctype) = if complete {
        ("original.eml", "message/rfc822")
    } else {
        ("original-headers.txt", "text/rfc822-headers")
    };
    let ct = ContentType::parse(ctype).unwrap_or(ContentType::TEXT_PLAIN);
    match as_8bit(&raw) {
        Some(crlf) => Attachment::new(name.into()).body(
            Body::dangerous_pre_encoded(
                crlf,
                lettre::message::header::ContentTransferEncoding::EightBit,
            ),
            ct,
        ),
        None => Attachment::new(name.into()).body(
            raw,
            ContentType::parse("application/octet-stream").unwrap_or(ContentType::TEXT_PLAIN),
        ),
    }
}

/// The message with CRLF line ends, when it is valid 8-bit MIME content: no NUL, no
/// bare CR, no line over 998 bytes.
fn as_8bit(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 40);
    for line in raw.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > 998 || line.contains(&0) || line.contains(&b'\r') {
            return None;
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    if raw.ends_with(b"\n") {
        out.truncate(out.len() - 2);
    }
    Some(out)
}
