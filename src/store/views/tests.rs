use super::*;
use crate::store::Store;
use rusqlite::params;

fn event(
    conn: &rusqlite::Connection,
    id: &str,
    topic: &str,
    domain: &str,
    status: Option<&str>,
    at: &str,
) {
    conn.execute(
        "INSERT INTO events (registrar, event_id, event_key, kind, object, type, topic, domain, domains,
                             status, occurred_at, format, data, message, first_seen, last_seen)
         VALUES ('opensrs', ?1, ?6, 'event', 'domain', 'T', ?2, ?3, '[]', ?4, ?5, 'json', '{}', 1, ?5, ?5)",
        params![id, topic, domain, status, at, crate::store::event_key("opensrs", id)],
    )
    .unwrap();
}

fn domains(found: (Vec<StoredEvent>, i64)) -> Vec<String> {
    let mut d: Vec<String> = found.0.into_iter().filter_map(|e| e.event.domain).collect();
    d.sort();
    d
}

#[test]
fn attention_keeps_only_what_is_still_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("m.db")).unwrap();
    let c = store.conn();
    // Transfers out: a.example still pending; b.example completed since.
    event(
        c,
        "1",
        "transfer.out",
        "a.example",
        Some("pending"),
        "2026-01-01T00:00:00Z",
    );
    event(
        c,
        "2",
        "transfer.out",
        "b.example",
        Some("pending"),
        "2026-01-01T00:00:00Z",
    );
    event(
        c,
        "3",
        "transfer.out",
        "b.example",
        Some("completed"),
        "2026-01-02T00:00:00Z",
    );
    assert_eq!(
        domains(open_transfers_out(c, None, 10).unwrap()),
        ["a.example"]
    );
    // Expiring: c.example reminded then renewed; d.example expired.
    event(
        c,
        "4",
        "domain.renewal_reminder",
        "c.example",
        None,
        "2026-01-01T00:00:00Z",
    );
    event(
        c,
        "5",
        "domain.renewed",
        "c.example",
        None,
        "2026-01-03T00:00:00Z",
    );
    event(
        c,
        "6",
        "domain.expired",
        "d.example",
        None,
        "2026-01-03T00:00:00Z",
    );
    assert_eq!(
        domains(expiring_domains(c, None, 10).unwrap()),
        ["d.example"]
    );
    // Zone checks: e.example failed then passed; f.example passed then failed.
    event(
        c,
        "7",
        "domain.zone_check",
        "e.example",
        Some("error"),
        "2026-01-01T00:00:00Z",
    );
    event(
        c,
        "8",
        "domain.zone_check",
        "e.example",
        Some("success"),
        "2026-01-02T00:00:00Z",
    );
    event(
        c,
        "9",
        "domain.zone_check",
        "f.example",
        Some("success"),
        "2026-01-01T00:00:00Z",
    );
    event(
        c,
        "10",
        "domain.zone_check",
        "f.example",
        Some("invalid"),
        "2026-01-02T00:00:00Z",
    );
    assert_eq!(
        domains(failing_zone_checks(c, None, 10).unwrap()),
        ["f.example"]
    );
    // Failed jobs, until marked handled.
    event(
        c,
        "11",
        "job.result",
        "g.example",
        Some("error"),
        "2026-01-01T00:00:00Z",
    );
    event(
        c,
        "12",
        "job.result",
        "h.example",
        Some("success"),
        "2026-01-01T00:00:00Z",
    );
    let (jobs, total) = failed_jobs(c, None, 10).unwrap();
    assert_eq!(total, 1);
    assert!(ack(c, jobs[0].id, "2026-01-05T00:00:00.000Z").unwrap());
    assert_eq!(failed_jobs(c, None, 10).unwrap().1, 0);
    assert!(acked(c, jobs[0].id).unwrap().is_some());
    assert!(!ack(c, 999, "2026-01-05T00:00:00.000Z").unwrap());
    // A failed job is closed by a later success of the same job for the domain.
    event(
        c,
        "13",
        "job.result",
        "i.example",
        Some("error"),
        "2026-01-01T00:00:00Z",
    );
    assert_eq!(domains(failed_jobs(c, None, 10).unwrap()), ["i.example"]);
    event(
        c,
        "14",
        "job.result",
        "i.example",
        Some("success"),
        "2026-01-02T00:00:00Z",
    );
    assert_eq!(failed_jobs(c, None, 10).unwrap().1, 0);
    // Only what happened within the window, unless asked for all.
    assert_eq!(
        domains(open_transfers_out(c, None, 10).unwrap()),
        ["a.example"]
    );
    assert_eq!(
        open_transfers_out(c, Some("2026-02-01T00:00:00.000Z"), 10)
            .unwrap()
            .1,
        0
    );
}
