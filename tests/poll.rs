//! Registrar poll channels (issue 11) against test servers that follow the registrars'
//! documentation: OpenSRS `EVENT POLL` / `ACK` over XCP, AutoDNS `GET /poll` +
//! `PUT /poll/{id}` and tasks 0905/0906. Real `mailroom watch` processes: every event
//! stored once, acknowledged only after the commit, forwarded once; a kill between
//! commit and ack absorbed by dedup; the same message by poll and by fallback email one
//! event; wrong credentials a clear error, retried with backoff; no secret anywhere.

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::registrar::{Kind, RegistrarApi};

const KEY: &str = "s3cr3t-opensrs-key-0123456789abcdef";
const PASSWORD: &str = "s3cr3t-autodns-pass-word";

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    /// A config with `[smtp] dir = "out"`, a forward-everything rule and `extra`.
    fn new(extra: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        for d in ["rules", "out", "inbox"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        std::fs::write(
            dir.path().join("mailroom.toml"),
            support::age::any_age(&format!("db = \"m.db\"\n[smtp]\ndir = \"out\"\n{extra}")),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("rules/10.toml"),
            "[[rule]]\nname = \"all\"\nwhen.registrar = [\"opensrs\", \"autodns\"]\nforward = { to = [\"ops@example.com\"] }\n",
        )
        .unwrap();
        Env { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mailroom"));
        c.arg("--config").arg(self.path("mailroom.toml")).args(args);
        c.env_remove("MAILROOM_NOW")
            .env_remove("RUST_LOG")
            .env("OPENSRS_KEY", KEY)
            .env("AUTODNS_PASSWORD", PASSWORD)
            .env("WRONG_KEY", "not-the-key");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn once(&self) -> Output {
        let out = self.run(&["watch", "--once"]);
        assert_no_secret(&out.stdout);
        assert_no_secret(&out.stderr);
        out
    }

    fn spawn_watch(&self) -> Child {
        self.cmd(&["watch"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.path("watch.log")).unwrap())
            .spawn()
            .unwrap()
    }

    fn count(&self, sql: &str) -> i64 {
        let conn = rusqlite::Connection::open(self.path("m.db")).unwrap();
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    fn forwards(&self) -> usize {
        std::fs::read_dir(self.path("out"))
            .map(|d| d.filter_map(Result::ok).count())
            .unwrap_or(0)
    }

    fn wait(&self, what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while !ok() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\n{}",
                std::fs::read_to_string(self.path("watch.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every byte of the database, its WAL and the outgoing mail hold no secret.
    fn assert_no_secret_stored(&self) {
        for f in ["m.db", "m.db-wal", "watch.log"] {
            if let Ok(bytes) = std::fs::read(self.path(f)) {
                assert_no_secret(&bytes);
            }
        }
        for e in std::fs::read_dir(self.path("out")).unwrap().flatten() {
            assert_no_secret(&std::fs::read(e.path()).unwrap());
        }
    }
}

fn assert_no_secret(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for s in [KEY, PASSWORD] {
        assert!(!text.contains(s), "a secret leaked: {text}");
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn opensrs_event(i: usize) -> Value {
    let id = format!("0000000000000000000000000000ev{i:02}");
    json!({
        "id": id,
        "object_data": {"domain_name": format!("d{i}.example"), "domain_id": format!("{i}"), "zone_check_status": "invalid"},
        "object": "DOMAIN",
        "event_id": id,
        "event": "ZONE_CHECK_STATUS_CHANGE",
        "event_date": "2026-11-20T06:59:00Z"
    })
}

fn autodns_message(id: u64) -> Value {
    json!({
        "id": id,
        "message": {
            "id": id,
            "job": {"id": 4295609745u64, "domain": {"name": format!("m{id}.example")}},
            "stid": "20261120-stid",
            "object": {"type": "domain", "value": format!("m{id}.example")},
            "status": {"code": "S0101", "type": "SUCCESS"}
        }
    })
}

fn poll_section(api: &RegistrarApi, extra: &str) -> String {
    match api.kind {
        Kind::Opensrs => format!(
            "[[poll]]\nname = \"osrs\"\nregistrar = \"opensrs\"\nurl = \"{}\"\nusername = \"reseller\"\nkey_env = \"OPENSRS_KEY\"\ninterval = \"1s\"\n{extra}",
            api.url()
        ),
        Kind::AutodnsJson | Kind::AutodnsXml => format!(
            "[[poll]]\nname = \"adns\"\nregistrar = \"autodns\"\nurl = \"{}\"\nusername = \"user\"\npassword_env = \"AUTODNS_PASSWORD\"\ncontext = 4\nformat = \"{}\"\ninterval = \"1s\"\n{extra}",
            api.url(),
            if api.kind == Kind::AutodnsXml {
                "xml"
            } else {
                "json"
            }
        ),
    }
}

#[test]
fn opensrs_events_are_polled_in_batches_stored_once_acked_and_forwarded_once() {
    let api = RegistrarApi::start(Kind::Opensrs, "reseller", KEY);
    api.set_queue(&(1..=5).map(opensrs_event).collect::<Vec<_>>());
    let env = Env::new(&poll_section(&api, "batch = 2\n"));
    let out = env.once();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env.count("SELECT COUNT(*) FROM events"), 5);
    assert_eq!(env.count("SELECT MAX(seen_count) FROM events"), 1);
    assert_eq!(api.acked().len(), 5);
    // `limit` honoured: 2 + 2 + 1, then an empty poll.
    let polls: Vec<Value> = api
        .requests()
        .into_iter()
        .filter(|r| r["action"] == "POLL")
        .collect();
    assert_eq!(polls.len(), 4, "{polls:?}");
    assert!(polls.iter().all(|p| p["limit"] == 2));
    // One forward per reply (the events of one message are grouped).
    assert_eq!(env.forwards(), 3);
    // Stored is the reply (OPS XML with the events), never the signed request.
    assert_eq!(
        env.count("SELECT COUNT(*) FROM message_sources WHERE source LIKE 'poll:osrs#%'"),
        3
    );
    // Again: the queue is empty, nothing new, nothing sent twice.
    let out = env.once();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env.count("SELECT COUNT(*) FROM events"), 5);
    assert_eq!(env.forwards(), 3);
    env.assert_no_secret_stored();
    let status = env.run(&["status", "--json"]);
    let v: Value = serde_json::from_slice(&status.stdout).unwrap();
    let f = v["folders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["source"] == "osrs")
        .cloned()
        .unwrap();
    assert!(f["last_sync"].is_string(), "{f}");
    assert_eq!(f["messages"], 5, "{f}");
    assert_eq!(v["channels"]["osrs"]["acknowledged"], 5, "{v}");
    assert_eq!(v["channels"]["osrs"]["queue"], 0, "{v}");
}

#[test]
fn autodns_json_messages_are_polled_until_empty_and_confirmed_after_commit() {
    let api = RegistrarApi::start(Kind::AutodnsJson, "user", PASSWORD);
    api.set_queue(&[
        autodns_message(101),
        autodns_message(102),
        autodns_message(103),
    ]);
    let env = Env::new(&poll_section(&api, ""));
    let out = env.once();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        env.count("SELECT COUNT(*) FROM events WHERE registrar = 'autodns'"),
        3
    );
    assert_eq!(api.acked(), vec!["101", "102", "103"]);
    assert_eq!(env.forwards(), 3);
    // Each message is stored (committed) before its PUT: the acks follow the polls.
    let actions: Vec<String> = api
        .requests()
        .iter()
        .map(|r| r["action"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        actions,
        ["POLL", "ACK", "POLL", "ACK", "POLL", "ACK", "POLL"]
    );
    env.assert_no_secret_stored();
}

#[test]
fn autodns_xml_tasks_0905_and_0906_poll_and_confirm() {
    let api = RegistrarApi::start(Kind::AutodnsXml, "user", PASSWORD);
    let message = |id: u64| {
        json!({"id": id, "xml": format!(
            "<message><id>{id}</id><job><domain><name>x{id}.example</name></domain><job_id>42</job_id>\
             <status><code>S0101</code><type>success</type><object><type>domain</type><value>x{id}.example</value></object></status>\
             <stid>20261120-app1-1</stid></job><created>2026-11-20 14:03:02</created></message>")})
    };
    api.set_queue(&[message(1855680), message(1855681)]);
    let env = Env::new(&poll_section(&api, ""));
    let out = env.once();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        env.count("SELECT COUNT(*) FROM events WHERE registrar = 'autodns'"),
        2
    );
    assert_eq!(api.acked(), vec!["1855680", "1855681"]);
    assert_eq!(env.forwards(), 2);
    // The XML request carries the password in <auth>: it must never be what is stored.
    env.assert_no_secret_stored();
}

#[test]
fn a_wrong_key_is_refused_reported_with_code_and_text_and_retried_with_backoff() {
    let api = RegistrarApi::start(Kind::Opensrs, "reseller", KEY);
    api.set_queue(&[opensrs_event(1)]);
    let env = Env::new(&poll_section(&api, "").replace("OPENSRS_KEY", "WRONG_KEY"));
    let out = env.once();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("osrs: the registrar answered 400: Authentication Error."),
        "{err}"
    );
    assert!(!err.contains("not-the-key"), "{err}");
    assert_eq!(api.acked().len(), 0);
    // Nor in the machine-readable reports.
    for args in [&["watch", "--once", "--json"][..], &["status", "--json"]] {
        let out = env.run(args);
        for text in [&out.stdout, &out.stderr] {
            let text = String::from_utf8_lossy(text);
            assert!(
                !text.contains("not-the-key") && !text.contains(KEY),
                "{args:?}: {text}"
            );
        }
    }
    // The service keeps trying, but slowly: 1 s, 2 s, 4 s … (plus jitter).
    let before = api.count("AUTH");
    let mut child = env.spawn_watch();
    std::thread::sleep(Duration::from_millis(4500));
    let tries = api.count("AUTH") - before;
    let _ = child.kill();
    let _ = child.wait();
    assert!((2..=4).contains(&tries), "{tries} tries in 4.5 s");
    let log = std::fs::read_to_string(env.path("watch.log")).unwrap();
    assert!(log.contains("Authentication Error."), "{log}");
    assert!(!log.contains("not-the-key"), "{log}");
    let status = env.run(&["status"]);
    assert_eq!(status.status.code(), Some(1));
    assert!(
        stderr(&status).contains("osrs: last attempt failed: osrs: the registrar answered 400"),
        "{}",
        stderr(&status)
    );
    env.assert_no_secret_stored();
}

#[test]
fn autodns_wrong_password_and_context_are_told_apart_from_network_faults() {
    let api = RegistrarApi::start(Kind::AutodnsJson, "user", PASSWORD);
    api.set_queue(&[autodns_message(7)]);
    let env = Env::new(&poll_section(&api, "").replace("context = 4", "context = 5"));
    let out = env.once();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("adns: the registrar answered EF02022: Authentication error."),
        "{}",
        stderr(&out)
    );
    // A server error without a registrar reply: the HTTP status is what is reported.
    let env = Env::new(&poll_section(&api, ""));
    api.set_faults(json!({"fail": 1}));
    let out = env.once();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("adns: HTTP 500"), "{}", stderr(&out));
    // And the next run takes the message.
    let out = env.once();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(api.acked(), vec!["7"]);
}

#[test]
fn killed_between_commit_and_ack_the_message_comes_again_and_dedup_absorbs_it() {
    for kind in [Kind::Opensrs, Kind::AutodnsJson] {
        let api = RegistrarApi::start(
            kind,
            if kind == Kind::Opensrs {
                "reseller"
            } else {
                "user"
            },
            if kind == Kind::Opensrs { KEY } else { PASSWORD },
        );
        let queue = if kind == Kind::Opensrs {
            vec![opensrs_event(1), opensrs_event(2)]
        } else {
            vec![autodns_message(201)]
        };
        let events = queue.len() as i64;
        api.set_queue(&queue);
        api.set_faults(json!({"hang_ack": true}));
        let env = Env::new(&poll_section(&api, ""));
        let mut child = env.spawn_watch();
        // The acknowledgement is held by the server: by then the events are committed.
        api.wait_for("ACK-HELD", 1, Duration::from_secs(20));
        assert_eq!(env.count("SELECT COUNT(*) FROM events"), events);
        env.wait("the forward", Duration::from_secs(20), || {
            env.forwards() == 1
        });
        let queued = env.count("SELECT COUNT(*) FROM outbox");
        // SIGKILL: no ack went through.
        child.kill().unwrap();
        child.wait().unwrap();
        api.set_faults(json!({}));
        assert!(api.acked().is_empty());
        let out = env.once();
        assert!(out.status.success(), "{kind:?}: {}", stderr(&out));
        assert_eq!(api.acked().len(), events as usize, "{kind:?}");
        assert_eq!(env.count("SELECT COUNT(*) FROM events"), events, "{kind:?}");
        assert_eq!(env.forwards(), 1, "{kind:?}: forwarded twice");
        assert_eq!(
            env.count("SELECT COUNT(*) FROM outbox"),
            queued,
            "{kind:?}: an action queued twice"
        );
        env.assert_no_secret_stored();
    }
}

fn fallback_email(id: u64) -> String {
    let body = json!({
        "stid": "20261120-stid",
        "status": {"code": "S0905", "text": "The notification was polled successfully.", "type": "SUCCESS"},
        "object": {"type": "message", "value": id.to_string()},
        "data": [{"summary": 1, "message": autodns_message(id)["message"].clone()}]
    });
    format!(
        "From: AutoDNS <noreply@autodns.com>\r\nTo: domains@reseller.example\r\n\
         Subject: AutoDNS Notification {id}\r\nMessage-ID: <fb-{id}@autodns.com>\r\n\
         Date: Fri, 20 Nov 2026 07:00:00 +0000\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n{}\r\n",
        serde_json::to_string_pretty(&body).unwrap()
    )
}

#[test]
fn the_same_autodns_message_by_poll_and_by_fallback_email_is_one_event_in_either_order() {
    for email_first in [true, false] {
        let api = RegistrarApi::start(Kind::AutodnsJson, "user", PASSWORD);
        let env = Env::new(&format!(
            "{}[[maildir]]\nname = \"fallback\"\npath = \"inbox\"\n",
            poll_section(&api, "")
        ));
        let drop_mail = || {
            std::fs::write(env.path("inbox/fallback-301.eml"), fallback_email(301)).unwrap();
        };
        if email_first {
            drop_mail();
            let out = env.once();
            assert!(out.status.success(), "{}", stderr(&out));
            api.set_queue(&[autodns_message(301)]);
        } else {
            api.set_queue(&[autodns_message(301)]);
            let out = env.once();
            assert!(out.status.success(), "{}", stderr(&out));
            drop_mail();
        }
        let out = env.once();
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            env.count("SELECT COUNT(*) FROM events"),
            1,
            "email first: {email_first}"
        );
        assert_eq!(
            env.count("SELECT seen_count FROM events"),
            2,
            "email first: {email_first}"
        );
        assert_eq!(env.forwards(), 1, "email first: {email_first}");
        assert_eq!(api.acked(), vec!["301"]);
        // `events show` lists both channels.
        let show = env.run(&["events", "show", "1", "--json"]);
        let text = String::from_utf8_lossy(&show.stdout);
        assert!(text.contains("poll:adns#301"), "{text}");
        assert!(text.contains("fallback-301.eml"), "{text}");
    }
}

#[test]
fn bad_poll_settings_are_refused_at_load_with_their_position() {
    let env = Env::new(
        "[[poll]]\nname = \"o\"\nregistrar = \"opensrs\"\nusername = \"r\"\nkey_env = \"K\"\nbatch = 500\n",
    );
    let out = env.run(&["watch", "--once"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("mailroom.toml:9:1: poll o: batch = 500 is out of range"),
        "{}",
        stderr(&out)
    );
    let env = Env::new(
        "[[poll]]\nname = \"a\"\nregistrar = \"autodns\"\nurl = \"http://api.autodns.com/v1\"\nusername = \"u\"\npassword_env = \"P\"\n",
    );
    let out = env.run(&["watch", "--once"]);
    assert!(
        stderr(&out)
            .contains("mailroom.toml:7:1: poll a: url \"http://api.autodns.com/v1\" is plain http"),
        "{}",
        stderr(&out)
    );
    let env = Env::new(
        "[[poll]]\nname = \"a\"\nregistrar = \"autodns\"\nusername = \"u\"\nkey_env = \"K\"\n",
    );
    let out = env.run(&["watch", "--once"]);
    assert!(
        stderr(&out).contains("poll a: key_env does not apply to this registrar"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_unset_key_variable_is_refused_at_start_naming_its_line() {
    let env = Env::new(
        "[[poll]]\nname = \"o\"\nregistrar = \"opensrs\"\nusername = \"r\"\nkey_env = \"MAILROOM_TEST_UNSET_KEY\"\n",
    );
    let out = env.run(&["watch", "--once"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "mailroom.toml:8:1: poll o: environment variable MAILROOM_TEST_UNSET_KEY is not set"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_registrar_that_serves_an_acknowledged_message_again_is_reported_not_spun_on() {
    let api = RegistrarApi::start(Kind::AutodnsJson, "user", PASSWORD);
    api.set_queue(&[autodns_message(401)]);
    api.set_faults(json!({"forget_acks": true}));
    let env = Env::new(&poll_section(&api, ""));
    let started = Instant::now();
    let out = env.once();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("adns: the registrar served 401 again right after acknowledging it"),
        "{}",
        stderr(&out)
    );
    assert_eq!(api.count("POLL"), 2);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(env.count("SELECT COUNT(*) FROM events"), 1);
    assert_eq!(env.count("SELECT seen_count FROM events"), 1);
}

#[test]
fn regression_an_acknowledgement_the_registrar_refuses_does_not_stop_the_source() {
    // Found by the soak: OpenSRS answers an ACK of an event no longer queued with
    // 415 "not found"; the source stopped for good on it, polling nothing more.
    let api = RegistrarApi::start(Kind::Opensrs, "reseller", KEY);
    let mut gone = opensrs_event(2);
    gone["id"] = json!("left-the-queue-another-way");
    api.set_queue(&[opensrs_event(1), gone, opensrs_event(3)]);
    let env = Env::new(&poll_section(&api, ""));
    let out = env.once();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env.count("SELECT COUNT(*) FROM events"), 3);
    let acked = api.acked();
    assert_eq!(acked.len(), 2, "{acked:?}");
    assert!(
        stderr(&out).contains("refused the acknowledgement"),
        "{}",
        stderr(&out)
    );
    // Asked again, the one it keeps serving is recognised, not stored twice, and the
    // round ends (no loop asking for it at once).
    let out = env.once();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env.count("SELECT COUNT(*) FROM events"), 3);
    assert!(api.count("POLL") <= 4, "{}", api.count("POLL"));
}
