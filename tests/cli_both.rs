//! The command line on both stores (issue 24, item 1): the same commands run against an
//! SQLite file and a real PostgreSQL of the test's own must say the same. Row ids and
//! the moments things happened are left out of the comparison (PostgreSQL's set-based
//! import may number the rows of a batch in another order); everything else — every
//! event with its payload, counts, places and conflicts, the quarantine, the outbox,
//! the summaries of import, reparse, rules apply and deliver, and the mail `deliver`
//! writes — must be equal.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::postgres::{PASSWORD, Postgres};

struct Side {
    dir: PathBuf,
}

impl Side {
    fn new(root: &Path, name: &str, db: &str) -> Side {
        let dir = root.join(name);
        std::fs::create_dir_all(dir.join("rules")).unwrap();
        let config = format!(
            "db = \"{db}\"\n[store]\npassword_env = \"MR_PG_PASSWORD\"\n\
             [smtp]\ndir = \"out\"\nfrom = \"mailroom@example.com\"\n"
        );
        std::fs::write(dir.join("mailroom.toml"), support::age::any_age(&config)).unwrap();
        std::fs::write(
            dir.join("rules/10.toml"),
            "[[rule]]\nname = \"transfers\"\nwhen.topic = \"/^transfer\\\\./\"\n\
             forward = { to = \"ops@example.com\" }\ndigest = \"daily\"\n\n\
             [[digest]]\nname = \"daily\"\nat = \"08:00\"\nto = \"owner@example.com\"\n",
        )
        .unwrap();
        Side { dir }
    }

    fn run(&self, args: &[&str]) -> Value {
        let out = Command::new(env!("CARGO_BIN_EXE_mailroom"))
            .arg("--config")
            .arg(self.dir.join("mailroom.toml"))
            .args(args)
            .current_dir(&self.dir)
            .env("MR_PG_PASSWORD", PASSWORD)
            .env("MAILROOM_NOW", "2026-12-01T09:00:00Z")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "{args:?} in {}: {}\n{text}",
            self.dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!(
                "{args:?}: not JSON ({e}): {text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    /// The mail `deliver` wrote, without its Date and Message-ID (moments and ids).
    fn written(&self) -> Vec<String> {
        let mut all = Vec::new();
        for e in walk(&self.dir.join("out")) {
            let text = std::fs::read_to_string(&e).unwrap_or_default();
            let kept: Vec<&str> = text
                .lines()
                .filter(|l| {
                    let l = l.to_ascii_lowercase();
                    !(l.starts_with("date:")
                        || l.starts_with("message-id:")
                        || l.starts_with("x-mailroom-")
                        || l.contains("boundary")
                        || l.starts_with("--"))
                })
                .collect();
            all.push(kept.join("\n"));
        }
        all.sort();
        all
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// `v` without row ids and moments, arrays in a stable order.
fn comparable(v: Value) -> Value {
    const LEFT_OUT: [&str; 14] = [
        "id",
        "message",
        "event",
        "first_seen",
        "last_seen",
        "seen_at",
        "created",
        "updated",
        "next_attempt",
        "window_start",
        "done_at",
        "db",
        "elapsed_ms",
        "cursor",
    ];
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| !LEFT_OUT.contains(&k.as_str()))
                .map(|(k, v)| (k, comparable(v)))
                .collect(),
        ),
        Value::Array(a) => {
            let mut a: Vec<Value> = a.into_iter().map(comparable).collect();
            a.sort_by_key(|v| v.to_string());
            Value::Array(a)
        }
        other => other,
    }
}

#[test]
fn every_command_says_the_same_on_sqlite_and_postgresql() {
    let pg = Postgres::start();
    let root = tempfile::tempdir().unwrap();
    let lite = Side::new(root.path(), "lite", "m.db");
    let shared = Side::new(root.path(), "pg", &pg.database("cli"));
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples");
    let extra = samples.join("extra");
    let (samples, extra) = (samples.display().to_string(), extra.display().to_string());
    let steps: Vec<Vec<&str>> = vec![
        vec!["import", "--json", &samples],
        vec!["import", "--json", &samples, &extra],
        vec!["events", "--json"],
        vec!["events", "--json", "--topic", "transfer"],
        vec!["events", "--json", "--domain", ".de"],
        vec!["events", "--json", "--search", "example"],
        vec!["events", "--count", "--json"],
        vec!["events", "--stats", "--json"],
        vec!["quarantine", "--json"],
        vec!["outbox", "--json"],
        vec!["reparse", "--json"],
        vec!["rules", "apply", "--since", "2000-01-01", "--json"],
        vec!["outbox", "--json"],
        vec!["deliver", "--json"],
        vec!["outbox", "--json", "--all"],
        vec!["events", "--json"],
    ];
    for step in &steps {
        let a = comparable(lite.run(step));
        let b = comparable(shared.run(step));
        assert!(
            a != Value::Array(Vec::new()) || step[0] == "quarantine",
            "{step:?} printed nothing on SQLite"
        );
        assert_eq!(a, b, "{step:?} differs between SQLite and PostgreSQL");
    }
    let (a, b) = (lite.written(), shared.written());
    assert!(!a.is_empty(), "deliver wrote no mail");
    assert_eq!(a, b, "the mail deliver wrote differs");
}
