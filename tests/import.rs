//! `mailroom import` against a real SQLite file: exact counts, exactly-once storage
//! across re-imports and copies, every input kind, the raw size cap, reparse, the
//! `events` views, and a real import killed with SIGKILL and resumed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mailroom"));
    c.env_remove("MAILROOM_NOW");
    c.env("MAILROOM_CONFIG", root().join("tests/import-any-age.toml"));
    c
}

fn run(db: &Path, args: &[&str]) -> Output {
    bin().arg("--db").arg(db).args(args).output().unwrap()
}

fn json(db: &Path, args: &[&str]) -> Value {
    let out = run(db, args);
    assert!(
        out.status.success(),
        "mailroom {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A synthetic mbox from bench/gen_mbox.py and the summary its first import must give.
fn synthetic_mbox(dir: &Path, messages: usize) -> (PathBuf, Value) {
    let path = dir.join("synthetic.mbox");
    let out = Command::new("python3")
        .arg(root().join("bench/gen_mbox.py"))
        .arg(&path)
        .args(["--messages", &messages.to_string(), "--seed", "7"])
        .output()
        .expect("python3 runs bench/gen_mbox.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut expected: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Rules act on events of any age here (tests/import-any-age.toml).
    expected["rules_skipped"] = 0.into();
    (path, expected)
}

const SAMPLE: &str = "samples/opensrs-domain-created.eml";

fn opensrs_email(event_id: &str, domain: &str, extra_header: &str) -> String {
    format!(
        "From: notifications@opensrs.net\r\nTo: ops@example.com\r\n{extra_header}\
         Subject: Event notification: DOMAIN: CREATED: {event_id}\r\n\r\n\
         {{\"object_data\":{{\"domain_name\":\"{domain}\",\"domain_id\":\"1\"}},\"object\":\"DOMAIN\",\
         \"event_id\":\"{event_id}\",\"event\":\"CREATED\",\"event_date\":\"2026-09-09T21:16:22Z\"}}\r\n"
    )
}

#[test]
fn counts_are_exact_and_a_second_import_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let (mbox, expected) = synthetic_mbox(dir.path(), 3_000);
    let first = json(&db, &["import", "--json", mbox.to_str().unwrap()]);
    assert_eq!(first, expected);
    let second = json(&db, &["import", "--json", mbox.to_str().unwrap()]);
    assert_eq!(second["events_new"], 0);
    assert_eq!(second["messages"], expected["messages"]);
    assert_eq!(second["quarantined"], expected["quarantined"]);
    let count = json(&db, &["events", "--count", "--json"]);
    assert_eq!(count["count"], expected["events_new"]);
    // The summary keys are exactly these.
    let keys: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "messages",
            "events_new",
            "duplicates",
            "quarantined",
            "rules_skipped"
        ]
    );
}

/// A second import of the same mail from another place: every message is known (the
/// importer records such sightings when its batch ends, sorted by row); each gains
/// the new place exactly as one at a time would give it.
#[test]
fn known_mail_from_a_new_place_gains_every_source_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let (mbox, expected) = synthetic_mbox(dir.path(), 3_000);
    let first = json(&db, &["import", "--json", mbox.to_str().unwrap()]);
    assert_eq!(first, expected);
    let count = |sql: &str| -> i64 {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    };
    let links = count("SELECT count(*) FROM event_sources");
    let seen = count("SELECT sum(seen_count) FROM events");
    let places = count("SELECT count(*) FROM message_sources");
    assert_eq!(links, seen);
    let copy = dir.path().join("copy.mbox");
    std::fs::copy(&mbox, &copy).unwrap();
    let second = json(&db, &["import", "--json", copy.to_str().unwrap()]);
    assert_eq!(second["events_new"], 0);
    assert_eq!(second["messages"], expected["messages"]);
    assert_eq!(second["quarantined"], expected["quarantined"]);
    // Every event of every message is met again once per message holding it.
    assert_eq!(
        second["duplicates"].as_u64().unwrap(),
        expected["events_new"].as_u64().unwrap() + expected["duplicates"].as_u64().unwrap()
    );
    assert_eq!(count("SELECT count(*) FROM event_sources"), 2 * links);
    assert_eq!(count("SELECT sum(seen_count) FROM events"), 2 * seen);
    assert_eq!(count("SELECT count(*) FROM message_sources"), 2 * places);
    // And the newest sighting is the copy's.
    let newest = count(
        "SELECT count(*) FROM events e WHERE NOT EXISTS
           (SELECT 1 FROM event_sources es JOIN message_sources s ON s.id = es.source
            WHERE es.event = e.id AND s.source LIKE 'mbox:%copy.mbox#%')",
    );
    assert_eq!(newest, 0, "every event was seen in the copy");
}

#[test]
fn two_imports_of_the_same_mail_at_once_store_it_once() {
    // Both start on an empty database, so neither reader asks it about content new to
    // its own run; each writer must notice the other's commits and look itself. (How
    // the two interleave varies: three rounds.)
    let dir = tempfile::tempdir().unwrap();
    let (mbox, expected) = synthetic_mbox(dir.path(), 3_000);
    let copy = dir.path().join("copy.mbox");
    std::fs::copy(&mbox, &copy).unwrap();
    for round in 0..3 {
        let db = dir.path().join(format!("m{round}.db"));
        both_at_once(&db, &mbox, &copy, &expected);
    }
}

fn both_at_once(db: &Path, mbox: &Path, copy: &Path, expected: &Value) {
    let spawn = |file: &Path| {
        bin()
            .arg("--db")
            .arg(db)
            .args(["import", "--json"])
            .arg(file)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(mbox), spawn(copy));
    let mut events_new = 0;
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(summary["messages"], expected["messages"]);
        events_new += summary["events_new"].as_i64().unwrap();
    }
    assert_eq!(events_new, expected["events_new"].as_i64().unwrap());
    let conn = rusqlite::Connection::open(db).unwrap();
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(
        count("SELECT count(*) FROM messages"),
        count("SELECT count(DISTINCT content_hash) FROM messages"),
        "a message stored twice"
    );
    assert_eq!(
        count("SELECT count(*) FROM events"),
        expected["events_new"].as_i64().unwrap()
    );
    assert_eq!(
        count("SELECT count(*) FROM event_sources"),
        count("SELECT sum(seen_count) FROM events")
    );
}

#[test]
fn events_that_share_a_key_stay_two_events() {
    // Events are found through a 64-bit key of (registrar, event_id); the texts decide.
    // A collision is forged: e1's row is given the key e2 will have.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let first = dir.path().join("1.eml");
    std::fs::write(&first, opensrs_email("e1", "one.example", "")).unwrap();
    json(&db, &["import", "--json", first.to_str().unwrap()]);
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let forged = mailroom::store::event_key("opensrs", "e2");
        assert_ne!(forged, mailroom::store::event_key("opensrs", "e1"));
        let n = conn
            .execute(
                "UPDATE events SET event_key = ?1 WHERE event_id = 'e1'",
                [forged],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    let second = dir.path().join("2.eml");
    std::fs::write(&second, opensrs_email("e2", "two.example", "")).unwrap();
    let s = json(&db, &["import", "--json", second.to_str().unwrap()]);
    assert_eq!(
        (s["events_new"].as_u64(), s["duplicates"].as_u64()),
        (Some(1), Some(0))
    );
    // Met again in another email, e2 is recognised among the two sharing its key.
    let third = dir.path().join("3.eml");
    std::fs::write(
        &third,
        opensrs_email("e2", "two.example", "Message-ID: <again@x>\r\n"),
    )
    .unwrap();
    let s = json(&db, &["import", "--json", third.to_str().unwrap()]);
    assert_eq!(
        (s["events_new"].as_u64(), s["duplicates"].as_u64()),
        (Some(0), Some(1))
    );
    let show = json(&db, &["events", "show", "opensrs:e2", "--json"]);
    assert_eq!(show["event_id"], "e2");
    assert_eq!(show["seen_count"], 2);
    assert_eq!(show["domain"], "two.example");
    let count = json(&db, &["events", "--count", "--json"]);
    assert_eq!(count["count"], 2);
}

#[test]
fn the_same_event_in_another_email_or_folder_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    // Two folders holding the same email, and a third email repeating the event.
    let a = dir.path().join("a/cur");
    let b = dir.path().join("b/new");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let email = opensrs_email("e1", "one.example", "Message-ID: <one@x>\r\n");
    std::fs::write(a.join("1.host:2,S"), &email).unwrap();
    std::fs::write(b.join("1.host"), &email).unwrap();
    let again = opensrs_email(
        "e1",
        "one.example",
        "Message-ID: <again@x>\r\nX-Resent: yes\r\n",
    );
    std::fs::write(dir.path().join("again.eml"), &again).unwrap();

    let s = json(
        &db,
        &["import", "--json", dir.path().join("a").to_str().unwrap()],
    );
    assert_eq!(
        (s["events_new"].as_u64(), s["duplicates"].as_u64()),
        (Some(1), Some(0))
    );
    let s = json(
        &db,
        &["import", "--json", dir.path().join("b").to_str().unwrap()],
    );
    assert_eq!(
        (s["events_new"].as_u64(), s["duplicates"].as_u64()),
        (Some(0), Some(1))
    );
    let s = json(
        &db,
        &[
            "import",
            "--json",
            dir.path().join("again.eml").to_str().unwrap(),
        ],
    );
    assert_eq!(
        (s["events_new"].as_u64(), s["duplicates"].as_u64()),
        (Some(0), Some(1))
    );
    // Importing the same places again changes nothing.
    json(
        &db,
        &["import", "--json", dir.path().join("a").to_str().unwrap()],
    );

    let events = json(&db, &["events", "--json"]);
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event_id"], "e1");
    assert_eq!(events[0]["seen_count"], 3);
    assert_eq!(events[0]["domain"], "one.example");
    let show = json(&db, &["events", "show", "opensrs:e1", "--json"]);
    let sources: Vec<&str> = show["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources.len(), 3, "{sources:?}");
    assert!(
        sources[0].starts_with("maildir:") && sources[0].ends_with("/a#1.host"),
        "{sources:?}"
    );
    assert!(sources[1].ends_with("/b#1.host"), "{sources:?}");
    assert!(
        sources[2].starts_with("file:") && sources[2].ends_with("again.eml"),
        "{sources:?}"
    );
}

#[test]
fn every_input_kind_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let emls = dir.path().join("emls/nested");
    std::fs::create_dir_all(&emls).unwrap();
    std::fs::write(emls.join("x.eml"), opensrs_email("k1", "k1.example", "")).unwrap();
    std::fs::write(emls.join("ignored.txt"), "not an email file").unwrap();
    let mbox = dir.path().join("box");
    std::fs::write(
        &mbox,
        format!(
            "From a@b Sat Jan  1 00:00:00 2026\n{}\nFrom a@b Sat Jan  1 00:00:01 2026\n{}\n",
            opensrs_email("k2", "k2.example", "").replace("\r\n", "\n"),
            opensrs_email("k3", "k3.example", "").replace("\r\n", "\n")
        ),
    )
    .unwrap();
    let s = json(
        &db,
        &[
            "import",
            "--json",
            dir.path().join("emls").to_str().unwrap(),
            mbox.to_str().unwrap(),
        ],
    );
    assert_eq!(s["messages"], 3);
    assert_eq!(s["events_new"], 3);

    let mut child = bin()
        .arg("--db")
        .arg(&db)
        .args(["import", "--json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(opensrs_email("k4", "k4.example", "").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["events_new"], 1);

    // A path that does not exist: a clear error naming it, exit 1, nothing imported.
    let out = run(
        &db,
        &["import", dir.path().join("missing.eml").to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.eml"));
}

#[test]
fn quarantine_keeps_the_reason_and_reparse_recovers_events() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let junk = dir.path().join("junk.eml");
    std::fs::write(
        &junk,
        "From: a@b\r\nSubject: newsletter\r\n\r\nHello reseller!\r\n",
    )
    .unwrap();
    let good = root().join(SAMPLE);
    let s = json(
        &db,
        &[
            "import",
            "--json",
            junk.to_str().unwrap(),
            good.to_str().unwrap(),
        ],
    );
    assert_eq!(s["quarantined"], 1);
    let q = json(&db, &["quarantine", "--json"]);
    assert_eq!(q.as_array().unwrap().len(), 1);
    assert!(
        q[0]["reason"].as_str().unwrap().contains("no JSON, XML"),
        "{q}"
    );
    assert!(q[0]["sources"][0].as_str().unwrap().ends_with("junk.eml"));

    // An older mailroom that could not read the good message: its events gone, the
    // message quarantined. Reparse finds them again.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let before: i64 = conn
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert!(before >= 1);
    conn.execute_batch(
        "DELETE FROM outbox; DELETE FROM digest_items; DELETE FROM event_sources; DELETE FROM events;
         UPDATE messages SET status = 'quarantined', reason = 'old extractor', event_count = 0;",
    )
    .unwrap();
    drop(conn);
    let r = json(&db, &["reparse", "--json"]);
    assert_eq!(r["messages"], 2);
    assert_eq!(r["events_new"].as_i64(), Some(before));
    assert_eq!(r["recovered"], 1);
    assert_eq!(
        json(&db, &["events", "--count", "--json"])["count"].as_i64(),
        Some(before)
    );
    assert_eq!(
        json(&db, &["quarantine", "--json"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn messages_over_the_raw_limit_keep_headers_and_hash() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let config = dir.path().join("mailroom.toml");
    std::fs::write(&config, "[store]\nraw_limit = \"1KiB\"\n").unwrap();
    let big = dir.path().join("big.eml");
    let padding = "x".repeat(4000);
    std::fs::write(
        &big,
        opensrs_email("big1", "big.example", &format!("X-Padding: {padding}\r\n")),
    )
    .unwrap();
    let small = dir.path().join("small.eml");
    std::fs::write(&small, opensrs_email("small1", "small.example", "")).unwrap();
    let out = bin()
        .args([
            "--config",
            config.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
        ])
        .args([
            "import",
            "--json",
            big.to_str().unwrap(),
            small.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let conn = rusqlite::Connection::open(&db).unwrap();
    let rows: Vec<(i64, i64, Vec<u8>)> = conn
        .prepare("SELECT raw_complete, raw_len, content_hash FROM messages ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows[0].0, 0, "the big message is kept as headers only");
    assert!(
        rows[0].1 < 4300 && rows[0].1 > 4000,
        "header section kept: {}",
        rows[0].1
    );
    assert_eq!(rows[0].2.len(), 32, "the content hash is a 32-byte blob");
    assert_eq!(rows[1].0, 1);
    let r = json(&db, &["reparse", "--all", "--json"]);
    assert_eq!(r["skipped_incomplete"], 1);
}

#[test]
fn events_filters_count_stats_and_shape() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    json(
        &db,
        &["import", "--json", root().join("samples").to_str().unwrap()],
    );
    let all = json(&db, &["events", "--json"]);
    let all = all.as_array().unwrap();
    assert!(all.len() >= 40);
    for e in all {
        for key in [
            "registrar",
            "event_id",
            "kind",
            "object",
            "type",
            "topic",
            "domain",
            "domains",
            "status",
            "occurred_at",
            "format",
            "data",
            "seen_count",
            "first_seen",
            "last_seen",
        ] {
            assert!(e.get(key).is_some(), "{key} missing in {e}");
        }
    }
    let n = |args: &[&str]| -> usize {
        let mut a = vec!["events", "--json"];
        a.extend_from_slice(args);
        json(&db, &a).as_array().unwrap().len()
    };
    let expect = |f: &dyn Fn(&Value) -> bool| all.iter().filter(|e| f(e)).count();
    assert_eq!(
        n(&["--registrar", "gandi"]),
        expect(&|e| e["registrar"] == "gandi")
    );
    assert_eq!(
        n(&["--topic", "transfer.out"]),
        expect(&|e| e["topic"] == "transfer.out")
    );
    assert_eq!(
        n(&["--topic", "transfer"]),
        expect(&|e| e["topic"].as_str().unwrap().starts_with("transfer."))
    );
    assert_eq!(n(&["--type", "S0101"]), expect(&|e| e["type"] == "S0101"));
    assert!(n(&["--type", "S0101"]) >= 1);
    assert_eq!(
        n(&["--domain", "pizzza.xyz"]),
        expect(&|e| e["domain"] == "pizzza.xyz")
    );
    let early = expect(&|e| e["occurred_at"].as_str().is_some_and(|t| t < "2016-01-01"));
    assert_eq!(n(&["--until", "2016-01-01"]), early);
    assert_eq!(n(&["--since", "2016-01-01"]), all.len() - early);
    let count = json(
        &db,
        &["events", "--count", "--json", "--registrar", "opensrs"],
    );
    assert_eq!(
        count["count"].as_u64(),
        Some(expect(&|e| e["registrar"] == "opensrs") as u64)
    );
    let stats = json(&db, &["events", "--stats", "--json"]);
    let total: i64 = stats
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["events"].as_i64().unwrap())
        .sum();
    assert_eq!(total as usize, all.len());
    let out = run(&db, &["events", "show", "no-such-event"]);
    assert_eq!(out.status.code(), Some(1));
}

/// The rows that make up a database's meaning, without timestamps and row ids.
fn dump(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut out = Vec::new();
    let queries = [
        "SELECT 'event', registrar, event_id, kind, object, type, topic, domain, domains, status,
                occurred_at, format, data, seen_count FROM events",
        "SELECT 'message', content_hash, status, reason, event_count, size FROM messages",
        "SELECT 'source', m.content_hash, s.source FROM message_sources s JOIN messages m ON m.id = s.message",
        "SELECT 'sighting', e.registrar, e.event_id, s.source FROM event_sources es
           JOIN events e ON e.id = es.event JOIN message_sources s ON s.id = es.source",
        "SELECT 'raw', content_hash, raw_complete, raw_len FROM messages",
    ];
    for q in queries {
        let mut stmt = conn.prepare(q).unwrap();
        let cols = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                let mut line = Vec::new();
                for i in 0..cols {
                    let v: rusqlite::types::Value = r.get(i)?;
                    line.push(format!("{v:?}"));
                }
                Ok(line.join("|"))
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out.sort();
    out
}

fn committed_messages(db: &Path) -> i64 {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return 0;
    };
    conn.query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))
        .unwrap_or(0)
}

#[test]
fn an_import_killed_at_any_moment_resumes_to_the_same_database() {
    let dir = tempfile::tempdir().unwrap();
    let (mbox, expected) = synthetic_mbox(dir.path(), 12_000);
    let reference = dir.path().join("reference.db");
    assert_eq!(
        json(&reference, &["import", "--json", mbox.to_str().unwrap()]),
        expected
    );

    let crashed = dir.path().join("crashed.db");
    // Kill it three times at different moments: before anything is committed, just
    // after the first commit, and well into the run.
    let mut kills = 0;
    for wait_for in [0i64, 1, 4_000] {
        let mut child = bin()
            .arg("--db")
            .arg(&crashed)
            .args(["import", "--json", mbox.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while committed_messages(&crashed) < wait_for && started.elapsed() < Duration::from_secs(60)
        {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
    }
    assert!(kills >= 2, "the import finished before it could be killed");
    let partial = committed_messages(&crashed);
    assert!(
        partial < expected["messages"].as_i64().unwrap(),
        "nothing left to resume"
    );
    let resumed = json(&crashed, &["import", "--json", mbox.to_str().unwrap()]);
    assert_eq!(resumed["messages"], expected["messages"]);
    assert_eq!(dump(&crashed), dump(&reference));
}

/// Runs `mailroom --db DB import --json PATH…` as a child and kills it after `limit`:
/// a hang fails the test instead of hanging it. The summary, or the reason it failed.
fn import_within(db: &Path, paths: &[&Path], limit: Duration) -> Value {
    let mut child = bin()
        .arg("--db")
        .arg(db)
        .args(["import", "--json"])
        .args(paths)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("import did not finish within {limit:?} (deadlock?)");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// An OpenSRS notification carrying a binary attachment of `attachment` bytes.
fn email_with_attachment(event_id: &str, attachment: usize) -> Vec<u8> {
    let mut mail = opensrs_email(event_id, &format!("{event_id}.example"), "")
        .replace(
            "\r\n\r\n{",
            "\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain\r\n\r\n{",
        )
        .into_bytes();
    mail.extend_from_slice(
        b"--b\r\nContent-Type: application/octet-stream\r\n\
          Content-Disposition: attachment; filename=\"blob.bin\"\r\n\
          Content-Transfer-Encoding: base64\r\n\r\n",
    );
    // Base64 of zero bytes, 76 columns a line.
    let line = "A".repeat(76) + "\r\n";
    for _ in 0..attachment.div_ceil(57) {
        mail.extend_from_slice(line.as_bytes());
    }
    mail.extend_from_slice(b"--b--\r\n");
    mail
}

#[test]
fn regression_import_of_a_message_over_the_budget_then_another_does_not_deadlock() {
    let dir = tempfile::tempdir().unwrap();
    let emls = dir.path().join("emls");
    std::fs::create_dir(&emls).unwrap();
    // Over the 32 MiB in-flight budget, under the 64 MiB message cap.
    std::fs::write(emls.join("a.eml"), email_with_attachment("big1", 26 << 20)).unwrap();
    std::fs::write(
        emls.join("b.eml"),
        opensrs_email("small1", "small.example", ""),
    )
    .unwrap();
    let db = dir.path().join("m.db");
    let summary = import_within(&db, &[&emls], Duration::from_secs(180));
    assert_eq!(summary["messages"], 2);
    assert_eq!(summary["events_new"], 2);
}

#[test]
fn regression_import_of_a_maildir_of_many_one_megabyte_mails_does_not_deadlock() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    for i in 0..40 {
        std::fs::write(
            maildir.join("cur").join(format!("{i:04}.host:2,S")),
            email_with_attachment(&format!("att{i}"), 1 << 20),
        )
        .unwrap();
    }
    let db = dir.path().join("m.db");
    let summary = import_within(&db, &[&maildir], Duration::from_secs(180));
    assert_eq!(summary["messages"], 40);
    assert_eq!(summary["events_new"], 40);
}
