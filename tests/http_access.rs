//! Who may reach the embedded HTTP server (issue 20, items 10, 11 and 15), on a running
//! `mailroom watch`: without a token every route (feed, ack, metrics, health, push,
//! console) answers only a loopback `Host`, so a page that rebinds its own name to
//! 127.0.0.1 reads and changes nothing; an empty token refuses the start, naming the
//! setting; wrong tokens are limited per address on the API, the login and a push
//! receiver; a logout ends the session on the server; ages and page numbers too large
//! to count are answered with a reason, not a crash.

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "access-t0ken-that-must-not-leak";
const PUSH_TOKEN: &str = "push-t0ken-that-must-not-leak";

struct Env {
    dir: tempfile::TempDir,
    port: u16,
}

/// An OpenSRS "domain created" mail.
fn created(n: usize) -> String {
    format!(
        "From: notifications@opensrs.net\r\nTo: ops@example.com\r\n\
         Subject: Event notification: DOMAIN: CREATED: acc-{n}\r\nMessage-ID: <acc-{n}@opensrs.test>\r\n\r\n\
         {{\"object_data\":{{\"domain_name\":\"d{n}.example\"}},\"object\":\"DOMAIN\",\
         \"event_id\":\"acc-{n}\",\"event\":\"CREATED\",\"event_date\":\"2026-11-{:02}T10:00:00Z\"}}\r\n",
        1 + n % 28
    )
}

/// The poll-format body AutoDNS pushes.
fn push_body(id: u64) -> String {
    serde_json::json!({
        "stid": "20261120-stid",
        "status": {"code": "S0905", "type": "SUCCESS"},
        "object": {"type": "message", "value": id.to_string()},
        "data": [{"summary": 1, "message": {
            "id": id,
            "job": {"id": 4295609745u64, "domain": {"name": format!("p{id}.example")}},
            "stid": "20261120-stid",
            "object": {"type": "domain", "value": format!("p{id}.example")},
            "status": {"code": "S0101", "type": "SUCCESS"}
        }}]
    })
    .to_string()
}

impl Env {
    /// `http` is the rest of the `[http]` table; `push` the rest of a `[[push]]` at
    /// `/push/autodns`.
    fn new(http: &str, push: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        for d in ["inbox", "rules", "out"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        for n in 0..3 {
            std::fs::write(dir.path().join(format!("inbox/m{n}.eml")), created(n)).unwrap();
        }
        let port = support::free_port();
        std::fs::write(
            dir.path().join("mailroom.toml"),
            format!(
                "db = \"m.db\"\nrules = \"rules\"\n[smtp]\ndir = \"out\"\n\
                 [http]\nlisten = \"127.0.0.1:{port}\"\n{http}\
                 [[push]]\nname = \"adns\"\nregistrar = \"autodns\"\npath = \"/push/autodns\"\n{push}\
                 [[maildir]]\nname = \"local\"\npath = \"inbox\"\n[watch]\npoll_interval = \"300ms\"\n"
            ),
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
            .env("ACCESS_TOKEN", TOKEN)
            .env("PUSH_TOKEN", PUSH_TOKEN)
            .env("EMPTY_TOKEN", "");
        c
    }

    fn spawn_watch(&self) -> Running {
        let child = self
            .cmd(&["watch"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.path("watch.log")).unwrap())
            .spawn()
            .unwrap();
        support::wait_listening(self.port);
        let running = Running(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.events() < 3 {
            assert!(Instant::now() < deadline, "mail not stored");
            std::thread::sleep(Duration::from_millis(100));
        }
        running
    }

    fn events(&self) -> i64 {
        if !self.path("m.db").exists() {
            return 0;
        }
        rusqlite::Connection::open(self.path("m.db"))
            .and_then(|c| c.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0)))
            .unwrap_or(0)
    }

    fn send(&self, method: &str, target: &str, headers: &str, body: &[u8]) -> support::HttpReply {
        support::http(self.port, method, target, headers, body)
    }
}

/// A running `watch`, killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn text(r: &support::HttpReply) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

#[test]
fn without_a_token_every_route_answers_only_a_loopback_host() {
    let env = Env::new("", "");
    let _watch = env.spawn_watch();
    let json = "Content-Type: application/json\r\n";
    let routes: [(&str, &str, &str, &[u8]); 9] = [
        ("GET", "/api/v1/events", "", b""),
        ("GET", "/api/v1/consumers", "", b""),
        ("POST", "/api/v1/consumers", json, br#"{"name":"rebound"}"#),
        (
            "POST",
            "/api/v1/consumers/rebound/ack",
            json,
            br#"{"cursor":""}"#,
        ),
        ("GET", "/metrics", "", b""),
        ("GET", "/healthz", "", b""),
        ("GET", "/readyz", "", b""),
        ("GET", "/events", "", b""),
        ("GET", "/", "", b""),
    ];
    let rebound = format!("Host: rebound.evil.example:{}\r\n", env.port);
    for (method, target, headers, body) in routes {
        let r = env.send(method, target, &format!("{rebound}{headers}"), body);
        assert_eq!(
            r.status,
            403,
            "{method} {target} answered a rebound Host: {}",
            text(&r)
        );
        let why = text(&r);
        assert!(
            why.contains("loopback") && why.contains("token_env"),
            "{target}: {why}"
        );
        assert!(!why.contains("acc-0"), "{target} leaked an event");
        // The same request sent to a loopback name is answered.
        let ok = env.send(method, target, headers, body);
        assert_ne!(
            ok.status,
            403,
            "{method} {target} from loopback: {}",
            text(&ok)
        );
    }
    // A push receiver without a token of its own: a rebound page cannot forge events.
    let pushed = env.send(
        "POST",
        "/push/autodns",
        &format!("{rebound}{json}"),
        push_body(77).as_bytes(),
    );
    assert_eq!(pushed.status, 403, "{}", text(&pushed));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(env.events(), 3, "a rebound push was stored");
    let by_localhost = env.send(
        "POST",
        "/push/autodns",
        &format!("Host: localhost:{}\r\n{json}", env.port),
        push_body(78).as_bytes(),
    );
    assert_eq!(by_localhost.status, 200, "{}", text(&by_localhost));
    assert_eq!(env.events(), 4);
}

#[test]
fn an_empty_token_refuses_the_start_and_names_the_setting() {
    for (http, push, names) in [
        (
            "token_env = \"EMPTY_TOKEN\"\n",
            "",
            ["token_env", "EMPTY_TOKEN"],
        ),
        (
            "token_command = \"true\"\n",
            "",
            ["token_command", "printed nothing"],
        ),
        (
            "",
            "token_env = \"EMPTY_TOKEN\"\n",
            ["push adns", "EMPTY_TOKEN"],
        ),
    ] {
        let env = Env::new(http, push);
        for verb in ["watch", "serve"] {
            let started = Instant::now();
            let out = env.cmd(&[verb]).stdin(Stdio::null()).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success(),
                "{verb} started with {http}{push}: {err}"
            );
            assert!(started.elapsed() < Duration::from_secs(15));
            for want in names {
                assert!(err.contains(want), "{verb}: {want} not in {err}");
            }
            assert!(
                err.contains("empty") || err.contains("printed nothing"),
                "{err}"
            );
            assert!(
                !err.contains("Error {") && !err.contains("Some("),
                "debug text: {err}"
            );
            assert!(
                std::net::TcpStream::connect(("127.0.0.1", env.port)).is_err(),
                "{verb} listened"
            );
        }
    }
}

#[test]
fn wrong_tokens_are_limited_per_address_and_empty_ones_never_match() {
    let env = Env::new(
        "token_env = \"ACCESS_TOKEN\"\n",
        "token_env = \"PUSH_TOKEN\"\n",
    );
    let _watch = env.spawn_watch();
    let right = format!("Authorization: Bearer {TOKEN}\r\n");
    assert_eq!(env.send("GET", "/api/v1/events", &right, b"").status, 200);
    // Empty tokens are no tokens anywhere.
    assert_eq!(
        env.send("GET", "/api/v1/events", "Authorization: Bearer \r\n", b"")
            .status,
        401
    );
    assert_eq!(
        env.send(
            "POST",
            "/push/autodns?token=",
            "Content-Type: application/json\r\n",
            push_body(5).as_bytes()
        )
        .status,
        401
    );
    // Twelve guesses at once: each answered after a pause; then the address waits,
    // even with the right token, while another address is served.
    let started = Instant::now();
    let guesses: Vec<_> = (0..12)
        .map(|i| {
            let port = env.port;
            std::thread::spawn(move || {
                support::http(
                    port,
                    "GET",
                    "/api/v1/events",
                    &format!("Authorization: Bearer guess-{i}\r\n"),
                    b"",
                )
                .status
            })
        })
        .collect();
    let statuses: Vec<u16> = guesses.into_iter().map(|g| g.join().unwrap()).collect();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "guesses answered at once: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [401, 429].contains(s)),
        "{statuses:?}"
    );
    let limited = env.send("GET", "/api/v1/events", &right, b"");
    assert_eq!(limited.status, 429, "{}", text(&limited));
    assert!(limited.head.to_ascii_lowercase().contains("retry-after:"));
    assert!(text(&limited).contains("too many wrong tokens"));
    let pushed = env.send(
        "POST",
        "/push/autodns",
        &format!("X-Mailroom-Token: {PUSH_TOKEN}\r\nContent-Type: application/json\r\n"),
        push_body(6).as_bytes(),
    );
    assert_eq!(pushed.status, 429, "push guesses share the limit");
    let login = env.send("GET", "/login", "", b"");
    let page = text(&login);
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = page[at..].split('"').next().unwrap().to_string();
    let tried = env.send(
        "POST",
        "/login",
        "Content-Type: application/x-www-form-urlencoded\r\n",
        format!("csrf={csrf}&next=%2F&token={TOKEN}").as_bytes(),
    );
    assert_eq!(tried.status, 429, "{}", text(&tried));
    let elsewhere = support::sockets::http_from("127.0.0.2", env.port, "/api/v1/events", &right);
    assert_eq!(elsewhere.status, 200, "another address is not limited");
    for f in ["watch.log", "m.db", "m.db-wal"] {
        let b = std::fs::read(env.path(f)).unwrap_or_default();
        let s = String::from_utf8_lossy(&b);
        assert!(
            !s.contains(TOKEN) && !s.contains(PUSH_TOKEN),
            "{f} holds a token"
        );
    }
}

#[test]
fn a_logout_ends_the_session_on_the_server() {
    let env = Env::new("token_env = \"ACCESS_TOKEN\"\n", "");
    let _watch = env.spawn_watch();
    let form = text(&env.send("GET", "/login", "", b""));
    let at = form.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = form[at..].split('"').next().unwrap().to_string();
    let ok = env.send(
        "POST",
        "/login",
        "Content-Type: application/x-www-form-urlencoded\r\n",
        format!("csrf={csrf}&next=%2Fevents&token={TOKEN}").as_bytes(),
    );
    assert_eq!(ok.status, 303, "{}", ok.head);
    let cookie = ok
        .head
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let with_cookie = format!("Cookie: {cookie}\r\n");
    let page = env.send("GET", "/events", &with_cookie, b"");
    assert_eq!(page.status, 200);
    let page = text(&page);
    let at = page.find("action=\"/logout\"").unwrap();
    let at = page[at..].find("name=\"csrf\" value=\"").unwrap() + at + 19;
    let csrf = page[at..].split('"').next().unwrap().to_string();
    let out = env.send(
        "POST",
        "/logout",
        &format!("{with_cookie}Content-Type: application/x-www-form-urlencoded\r\n"),
        format!("csrf={csrf}&back=%2Flogin").as_bytes(),
    );
    assert_eq!(out.status, 303, "{}", out.head);
    // The cookie a browser (or a thief) kept is worth nothing now.
    let after = env.send("GET", "/events", &with_cookie, b"");
    assert_eq!(after.status, 303, "the session outlived its logout");
    assert!(after.head.contains("/login"));
}

#[test]
fn ages_and_pages_too_large_to_count_are_answered_with_a_reason() {
    let env = Env::new("", "");
    let _watch = env.spawn_watch();
    for since in ["99999999999999999999d", "1000000000w"] {
        let r = env.send("GET", &format!("/events?since={since}"), "", b"");
        assert_eq!(r.status, 200, "since={since}: {}", text(&r));
        assert!(
            text(&r).contains(&format!(
                "since: {since} reaches further back than any date"
            )),
            "{}",
            text(&r)
        );
        let out = env.cmd(&["events", "--since", since]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "events --since {since}: {err}");
        assert!(
            err.contains("further back than any date") && !err.contains("panicked"),
            "{err}"
        );
    }
    for page in [
        "18446744073709551615",
        "99999999999999999999999",
        "4294967296",
    ] {
        let r = env.send("GET", &format!("/events?page={page}"), "", b"");
        assert_eq!(r.status, 200, "page={page}: {}", text(&r));
        let t = text(&r);
        assert!(
            t.contains("Page 1 of 1") && t.contains("d0.example"),
            "page={page}: {t}"
        );
        for list in ["/outbox", "/quarantine"] {
            let r = env.send("GET", &format!("{list}?page={page}"), "", b"");
            assert_eq!(r.status, 200, "{list}?page={page}");
        }
    }
}
