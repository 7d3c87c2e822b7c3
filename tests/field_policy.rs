//! What the field broke in storage policy (issue 20 B): a copy under a used id that
//! names another domain is an event of its own; an event without a time takes its
//! mail's date and says so; old events are stored and counted but not acted on.
//! Real `mailroom` processes on real SQLite files, the clock fixed by `MAILROOM_NOW`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const NOW: &str = "2026-11-25T12:00:00Z";

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new(config: &str, rules: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("rules")).unwrap();
        std::fs::create_dir_all(dir.path().join("out")).unwrap();
        std::fs::write(
            dir.path().join("mailroom.toml"),
            format!("db = \"m.db\"\n[smtp]\ndir = \"out\"\n{config}"),
        )
        .unwrap();
        std::fs::write(dir.path().join("rules/10.toml"), rules).unwrap();
        Env { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_mailroom"))
            .env("MAILROOM_NOW", NOW)
            .env_remove("MAILROOM_CONFIG")
            .arg("--config")
            .arg(self.path("mailroom.toml"))
            .args(args)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "mailroom {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    /// Mails written by `deliver` so far.
    fn sent(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(self.path("out"))
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        out.sort();
        out
    }
}

fn sample(p: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(p)
        .to_string_lossy()
        .into_owned()
}

const TRANSFERS: &str = "[[rule]]\nname = \"transfers out\"\nwhen.topic = \"transfer.out\"\n\
                         forward = { to = [\"ops@reseller.example\"] }\n";

#[test]
fn a_copy_naming_another_domain_is_an_event_of_its_own_found_and_acted_on_once() {
    let env = Env::new("[limits]\nmax_event_age = \"0\"\n", TRANSFERS);
    // Two AutoDNS notifications under id 1012054052: example.org, then
    // transfer-52.example.org.
    env.ok(&["import", &sample("autodns-notify-transfer-start.eml")]);
    let second = env.json(&[
        "import",
        "--json",
        &sample("extra/autodns-notify-transfer-start.eml"),
    ]);
    assert_eq!(second["events_new"], 1, "{second}");
    let found = env.json(&["events", "--domain", "transfer-52.example.org", "--json"]);
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let id = found[0]["event_id"].as_str().unwrap();
    assert!(id.starts_with("1012054052~"), "{id}");
    assert_eq!(found[0]["topic"], "transfer.out");
    // The first event is untouched.
    let first = env.json(&["events", "--domain", "example.org", "--json"]);
    assert_eq!(first.as_array().unwrap().len(), 1);
    assert_eq!(first[0]["event_id"], "1012054052");

    // The same notification again (another copy of the mail): one event seen twice.
    let copy = env.path("copy.eml");
    let text = std::fs::read_to_string(sample("extra/autodns-notify-transfer-start.eml")).unwrap();
    std::fs::write(&copy, format!("X-Relayed: again\r\n{text}")).unwrap();
    let again = env.json(&["import", "--json", copy.to_str().unwrap()]);
    assert_eq!(again["events_new"], 0, "{again}");
    assert_eq!(again["duplicates"], 1, "{again}");
    let found = env.json(&["events", "--domain", "transfer-52.example.org", "--json"]);
    assert_eq!(found[0]["seen_count"], 2, "{found}");

    // Acted on once each: two forwards, one per domain.
    env.ok(&["deliver"]);
    let sent = env.sent();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent.iter().any(|m| m.contains("transfer-52.example.org")));

    // `status` names it with its domain.
    let status = String::from_utf8_lossy(&env.run(&["status"]).stdout).into_owned();
    assert!(status.contains("reused ids: 1"), "{status}");
    assert!(status.contains("transfer-52.example.org"), "{status}");
}

#[test]
fn an_event_without_a_time_takes_its_mail_date_and_says_so() {
    let env = Env::new("", "");
    env.ok(&["import", &sample("autodns-notify-transfer-start.eml")]);
    let e = env.json(&["events", "--domain", "example.org", "--json"]);
    // Date: Thu, 20 Jan 2022 10:55:00 +0100; the payload gives no time.
    assert_eq!(e[0]["occurred_at"], "2022-01-20T09:55:00.000Z", "{e}");
    assert_eq!(e[0]["occurred_at_source"], "mail-date", "{e}");
    let listing = env.ok(&["events", "--domain", "example.org"]);
    assert!(listing.contains("(mail date)"), "{listing}");

    // No time in the payload and no Date header: when it was received.
    let bare = env.path("bare.eml");
    std::fs::write(
        &bare,
        "From: AutoDNS <noreply@autodns.com>\r\nSubject: AutoDNS Notification\r\n\r\n\
         {\"id\": 99001, \"notify\": {\"type\": \"transfer_start\"}, \
         \"object\": {\"type\": \"domain\", \"value\": \"undated.example\"}}\r\n",
    )
    .unwrap();
    env.ok(&["import", bare.to_str().unwrap()]);
    let e = env.json(&["events", "--domain", "undated.example", "--json"]);
    assert_eq!(e[0]["occurred_at_source"], "received", "{e}");
    assert_eq!(e[0]["occurred_at"], "2026-11-25T12:00:00.000Z", "{e}");

    // The registrar's own time is marked as such.
    env.ok(&["import", &sample("opensrs-domain-created.eml")]);
    let e = env.json(&["events", "--domain", "example.com", "--json"]);
    assert_eq!(e[0]["occurred_at"], "2026-11-03T14:22:07Z");
    assert_eq!(e[0]["occurred_at_source"], "payload");
}

fn fresh_opensrs(domain: &str, at: &str) -> String {
    format!(
        "From: OpenSRS <notifications@opensrs.net>\r\nDate: Wed, 25 Nov 2026 11:00:00 +0000\r\n\
         Subject: Event notification: DOMAIN: CREATED\r\n\r\n\
         {{\"object_data\":{{\"domain_name\":\"{domain}\",\"domain_id\":\"1\"}},\"object\":\"DOMAIN\",\
         \"event_id\":\"fresh-{domain}\",\"event\":\"CREATED\",\"event_date\":\"{at}\"}}\r\n"
    )
}

#[test]
fn old_events_are_stored_and_counted_but_no_rule_acts_on_them_unless_asked() {
    let rules = "[[rule]]\nname = \"created\"\nwhen.topic = \"domain.created\"\n\
                 forward = { to = [\"ops@reseller.example\"] }\n";
    // The default limit: 7 days.
    let env = Env::new("", rules);
    let fresh = env.path("fresh.eml");
    std::fs::write(&fresh, fresh_opensrs("new.example", "2026-11-25T10:00:00Z")).unwrap();
    let summary = env.json(&[
        "import",
        "--json",
        &sample("opensrs-domain-created.eml"),
        fresh.to_str().unwrap(),
    ]);
    assert_eq!(summary["events_new"], 2, "{summary}");
    assert_eq!(summary["rules_skipped"], 1, "{summary}");
    env.ok(&["deliver"]);
    let sent = env.sent();
    assert_eq!(sent.len(), 1, "only the fresh event is news: {sent:?}");
    assert!(sent[0].contains("new.example"));

    // Stored, listed and saying why.
    let old = env.json(&["events", "--domain", "example.com", "--json"]);
    assert_eq!(old[0]["rules_skipped"], "older than 7d", "{old}");
    let id = old[0]["id"].to_string();
    let shown = env.ok(&["events", "show", &id]);
    assert!(shown.contains("older than 7d"), "{shown}");
    let new = env.json(&["events", "--domain", "new.example", "--json"]);
    assert!(new[0].get("rules_skipped").is_none(), "{new}");

    // Acted on deliberately.
    env.ok(&["rules", "apply", "--since", "2026-01-01"]);
    env.ok(&["deliver"]);
    assert_eq!(env.sent().len(), 2);

    // `"0"`: no limit.
    let any = Env::new("[limits]\nmax_event_age = \"0\"\n", rules);
    let summary = any.json(&["import", "--json", &sample("opensrs-domain-created.eml")]);
    assert_eq!(summary["rules_skipped"], 0, "{summary}");
    any.ok(&["deliver"]);
    assert_eq!(any.sent().len(), 1);
}
