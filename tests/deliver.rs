//! Rules, outbox and delivery against real servers started by the tests: an aiosmtpd
//! SMTP server (plain, STARTTLS with AUTH, implicit TLS, an untrusted certificate) and
//! an HTTP endpoint; the SMTP server stopped and started again; digests across
//! restarts (separate processes with the clock set); a bad rule file refused.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use support::{Certs, HttpResponse, HttpSink, SmtpOptions, SmtpSink};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new(config: &str, rules: &[(&str, &str)]) -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("mailroom.toml"),
            support::age::any_age(config),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("rules")).unwrap();
        for (name, text) in rules {
            std::fs::write(dir.path().join("rules").join(name), text).unwrap();
        }
        Env { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn run_at(&self, now: Option<&str>, args: &[&str]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mailroom"));
        c.arg("--config").arg(self.path("mailroom.toml")).args(args);
        c.env("MR_SMTP_PASSWORD", "s3cret-smtp")
            .env("MR_HOOK_SECRET", "hook-s3cret");
        match now {
            Some(t) => c.env("MAILROOM_NOW", t),
            None => c.env_remove("MAILROOM_NOW"),
        };
        let out = c.output().unwrap();
        for stream in [&out.stdout, &out.stderr] {
            let text = String::from_utf8_lossy(stream);
            assert!(!text.contains("s3cret"), "a secret was printed: {text}");
        }
        out
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_at(None, args)
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: {e}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    /// Writes notification emails and imports them.
    fn import(&self, emails: &[String]) {
        let mut paths = Vec::new();
        for (i, e) in emails.iter().enumerate() {
            let p = self.path(&format!("in-{}-{i}.eml", fastid()));
            std::fs::write(&p, e).unwrap();
            paths.push(p.display().to_string());
        }
        let mut args = vec!["import", "--json"];
        args.extend(paths.iter().map(String::as_str));
        let out = self.run(&args);
        assert!(
            out.status.success(),
            "import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn outbox(&self) -> Vec<Value> {
        self.json(&["outbox", "--all", "--json"])
            .as_array()
            .unwrap()
            .clone()
    }
}

fn fastid() -> u128 {
    std::time::SystemTime::UNIX_EPOCH
        .elapsed()
        .unwrap()
        .as_nanos()
}

/// An OpenSRS transfer notification, as OpenSRS sends it.
fn transfer(event_id: &str, domain: &str, status: &str) -> String {
    format!(
        "From: OpenSRS <notifications@opensrs.net>\r\nTo: reseller@example.com\r\n\
         Subject: Event notification: TRANSFER: STATUS_CHANGE: {event_id}\r\n\
         Message-ID: <{event_id}@opensrs.net>\r\nDate: Fri, 20 Nov 2026 07:00:00 +0000\r\n\r\n\
         {{\"object_data\":{{\"domain_name\":\"{domain}\",\"transfer_id\":\"8646809\",\"order_id\":0,\
         \"transfer_status\":\"{status}\"}},\"object\":\"TRANSFER\",\"event_id\":\"{event_id}\",\
         \"event\":\"STATUS_CHANGE\",\"event_date\":\"2026-11-20T06:59:00Z\"}}\r\n"
    )
}

fn smtp_config(port: u16, tls: &str, extra: &str) -> String {
    format!(
        "db = \"m.db\"\n[smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"{tls}\"\nfrom = \"mailroom <mailroom@example.net>\"\ntimeout = \"10s\"\n{extra}\n"
    )
}

const FORWARD_RULE: &str = r#"
[[rule]]
name = "transfers"
when.topic = "transfer.in"
forward = { to = ["ops@example.com"], cc = "boss@example.com", subject = "Transfer {{ status }}: {{ domain }}" }
"#;

fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    raw.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':').map(str::trim))
}

#[test]
fn forward_over_starttls_with_auth_arrives_with_attachments() {
    let certs = Certs::generate();
    let sink = SmtpSink::start(
        SmtpOptions::plain()
            .auth("mailroom", "s3cret-smtp")
            .require_starttls(&certs),
    );
    let extra = format!(
        "username = \"mailroom\"\npassword_env = \"MR_SMTP_PASSWORD\"\nca_file = \"{}\"",
        certs.ca_pem.display()
    );
    let env = Env::new(
        &smtp_config(sink.port(), "starttls", &extra),
        &[("10.toml", FORWARD_RULE)],
    );
    env.import(&[transfer("t-1", "shop.example", "completed")]);
    let out = env.run(&["deliver"]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        sink.log_tail(30)
    );
    let got = sink.received();
    assert_eq!(got.len(), 1);
    let mut rcpt = got[0].rcpt_to.clone();
    rcpt.sort();
    assert_eq!(rcpt, ["boss@example.com", "ops@example.com"]);
    let data = String::from_utf8_lossy(&got[0].data).to_string();
    assert_eq!(
        header(&data, "Subject"),
        Some("Transfer completed: shop.example")
    );
    assert!(data.contains("Content-Type: message/rfc822"), "{data}");
    assert!(data.contains("filename=\"original.eml\""));
    assert!(data.contains("filename=\"event.json\""));
    assert!(
        data.contains("Subject: Event notification: TRANSFER: STATUS_CHANGE: t-1"),
        "original attached"
    );
    // Delivered once: another run sends nothing.
    assert!(env.run(&["deliver"]).status.success());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sink.received().len(), 1);
    let items = env.outbox();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["state"], "done");
}

#[test]
fn implicit_tls_and_refusal_of_an_unknown_certificate() {
    let certs = Certs::generate();
    let sink = SmtpSink::start(SmtpOptions::plain().implicit_tls(&certs));
    let extra = format!("ca_file = \"{}\"", certs.ca_pem.display());
    let env = Env::new(
        &smtp_config(sink.port(), "implicit", &extra),
        &[("10.toml", FORWARD_RULE)],
    );
    env.import(&[transfer("t-2", "tls.example", "completed")]);
    assert!(
        env.run(&["deliver"]).status.success(),
        "{}",
        sink.log_tail(30)
    );
    assert_eq!(sink.wait_for(1, Duration::from_secs(5)).len(), 1);

    // A server whose certificate comes from a CA we were not told about: refused.
    let other = certs.other_ca();
    let stranger = SmtpSink::start(SmtpOptions::plain().implicit_tls(&other));
    let env = Env::new(
        &smtp_config(stranger.port(), "implicit", &extra),
        &[("10.toml", FORWARD_RULE)],
    );
    env.import(&[transfer("t-3", "tls.example", "completed")]);
    let out = env.run(&["deliver"]);
    assert_eq!(out.status.code(), Some(1));
    let items = env.outbox();
    assert_eq!(items[0]["state"], "pending");
    let err = items[0]["last_error"].as_str().unwrap().to_lowercase();
    assert!(
        err.contains("certificate") || err.contains("issuer"),
        "{err}"
    );
    assert!(stranger.received().is_empty());
}

#[test]
fn retry_all_requeues_what_waits_behind_an_unreachable_smtp_server_and_deliver_says_why() {
    let mut sink = SmtpSink::start(SmtpOptions::plain());
    sink.stop();
    let env = Env::new(
        &smtp_config(sink.port(), "none", ""),
        &[("10.toml", FORWARD_RULE)],
    );
    env.import(&[
        transfer("w-1", "a.example", "completed"),
        transfer("w-2", "b.example", "pending_owner"),
        transfer("w-3", "c.example", "cancelled"),
    ]);
    let out = env.run(&["deliver"]);
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    // The unreachable destination is the server, not a recipient.
    let server = format!("127.0.0.1:{}", sink.port());
    assert!(
        log.lines()
            .any(|l| l.contains("destination unreachable") && l.contains(&server)),
        "{log}"
    );
    // The next run tries nothing yet, and says what waits and why.
    let out = env.run(&["deliver"]);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(said.contains("waiting: 2 mail item(s)"), "{said}");
    assert!(said.contains("waiting: 1 mail item(s)"), "{said}");
    assert!(said.contains("outbox retry --all"), "{said}");
    // retry --all requeues every waiting item, the held-back ones too.
    let out = env.run(&["outbox", "retry", "--all"]);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(said.contains("3 item(s) requeued"), "{said}");
    sink.start_again();
    let out = env.run(&["deliver", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["delivered"],
        3,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn smtp_down_keeps_items_queued_then_each_is_delivered_once() {
    let mut sink = SmtpSink::start(SmtpOptions::plain());
    sink.stop();
    let env = Env::new(
        &smtp_config(sink.port(), "none", ""),
        &[("10.toml", FORWARD_RULE)],
    );
    env.import(&[
        transfer("d-1", "a.example", "completed"),
        transfer("d-2", "b.example", "pending_owner"),
        transfer("d-3", "c.example", "cancelled"),
    ]);
    let out = env.run(&["deliver"]);
    assert_eq!(out.status.code(), Some(1));
    let items = env.outbox();
    assert_eq!(items.len(), 3);
    // The first was tried; the server being unreachable, the others wait untried and
    // keep their own (zero) attempt counts and no borrowed error.
    assert!(items.iter().all(|i| i["state"] == "pending"));
    assert_eq!(items[0]["attempts"], 1);
    assert!(
        items[0]["last_error"].as_str().unwrap().contains("SMTP"),
        "{}",
        items[0]
    );
    for i in &items[1..] {
        assert_eq!(i["attempts"], 0, "{i}");
        assert!(i["last_error"].is_null(), "{i}");
    }
    // Not due yet: nothing is retried early.
    assert!(env.run(&["deliver"]).status.success());
    assert_eq!(env.outbox()[0]["attempts"], 1);

    sink.start_again();
    // An hour later every backoff has passed.
    let out = env.run_at(Some("+3600"), &["deliver", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["delivered"],
        3,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.run_at(Some("+7200"), &["deliver"]);
    std::thread::sleep(Duration::from_millis(300));
    let got = sink.received();
    assert_eq!(got.len(), 3);
    let mut subjects: Vec<String> = got
        .iter()
        .map(|m| {
            header(&String::from_utf8_lossy(&m.data), "Subject")
                .unwrap()
                .to_string()
        })
        .collect();
    subjects.sort();
    assert_eq!(
        subjects,
        [
            "Transfer cancelled: c.example",
            "Transfer completed: a.example",
            "Transfer pending_owner: b.example"
        ]
    );
}

fn verify(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    format!(
        "sha256={}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

#[test]
fn webhook_is_signed_idempotent_and_only_2xx_counts() {
    let hook = HttpSink::start();
    let rules = format!(
        "[[rule]]\nname = \"hook\"\nwhen.registrar = \"opensrs\"\nwebhook = {{ url = \"{}/registrar?token=abc\", secret_env = \"MR_HOOK_SECRET\" }}\n",
        hook.url()
    );
    let env = Env::new(
        "db = \"m.db\"\n[webhook]\ntimeout = \"2s\"\n",
        &[("10.toml", &rules)],
    );
    hook.set_status(500);
    env.import(&[transfer("w-1", "hook.example", "completed")]);
    assert_eq!(env.run(&["deliver"]).status.code(), Some(1));
    let items = env.outbox();
    assert!(
        items[0]["last_error"].as_str().unwrap().contains("500"),
        "{}",
        items[0]
    );
    assert!(
        !items[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("token=abc"),
        "URL query leaked"
    );

    hook.set_status(204);
    assert!(env.run_at(Some("+3600"), &["deliver"]).status.success());
    let reqs = hook.requests();
    assert_eq!(reqs.len(), 2, "one failed attempt, one delivered");
    let r = &reqs[1];
    assert_eq!(r.method, "POST");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("idempotency-key"), Some("opensrs:w-1"));
    assert_eq!(
        r.header("x-mailroom-signature").unwrap(),
        verify("hook-s3cret", &r.body)
    );
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["event_id"], "w-1");
    assert_eq!(body["topic"], "transfer.in");
    assert_eq!(body["status"], "completed");
    assert_eq!(body["data"]["object_data"]["domain_name"], "hook.example");
    assert_eq!(reqs[0].body, r.body, "the same bytes on every attempt");

    // A redirect is not followed and does not count: the item is given up.
    let target = HttpSink::start();
    hook.set_redirect(302, &format!("{}/elsewhere", target.url()));
    env.import(&[transfer("w-2", "hook.example", "pending_owner")]);
    assert_eq!(env.run(&["deliver"]).status.code(), Some(1));
    assert!(target.requests().is_empty(), "the redirect was followed");
    let dead: Vec<Value> = env
        .outbox()
        .into_iter()
        .filter(|i| i["state"] == "dead")
        .collect();
    assert_eq!(dead.len(), 1);
}

#[test]
fn given_up_deliveries_go_to_the_fallback_address() {
    let sink = SmtpSink::start(SmtpOptions::plain());
    let hook = HttpSink::start();
    hook.set_status(503);
    let rules = format!(
        "[[rule]]\nname = \"hook\"\nwebhook = {{ url = \"{}/h\" }}\n",
        hook.url()
    );
    let config = smtp_config(sink.port(), "none", "")
        + "[delivery]\nfallback_to = [\"postmaster@example.net\"]\ngive_up_after = \"1h\"\n";
    let env = Env::new(&config, &[("10.toml", &rules)]);
    env.import(&[transfer("f-1", "fb.example", "completed")]);
    assert_eq!(env.run(&["deliver"]).status.code(), Some(1));
    assert!(sink.received().is_empty());
    // Two hours on, the window is over: given up, the fallback mail goes out.
    let out = env.run_at(Some("+7200"), &["deliver", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["dead"], 1);
    assert_eq!(report["delivered"], 1);
    let got = sink.wait_for(1, Duration::from_secs(5));
    let fallback = String::from_utf8_lossy(&got[0]).to_string();
    assert!(fallback.contains("postmaster@example.net"));
    assert!(fallback.contains("undeliverable webhook"), "{fallback}");
    let items = env.outbox();
    assert_eq!(items.iter().filter(|i| i["state"] == "dead").count(), 1);
    // Retry requeues the dead item.
    let out = env.run(&["outbox", "retry", "--all"]);
    assert!(out.status.success());
    assert_eq!(
        env.outbox()
            .iter()
            .filter(|i| i["state"] == "pending")
            .count(),
        1
    );
}

const DIGEST_RULES: &str = r#"
[[rule]]
name = "all"
digest = "daily"

[[digest]]
name = "daily"
at = "08:00"
timezone = "UTC"
to = ["owner@example.com"]
"#;

#[test]
fn a_digest_is_sent_once_per_period_across_restarts_and_after_downtime() {
    let sink = SmtpSink::start(SmtpOptions::plain());
    let env = Env::new(
        &smtp_config(sink.port(), "none", ""),
        &[("90.toml", DIGEST_RULES)],
    );
    let deliver = |at: &str| {
        let out = env.run_at(Some(at), &["deliver"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let import_at = |at: &str, emails: &[String]| {
        for (i, e) in emails.iter().enumerate() {
            let p = env.path(&format!("d-{}-{i}.eml", fastid()));
            std::fs::write(&p, e).unwrap();
            assert!(
                env.run_at(Some(at), &["import", p.to_str().unwrap()])
                    .status
                    .success()
            );
        }
    };
    import_at(
        "2026-11-20T07:50:00Z",
        &[
            transfer("g-1", "one.example", "completed"),
            transfer("g-2", "two.example", "pending_owner"),
        ],
    );
    deliver("2026-11-20T07:59:00Z");
    assert!(sink.received().is_empty(), "the period has not ended");
    deliver("2026-11-20T08:00:30Z");
    let got = sink.wait_for(1, Duration::from_secs(5));
    let digest = String::from_utf8_lossy(&got[0]).to_string();
    assert!(digest.contains("multipart/alternative"));
    assert!(digest.contains("text/html"));
    assert!(digest.contains("one.example") && digest.contains("two.example"));
    assert!(
        header(&digest, "Subject")
            .unwrap()
            .contains("daily: 2 events"),
        "{digest}"
    );
    // Restarted (new processes) in the same period: nothing more.
    deliver("2026-11-20T08:05:00Z");
    deliver("2026-11-20T12:00:00Z");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sink.received().len(), 1);

    // Down for three days with one event waiting: one digest on start.
    import_at(
        "2026-11-20T09:00:00Z",
        &[transfer("g-3", "three.example", "completed")],
    );
    deliver("2026-11-23T09:30:00Z");
    let got = sink.wait_for(2, Duration::from_secs(5));
    let second = String::from_utf8_lossy(&got[1]).to_string();
    assert!(
        second.contains("three.example") && !second.contains("one.example"),
        "{second}"
    );
    deliver("2026-11-23T10:00:00Z");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sink.received().len(), 2);

    // Preview prints the open period without sending.
    import_at(
        "2026-11-23T10:00:00Z",
        &[transfer("g-4", "four.example", "completed")],
    );
    let out = env.run_at(
        Some("2026-11-23T10:30:00Z"),
        &["digest", "daily", "--preview"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("four.example") && text.contains("Counts"),
        "{text}"
    );
    assert_eq!(sink.received().len(), 2);
}

#[test]
fn a_bad_rule_file_is_refused_with_its_line() {
    let bad =
        "[[rule]]\nname = \"x\"\nwhen.colour = \"red\"\nforward = { to = \"ops@example.com\" }\n";
    let env = Env::new(
        "db = \"m.db\"\n",
        &[("10-ok.toml", FORWARD_RULE), ("20-bad.toml", bad)],
    );
    let out = env.run(&["rules", "check"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("20-bad.toml:3:6: unknown field \"colour\""),
        "{err}"
    );
    // Nothing runs on a bad rule set: import refuses before touching any mail.
    let p = env.path("x.eml");
    std::fs::write(&p, transfer("b-1", "bad.example", "completed")).unwrap();
    let out = env.run(&["import", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("20-bad.toml:3:6"));
    assert!(!env.path("m.db").exists() || env.json(&["events", "--count", "--json"])["count"] == 0);
}

#[test]
fn rules_test_topics_and_test_sends() {
    let sink = SmtpSink::start(SmtpOptions::plain());
    let hook = HttpSink::start();
    let rules = format!(
        "{FORWARD_RULE}\n[[rule]]\nname = \"hook\"\nwhen.topic = \"transfer.in\"\nwhen.domain = \"/\\\\.de$/\"\nwebhook = {{ url = \"{}/h\" }}\n",
        hook.url()
    );
    let env = Env::new(
        &smtp_config(sink.port(), "none", ""),
        &[("10.toml", &rules)],
    );
    let p = env.path("t.eml");
    std::fs::write(&p, transfer("r-1", "shop.example", "completed")).unwrap();
    let report = env.json(&["rules", "test", p.to_str().unwrap(), "--json"]);
    let verdicts = report[0]["rules"].as_array().unwrap();
    assert_eq!(verdicts[0]["matched"], true);
    assert_eq!(verdicts[1]["matched"], false);
    assert_eq!(verdicts[1]["failed"], "domain is \"shop.example\"");
    assert!(
        sink.received().is_empty() && hook.requests().is_empty(),
        "rules test sent something"
    );

    // topics counts the stored events of each type: it needs a database.
    assert!(env.run(&["reparse"]).status.success());
    let topics = env.json(&["topics", "--json"]);
    let line = topics
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["registrar"] == "opensrs" && t["name"] == "TRANSFER STATUS_CHANGE")
        .unwrap();
    assert_eq!(line["topic"], "transfer.in");
    assert_eq!(line["active"], true);
    assert_eq!(line["subscribers"][0]["subscription"], "yes");
    assert_eq!(line["subscribers"][1]["subscription"], "conditional");
    let inactive = topics
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "domain.transfer_out")
        .unwrap();
    assert_eq!(inactive["active"], false);

    let out = env.run(&["rules", "test", "--topic", "transfer.in", "--send"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = sink.wait_for(1, Duration::from_secs(5));
    let mail = String::from_utf8_lossy(&got[0]).to_string();
    assert!(
        header(&mail, "Subject").unwrap().starts_with("[TEST] "),
        "{mail}"
    );
    let reqs = hook.wait_for(1, Duration::from_secs(5));
    let body: Value = serde_json::from_slice(&reqs[0].body).unwrap();
    assert_eq!(body["kind"], "test");
    assert_eq!(body["topic"], "transfer.in");
    // No event was stored by the test.
    assert_eq!(env.json(&["events", "--count", "--json"])["count"], 0);
}

#[test]
fn an_error_answer_holds_back_only_its_url_and_an_unreachable_host_only_itself() {
    let hook = HttpSink::start();
    hook.set_path_status("/bad", 500);
    hook.set_path_status("/good", 200);
    // A port nobody listens on: connection refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let rules = format!(
        "[[rule]]\nname = \"bad\"\nwhen.status = \"completed\"\nwebhook = {{ url = \"{0}/bad\" }}\n\n\
         [[rule]]\nname = \"good\"\nwebhook = {{ url = \"{0}/good\" }}\n\n\
         [[rule]]\nname = \"down\"\nwhen.status = \"pending\"\nwebhook = {{ url = \"{down}/x\" }}\n",
        hook.url()
    );
    let env = Env::new(
        "db = \"m.db\"\n[webhook]\ntimeout = \"5s\"\n",
        &[("10.toml", &rules)],
    );
    let mails: Vec<String> = (0..3)
        .map(|i| transfer(&format!("c-{i}"), "x.example", "completed"))
        .chain((0..3).map(|i| transfer(&format!("p-{i}"), "y.example", "pending")))
        .collect();
    env.import(&mails);
    let out = env.run(&["deliver", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let items = env.outbox();
    let of = |rule: &str| -> Vec<&Value> { items.iter().filter(|i| i["rule"] == rule).collect() };
    // /good is on the same host as /bad: every one delivered, no error shown.
    assert_eq!(of("good").len(), 6);
    for i in of("good") {
        assert_eq!(i["state"], "done", "{i}");
        assert!(i["last_error"].is_null(), "{i}");
        assert_eq!(i["attempts"], 1, "{i}");
    }
    // Each /bad item was tried and carries its own error.
    assert_eq!(of("bad").len(), 3);
    for i in of("bad") {
        assert_eq!(
            (i["state"].as_str(), i["attempts"].as_u64()),
            (Some("pending"), Some(1)),
            "{i}"
        );
        assert!(i["last_error"].as_str().unwrap().contains("500"), "{i}");
    }
    let bad_requests = hook.requests().iter().filter(|r| r.path == "/bad").count();
    assert_eq!(bad_requests, 3);
    // The unreachable host: one tried, the others wait untried with their own counts.
    let down_items = of("down");
    assert_eq!(down_items.len(), 3);
    let tried: Vec<&&Value> = down_items.iter().filter(|i| i["attempts"] == 1).collect();
    assert_eq!(tried.len(), 1, "{down_items:?}");
    assert!(
        tried[0]["last_error"].as_str().unwrap().contains("POST"),
        "{}",
        tried[0]
    );
    for i in down_items.iter().filter(|i| i["attempts"] == 0) {
        assert!(
            i["last_error"].is_null(),
            "an untried item shows another's error: {i}"
        );
    }

    // Later the bad URL recovers: delivered items show no error any more.
    hook.set_path_status("/bad", 200);
    assert_eq!(
        env.run_at(Some("+7200"), &["deliver"]).status.code(),
        Some(1)
    );
    for i in env.outbox().iter().filter(|i| i["rule"] == "bad") {
        assert_eq!(i["state"], "done", "{i}");
        assert!(i["last_error"].is_null(), "{i}");
        assert_eq!(i["attempts"], 2, "{i}");
    }
}

#[test]
fn a_permanent_failure_says_so_in_the_fallback_mail_with_the_retry_command() {
    let sink = SmtpSink::start(SmtpOptions::plain());
    let hook = HttpSink::start();
    hook.set_status(404);
    let rules = format!(
        "[[rule]]\nname = \"hook\"\nwebhook = {{ url = \"{}/gone\" }}\n",
        hook.url()
    );
    let config = smtp_config(sink.port(), "none", "")
        + "[delivery]\nfallback_to = [\"postmaster@example.net\"]\n";
    let env = Env::new(&config, &[("10.toml", &rules)]);
    env.import(&[transfer("perm-1", "p.example", "completed")]);
    assert_eq!(env.run(&["deliver"]).status.code(), Some(1));
    let dead: Vec<Value> = env
        .outbox()
        .into_iter()
        .filter(|i| i["state"] == "dead")
        .collect();
    assert_eq!(dead.len(), 1);
    let id = dead[0]["id"].as_i64().unwrap();
    let got = sink.wait_for(1, Duration::from_secs(5));
    let mail = String::from_utf8_lossy(&got[0]).replace("=\r\n", "");
    assert!(mail.contains("refused permanently"), "{mail}");
    assert!(!mail.contains("give-up window"), "{mail}");
    assert!(
        mail.contains(&format!("mailroom outbox retry {id}")),
        "{mail}"
    );
    assert!(mail.contains("404"), "{mail}");
}

#[test]
fn rules_apply_queues_what_new_rules_ask_for_stored_events_once() {
    let sink = SmtpSink::start(SmtpOptions::plain());
    let env = Env::new(&smtp_config(sink.port(), "none", ""), &[]);
    env.import(&[
        transfer("ap-1", "a.example", "completed"),
        transfer("ap-2", "b.example", "completed"),
    ]);
    assert!(env.outbox().is_empty());
    std::fs::write(env.path("rules/10.toml"), FORWARD_RULE).unwrap();
    let dry = env.json(&[
        "rules",
        "apply",
        "--since",
        "2000-01-01",
        "--dry-run",
        "--json",
    ]);
    assert_eq!(dry.as_array().unwrap().len(), 2, "{dry}");
    assert!(env.outbox().is_empty(), "a dry run queued something");
    let done = env.json(&["rules", "apply", "--since", "2000-01-01", "--json"]);
    assert_eq!(done.as_array().unwrap().len(), 2, "{done}");
    assert_eq!(env.outbox().len(), 2);
    // Never twice: applying again, or delivering and applying again, queues nothing.
    let again = env.json(&["rules", "apply", "--since", "2000-01-01", "--json"]);
    assert_eq!(again.as_array().unwrap().len(), 0, "{again}");
    assert!(env.run(&["deliver"]).status.success());
    let again = env.json(&["rules", "apply", "--since", "2000-01-01", "--json"]);
    assert_eq!(again.as_array().unwrap().len(), 0, "{again}");
    assert_eq!(sink.wait_for(2, Duration::from_secs(5)).len(), 2);
    // A new event after the rule exists gets its forward at import, not again by apply.
    env.import(&[transfer("ap-3", "c.example", "completed")]);
    let again = env.json(&["rules", "apply", "--since", "2000-01-01", "--json"]);
    assert_eq!(again.as_array().unwrap().len(), 0, "{again}");
    assert_eq!(env.outbox().len(), 3);
}

#[test]
fn a_send_in_progress_is_never_taken_over_by_a_watch_started_beside_it() {
    // The SMTP server takes 4 s to answer DATA; `deliver` is in the middle of it when
    // `watch --once` starts and works the same outbox.
    let sink = SmtpSink::start(SmtpOptions::plain().data_delay(Duration::from_secs(4)));
    let config =
        smtp_config(sink.port(), "none", "") + "[[maildir]]\nname = \"local\"\npath = \"inbox\"\n";
    let env = Env::new(&config, &[("10.toml", FORWARD_RULE)]);
    std::fs::create_dir_all(env.path("inbox")).unwrap();
    env.import(&[transfer("slow-1", "slow.example", "completed")]);
    let mut deliver = Command::new(env!("CARGO_BIN_EXE_mailroom"))
        .arg("--config")
        .arg(env.path("mailroom.toml"))
        .arg("deliver")
        .env_remove("MAILROOM_NOW")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until deliver holds the claim.
    let start = std::time::Instant::now();
    loop {
        let conn = rusqlite::Connection::open(env.path("m.db")).unwrap();
        let held: Option<String> = conn
            .query_row("SELECT claimed_by FROM outbox", [], |r| r.get(0))
            .unwrap_or(None);
        if held.is_some() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "deliver never claimed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let watch = env.run(&["watch", "--once", "--json"]);
    let report: Value = serde_json::from_slice(&watch.stdout).unwrap();
    assert_eq!(report["delivery"]["delivered"], 0, "{report}");
    assert!(deliver.wait().unwrap().success());
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(sink.received().len(), 1, "the forward was sent twice");
    let items = env.outbox();
    assert_eq!(items[0]["state"], "done");
    assert_eq!(items[0]["attempts"], 1);
}

#[test]
fn message_ids_do_not_depend_on_how_the_database_path_is_spelled() {
    let env = Env::new(
        "db = \"m.db\"\n[smtp]\ndir = \"out\"\n",
        &[("10.toml", FORWARD_RULE)],
    );
    env.import(&[transfer("mid-1", "m.example", "completed")]);
    std::os::unix::fs::symlink(env.path("m.db"), env.path("link.db")).unwrap();
    // Delivered once through the link; the same item retried through the real path.
    let link = env.path("link.db").display().to_string();
    assert!(env.run(&["--db", &link, "deliver"]).status.success());
    let first: Vec<PathBuf> = std::fs::read_dir(env.path("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let id_of = |p: &PathBuf| {
        let text = std::fs::read_to_string(p).unwrap();
        header(&text, "Message-ID").unwrap().to_string()
    };
    let via_link = id_of(&first[0]);
    let conn = rusqlite::Connection::open(env.path("m.db")).unwrap();
    conn.execute(
        "UPDATE outbox SET state = 'pending', next_attempt = '2000-01-01T00:00:00Z'",
        [],
    )
    .unwrap();
    drop(conn);
    std::fs::remove_file(&first[0]).unwrap();
    assert!(env.run(&["deliver"]).status.success());
    let second: Vec<PathBuf> = std::fs::read_dir(env.path("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(id_of(&second[0]), via_link);
}

#[test]
fn a_batch_of_forwards_goes_over_one_smtp_session() {
    let sink = SmtpSink::start(SmtpOptions::plain());
    let env = Env::new(
        &smtp_config(sink.port(), "none", ""),
        &[("10.toml", FORWARD_RULE)],
    );
    let mails: Vec<String> = (0..5)
        .map(|i| transfer(&format!("batch-{i}"), &format!("b{i}.example"), "completed"))
        .collect();
    env.import(&mails);
    let out = env.run(&["deliver", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sink.wait_for(5, Duration::from_secs(5)).len(), 5);
    std::thread::sleep(Duration::from_millis(300));
    let log = sink.log_tail(400);
    assert_eq!(
        log.matches(">> b'EHLO").count(),
        1,
        "one session for the batch:\n{log}"
    );
    assert_eq!(
        log.matches(">> b'RSET'").count(),
        4,
        "RSET between mails:\n{log}"
    );
    assert_eq!(
        log.matches(">> b'QUIT'").count(),
        1,
        "closed at the end:\n{log}"
    );
}

#[test]
fn many_calls_to_a_host_that_is_down_cost_one_try_across_batches() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let rules = format!("[[rule]]\nname = \"down\"\nwebhook = {{ url = \"{down}/x\" }}\n");
    let env = Env::new("db = \"m.db\"\n", &[("10.toml", &rules)]);
    let mails: Vec<String> = (0..300)
        .map(|i| transfer(&format!("dn-{i}"), "d.example", "completed"))
        .collect();
    env.import(&mails);
    let started = std::time::Instant::now();
    let out = env.run(&["deliver", "--json"]);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failed"], 1, "{report}");
    assert_eq!(report["deferred"], 299, "{report}");
    let tried = env.outbox().iter().filter(|i| i["attempts"] == 1).count();
    assert_eq!(tried, 1);
}

/// `[webhook] concurrency`: one call at a time to a host by default (each answer
/// recorded before the next call, so a kill repeats at most one), as many as set.
#[test]
fn webhook_calls_to_one_host_go_one_at_a_time_unless_set_otherwise() {
    for (setting, want) in [("", 1), ("[webhook]\nconcurrency = 4\n", 4)] {
        let hook = HttpSink::start();
        hook.set_response(HttpResponse::status(204).delay(Duration::from_millis(150)));
        let rules = format!(
            "[[rule]]\nname = \"hook\"\nwebhook = {{ url = \"{}/x\" }}\n",
            hook.url()
        );
        let env = Env::new(&format!("db = \"m.db\"\n{setting}"), &[("10.toml", &rules)]);
        let mails: Vec<String> = (0..12)
            .map(|i| transfer(&format!("cc-{i}"), "c.example", "completed"))
            .collect();
        env.import(&mails);
        let out = env.run(&["deliver", "--json"]);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["delivered"], 12, "{report}");
        assert_eq!(hook.requests().len(), 12);
        assert_eq!(hook.max_in_flight(), want, "{setting:?}");
    }
}
