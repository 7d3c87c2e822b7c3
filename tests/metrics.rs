//! `/metrics`, `/healthz` and `/readyz` (issue 13, item 3) on a running `mailroom
//! watch`: the scrape is parsed by the Prometheus project's own text-format parser
//! (python `prometheus_client`), and its figures agree with `mailroom events --stats`
//! and `mailroom outbox --json`; the intake latency of a registrar poll is recorded;
//! `/readyz` is 200 when every source synced and 503, naming the source, when an IMAP
//! account cannot connect.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::registrar::{Kind, RegistrarApi};

const PASSWORD: &str = "s3cr3t-autodns-pass-word";
const IMAP_PASSWORD: &str = "imap-pass-never-shown";

struct Env {
    dir: tempfile::TempDir,
    port: u16,
}

impl Env {
    fn new(sources: &str, rules: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        for d in ["inbox", "rules", "out"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let port = support::free_port();
        std::fs::write(
            dir.path().join("mailroom.toml"),
            support::age::any_age(&format!(
                "db = \"m.db\"\n[smtp]\ndir = \"out\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n\
                 [watch]\npoll_interval = \"300ms\"\n{sources}"
            )),
        )
        .unwrap();
        std::fs::write(dir.path().join("rules/10.toml"), rules).unwrap();
        Env { dir, port }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mailroom"));
        c.arg("--config")
            .arg(self.path("mailroom.toml"))
            .env_remove("MAILROOM_NOW")
            .env_remove("RUST_LOG")
            .env("AUTODNS_PASSWORD", PASSWORD)
            .env("MR_IMAP_PASSWORD", IMAP_PASSWORD)
            .env("MAILROOM_SQLITE_STATISTICS", "1");
        c
    }

    fn spawn_watch(&self) -> Running {
        let child = self
            .cmd()
            .arg("watch")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.path("watch.log")).unwrap())
            .spawn()
            .unwrap();
        support::wait_listening(self.port);
        Running(child)
    }

    fn get(&self, target: &str) -> (u16, String) {
        let r = support::http(self.port, "GET", target, "", b"");
        (r.status, String::from_utf8_lossy(&r.body).into_owned())
    }

    fn cli_json(&self, args: &[&str]) -> Value {
        let out = self.cmd().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn wait(&self, what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done() {
            assert!(
                Instant::now() < deadline,
                "{what}\n{}",
                std::fs::read_to_string(self.path("watch.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A metric family as the Prometheus parser read it.
/// A running `watch`, killed when the test ends, failed or not.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Family {
    kind: String,
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

/// `/metrics` through `prometheus_client.parser.text_string_to_metric_families`.
fn parse(exposition: &str) -> BTreeMap<String, Family> {
    let script = "import sys, json\n\
from prometheus_client.parser import text_string_to_metric_families\n\
out = [{'name': f.name, 'type': f.type, 'samples': [[s.name, s.labels, s.value] for s in f.samples]}\n\
       for f in text_string_to_metric_families(sys.stdin.read())]\n\
print(json.dumps(out))\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused /metrics (pip install prometheus_client): {}\n{exposition}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    parsed
        .into_iter()
        .map(|f| {
            let samples = f["samples"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    let labels = s[1]
                        .as_object()
                        .unwrap()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                        .collect();
                    (
                        s[0].as_str().unwrap().to_string(),
                        labels,
                        s[2].as_f64().unwrap(),
                    )
                })
                .collect();
            (
                f["name"].as_str().unwrap().to_string(),
                Family {
                    kind: f["type"].as_str().unwrap().to_string(),
                    samples,
                },
            )
        })
        .collect()
}

fn value(families: &BTreeMap<String, Family>, sample: &str, labels: &[(&str, &str)]) -> f64 {
    let family = families
        .values()
        .find(|f| f.samples.iter().any(|s| s.0 == sample))
        .unwrap_or_else(|| panic!("no sample {sample}"));
    family
        .samples
        .iter()
        .find(|s| {
            s.0 == sample
                && labels
                    .iter()
                    .all(|(k, v)| s.1.get(*k).map(String::as_str) == Some(v))
        })
        .unwrap_or_else(|| panic!("no sample {sample} {labels:?}"))
        .2
}

fn created(n: usize) -> String {
    format!(
        "From: notifications@opensrs.net\r\nTo: ops@example.com\r\n\
         Subject: Event notification: DOMAIN: CREATED: m-{n}\r\n\r\n\
         {{\"object_data\":{{\"domain_name\":\"m{n}.example\"}},\"object\":\"DOMAIN\",\
         \"event_id\":\"m-{n}\",\"event\":\"CREATED\",\"event_date\":\"2026-11-20T10:00:00Z\"}}\r\n"
    )
}

#[test]
fn metrics_parse_as_prometheus_text_and_agree_with_events_stats_and_outbox() {
    let api = RegistrarApi::start(Kind::AutodnsJson, "user", PASSWORD);
    let hook = support::free_port(); // nothing listens: the webhook keeps failing
    let rules = format!(
        "[[rule]]\nname = \"mail\"\nwhen.registrar = \"opensrs\"\nforward = {{ to = [\"ops@example.com\"] }}\n\
         [[rule]]\nname = \"hook\"\nwhen.registrar = \"autodns\"\nwebhook = {{ url = \"http://127.0.0.1:{hook}/hook\" }}\n"
    );
    let env = Env::new(
        &format!(
            "[[maildir]]\nname = \"local\"\npath = \"inbox\"\n\
             [[poll]]\nname = \"adns\"\nregistrar = \"autodns\"\nurl = \"{}\"\nusername = \"user\"\npassword_env = \"AUTODNS_PASSWORD\"\ninterval = \"1s\"\n",
            api.url()
        ),
        &rules,
    );
    for n in 0..3 {
        std::fs::write(env.path(&format!("inbox/m{n}.eml")), created(n)).unwrap();
    }
    // The same mail twice (one message, two places) and one holding no notification.
    std::fs::write(env.path("inbox/copy-of-m0.eml"), created(0)).unwrap();
    std::fs::write(
        env.path("inbox/hello.eml"),
        "From: someone@example.com\r\nSubject: hello\r\n\r\nnothing to see\r\n",
    )
    .unwrap();
    api.set_queue(&[json!({"id": 701, "message": {
        "id": 701,
        "job": {"id": 4295609745u64, "domain": {"name": "p701.example"}},
        "stid": "20261120-stid",
        "object": {"type": "domain", "value": "p701.example"},
        "status": {"code": "S0101", "type": "SUCCESS"}
    }})]);
    let watch = env.spawn_watch();
    api.wait_for("ACK", 1, Duration::from_secs(30));
    env.wait("3 forwards written", || {
        std::fs::read_dir(env.path("out")).unwrap().count() >= 3
    });
    env.wait("the webhook tried", || {
        env.cli_json(&["outbox", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["channel"] == "webhook" && i["attempts"].as_i64() > Some(0))
    });

    let (status, body) = env.get("/metrics");
    assert_eq!(status, 200, "{body}");
    std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/target/test-output")).unwrap();
    std::fs::write(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/target/test-output/metrics.txt"
        ),
        &body,
    )
    .unwrap();
    let families = parse(&body);
    assert!(!body.contains(PASSWORD));
    promtool(&["check", "metrics"], Some(&body));
    // What Prometheus's own client libraries export, under their names.
    assert_eq!(
        value(
            &families,
            "mailroom_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    assert!(value(&families, "process_resident_memory_bytes", &[]) > 1e6);
    assert!(value(&families, "process_open_fds", &[]) >= 3.0);
    // With its statistics asked for, SQLite holds something once a store is open, and
    // less than the whole process.
    let sqlite = value(&families, "mailroom_sqlite_memory_bytes", &[]);
    assert!(
        sqlite > 0.0 && sqlite < value(&families, "process_resident_memory_bytes", &[]),
        "{sqlite}"
    );
    assert!(value(&families, "process_start_time_seconds", &[]) > 1.7e9);

    // Events stored, exactly as `events --stats` counts them.
    let stats = env.cli_json(&["events", "--stats", "--json"]);
    let rows = stats.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{stats}"); // opensrs domain.created, autodns job.result
    assert_eq!(families["mailroom_events_stored"].kind, "counter");
    assert_eq!(families["mailroom_events_stored"].samples.len(), rows.len());
    for r in rows {
        assert_eq!(
            value(
                &families,
                "mailroom_events_stored_total",
                &[
                    ("registrar", r["registrar"].as_str().unwrap()),
                    ("topic", r["topic"].as_str().unwrap())
                ]
            ),
            r["events"].as_f64().unwrap(),
            "{r}"
        );
    }

    // Outbox by state and deliveries by kind, as `outbox --json` lists them.
    let all = env.cli_json(&["outbox", "--all", "--json"]);
    let items = all.as_array().unwrap();
    assert_eq!(items.len(), 4, "3 forwards and a webhook: {all}");
    for state in ["pending", "done", "dead"] {
        let n = items.iter().filter(|i| i["state"] == state).count() as f64;
        assert_eq!(
            value(&families, "mailroom_outbox_items", &[("state", state)]),
            n,
            "{state}"
        );
    }
    let open = env
        .cli_json(&["outbox", "--json"])
        .as_array()
        .unwrap()
        .len() as f64;
    assert_eq!(
        value(&families, "mailroom_outbox_items", &[("state", "pending")])
            + value(&families, "mailroom_outbox_items", &[("state", "dead")]),
        open
    );
    assert_eq!(
        value(
            &families,
            "mailroom_deliveries_total",
            &[("kind", "forward"), ("result", "delivered")]
        ),
        3.0
    );
    assert_eq!(
        value(
            &families,
            "mailroom_deliveries_waiting",
            &[("kind", "webhook"), ("result", "retrying")]
        ),
        1.0
    );

    // Messages by channel and result.
    for (channel, result, n) in [
        ("file", "parsed", 3.0),
        ("file", "known", 1.0),
        ("file", "quarantined", 1.0),
        ("poll", "parsed", 1.0),
    ] {
        assert_eq!(
            value(
                &families,
                "mailroom_messages_total",
                &[("channel", channel), ("result", result)]
            ),
            n,
            "{channel} {result}"
        );
    }
    assert_eq!(value(&families, "mailroom_quarantined_messages", &[]), 1.0);

    // Per source: the last sync is recent, nothing failing; the poll was acknowledged.
    let now = mailroom::clock::now().timestamp() as f64;
    for source in ["local", "adns"] {
        let t = value(
            &families,
            "mailroom_source_last_success_timestamp_seconds",
            &[("source", source)],
        );
        assert!((now - t).abs() < 120.0, "{source}: {t} vs now {now}");
        assert_eq!(
            value(&families, "mailroom_source_failing", &[("source", source)]),
            0.0
        );
    }
    assert_eq!(families["mailroom_registrar_acknowledged"].kind, "counter");
    assert_eq!(
        value(
            &families,
            "mailroom_registrar_acknowledged_total",
            &[("source", "adns")]
        ),
        1.0
    );

    // The registrar poll's latency, request to commit, in the histogram.
    let h = &families["mailroom_intake_latency_seconds"];
    assert_eq!(h.kind, "histogram");
    let count = value(
        &families,
        "mailroom_intake_latency_seconds_count",
        &[("channel", "poll")],
    );
    assert!(count >= 1.0, "{count}");
    assert_eq!(
        value(
            &families,
            "mailroom_intake_latency_seconds_bucket",
            &[("channel", "poll"), ("le", "+Inf")]
        ),
        count
    );
    assert!(
        value(
            &families,
            "mailroom_intake_latency_seconds_sum",
            &[("channel", "poll")]
        ) > 0.0
    );

    // Healthy: up and ready.
    assert_eq!(env.get("/healthz"), (200, "ok\n".to_string()));
    let (status, body) = env.get("/readyz");
    assert_eq!(status, 200, "{body}");
    drop(watch);
}

#[test]
fn readyz_names_an_imap_account_that_cannot_connect() {
    let closed = support::free_port();
    let env = Env::new(
        &format!(
            "[[account]]\nname = \"registrar-mail\"\nhost = \"127.0.0.1\"\nport = {closed}\ntls = \"none\"\n\
             username = \"u\"\npassword_env = \"MR_IMAP_PASSWORD\"\nfolders = [\"INBOX\"]\n\
             [[maildir]]\nname = \"local\"\npath = \"inbox\"\n"
        ),
        "",
    );
    let watch = env.spawn_watch();
    let mut last = (0, String::new());
    env.wait("/readyz to say the account failed", || {
        last = env.get("/readyz");
        last.0 == 503 && last.1.contains("registrar-mail/INBOX")
    });
    let (_, body) = last;
    assert!(body.contains("last attempt failed"), "{body}");
    assert!(!body.contains("local"), "the local folder is fine: {body}");
    assert!(!body.contains(IMAP_PASSWORD));
    assert_eq!(env.get("/healthz").0, 200, "up, though not ready");
    let (_, metrics) = env.get("/metrics");
    let families = parse(&metrics);
    assert_eq!(
        value(
            &families,
            "mailroom_source_failing",
            &[("source", "registrar-mail"), ("folder", "INBOX")]
        ),
        1.0
    );
    assert!(
        value(
            &families,
            "mailroom_source_errors_total",
            &[("source", "registrar-mail"), ("folder", "INBOX")]
        ) >= 1.0
    );
    drop(watch);
}

#[test]
fn an_idle_wake_up_is_timed_to_its_commit_and_a_connected_account_is_ready() {
    let certs = support::Certs::generate();
    let dovecot = support::Dovecot::start(&certs);
    let env = Env::new(
        &format!(
            "[[account]]\nname = \"mail\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n\
             username = \"{}\"\npassword_env = \"MR_IMAP_PASSWORD\"\n",
            dovecot.imap_port(),
            support::Dovecot::USER
        ),
        "",
    );
    let watch = Running(
        env.cmd()
            .env("MR_IMAP_PASSWORD", support::Dovecot::PASSWORD)
            .arg("watch")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(env.path("watch.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    env.wait("the folder watched", || {
        std::fs::read_to_string(env.path("watch.log")).is_ok_and(|l| l.contains("watching"))
    });
    env.wait("/readyz ready once the folder synced", || {
        env.get("/readyz") == (200, "ready\n".to_string())
    });
    // Let IDLE begin, then mail arrives: the server's notice wakes the watcher.
    std::thread::sleep(Duration::from_millis(500));
    dovecot.deliver("INBOX", created(9).as_bytes());
    let line = "mailroom_intake_latency_seconds_count{channel=\"imap-idle\"} 1";
    env.wait("the IDLE wake-up timed", || {
        env.get("/metrics").1.contains(line)
    });
    let families = parse(&env.get("/metrics").1);
    let sum = value(
        &families,
        "mailroom_intake_latency_seconds_sum",
        &[("channel", "imap-idle")],
    );
    assert!(sum > 0.0 && sum < 30.0, "{sum}");
    assert_eq!(
        value(
            &families,
            "mailroom_intake_latency_seconds_bucket",
            &[("channel", "imap-idle"), ("le", "+Inf")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &families,
            "mailroom_messages_total",
            &[("channel", "imap"), ("result", "parsed")]
        ),
        1.0
    );
    drop(watch);
}

/// Runs Prometheus's own `promtool` (unpacked by scripts/install-promtool.sh) and
/// asserts it finds nothing to say.
fn promtool(args: &[&str], stdin: Option<&str>) {
    use std::io::Write;
    let tool = std::env::var("MAILROOM_PROMTOOL_DIR")
        .unwrap_or_else(|_| "/opt/mailroom-test/prometheus".into())
        + "/usr/bin/promtool";
    let mut child = std::process::Command::new(&tool)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool}: {e} (scripts/install-promtool.sh unpacks it)"));
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}: {said}");
    if args[1] == "metrics" {
        assert!(
            said.trim().is_empty(),
            "promtool finds fault with /metrics: {said}"
        );
    }
}

#[test]
fn the_bundled_prometheus_alerting_rules_pass_promtool() {
    promtool(&["check", "rules", "contrib/alerts.yml"], None);
}
