//! `mailroom gandi` and the `[gandi] probe` against the suite's XML-RPC server
//! (`support/gandi_xmlrpc.py`, built from Gandi's documentation): the subscriptions table
//! and its warnings, the count, a test message arriving through a watched folder (and
//! only the rules asking for `kind = "test"` acting on it), a wrong key's fault, and
//! the probe failing for real (its alert delivered once) or passing through Dovecot.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::gandi::{GandiApi, Mailbox};
use support::{Certs, Dovecot};

const KEY: &str = "k3ygandi0123456789abcdef";

struct Env {
    dir: tempfile::TempDir,
    key: String,
}

impl Env {
    /// A config with `[gandi]` at `url` (plus `gandi`, more of its keys), the local
    /// folder `inbox` mailroom watches, mail files for what is sent, and `rules`.
    fn new(url: &str, inbox: &Path, gandi: &str, more: &str, rules: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        for d in ["rules", "out"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        std::fs::write(
            dir.path().join("mailroom.toml"),
            format!(
                "db = \"m.db\"\n[gandi]\napikey_env = \"GANDI_APIKEY\"\nurl = \"{url}\"\n{gandi}\n\
                 [smtp]\ndir = \"out\"\n[watch]\npoll_interval = \"200ms\"\nmax_reconnect_delay = \"1s\"\n\
                 [[maildir]]\nname = \"gandi-mail\"\npath = \"{}\"\n{more}",
                inbox.display()
            ),
        )
        .unwrap();
        std::fs::write(dir.path().join("rules/10.toml"), rules).unwrap();
        Env {
            dir,
            key: KEY.into(),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mailroom"));
        c.env_remove("MAILROOM_CONFIG")
            .env_remove("MAILROOM_NOW")
            .env("GANDI_APIKEY", &self.key)
            .env("IMAP_PW", Dovecot::PASSWORD)
            .arg("--config")
            .arg(self.path("mailroom.toml"));
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    fn watch(&self) -> Watch {
        let child = self
            .cmd()
            .arg("watch")
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(self.path("watch.log")).unwrap(),
            ))
            .spawn()
            .unwrap();
        let w = Watch(child);
        self.wait("the database", Duration::from_secs(20), || {
            self.path("m.db").is_file()
        });
        w
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("watch.log")).unwrap_or_default()
    }

    /// The mails mailroom wrote (forwards, alerts).
    fn mails(&self) -> Vec<String> {
        std::fs::read_dir(self.path("out"))
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .collect()
    }

    fn wait(&self, what: &str, limit: Duration, done: impl Fn() -> bool) {
        let start = Instant::now();
        while !done() {
            if start.elapsed() > limit {
                panic!("no {what} within {limit:?}\nlog:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

struct Watch(Child);

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

/// A Maildir folder (new/, cur/, tmp/) the server mails into and mailroom watches.
fn inbox() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for d in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    dir
}

fn start_api(inbox: &Path) -> GandiApi {
    GandiApi::start(KEY, Mailbox::Maildir(inbox))
}

const RULES: &str = r#"
[[rule]]
name = "transfers"
when.topic = "transfer.out"
forward = { to = "ops@reseller.example" }

[[rule]]
name = "reachability"
when.type = "domain.reachability_reseller"
forward = { to = "ops@reseller.example" }

[[rule]]
name = "renewals"
when.type = "domain.renewal_reminder"
forward = { to = "ops@reseller.example" }
"#;

#[test]
fn subscriptions_list_each_notification_beside_the_rules_and_warn_of_what_never_arrives_or_nobody_uses()
 {
    let inbox = inbox();
    let api = start_api(inbox.path());
    let env = Env::new(&api.url(), inbox.path(), "", "", RULES);
    let out = env.run(&["gandi", "subscriptions", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = json(&out);
    let list = report["notifications"].as_array().unwrap();
    assert_eq!(list.len(), 30, "the documented list");
    let find = |name: &str| list.iter().find(|n| n["name"] == name).unwrap().clone();
    let transfer = find("domain.transfer_out");
    assert_eq!(transfer["rules"], serde_json::json!(["transfers"]));
    assert_eq!(transfer["reaches_mailroom"], true);
    assert_eq!(transfer["channels"][1]["name"], "sns");
    assert_eq!(transfer["channels"][1]["status"], "inactive");
    let warnings: Vec<String> = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect();
    let about = |name: &str| -> Vec<&String> {
        warnings
            .iter()
            .filter(|w| w.starts_with(&format!("{name}:")))
            .collect()
    };
    // Wanted, but only on SNS, and mailroom has no push receiver.
    assert!(
        about("domain.reachability_reseller")[0].contains("no [[push]] receiver"),
        "{warnings:#?}"
    );
    // Wanted, but switched off at Gandi.
    assert!(
        about("domain.renewal_reminder")[0].contains("switched off at Gandi"),
        "{warnings:#?}"
    );
    // Active, and no rule uses it.
    assert!(
        about("paas.create")[0].contains("no rule uses it"),
        "{warnings:#?}"
    );
    // Wanted and mailed to a folder mailroom watches; off and unwanted: nothing to say.
    assert!(about("domain.transfer_out").is_empty(), "{warnings:#?}");
    assert!(about("domain.update").is_empty(), "{warnings:#?}");

    let table = env.run(&["gandi", "subscriptions"]);
    assert!(table.status.success());
    let stdout = text(&table.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("domain.transfer_out "))
        .unwrap();
    assert!(
        line.contains("smtp=active sns=inactive") && line.contains("transfers"),
        "{line}"
    );
    assert!(text(&table.stderr).contains("warning: paas.create: active at Gandi"));

    // With a push receiver, SNS reaches mailroom.
    let env = Env::new(
        &api.url(),
        inbox.path(),
        "",
        "[[push]]\nname = \"sns\"\nregistrar = \"autodns\"\npath = \"/push/sns\"\n",
        RULES,
    );
    let report = json(&env.run(&["gandi", "subscriptions", "--json"]));
    let warned = report["warnings"].as_array().unwrap().iter().any(|w| {
        w.as_str()
            .unwrap()
            .starts_with("domain.reachability_reseller:")
    });
    assert!(!warned, "{report:#}");
}

#[test]
fn count_prints_what_gandi_counts() {
    let inbox = inbox();
    let api = start_api(inbox.path());
    let env = Env::new(&api.url(), inbox.path(), "", "", "");
    let out = env.run(&["gandi", "count"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "30");
    assert_eq!(json(&env.run(&["gandi", "count", "--json"]))["count"], 30);
}

#[test]
fn a_wrong_key_shows_gandis_fault_and_never_the_key() {
    let inbox = inbox();
    let api = start_api(inbox.path());
    let mut env = Env::new(&api.url(), inbox.path(), "", "", "");
    env.key = "zzzzzzzzzzzz0000000000zz".into();
    let out = env.run(&["gandi", "count"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("fault 510150")
            && err.contains("OBJECT_ACCOUNT (CAUSE_NORIGHT) [Invalid API key]"),
        "{err}"
    );
    assert!(err.contains("apikey_env"), "names the setting: {err}");
    assert!(!err.contains(&env.key), "{err}");

    // Gandi echoes a malformed key in its fault: mailroom cuts it out.
    env.key = "Not-A-Gandi-Key".into();
    let out = env.run(&["gandi", "subscriptions", "--json"]);
    let err = text(&out.stderr);
    assert!(err.contains("fault 501237"), "{err}");
    assert!(!err.contains("Not-A-Gandi-Key"), "{err}");
    assert!(out.stdout.is_empty());

    // An empty key is refused before anything is asked, at the line that names it.
    env.key = String::new();
    let asked = api.requests().len();
    let out = env.run(&["gandi", "count"]);
    let err = text(&out.stderr);
    assert!(
        err.contains("mailroom.toml:3:1: environment variable GANDI_APIKEY ([gandi] apikey_env) gives an empty API key"),
        "{err}"
    );
    assert_eq!(api.requests().len(), asked);
}

#[test]
fn test_reports_how_long_the_test_message_took_through_a_watched_folder() {
    let inbox = inbox();
    let api = start_api(inbox.path());
    let env = Env::new(
        &api.url(),
        inbox.path(),
        "",
        "",
        r#"
[[rule]]
name = "every gandi notification"
when.registrar = "gandi"
forward = { to = "all@reseller.example" }

[[rule]]
name = "gandi tests"
when.registrar = "gandi"
when.kind = "test"
forward = { to = "tests@reseller.example" }
"#,
    );
    let _watch = env.watch();
    let out = env.run(&["gandi", "test", "paas.create", "--wait", "30s"]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), env.log());
    let said = text(&out.stdout);
    assert!(
        said.starts_with("the test message of paas.create arrived after "),
        "{said}"
    );
    assert!(said.contains("from maildir:"), "{said}");
    // Asked again: the same test event arrives again, and is seen again.
    let again = json(&env.run(&["gandi", "test", "paas.create", "--wait", "30s", "--json"]));
    assert_eq!(again["arrived"], true, "{again:#}");
    assert!(again["after_s"].as_f64().unwrap() < 30.0);
    let events = json(&env.run(&["events", "--registrar", "gandi", "--json"]));
    assert_eq!(events[0]["kind"], "test");
    assert_eq!(events[0]["type"], "paas.create");
    // Only the rule asking for kind = "test" acted on it.
    env.wait("the forward of the test", Duration::from_secs(20), || {
        env.mails()
            .iter()
            .any(|m| m.contains("tests@reseller.example"))
    });
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        !env.mails()
            .iter()
            .any(|m| m.contains("all@reseller.example")),
        "a rule not asking for tests forwarded one"
    );
}

#[test]
fn test_exits_1_when_the_test_message_does_not_come() {
    let inbox = inbox();
    let api = start_api(inbox.path());
    let env = Env::new(&api.url(), inbox.path(), "", "", "");
    let _watch = env.watch();
    // domain.update is switched off at Gandi: no mail is sent for it.
    let out = env.run(&["gandi", "test", "domain.update", "--wait", "2s"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no test message of domain.update was stored within 2s"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(api.requests().last().unwrap()["mailed"], false);
}

fn status(env: &Env) -> (Option<i32>, Value) {
    let out = env.run(&["status", "--json"]);
    (out.status.code(), json(&out))
}

#[test]
fn the_probe_raises_probe_failed_once_when_the_test_message_never_comes() {
    let inbox = inbox();
    let api = start_api(inbox.path());
    api.set_faults(serde_json::json!({ "drop_test_mail": true }));
    let env = Env::new(
        &api.url(),
        inbox.path(),
        "probe = \"paas.create\"\nprobe_every = \"1h\"\nprobe_timeout = \"2s\"\n",
        "[alerts]\nto = [\"ops@reseller.example\"]\n",
        "",
    );
    let watch = env.watch();
    env.wait("probe_failed alert mail", Duration::from_secs(30), || {
        env.mails()
            .iter()
            .any(|m| m.contains("[mailroom alert]") && m.contains("did not arrive within 2s"))
    });
    assert!(env.log().contains("ERROR"), "{}", env.log());
    assert!(env.log().contains("Gandi probe failed"), "{}", env.log());
    let (code, s) = status(&env);
    assert_eq!(code, Some(1));
    let problems = s["problems"].to_string();
    assert!(
        problems.contains("gandi/probe") && problems.contains("did not arrive within 2s"),
        "{s:#}"
    );
    let alerts = json(&env.run(&["events", "--registrar", "mailroom", "--json"]));
    assert_eq!(alerts.as_array().unwrap().len(), 1, "{alerts:#}");
    assert_eq!(alerts[0]["topic"], "mailroom.probe_failed");
    // Restarted within probe_every: Gandi is not asked again.
    drop(watch);
    let _watch = env.watch();
    std::thread::sleep(Duration::from_secs(3));
    let tests = api
        .requests()
        .iter()
        .filter(|r| r["method"] == "notification.test")
        .count();
    assert_eq!(tests, 1, "{:?}", api.requests());
    let mails = env
        .mails()
        .iter()
        .filter(|m| m.contains("did not arrive"))
        .count();
    assert_eq!(mails, 1);
}

#[test]
fn the_probe_passes_when_the_test_message_arrives_through_dovecot() {
    let certs = Certs::generate();
    let dovecot = Dovecot::start(&certs);
    let api = GandiApi::start(KEY, Mailbox::Dovecot(&dovecot, "INBOX"));
    let inbox = inbox();
    let env = Env::new(
        &api.url(),
        inbox.path(),
        "probe = \"paas.create\"\nprobe_timeout = \"30s\"\n",
        &format!(
            "[[account]]\nname = \"box\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n\
             username = \"{}\"\npassword_env = \"IMAP_PW\"\n",
            dovecot.imap_port(),
            Dovecot::USER
        ),
        "",
    );
    let _watch = env.watch();
    env.wait("the probe's success", Duration::from_secs(40), || {
        let (_, s) = status(&env);
        s["folders"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["source"] == "gandi" && f["folder"] == "probe" && f["last_sync"].is_string())
    });
    assert!(
        env.log().contains("the test message arrived"),
        "{}",
        env.log()
    );
    assert_eq!(dovecot.count("INBOX"), 1, "{}", api.log_tail());
    let (code, s) = status(&env);
    assert_eq!(code, Some(0), "{s:#}");
    let alerts = json(&env.run(&["events", "--registrar", "mailroom", "--json"]));
    assert!(alerts.as_array().unwrap().is_empty(), "{alerts:#}");
}

#[test]
fn an_unreachable_api_is_named_by_its_url() {
    let inbox = inbox();
    let port = support::free_port();
    let url = format!("http://127.0.0.1:{port}/xmlrpc/");
    let env = Env::new(&url, inbox.path(), "", "", "");
    let out = env.run(&["gandi", "count"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains(&url), "{err}");
    assert!(!err.contains(KEY), "{err}");
}
