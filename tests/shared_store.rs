//! Several instances on one PostgreSQL (issue 24, "done when"): two `mailroom watch`
//! processes share one Dovecot mailbox, one SMTP sink, one webhook sink and one real
//! PostgreSQL of the test's own. 1,000 messages arrive while one instance is SIGKILLed
//! and restarted several times. Afterwards every event is stored once; every forward
//! and webhook went out once per event, with at most one repeat per kill (mail goes one
//! after another, webhook calls one at a time to a host, each answer recorded before
//! the next; each repeat carrying the same Message-ID / Idempotency-Key); whenever the
//! holder of the folder
//! was killed, a live instance held it again within the lease plus one poll; and each
//! digest period was sent once.

mod support;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::mailroom::notification;
use support::postgres::{PASSWORD, Postgres};
use support::{Certs, Dovecot, HttpSink, SmtpOptions, SmtpSink};

const LEASE_S: u64 = 4;
const POLL_S: u64 = 1;

struct Instance {
    name: &'static str,
    child: Option<Child>,
    dir: std::path::PathBuf,
    starts: usize,
    /// The config file in `dir`.
    config: &'static str,
}

/// Waits until `f` holds, at most `limit`; else fails showing both instances' logs and
/// `more()`. How long it took.
fn wait_until(
    what: &str,
    limit: Duration,
    f: &mut dyn FnMut() -> bool,
    a: &Instance,
    b: &Instance,
    more: &dyn Fn() -> String,
) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}\n--- a:\n{}\n--- b:\n{}\n{}",
            a.log(),
            b.log(),
            more()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}

impl Instance {
    /// Not started yet: `watch` with `dir/config`, logging to `dir/NAME.log`.
    fn new(name: &'static str, dir: &std::path::Path, config: &'static str) -> Instance {
        Instance {
            name,
            child: None,
            dir: dir.to_path_buf(),
            starts: 0,
            config,
        }
    }

    fn start(&mut self) {
        self.starts += 1;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{}.log", self.name)))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_mailroom"))
            .arg("--config")
            .arg(self.dir.join(self.config))
            .arg("watch")
            .env("MR_IMAP_PASSWORD", "secret")
            .env("MR_PG_PASSWORD", PASSWORD)
            .env("MR_HOOK_SECRET", "hook-s3cret")
            .env_remove("MAILROOM_NOW")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap(); // SIGKILL
            c.wait().unwrap();
        }
    }

    /// Whether the process still runs (it was started and has not ended).
    fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("{}.log", self.name))).unwrap_or_default()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

fn subject(raw: &[u8]) -> String {
    header(raw, "Subject")
}

fn header(raw: &[u8], name: &str) -> String {
    let text = String::from_utf8_lossy(raw);
    let want = format!("{}:", name.to_ascii_lowercase());
    text.lines()
        .take_while(|l| !l.is_empty())
        .find(|l| l.to_ascii_lowercase().starts_with(&want))
        .map(|l| l[want.len()..].trim().to_string())
        .unwrap_or_default()
}

#[test]
fn two_instances_share_one_postgresql_through_kills() {
    let total = 1000usize;
    let kills = 4usize;
    let pg = Postgres::start();
    let certs = Certs::generate();
    let dovecot = Dovecot::start(&certs);
    let smtp = SmtpSink::start(SmtpOptions::plain());
    let hook = HttpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "db = \"{url}\"\n[store]\npassword_env = \"MR_PG_PASSWORD\"\nlease = \"{LEASE_S}s\"\n\
         [smtp]\nhost = \"127.0.0.1\"\nport = {smtp}\ntls = \"none\"\nfrom = \"mailroom@example.com\"\n\
         [delivery]\nfirst_backoff = \"1s\"\nmax_backoff = \"2s\"\n\
         [watch]\nidle_refresh = \"5m\"\ncommand_timeout = \"10s\"\nmax_reconnect_delay = \"2s\"\npoll_interval = \"{POLL_S}s\"\n\n\
         [[account]]\nname = \"reg\"\nhost = \"127.0.0.1\"\nport = {imap}\ntls = \"none\"\nusername = \"reseller\"\npassword_env = \"MR_IMAP_PASSWORD\"\n",
        url = pg.url(),
        smtp = smtp.port(),
        imap = dovecot.imap_port(),
    );
    std::fs::write(
        dir.path().join("mailroom.toml"),
        support::age::any_age(&config),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(
        dir.path().join("rules/10.toml"),
        format!(
            "[[rule]]\nname = \"all\"\nwhen.registrar = \"opensrs\"\n\
             forward = {{ to = \"ops@example.com\", subject = \"{{{{ event_id }}}}\" }}\n\
             webhook = {{ url = \"{hook}/registrar\", secret_env = \"MR_HOOK_SECRET\" }}\n\
             digest = \"minutely\"\n\n\
             [[digest]]\nname = \"minutely\"\ncron = \"0 * * * * *\"\nto = \"digest@example.com\"\n",
            hook = hook.url()
        ),
    )
    .unwrap();
    let mut a = Instance::new("a", dir.path(), "mailroom.toml");
    let mut b = Instance::new("b", dir.path(), "mailroom.toml");
    a.start();
    std::thread::sleep(Duration::from_millis(500));
    b.start();
    let holder = || -> String {
        pg.psql(
            "mailroom",
            "SELECT holder FROM leases WHERE source LIKE 'reg/%' AND until > CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        )
    };
    let wait =
        |what: &str, limit: Duration, f: &mut dyn FnMut() -> bool, a: &Instance, b: &Instance| {
            wait_until(what, limit, f, a, b, &String::new)
        };
    // The first instance to open the empty database makes its tables; until then there
    // is no `leases` to ask (a loaded machine may take a while).
    wait(
        "one instance to hold the folder",
        Duration::from_secs(30),
        &mut || {
            pg.psql("mailroom", "SELECT to_regclass('leases') IS NOT NULL") == "t"
                && !holder().is_empty()
        },
        &a,
        &b,
    );

    // Messages arrive in waves; the instance holding the folder is killed between them
    // (and started again), so each kill hands the folder over.
    let mut delivered = 0;
    let mut takeovers = Vec::new();
    for k in 0..=kills {
        let wave = if k == kills {
            total - delivered
        } else {
            total / (kills + 1)
        };
        for i in delivered..delivered + wave {
            dovecot.deliver("INBOX", &notification(i));
        }
        delivered += wave;
        if k == kills {
            break;
        }
        // Let some of the wave be stored (and some deliveries be in flight); the
        // holder may have stored all of it while it was being delivered.
        let stored_before: i64 = pg.count("SELECT COUNT(*) FROM events");
        wait(
            "part of the wave stored",
            Duration::from_secs(60),
            &mut || {
                let n = pg.count("SELECT COUNT(*) FROM events");
                n > stored_before || n == delivered as i64
            },
            &a,
            &b,
        );
        let held = holder();
        let victim = if held.contains(&format!(":{}:", a.pid())) {
            &mut a
        } else {
            &mut b
        };
        victim.kill();
        let killed_at = Instant::now();
        let after_kill = wait(
            "a live instance to hold the folder again",
            Duration::from_secs(LEASE_S + POLL_S + 30),
            &mut || {
                let h = holder();
                !h.is_empty() && h != held
            },
            &a,
            &b,
        );
        takeovers.push(after_kill);
        eprintln!(
            "kill {k}: folder held again after {:?}",
            killed_at.elapsed()
        );
        // The killed one comes back (on its next start it stands by or takes over).
        if a.child.is_none() {
            a.start();
        }
        if b.child.is_none() {
            b.start();
        }
    }
    wait(
        "every event stored",
        Duration::from_secs(180),
        &mut || pg.count("SELECT COUNT(*) FROM events") == total as i64,
        &a,
        &b,
    );
    wait(
        "every delivery done",
        Duration::from_secs(180),
        &mut || pg.count("SELECT COUNT(*) FROM outbox WHERE state <> 'done'") == 0,
        &a,
        &b,
    );
    // At least one digest period closed while both ran.
    wait(
        "a digest period closed",
        Duration::from_secs(75),
        &mut || {
            pg.count("SELECT COUNT(*) FROM digest_runs") > 0
                && pg.count("SELECT COUNT(*) FROM outbox WHERE state <> 'done'") == 0
        },
        &a,
        &b,
    );

    // Every event once.
    assert_eq!(pg.count("SELECT COUNT(*) FROM events"), total as i64);
    assert_eq!(
        pg.count("SELECT MAX(seen_count) FROM events"),
        1,
        "an event stored twice"
    );
    assert_eq!(
        pg.count("SELECT COUNT(*) FROM outbox WHERE channel = 'forward'"),
        total as i64,
        "one forward queued per event"
    );

    // Forwards: each event at least once; repeats only across kills, with the same
    // Message-ID.
    let mail = smtp.received();
    let mut forwards: HashMap<String, Vec<String>> = HashMap::new();
    let mut digests: HashMap<String, usize> = HashMap::new();
    for m in &mail {
        if m.rcpt_to.iter().any(|r| r.contains("digest@")) {
            *digests.entry(header(&m.data, "Message-ID")).or_default() += 1;
            continue;
        }
        forwards
            .entry(subject(&m.data))
            .or_default()
            .push(header(&m.data, "Message-ID"));
    }
    assert_eq!(forwards.len(), total, "every event forwarded");
    let repeats: usize = forwards.values().map(|v| v.len() - 1).sum();
    assert!(
        repeats <= kills,
        "{repeats} repeated forwards for {kills} kills"
    );
    for (s, ids) in &forwards {
        assert!(
            ids.iter().all(|i| *i == ids[0]),
            "{s}: repeats with other Message-IDs: {ids:?}"
        );
    }

    // Webhooks: the same, by Idempotency-Key; one call at a time to a host (the
    // default `[webhook] concurrency`), its answer recorded before the next, so a kill
    // repeats at most the one call in flight at that moment.
    let mut calls: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    for r in hook.requests() {
        let key = r.header("idempotency-key").unwrap_or_default().to_string();
        calls.entry(key).or_default().push(r.body.clone());
    }
    assert_eq!(calls.len(), total, "every event posted");
    let repeats: usize = calls.values().map(|v| v.len() - 1).sum();
    // A call that failed (a timeout on a loaded machine) and was tried again is a
    // repeat at-least-once allows too; the outbox counts those attempts.
    let retried = pg
        .count("SELECT COALESCE(SUM(attempts - 1), 0) FROM outbox WHERE channel = 'webhook'")
        as usize;
    eprintln!("webhook repeats: {repeats} for {kills} kills, {retried} retried attempts");
    assert!(
        repeats <= kills + retried,
        "{repeats} repeated webhook calls for {kills} kills and {retried} retries\n--- a:\n{}\n--- b:\n{}",
        a.log(),
        b.log()
    );
    eprintln!("webhook calls repeated across {kills} kills: {repeats}");
    for (k, bodies) in &calls {
        assert!(
            bodies.iter().all(|b| *b == bodies[0]),
            "{k}: a repeat with other bytes"
        );
    }

    // Each digest period once: one run per period, one mail per run.
    let runs = pg.count("SELECT COUNT(*) FROM digest_runs");
    assert_eq!(
        pg.count("SELECT COUNT(DISTINCT (digest, period_end)) FROM digest_runs"),
        runs
    );
    let sent_runs = pg.count("SELECT COUNT(*) FROM digest_runs WHERE outbox IS NOT NULL");
    assert_eq!(
        digests.len() as i64,
        sent_runs,
        "one digest mail per period"
    );
    assert!(
        digests.values().all(|n| *n == 1),
        "a digest mail sent twice: {digests:?}"
    );
    assert_eq!(
        pg.count("SELECT COUNT(*) FROM digest_items WHERE run IS NULL AND added < (SELECT MAX(period_end) FROM digest_runs)"),
        0,
        "events left out of a closed period"
    );

    // Takeovers within the lease and a poll (plus the test's own polling).
    for t in &takeovers {
        assert!(
            *t <= Duration::from_secs(LEASE_S + POLL_S + 2),
            "a takeover took {t:?}: {takeovers:?}"
        );
    }
    // `status` names who holds what.
    let out = Command::new(env!("CARGO_BIN_EXE_mailroom"))
        .arg("--config")
        .arg(dir.path().join("mailroom.toml"))
        .args(["status", "--json"])
        .env("MR_PG_PASSWORD", PASSWORD)
        .env("MR_IMAP_PASSWORD", "secret")
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let leases = status["leases"]
        .as_array()
        .expect("status lists the leases");
    assert!(
        leases
            .iter()
            .any(|l| l["source"].as_str().unwrap_or_default().starts_with("reg/")),
        "{status}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains(PASSWORD));
    assert!(a.starts + b.starts >= 2 + kills);
}

/// Any instance answers pushes, the console, the feed and `/metrics` (issue 24, item 2),
/// and a registrar API polled by both is worked by one at a time: two `watch` instances
/// on one PostgreSQL, each with its own HTTP port, the same push path and the same
/// OpenSRS poll.
#[test]
fn any_instance_answers_pushes_the_feed_the_console_and_metrics() {
    use support::registrar::{Kind, RegistrarApi};
    let pg = Postgres::start();
    let api = RegistrarApi::start(Kind::Opensrs, "reseller", "osrs-key");
    let queued: Vec<serde_json::Value> = (1..=6)
        .map(|i| {
            let id = format!("polled{i:02}");
            serde_json::json!({"id": id, "event_id": id, "object": "DOMAIN",
                "event": "RENEWED", "event_date": "2026-11-20T06:59:00Z",
                "object_data": {"domain_name": format!("p{i}.example"), "domain_id": format!("{i}")}})
        })
        .collect();
    api.set_queue(&queued);
    let dir = tempfile::tempdir().unwrap();
    let ports = [support::free_port(), support::free_port()];
    let mut instances = Vec::new();
    for (n, port) in ports.iter().enumerate() {
        let sub = dir.path().join(format!("i{n}"));
        std::fs::create_dir_all(sub.join("rules")).unwrap();
        let config = format!(
            "db = \"{url}\"\n[store]\npassword_env = \"MR_PG_PASSWORD\"\nlease = \"{LEASE_S}s\"\n\
             [smtp]\ndir = \"out\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n\n\
             [[push]]\nname = \"osrs-push\"\nregistrar = \"opensrs\"\npath = \"/push/opensrs\"\n\n\
             [[poll]]\nname = \"osrs\"\nregistrar = \"opensrs\"\nurl = \"{api}\"\nusername = \"reseller\"\nkey_env = \"OSRS_KEY\"\ninterval = \"1s\"\n",
            url = pg.url(),
            api = api.url(),
        );
        std::fs::write(sub.join("mailroom.toml"), support::age::any_age(&config)).unwrap();
        std::fs::write(
            sub.join("rules/10.toml"),
            "[[rule]]\nname = \"nothing\"\nwhen.kind = \"test\"\nstop = true\n",
        )
        .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_mailroom"))
            .arg("--config")
            .arg(sub.join("mailroom.toml"))
            .arg("watch")
            .current_dir(&sub)
            .env("MR_PG_PASSWORD", PASSWORD)
            .env("OSRS_KEY", "osrs-key")
            .env_remove("MAILROOM_NOW")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(sub.join("watch.log")).unwrap())
            .spawn()
            .unwrap();
        instances.push(Instance {
            name: "watch",
            child: Some(child),
            dir: sub,
            starts: 1,
            config: "mailroom.toml",
        });
    }
    let logs = || {
        instances
            .iter()
            .map(|i| i.log())
            .collect::<Vec<_>>()
            .join("\n---\n")
    };
    for p in ports {
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", p)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no HTTP on {p}\n{}",
                logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let push = |port: u16, i: usize| {
        let body = format!(
            "{{\"object_data\":{{\"domain_name\":\"push{i}.example\",\"domain_id\":\"{i}\"}},\
             \"object\":\"DOMAIN\",\"event_id\":\"pushed{i:02}\",\"event\":\"CREATED\",\
             \"event_date\":\"2026-11-20T06:59:00Z\"}}"
        );
        support::http(
            port,
            "POST",
            "/push/opensrs",
            "Content-Type: application/json\r\n",
            body.as_bytes(),
        )
        .status
    };
    // Pushes to either instance are stored, once each (the same body twice, to both).
    for i in 0..4 {
        assert_eq!(push(ports[i % 2], i), 200, "{}", logs());
    }
    assert_eq!(push(ports[1], 0), 200);
    // The poll: worked by one instance at a time, every event once, acknowledged once.
    let start = Instant::now();
    while api.acked().len() < 6 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "poll\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        pg.count("SELECT COUNT(*) FROM events WHERE event_id LIKE 'pushed%'"),
        4
    );
    assert_eq!(
        pg.count("SELECT COUNT(*) FROM events WHERE event_id LIKE 'polled%'"),
        6
    );
    let acks = api.count("ACK");
    assert_eq!(
        acks, 6,
        "each event acknowledged once, by the one instance polling"
    );
    // The feed: a consumer made on one instance, polled and acknowledged on the other.
    let made = support::http(
        ports[0],
        "POST",
        "/api/v1/consumers",
        "Content-Type: application/json\r\n",
        br#"{"name": "billing"}"#,
    );
    assert!(matches!(made.status, 200 | 201), "{}", made.status);
    let page = support::http(
        ports[1],
        "GET",
        "/api/v1/consumers/billing/poll?limit=100",
        "",
        b"",
    );
    assert_eq!(page.status, 200);
    let page: serde_json::Value = serde_json::from_slice(&page.body).unwrap();
    let got: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event_id"].as_str())
        .collect();
    assert_eq!(got.len(), 10, "{got:?}");
    let ack = serde_json::json!({"cursor": page["next"]}).to_string();
    let acked = support::http(
        ports[1],
        "POST",
        "/api/v1/consumers/billing/ack",
        "Content-Type: application/json\r\n",
        ack.as_bytes(),
    );
    assert_eq!(acked.status, 200);
    let again = support::http(ports[0], "GET", "/api/v1/consumers/billing/poll", "", b"");
    let again: serde_json::Value = serde_json::from_slice(&again.body).unwrap();
    assert_eq!(again["events"].as_array().unwrap().len(), 0, "{again}");
    // The console and /metrics on both.
    for p in ports {
        let page = support::http(p, "GET", "/events", "", b"");
        assert_eq!(page.status, 200);
        let text = String::from_utf8_lossy(&page.body);
        assert!(
            text.contains("push3.example") && text.contains("p6.example"),
            "{text}"
        );
        let metrics = support::http(p, "GET", "/metrics", "", b"");
        assert_eq!(metrics.status, 200);
        assert!(
            String::from_utf8_lossy(&metrics.body).contains("mailroom_"),
            "metrics on {p}"
        );
    }
}

/// An instance that loses the database (every connection to it cut, new ones refused)
/// gives up its source without dying; another takes the source over within the lease
/// and a renewal; mended, the first one stands by, and takes the source back when the
/// other goes. Then PostgreSQL itself restarts under both: nothing is lost, nobody
/// dies. Each message is stored once throughout.
#[test]
fn an_instance_cut_off_from_the_database_hands_its_source_over_and_comes_back() {
    let pg = Postgres::start();
    let relay = support::proxy::Relay::start(pg.port());
    let certs = Certs::generate();
    let dovecot = Dovecot::start(&certs);
    let dir = tempfile::tempdir().unwrap();
    let config = |port: u16| {
        format!(
            "db = \"postgres://mailroom@127.0.0.1:{port}/mailroom\"\n[store]\npassword_env = \"MR_PG_PASSWORD\"\nlease = \"{LEASE_S}s\"\n\
             [watch]\nidle_refresh = \"5m\"\ncommand_timeout = \"10s\"\nmax_reconnect_delay = \"2s\"\npoll_interval = \"{POLL_S}s\"\n\n\
             [[account]]\nname = \"reg\"\nhost = \"127.0.0.1\"\nport = {imap}\ntls = \"none\"\nusername = \"reseller\"\npassword_env = \"MR_IMAP_PASSWORD\"\n",
            imap = dovecot.imap_port(),
        )
    };
    std::fs::write(
        dir.path().join("a.toml"),
        support::age::any_age(&config(relay.port())),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.toml"),
        support::age::any_age(&config(pg.port())),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    let mut a = Instance::new("a", dir.path(), "a.toml");
    let mut b = Instance::new("b", dir.path(), "b.toml");
    let holder = || -> String {
        if pg.psql("mailroom", "SELECT to_regclass('leases') IS NOT NULL") != "t" {
            return String::new();
        }
        pg.psql(
            "mailroom",
            "SELECT holder FROM leases WHERE source LIKE 'reg/%' AND until > CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        )
    };
    let events = || pg.count("SELECT COUNT(*) FROM events");
    let until =
        |what: &str, limit: Duration, f: &mut dyn FnMut() -> bool, a: &Instance, b: &Instance| {
            wait_until(what, limit, f, a, b, &|| {
                format!("--- postgres:\n{}", pg.log_tail())
            })
        };
    let mut sent = 0usize;
    let mut send = |n: usize| {
        for i in sent..sent + n {
            dovecot.deliver("INBOX", &notification(i));
        }
        sent += n;
        sent as i64
    };

    // A (through the relay) works the folder; B stands by.
    a.start();
    until(
        "a to hold the folder",
        Duration::from_secs(30),
        &mut || holder().contains(&format!(":{}:", a.pid())),
        &a,
        &b,
    );
    b.start();
    until(
        "b to stand by",
        Duration::from_secs(30),
        &mut || b.log().contains("standing by"),
        &a,
        &b,
    );
    let n = send(40);
    until(
        "the first messages stored",
        Duration::from_secs(30),
        &mut || events() == n,
        &a,
        &b,
    );

    // A loses the database: B holds the folder within the lease and one renewal, and
    // stores what comes meanwhile; A gives the folder up and keeps running.
    relay.cut();
    let cut_at = Instant::now();
    let n = send(40);
    let b_pid = format!(":{}:", b.pid());
    until(
        "b to hold the folder",
        Duration::from_secs(LEASE_S * 4 + 30),
        &mut || holder().contains(&b_pid),
        &a,
        &b,
    );
    let took = cut_at.elapsed();
    eprintln!("b held the folder {took:?} after a lost the database");
    assert!(
        took <= Duration::from_secs(LEASE_S + LEASE_S / 3 + POLL_S + 2),
        "b took the folder over {took:?} after a lost the database\n--- a:\n{}\n--- b:\n{}",
        a.log(),
        b.log()
    );
    until(
        "what came meanwhile stored",
        Duration::from_secs(30),
        &mut || events() == n,
        &a,
        &b,
    );
    until(
        "a to give the folder up",
        Duration::from_secs(LEASE_S * 3 + 30),
        &mut || a.log().contains("lost the source's lease"),
        &a,
        &b,
    );
    assert!(
        a.running(),
        "a ended when it lost the database:\n{}",
        a.log()
    );
    // The folder's failures while cut off are the database's, and say so.
    let log = a.log();
    assert!(
        log.contains("database error") && !log.contains("IMAP error"),
        "{log}"
    );

    // Mended: A stands by (B keeps the folder), then takes it back when B is gone.
    relay.mend();
    let n = send(20);
    until(
        "the messages after the mend stored",
        Duration::from_secs(30),
        &mut || events() == n,
        &a,
        &b,
    );
    until(
        "a to be back on the database",
        Duration::from_secs(30),
        &mut || {
            a.log().matches("standing by").count() >= 1
                && a.log().contains("database connection made again")
        },
        &a,
        &b,
    );
    assert!(
        holder().contains(&b_pid),
        "b keeps the folder while it lives"
    );
    b.kill();
    let a_pid = format!(":{}:", a.pid());
    until(
        "a to hold the folder again",
        Duration::from_secs(LEASE_S + POLL_S + 30),
        &mut || holder().contains(&a_pid),
        &a,
        &b,
    );
    let n = send(20);
    until(
        "a to store again",
        Duration::from_secs(30),
        &mut || events() == n,
        &a,
        &b,
    );

    // PostgreSQL restarts under both (B started again): what comes meanwhile is stored
    // once the server is back, and both instances go on.
    b.start();
    until(
        "b to stand by again",
        Duration::from_secs(30),
        &mut || b.log().matches("standing by").count() >= 2,
        &a,
        &b,
    );
    // Then the server stops answering for a while (its processes stopped: packets
    // are taken, nothing answers). Through each, what comes meanwhile is stored once
    // the server answers again, and both instances go on.
    let pause = || {
        pg.signal_all("STOP");
        std::thread::sleep(Duration::from_secs(LEASE_S * 2));
    };
    type Step<'a> = &'a dyn Fn();
    let faults: [(&str, Step, Step); 2] = [
        ("restarted", &|| pg.restart(), &|| {}),
        ("did not answer", &pause, &|| pg.signal_all("CONT")),
    ];
    for (what, begin, end) in faults {
        begin();
        let n = send(20);
        end();
        until(
            &format!("the messages sent while PostgreSQL {what} stored"),
            Duration::from_secs(60),
            &mut || events() == n,
            &a,
            &b,
        );
        assert!(
            a.running() && b.running(),
            "an instance ended when PostgreSQL {what}\n--- a:\n{}\n--- b:\n{}",
            a.log(),
            b.log()
        );
    }
    // Once each: events, messages, and the folder's places.
    assert_eq!(events(), sent as i64);
    assert_eq!(pg.count("SELECT COUNT(*) FROM messages"), sent as i64);
    assert_eq!(
        pg.count("SELECT COUNT(*) FROM (SELECT registrar, event_id FROM events GROUP BY 1, 2 HAVING COUNT(*) > 1) d"),
        0
    );
}

/// Through PgBouncer in transaction mode (`[store] pool_mode = "transaction"`): two
/// instances on one Dovecot folder and one webhook sink, sharing two server
/// connections; the holder is SIGKILLed once. Every event is stored once and posted
/// once (at most one repeat for the kill), and the command line reads it all through
/// the pool. Without the setting, the pool's refusal names it.
#[test]
fn through_pgbouncer_in_transaction_mode() {
    use support::postgres::PgBouncer;
    let total = 300usize;
    let pg = Postgres::start();
    let bouncer = PgBouncer::start(&pg, 2);
    let certs = Certs::generate();
    let dovecot = Dovecot::start(&certs);
    let hook = HttpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let config = |pool: &str| {
        format!(
            "db = \"{url}\"\n[store]\npassword_env = \"MR_PG_PASSWORD\"\nlease = \"{LEASE_S}s\"\n{pool}\
             [delivery]\nfirst_backoff = \"1s\"\nmax_backoff = \"2s\"\n\
             [watch]\nidle_refresh = \"5m\"\ncommand_timeout = \"10s\"\nmax_reconnect_delay = \"2s\"\npoll_interval = \"{POLL_S}s\"\n\n\
             [[account]]\nname = \"reg\"\nhost = \"127.0.0.1\"\nport = {imap}\ntls = \"none\"\nusername = \"reseller\"\npassword_env = \"MR_IMAP_PASSWORD\"\n",
            url = bouncer.url(),
            imap = dovecot.imap_port(),
        )
    };
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(
        dir.path().join("rules/10.toml"),
        format!(
            "[[rule]]\nname = \"all\"\nwhen.registrar = \"opensrs\"\n\
             webhook = {{ url = \"{hook}/registrar\", secret_env = \"MR_HOOK_SECRET\" }}\n",
            hook = hook.url()
        ),
    )
    .unwrap();
    let cli = |config: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_mailroom"))
            .arg("--config")
            .arg(dir.path().join(config))
            .args(args)
            .env("MR_PG_PASSWORD", PASSWORD)
            .env("MR_IMAP_PASSWORD", "secret")
            .output()
            .unwrap()
    };

    // Without the setting: refused at once, saying which setting to use.
    std::fs::write(
        dir.path().join("direct.toml"),
        support::age::any_age(&config("")),
    )
    .unwrap();
    let out = cli("direct.toml", &["events"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("pool_mode = \"transaction\""), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");

    std::fs::write(
        dir.path().join("mailroom.toml"),
        support::age::any_age(&config("pool_mode = \"transaction\"\n")),
    )
    .unwrap();
    let mut a = Instance::new("a", dir.path(), "mailroom.toml");
    let mut b = Instance::new("b", dir.path(), "mailroom.toml");
    a.start();
    b.start();
    let events = || {
        if pg.psql("mailroom", "SELECT to_regclass('events') IS NOT NULL") != "t" {
            return -1;
        }
        pg.count("SELECT COUNT(*) FROM events")
    };
    let until =
        |what: &str, limit: Duration, f: &mut dyn FnMut() -> bool, a: &Instance, b: &Instance| {
            wait_until(what, limit, f, a, b, &|| {
                format!("--- pgbouncer:\n{}", bouncer.log_tail())
            });
        };
    for i in 0..total / 2 {
        dovecot.deliver("INBOX", &notification(i));
    }
    until(
        "the first half stored",
        Duration::from_secs(60),
        &mut || events() == (total / 2) as i64,
        &a,
        &b,
    );
    // The holder is killed; the other goes on.
    let held = pg.psql(
        "mailroom",
        "SELECT holder FROM leases WHERE source LIKE 'reg/%'",
    );
    if held.contains(&format!(":{}:", a.pid())) {
        a.kill();
    } else {
        b.kill();
    }
    for i in total / 2..total {
        dovecot.deliver("INBOX", &notification(i));
    }
    until(
        "every event stored",
        Duration::from_secs(60),
        &mut || events() == total as i64,
        &a,
        &b,
    );
    until(
        "every event posted",
        Duration::from_secs(60),
        &mut || {
            hook.requests()
                .iter()
                .map(|r| r.header("idempotency-key").unwrap_or_default().to_string())
                .collect::<std::collections::HashSet<_>>()
                .len()
                == total
        },
        &a,
        &b,
    );
    let calls = hook.requests().len();
    assert!(
        calls <= total + 1,
        "{calls} calls for {total} events and one kill"
    );
    assert!(a.running() || b.running());
    assert_eq!(pg.count("SELECT COUNT(*) FROM messages"), total as i64);

    // The command line through the pool.
    let out = cli("mailroom.toml", &["events", "--json", "--limit", "1000"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(total), "{listed}");
    let out = cli("mailroom.toml", &["status", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = format!("{}{}", a.log(), b.log());
    assert!(!log.contains("prepared statement"), "{log}");
}
