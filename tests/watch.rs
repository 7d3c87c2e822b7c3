//! `mailroom watch` against a real Dovecot started by the tests (and a real SMTP sink):
//! catch-up, IDLE pick-up, IMAPS and STARTTLS and refusal of an unknown certificate,
//! the server killed and restarted with mail arriving meanwhile, `watch` itself killed
//! with SIGKILL mid-batch, a UIDVALIDITY change, `move` and `seen`, and a clean exit on
//! SIGTERM.

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Certs, Dovecot, SmtpOptions, SmtpSink};

fn notification(i: usize) -> Vec<u8> {
    format!(
        "From: OpenSRS <notifications@opensrs.net>\r\nTo: reseller@example.com\r\n\
         Subject: Event notification: DOMAIN: NAMESERVER_UPDATE: ev{i:06}\r\n\
         Message-ID: <ev{i:06}@opensrs.net>\r\nDate: Fri, 20 Nov 2026 07:00:00 +0000\r\n\r\n\
         {{\"object_data\":{{\"domain_name\":\"d{i}.example\",\"domain_id\":\"{i}\",\
         \"nameserver_list\":[\"ns1.systemdns.com\",\"ns2.systemdns.com\"]}},\"object\":\"DOMAIN\",\
         \"event_id\":\"ev{i:06}\",\"event\":\"NAMESERVER_UPDATE\",\"event_date\":\"2026-11-20T06:59:00Z\"}}\r\n"
    )
    .into_bytes()
}

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(account: &str, extra: &str, rules: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "db = \"m.db\"\n{extra}\n[watch]\nidle_refresh = \"5m\"\ncommand_timeout = \"10s\"\nmax_reconnect_delay = \"2s\"\npoll_interval = \"1s\"\n\n[[account]]\nname = \"reg\"\nhost = \"127.0.0.1\"\nusername = \"reseller\"\npassword_env = \"MR_IMAP_PASSWORD\"\n{account}\n"
        );
        std::fs::write(
            dir.path().join("mailroom.toml"),
            support::age::any_age(&config),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("rules")).unwrap();
        std::fs::write(dir.path().join("rules/10.toml"), rules).unwrap();
        Setup { dir }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mailroom"));
        c.arg("--config")
            .arg(self.dir.path().join("mailroom.toml"))
            .args(args);
        c.env("MR_IMAP_PASSWORD", "secret")
            .env_remove("MAILROOM_NOW");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn once(&self) -> Value {
        let out = self.run(&["watch", "--once", "--json"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("secret"), "password printed: {stderr}");
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"))
    }

    fn spawn_watch(&self) -> Watch {
        let log = std::fs::File::create(self.dir.path().join("watch.log")).unwrap();
        Watch(
            self.cmd(&["watch"])
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        )
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("watch.log")).unwrap_or_default()
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("m.db")
    }

    fn count(&self, sql: &str) -> i64 {
        let Ok(conn) = rusqlite::Connection::open_with_flags(
            self.db(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        ) else {
            return 0;
        };
        conn.query_row(sql, [], |r| r.get(0)).unwrap_or(0)
    }

    fn events(&self) -> i64 {
        self.count("SELECT COUNT(*) FROM events")
    }

    /// Waits until `f` holds, or fails with the watch log.
    fn wait(&self, what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
        let start = Instant::now();
        while !f() {
            assert!(
                start.elapsed() < timeout,
                "timed out waiting for {what}\nwatch log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn plain(dovecot: &Dovecot) -> String {
    format!("port = {}\ntls = \"none\"", dovecot.imap_port())
}

const NO_RULES: &str = "[[rule]]\nname = \"nothing\"\nwhen.kind = \"test\"\nstop = true\n";

/// A running `mailroom watch`, killed if the test fails before stopping it.
struct Watch(Child);

impl Drop for Watch {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn terminate(watch: &mut Watch) -> std::process::ExitStatus {
    let child = &mut watch.0;
    unsafe extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    unsafe {
        kill(child.id() as i32, 15);
    }
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "watch did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn catch_up_then_idle_pick_up_then_clean_exit_on_sigterm() {
    let certs = Certs::generate();
    let dovecot = Dovecot::start(&certs);
    for i in 0..5 {
        dovecot.deliver("INBOX", &notification(i));
    }
    let s = Setup::new(&plain(&dovecot), "", NO_RULES);
    let r = s.once();
    assert_eq!(
        (r["messages"].as_u64(), r["events_new"].as_u64()),
        (Some(5), Some(5)),
        "{r}"
    );
    let r = s.once();
    assert_eq!(
        (r["messages"].as_u64(), r["events_new"].as_u64()),
        (Some(0), Some(0)),
        "{r}"
    );

    let mut child = s.spawn_watch();
    s.wait("watching", Duration::from_secs(20), || {
        s.log().contains("watching")
    });
    let started = Instant::now();
    dovecot.append_via_imap("INBOX", &notification(100));
    s.wait(
        "the appended message stored",
        Duration::from_secs(10),
        || s.events() == 6,
    );
    let latency = started.elapsed();
    eprintln!("IDLE pick-up latency: {latency:?}");
    let status = terminate(&mut child);
    assert!(status.success(), "exit status {status:?}\n{}", s.log());
    assert!(s.log().contains("stopped"));

    let st: Value = serde_json::from_slice(&s.run(&["status", "--json"]).stdout).unwrap();
    let f = &st["folders"][0];
    assert_eq!(f["source"], "reg");
    assert_eq!(f["folder"], "INBOX");
    assert_eq!(f["last_uid"], 6);
    assert!(
        f["last_sync"].is_string() && f["last_error"].is_null(),
        "{st}"
    );
}

#[test]
fn imaps_starttls_and_an_unknown_certificate() {
    let certs = Certs::generate();
    let dovecot = Dovecot::start(&certs);
    dovecot.deliver("INBOX", &notification(1));
    let ca = format!("ca_file = \"{}\"", certs.ca_pem.display());
    let imaps = Setup::new(
        &format!("port = {}\ntls = \"implicit\"\n{ca}", dovecot.imaps_port()),
        "",
        NO_RULES,
    );
    assert_eq!(imaps.once()["events_new"], 1);
    let starttls = Setup::new(
        &format!("port = {}\ntls = \"starttls\"\n{ca}", dovecot.imap_port()),
        "",
        NO_RULES,
    );
    assert_eq!(starttls.once()["events_new"], 1);
    // Without the CA file the self-signed chain is refused, clearly, exit 1.
    let strict = Setup::new(
        &format!("port = {}\ntls = \"implicit\"", dovecot.imaps_port()),
        "",
        NO_RULES,
    );
    let out = strict.run(&["watch", "--once"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        err.contains("tls") && (err.contains("certificate") || err.contains("issuer")),
        "{err}"
    );
    assert_eq!(strict.events(), 0);
    // Wrong password: reported as a login failure, not retried in a tight loop.
    let wrong = Setup::new(&plain(&dovecot), "", NO_RULES);
    let out = wrong
        .cmd(&["watch", "--once"])
        .env("MR_IMAP_PASSWORD", "nope")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("IMAP login to 127.0.0.1 as reseller refused: [AUTHENTICATIONFAILED] Authentication failed."),
        "{err}"
    );
    assert!(
        !err.contains("No Response") && !err.contains("Some("),
        "{err}"
    );
}

#[test]
fn server_restart_with_mail_arriving_meanwhile_loses_and_repeats_nothing() {
    let certs = Certs::generate();
    let mut dovecot = Dovecot::start(&certs);
    for i in 0..20 {
        dovecot.deliver("INBOX", &notification(i));
    }
    let s = Setup::new(&plain(&dovecot), "", NO_RULES);
    let mut child = s.spawn_watch();
    s.wait("first catch-up", Duration::from_secs(20), || {
        s.events() == 20
    });
    // A crash: every Dovecot process SIGKILLed, connections cut.
    dovecot.kill();
    for i in 20..35 {
        dovecot.deliver("INBOX", &notification(i));
    }
    std::thread::sleep(Duration::from_millis(1500));
    dovecot.start_again();
    s.wait(
        "catch-up after the restart",
        Duration::from_secs(30),
        || s.events() == 35,
    );
    dovecot.append_via_imap("INBOX", &notification(35));
    s.wait("IDLE after reconnect", Duration::from_secs(15), || {
        s.events() == 36
    });
    assert!(terminate(&mut child).success());
    assert!(
        s.log().contains("IMAP error"),
        "the drop was noticed: {}",
        s.log()
    );
    assert_eq!(s.count("SELECT COUNT(*) FROM messages"), 36);
    assert_eq!(
        s.count("SELECT MAX(seen_count) FROM events"),
        1,
        "nothing stored twice"
    );
}

#[test]
fn watch_killed_mid_batch_resumes_without_losing_or_repeating() {
    let certs = Certs::generate();
    let dovecot = Dovecot::start(&certs);
    let total = 3000;
    for i in 0..total {
        dovecot.deliver("INBOX", &notification(i));
    }
    let mut smtp = SmtpSink::start(SmtpOptions::plain());
    // The SMTP sink is down while watch is killed: forwards queue up meanwhile.
    smtp.stop();
    let extra = format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n[delivery]\nfirst_backoff = \"1s\"\nmax_backoff = \"2s\"\n",
        smtp.port()
    );
    let rules = "[[rule]]\nname = \"all\"\nforward = { to = \"ops@example.com\", subject = \"{{ event_id }}\" }\n";
    let s = Setup::new(&plain(&dovecot), &extra, rules);
    let mut child = s.spawn_watch();
    s.wait(
        "part of the folder committed",
        Duration::from_secs(60),
        || s.events() >= 250,
    );
    child.0.kill().unwrap(); // SIGKILL
    child.0.wait().unwrap();
    let partial = s.events();
    assert!(partial < total as i64, "killed too late: {partial}");
    assert_eq!(
        s.count("SELECT COUNT(*) FROM outbox"),
        partial,
        "every stored event has its forward queued"
    );

    smtp.start_again();
    let restarted = Instant::now();
    let mut child = s.spawn_watch();
    s.wait("every event", Duration::from_secs(120), || {
        s.events() == total as i64
    });
    s.wait("every forward delivered", Duration::from_secs(120), || {
        s.count("SELECT COUNT(*) FROM outbox WHERE state = 'done'") == total as i64
    });
    eprintln!(
        "all forwards delivered {:?} after the restart",
        restarted.elapsed()
    );
    assert!(terminate(&mut child).success());
    let received = smtp.wait_for(total, Duration::from_secs(10));
    let mut subjects: Vec<String> = received
        .iter()
        .map(|m| {
            let text = String::from_utf8_lossy(m);
            text.lines()
                .find_map(|l| l.strip_prefix("Subject: "))
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!(received.len(), total, "forwards sent");
    assert_eq!(subjects.len(), total, "no forward sent twice");
    assert_eq!(s.count("SELECT COUNT(*) FROM outbox"), total as i64);
}

#[test]
fn a_uidvalidity_change_repeats_no_event_and_no_action() {
    let certs = Certs::generate();
    let mut dovecot = Dovecot::start(&certs);
    for i in 0..10 {
        dovecot.deliver("INBOX", &notification(i));
    }
    let sink = SmtpSink::start(SmtpOptions::plain());
    let extra = format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n",
        sink.port()
    );
    let rules = "[[rule]]\nname = \"all\"\nforward = { to = \"ops@example.com\" }\n";
    let s = Setup::new(&plain(&dovecot), &extra, rules);
    assert_eq!(s.once()["events_new"], 10);
    let (old, new) = dovecot.change_uidvalidity("INBOX");
    let r = s.once();
    assert_eq!(r["messages"], 10, "the folder was rescanned: {r}");
    assert_eq!(r["events_new"], 0);
    assert_eq!(s.count("SELECT COUNT(*) FROM outbox"), 10);
    assert_eq!(sink.wait_for(10, Duration::from_secs(5)).len(), 10);
    let st: Value = serde_json::from_slice(&s.run(&["status", "--json"]).stdout).unwrap();
    assert_eq!(
        st["folders"][0]["uidvalidity"].as_u64(),
        Some(new as u64),
        "old was {old}"
    );
    assert_eq!(s.once()["messages"], 0);
}

#[test]
fn seen_and_move_post_processing() {
    let certs = Certs::generate();
    let dovecot = Dovecot::start(&certs);
    for i in 0..3 {
        dovecot.deliver("INBOX", &notification(i));
    }
    let seen = Setup::new(
        &format!("{}\nafter = \"seen\"", plain(&dovecot)),
        "",
        NO_RULES,
    );
    assert_eq!(seen.once()["events_new"], 3);
    let flags: Vec<String> = dovecot
        .messages("INBOX")
        .into_iter()
        .map(|m| m.flags)
        .collect();
    assert_eq!(flags.len(), 3);
    assert!(flags.iter().all(|f| f.contains('S')), "{flags:?}");

    dovecot.create_folder("Processed");
    let moved = Setup::new(
        &format!(
            "{}\nafter = \"move\"\nmove_to = \"Processed\"",
            plain(&dovecot)
        ),
        "",
        NO_RULES,
    );
    assert_eq!(moved.once()["messages"], 3);
    assert_eq!(dovecot.count("INBOX"), 0);
    assert_eq!(dovecot.count("Processed"), 3);
    // New mail later is moved too, and nothing already stored is stored again.
    dovecot.deliver("INBOX", &notification(9));
    let r = moved.once();
    assert_eq!(
        (r["messages"].as_u64(), r["events_new"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(dovecot.count("Processed"), 4);
}

#[test]
fn start_new_skips_what_was_there_before_the_first_run() {
    let certs = Certs::generate();
    let dovecot = Dovecot::start(&certs);
    for i in 0..4 {
        dovecot.deliver("INBOX", &notification(i));
    }
    let s = Setup::new(
        &format!("{}\nstart = \"new\"", plain(&dovecot)),
        "",
        NO_RULES,
    );
    let r = s.once();
    assert_eq!(
        (r["messages"].as_u64(), r["events_new"].as_u64()),
        (Some(0), Some(0)),
        "{r}"
    );
    dovecot.deliver("INBOX", &notification(50));
    let r = s.once();
    assert_eq!(
        (r["messages"].as_u64(), r["events_new"].as_u64()),
        (Some(1), Some(1)),
        "{r}"
    );
}

/// `doveadm kick`: the server closes every connection of the user, as a restart or a
/// load balancer's idle timeout would.
fn kick(dovecot: &Dovecot) {
    let out = Command::new("doveadm")
        .arg("-c")
        .arg(dovecot.dir().join("dovecot.conf"))
        .args(["kick", Dovecot::USER])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "doveadm kick: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn kicked_by_the_server_on_every_connection_kind_watch_reconnects_and_forwards() {
    let certs = Certs::generate();
    let dovecot = Dovecot::start(&certs);
    let sink = SmtpSink::start(SmtpOptions::plain());
    let ca = format!("ca_file = \"{}\"", certs.ca_pem.display());
    let kinds = [
        ("plain", plain(&dovecot)),
        (
            "implicit",
            format!("port = {}\ntls = \"implicit\"\n{ca}", dovecot.imaps_port()),
        ),
        (
            "starttls",
            format!("port = {}\ntls = \"starttls\"\n{ca}", dovecot.imap_port()),
        ),
    ];
    let extra = format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n[delivery]\nfirst_backoff = \"1s\"\n",
        sink.port()
    );
    let rules = "[[rule]]\nname = \"all\"\nforward = { to = \"ops@example.com\", subject = \"fwd {{ event_id }}\" }\n";
    for (round, (kind, account)) in kinds.iter().enumerate() {
        let s = Setup::new(account, &extra, rules);
        let mut child = s.spawn_watch();
        s.wait("watching", Duration::from_secs(20), || {
            s.log().contains("watching")
        });
        for k in 0..3 {
            kick(&dovecot);
            // Back and watching again: the next kick finds it connected.
            s.wait(
                &format!("{kind}: reconnected after kick {k}"),
                Duration::from_secs(30),
                || {
                    assert!(
                        child.0.try_wait().unwrap().is_none(),
                        "{kind}: watch died after kick {k}\n{}",
                        s.log()
                    );
                    s.log().matches("watching").count() == k + 2
                },
            );
        }
        let i = 1000 + round;
        dovecot.append_via_imap("INBOX", &notification(i));
        s.wait(
            &format!("{kind}: the message after the kicks"),
            Duration::from_secs(30),
            || {
                s.count(&format!(
                    "SELECT COUNT(*) FROM events WHERE event_id = 'ev{i:06}'"
                )) == 1
            },
        );
        s.wait(
            &format!("{kind}: its forward"),
            Duration::from_secs(30),
            || {
                sink.messages()
                    .iter()
                    .any(|m| String::from_utf8_lossy(m).contains(&format!("fwd ev{i:06}")))
            },
        );
        let status = terminate(&mut child);
        assert!(status.success(), "{kind}: exit {status:?}\n{}", s.log());
        assert!(
            s.log().contains("IMAP error"),
            "{kind}: the drop was logged\n{}",
            s.log()
        );
        assert!(!s.log().contains("panicked"), "{}", s.log());
    }
}

#[test]
fn seen_and_move_left_undone_by_a_crash_are_finished_on_the_next_start() {
    let certs = Certs::generate();
    let dovecot = Dovecot::start(&certs);
    for i in 0..4 {
        dovecot.deliver("INBOX", &notification(i));
    }
    dovecot.create_folder("Processed");
    // Stored and cursor moved, but the server-side step never ran (as if watch died
    // between the commit and the MOVE): the same database, now with after = "move".
    let s = Setup::new(&plain(&dovecot), "", NO_RULES);
    assert_eq!(s.once()["events_new"], 4);
    assert_eq!(dovecot.count("INBOX"), 4);
    let moved = format!(
        "db = \"m.db\"\n[[account]]\nname = \"reg\"\nhost = \"127.0.0.1\"\nusername = \"reseller\"\npassword_env = \"MR_IMAP_PASSWORD\"\n{}\nafter = \"move\"\nmove_to = \"Processed\"\n",
        plain(&dovecot)
    );
    std::fs::write(
        s.dir.path().join("mailroom.toml"),
        support::age::any_age(&moved),
    )
    .unwrap();
    let r = s.once();
    assert_eq!(
        (r["messages"].as_u64(), r["events_new"].as_u64()),
        (Some(0), Some(0)),
        "{r}"
    );
    assert_eq!(dovecot.count("INBOX"), 0, "processed mail left behind");
    assert_eq!(dovecot.count("Processed"), 4);

    // The same for `seen`.
    for i in 10..13 {
        dovecot.deliver("INBOX", &notification(i));
    }
    let s = Setup::new(&plain(&dovecot), "", NO_RULES);
    assert_eq!(s.once()["events_new"], 3);
    let seen = format!(
        "db = \"m.db\"\n[[account]]\nname = \"reg\"\nhost = \"127.0.0.1\"\nusername = \"reseller\"\npassword_env = \"MR_IMAP_PASSWORD\"\n{}\nafter = \"seen\"\n",
        plain(&dovecot)
    );
    std::fs::write(
        s.dir.path().join("mailroom.toml"),
        support::age::any_age(&seen),
    )
    .unwrap();
    s.once();
    let flags: Vec<String> = dovecot
        .messages("INBOX")
        .into_iter()
        .map(|m| m.flags)
        .collect();
    assert_eq!(flags.len(), 3);
    assert!(flags.iter().all(|f| f.contains('S')), "{flags:?}");
}

#[test]
fn several_folders_receiving_at_once_never_see_a_locked_database() {
    let certs = Certs::generate();
    let dovecot = Dovecot::start(&certs);
    let folders = ["INBOX", "A", "B", "C"];
    for f in &folders[1..] {
        dovecot.create_folder(f);
    }
    let account = format!(
        "{}\nfolders = [\"INBOX\", \"A\", \"B\", \"C\"]",
        plain(&dovecot)
    );
    let rules = "[[rule]]\nname = \"all\"\nforward = { to = \"ops@example.com\" }\n";
    let s = Setup::new(&account, "[smtp]\ndir = \"out\"\n", rules);
    let mut child = s.spawn_watch();
    s.wait("four folders watched", Duration::from_secs(20), || {
        s.log().matches("watching").count() == 4
    });
    let per = 40;
    std::thread::scope(|scope| {
        for (n, f) in folders.iter().enumerate() {
            let dovecot = &dovecot;
            scope.spawn(move || {
                for i in 0..per {
                    dovecot.deliver(f, &notification(n * 1000 + i));
                }
            });
        }
        // An import of the bundled samples writes beside watch at the same time.
        scope.spawn(|| {
            let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/samples");
            let import = s.run(&["import", samples]);
            assert!(
                import.status.success(),
                "import beside watch: {}",
                String::from_utf8_lossy(&import.stderr)
            );
        });
    });
    s.wait("every message", Duration::from_secs(60), || {
        s.count("SELECT COUNT(*) FROM events WHERE event_id LIKE 'ev%'") == (per * 4) as i64
    });
    s.wait("every forward written", Duration::from_secs(60), || {
        s.count("SELECT COUNT(*) FROM outbox WHERE state = 'done'")
            == s.count("SELECT COUNT(*) FROM outbox")
    });
    assert!(terminate(&mut child).success());
    let log = s.log();
    assert!(!log.contains("ERROR"), "errors in the log:\n{log}");
    assert!(!log.to_lowercase().contains("locked"), "{log}");
    assert!(!log.contains("IMAP error"), "a reconnect happened:\n{log}");
    assert_eq!(
        s.count("SELECT MAX(seen_count) FROM events WHERE event_id LIKE 'ev%'"),
        1
    );
}

#[test]
fn wrong_tls_settings_and_pinned_certificates_are_explained_quickly() {
    let certs = Certs::generate();
    let dovecot = Dovecot::start(&certs);
    dovecot.deliver("INBOX", &notification(1));
    let fail = |account: &str| -> String {
        let s = Setup::new(account, "", NO_RULES);
        let started = Instant::now();
        let out = s.run(&["watch", "--once"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "took {:?} to say it",
            started.elapsed()
        );
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!err.contains("Some(") && !err.contains("code:"), "{err}");
        err
    };
    // TLS from the first byte against the plain port.
    let err = fail(&format!(
        "port = {}\ntls = \"implicit\"",
        dovecot.imap_port()
    ));
    assert!(err.contains("tls = \"starttls\""), "{err}");
    // STARTTLS (and plain) against the implicit-TLS port: no 60 s wait.
    let err = fail(&format!(
        "port = {}\ntls = \"starttls\"",
        dovecot.imaps_port()
    ));
    assert!(err.contains("tls = \"implicit\""), "{err}");
    let err = fail(&format!("port = {}\ntls = \"none\"", dovecot.imaps_port()));
    assert!(err.contains("tls = \"implicit\""), "{err}");
    // An unknown certificate: what to set, with the fingerprint to pin.
    let err = fail(&format!(
        "port = {}\ntls = \"implicit\"",
        dovecot.imaps_port()
    ));
    let der = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(&certs.cert_pem)
        .output()
        .unwrap()
        .stdout;
    use sha2::Digest;
    let fp: String = sha2::Sha256::digest(&der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        err.contains("certificate of 127.0.0.1 is not trusted: set ca_file = \"…\" to the CA that signed it, or pin it with cert_fingerprint = \"sha256:"),
        "{err}"
    );
    assert!(err.contains(&fp), "the fingerprint to pin: {err}");
    // Pinned (no CA file): works, for implicit TLS and STARTTLS.
    for (port, tls) in [
        (dovecot.imaps_port(), "implicit"),
        (dovecot.imap_port(), "starttls"),
    ] {
        let s = Setup::new(
            &format!("port = {port}\ntls = \"{tls}\"\ncert_fingerprint = \"sha256:{fp}\""),
            "",
            NO_RULES,
        );
        assert_eq!(s.once()["events_new"], 1, "{tls}");
    }
    // A wrong pin is refused, naming what the server shows.
    let wrong = format!("sha256:{}", "00".repeat(32));
    let err = fail(&format!(
        "port = {}\ntls = \"implicit\"\ncert_fingerprint = \"{wrong}\"",
        dovecot.imaps_port()
    ));
    assert!(
        err.contains("does not match cert_fingerprint") && err.contains(&fp),
        "{err}"
    );
    // A missing move_to folder and a missing watched folder are named.
    let err = fail(&format!(
        "{}\nafter = \"move\"\nmove_to = \"Archive/Registrars\"",
        plain(&dovecot)
    ));
    assert!(
        err.contains("move_to folder \"Archive/Registrars\" does not exist")
            && err.contains("create it, or set after ="),
        "{err}"
    );
    let err = fail(&format!("{}\nfolders = [\"Nope\"]", plain(&dovecot)));
    assert!(err.contains("folder \"Nope\" cannot be opened"), "{err}");
}

/// A notification with a `size`-byte attachment (base64 lines of 76).
fn big_notification(i: usize, size: usize) -> Vec<u8> {
    let mut m = format!(
        "From: OpenSRS <notifications@opensrs.net>\r\nTo: reseller@example.com\r\n\
         Subject: Event notification: DOMAIN: NAMESERVER_UPDATE: big{i}\r\n\
         Message-ID: <big{i}@opensrs.net>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: application/json\r\n\r\n\
         {{\"object_data\":{{\"domain_name\":\"big{i}.example\"}},\"object\":\"DOMAIN\",\"event_id\":\"big{i}\",\
         \"event\":\"NAMESERVER_UPDATE\",\"event_date\":\"2026-11-20T06:59:00Z\"}}\r\n\
         --b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"zone.bin\"\r\n\r\n"
    )
    .into_bytes();
    let line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n";
    while m.len() < size {
        m.extend_from_slice(line);
    }
    m.extend_from_slice(b"--b--\r\n");
    m
}

/// Peak resident memory (VmHWM) of a running process, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn catching_up_a_folder_of_50_mb_messages_stays_under_200_mb() {
    let certs = Certs::generate();
    let dovecot = Dovecot::start(&certs);
    for i in 0..5 {
        dovecot.deliver("INBOX", &big_notification(i, 50 << 20));
    }
    for i in 0..20 {
        dovecot.deliver("INBOX", &notification(i));
    }
    let s = Setup::new(&plain(&dovecot), "", NO_RULES);
    let mut child = s
        .cmd(&["watch", "--once", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak = 0;
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if let Some(p) = peak_rss_kib(pid) {
            peak = peak.max(p);
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "watch --once took too long"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["events_new"], 25, "{report}");
    eprintln!("peak RSS {} MiB", peak / 1024);
    assert!(peak > 0, "no memory reading");
    assert!(peak < 200 * 1024, "peak RSS {} MiB", peak / 1024);
}
