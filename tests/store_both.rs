//! The store's functions on both engines (issue 24, item 1): each check runs on a fresh
//! SQLite file and on a fresh database of a real PostgreSQL of the test's own, through
//! the same `&impl Sql` code, and must see the same results.

mod support;

use mailroom::store::db::{Pg, Sql, args};
use mailroom::store::{cursors, leases, pg};
use support::postgres::{PASSWORD, Postgres};

/// Runs `check` on a new SQLite store and on a new PostgreSQL database.
macro_rules! both {
    ($server:expr, $name:literal, $check:ident) => {{
        let dir = tempfile::tempdir().unwrap();
        let store = mailroom::store::Store::open(&dir.path().join("t.db")).unwrap();
        $check(store.conn());
        let target = pg::Target {
            url: $server.database($name),
            password: Some(PASSWORD.to_string()),
            ca_file: None,
            dead_after: std::time::Duration::from_secs(10),
            pooled: false,
        };
        let conn: Pg = pg::open(&target).unwrap();
        $check(&conn);
    }};
}

fn check_cursors(conn: &impl Sql) {
    assert_eq!(cursors::get(conn, "acct", "INBOX").unwrap(), None);
    let c = cursors::Cursor {
        uidvalidity: 4_000_000_000,
        last_uid: 17,
    };
    cursors::set(conn, "acct", "INBOX", c, 3).unwrap();
    cursors::set(conn, "acct", "INBOX", c, 2).unwrap();
    assert_eq!(cursors::get(conn, "acct", "INBOX").unwrap(), Some(c));
    cursors::failed(conn, "acct", "INBOX", "connection reset").unwrap();
    let all = cursors::all(conn).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].messages, 5);
    assert_eq!(all[0].last_error.as_deref(), Some("connection reset"));
    cursors::synced(conn, "acct", "INBOX").unwrap();
    assert_eq!(cursors::all(conn).unwrap()[0].last_error, None);
    // Prefix scans compare bytes, whatever the database's locale.
    conn.exec(
        "INSERT INTO message_sources (message, source, seen_at) VALUES (1, ?1, 'x'), (1, ?2, 'x'), (1, ?3, 'x')",
        args!["file:/d/a.eml", "file:/d/B.eml", "file:/e/c.eml"],
    )
    .unwrap();
    let mut known: Vec<String> = cursors::known_under(conn, "file:/d/")
        .unwrap()
        .into_iter()
        .collect();
    known.sort();
    assert_eq!(known, vec!["B.eml".to_string(), "a.eml".to_string()]);
}

fn check_leases(conn: &impl Sql) {
    assert!(leases::take(conn, "imap:a/INBOX", "one", 60_000).unwrap());
    assert!(
        !leases::take(conn, "imap:a/INBOX", "two", 60_000).unwrap(),
        "held by one"
    );
    assert!(
        leases::take(conn, "imap:a/INBOX", "one", 60_000).unwrap(),
        "renewed"
    );
    assert!(leases::holds(conn, "imap:a/INBOX", "one").unwrap());
    assert!(!leases::holds(conn, "imap:a/INBOX", "two").unwrap());
    // A lease that ran out is taken over.
    assert!(leases::take(conn, "poll:opensrs", "one", -1).unwrap());
    assert!(!leases::holds(conn, "poll:opensrs", "one").unwrap());
    assert!(leases::take(conn, "poll:opensrs", "two", 60_000).unwrap());
    let all = leases::all(conn).unwrap();
    assert_eq!(
        all.iter()
            .map(|l| (l.source.as_str(), l.holder.as_str()))
            .collect::<Vec<_>>(),
        vec![("imap:a/INBOX", "one"), ("poll:opensrs", "two")]
    );
    assert!(all.iter().all(|l| l.left_ms > 50_000 && l.held_ms >= 0));
    leases::release(conn, "imap:a/INBOX", "two").unwrap();
    assert!(
        leases::holds(conn, "imap:a/INBOX", "one").unwrap(),
        "only the holder releases"
    );
    leases::release_all(conn, "one").unwrap();
    assert!(leases::take(conn, "imap:a/INBOX", "two", 60_000).unwrap());
    leases::alive(conn, "one", "host-a", 10).unwrap();
    assert!(leases::is_alive(conn, "one", 5_000).unwrap());
    assert!(!leases::is_alive(conn, "three", 5_000).unwrap());
    assert_eq!(leases::instances(conn).unwrap().len(), 1);
    leases::gone(conn, "one").unwrap();
    assert!(!leases::is_alive(conn, "one", 5_000).unwrap());
}

#[test]
fn store_functions_agree_on_sqlite_and_postgres() {
    let server = Postgres::start();
    both!(server, "cursors", check_cursors);
    both!(server, "leases", check_leases);
    both!(server, "outbox", check_outbox);
    both!(server, "deadclaims", check_dead_claims);
}

/// A claim of a deliverer that died ends with it, not with the claim's own lease: a
/// process of this machine that no longer runs, or (PostgreSQL) an instance that said
/// it was alive and then went quiet for the store's lease. A process elsewhere that
/// never says it is alive keeps its claim until the claim's lease.
fn check_dead_claims(conn: &impl Sql) {
    use chrono::Duration;
    use mailroom::store::outbox;
    let now = mailroom::clock::now();
    let ids: Vec<i64> = (1..=3)
        .map(|n| outbox::enqueue(conn, &hook(n), now).unwrap())
        .collect();
    let me = outbox::holder();
    let host = me.rsplitn(3, ':').nth(2).unwrap().to_string();
    let dead_here = format!("{host}:999999999:5");
    let quiet_there = "far.example:7:7";
    let never_said = "cli.example:8:8";
    let hour = Duration::hours(1);
    for (holder, id) in [
        (&dead_here[..], ids[0]),
        (quiet_there, ids[1]),
        (never_said, ids[2]),
    ] {
        let got = outbox::claim_due_webhooks(conn, now, hour, holder, 1).unwrap();
        assert_eq!(got.iter().map(|i| i.id).collect::<Vec<_>>(), vec![id]);
    }
    if conn.dialect() == mailroom::store::db::Dialect::Postgres {
        leases::alive(conn, quiet_there, "far.example", 7).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let released = outbox::release_stale_claims(conn, 1000).unwrap();
    let free = outbox::claim_due_webhooks(conn, now, Duration::seconds(60), &me, 10).unwrap();
    let free: Vec<i64> = free.iter().map(|i| i.id).collect();
    match conn.dialect() {
        mailroom::store::db::Dialect::Postgres => {
            assert_eq!(released, 2);
            assert_eq!(free, vec![ids[0], ids[1]]);
        }
        // An SQLite file cannot tell whether a process on another machine runs.
        mailroom::store::db::Dialect::Sqlite => {
            assert_eq!(released, 1);
            assert_eq!(free, vec![ids[0]]);
        }
    }
}

/// A webhook call for event `n`, as the outbox checks queue it.
fn hook(n: i64) -> mailroom::store::outbox::NewItem {
    mailroom::store::outbox::NewItem {
        channel: mailroom::store::outbox::Channel::Webhook,
        rule: Some("r".into()),
        event: Some(n),
        message: None,
        target: "https://hooks.example/x".into(),
        payload: serde_json::json!({"url": format!("https://hooks.example/x?n={n}")}),
    }
}

fn check_outbox(conn: &impl Sql) {
    use chrono::Duration;
    use mailroom::store::outbox::{self, Channel, NewItem};
    let now = mailroom::clock::now();
    let a = outbox::enqueue(conn, &hook(1), now).unwrap();
    let b = outbox::enqueue(conn, &hook(2), now).unwrap();
    assert!(b > a);
    let forward = outbox::enqueue(
        conn,
        &NewItem {
            channel: Channel::Forward,
            rule: None,
            event: Some(3),
            message: Some(9),
            target: "ops@example.com".into(),
            payload: serde_json::json!({"subject": "one", "text": "a\n", "payload_json": "{\"x\":1}"}),
        },
        now,
    )
    .unwrap();
    assert_eq!(outbox::depth(conn).unwrap(), 3);
    assert!(outbox::forward_untouched(conn, forward, 9).unwrap());
    outbox::grow_forward(
        conn,
        forward,
        &outbox::ForwardGrowth {
            subject: "two events",
            subject_one: "one",
            events: 2,
            listed: 2,
            in_json: 2,
            text: "b\n",
            json_mode: 1,
            json: "{\"x\":2}",
        },
    )
    .unwrap();
    let grown = outbox::list(conn, &[])
        .unwrap()
        .into_iter()
        .find(|i| i.id == forward)
        .unwrap();
    assert_eq!(grown.payload["subject"], "two events");
    assert_eq!(grown.payload["events"], 2);
    assert_eq!(grown.payload["text"], "a\nb\n");
    let joined: serde_json::Value =
        serde_json::from_str(grown.payload["payload_json"].as_str().unwrap()).unwrap();
    assert_eq!(joined, serde_json::json!([{"x": 1}, {"x": 2}]));
    let (given, _) = outbox::given(conn).unwrap();
    assert!(given.contains(&(
        1,
        "webhook".to_string(),
        "https://hooks.example/x?n=1".to_string()
    )));
    assert!(given.contains(&(3, "forward".to_string(), "ops@example.com".to_string())));

    // Claims: one holder at a time; a claim of a holder gone elsewhere is taken over once
    // its lease ran out.
    let me = outbox::holder();
    let lease = Duration::seconds(60);
    let hooks = outbox::claim_due_webhooks(conn, now, lease, &me, 10).unwrap();
    assert_eq!(hooks.iter().map(|i| i.id).collect::<Vec<_>>(), vec![a, b]);
    assert!(
        outbox::claim_due_webhooks(conn, now, lease, "elsewhere:1:1", 10)
            .unwrap()
            .is_empty()
    );
    outbox::mark_done(conn, a, now).unwrap();
    outbox::mark_failed(conn, b, now + Duration::minutes(5), "HTTP 500").unwrap();
    let waiting = outbox::waiting(conn, now).unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].kind, "webhook");
    let mail = outbox::claim_due_mail(conn, now, Duration::seconds(-1), "elsewhere:1:1").unwrap();
    assert_eq!(mail.map(|i| i.id), Some(forward));
    let later = now + Duration::seconds(1);
    let taken = outbox::claim_due(conn, later, lease, &me).unwrap();
    match conn.dialect() {
        // PostgreSQL knows every live instance: "elsewhere" never said it was alive.
        mailroom::store::db::Dialect::Postgres => assert_eq!(taken.map(|i| i.id), Some(forward)),
        // An SQLite file cannot tell whether a process on another machine runs.
        mailroom::store::db::Dialect::Sqlite => assert_eq!(taken.map(|i| i.id), None),
    }
    assert_eq!(outbox::retry(conn, None, later).unwrap(), 1);
    assert_eq!(
        outbox::defer_destination(
            conn,
            Some("https://hooks.example"),
            later,
            later + Duration::minutes(1),
            now - Duration::hours(1)
        )
        .unwrap(),
        1
    );
}

/// Two instances claiming from one PostgreSQL outbox at once: every item is claimed,
/// none twice (`FOR UPDATE SKIP LOCKED` plus the claim's own condition).
#[test]
fn concurrent_claims_on_postgres_never_overlap() {
    use chrono::Duration;
    use mailroom::store::outbox::{self, Channel, NewItem};
    let server = Postgres::start();
    let target = pg::Target {
        url: server.database("claims"),
        password: Some(PASSWORD.to_string()),
        ca_file: None,
        dead_after: std::time::Duration::from_secs(10),
        pooled: false,
    };
    let conn = pg::open(&target).unwrap();
    let now = mailroom::clock::now();
    let tx = conn.begin().unwrap();
    for n in 0..300 {
        let channel = if n % 2 == 0 {
            Channel::Webhook
        } else {
            Channel::Forward
        };
        outbox::enqueue(
            &*tx,
            &NewItem {
                channel,
                rule: None,
                event: Some(n),
                message: None,
                target: "t".into(),
                payload: serde_json::json!({"url": "https://h.example/"}),
            },
            now,
        )
        .unwrap();
    }
    tx.commit().unwrap();
    let workers: Vec<_> = (0..3)
        .map(|w| {
            let target = target.clone();
            std::thread::spawn(move || {
                let conn = pg::open(&target).unwrap();
                let me = format!("host-{w}:1:1");
                let mut got = Vec::new();
                loop {
                    let batch = if w == 0 {
                        outbox::claim_due_webhooks(&conn, now, Duration::seconds(60), &me, 7)
                            .unwrap()
                    } else {
                        outbox::claim_due(&conn, now, Duration::seconds(60), &me)
                            .unwrap()
                            .into_iter()
                            .collect()
                    };
                    if batch.is_empty() {
                        break;
                    }
                    got.extend(batch.into_iter().map(|i| i.id));
                }
                got
            })
        })
        .collect();
    let mut all: Vec<i64> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let claimed = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), claimed, "an item was claimed twice");
    assert_eq!(claimed, 300);
}

/// Every sample (and the extra ones) stored through the ingest path, with rules that
/// forward, call a webhook and collect a digest: then every reading function must
/// answer the same on both engines.
fn fill(store: &mut mailroom::store::Store) {
    use mailroom::source::Source;
    let config = mailroom::config::Config::from_text(
        std::path::Path::new("/nonexistent/mailroom.toml"),
        "[limits]\nmax_event_age = \"100000d\"\n".to_string(),
    )
    .unwrap();
    let rules = mailroom::rules::load_str(
        std::path::Path::new("10.toml"),
        "[[rule]]\nname = \"all\"\nwhen.registrar = [\"opensrs\", \"autodns\", \"gandi\"]\n\
         forward = { to = \"ops@example.com\" }\nwebhook = { url = \"https://hooks.example/x\" }\n\
         digest = \"daily\"\n\n[[digest]]\nname = \"daily\"\nat = \"08:00\"\nto = \"owner@example.com\"\n",
    )
    .unwrap();
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    for dir in ["samples", "samples/extra"] {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            if e.path().extension().is_some_and(|x| x == "eml") {
                files.push(e.path());
            }
        }
    }
    files.sort();
    // Twice, the second time at other places: known content, sightings counted.
    for round in 0..2 {
        let items: Vec<(Source, Vec<u8>)> = files
            .iter()
            .map(|p| {
                let mut path = p.clone();
                if round == 1 {
                    path.set_extension("copy");
                }
                (
                    Source::File {
                        path: path.display().to_string(),
                    },
                    std::fs::read(p).unwrap(),
                )
            })
            .collect();
        for chunk in items.chunks(40) {
            let prepared =
                mailroom::ingest::prepare(chunk.to_vec(), mailroom::ingest::known_in(store.db()));
            // One by one on both engines (the set-based path numbers rows otherwise).
            mailroom::ingest::ingest_each(store, &config, &rules, prepared, None).unwrap();
        }
    }
}

fn readings(conn: &impl Sql) -> serde_json::Value {
    use mailroom::store::{feed, figures, listing, query, search, views};
    let all = query::EventFilter::default();
    let some = query::EventFilter {
        topic: Some("TRANSFER".into()),
        ..Default::default()
    };
    let by_domain = query::EventFilter {
        domain: vec!["DE".into()],
        domain_suffix: true,
        ..Default::default()
    };
    let found = query::EventFilter {
        search: Some("xample".into()),
        ..Default::default()
    };
    let events = query::events(conn, &all).unwrap();
    let first = events.last().unwrap().id;
    let (page, total) =
        listing::events_page(conn, &all, listing::Start::Older(first + 3), 5).unwrap();
    let detail = query::event_detail(conn, &first.to_string()).unwrap();
    feed::create(conn, "c").unwrap();
    let polled = feed::poll(conn, "c", 7).unwrap().unwrap();
    feed::ack(conn, "c", polled.next).unwrap().unwrap();
    let outbox = mailroom::store::outbox::list(conn, &[]).unwrap();
    let domains = views::domains::domains(conn, None, 20).unwrap();
    let searched_domains = views::domains::domains(conn, Some("xample"), 20).unwrap();
    serde_json::json!({
        "events": events,
        "count": query::count(conn, &all).unwrap(),
        "transfer": query::count(conn, &some).unwrap(),
        "de": query::count(conn, &by_domain).unwrap(),
        "search": query::events(conn, &found).unwrap().iter().map(|e| e.id).collect::<Vec<_>>(),
        "stats": query::stats(conn, &all).unwrap(),
        "page": (page.iter().map(|e| e.id).collect::<Vec<_>>(), total),
        "detail": detail.map(|d| (d.sources.len(), d.conflicts.len())),
        "quarantined": query::quarantined(conn).unwrap().iter().map(|q| (q.id, q.sources.clone())).collect::<Vec<_>>(),
        "reused": query::reused_ids(conn, 5).unwrap().0,
        "feed": (polled.events.iter().map(|e| e.id).collect::<Vec<_>>(), feed::consumers(conn).unwrap()),
        "outbox": outbox.iter().map(|i| (i.id, i.channel, i.event, i.target.clone(), i.payload.clone())).collect::<Vec<_>>(),
        "by_topic": figures::events_by_topic(conn).unwrap(),
        "deliveries": figures::deliveries(conn).unwrap(),
        "quarantine": figures::quarantined(conn).unwrap(),
        "tally": figures::message_tally(conn, None).unwrap().counts.into_iter().collect::<Vec<_>>(),
        "failed_jobs": views::failed_jobs(conn, None, 50).unwrap().1,
        "transfers_out": views::open_transfers_out(conn, None, 50).unwrap().1,
        "expiring": views::expiring_domains(conn, None, 50).unwrap().1,
        "zone": views::failing_zone_checks(conn, None, 50).unwrap().1,
        "outbox_counts": views::outbox_counts(conn).unwrap(),
        "domains": domains.iter().map(|d| (d.domain.clone(), d.events, d.latest)).collect::<Vec<_>>(),
        "searched_domains": searched_domains.iter().map(|d| (d.domain.clone(), d.events)).collect::<Vec<_>>(),
        "per_day": views::domains::per_day(conn, "2000-01-01").unwrap(),
        "digest_waiting": views::digest_waiting(conn, "daily").unwrap(),
        "raw": mailroom::store::query::raw_message(conn, 1).unwrap().map(|(r, whole)| (r.len(), whole)),
        "indexed": search::indexed_up_to(conn).unwrap() >= 0,
    })
}

#[test]
fn every_reading_agrees_on_sqlite_and_postgres() {
    let server = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let mut lite = mailroom::store::Store::open(&dir.path().join("t.db")).unwrap();
    fill(&mut lite);
    let target = pg::Target {
        url: server.database("readings"),
        password: Some(PASSWORD.to_string()),
        ca_file: None,
        dead_after: std::time::Duration::from_secs(10),
        pooled: false,
    };
    let mut shared = mailroom::store::Store::open_pg(&target).unwrap();
    fill(&mut shared);
    // SQLite's search index catches up after the fact; PostgreSQL scans.
    mailroom::store::search::catch_up_all(lite.db()).unwrap();
    let a = timeless(readings(lite.db()));
    let b = timeless(readings(shared.db()));
    assert!(a["count"].as_i64().unwrap() > 100, "{}", a["count"]);
    assert!(a["outbox"].as_array().unwrap().len() > 100);
    for (key, value) in a.as_object().unwrap() {
        if value != &b[key] {
            let (x, y) = (value.to_string(), b[key].to_string());
            let at = x
                .bytes()
                .zip(y.bytes())
                .position(|(p, q)| p != q)
                .unwrap_or(0);
            let from = at.saturating_sub(200);
            panic!(
                "{key} differs between SQLite and PostgreSQL at byte {at}:\n  sqlite: …{}\n  pg:     …{}",
                &x[from..(at + 200).min(x.len())],
                &y[from..(at + 200).min(y.len())]
            );
        }
    }
}

/// The readings without the moments they were stored (two stores, two moments).
fn timeless(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "first_seen" | "last_seen" | "created" | "updated" | "last_poll"
                    )
                })
                .map(|(k, v)| (k, timeless(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(timeless).collect()),
        other => other,
    }
}

/// The messages of [`fill`], arranged to meet every way of the set-based import: new
/// content with new events, copies at other places (some in the same batch as their
/// first sighting, some batches later), relayed copies (new content, the same events:
/// an added header), a relayed copy with a changed payload (a conflict), and the
/// quarantined ones.
fn mixed_items() -> Vec<(mailroom::source::Source, Vec<u8>)> {
    use mailroom::source::Source;
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    for dir in ["samples", "samples/extra"] {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            if e.path().extension().is_some_and(|x| x == "eml") {
                files.push(e.path());
            }
        }
    }
    files.sort();
    let place = |p: &std::path::Path, tag: &str| Source::File {
        path: format!("{}#{tag}", p.display()),
    };
    let mut items = Vec::new();
    for (i, p) in files.iter().enumerate() {
        let raw = std::fs::read(p).unwrap();
        items.push((place(p, "a"), raw.clone()));
        if i % 3 == 0 {
            items.push((place(p, "b"), raw.clone()));
        }
        if i % 4 == 1 {
            let mut relayed = b"X-Relayed-By: gw.example.net\r\n".to_vec();
            relayed.extend_from_slice(&raw);
            items.push((place(p, "relayed"), relayed));
        }
        if i % 7 == 2 {
            let text = String::from_utf8_lossy(&raw).replace("example", "exampel");
            let mut changed = b"X-Relayed-By: gw2.example.net\r\n".to_vec();
            changed.extend_from_slice(text.as_bytes());
            items.push((place(p, "changed"), changed));
        }
    }
    for p in files.iter().step_by(2) {
        items.push((place(p, "later"), std::fs::read(p).unwrap()));
    }
    items
}

/// What a store holds, without the row ids (the set-based import may number the rows
/// of a batch in another order than the one-by-one path does).
fn contents(conn: &impl Sql) -> serde_json::Value {
    use mailroom::store::{figures, outbox, query};
    let all = query::EventFilter::default();
    let events = query::events(conn, &all).unwrap();
    let key_of: std::collections::HashMap<i64, String> = events
        .iter()
        .map(|e| {
            (
                e.id,
                format!("{}/{}", e.event.registrar.as_str(), e.event.event_id),
            )
        })
        .collect();
    let mut stored: Vec<serde_json::Value> = events
        .iter()
        .map(|e| {
            let d = query::event_detail(conn, &e.id.to_string())
                .unwrap()
                .unwrap();
            let mut v = serde_json::to_value(&e.event).unwrap();
            v["seen_count"] = e.seen_count.into();
            let mut places: Vec<String> = d.sources.iter().map(|s| s.source.clone()).collect();
            places.sort();
            v["places"] = places.into();
            let mut conflicts: Vec<String> = d
                .conflicts
                .iter()
                .map(|c| serde_json::to_string(&c.data).unwrap())
                .collect();
            conflicts.sort();
            v["conflicts"] = conflicts.into();
            v
        })
        .collect();
    stored.sort_by_key(|v| format!("{}/{}", v["registrar"], v["event_id"]));
    let mut queued: Vec<(String, String, String)> = outbox::list(conn, &[])
        .unwrap()
        .iter()
        .map(|i| {
            (
                format!("{:?}", i.channel),
                i.event.map(|e| key_of[&e].clone()).unwrap_or_default(),
                i.target.clone(),
            )
        })
        .collect();
    queued.sort();
    let mut quarantined: Vec<Vec<String>> = query::quarantined(conn)
        .unwrap()
        .iter()
        .map(|q| {
            let mut s: Vec<String> = q.sources.iter().map(|s| s.to_string()).collect();
            s.sort();
            s
        })
        .collect();
    quarantined.sort();
    serde_json::json!({
        "events": stored,
        "outbox": queued,
        "quarantined": quarantined,
        "by_topic": figures::events_by_topic(conn).unwrap(),
        "tally": figures::message_tally(conn, None).unwrap().counts.into_iter().collect::<Vec<_>>(),
        "messages": conn.one::<i64>("SELECT count(*) FROM messages", args![]).unwrap(),
        "places": conn.one::<i64>("SELECT count(*) FROM message_sources", args![]).unwrap(),
        "links": conn.one::<i64>("SELECT count(*) FROM event_sources", args![]).unwrap(),
    })
}

#[test]
fn set_based_import_stores_what_one_by_one_stores() {
    let server = Postgres::start();
    let config = mailroom::config::Config::from_text(
        std::path::Path::new("/nonexistent/mailroom.toml"),
        "[limits]\nmax_event_age = \"100000d\"\n".to_string(),
    )
    .unwrap();
    let rules = mailroom::rules::load_str(
        std::path::Path::new("10.toml"),
        "[[rule]]\nname = \"all\"\nwhen.registrar = [\"opensrs\", \"autodns\", \"gandi\"]\n\
         forward = { to = \"ops@example.com\" }\ndigest = \"daily\"\n\n\
         [[digest]]\nname = \"daily\"\nat = \"08:00\"\nto = \"owner@example.com\"\n",
    )
    .unwrap();
    let open = |name: &str| {
        mailroom::store::Store::open_pg(&pg::Target {
            url: server.database(name),
            password: Some(PASSWORD.to_string()),
            ca_file: None,
            dead_after: std::time::Duration::from_secs(10),
            pooled: false,
        })
        .unwrap()
    };
    let items = mixed_items();
    let mut one = open("one_by_one");
    let mut bulk = open("set_based");
    let mut channel = open("channel");
    let mut counts = [mailroom::ingest::Batch::default(); 3];
    // Twice: the second time every message is known content at a known place.
    for _ in 0..2 {
        for chunk in items.chunks(50) {
            let prepared =
                mailroom::ingest::prepare(chunk.to_vec(), mailroom::ingest::known_in(one.db()));
            let b =
                mailroom::ingest::ingest_each(&mut one, &config, &rules, prepared, None).unwrap();
            mailroom::ingest::sum(&mut counts[0], b);
            let ready = mailroom::ingest::bulk::read(bulk.db(), &config, chunk.to_vec()).unwrap();
            let b = mailroom::ingest::bulk::write(&mut bulk, &config, &rules, ready, None).unwrap();
            mailroom::ingest::sum(&mut counts[1], b);
            // What a channel does: prepared, then stored set-based on PostgreSQL.
            let prepared =
                mailroom::ingest::prepare(chunk.to_vec(), mailroom::ingest::known_in(channel.db()));
            let b = mailroom::ingest::ingest_batch(&mut channel, &config, &rules, prepared, None)
                .unwrap();
            mailroom::ingest::sum(&mut counts[2], b);
        }
    }
    assert_eq!(
        contents(channel.db()),
        contents(one.db()),
        "a channel's batches differ"
    );
    assert_eq!(format!("{:?}", counts[0]), format!("{:?}", counts[2]));
    let (a, b) = (contents(one.db()), contents(bulk.db()));
    assert!(a["events"].as_array().unwrap().len() > 100);
    assert!(
        a["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| !e["conflicts"].as_array().unwrap().is_empty()),
        "the mix has conflicting copies"
    );
    for (key, value) in a.as_object().unwrap() {
        assert_eq!(value, &b[key], "{key} differs");
    }
    assert_eq!(format!("{:?}", counts[0]), format!("{:?}", counts[1]));
}

/// Several instances started at once on an empty PostgreSQL database (CI, 2026-12-04:
/// the second `watch` of tests/shared_store.rs failed with `type "schema_version"
/// already exists`): `CREATE TABLE IF NOT EXISTS` is not safe against itself in
/// PostgreSQL, so the schema is made under a transaction-scoped lock. Every opening
/// must succeed and leave one schema.
#[test]
fn instances_opening_an_empty_database_at_once_all_start() {
    let server = Postgres::start();
    for round in 0..6 {
        let target = pg::Target {
            url: server.database(&format!("race{round}")),
            password: Some(PASSWORD.to_string()),
            ca_file: None,
            dead_after: std::time::Duration::from_secs(10),
            pooled: false,
        };
        let gate = std::sync::Arc::new(std::sync::Barrier::new(6));
        let openers: Vec<_> = (0..6)
            .map(|_| {
                let (target, gate) = (target.clone(), gate.clone());
                std::thread::spawn(move || {
                    gate.wait();
                    pg::open(&target).map(|_| ()).map_err(|e| e.to_string())
                })
            })
            .collect();
        for opener in openers {
            if let Err(e) = opener.join().unwrap() {
                panic!("round {round}: an instance could not open the database: {e}");
            }
        }
        let conn = pg::open(&target).unwrap();
        let versions: Vec<i64> = conn
            .rows("SELECT version FROM schema_version", args![], |r| r.get(0))
            .unwrap();
        assert_eq!(versions.len(), 1, "round {round}: {versions:?}");
    }
}
