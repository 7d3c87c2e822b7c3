//! AutoDNS / InterNetX polling, as text: what a `GET /poll` (JSON) or task 0905 (XML)
//! reply holds, whether a `PUT /poll/{id}` or task 0906 succeeded, and the XML
//! requests with their `<auth>` block. No I/O.

use serde_json::Value;

use crate::extract::xml;
use crate::text::xml_escape;

/// What a poll or confirm reply says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    /// `status.type` is success (any case).
    pub success: bool,
    pub code: String,
    pub text: String,
    /// The id of the message served (`data[0].message.id`, or `data[0].id` for an
    /// event notification), to confirm it with.
    pub message_id: Option<String>,
    /// Messages waiting, as the registrar counts them (`summary`).
    pub summary: Option<u64>,
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads a JSON reply of `GET /poll` or `PUT /poll/{id}`.
pub fn parse_json(body: &[u8]) -> Result<Reply, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("the reply is not JSON: {e}"))?;
    let status = v.get("status").ok_or("the reply has no status")?;
    let field = |k: &str| status.get(k).and_then(text_of).unwrap_or_default();
    let first = v
        .get("data")
        .and_then(|d| d.as_array())
        .and_then(|d| d.first());
    let message_id = first.and_then(|item| {
        item.get("message")
            .and_then(|m| m.get("id"))
            .or_else(|| item.get("id"))
            .and_then(text_of)
    });
    let summary = first
        .and_then(|item| item.get("summary"))
        .and_then(|s| s.as_u64().or_else(|| s.as_str()?.trim().parse().ok()));
    Ok(Reply {
        success: field("type").eq_ignore_ascii_case("success"),
        code: field("code"),
        text: field("text"),
        message_id,
        summary,
    })
}

/// Reads an XML reply of task 0905 or 0906.
pub fn parse_xml(body: &[u8]) -> Result<Reply, String> {
    let text = String::from_utf8_lossy(body);
    let start = text
        .find("<response")
        .ok_or("the reply is not an AutoDNS <response>")?;
    let (root, _) = xml::parse_document(&text[start..]).map_err(|e| format!("the reply: {e}"))?;
    let result = root.child("result").ok_or("the reply has no <result>")?;
    let status = |k: &str| {
        result
            .text_at(&["status", k])
            .unwrap_or_default()
            .to_string()
    };
    Ok(Reply {
        success: status("type").eq_ignore_ascii_case("success"),
        code: status("code"),
        text: status("text"),
        message_id: result
            .text_at(&["data", "message", "id"])
            .map(str::to_string),
        summary: result
            .text_at(&["data", "summary"])
            .and_then(|s| s.parse().ok()),
    })
}

/// Task 0905 (poll) or, with a message id, 0906 (confirm), with its `<auth>` block.
/// Holds the password: it is sent, never stored or logged.
pub fn xml_request(user: &str, password: &str, context: &str, confirm: Option<&str>) -> String {
    let task = match confirm {
        None => "<code>0905</code>".to_string(),
        Some(id) => format!(
            "<code>0906</code><message><id>{}</id></message>",
            xml_escape(id)
        ),
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<request><auth><user>{}</user><context>{}</context><password>{}</password></auth><task>{task}</task></request>\n",
        xml_escape(user),
        xml_escape(context),
        xml_escape(password)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_poll_reply_gives_the_message_id_and_summary() {
        let body = br#"{"stid":"x","status":{"code":"S0905","text":"ok","type":"SUCCESS"},
            "data":[{"summary":3,"message":{"id":1819917,"status":{"code":"S0101","type":"SUCCESS"}}}]}"#;
        let r = parse_json(body).unwrap();
        assert!(r.success);
        assert_eq!(r.message_id.as_deref(), Some("1819917"));
        assert_eq!(r.summary, Some(3));
        let notify = br#"{"status":{"type":"SUCCESS"},"data":[{"summary":1,"id":77,"notify":{"type":"transfer_start"}}]}"#;
        assert_eq!(
            parse_json(notify).unwrap().message_id.as_deref(),
            Some("77")
        );
    }

    #[test]
    fn json_error_reply_gives_code_and_text() {
        let body = br#"{"status":{"code":"EF01","text":"Authentication error.","type":"ERROR"}}"#;
        let r = parse_json(body).unwrap();
        assert!(!r.success);
        assert_eq!(
            (r.code.as_str(), r.text.as_str()),
            ("EF01", "Authentication error.")
        );
        assert!(parse_json(b"<html/>").is_err());
    }

    #[test]
    fn xml_poll_reply_and_request() {
        let body = b"<response><result><data><summary>1</summary><message><id>1855680</id></message></data>\
            <status><code>S0905</code><text>polled</text><type>success</type></status></result></response>";
        let r = parse_xml(body).unwrap();
        assert!(r.success);
        assert_eq!(r.message_id.as_deref(), Some("1855680"));
        assert_eq!(r.summary, Some(1));
        let req = xml_request("u", "p&w", "4", Some("12"));
        assert!(req.contains("<code>0906</code><message><id>12</id></message>"));
        assert!(req.contains("<password>p&amp;w</password>"));
    }
}
