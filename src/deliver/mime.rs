//! The mail itself, apart from any session: addresses, subject, text and HTML parts,
//! the original message and the event attached, kept under the size the server takes.

use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Body, Mailbox, MultiPart, SinglePart};
use serde_json::Value;

use super::DeliveryError;

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

/// [`build`], kept under `max_size` bytes: over it, the original message is left
/// out (with a note saying so); still over it, the text and the event JSON are cut.
pub(crate) fn build_within(
    from: &str,
    mail: &Value,
    message_id: &str,
    original: Option<(Vec<u8>, bool)>,
    max_size: u64,
) -> Result<Message, DeliveryError> {
    let mut mail = mail.clone();
    let group_note = super::compose::group_note(&mail);
    append_text(&mut mail, &group_note);
    let attached = original.as_ref().map(|(raw, _)| raw.len());
    let message = build(from, &mail, message_id, original)?;
    if message.formatted().len() as u64 <= max_size {
        return Ok(message);
    }
    let limit = human_size(max_size);
    if let Some(size) = attached {
        append_text(
            &mut mail,
            &format!(
                "\n\nThe original message ({}) is not attached: this mail would be\n\
                 over the {limit} limit ([smtp] max_message_size). mailroom keeps it.\n",
                human_size(size as u64)
            ),
        );
        let message = build(from, &mail, message_id, None)?;
        if message.formatted().len() as u64 <= max_size {
            return Ok(message);
        }
    }
    // Text and JSON share what is left (encodings can grow them by a third).
    let share = (max_size / 4).max(1024) as usize;
    for key in ["text", "html", "payload_json"] {
        if let Some(Value::String(s)) = mail.get_mut(key)
            && s.len() > share
        {
            let mut end = share;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
            if key == "payload_json" {
                // Cut JSON is not JSON: say what happened instead.
                *s = serde_json::json!({
                    "note": format!("left out: over the {limit} limit ([smtp] max_message_size)")
                })
                .to_string();
            } else {
                s.push_str(&format!(
                    "\n\n[… cut here: the mail would be over the {limit} limit\n\
                     ([smtp] max_message_size)]\n"
                ));
            }
        }
    }
    build(from, &mail, message_id, None)
}

fn append_text(mail: &mut Value, note: &str) {
    if note.is_empty() {
        return;
    }
    if let Some(Value::String(text)) = mail.get_mut("text") {
        text.push_str(note);
    }
}

fn human_size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
    } else if bytes >= 1 << 10 {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

fn build(
    from: &str,
    mail: &Value,
    message_id: &str,
    original: Option<(Vec<u8>, bool)>,
) -> Result<Message, DeliveryError> {
    // A forward may carry its own From (the reseller's brand) and Reply-To.
    let from = mail.get("from").and_then(Value::as_str).unwrap_or(from);
    let mut b = Message::builder()
        .from(parse_mailbox(from)?)
        .raw_header(subject_header(
            mail["subject"].as_str().unwrap_or("[mailroom]"),
        ))
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
    if let Some(r) = mail.get("reply_to").and_then(Value::as_str) {
        b = b.reply_to(parse_mailbox(r)?);
    }
    let text = mail["text"].as_str().unwrap_or_default().to_string();
    let html = mail
        .get("html")
        .and_then(Value::as_str)
        .filter(|h| !h.is_empty());
    let event_json = mail.get("payload_json").and_then(Value::as_str);
    let built = if let Some(html) = html {
        b.multipart(
            MultiPart::alternative()
                .singlepart(text_part(ContentType::TEXT_PLAIN, text))
                .singlepart(text_part(ContentType::TEXT_HTML, html.to_string())),
        )
    } else if event_json.is_some() || original.is_some() {
        let mut mixed = MultiPart::mixed().singlepart(text_part(ContentType::TEXT_PLAIN, text));
        if let Some(json) = event_json {
            let name = if mail.get("events").and_then(Value::as_i64).unwrap_or(1) > 1 {
                "events.json"
            } else {
                "event.json"
            };
            mixed = mixed.singlepart(Attachment::new(name.into()).body(
                json.to_string(),
                ContentType::parse("application/json").unwrap_or(ContentType::TEXT_PLAIN),
            ));
        }
        if let Some((raw, complete)) = original {
            mixed = mixed.singlepart(original_part(raw, complete));
        }
        b.multipart(mixed)
    } else {
        b.singlepart(text_part(ContentType::TEXT_PLAIN, text))
    };
    built.map_err(|e| DeliveryError::permanent(format!("composing the mail: {e}")))
}

/// A text part. Text holding control characters other than line breaks and tabs (a
/// NUL from a payload, ESC, a bare CR) is not valid 7bit or 8bit content: it goes
/// quoted-printable, which carries every byte. Otherwise lettre picks the encoding.
fn text_part(ctype: ContentType, text: String) -> SinglePart {
    let bytes = text.as_bytes();
    let has_controls = text.char_indices().any(|(i, c)| match c {
        '\n' | '\t' => false,
        '\r' => bytes.get(i + 1) != Some(&b'\n'),
        c => c.is_control(),
    });
    let body = if has_controls {
        Body::new_with_encoding(
            text,
            lettre::message::header::ContentTransferEncoding::QuotedPrintable,
        )
        .unwrap_or_else(Body::new)
    } else {
        Body::new(text)
    };
    SinglePart::builder().header(ctype).body(body)
}

/// The Subject header, folded to RFC 5322's 78 columns. lettre folds at spaces and
/// encodes non-ASCII words, but leaves a long ASCII word (a 200-character domain) on
/// one line; such a subject is sent as RFC 2047 encoded-words, one per line.
fn subject_header(subject: &str) -> lettre::message::header::HeaderValue {
    use lettre::message::header::{HeaderName, HeaderValue};
    let name = HeaderName::new_from_ascii_str("Subject");
    // "Subject: " is 9 columns; a word longer than the rest of a line cannot fold.
    if subject.split(' ').all(|w| w.len() <= 78 - 9) {
        return HeaderValue::new(name, subject.to_string());
    }
    HeaderValue::dangerous_new_pre_encoded(name, subject.to_string(), encoded_words(subject))
}

/// `s` as RFC 2047 base64 encoded-words of at most 42 bytes of UTF-8 each (68 columns),
/// split on character boundaries, joined by folding white space.
fn encoded_words(s: &str) -> String {
    let mut words = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let mut end = rest.len().min(42);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        words.push(format!("=?utf-8?b?{}?=", base64(&rest.as_bytes()[..end])));
        rest = &rest[end..];
    }
    words.join("\r\n ")
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_known_vectors() {
        assert_eq!(base64(b"Man"), "TWFu");
        assert_eq!(base64(b"Ma"), "TWE=");
        assert_eq!(base64(b"M"), "TQ==");
        assert_eq!(base64("é…".as_bytes()), "w6nigKY=");
    }

    #[test]
    fn an_unfoldable_subject_is_encoded_in_short_lines() {
        let subject = format!("[mailroom] opensrs CREATED {}…", "é".repeat(150));
        let header = subject_header(&subject);
        let mut headers = lettre::message::header::Headers::new();
        headers.insert_raw(header);
        let text = headers.to_string();
        for line in text.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(line.len() <= 78, "{line}");
        }
        assert!(text.starts_with("Subject: =?utf-8?b?"), "{text}");
        // Short words fold as usual, unencoded.
        let plain = subject_header("[mailroom] opensrs CREATED shop.example");
        let mut headers = lettre::message::header::Headers::new();
        headers.insert_raw(plain);
        assert_eq!(
            headers.to_string(),
            "Subject: [mailroom] opensrs CREATED shop.example\r\n"
        );
    }

    #[test]
    fn text_with_control_bytes_goes_quoted_printable() {
        let part = text_part(ContentType::TEXT_PLAIN, "a\u{0}b\u{1b}[31m\r\nok\n".into());
        let out = String::from_utf8(part.formatted()).unwrap();
        assert!(
            out.contains("Content-Transfer-Encoding: quoted-printable"),
            "{out}"
        );
        assert!(out.contains("a=00b=1B[31m"), "{out}");
        let part = text_part(ContentType::TEXT_PLAIN, "plain\r\ntext\n".into());
        let out = String::from_utf8(part.formatted()).unwrap();
        assert!(out.contains("Content-Transfer-Encoding: 7bit"), "{out}");
    }
}
