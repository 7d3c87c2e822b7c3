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
}
