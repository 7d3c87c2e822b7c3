//! The policy between extraction and storage (DESIGN §8): whom to trust (each event's
//! sender judged; under `[trust] require` a message with an event it does not vouch
//! for is quarantined with the reason) and how much one message may cause (over
//! `[limits] max_events_per_message` it is quarantined with the count, so nothing is
//! lost and `reparse` takes it once the limit is raised). The store then keeps what it
//! is given.

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
}

impl Limits<'_> {
    pub fn of(config: &Config) -> Limits<'_> {
        Limits {
            raw_limit: config.store.raw_limit,
            max_events: config.limits.max_events_per_message,
            trust: &config.trust,
        }
    }
}

/// `extraction` of `raw` with the policy applied, as the store takes it.
pub fn apply(extraction: Extraction, raw: &[u8], limits: Limits<'_>) -> Found {
    let mut found = capped(extraction, limits.max_events);
    judge(&mut found, raw, limits.trust);
    found_of(found)
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
