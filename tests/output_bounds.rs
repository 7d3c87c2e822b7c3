//! What mailroom sends stays bounded and well formed whatever the payload (issue 9):
//! one mail per message and recipients however many events it holds, a cap on events
//! per message, a cap on the size of a mail, and hostile header values folded and
//! encoded at a real SMTP sink.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;
use support::{SmtpOptions, SmtpSink};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new(config: &str, rules: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("mailroom.toml"),
            support::age::any_age(config),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("rules")).unwrap();
        std::fs::write(dir.path().join("rules/10.toml"), rules).unwrap();
        Env { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_mailroom"))
            .arg("--config")
            .arg(self.path("mailroom.toml"))
            .args(args)
            .env_remove("MAILROOM_NOW")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn import(&self, name: &str, email: &[u8]) -> Value {
        let p = self.path(name);
        std::fs::write(&p, email).unwrap();
        let out = self.ok(&["import", "--json", p.to_str().unwrap()]);
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The mails the file transport wrote.
    fn sent_files(&self) -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(self.path("out")) else {
            return Vec::new();
        };
        dir.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect()
    }
}

const FORWARD_ALL: &str = r#"
[[rule]]
name = "everything"
forward = { to = ["ops@example.com"] }
"#;

fn files_config(extra: &str) -> String {
    format!("db = \"m.db\"\n{extra}\n[smtp]\ndir = \"out\"\n")
}

/// One email holding `n` OpenSRS events (a JSON array), padded to about `pad` bytes.
fn many_events(n: usize, pad: usize) -> Vec<u8> {
    let events: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "{{\"object_data\":{{\"domain_name\":\"d{i}.example\"}},\"object\":\"DOMAIN\",\
                 \"event_id\":\"fan-{i}\",\"event\":\"CREATED\",\"event_date\":\"2026-09-09T21:16:22Z\"}}"
            )
        })
        .collect();
    format!(
        "From: notifications@opensrs.net\r\nTo: ops@example.com\r\nSubject: events\r\n\
         Message-ID: <fan-{n}@opensrs.net>\r\n\r\n[{}]\r\n\r\n{}\r\n",
        events.join(",\r\n"),
        "x".repeat(pad)
    )
    .into_bytes()
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[test]
fn regression_many_events_in_one_message_make_one_mail_with_the_original_once() {
    let env = Env::new(&files_config(""), FORWARD_ALL);
    let summary = env.import("many.eml", &many_events(300, 100_000));
    assert_eq!(summary["events_new"], 300);
    let items = env.run(&["outbox", "--all", "--json"]);
    let items: Value = serde_json::from_slice(&items.stdout).unwrap();
    assert_eq!(items.as_array().unwrap().len(), 1, "{items}");
    // The attached events.json is a JSON array of the events it holds.
    let db = rusqlite::Connection::open(env.path("m.db")).unwrap();
    let (json, in_json): (String, i64) = db
        .query_row(
            "SELECT json_extract(payload, '$.payload_json'), json_extract(payload, '$.events_in_json')
             FROM outbox",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let events: Vec<Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(events.len() as i64, in_json);
    assert!(in_json > 1);
    assert_eq!(events[0]["event_id"], "fan-0");
    drop(db);
    env.ok(&["deliver"]);
    let sent = env.sent_files();
    assert_eq!(sent.len(), 1);
    let mail = &sent[0];
    assert_eq!(count(mail, "filename=\"original.eml\""), 1);
    assert_eq!(count(mail, "filename=\"events.json\""), 1);
    assert!(mail.contains("(+299 more events)"), "subject says how many");
    assert!(mail.contains("This mail carries 300 events of one message."));
    // Well under the 300 × 100 KB the old one-mail-per-event sent.
    assert!(mail.len() < 1_000_000, "{} bytes", mail.len());
}

#[test]
fn regression_a_message_over_the_event_cap_is_quarantined_with_the_reason() {
    let env = Env::new(
        &files_config("[limits]\nmax_events_per_message = 50"),
        FORWARD_ALL,
    );
    let summary = env.import("many.eml", &many_events(51, 0));
    assert_eq!(summary["events_new"], 0);
    assert_eq!(summary["quarantined"], 1);
    let q = env.ok(&["quarantine", "--json"]);
    let q = String::from_utf8_lossy(&q.stdout);
    assert!(
        q.contains("51 events in one message, over the limit of 50"),
        "{q}"
    );
    assert!(q.contains("max_events_per_message"), "{q}");
    env.ok(&["deliver"]);
    assert!(env.sent_files().is_empty());
    // Raised, and reparsed: every event is taken.
    std::fs::write(
        env.path("mailroom.toml"),
        files_config("[limits]\nmax_events_per_message = 100"),
    )
    .unwrap();
    env.ok(&["reparse"]);
    let n = env.ok(&["events", "--count", "--json"]);
    let n: Value = serde_json::from_slice(&n.stdout).unwrap();
    assert_eq!(n["count"], 51);
}

#[test]
fn regression_ten_thousand_events_in_one_email_queue_nothing_by_default() {
    let env = Env::new(&files_config(""), FORWARD_ALL);
    let summary = env.import("bomb.eml", &many_events(10_000, 0));
    assert_eq!(summary["events_new"], 0);
    assert_eq!(summary["quarantined"], 1);
    let q = env.ok(&["quarantine", "--json"]);
    let q = String::from_utf8_lossy(&q.stdout);
    assert!(
        q.contains("10000 events in one message, over the limit of 1000"),
        "{q}"
    );
    let items = env.ok(&["outbox", "--all", "--json"]);
    let items: Value = serde_json::from_slice(&items.stdout).unwrap();
    assert_eq!(items.as_array().unwrap().len(), 0);
}

#[test]
fn an_outgoing_mail_never_exceeds_max_message_size() {
    let env = Env::new(
        "db = \"m.db\"\n[smtp]\ndir = \"out\"\nmax_message_size = \"64KiB\"\n",
        FORWARD_ALL,
    );
    env.import("big.eml", &many_events(1, 300_000));
    env.ok(&["deliver"]);
    let sent = env.sent_files();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].len() <= 64 << 10, "{} bytes", sent[0].len());
    assert!(!sent[0].contains("filename=\"original.eml\""));
    assert!(
        sent[0].contains("is not attached: this mail would be\r\nover the 64 KiB limit"),
        "{}",
        &sent[0][..2000.min(sent[0].len())]
    );
}

/// An OpenSRS event whose domain is `domain` (JSON-escaped by the caller).
fn opensrs(event_id: &str, domain_json: &str) -> Vec<u8> {
    format!(
        "From: notifications@opensrs.net\r\nTo: ops@example.com\r\n\
         Subject: Event notification: DOMAIN: CREATED: {event_id}\r\n\r\n\
         {{\"object_data\":{{\"domain_name\":\"{domain_json}\"}},\"object\":\"DOMAIN\",\
         \"event_id\":\"{event_id}\",\"event\":\"CREATED\",\"event_date\":\"2026-09-09T21:16:22Z\"}}\r\n"
    )
    .into_bytes()
}

fn header_section(data: &str) -> &str {
    let end = data.find("\r\n\r\n").unwrap_or(data.len());
    &data[..end]
}

#[test]
fn regression_hostile_header_values_arrive_folded_and_encoded_at_a_real_smtp_sink() {
    let sink = SmtpSink::start(SmtpOptions::plain());
    let config = format!(
        "db = \"m.db\"\n[smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\ntimeout = \"10s\"\n",
        sink.port()
    );
    let rules = r#"
[[rule]]
name = "everything"
forward = { to = ["ops@example.com"] }
"#;
    let env = Env::new(&config, rules);
    // A 200 KB domain; a domain with terminal escapes, a bell and NUL; a long word
    // of non-ASCII.
    let long = "a".repeat(200_000) + ".example";
    env.import("long.eml", &opensrs("h-1", &long));
    env.import(
        "ctl.eml",
        &opensrs("h-2", "evil\\u001b]0;owned\\u0007\\u0000.example"),
    );
    env.import("utf.eml", &opensrs("h-3", &"é".repeat(300)));
    let out = env.run(&["deliver"]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        sink.log_tail(30)
    );
    let got = sink.wait_for(3, Duration::from_secs(10));
    assert_eq!(got.len(), 3, "{}", sink.log_tail(30));
    for raw in &got {
        let data = String::from_utf8_lossy(raw);
        let headers = header_section(&data);
        for line in headers.split("\r\n") {
            assert!(
                line.len() <= 78,
                "header line of {} bytes: {line:.120}",
                line.len()
            );
        }
        assert!(!data.contains('\x00') && !data.contains('\x1b') && !data.contains('\x07'));
        // Every line of the whole mail within RFC 5322's 998.
        for line in data.split("\r\n") {
            assert!(line.len() <= 998, "line of {} bytes", line.len());
        }
    }
    let all: Vec<String> = got
        .iter()
        .map(|d| String::from_utf8_lossy(d).into_owned())
        .collect();
    let ctl = all
        .iter()
        .find(|d| d.contains("evil"))
        .expect("the mail of the control-character domain");
    // Its text part holds the control characters, carried by quoted-printable.
    assert!(
        ctl.contains("Content-Transfer-Encoding: quoted-printable"),
        "{ctl}"
    );
    assert!(ctl.contains("=1B") && ctl.contains("=00"), "{ctl}");
    // The long subject was cut (and encoded, as it has no space to fold at).
    assert!(
        all.iter()
            .filter(|d| !d.contains("evil"))
            .all(|d| header_section(d).contains("Subject: =?utf-8?b?")),
        "a subject with a word too long to fold is encoded"
    );
}

#[test]
fn digest_preview_shows_control_characters_escaped() {
    let rules = r#"
[[rule]]
name = "collect"
digest = "daily"

[[digest]]
name = "daily"
at = "08:00"
timezone = "UTC"
to = ["owner@example.com"]
"#;
    let env = Env::new("db = \"m.db\"\n", rules);
    env.import(
        "ctl.eml",
        &opensrs("p-1", "evil\\u001b]0;owned\\u0007.example"),
    );
    let out = env.ok(&["digest", "daily", "--preview"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
    assert!(text.contains("evil\\u{1b}]0;owned\\u{7}.example"), "{text}");
}
