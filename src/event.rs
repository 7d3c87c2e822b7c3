//! The normalized event (DESIGN §3): what every extractor produces and every later
//! stage (store, rules, delivery) consumes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who sent the notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registrar {
    Opensrs,
    Autodns,
    Gandi,
    /// mailroom's own alerts about itself and the world around it (`mailroom.*`
    /// topics).
    Mailroom,
    Unknown,
}

impl Registrar {
    pub const ALL: [Registrar; 5] = [
        Registrar::Opensrs,
        Registrar::Autodns,
        Registrar::Gandi,
        Registrar::Mailroom,
        Registrar::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Registrar::Opensrs => "opensrs",
            Registrar::Autodns => "autodns",
            Registrar::Gandi => "gandi",
            Registrar::Mailroom => "mailroom",
            Registrar::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Registrar> {
        Registrar::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
    }
}

impl std::fmt::Display for Registrar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event reported by the registrar, the final result of a job, or a test message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Event,
    Job,
    Test,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Event => "event",
            Kind::Job => "job",
            Kind::Test => "test",
        }
    }
}

/// The shape the payload had in the email.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Format {
    #[serde(rename = "json")]
    Json,
    #[serde(rename = "xml")]
    Xml,
    #[serde(rename = "ops-xml")]
    OpsXml,
    #[serde(rename = "epp")]
    Epp,
    #[serde(rename = "python-literal")]
    PythonLiteral,
    #[serde(rename = "text")]
    Text,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Xml => "xml",
            Format::OpsXml => "ops-xml",
            Format::Epp => "epp",
            Format::PythonLiteral => "python-literal",
            Format::Text => "text",
        }
    }
}

/// One notification, normalized. Field order is the order of DESIGN §3 and of
/// `mailroom parse --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub registrar: Registrar,
    pub event_id: String,
    pub kind: Kind,
    pub object: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub topic: String,
    pub domain: Option<String>,
    pub domains: Vec<String>,
    pub status: Option<String>,
    /// The registrar's own words about the state (an AutoDNS job's status text, the
    /// `<msg>` of an EPP poll message), shown in forwards and digests; null when absent.
    #[serde(default)]
    pub status_text: Option<String>,
    pub occurred_at: Option<String>,
    /// Where `occurred_at` came from, once stored: `payload` (the registrar's own time),
    /// `mail-date` (the notification's `Date:`) or `received` (when mailroom got it).
    /// Absent from `parse`, which reads the payload only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at_source: Option<String>,
    pub format: Format,
    pub data: Value,
    /// Whether the message vouched for this registrar (DESIGN §8); set when stored,
    /// absent from `parse`, which judges no sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticated: Option<bool>,
    /// Why it is (or is not) authenticated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<String>,
    /// Why no rule acted on the event when it was first stored (`older than 7d`:
    /// `[limits] max_event_age`); `mailroom rules apply --since` can still act on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules_skipped: Option<String>,
}

impl Event {
    /// Why this event needs a person, or None: what the attention page, digests and
    /// chat messages (their priority) go by.
    pub fn attention(&self) -> Option<&'static str> {
        let e = self;
        let status = e.status.as_deref().unwrap_or("").to_ascii_lowercase();
        // The state as it truly is: a rejected transfer out leaves the domain here, a
        // pending deletion is only requested.
        match (e.topic.as_str(), status.as_str()) {
            ("transfer.out", "rejected" | "declined" | "nacked") => {
                return Some("transfer out rejected (domain stays)");
            }
            ("domain.deleted", s) if s.starts_with("pending") || s == "requested" => {
                return Some("deletion requested");
            }
            _ => {}
        }
        if matches!(
            status.as_str(),
            "error" | "failed" | "failure" | "rejected" | "invalid" | "declined"
        ) {
            return Some(if e.kind == crate::event::Kind::Job {
                "job failed"
            } else {
                "failed"
            });
        }
        match e.topic.as_str() {
            "transfer.out" if status == "pending" => Some("transfer out pending"),
            "domain.expired" => Some("domain expired"),
            "domain.renewal_reminder"
            | "hosting.renewal_reminder"
            | "site.renewal_reminder"
            | "certificate.renewal_reminder" => Some("expiring soon"),
            "domain.deleted" => Some("domain deleted"),
            "domain.dns_outage" => Some("DNS outage"),
            "billing.credit_alert" => Some("low credit"),
            "contact.validation" if matches!(status.as_str(), "pending" | "suspended") => {
                Some("contact validation needed")
            }
            _ => None,
        }
    }

    /// `registrar:event_id`, the identity of an event everywhere (dedup, idempotency keys).
    pub fn key(&self) -> String {
        format!("{}:{}", self.registrar, self.event_id)
    }

    /// Whether this event says the same thing as a stored one under the same id: the
    /// same domain, type and status. A copy that differs in any of them is a different
    /// event reusing the id (kept under [`Event::variant_id`]), not a repeat.
    pub fn same_identity(
        &self,
        domain: Option<&str>,
        event_type: &str,
        status: Option<&str>,
    ) -> bool {
        self.domain.as_deref() == domain
            && self.event_type == event_type
            && self.status.as_deref() == status
    }

    /// The id a different event reusing this event's id is kept under:
    /// `<event_id>~<8 hex>`, the hex from its domain, type and status, so a repeat of
    /// that copy finds it again.
    pub fn variant_id(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for part in [
            self.domain.as_deref().unwrap_or_default(),
            &self.event_type,
            self.status.as_deref().unwrap_or_default(),
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        let digest = h.finalize();
        format!("{}~{}", self.event_id, crate::text::to_hex(&digest[..4]))
    }

    /// How listings mark a time that is not the registrar's own: empty for the
    /// payload's, else ` (mail date)` or ` (received)`.
    pub fn time_note(&self) -> &'static str {
        match self.occurred_at_source.as_deref() {
            Some("mail-date") => " (mail date)",
            Some("received") => " (received)",
            _ => "",
        }
    }

    /// The value of a field by name, as rules and templates see it: the DESIGN §3 fields
    /// by their names, and `data.a.b.0` for paths into the payload.
    pub fn field(&self, name: &str) -> Option<Value> {
        let s = |v: &str| Some(Value::String(v.to_string()));
        let opt = |v: &Option<String>| Some(v.clone().map(Value::String).unwrap_or(Value::Null));
        match name {
            "registrar" => s(self.registrar.as_str()),
            "event_id" => s(&self.event_id),
            "kind" => s(self.kind.as_str()),
            "object" => s(&self.object),
            "type" => s(&self.event_type),
            "topic" => s(&self.topic),
            "domain" => opt(&self.domain),
            "domains" => Some(Value::from(self.domains.clone())),
            "status" => opt(&self.status),
            "status_text" => opt(&self.status_text),
            "authenticated" => Some(self.authenticated.map_or(Value::Null, Value::Bool)),
            "authentication" => opt(&self.authentication),
            "occurred_at" => opt(&self.occurred_at),
            "occurred_at_source" => opt(&self.occurred_at_source),
            "format" => s(self.format.as_str()),
            "data" => Some(self.data.clone()),
            _ => {
                let path = name.strip_prefix("data.")?;
                lookup_path(&self.data, path).cloned()
            }
        }
    }
}

/// Follows a dotted path (`object_data.domain_name`, `nameserver_list.0`) into a value.
pub fn lookup_path<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, segment| match v {
        Value::Object(map) => map.get(segment),
        Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}
