//! The cross-registrar topic vocabulary: every notification name a registrar documents,
//! the topic one rule can match it by, the object it is about, and the status the name
//! itself implies. `docs/EVENTS.md` and the README's table are this table in prose.

use crate::event::Registrar;

/// One known notification name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topic {
    pub registrar: Registrar,
    /// The registrar's name. OpenSRS names are `OBJECT EVENT` (`DOMAIN CREATED`).
    pub name: &'static str,
    pub topic: &'static str,
    pub object: &'static str,
    /// Status implied by the name when the payload carries none.
    pub status: Option<&'static str>,
    /// Documented by the registrar as "not yet available".
    pub announced_only: bool,
}

const fn t(
    registrar: Registrar,
    name: &'static str,
    topic: &'static str,
    object: &'static str,
    status: Option<&'static str>,
) -> Topic {
    Topic {
        registrar,
        name,
        topic,
        object,
        status,
        announced_only: false,
    }
}

const fn later(name: &'static str, topic: &'static str, object: &'static str) -> Topic {
    Topic {
        registrar: Registrar::Gandi,
        name,
        topic,
        object,
        status: None,
        announced_only: true,
    }
}

use Registrar::{Autodns as A, Gandi as G, Opensrs as O};

const PENDING: Option<&str> = Some("pending");
const COMPLETED: Option<&str> = Some("completed");
const SUCCESS: Option<&str> = Some("success");
const ERROR: Option<&str> = Some("error");

/// Every notification name we know, in the registrars' documentation order.
pub const TOPICS: &[Topic] = &[
    t(O, "DOMAIN CREATED", "domain.created", "domain", None),
    t(O, "DOMAIN EXPIRED", "domain.expired", "domain", None),
    t(
        O,
        "DOMAIN NAMESERVER_UPDATE",
        "domain.nameservers_changed",
        "domain",
        None,
    ),
    t(O, "DOMAIN REGISTERED", "domain.registered", "domain", None),
    t(
        O,
        "DOMAIN REGISTRANT_VERIFICATION_STATUS_CHANGE",
        "domain.registrant_verification",
        "domain",
        None,
    ),
    t(O, "DOMAIN RENEWED", "domain.renewed", "domain", None),
    t(
        O,
        "DOMAIN ZONE_CHECK_STATUS_CHANGE",
        "domain.zone_check",
        "domain",
        None,
    ),
    t(O, "DOMAIN DELETED", "domain.deleted", "domain", None),
    t(O, "ORDER CLAIM_STATUS_CHANGE", "order.claim", "order", None),
    t(O, "ORDER STATUS_CHANGE", "order.status", "order", None),
    t(O, "TRANSFER STATUS_CHANGE", "transfer.in", "transfer", None),
    t(
        O,
        "DOMAIN MESSAGE_STATUS_CHANGE",
        "message.status",
        "domain",
        None,
    ),
    t(
        O,
        "TRANSFER MESSAGE_STATUS_CHANGE",
        "message.status",
        "transfer",
        None,
    ),
    t(
        O,
        "DOMAIN ICANN_TRADE_STATUS_CHANGE",
        "domain.owner_changed",
        "domain",
        None,
    ),
    t(A, "transfer_start", "transfer.out", "domain", PENDING),
    t(
        A,
        "transfer_autoack",
        "transfer.out",
        "domain",
        Some("approved"),
    ),
    t(
        A,
        "transfer_autonack",
        "transfer.out",
        "domain",
        Some("rejected"),
    ),
    t(A, "transfer_reminder", "transfer.out", "domain", PENDING),
    t(A, "domain_away", "transfer.out", "domain", COMPLETED),
    t(
        A,
        "autoupdate_dns_error",
        "domain.zone_check",
        "domain",
        ERROR,
    ),
    t(
        A,
        "autoupdate_dns_success",
        "domain.zone_check",
        "domain",
        SUCCESS,
    ),
    t(
        A,
        "autoupdate_deferred_success",
        "domain.zone_check",
        "domain",
        SUCCESS,
    ),
    t(
        A,
        "autoupdate_deferred_error",
        "domain.zone_check",
        "domain",
        ERROR,
    ),
    t(A, "ocval_reminder", "contact.validation", "domain", PENDING),
    t(
        A,
        "ocval_activation",
        "contact.validation",
        "domain",
        Some("suspended"),
    ),
    t(
        A,
        "ocval_deactivation",
        "contact.validation",
        "domain",
        Some("restored"),
    ),
    // The rest of the AutoDNS Notify Object's notification types.
    t(
        A,
        "transfer_autoack_success",
        "transfer.out",
        "domain",
        SUCCESS,
    ),
    t(
        A,
        "transfer_autoack_failed",
        "transfer.out",
        "domain",
        ERROR,
    ),
    t(
        A,
        "transfer_autonack_pending",
        "transfer.out",
        "domain",
        PENDING,
    ),
    t(
        A,
        "transfer_autonack_success",
        "transfer.out",
        "domain",
        SUCCESS,
    ),
    t(
        A,
        "transfer_autonack_failed",
        "transfer.out",
        "domain",
        ERROR,
    ),
    t(
        A,
        "domain_expire",
        "domain.expired",
        "domain",
        Some("expired"),
    ),
    t(
        A,
        "domain_expire_warning",
        "domain.renewal_reminder",
        "domain",
        PENDING,
    ),
    t(
        A,
        "domain_registrar_status_update",
        "domain.status_changed",
        "domain",
        None,
    ),
    // What the OCVAL reminder really carries (help page "OCVAL notifications").
    t(
        A,
        "domain_deactivation_warning",
        "contact.validation",
        "domain",
        PENDING,
    ),
    t(A, "authinfo_delete", "domain.authinfo", "domain", PENDING),
    t(
        A,
        "authinfo_deleted",
        "domain.authinfo",
        "domain",
        COMPLETED,
    ),
    t(
        A,
        "tmch_status_update",
        "trademark.status",
        "trademark",
        PENDING,
    ),
    t(
        A,
        "tmch_status_update_success",
        "trademark.status",
        "trademark",
        SUCCESS,
    ),
    t(
        A,
        "tmch_status_update_failed",
        "trademark.status",
        "trademark",
        ERROR,
    ),
    t(
        A,
        "tmch_claim_notice_reminder",
        "trademark.claim_notice",
        "domain",
        PENDING,
    ),
    t(
        A,
        "domain_prereg_failed",
        "domain.preregistration",
        "domain",
        ERROR,
    ),
    t(
        A,
        "domain_prereg_decline",
        "domain.preregistration",
        "domain",
        Some("rejected"),
    ),
    t(
        A,
        "domain_prereg_accept",
        "domain.preregistration",
        "domain",
        Some("approved"),
    ),
    t(
        A,
        "domain_prereg_sent",
        "domain.preregistration",
        "domain",
        PENDING,
    ),
    t(A, "job", "job.result", "domain", None),
    t(A, "panData", "job.result", "domain", None),
    t(A, "trnData", "transfer.status", "domain", None),
    // EPP poll messages of registries (RFC 5730 `msgQ`), by resData element.
    t(A, "message", "registry.message", "domain", None),
    t(A, "deleteNotify", "domain.deleted", "domain", COMPLETED),
    t(A, "transferNotify", "transfer.out", "domain", None),
    t(A, "updateNotify", "domain.updated", "domain", None),
    t(A, "createNotify", "domain.created", "domain", None),
    t(A, "pollRes", "registry.message", "domain", None),
    // FRED (.cz) poll messages, their element inside `<msg>`.
    t(
        A,
        "impendingExpData",
        "domain.renewal_reminder",
        "domain",
        PENDING,
    ),
    t(A, "expData", "domain.expired", "domain", Some("expired")),
    t(A, "dnsOutageData", "domain.dns_outage", "domain", None),
    t(A, "delData", "domain.deleted", "domain", COMPLETED),
    t(A, "lowCreditData", "billing.credit_alert", "billing", None),
    t(G, "domain.delete_foa", "domain.deleted", "domain", PENDING),
    t(
        G,
        "domain.delete_foa_reselle",
        "domain.deleted",
        "domain",
        PENDING,
    ),
    t(
        G,
        "domain.delete_done_reseller",
        "domain.deleted",
        "domain",
        COMPLETED,
    ),
    t(G, "domain.transfer_out", "transfer.out", "domain", PENDING),
    t(
        G,
        "domain.transfer_out_reselle",
        "transfer.out",
        "domain",
        PENDING,
    ),
    t(
        G,
        "domain.transfer_out_done_reselle",
        "transfer.out",
        "domain",
        COMPLETED,
    ),
    t(
        G,
        "domain.reachability_reseller",
        "domain.registrant_verification",
        "domain",
        None,
    ),
    t(
        G,
        "domain.contact_validation",
        "contact.validation",
        "domain",
        PENDING,
    ),
    t(G, "iaas.create", "server.created", "server", None),
    t(G, "iaas.update", "server.updated", "server", None),
    t(G, "paas.create", "hosting.created", "hosting", None),
    t(G, "site.create", "site.created", "site", None),
    t(G, "ssl.backend", "certificate.order", "certificate", None),
    later("domain.creation", "domain.created", "domain"),
    later(
        "domain.renewal_reminder",
        "domain.renewal_reminder",
        "domain",
    ),
    later(
        "domain.grouped_renewal_reminder",
        "domain.renewal_reminder",
        "domain",
    ),
    later("domain.renewal", "domain.renewed", "domain"),
    later("domain.automatic_renewal", "domain.renewed", "domain"),
    later("domain.transfer", "transfer.in", "domain"),
    later("domain.restore", "domain.restored", "domain"),
    later("domain.change_owner", "domain.owner_changed", "domain"),
    later("domain.update", "domain.updated", "domain"),
    later("contact.update", "contact.updated", "contact"),
    later("contact.password_update", "contact.updated", "contact"),
    later("billing.new_invoice", "billing.invoice", "billing"),
    later("billing.credit_alert", "billing.credit_alert", "billing"),
    later("iaas.credit_alert", "billing.credit_alert", "server"),
    later(
        "paas.renewal_reminder",
        "hosting.renewal_reminder",
        "hosting",
    ),
    later("paas.renewal", "hosting.renewed", "hosting"),
    later("site.renewal_reminder", "site.renewal_reminder", "site"),
    later("site.renewal", "site.renewed", "site"),
    later(
        "ssl.renewal_reminder",
        "certificate.renewal_reminder",
        "certificate",
    ),
];

/// mailroom's own alerts (registrar `mailroom`): raised by the service about itself and
/// the world around it, stored and acted on like any event. Apart from [`TOPICS`],
/// which lists what registrars document.
pub const ALERTS: &[Topic] = &[
    t(
        Registrar::Mailroom,
        "source_failing",
        "mailroom.source_failing",
        "source",
        Some("failing"),
    ),
    t(
        Registrar::Mailroom,
        "source_recovered",
        "mailroom.source_recovered",
        "source",
        Some("recovered"),
    ),
    t(
        Registrar::Mailroom,
        "registrar_quiet",
        "mailroom.registrar_quiet",
        "registrar",
        Some("quiet"),
    ),
    t(
        Registrar::Mailroom,
        "format_unknown",
        "mailroom.format_unknown",
        "message",
        Some("quarantined"),
    ),
    t(
        Registrar::Mailroom,
        "delivery_dead",
        "mailroom.delivery_dead",
        "delivery",
        Some("dead"),
    ),
    t(
        Registrar::Mailroom,
        "probe_failed",
        "mailroom.probe_failed",
        "probe",
        Some("failed"),
    ),
];

/// The topic of a test message, whatever it tests.
pub const TEST_TOPIC: &str = "test";
/// The topic of a name nobody documented.
pub const OTHER_TOPIC: &str = "other";

/// Looks a name up (case-insensitively) for one registrar.
pub fn lookup(registrar: Registrar, name: &str) -> Option<&'static Topic> {
    TOPICS
        .iter()
        .find(|t| t.registrar == registrar && t.name.eq_ignore_ascii_case(name))
}

/// Every topic an event can have, sorted, each once.
pub fn known_topics() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = TOPICS.iter().chain(ALERTS).map(|t| t.topic).collect();
    all.extend([TEST_TOPIC, OTHER_TOPIC]);
    all.sort_unstable();
    all.dedup();
    all
}

/// Every value an event's `registrar` can have.
pub const REGISTRARS: &[&str] = &["opensrs", "autodns", "gandi", "mailroom", "unknown"];

/// Folds the spelling variants the registrars' own documentation uses
/// (`autoupdate_deffered_error` in AutoDNS's German pages).
pub fn fold_spelling(name: &str) -> String {
    name.trim().replace("deffered", "deferred")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_unique_per_registrar() {
        for (i, a) in TOPICS.iter().enumerate() {
            for b in &TOPICS[i + 1..] {
                assert!(
                    !(a.registrar == b.registrar && a.name == b.name),
                    "{} listed twice",
                    a.name
                );
            }
        }
    }

    #[test]
    fn german_spelling_folds() {
        assert_eq!(
            fold_spelling("autoupdate_deffered_error"),
            "autoupdate_deferred_error"
        );
        assert!(
            lookup(
                Registrar::Autodns,
                &fold_spelling("autoupdate_deffered_success")
            )
            .is_some()
        );
    }
}
