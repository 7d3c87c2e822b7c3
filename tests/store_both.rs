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
}

fn check_outbox(conn: &impl Sql) {
    use chrono::Duration;
    use mailroom::store::outbox::{self, Channel, NewItem};
    let now = mailroom::clock::now();
    let hook = |n: i64| NewItem {
        channel: Channel::Webhook,
        rule: Some("r".into()),
        event: Some(n),
        message: None,
        target: "https://hooks.example/x".into(),
        payload: serde_json::json!({"url": format!("https://hooks.example/x?n={n}")}),
    };
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
