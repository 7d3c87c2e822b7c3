//! The event feed for downstream systems (issue 13, item 2) on a running `mailroom
//! watch`: pages in store order cover every event exactly once; two named consumers poll
//! independently; a consumer killed between its poll and its ack (here: the whole
//! service, SIGKILL) is served the same events again after the restart, and nothing
//! once it acknowledged them; events arriving later are served; an ack that a
//! cross-site form could forge is refused; the bearer token is required when set.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Env {
    dir: tempfile::TempDir,
    port: u16,
}

/// An OpenSRS "domain created" mail.
fn created(n: usize) -> String {
    format!(
        "From: notifications@opensrs.net\r\nTo: ops@example.com\r\n\
         Subject: Event notification: DOMAIN: CREATED: feed-{n}\r\nMessage-ID: <feed-{n}@opensrs.test>\r\n\r\n\
         {{\"object_data\":{{\"domain_name\":\"d{n}.example\"}},\"object\":\"DOMAIN\",\
         \"event_id\":\"feed-{n}\",\"event\":\"CREATED\",\"event_date\":\"2026-11-{:02}T10:00:00Z\"}}\r\n",
        1 + n % 28
    )
}

struct Reply {
    status: u16,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl Env {
    fn new(http_extra: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("inbox")).unwrap();
        std::fs::create_dir_all(dir.path().join("rules")).unwrap();
        let port = support::free_port();
        std::fs::write(
            dir.path().join("mailroom.toml"),
            format!(
                "db = \"m.db\"\n[smtp]\ndir = \"out\"\n[http]\nlisten = \"127.0.0.1:{port}\"\nmax_body = \"1KiB\"\n{http_extra}\
                 [[maildir]]\nname = \"local\"\npath = \"inbox\"\n[watch]\npoll_interval = \"300ms\"\n"
            ),
        )
        .unwrap();
        Env { dir, port }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn deliver_mail(&self, from: usize, to: usize) {
        for n in from..to {
            // Written aside and renamed: the watcher never reads half a file.
            let tmp = self.path(&format!("m{n}.tmp"));
            std::fs::write(&tmp, created(n)).unwrap();
            std::fs::rename(&tmp, self.path(&format!("inbox/m{n}.eml"))).unwrap();
        }
    }

    fn spawn_watch(&self) -> Child {
        let child = Command::new(env!("CARGO_BIN_EXE_mailroom"))
            .arg("--config")
            .arg(self.path("mailroom.toml"))
            .arg("watch")
            .env_remove("MAILROOM_NOW")
            .env_remove("RUST_LOG")
            .env("FEED_TOKEN", "feed-t0ken")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.path("watch.log")).unwrap())
            .spawn()
            .unwrap();
        support::wait_listening(self.port);
        child
    }

    fn stored(&self) -> Vec<(i64, String)> {
        if !self.path("m.db").exists() {
            return Vec::new();
        }
        let conn = rusqlite::Connection::open(self.path("m.db")).unwrap();
        let mut stmt = conn
            .prepare("SELECT id, registrar || ':' || event_id FROM events ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    fn wait_stored(&self, n: usize) -> Vec<(i64, String)> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.stored();
            if s.len() >= n {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{} events stored, wanted {n}\n{}",
                s.len(),
                std::fs::read_to_string(self.path("watch.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn request(&self, method: &str, target: &str, headers: &str, body: &[u8]) -> Reply {
        let r = support::http(self.port, method, target, headers, body);
        Reply {
            status: r.status,
            body: String::from_utf8_lossy(&r.body).into_owned(),
        }
    }

    fn get(&self, target: &str) -> Reply {
        self.request("GET", target, "", b"")
    }

    fn ok(&self, target: &str) -> Value {
        let r = self.get(target);
        assert_eq!(r.status, 200, "GET {target}: {}", r.body);
        r.json()
    }

    /// Makes a consumer (POST), as a client does once before its first poll.
    fn create(&self, consumer: &str) -> Reply {
        self.request(
            "POST",
            "/api/v1/consumers",
            "Content-Type: application/json\r\n",
            json!({ "name": consumer }).to_string().as_bytes(),
        )
    }

    fn ack(&self, consumer: &str, cursor: &str) -> Reply {
        self.request(
            "POST",
            &format!("/api/v1/consumers/{consumer}/ack"),
            "Content-Type: application/json\r\n",
            json!({ "cursor": cursor }).to_string().as_bytes(),
        )
    }

    fn cli_json(&self, args: &[&str]) -> Value {
        let out = Command::new(env!("CARGO_BIN_EXE_mailroom"))
            .arg("--config")
            .arg(self.path("mailroom.toml"))
            .args(args)
            .env_remove("MAILROOM_NOW")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn keys(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}:{}",
                e["registrar"].as_str().unwrap(),
                e["event_id"].as_str().unwrap()
            )
        })
        .collect()
}

fn cursor_of_last(page: &Value) -> String {
    page["cursors"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

/// Everything a consumer has not acknowledged yet, acking each page: the keys handled.
fn drain(env: &Env, consumer: &str, limit: usize) -> Vec<String> {
    let mut handled = Vec::new();
    loop {
        let page = env.ok(&format!("/api/v1/consumers/{consumer}/poll?limit={limit}"));
        let k = keys(&page);
        if k.is_empty() {
            assert_eq!(page["more"], false);
            return handled;
        }
        handled.extend(k);
        let r = env.ack(consumer, page["next"].as_str().unwrap());
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

#[test]
fn two_consumers_get_every_event_exactly_once_across_a_kill_between_poll_and_ack() {
    let env = Env::new("");
    env.deliver_mail(0, 30);
    let mut watch = env.spawn_watch();
    let stored = env.wait_stored(30);
    let expected: Vec<String> = stored.iter().map(|s| s.1.clone()).collect();

    // Paging with after/limit: store order, every event once, `next` chains the pages.
    let mut paged = Vec::new();
    let mut after = String::new();
    let mut pages = 0;
    loop {
        let page = env.ok(&format!("/api/v1/events?after={after}&limit=7"));
        let n = page["events"].as_array().unwrap().len();
        assert!(n <= 7);
        assert_eq!(page["cursors"].as_array().unwrap().len(), n);
        if n > 0 {
            assert_eq!(cursor_of_last(&page), page["next"].as_str().unwrap());
        }
        paged.extend(keys(&page));
        pages += 1;
        after = page["next"].as_str().unwrap().to_string();
        if page["more"] == false {
            break;
        }
    }
    assert_eq!(paged, expected);
    assert_eq!(pages, 5, "30 events in pages of 7");
    // Each event object is exactly what `mailroom events --json` prints for it.
    let all = env.ok("/api/v1/events?limit=1000");
    let cli = env.cli_json(&["events", "--json"]);
    let by_id: BTreeMap<i64, &Value> = cli
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["id"].as_i64().unwrap(), e))
        .collect();
    for e in all["events"].as_array().unwrap() {
        assert_eq!(
            Some(&e),
            by_id.get(&e["id"].as_i64().unwrap()),
            "feed and events --json differ"
        );
        for field in [
            "registrar",
            "event_id",
            "kind",
            "object",
            "type",
            "topic",
            "domain",
            "domains",
            "status",
            "status_text",
            "occurred_at",
            "format",
            "data",
        ] {
            assert!(e.get(field).is_some(), "{field} missing: {e}");
        }
    }
    // Bad requests are told so, as JSON.
    for (target, status) in [
        ("/api/v1/events?limit=0", 400),
        ("/api/v1/events?limit=lots", 400),
        ("/api/v1/events?after=not-a-cursor", 400),
        ("/api/v1/consumers/bad%20name/poll", 400),
        ("/api/v1/nothing", 404),
    ] {
        let r = env.get(target);
        assert_eq!(r.status, status, "{target}: {}", r.body);
        assert!(r.json()["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    assert_eq!(env.request("POST", "/api/v1/events", "", b"").status, 405);
    assert_eq!(env.get("/api/v1/consumers/a/ack").status, 405);
    assert_eq!(env.ack("never-made", "").status, 404);
    for c in ["billing", "crm-sync"] {
        assert_eq!(env.create(c).status, 201);
    }

    // Two consumers, each its own pace: A acknowledges 10, B polls 25 and dies unacked.
    let a1 = env.ok("/api/v1/consumers/billing/poll?limit=10");
    assert_eq!(keys(&a1), expected[..10]);
    assert_eq!(a1["more"], true);
    // Polling again without an ack serves the same events.
    assert_eq!(
        keys(&env.ok("/api/v1/consumers/billing/poll?limit=10")),
        expected[..10]
    );
    let r = env.ack("billing", a1["next"].as_str().unwrap());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["consumer"]["lag"], 20);
    let b1 = env.ok("/api/v1/consumers/crm-sync/poll?limit=25");
    assert_eq!(keys(&b1), expected[..25]);

    watch.kill().unwrap(); // SIGKILL: between B's poll and its ack
    watch.wait().unwrap();
    let mut watch = env.spawn_watch();

    // A resumes after what it acknowledged; B is served its 25 again.
    let a2 = env.ok("/api/v1/consumers/billing/poll?limit=10");
    assert_eq!(keys(&a2), expected[10..20]);
    let b2 = env.ok("/api/v1/consumers/crm-sync/poll?limit=25");
    assert_eq!(
        keys(&b2),
        expected[..25],
        "unacknowledged events are served again"
    );
    // An ack never moves a cursor back, nor beyond what exists.
    let r = env.ack("billing", a1["cursors"][3].as_str().unwrap());
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["consumer"]["acked"], a1["next"]);
    let beyond = format!("ev1-{:x}", stored.last().unwrap().0 + 5);
    let r = env.ack("billing", &beyond);
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("beyond"));
    assert_eq!(env.ack("billing", "garbage").status, 400);

    // Draining: every event exactly once per consumer, counting what each acknowledged.
    let mut a_all: Vec<String> = expected[..10].to_vec();
    a_all.extend(drain(&env, "billing", 4));
    let b_all = drain(&env, "crm-sync", 1000);
    assert_eq!(a_all, expected);
    assert_eq!(b_all, expected);

    // New events arriving later are served, once, to each.
    env.deliver_mail(30, 33);
    let stored = env.wait_stored(33);
    let new: Vec<String> = stored[30..].iter().map(|s| s.1.clone()).collect();
    assert_eq!(drain(&env, "billing", 100), new);
    assert_eq!(drain(&env, "crm-sync", 2), new);
    let consumers = env.ok("/api/v1/consumers");
    let list = consumers["consumers"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|c| c["lag"] == 0), "{consumers}");

    // Acknowledgements a cross-site page could forge are refused; the body is capped.
    let cursor = env.ok("/api/v1/events?limit=1")["next"]
        .as_str()
        .unwrap()
        .to_string();
    let body = json!({ "cursor": cursor }).to_string();
    let form = env.request(
        "POST",
        "/api/v1/consumers/billing/ack",
        "Content-Type: application/x-www-form-urlencoded\r\n",
        format!("cursor={cursor}").as_bytes(),
    );
    assert_eq!(form.status, 415, "{}", form.body);
    let plain = env.request(
        "POST",
        "/api/v1/consumers/billing/ack",
        "Content-Type: text/plain\r\n",
        body.as_bytes(),
    );
    assert_eq!(plain.status, 415);
    let foreign = env.request(
        "POST",
        "/api/v1/consumers/billing/ack",
        "Content-Type: application/json\r\nOrigin: http://evil.example\r\n",
        body.as_bytes(),
    );
    assert_eq!(foreign.status, 403, "{}", foreign.body);
    let own = env.request(
        "POST",
        "/api/v1/consumers/billing/ack",
        &format!(
            "Content-Type: application/json\r\nOrigin: http://127.0.0.1:{}\r\n",
            env.port
        ),
        body.as_bytes(),
    );
    assert_eq!(own.status, 200, "{}", own.body);
    let big = json!({ "cursor": cursor, "pad": "x".repeat(4096) }).to_string();
    let r = env.request(
        "POST",
        "/api/v1/consumers/billing/ack",
        "Content-Type: application/json\r\n",
        big.as_bytes(),
    );
    assert_eq!(r.status, 413, "{}", r.body);
    watch.kill().unwrap();
    watch.wait().unwrap();
}

#[test]
fn the_feed_wants_the_bearer_token_when_one_is_set() {
    let env = Env::new("token_env = \"FEED_TOKEN\"\n");
    env.deliver_mail(0, 2);
    let mut watch = env.spawn_watch();
    env.wait_stored(2);
    let r = env.get("/api/v1/events");
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(!r.body.contains("feed-t0ken"));
    let wrong = env.request(
        "GET",
        "/api/v1/consumers/x/poll",
        "Authorization: Bearer nope\r\n",
        b"",
    );
    assert_eq!(wrong.status, 401);
    let ack = env.request(
        "POST",
        "/api/v1/consumers/x/ack",
        "Content-Type: application/json\r\n",
        br#"{"cursor":""}"#,
    );
    assert_eq!(ack.status, 401);
    let r = env.request(
        "GET",
        "/api/v1/events",
        "Authorization: Bearer feed-t0ken\r\n",
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["events"].as_array().unwrap().len(), 2);
    watch.kill().unwrap();
    watch.wait().unwrap();
}

#[test]
fn a_get_never_makes_a_consumer_a_post_does_up_to_the_cap() {
    let env = Env::new("");
    env.deliver_mail(0, 3);
    let mut watch = env.spawn_watch();
    env.wait_stored(3);
    // An <img> on any page can send a GET: it must not make anything.
    for _ in 0..3 {
        let r = env.get("/api/v1/consumers/junk-from-an-img/poll");
        assert_eq!(r.status, 404, "{}", r.body);
        assert!(
            r.json()["error"]
                .as_str()
                .unwrap()
                .contains("POST /api/v1/consumers")
        );
    }
    let list = env.ok("/api/v1/consumers");
    assert_eq!(
        list["consumers"],
        json!([]),
        "a poll made a consumer: {list}"
    );
    // A form on another site can send neither JSON nor a foreign-Origin-free request.
    let form = env.request(
        "POST",
        "/api/v1/consumers",
        "Content-Type: application/x-www-form-urlencoded\r\n",
        b"name=evil",
    );
    assert_eq!(form.status, 415, "{}", form.body);
    let foreign = env.request(
        "POST",
        "/api/v1/consumers",
        "Content-Type: application/json\r\nOrigin: http://evil.example\r\n",
        br#"{"name":"evil"}"#,
    );
    assert_eq!(foreign.status, 403, "{}", foreign.body);
    assert_eq!(env.create("bad name").status, 400);
    // Made by POST: 201, then 200 (it exists); served from the start of the feed.
    let made = env.create("billing");
    assert_eq!(made.status, 201, "{}", made.body);
    assert_eq!(made.json()["consumer"]["lag"], 3);
    assert_eq!(env.create("billing").status, 200);
    assert_eq!(
        keys(&env.ok("/api/v1/consumers/billing/poll")).len(),
        3,
        "a new consumer starts at the first event"
    );
    // At most 100: the 101st is refused with a reason; a DELETE makes room.
    for n in 1..100 {
        let r = env.create(&format!("c{n}"));
        assert_eq!(r.status, 201, "c{n}: {}", r.body);
    }
    let over = env.create("one-too-many");
    assert_eq!(over.status, 409, "{}", over.body);
    let why = over.json()["error"].as_str().unwrap().to_string();
    assert!(why.contains("100") && why.contains("DELETE"), "{why}");
    let all = env.ok("/api/v1/consumers");
    assert_eq!(all["consumers"].as_array().unwrap().len(), 100);
    assert!(
        all["consumers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["lag"] == 3)
    );
    assert_eq!(
        env.request("GET", "/api/v1/consumers/c7", "", b"").status,
        405
    );
    assert_eq!(
        env.request("DELETE", "/api/v1/consumers/c7", "", b"")
            .status,
        200
    );
    assert_eq!(
        env.request("DELETE", "/api/v1/consumers/c7", "", b"")
            .status,
        404
    );
    assert_eq!(env.create("one-too-many").status, 201);
    watch.kill().unwrap();
    watch.wait().unwrap();
}
