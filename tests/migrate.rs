//! Moving to PostgreSQL (issue 24, item 3): `mailroom migrate --to postgres://…`
//! copies a database made by `import` (events, messages, raw blocks, outbox, digests,
//! dictionaries, consumers, cursors…) into a real PostgreSQL of the test's own, compares
//! every table's row count, resumes after being killed mid-way without copying a row
//! twice, and never shows the password.

mod support;

use std::time::{Duration, Instant};

use support::mailroom::Mailroom;
use support::postgres::{PASSWORD, Postgres};

fn filled() -> Mailroom {
    let mailroom = Mailroom::new(&support::age::any_age(
        "[smtp]\ndir = \"out\"\n[store]\npassword_env = \"MR_PG_PASSWORD\"\n",
    ));
    std::fs::create_dir_all(mailroom.dir().join("out")).unwrap();
    std::fs::write(
        mailroom.dir().join("rules/10.toml"),
        "[[rule]]\nname = \"all\"\nwhen.registrar = [\"opensrs\", \"autodns\", \"gandi\"]\nforward = { to = [\"ops@example.com\"] }\ndigest = \"daily\"\n\n\
         [[digest]]\nname = \"daily\"\nat = \"08:00\"\nto = [\"owner@example.com\"]\n",
    )
    .unwrap();
    let samples = format!("{}/samples", env!("CARGO_MANIFEST_DIR"));
    let out = mailroom.run(&["import", &samples]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = mailroom.run(&["deliver"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    mailroom
}

fn migrate(m: &Mailroom, url: &str, extra: &[&str]) -> std::process::Command {
    let mut args = vec!["migrate", "--to", url];
    args.extend_from_slice(extra);
    let mut c = m.cmd(&args);
    c.env("MR_PG_PASSWORD", PASSWORD).env_remove("PGPASSWORD");
    c
}

#[test]
fn migrate_copies_every_table_verifies_the_counts_and_resumes_after_a_kill() {
    let pg = Postgres::start();
    let m = filled();
    let events = m.events();
    assert!(events > 100, "{events}");

    // Killed mid-way (one row per batch makes the copy long enough to interrupt).
    let mut child = migrate(&m, &pg.url(), &["--batch", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let progress = pg.psql(
            "mailroom",
            "SELECT COUNT(*) FROM pg_tables WHERE tablename = 'mailroom_migration'",
        );
        if progress == "1"
            && pg.count("SELECT COUNT(*) FROM mailroom_migration WHERE tbl = 'events'") == 1
        {
            break;
        }
        assert!(Instant::now() < deadline, "no progress\n{}", pg.log_tail());
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = pg.count("SELECT COUNT(*) FROM events");
    assert!(
        partial < events,
        "the copy finished before it could be interrupted ({partial} of {events})"
    );

    // Run again: it goes on where it stopped and verifies.
    let out = migrate(&m, &pg.url(), &["--json"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{text}{err}");
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["verified"], true, "{report}");
    let tables: Vec<&str> = report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["table"].as_str().unwrap())
        .collect();
    for t in [
        "events",
        "messages",
        "raw_blocks",
        "outbox",
        "cursors",
        "consumers",
        "digest_items",
        "dictionaries",
        "event_sources",
        "message_sources",
    ] {
        assert!(tables.contains(&t), "{t} not copied: {tables:?}");
    }
    assert!(
        !report["resumed"].as_array().unwrap().is_empty(),
        "tables done before the kill were not skipped: {report}"
    );
    // Nothing twice, everything once: the counts and the keys agree.
    assert_eq!(pg.count("SELECT COUNT(*) FROM events"), events);
    assert_eq!(
        pg.count("SELECT COUNT(DISTINCT (registrar, event_id)) FROM events"),
        events
    );
    let outbox = m.count("SELECT COUNT(*) FROM outbox");
    assert_eq!(pg.count("SELECT COUNT(*) FROM outbox"), outbox);
    let messages = m.count("SELECT COUNT(*) FROM messages");
    assert_eq!(pg.count("SELECT COUNT(*) FROM messages"), messages);
    // A payload and a raw message arrive byte for byte.
    let sum_sqlite = m.count("SELECT SUM(length(data)) FROM raw_blocks");
    assert_eq!(
        pg.count("SELECT SUM(length(data)) FROM raw_blocks"),
        sum_sqlite
    );
    let domain: String = rusqlite::Connection::open(m.db())
        .unwrap()
        .query_row(
            "SELECT domain FROM events WHERE domain IS NOT NULL ORDER BY id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        pg.psql(
            "mailroom",
            "SELECT domain FROM events WHERE domain IS NOT NULL ORDER BY id LIMIT 1"
        ),
        domain
    );

    // Once more: everything is already there; nothing is copied twice.
    let out = migrate(&m, &pg.url(), &[]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(pg.count("SELECT COUNT(*) FROM events"), events);
    assert!(String::from_utf8_lossy(&out.stdout).contains("verified"));

    // The copy is a working store: the same events listed, each payload (packed with
    // the SQLite file's dictionary) read back, and new rows numbered after the old.
    let listed = |db: &str| -> Vec<serde_json::Value> {
        let out = m
            .cmd(&["--db", db, "events", "--json", "--limit", "100000"])
            .env("MR_PG_PASSWORD", PASSWORD)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Array(all)) => all,
            _ => text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
        }
    };
    let before = listed(m.db().to_str().unwrap());
    let after = listed(&pg.url());
    assert_eq!(before.len() as i64, events);
    assert_eq!(
        before, after,
        "the events read back differently from PostgreSQL"
    );
    let dead = pg.count("SELECT MAX(id) FROM outbox");
    let out = m
        .cmd(&["--db", &pg.url(), "import", "-"])
        .env("MR_PG_PASSWORD", PASSWORD)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(&support::mailroom::notification(777_001))?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(pg.count("SELECT COUNT(*) FROM events"), events + 1);
    assert!(
        pg.count("SELECT MAX(id) FROM outbox") > dead,
        "new rows numbered after the old"
    );
}

#[test]
fn a_wrong_password_or_no_server_is_said_plainly_and_never_shown() {
    let pg = Postgres::start();
    let m = Mailroom::new("[store]\npassword_env = \"MR_PG_PASSWORD\"\n");
    let out = m.run(&[
        "import",
        &format!("{}/samples/extra", env!("CARGO_MANIFEST_DIR")),
    ]);
    assert!(out.status.success());
    let mut c = m.cmd(&["migrate", "--to", &pg.url()]);
    c.env("MR_PG_PASSWORD", "not-the-pass-word");
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(
        err.contains("[store] password_env"),
        "where the password comes from: {err}"
    );
    assert!(!err.contains("not-the-pass-word"), "{err}");
    // A URL carrying a password: refused to be shown.
    let port = support::free_port();
    let url = format!("postgres://mailroom:s3cret-in-url@127.0.0.1:{port}/mailroom");
    let plain = Mailroom::new("");
    let out = plain.run(&[
        "import",
        &format!("{}/samples/extra", env!("CARGO_MANIFEST_DIR")),
    ]);
    assert!(out.status.success());
    let out = plain
        .cmd(&["migrate", "--to", &url])
        .env_remove("PGPASSWORD")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(!err.contains("s3cret-in-url"), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    // No server there: nothing said of passwords.
    assert!(!err.contains("password_env"), "{err}");
    // db = postgres://… whose password cannot be read: refused at load, with its line.
    let m2 = Mailroom::new("");
    std::fs::write(
        m2.dir().join("mailroom.toml"),
        format!("db = \"postgres://mailroom@127.0.0.1:{port}/mailroom\"\n[store]\npassword_env = \"MR_UNSET_PG_PASSWORD\"\n"),
    )
    .unwrap();
    let out = m2
        .cmd(&["events"])
        .env_remove("MR_UNSET_PG_PASSWORD")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("mailroom.toml:3:1: [store] password_env: environment variable MR_UNSET_PG_PASSWORD is not set"),
        "{err}"
    );
    // …and a server that is not there is named, with what to check.
    let out = m2
        .cmd(&["events"])
        .env("MR_UNSET_PG_PASSWORD", "x")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!(
            "connecting to postgres://mailroom@127.0.0.1:{port}/mailroom"
        )),
        "{err}"
    );
    assert!(!err.contains("Error {") && !err.contains("kind:"), "{err}");
}

/// A database made by the release before PostgreSQL came (commit ac247ed, SQLite
/// schema 13; see tests/data/release-before-24/README.md) moves over whole: what that
/// release stored reads back the same from PostgreSQL.
#[test]
fn a_database_made_by_the_release_before_postgresql_moves_over_whole() {
    let pg = Postgres::start();
    let m = Mailroom::new("[store]\npassword_env = \"MR_PG_PASSWORD\"\n");
    std::fs::copy(
        format!(
            "{}/tests/data/release-before-24/mailroom.db",
            env!("CARGO_MANIFEST_DIR")
        ),
        m.dir().join("m.db"),
    )
    .unwrap();
    let read = |db: Option<&str>, args: &[&str]| -> serde_json::Value {
        let mut all = Vec::new();
        if let Some(url) = db {
            all.extend(["--db", url]);
        }
        all.extend_from_slice(args);
        let out = m
            .cmd(&all)
            .env("MR_PG_PASSWORD", PASSWORD)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{all:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let listings: [&[&str]; 3] = [
        &["events", "--json", "--limit", "1000"],
        &["outbox", "--all", "--json"],
        &["quarantine", "--json"],
    ];
    let before: Vec<serde_json::Value> = listings.iter().map(|a| read(None, a)).collect();
    // What that release stored (its own counts, in the README).
    assert_eq!(before[0].as_array().unwrap().len(), 192);
    assert_eq!(before[1].as_array().unwrap().len(), 184);
    assert_eq!(before[2].as_array().unwrap().len(), 8);

    let out = migrate(&m, &pg.url(), &["--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verified"], true, "{report}");

    let url = pg.url();
    for (args, was) in listings.iter().zip(&before) {
        assert_eq!(
            &read(Some(&url), args),
            was,
            "{args:?} differs after the move"
        );
    }
    assert_eq!(pg.count("SELECT COUNT(*) FROM messages"), 207);
    assert_eq!(pg.count("SELECT COUNT(*) FROM digest_items"), 192);
    assert_eq!(pg.count("SELECT COUNT(*) FROM message_sources"), 260);
    assert_eq!(pg.count("SELECT COUNT(*) FROM event_sources"), 264);
    assert_eq!(pg.count("SELECT COUNT(*) FROM cursors"), 1);
}
