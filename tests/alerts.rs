//! mailroom's own alerts, each made to happen for real under a running `mailroom watch`
//! and delivered once through the built-in `[alerts] to` rule (mail files): a Dovecot
//! login failing then working again, a registrar's format changed, a registrar gone
//! quiet (the clock moved forward), a webhook given up.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{Certs, Dovecot, HttpSink};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new(config: &str, rules: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        for d in ["rules", "out", "drop"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        std::fs::write(
            dir.path().join("mailroom.toml"),
            format!(
                "db = \"m.db\"\n[smtp]\ndir = \"out\"\n[watch]\npoll_interval = \"300ms\"\nmax_reconnect_delay = \"1s\"\n\
                 [alerts]\nto = [\"ops@reseller.example\"]\nsource_failing_after = \"2s\"\n{config}"
            ),
        )
        .unwrap();
        std::fs::write(dir.path().join("rules/10.toml"), rules).unwrap();
        Env { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn cmd(&self, now: Option<&str>) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mailroom"));
        c.env_remove("MAILROOM_CONFIG")
            .env_remove("MAILROOM_NOW")
            .arg("--config")
            .arg(self.path("mailroom.toml"));
        if let Some(n) = now {
            c.env("MAILROOM_NOW", n);
        }
        c
    }

    fn watch(&self, now: Option<&str>) -> Watch {
        let child = self
            .cmd(now)
            .arg("watch")
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(self.path("watch.log")).unwrap(),
            ))
            .spawn()
            .unwrap();
        Watch(child)
    }

    /// The alert mails written so far: (subject line, whole text).
    fn alert_mails(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(self.path("out"))
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .filter(|m| m.contains("[mailroom alert]"))
            .collect();
        out.sort();
        out
    }

    /// Waits until `want` alert mails match `pred`; the log on failure.
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool, want: usize, limit: Duration) {
        let start = Instant::now();
        loop {
            let n = self.alert_mails().iter().filter(|m| pred(m)).count();
            if n >= want {
                return;
            }
            if start.elapsed() > limit {
                panic!(
                    "no {what} alert within {limit:?}; mails: {:?}\nlog:\n{}",
                    self.alert_mails(),
                    std::fs::read_to_string(self.path("watch.log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
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

fn subject_has(m: &str, s: &str) -> bool {
    // Subjects may be folded or encoded; the body says the same in plain text.
    m.contains(s)
}

#[test]
fn a_failing_login_raises_one_alert_and_its_recovery_another() {
    let certs = Certs::generate();
    let dovecot = Dovecot::start(&certs);
    let env = Env::new("", "");
    let pw = env.path("pw");
    std::fs::write(&pw, "not-the-password\n").unwrap();
    std::fs::write(
        env.path("mailroom.toml"),
        std::fs::read_to_string(env.path("mailroom.toml")).unwrap()
            + &format!(
                "[[account]]\nname = \"box\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n\
                 username = \"{}\"\npassword_command = \"cat {}\"\n",
                dovecot.imap_port(),
                Dovecot::USER,
                pw.display()
            ),
    )
    .unwrap();
    let _watch = env.watch(None);
    env.wait_for(
        "source_failing",
        |m| subject_has(m, "has failed for more than 2s"),
        1,
        Duration::from_secs(30),
    );
    // Still failing: no second alert for the same period.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        env.alert_mails()
            .iter()
            .filter(|m| subject_has(m, "has failed for more than"))
            .count(),
        1
    );
    std::fs::write(&pw, format!("{}\n", Dovecot::PASSWORD)).unwrap();
    env.wait_for(
        "source_recovered",
        |m| subject_has(m, "works again"),
        1,
        Duration::from_secs(30),
    );
    let listed = env
        .cmd(None)
        .args(["events", "--registrar", "mailroom", "--json"])
        .output()
        .unwrap();
    let events: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout).unwrap();
    let topics: Vec<&str> = events
        .iter()
        .map(|e| e["topic"].as_str().unwrap())
        .collect();
    assert!(topics.contains(&"mailroom.source_failing"), "{topics:?}");
    assert!(topics.contains(&"mailroom.source_recovered"), "{topics:?}");
}

fn local_folder() -> &'static str {
    "[[maildir]]\nname = \"drop\"\npath = \"drop\"\n"
}

fn drop_mail(env: &Env, name: &str, text: &str) {
    std::fs::write(env.path("drop").join(name), text).unwrap();
}

#[test]
fn notifications_nobody_can_read_raise_format_unknown_once_an_hour() {
    let env = Env::new(local_folder(), "");
    let _watch = env.watch(None);
    for i in 0..3 {
        drop_mail(
            &env,
            &format!("n{i}.eml"),
            &format!(
                "From: OpenSRS <notifications@opensrs.net>\r\nSubject: Event notification: DOMAIN: CREATED\r\n\
                 Message-ID: <changed-{i}@opensrs.net>\r\n\r\n\
                 event:::DOMAIN;;created;;shop{i}.example;;v2\r\n"
            ),
        );
    }
    env.wait_for(
        "format_unknown",
        |m| subject_has(m, "from opensrs could not be read"),
        1,
        Duration::from_secs(30),
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        env.alert_mails()
            .iter()
            .filter(|m| subject_has(m, "could not be read"))
            .count(),
        1,
        "one per registrar per hour"
    );
}

#[test]
fn a_registrar_silent_past_its_rhythm_raises_registrar_quiet() {
    let env = Env::new(local_folder(), "");
    // Six AutoDNS notifications an hour apart, as mailroom received them then.
    for i in 0..6 {
        let mail = env.path(&format!("a{i}.eml"));
        std::fs::write(
            &mail,
            format!(
                "From: AutoDNS <noreply@autodns.com>\r\nSubject: AutoDNS Notification\r\n\r\n\
                 {{\"id\": {}, \"notify\": {{\"type\": \"transfer_start\"}}, \
                 \"object\": {{\"type\": \"domain\", \"value\": \"q{i}.example\"}}}}\r\n",
                9000 + i
            ),
        )
        .unwrap();
        let out = env
            .cmd(Some(&format!("2026-11-20T{:02}:00:00Z", 8 + i)))
            .args(["import", mail.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Two days later.
    let _watch = env.watch(Some("2026-11-22T14:00:00Z"));
    env.wait_for(
        "registrar_quiet",
        |m| subject_has(m, "no notification from autodns"),
        1,
        Duration::from_secs(30),
    );
}

#[test]
fn a_delivery_given_up_raises_delivery_dead_and_its_alert_is_delivered() {
    let hook = HttpSink::start();
    hook.set_status(400);
    let env = Env::new(
        &format!("{}[limits]\nmax_event_age = \"0\"\n", local_folder()),
        &format!(
            "[[rule]]\nname = \"billing\"\nwhen.registrar = \"opensrs\"\nwebhook = {{ url = \"{}/hook\" }}\n",
            hook.url()
        ),
    );
    let _watch = env.watch(None);
    drop_mail(
        &env,
        "ok.eml",
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/opensrs-domain-created.eml"),
        )
        .unwrap(),
    );
    env.wait_for(
        "delivery_dead",
        |m| subject_has(m, "was given up"),
        1,
        Duration::from_secs(40),
    );
    assert!(!hook.requests().is_empty());
}
