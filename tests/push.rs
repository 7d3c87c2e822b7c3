//! Registrar push receivers (issue 11) on a running `mailroom watch`: 200 only after the
//! commit, 401 a wrong token, 403 outside `allow_from`, 413 over the size cap, 400 a body
//! without a notification (kept in quarantine with its bytes); and the same AutoDNS
//! message by push, by poll and by fallback email is one event, seen three times,
//! forwarded once.

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use support::registrar::{Kind, RegistrarApi};

const TOKEN: &str = "push-t0ken-that-must-not-leak";
const PASSWORD: &str = "s3cr3t-autodns-pass-word";

struct Env {
    dir: tempfile::TempDir,
    port: u16,
}

impl Env {
    fn new(extra: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        for d in ["rules", "out", "inbox"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let port = support::free_port();
        std::fs::write(
            dir.path().join("mailroom.toml"),
            support::age::any_age(&format!(
                "db = \"m.db\"\n[smtp]\ndir = \"out\"\n[http]\nlisten = \"127.0.0.1:{port}\"\nmax_body = \"16KiB\"\n\
                 [[push]]\nname = \"adns-push\"\nregistrar = \"autodns\"\npath = \"/push/autodns\"\ntoken_env = \"PUSH_TOKEN\"\nallow_from = [\"127.0.0.0/8\"]\n\
                 [[push]]\nname = \"far\"\nregistrar = \"autodns\"\npath = \"/push/far\"\nallow_from = [\"62.116.129.216/32\"]\n{extra}"
            )),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("rules/10.toml"),
            "[[rule]]\nname = \"all\"\nwhen.registrar = \"autodns\"\nforward = { to = [\"ops@example.com\"] }\n",
        )
        .unwrap();
        Env { dir, port }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mailroom"));
        c.arg("--config").arg(self.path("mailroom.toml")).args(args);
        c.env_remove("MAILROOM_NOW")
            .env_remove("RUST_LOG")
            .env("PUSH_TOKEN", TOKEN)
            .env("AUTODNS_PASSWORD", PASSWORD)
            .env("MR_IMAP_PASSWORD", support::Dovecot::PASSWORD);
        c
    }

    fn seen(&self) -> i64 {
        if !self.path("m.db").exists() {
            return 0;
        }
        self.count("SELECT COALESCE(MAX(seen_count), 0) FROM events")
    }

    fn wait_seen(&self, n: i64, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.seen() < n {
            assert!(
                Instant::now() < deadline,
                "{what}: seen {} times, wanted {n}\n{}",
                self.seen(),
                std::fs::read_to_string(self.path("watch.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn spawn_watch(&self) -> Child {
        let child = self
            .cmd(&["watch"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.path("watch.log")).unwrap())
            .spawn()
            .unwrap();
        support::wait_listening(self.port);
        child
    }

    /// POSTs `body` to `target`; the status code.
    fn post(&self, target: &str, headers: &str, body: &[u8]) -> u16 {
        let headers = format!("Host: localhost\r\nContent-Type: application/json\r\n{headers}");
        support::http(self.port, "POST", target, &headers, body).status
    }

    fn count(&self, sql: &str) -> i64 {
        let conn = rusqlite::Connection::open(self.path("m.db")).unwrap();
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    fn forwards(&self) -> usize {
        std::fs::read_dir(self.path("out")).unwrap().count()
    }

    fn wait_forwards(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.forwards() < n {
            assert!(Instant::now() < deadline, "no forward");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn message(id: u64) -> serde_json::Value {
    json!({
        "id": id,
        "job": {"id": 4295609745u64, "domain": {"name": format!("m{id}.example")}},
        "stid": "20261120-stid",
        "object": {"type": "domain", "value": format!("m{id}.example")},
        "status": {"code": "S0101", "type": "SUCCESS"}
    })
}

/// The body AutoDNS pushes (and mails as fallback): the poll format.
fn push_body(id: u64) -> String {
    serde_json::to_string_pretty(&json!({
        "stid": "20261120-stid",
        "status": {"code": "S0905", "text": "The notification was polled successfully.", "type": "SUCCESS"},
        "object": {"type": "message", "value": id.to_string()},
        "data": [{"summary": 1, "message": message(id)}]
    }))
    .unwrap()
}

#[test]
fn push_is_answered_by_what_happened_to_the_body() {
    let env = Env::new("");
    let mut child = env.spawn_watch();
    let body = push_body(501);
    assert_eq!(env.post("/push/autodns", "", body.as_bytes()), 401);
    assert_eq!(
        env.post("/push/autodns?token=wrong", "", body.as_bytes()),
        401
    );
    assert_eq!(env.post("/push/far", "", body.as_bytes()), 403);
    assert_eq!(
        env.post(
            &format!("/push/autodns?token={TOKEN}"),
            "",
            &vec![b'x'; 20 << 10]
        ),
        413
    );
    assert_eq!(env.count("SELECT COUNT(*) FROM messages"), 0);
    // Garbage: 400, and kept in quarantine with its bytes.
    let garbage = b"{\"hello\": \"not a notification\"}";
    assert_eq!(
        env.post(
            "/push/autodns",
            &format!("X-Mailroom-Token: {TOKEN}\r\n"),
            garbage
        ),
        400
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM messages WHERE status = 'quarantined' AND raw_complete = 1 AND raw_len = length(CAST('{\"hello\": \"not a notification\"}' AS BLOB))"),
        1
    );
    // The real thing: 200 after the commit; the same push again stores nothing new.
    let auth = format!("Authorization: Bearer {TOKEN}\r\n");
    assert_eq!(env.post("/push/autodns", &auth, body.as_bytes()), 200);
    assert_eq!(env.count("SELECT COUNT(*) FROM events"), 1);
    assert_eq!(env.post("/push/autodns", &auth, body.as_bytes()), 200);
    assert_eq!(env.count("SELECT COUNT(*) FROM events"), 1);
    assert_eq!(env.count("SELECT seen_count FROM events"), 1);
    env.wait_forwards(1);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(env.forwards(), 1);
    let _ = child.kill();
    let _ = child.wait();
    let status = env.cmd(&["status", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let answers = &v["channels"]["adns-push"];
    assert_eq!(answers["answered 200"], 2, "{v}");
    assert_eq!(answers["answered 401"], 2, "{v}");
    assert_eq!(answers["answered 413"], 1, "{v}");
    assert_eq!(answers["answered 400"], 1, "{v}");
    assert_eq!(v["channels"]["far"]["answered 403"], 1, "{v}");
    for f in ["m.db", "m.db-wal", "watch.log"] {
        if let Ok(b) = std::fs::read(env.path(f)) {
            assert!(
                !String::from_utf8_lossy(&b).contains(TOKEN),
                "{f} holds the token"
            );
        }
    }
}

#[test]
fn the_same_message_by_push_poll_and_fallback_email_is_one_event_seen_three_times() {
    let api = RegistrarApi::start(Kind::AutodnsJson, "user", PASSWORD);
    let env = Env::new(&format!(
        "[[poll]]\nname = \"adns\"\nregistrar = \"autodns\"\nurl = \"{}\"\nusername = \"user\"\npassword_env = \"AUTODNS_PASSWORD\"\ninterval = \"1s\"\n\
         [[maildir]]\nname = \"fallback\"\npath = \"inbox\"\n[watch]\npoll_interval = \"1s\"\n",
        api.url()
    ));
    let mut child = env.spawn_watch();
    // Push first, then the poll queue, then the fallback email.
    let auth = format!("X-Mailroom-Token: {TOKEN}\r\n");
    assert_eq!(
        env.post("/push/autodns", &auth, push_body(601).as_bytes()),
        200
    );
    let mut item = json!({"id": 601, "message": message(601)});
    item["message"]["id"] = json!(601);
    api.set_queue(&[item]);
    api.wait_for("ACK", 1, Duration::from_secs(20));
    let mail = format!(
        "From: AutoDNS <noreply@autodns.com>\r\nTo: domains@reseller.example\r\nSubject: AutoDNS Notification 601\r\n\
         Message-ID: <fb-601@autodns.com>\r\nDate: Fri, 20 Nov 2026 07:00:00 +0000\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n{}\r\n",
        push_body(601)
    );
    std::fs::write(env.path("inbox/fallback-601.eml"), mail).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while env.count("SELECT COALESCE(MAX(seen_count), 0) FROM events") < 3 {
        assert!(
            Instant::now() < deadline,
            "seen {} times\n{}",
            env.count("SELECT COALESCE(MAX(seen_count), 0) FROM events"),
            std::fs::read_to_string(env.path("watch.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(env.count("SELECT COUNT(*) FROM events"), 1);
    assert_eq!(env.forwards(), 1);
    assert_eq!(api.acked(), vec!["601"]);
}

fn fallback_mail(id: u64) -> Vec<u8> {
    format!(
        "From: AutoDNS <noreply@autodns.com>\r\nTo: domains@reseller.example\r\nSubject: AutoDNS Notification {id}\r\n\
         Message-ID: <fb-{id}@autodns.com>\r\nDate: Fri, 20 Nov 2026 07:00:00 +0000\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n{}\r\n",
        push_body(id)
    )
    .into_bytes()
}

#[test]
fn push_poll_and_fallback_email_in_dovecot_in_every_order_are_one_event_and_one_forward() {
    #[derive(Clone, Copy, Debug)]
    enum Channel {
        Push,
        Poll,
        Email,
    }
    use Channel::*;
    let orders = [
        [Push, Poll, Email],
        [Push, Email, Poll],
        [Poll, Push, Email],
        [Poll, Email, Push],
        [Email, Push, Poll],
        [Email, Poll, Push],
    ];
    let certs = support::Certs::generate();
    for (n, order) in orders.iter().enumerate() {
        let id = 700 + n as u64;
        let dovecot = support::Dovecot::start(&certs);
        let api = RegistrarApi::start(Kind::AutodnsJson, "user", PASSWORD);
        let env = Env::new(&format!(
            "[[poll]]\nname = \"adns\"\nregistrar = \"autodns\"\nurl = \"{}\"\nusername = \"user\"\npassword_env = \"AUTODNS_PASSWORD\"\ninterval = \"1s\"\n\
             [[account]]\nname = \"mail\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nusername = \"{}\"\npassword_env = \"MR_IMAP_PASSWORD\"\n\
             [watch]\npoll_interval = \"1s\"\ncommand_timeout = \"10s\"\n",
            api.url(),
            dovecot.imap_port(),
            support::Dovecot::USER
        ));
        let mut child = env.spawn_watch();
        for (k, channel) in order.iter().enumerate() {
            match channel {
                Push => {
                    let auth = format!("X-Mailroom-Token: {TOKEN}\r\n");
                    assert_eq!(
                        env.post("/push/autodns", &auth, push_body(id).as_bytes()),
                        200
                    );
                }
                Poll => {
                    api.set_queue(&[json!({"id": id, "message": message(id)})]);
                }
                Email => {
                    dovecot.deliver("INBOX", &fallback_mail(id));
                }
            }
            env.wait_seen(k as i64 + 1, &format!("{order:?} step {k}"));
        }
        api.wait_for("ACK", 1, Duration::from_secs(20));
        env.wait_forwards(1);
        std::thread::sleep(Duration::from_millis(300));
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(env.count("SELECT COUNT(*) FROM events"), 1, "{order:?}");
        assert_eq!(env.seen(), 3, "{order:?}");
        assert_eq!(env.forwards(), 1, "{order:?}");
        assert_eq!(api.acked(), vec![id.to_string()], "{order:?}");
        let show = env
            .cmd(&["events", "show", "1", "--json"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&show.stdout);
        for place in [
            format!("poll:adns#{id}"),
            "push:adns-push#".into(),
            "imap:mail/INBOX".into(),
        ] {
            assert!(
                text.contains(&place),
                "{order:?}: {place} not listed: {text}"
            );
        }
    }
}

#[test]
fn sighup_reload_keeps_the_push_receiver_answering() {
    let env = Env::new("");
    let mut child = env.spawn_watch();
    let auth = format!("X-Mailroom-Token: {TOKEN}\r\n");
    assert_eq!(
        env.post("/push/autodns", &auth, push_body(801).as_bytes()),
        200
    );
    let hup = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = std::fs::read_to_string(env.path("watch.log")).unwrap_or_default();
        if log.matches("HTTP server listening").count() >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not listening again after SIGHUP\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        env.post("/push/autodns", &auth, push_body(802).as_bytes()),
        200
    );
    assert_eq!(env.count("SELECT COUNT(*) FROM events"), 2);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_database_failure_is_answered_503_and_nothing_half_stored() {
    let env = Env::new("");
    let mut child = env.spawn_watch();
    let auth = format!("X-Mailroom-Token: {TOKEN}\r\n");
    assert_eq!(
        env.post("/push/autodns", &auth, push_body(901).as_bytes()),
        200
    );
    // Break the store under the running service: the next write fails.
    let conn = rusqlite::Connection::open(env.path("m.db")).unwrap();
    conn.execute_batch("PRAGMA foreign_keys = OFF; DROP TABLE raw_blocks")
        .unwrap();
    drop(conn);
    assert_eq!(
        env.post("/push/autodns", &auth, push_body(902).as_bytes()),
        503
    );
    assert_eq!(env.count("SELECT COUNT(*) FROM events"), 1);
    assert_eq!(env.count("SELECT COUNT(*) FROM messages"), 1);
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(env.path("watch.log")).unwrap();
    assert!(log.contains("push not stored: answered 503"), "{log}");
}
