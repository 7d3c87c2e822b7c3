//! The command line as people and scripts meet it, through the real binary on real
//! SQLite files: read-only commands create nothing, databases are private, listings are
//! readable and filterable, digests speak their time zone, every option is explained,
//! and the service conventions (config search, -v/-q, completions, man page) hold.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[path = "support/age.rs"]
mod age;
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn sample(name: &str) -> String {
    root().join("samples").join(name).display().to_string()
}

/// A scratch place to run mailroom in: its own working directory, config home and
/// home, no settings leaking in from the caller's environment, UTC unless told.
struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let env = Env {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(env.path("work")).unwrap();
        env
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn write(&self, p: &str, text: &str) -> PathBuf {
        let path = self.path(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mailroom"));
        c.current_dir(self.path("work"))
            .env_remove("MAILROOM_NOW")
            .env_remove("MAILROOM_CONFIG")
            .env_remove("RUST_LOG")
            .env("XDG_CONFIG_HOME", self.path("xdg"))
            .env("HOME", self.path("home"))
            .env("TZ", "UTC");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "mailroom {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

const DIGEST_RULES: &str = r#"
[[rule]]
name = "all"
digest = "daily"

[[digest]]
name = "daily"
at = "08:00"
timezone = "Europe/Berlin"
to = ["owner@example.com"]
"#;

// ---------------------------------------------------------------------------------
// Item: read-only commands create nothing; the database is private.
// ---------------------------------------------------------------------------------

#[test]
fn read_only_commands_on_a_missing_database_create_nothing() {
    let env = Env::new();
    env.write("work/rules/90-digest.toml", DIGEST_RULES);
    std::fs::create_dir_all(env.path("state")).unwrap();
    for db in ["state/m.db", "state/sub/dir/m.db"] {
        let db = env.path(db);
        let db_s = db.to_str().unwrap();
        for args in [
            vec!["events"],
            vec!["events", "--json"],
            vec!["events", "--count"],
            vec!["events", "show", "1"],
            vec!["status"],
            vec!["status", "--json"],
            vec!["outbox"],
            vec!["outbox", "retry", "--all"],
            vec!["quarantine"],
            vec!["digest", "daily"],
            vec!["digest", "daily", "--preview"],
            vec!["topics"],
            vec!["topics", "--json"],
        ] {
            let mut full = vec!["--db", db_s];
            full.extend(&args);
            let out = env.run(&full);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
            assert_eq!(
                stderr(&out),
                format!(
                    "mailroom: no database at {db_s} (run mailroom import or watch first, or pass --db)\n"
                ),
                "{args:?}"
            );
            assert!(out.stdout.is_empty(), "{args:?}");
            assert!(
                listing(&env.path("state")).is_empty(),
                "{args:?} created a file"
            );
        }
    }
    // The default database (mailroom.db in the working directory) likewise.
    let out = env.run(&["events"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no database at mailroom.db"),
        "{}",
        stderr(&out)
    );
    assert_eq!(listing(&env.path("work")), ["rules"]);
}

#[test]
fn a_new_database_and_its_wal_are_private() {
    let env = Env::new();
    let db = env.path("state/m.db");
    let db_s = db.to_str().unwrap();
    env.ok(&[
        "--db",
        db_s,
        "import",
        &sample("opensrs-domain-created.eml"),
    ]);
    assert_eq!(mode(&db), 0o600);
    // A reader holding the database open keeps the WAL files in place while mailroom
    // writes to them.
    let reader = rusqlite::Connection::open(&db).unwrap();
    let _: i64 = reader
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .unwrap();
    env.ok(&[
        "--db",
        db_s,
        "import",
        &sample("opensrs-domain-expired-base64.eml"),
    ]);
    for f in ["m.db", "m.db-wal", "m.db-shm"] {
        let p = env.path("state").join(f);
        assert!(p.exists(), "{f} missing: {:?}", listing(&env.path("state")));
        assert_eq!(mode(&p), 0o600, "{f}");
    }
    drop(reader);
    // And the read-only commands open what exists.
    let n = env.json(&["--db", db_s, "events", "--count", "--json"]);
    assert_eq!(n["count"], 2);
    // topics counts what the database holds per notification type.
    let topics = env.json(&["--db", db_s, "topics", "--json", "--registrar", "opensrs"]);
    let stored = |name: &str| {
        topics
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()["stored"]
            .clone()
    };
    assert_eq!(stored("DOMAIN CREATED"), 1);
    assert_eq!(stored("DOMAIN EXPIRED"), 1);
    assert_eq!(stored("DOMAIN DELETED"), 0);
}

#[test]
fn a_file_that_is_not_a_database_is_named_in_one_line() {
    let env = Env::new();
    let notes = env.write(
        "notes.txt",
        &"these are my notes, not a database\n".repeat(200),
    );
    let before = std::fs::read(&notes).unwrap();
    let n = notes.to_str().unwrap();
    for args in [
        vec!["events"],
        vec!["status"],
        vec!["import", &sample("opensrs-domain-created.eml")],
    ] {
        let mut full = vec!["--db", n];
        full.extend(&args);
        let out = env.run(&full);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(
            stderr(&out),
            format!("mailroom: {n} is not a mailroom database (file is not a database)\n"),
            "{args:?}"
        );
    }
    assert_eq!(std::fs::read(&notes).unwrap(), before);
    // An empty file is no mailroom database either, and stays empty.
    let empty = env.write("empty.db", "");
    let out = env.run(&["--db", empty.to_str().unwrap(), "events"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not a mailroom database"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0);
}

// ---------------------------------------------------------------------------------
// Item: listings people read.
// ---------------------------------------------------------------------------------

fn imported() -> (Env, String) {
    let env = Env::new();
    let db = env.path("m.db").display().to_string();
    env.ok(&[
        "--db",
        &db,
        "import",
        root().join("samples").to_str().unwrap(),
    ]);
    (env, db)
}

/// The character column where each header word starts.
fn columns(header: &str) -> Vec<usize> {
    let chars: Vec<char> = header.chars().collect();
    (0..chars.len())
        .filter(|&i| chars[i] != ' ' && (i == 0 || chars[i - 1] == ' '))
        .collect()
}

#[test]
fn events_lists_newest_first_under_a_header_in_aligned_columns() {
    let (env, db) = imported();
    let text = env.ok(&["--db", &db, "events"]);
    let lines: Vec<&str> = text.lines().collect();
    let header = lines[0];
    let words: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(
        words,
        [
            "id",
            "time",
            "registrar",
            "topic",
            "type",
            "domain",
            "status",
            "seen"
        ]
    );
    let cols = columns(header);
    let all = env.json(&["--db", &db, "events", "--json"]);
    let all = all.as_array().unwrap();
    assert_eq!(lines.len(), all.len() + 1);
    for (line, e) in lines[1..].iter().zip(all) {
        let chars: Vec<char> = line.chars().collect();
        // Every column starts where its header does (registrar, topic, type).
        for (c, key) in [(2, "registrar"), (3, "topic"), (4, "type")] {
            let at: String = chars[cols[c]..].iter().take_while(|c| **c != ' ').collect();
            assert_eq!(at, e[key].as_str().unwrap(), "{line}");
            assert_eq!(chars[cols[c] - 1], ' ', "{line}");
        }
    }
    // Newest first, in JSON too: --limit keeps the latest.
    let when = |e: &Value| {
        e["occurred_at"]
            .as_str()
            .unwrap_or_else(|| e["first_seen"].as_str().unwrap())
            .to_string()
    };
    let times: Vec<String> = all.iter().map(when).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted);
    let latest = env.json(&["--db", &db, "events", "--json", "--limit", "3"]);
    assert_eq!(latest.as_array().unwrap()[..], all[..3]);
    let text = env.ok(&["--db", &db, "events", "--limit", "3"]);
    assert_eq!(text.lines().count(), 4);
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .starts_with(&all[0]["id"].to_string())
    );
}

#[test]
fn events_filters_status_domain_suffix_and_idn_spellings() {
    let (env, db) = imported();
    let all = env.json(&["--db", &db, "events", "--json"]);
    let all = all.as_array().unwrap();
    let ids = |args: &[&str]| -> Vec<i64> {
        let mut a = vec!["--db", db.as_str(), "events", "--json"];
        a.extend_from_slice(args);
        env.json(&a)
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_i64().unwrap())
            .collect()
    };
    let expect = |f: &dyn Fn(&Value) -> bool| -> Vec<i64> {
        all.iter()
            .filter(|e| f(e))
            .map(|e| e["id"].as_i64().unwrap())
            .collect()
    };
    let pending = expect(&|e| e["status"] == "pending");
    assert!(pending.len() >= 3);
    assert_eq!(ids(&["--status", "pending"]), pending);
    assert_eq!(ids(&["--status", "PENDING"]), pending);
    let de = expect(&|e| e["domain"].as_str().is_some_and(|d| d.ends_with(".de")));
    assert!(de.len() >= 5, "{de:?}");
    assert_eq!(ids(&["--domain", ".de"]), de);
    assert_eq!(ids(&["--domain", ".DE"]), de);
    // A suffix starts with a dot: "ample.de" is no name and no suffix.
    assert!(ids(&["--domain", "ample.de"]).is_empty());
    let idn = expect(&|e| e["domain"] == "bücher-beispiel.de");
    assert!(!idn.is_empty());
    assert_eq!(ids(&["--domain", "bücher-beispiel.de"]), idn);
    assert_eq!(ids(&["--domain", "xn--bcher-beispiel-gsb.de"]), idn);
    assert_eq!(ids(&["--domain", "BÜCHER-beispiel.de"]), idn);
    assert_eq!(
        ids(&["--domain", ".de", "--status", "error"]),
        expect(
            &|e| e["status"] == "error" && e["domain"].as_str().is_some_and(|d| d.ends_with(".de"))
        )
    );
    // The table shows the same events.
    let text = env.ok(&[
        "--db",
        &db,
        "events",
        "--domain",
        "xn--bcher-beispiel-gsb.de",
    ]);
    assert_eq!(text.lines().count(), idn.len() + 1, "{text}");
    assert!(text.contains("bücher-beispiel.de"));
}

#[test]
fn events_since_and_until_take_ages_dates_and_local_times() {
    let (env, db) = imported();
    let ids = |tz: &str, now: Option<&str>, args: &[&str]| -> Vec<String> {
        let mut c = env.cmd();
        c.env("TZ", tz)
            .args(["--db", &db, "events", "--json"])
            .args(args);
        if let Some(now) = now {
            c.env("MAILROOM_NOW", now);
        }
        let out = c.output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_id"].as_str().unwrap().to_string())
            .collect()
    };
    // OpenSRS events at 2026-11-11T15:02:44Z, 2026-11-12T10:00:01Z and 10:00:03Z.
    let in_berlin = ids("Europe/Berlin", None, &["--since", "2026-11-12 11:00"]);
    let in_utc = ids("UTC", None, &["--since", "2026-11-12 10:00"]);
    assert_eq!(in_berlin, in_utc);
    assert_eq!(
        ids("Europe/Berlin", None, &["--since", "2026-11-12T11:00"]),
        in_berlin
    );
    assert_eq!(
        ids("UTC", None, &["--since", "2026-11-12T10:00:00Z"]),
        in_berlin
    );
    let later = ids("UTC", None, &["--since", "2026-11-12 10:01"]);
    assert_eq!(in_berlin.len(), later.len() + 2, "{in_berlin:?} {later:?}");
    // A date is local midnight.
    assert_eq!(
        ids("Europe/Berlin", None, &["--since", "2026-11-12"]),
        ids("UTC", None, &["--since", "2026-11-11T23:00:00Z"])
    );
    // Ages count back from now (the one clock): 1w = 7d = 168h.
    let now = Some("2026-11-15T00:00:00Z");
    let week = ids("UTC", now, &["--since", "1w"]);
    assert_eq!(week, ids("UTC", now, &["--since", "7d"]));
    assert_eq!(week, ids("UTC", now, &["--since", "168h"]));
    assert_eq!(week, ids("UTC", None, &["--since", "2026-11-08"]));
    assert!(!week.is_empty());
    let until = ids("Europe/Berlin", None, &["--until", "2026-11-12 11:00"]);
    let all = ids("UTC", None, &[]);
    assert_eq!(until.len() + in_berlin.len(), all.len());
    let out = env.run(&["--db", &db, "events", "--since", "last tuesday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is not a date"), "{}", stderr(&out));
}

#[test]
fn an_empty_listing_says_so() {
    let (env, db) = imported();
    for args in [
        vec!["events", "--registrar", "nosuch"],
        vec!["events", "--stats", "--domain", ".invalid"],
    ] {
        let mut full = vec!["--db", db.as_str()];
        full.extend(&args);
        let out = env.run(&full);
        assert_eq!(out.status.code(), Some(0));
        assert!(out.stdout.is_empty());
        assert_eq!(stderr(&out), "no events match\n");
    }
    let out = env.json(&["--db", &db, "events", "--json", "--domain", ".invalid"]);
    assert_eq!(out, serde_json::json!([]));
}

#[test]
fn terminal_output_escapes_control_characters() {
    let env = Env::new();
    let db = env.path("m.db").display().to_string();
    let mail = env.write(
        "evil.eml",
        "From: notifications@opensrs.net\r\nTo: ops@example.com\r\n\
         Subject: Event notification: DOMAIN: CREATED: e\x1b]0;pwned\x07\r\n\r\n\
         {\"object_data\":{\"domain_name\":\"evil\\u001b[2J.example\",\"domain_id\":\"1\"},\
         \"object\":\"DOMAIN\",\"event_id\":\"ev\\u001b[31m1\",\"event\":\"CREATED\",\
         \"event_date\":\"2026-09-09T21:16:22Z\"}\r\n",
    );
    env.ok(&["--db", &db, "import", mail.to_str().unwrap()]);
    let stored = env.json(&["--db", &db, "events", "--json"]);
    assert!(
        stored[0]["domain"].as_str().unwrap().contains('\x1b'),
        "the test needs a control character in the stored event: {stored}"
    );
    for args in [vec!["events"], vec!["events", "show", "1"]] {
        let mut full = vec!["--db", db.as_str()];
        full.extend(&args);
        let text = env.ok(&full);
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{args:?} printed a control character: {text:?}"
        );
        assert!(text.contains("evil\\u{1b}[2j.example"), "{text}");
    }
}

// ---------------------------------------------------------------------------------
// Item: the digest speaks its time zone, in time order, and sends nothing empty.
// ---------------------------------------------------------------------------------

fn digest_env(send_empty: bool) -> Env {
    let env = Env::new();
    let rules = if send_empty {
        format!("{DIGEST_RULES}send_empty = true\n")
    } else {
        DIGEST_RULES.to_string()
    };
    env.write("work/rules/90-digest.toml", &rules);
    env.write(
        "work/mailroom.toml",
        &age::any_age("db = \"m.db\"\n[smtp]\ndir = \"out\"\n"),
    );
    std::fs::create_dir_all(env.path("work/out")).unwrap();
    env
}

fn at(env: &Env, now: &str, args: &[&str]) -> Output {
    env.cmd()
        .env("MAILROOM_NOW", now)
        .args(args)
        .output()
        .unwrap()
}

fn sent(env: &Env) -> Vec<String> {
    let mut out: Vec<String> = listing(&env.path("work/out"))
        .iter()
        .map(|f| std::fs::read_to_string(env.path("work/out").join(f)).unwrap())
        .collect();
    out.sort();
    out
}

#[test]
fn a_digest_names_its_period_in_its_time_zone_and_lists_events_in_time_order() {
    let env = digest_env(false);
    // Imported in an order that is not the order they happened in.
    let samples = [
        "opensrs-transfer-status-change.eml", // 2026-11-13T21:16:23Z
        "opensrs-domain-created.eml",         // 2026-11-03T14:22:07Z
        "opensrs-order-status-change.eml",    // 2026-11-11T15:02:44Z
        "opensrs-domain-expired-base64.eml",  // 2026-11-05T04:00:12Z
    ];
    for s in samples {
        let out = at(&env, "2026-11-20T06:00:00Z", &["import", &sample(s)]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = at(
        &env,
        "2026-11-20T06:30:00Z",
        &["digest", "daily", "--preview"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // The period ends now, 06:30 UTC, which is 07:30 in Berlin.
    assert!(text.contains("until 2026-11-20 07:30 CET"), "{text}");
    let order: Vec<usize> = ["example.com", "example.net", "example.io", "example.eu"]
        .iter()
        .map(|d| {
            text.find(&format!("  {d}  "))
                .unwrap_or_else(|| panic!("{d}: {text}"))
        })
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}\n{text}");
    // Event times in the digest's zone too: 14:22:07Z is 15:22 in Berlin.
    assert!(text.contains("2026-11-03 15:22  example.com"), "{text}");

    // The scheduled send at 08:00 Berlin (07:00 UTC) names its period the same way.
    let out = at(&env, "2026-11-20T07:00:30Z", &["deliver"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mails = sent(&env);
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].contains("until 2026-11-20 08:00 CET"),
        "{}",
        mails[0]
    );
    let out = at(
        &env,
        "2026-11-20T07:10:00Z",
        &["digest", "daily", "--period", "last"],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("until 2026-11-20 08:00 CET"), "{text}");
    assert!(text.contains("(Europe/Berlin)"), "{text}");
}

#[test]
fn an_empty_digest_is_not_sent_unless_send_empty() {
    let env = digest_env(false);
    // Scheduled: the period ends with nothing in it.
    let out = at(&env, "2026-11-20T07:00:30Z", &["deliver"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Now: nothing collected, nothing sent.
    let out = at(&env, "2026-11-20T09:00:00Z", &["digest", "daily", "--send"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("nothing sent"), "{}", stderr(&out));
    assert!(sent(&env).is_empty());
    // With an event, --send sends it.
    let out = at(
        &env,
        "2026-11-20T09:10:00Z",
        &["import", &sample("opensrs-domain-created.eml")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = at(&env, "2026-11-20T09:20:00Z", &["digest", "daily", "--send"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(sent(&env).len(), 1);

    let env = digest_env(true);
    let out = at(&env, "2026-11-20T09:00:00Z", &["digest", "daily", "--send"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(sent(&env).len(), 1);
    assert!(sent(&env)[0].contains("0 events"), "{}", sent(&env)[0]);
    let out = at(&env, "2026-11-21T07:00:30Z", &["deliver"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mails = sent(&env);
    assert_eq!(mails.len(), 2);
    // The period from the last send (09:00 UTC) to 08:00 Berlin, both in Berlin time.
    assert!(
        mails
            .iter()
            .any(|m| m.contains("from 2026-11-20 10:00 CET until 2026-11-21 08:00 CET")),
        "{mails:?}"
    );
}

// ---------------------------------------------------------------------------------
// Item: every option explained; service conventions.
// ---------------------------------------------------------------------------------

#[test]
fn every_command_and_option_has_help() {
    use clap::CommandFactory;
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            if arg
                .get_help()
                .is_none_or(|h| h.to_string().trim().is_empty())
            {
                missing.push(format!("{path} {id}"));
            }
        }
        for sub in cmd.get_subcommands() {
            if sub.get_name() == "help" {
                continue;
            }
            if sub.get_about().is_none() {
                missing.push(format!("{path} {} (command)", sub.get_name()));
            }
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }
    let mut missing = Vec::new();
    walk(&mailroom::cli::Cli::command(), "mailroom", &mut missing);
    assert!(missing.is_empty(), "no help line: {missing:?}");

    // And as a person sees it: every option line of --help says something.
    let env = Env::new();
    for verb in [
        vec!["events"],
        vec!["events", "show"],
        vec!["outbox"],
        vec!["outbox", "retry"],
        vec!["rules", "test"],
        vec!["status"],
        vec!["quarantine"],
        vec!["digest"],
        vec!["import"],
        vec!["watch"],
    ] {
        let mut args = verb.clone();
        args.push("--help");
        let text = env.ok(&args);
        for line in text.lines() {
            let t = line.trim_start();
            if t.starts_with("--") || (t.starts_with('-') && t.chars().nth(2) == Some(',')) {
                let words = t.split_whitespace().count();
                assert!(words > 2, "{verb:?}: option without help: {line:?}\n{text}");
            }
        }
        if verb != ["outbox", "retry"] && verb != ["digest"] {
            assert!(text.contains("--json"), "{verb:?}\n{text}");
        }
    }
}

#[test]
fn config_is_found_where_services_look() {
    let env = Env::new();
    let which = |env: &Env, cmd: &mut Command| -> String {
        let out = cmd.args(["events"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        let _ = env;
        stderr(&out)
    };
    // No config anywhere: defaults (mailroom.db here).
    assert!(which(&env, &mut env.cmd()).contains("no database at mailroom.db "));
    // $XDG_CONFIG_HOME/mailroom/mailroom.toml
    env.write("xdg/mailroom/mailroom.toml", "db = \"from-xdg.db\"\n");
    let xdg = which(&env, &mut env.cmd());
    assert!(xdg.contains("xdg/mailroom/from-xdg.db"), "{xdg}");
    // ~/.config/… when XDG_CONFIG_HOME is unset.
    env.write(
        "home/.config/mailroom/mailroom.toml",
        "db = \"from-home.db\"\n",
    );
    let mut c = env.cmd();
    c.env_remove("XDG_CONFIG_HOME");
    let home = which(&env, &mut c);
    assert!(
        home.contains("home/.config/mailroom/from-home.db"),
        "{home}"
    );
    // ./mailroom.toml before those.
    env.write("work/mailroom.toml", "db = \"from-cwd.db\"\n");
    let cwd = which(&env, &mut env.cmd());
    assert!(cwd.contains("no database at from-cwd.db"), "{cwd}");
    // $MAILROOM_CONFIG before that.
    let named = env.write("elsewhere/m.toml", "db = \"from-env.db\"\n");
    let mut c = env.cmd();
    c.env("MAILROOM_CONFIG", &named);
    let by_env = which(&env, &mut c);
    assert!(by_env.contains("elsewhere/from-env.db"), "{by_env}");
    // --config before everything.
    let flag = env.write("flag/m.toml", "db = \"from-flag.db\"\n");
    let mut c = env.cmd();
    c.env("MAILROOM_CONFIG", &named).arg("--config").arg(&flag);
    let by_flag = which(&env, &mut c);
    assert!(by_flag.contains("flag/from-flag.db"), "{by_flag}");
    // A file named explicitly must exist.
    let mut c = env.cmd();
    c.env("MAILROOM_CONFIG", env.path("nope.toml"));
    let out = c.arg("status").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nope.toml"), "{}", stderr(&out));
}

#[test]
fn verbose_and_quiet_set_the_log_level_unless_rust_log_does() {
    let env = Env::new();
    std::fs::create_dir_all(env.path("mail")).unwrap();
    std::fs::copy(
        sample("opensrs-domain-created.eml"),
        env.path("mail/one.eml"),
    )
    .unwrap();
    env.write(
        "work/mailroom.toml",
        &format!(
            "[[maildir]]\nname = \"local\"\npath = \"{}\"\n",
            env.path("mail").display()
        ),
    );
    std::fs::create_dir_all(env.path("work/rules")).unwrap();
    // A rule, so the "no rule" warning does not show up among the levels.
    std::fs::write(
        env.path("work/rules/10.toml"),
        "[[rule]]\nname = \"quiet\"\nwhen.kind = \"test\"\nstop = true\n",
    )
    .unwrap();
    let mut run = 0;
    let mut levels = |flags: &[&str], rust_log: Option<&str>| -> Vec<&'static str> {
        run += 1;
        let db = env.path(&format!("m{run}.db"));
        let mut c = env.cmd();
        if let Some(l) = rust_log {
            c.env("RUST_LOG", l);
        }
        let out = c
            .args(flags)
            .arg("--db")
            .arg(&db)
            .args(["watch", "--once"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        // Each run starts a new database, which is worth a warning (a wrong path would
        // otherwise start over silently); the levels are judged on the other lines.
        let text = stderr(&out);
        if !flags.iter().any(|f| f.starts_with("-q")) && rust_log.is_none() {
            assert!(
                text.lines()
                    .any(|l| l.contains(" WARN ") && l.contains("creating a new one")),
                "{text}"
            );
        }
        let text: String = text
            .lines()
            .filter(|l| !l.contains("creating a new one"))
            .map(|l| format!("{l}\n"))
            .collect();
        ["TRACE", "DEBUG", "INFO", "WARN"]
            .into_iter()
            .filter(|l| text.contains(&format!(" {l} ")))
            .collect()
    };
    assert_eq!(levels(&[], None), ["INFO"]);
    assert!(levels(&["-v"], None).contains(&"DEBUG"));
    assert!(levels(&["-vv"], None).contains(&"DEBUG"));
    assert!(levels(&["-q"], None).is_empty());
    assert!(levels(&["-qq"], None).is_empty());
    assert!(levels(&["-vv"], Some("error")).is_empty(), "RUST_LOG wins");
    assert_eq!(levels(&["-q"], Some("info")), ["INFO"], "RUST_LOG wins");
    let out = env.run(&["-v", "-q", "status"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    let env = Env::new();
    let bash = env.ok(&["completions", "bash"]);
    assert!(
        bash.contains("_mailroom()") && bash.contains("--since"),
        "{bash}"
    );
    let zsh = env.ok(&["completions", "zsh"]);
    assert!(zsh.contains("#compdef mailroom"));
    let man = env.ok(&["man"]);
    assert!(man.contains(".TH mailroom 1"), "{man}");
    assert!(man.contains("quarantine"));
    for section in ["FILES", "ENVIRONMENT", "EXIT STATUS"] {
        assert!(
            man.contains(&format!(".SH \"{section}\"")) || man.contains(&format!(".SH {section}")),
            "{section}: {man}"
        );
    }
    assert!(man.contains("MAILROOM_CONFIG") && man.contains("/etc/mailroom/mailroom.toml"));
    env.ok(&["man", "--dir", env.path("man").to_str().unwrap()]);
    let pages = listing(&env.path("man"));
    assert!(pages.contains(&"mailroom.1".to_string()), "{pages:?}");
    assert!(
        pages.contains(&"mailroom-events.1".to_string()),
        "{pages:?}"
    );
    // Neither needs a config or touches a database.
    assert!(!env.path("work/mailroom.db").exists());
    let out = env.run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}
