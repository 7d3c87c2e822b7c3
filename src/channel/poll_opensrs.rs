//! OpenSRS XCP event polling, as text: the `EVENT POLL` and `ACK` envelopes, the
//! `X-Signature` that signs them, and what a reply says. No I/O.

use md5::{Digest, Md5};

use crate::extract::{opensrs_ops, xml};
use crate::text::to_hex;
use crate::text::xml_escape;

const HEAD: &str = "<?xml version='1.0' encoding=\"UTF-8\" standalone=\"no\" ?>\n\
<!DOCTYPE OPS_envelope SYSTEM \"ops.dtd\">\n\
<OPS_envelope>\n <header>\n  <version>0.9</version>\n </header>\n <body>\n  <data_block>\n   <dt_assoc>\n\
    <item key=\"protocol\">XCP</item>\n    <item key=\"object\">EVENT</item>\n";
const TAIL: &str = "   </dt_assoc>\n  </data_block>\n </body>\n</OPS_envelope>\n";

fn envelope(action: &str, attributes: &str) -> String {
    format!(
        "{HEAD}    <item key=\"action\">{action}</item>\n    <item key=\"attributes\">\n     <dt_assoc>\n{attributes}     </dt_assoc>\n    </item>\n{TAIL}"
    )
}

/// `EVENT POLL` for at most `limit` events (OpenSRS allows 1 to 100).
pub fn poll_request(limit: u32) -> String {
    envelope(
        "POLL",
        &format!("      <item key=\"limit\">{}</item>\n", limit.clamp(1, 100)),
    )
}

/// `EVENT ACK` of one event: it leaves the queue and is not served again.
pub fn ack_request(event_id: &str) -> String {
    envelope(
        "ACK",
        &format!(
            "      <item key=\"event_id\">{}</item>\n",
            xml_escape(event_id)
        ),
    )
}

/// `X-Signature`: `md5_hex(md5_hex(body + key) + key)`, lowercase.
pub fn signature(body: &[u8], key: &str) -> String {
    let inner = to_hex(&Md5::new().chain_update(body).chain_update(key).finalize());
    to_hex(&Md5::new().chain_update(inner).chain_update(key).finalize())
}

/// What an XCP reply says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    pub success: bool,
    pub code: String,
    pub text: String,
    /// `event_id` of every event in `attributes.events`, in order.
    pub event_ids: Vec<String>,
    /// Events in the reply (`attributes.total`), when given.
    pub total: Option<u64>,
}

/// Reads an `OPS_envelope` reply; an error when it is not one.
pub fn parse_reply(body: &[u8]) -> Result<Reply, String> {
    let text = String::from_utf8_lossy(body);
    let start = text
        .find("<OPS_envelope")
        .ok_or("the reply is not an OPS_envelope")?;
    let (root, _) = xml::parse_document(&text[start..]).map_err(|e| format!("the reply: {e}"))?;
    let assoc = root
        .path(&["body", "data_block"])
        .and_then(|d| d.children.first())
        .ok_or("the reply has no data_block")?;
    let v = opensrs_ops::to_json(assoc);
    let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or_default();
    let attributes = v.get("attributes");
    let event_ids = attributes
        .and_then(|a| a.get("events"))
        .and_then(|e| e.as_array())
        .map(|events| {
            events
                .iter()
                .filter_map(|e| e.get("event_id").and_then(|i| i.as_str()))
                .map(|s| s.trim().to_string())
                .collect()
        })
        .unwrap_or_default();
    Ok(Reply {
        success: field("is_success").trim() == "1",
        code: field("response_code").trim().to_string(),
        text: field("response_text").trim().to_string(),
        event_ids,
        total: attributes
            .and_then(|a| a.get("total"))
            .and_then(|t| t.as_str())
            .and_then(|t| t.trim().parse().ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_double_md5_with_the_key() {
        // Computed independently with Python's hashlib.
        assert_eq!(
            signature(b"body", "key"),
            "3eb44c9b7b86479161e3d1c4ccd87b31"
        );
        assert_ne!(signature(b"body", "key"), signature(b"body", "other"));
    }

    #[test]
    fn a_poll_request_reads_back_as_an_envelope() {
        let r = parse_reply(poll_request(7).as_bytes()).unwrap();
        assert!(!r.success);
        assert!(poll_request(500).contains("<item key=\"limit\">100</item>"));
        assert!(ack_request("a<b").contains("a&lt;b"));
    }

    #[test]
    fn an_error_reply_gives_code_and_text() {
        let body = "<OPS_envelope><body><data_block><dt_assoc>\
            <item key=\"is_success\">0</item><item key=\"response_code\">400</item>\
            <item key=\"response_text\">Authentication Error.</item></dt_assoc></data_block></body></OPS_envelope>";
        let r = parse_reply(body.as_bytes()).unwrap();
        assert!(!r.success);
        assert_eq!(
            (r.code.as_str(), r.text.as_str()),
            ("400", "Authentication Error.")
        );
        assert!(parse_reply(b"<html>bad gateway</html>").is_err());
    }
}
