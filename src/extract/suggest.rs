//! For a payload no extractor took: which extractor it comes closest to and which of
//! that extractor's fields it lacks, so `mailroom quarantine --suggest` can tell the
//! reseller what to send upstream. Pure, like the extractors.

use serde_json::Value;

use super::xml::Element;
use crate::event::Registrar;

/// The closest extractor and the fields it could not find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    pub extractor: &'static str,
    pub missing: Vec<&'static str>,
}

/// The words the quarantine reason carries them in; `quarantine --suggest` reads them
/// back.
pub const CLOSEST: &str = "closest extractor";
pub const MISSING: &str = "missing";

impl Suggestion {
    pub fn to_reason(&self) -> String {
        format!(
            "{CLOSEST} {}; {MISSING} {}",
            self.extractor,
            self.missing.join(", ")
        )
    }
}

/// Each JSON extractor, its registrar, and the fields (dotted paths; `a|b` means
/// either) it needs.
type Shape = (&'static str, Registrar, &'static [&'static str]);
const JSON_SHAPES: &[Shape] = &[
    (
        "opensrs",
        Registrar::Opensrs,
        &["object", "event", "event_id|object_data"],
    ),
    (
        "autodns-json",
        Registrar::Autodns,
        &["id", "notify.type|job|status.code", "object.type"],
    ),
    (
        "autodns-json-reply",
        Registrar::Autodns,
        &["stid", "status.code", "object.type"],
    ),
    (
        "gandi",
        Registrar::Gandi,
        &["source_notification", "domain|domains|handle"],
    ),
];

fn has_path(v: &Value, path: &str) -> bool {
    path.split('|').any(|alt| {
        alt.split('.')
            .try_fold(v, |v, k| v.get(k))
            .is_some_and(|v| !v.is_null())
    })
}

/// The closest JSON extractor for an object (also looking into a `data[]` or
/// `message` wrapper), among the extractors of the registrar the mail points to (all
/// when it points to none); None for a value that is no object.
pub fn for_json(v: &Value, hint: Option<Registrar>) -> Option<Suggestion> {
    v.as_object()?;
    let inner = v
        .get("data")
        .and_then(Value::as_array)
        .and_then(|d| d.first())
        .map(|i| i.get("message").unwrap_or(i))
        .or_else(|| v.get("message"));
    JSON_SHAPES
        .iter()
        .filter(|(_, registrar, _)| hint.is_none_or(|h| h == *registrar))
        .map(|(name, _, fields)| {
            let missing: Vec<&'static str> = fields
                .iter()
                .copied()
                .filter(|f| !has_path(v, f) && !inner.is_some_and(|i| has_path(i, f)))
                .collect();
            Suggestion {
                extractor: name,
                missing,
            }
        })
        .min_by_key(|s| s.missing.len())
}

/// The closest XML extractor by root element, and what it lacks.
pub fn for_xml(root: &Element) -> Suggestion {
    let (extractor, needs): (&'static str, &[(&'static str, &[&str])]) = match root.local_name() {
        "OPS_envelope" => (
            "opensrs-ops",
            &[
                ("body.data_block", &["body", "data_block"]),
                ("attributes.events", &["body", "data_block"]),
            ],
        ),
        "epp" => (
            "epp",
            &[
                ("response", &["response"]),
                ("response.msgQ@id", &["response", "msgQ"]),
            ],
        ),
        _ => (
            "autodns-xml",
            &[
                ("result", &["result"]),
                ("result.data.message", &["result", "data", "message"]),
                ("message.id", &["result", "data", "message", "id"]),
            ],
        ),
    };
    let missing = needs
        .iter()
        .filter(|(_, path)| root.path(path).is_none())
        .map(|(name, _)| *name)
        .collect::<Vec<_>>();
    let missing = if extractor == "epp" && missing.is_empty() {
        // msgQ present but without its id attribute.
        vec!["response.msgQ@id"]
    } else {
        missing
    };
    Suggestion { extractor, missing }
}

/// The Standard text format without a status code or a known event name.
pub fn for_text() -> Suggestion {
    Suggestion {
        extractor: "autodns-text",
        missing: vec!["status: <code>|notify_type"],
    }
}

/// A registrar's mail with no payload at all: its usual extractor, and what it looks
/// for.
pub fn without_payload(registrar: Registrar) -> Suggestion {
    let (extractor, missing): (&'static str, &[&'static str]) = match registrar {
        Registrar::Opensrs => ("opensrs", &["JSON body or event_data attachment"]),
        Registrar::Autodns => (
            "autodns-text",
            &["<system>/<reply> blocks", "JSON or XML message"],
        ),
        Registrar::Gandi => ("gandi", &["Python-literal or JSON payload"]),
        Registrar::Mailroom | Registrar::Unknown => ("none", &["payload"]),
    };
    Suggestion {
        extractor,
        missing: missing.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn closest_json_extractor() {
        let s = for_json(
            &json!({"data": [{"id": 5, "object": {"type": "Domain"}}]}),
            None,
        )
        .unwrap();
        assert_eq!(s.extractor, "autodns-json");
        assert_eq!(s.missing, vec!["notify.type|job|status.code"]);
        let s = for_json(&json!({"object": "DOMAIN", "event": "X"}), None).unwrap();
        assert_eq!(s.extractor, "opensrs");
        assert_eq!(s.missing, vec!["event_id|object_data"]);
        let item = json!({"data": [{"id": 7, "object": {"type": "Domain"}, "event": {}}]});
        let s = for_json(&item, Some(Registrar::Autodns)).unwrap();
        assert_eq!(s.extractor, "autodns-json");
    }

    #[test]
    fn unknown_autodns_mail_is_quarantined_with_a_suggestion() {
        let raw = b"From: AutoDNS <noreply@autodns.com>\r\nSubject: AutoDNS Notification 1\r\n\r\n{\"data\": [{\"id\": 1, \"object\": {\"type\": \"Domain\", \"value\": \"example.com\"}, \"event\": {}}]}\r\n";
        let found = crate::extract::extract(raw);
        assert!(found.events.is_empty());
        let reason = found.reason.unwrap();
        assert!(
            reason.contains("closest extractor autodns-json; missing notify.type|job|status.code"),
            "{reason}"
        );
    }

    #[test]
    fn registrar_mail_without_payload_names_the_usual_extractor() {
        let raw = b"From: AutoDNS <noreply@autodns.com>\r\nSubject: Your domain\r\n\r\nDear customer, your domain was renewed.\r\n";
        let reason = crate::extract::extract(raw).reason.unwrap();
        assert!(
            reason.contains("closest extractor autodns-text; missing <system>/<reply> blocks"),
            "{reason}"
        );
    }
}
