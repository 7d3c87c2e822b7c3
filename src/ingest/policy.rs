//! The policy between extraction and storage (DESIGN §8): whom to trust (each event's
//! sender judged; under `[trust] require` a message with an event it does not vouch
//! for is quarantined with the reason) and how much one message may cause (over
//! `[limits] max_events_per_message` it is quarantined with the count, so nothing is
//! lost and `reparse` takes it once the limit is raised). Every event gets a time (the
//! payload's, else the mail's `Date:`, else when it was received, and which of them),
//! and an event older than `[limits] max_event_age` is marked so no rule acts on it.
//! The store then keeps what it is given.

use crate::config::Config;
use crate::extract::Extraction;
use crate::store::Found;
use crate::trust::TrustConfig;

/// What one message may cause, and whom to trust: the config's say in storing.
#[derive(Debug, Clone, Copy)]
pub struct Limits<'a> {
    /// Raw messages up to this size are kept whole (`[store] raw_limit`).
    pub raw_limit: u64,
    /// More events than this quarantine the message (`[limits] max_events_per_message`).
    pub max_events: usize,
    /// Sender authentication (`[trust]`).
    pub trust: &'a TrustConfig,
    /// Events older than this when first stored are not acted on (`[limits]
    /// max_event_age`); None: no limit.
    pub max_event_age: Option<std::time::Duration>,
}

impl Limits<'_> {
    pub fn of(config: &Config) -> Limits<'_> {
        Limits {
            raw_limit: config.store.raw_limit,
            max_events: config.limits.max_events_per_message,
            trust: &config.trust,
            max_event_age: Some(config.limits.max_event_age).filter(|a| !a.is_zero()),
        }
    }
}

/// `extraction` of `raw` with the policy applied, as the store takes it.
pub fn apply(extraction: Extraction, raw: &[u8], limits: Limits<'_>) -> Found {
    let mut found = capped(extraction, limits.max_events);
    finish(&mut found, raw, limits);
    found_of(found)
}

/// Judges the senders, dates every event and marks the old ones (see the module).
pub fn finish(found: &mut Extraction, raw: &[u8], limits: Limits<'_>) {
    judge(found, raw, limits.trust);
    let now = crate::clock::now();
    let mail_date = found
        .meta
        .date
        .as_deref()
        .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
        .map(|d| crate::clock::stamp(d.with_timezone(&chrono::Utc)));
    for e in found.events.iter_mut().chain(found.conflicts.iter_mut()) {
        date(e, mail_date.as_deref(), now);
        if let Some(age) = limits.max_event_age {
            e.rules_skipped = too_old(e, age, now);
        }
    }
}

/// The event's time: its payload's, else the mail's `Date:`, else now (received).
fn date(e: &mut crate::event::Event, mail_date: Option<&str>, now: chrono::DateTime<chrono::Utc>) {
    let (at, source) = match (&e.occurred_at, mail_date) {
        (Some(_), _) => (e.occurred_at.clone(), "payload"),
        (None, Some(d)) => (Some(d.to_string()), "mail-date"),
        (None, None) => (Some(crate::clock::stamp(now)), "received"),
    };
    e.occurred_at = at;
    e.occurred_at_source = Some(source.to_string());
}

/// `older than 7d` when the event happened longer than `age` before `now`.
fn too_old(
    e: &crate::event::Event,
    age: std::time::Duration,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<String> {
    let at = chrono::DateTime::parse_from_rfc3339(e.occurred_at.as_deref()?).ok()?;
    let age_c = chrono::Duration::from_std(age).ok()?;
    (now.signed_duration_since(at) > age_c).then(|| format!("older than {}", span(age)))
}

/// A duration as the config writes it: `7d`, `36h`, `90m`, `45s`.
pub fn span(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        _ if s >= 86400 && s.is_multiple_of(86400) => format!("{}d", s / 86400),
        _ if s >= 3600 && s.is_multiple_of(3600) => format!("{}h", s / 3600),
        _ if s >= 60 && s.is_multiple_of(60) => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

/// The store's view of an extraction.
pub fn found_of(x: Extraction) -> Found {
    Found {
        message_id: x.meta.message_id,
        subject: x.meta.subject,
        sender: x.meta.from,
        date: x.meta.date,
        events: x.events,
        conflicts: x.conflicts,
        reason: x.reason,
    }
}

/// Judges the sender of every event (DESIGN §8). Under `[trust] require`, a message
/// with an event it does not vouch for is quarantined, with the reason.
pub fn judge(found: &mut Extraction, raw: &[u8], trust: &TrustConfig) {
    for e in found.events.iter_mut().chain(found.conflicts.iter_mut()) {
        if e.registrar == crate::event::Registrar::Mailroom {
            // No extractor makes these: only the service's own alerts are mailroom's.
            e.authenticated = Some(true);
            e.authentication = Some("raised by mailroom itself".into());
            continue;
        }
        let v = crate::trust::verdict(trust, raw, e.registrar);
        e.authenticated = Some(v.authenticated);
        e.authentication = Some(v.reason);
    }
    if trust.require
        && let Some(bad) = found.events.iter().find(|e| e.authenticated != Some(true))
    {
        found.reason = Some(format!(
            "not authenticated ([trust] require = true): {}: {}",
            bad.key(),
            bad.authentication.as_deref().unwrap_or_default()
        ));
        found.events.clear();
        found.conflicts.clear();
    }
}

/// Over the cap, a message's events are not stored (nor acted on): the message is
/// quarantined with the count and the setting that decides, so nothing is lost and
/// `reparse` takes it once the limit is raised.
pub fn capped(mut found: Extraction, max_events: usize) -> Extraction {
    if found.events.len() > max_events {
        found.reason = Some(too_many(found.events.len(), max_events));
        found.events.clear();
    }
    found
}

pub fn too_many(count: usize, max_events: usize) -> String {
    format!(
        "{count} events in one message, over the limit of {max_events} \
         ([limits] max_events_per_message; raise it and run mailroom reparse to take them)"
    )
}
