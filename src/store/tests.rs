//! The store's own tests: opening and migrating, errors that name the file, WAL
//! checkpoints, and recording messages and events.

use super::*;

#[test]
fn creates_and_reopens_at_the_current_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let s = Store::open(&path).unwrap();
    assert_eq!(s.version().unwrap(), schema::MIGRATIONS.len() as i64);
    let mode: String = s
        .conn()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    drop(s);
    let s = Store::open(&path).unwrap();
    assert_eq!(s.version().unwrap(), schema::MIGRATIONS.len() as i64);
}

#[test]
fn a_version_6_file_keeps_its_messages_known_and_readable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    {
        // A file as schema 6 left it: hex hashes, raw bytes in raw_messages.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (6);")
            .unwrap();
        for sql in &schema::MIGRATIONS[..6] {
            conn.execute_batch(sql).unwrap();
        }
        let raw = b"Subject: old\r\n\r\nbody".as_slice();
        conn.execute(
            "INSERT INTO messages (id, content_hash, size, status, first_seen, last_seen)
             VALUES (1, ?1, ?2, 'quarantined', 'x', 'x')",
            rusqlite::params![crate::store::hash_hex(&content_hash(raw)), raw.len()],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO raw_messages (message, complete, raw) VALUES (1, 1, ?1)",
            [raw],
        )
        .unwrap();
    }
    let s = Store::open(&path).unwrap();
    assert_eq!(s.version().unwrap(), schema::MIGRATIONS.len() as i64);
    let raw = b"Subject: old\r\n\r\nbody".as_slice();
    assert!(is_known(s.conn(), &content_hash(raw)).unwrap());
    assert_eq!(
        query::raw_message(s.conn(), 1).unwrap(),
        Some((raw.to_vec(), true))
    );
}

#[test]
fn a_version_8_file_keeps_its_messages_and_events_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let raw = b"Subject: old\r\n\r\nbody".as_slice();
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (8);")
            .unwrap();
        for sql in &schema::MIGRATIONS[..8] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute(
            "INSERT INTO messages (id, content_hash, size, status, first_seen, last_seen)
             VALUES (1, ?1, ?2, 'parsed', '2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z')",
            rusqlite::params![content_hash(raw), raw.len()],
        )
        .unwrap();
        conn.execute_batch(
            "INSERT INTO events (registrar, event_id, kind, object, type, topic, domain, domains,
                                 format, data, message, seen_count, first_seen, last_seen)
             VALUES ('opensrs', 'a', 'event', 'domain', 'RENEWED', 'domain.renewed', 'x.de',
                     '[\"x.de\"]', 'json', '{\"k\":1}', 1, 2, '2026-01-01T00:00:00Z',
                     '2026-02-01T00:00:00Z'),
                    ('opensrs', 'b', 'event', 'domain', 'RENEWED', 'domain.renewed', 'x.de',
                     '[\"x.de\",\"y.de\"]', 'json', '{}', 1, 1, '2026-01-01T00:00:00Z',
                     '2026-01-01T00:00:00Z');",
        )
        .unwrap();
    }
    let s = Store::open(&path).unwrap();
    assert_eq!(s.version().unwrap(), schema::MIGRATIONS.len() as i64);
    assert!(is_known(s.conn(), &content_hash(raw)).unwrap());
    assert!(!is_known(s.conn(), &content_hash(b"other")).unwrap());
    let m = views::message(s.conn(), 1).unwrap().unwrap();
    assert_eq!(m.last_seen, "2026-02-01T00:00:00Z");
    let a = query::event_detail(s.conn(), "opensrs:a")
        .unwrap()
        .unwrap()
        .stored;
    assert_eq!(a.event.domains, ["x.de"]);
    assert_eq!(a.event.data, serde_json::json!({"k": 1}));
    assert_eq!(
        (a.seen_count, a.last_seen.as_str()),
        (2, "2026-02-01T00:00:00Z")
    );
    let b = query::event_detail(s.conn(), "opensrs:b")
        .unwrap()
        .unwrap()
        .stored;
    assert_eq!(b.event.domains, ["x.de", "y.de"]);
    assert_eq!(b.last_seen, "2026-01-01T00:00:00Z");
    let stored: Option<String> = s
        .conn()
        .query_row("SELECT domains FROM events WHERE event_id = 'a'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(stored, None, "[domain] alone is not stored again");
}

#[test]
fn a_version_9_file_finds_its_events_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (9);")
            .unwrap();
        for sql in &schema::MIGRATIONS[..9] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO messages (id, content_hash, size, status, first_seen)
             VALUES (1, x'00', 1, 'parsed', 'x');
             INSERT INTO events (registrar, event_id, kind, object, type, topic, format, data,
                                 message, seen_count, first_seen)
             VALUES ('opensrs', 'a', 'event', 'domain', 'RENEWED', 'domain.renewed', 'json',
                     '{}', 1, 3, 'x'),
                    ('gandi', 'a', 'event', 'domain', 'RENEWED', 'domain.renewed', 'json',
                     '{}', 1, 1, 'x');",
        )
        .unwrap();
    }
    let s = Store::open(&path).unwrap();
    let keys: Vec<(String, i64)> = s
        .conn()
        .prepare("SELECT registrar, event_key FROM events ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(
        keys,
        [
            ("opensrs".to_string(), event_key("opensrs", "a")),
            ("gandi".to_string(), event_key("gandi", "a"))
        ]
    );
    assert_ne!(keys[0].1, keys[1].1);
    let indexes: Vec<String> = s
        .conn()
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    // The unique index on both texts is gone (later migrations add their own).
    for want in ["events_domain", "events_key", "events_topic"] {
        assert!(
            indexes.iter().any(|i| i == want),
            "{want} missing: {indexes:?}"
        );
    }
    assert!(
        !indexes.iter().any(|i| i.starts_with("sqlite_autoindex")),
        "{indexes:?}"
    );
    let a = query::event_detail(s.conn(), "opensrs:a")
        .unwrap()
        .unwrap()
        .stored;
    assert_eq!((a.id, a.seen_count), (1, 3));
    let g = query::event_detail(s.conn(), "gandi:a").unwrap().unwrap();
    assert_eq!(g.stored.id, 2);
    // A bare id names the first event stored with it.
    let bare = query::event_detail(s.conn(), "a").unwrap().unwrap();
    assert_eq!(bare.stored.id, 1);
    assert!(query::event_detail(s.conn(), "b").unwrap().is_none());
}

#[test]
fn a_hurried_checkpoint_copies_the_commit_and_the_wal_then_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let mut s = Store::open(&path).unwrap();
    let checkpoints = Checkpointer::start(&s).unwrap();
    let write = |s: &mut Store, n: i64| {
        let tx = s.conn_mut().transaction().unwrap();
        for i in 0..n {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, zeroblob(4000))",
                [format!("k{n}-{i}")],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    };
    write(&mut s, 500);
    let poke = checkpoints.poke();
    assert!(!checkpoints.copied(poke + 1), "a commit not yet said");
    checkpoints.hurry();
    // Without the usual gap: well within a second.
    let started = std::time::Instant::now();
    while !checkpoints.copied(poke) {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "the thread never copied commit {poke}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let wal = dir.path().join("m.db-wal");
    let before = std::fs::metadata(&wal).unwrap().len();
    assert!(before > 500 * 4000, "the WAL held the commit: {before}");
    // The little committed since is copied by the writer itself, and the next
    // transaction writes the WAL from its beginning.
    write(&mut s, 50);
    checkpoints.catch_up(s.conn());
    write(&mut s, 1);
    let frames: i64 = s
        .conn()
        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
        .unwrap();
    assert!(
        frames < 10,
        "the WAL did not start afresh: {frames} frames after one small commit"
    );
}

#[test]
fn a_new_database_and_its_wal_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let s = Store::open(&path).unwrap();
    s.conn()
        .execute("INSERT INTO schema_version (version) VALUES (0)", [])
        .unwrap();
    for name in ["m.db", "m.db-wal", "m.db-shm"] {
        let meta = std::fs::metadata(dir.path().join(name)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
    }
}

#[test]
fn open_existing_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("m.db");
    let e = Store::open_existing(&path).err().unwrap();
    assert_eq!(
        e.to_string(),
        format!(
            "no database at {} (run mailroom import or watch first, or pass --db)",
            path.display()
        )
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    drop(Store::open(&path).unwrap());
    assert!(Store::open_existing(&path).is_ok());
}

#[test]
fn a_text_file_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "hello\n".repeat(100)).unwrap();
    for e in [
        Store::open(&path).err().unwrap(),
        Store::open_existing(&path).err().unwrap(),
    ] {
        assert_eq!(
            e.to_string(),
            format!(
                "{} is not a mailroom database (file is not a database)",
                path.display()
            )
        );
    }
}

#[test]
fn a_newer_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let s = Store::open(&path).unwrap();
    s.conn()
        .execute("UPDATE schema_version SET version = 999", [])
        .unwrap();
    drop(s);
    let e = Store::open(&path).err().unwrap();
    assert!(e.to_string().contains("newer than this mailroom"), "{e}");
}

#[test]
fn unsynced_commits_only_within_and_the_full_sync_comes_back_even_after_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let s = Store::open(&path).unwrap();
    let sync = |s: &Store| -> i64 {
        s.db()
            .lite()
            .unwrap()
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(sync(&s), 2, "FULL by default");
    let seen = s.db().unsynced(|| Ok(sync(&s))).unwrap();
    assert_eq!(seen, 1, "NORMAL within");
    assert_eq!(sync(&s), 2, "FULL after");
    let failed: crate::store::Result<()> = s
        .db()
        .unsynced(|| Err(crate::store::StoreError::File("no".into())));
    assert!(failed.is_err());
    assert_eq!(sync(&s), 2, "FULL after an error");
}
