//! The web console (issue 13) on a running `mailroom watch` fed from a Maildir of the
//! bundled samples plus a hostile one: every page rendered in headless Chromium (DOM
//! asserted, screenshots at 375 and 1280 px under `target/test-output/console/`), a
//! payload holding markup shown as text with no script run, the filters and paging of
//! the event list, an event's detail and raw mail, retry and reparse only by POST with
//! the CSRF token, the login when a token is set, and `mailroom serve` over a database
//! filled by `mailroom import`.

mod support;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::browser;

const TOKEN: &str = "console-t0ken-that-must-not-leak";
const HOSTILE_DOMAIN: &str = "x<script>document.title='pwned'</script>.com";

/// An OpenSRS notification whose domain, event id, subject and payload carry markup.
const HOSTILE: &str = "Date: Tue, 03 Nov 2026 14:22:09 +0000\r
From: OpenSRS <notifications@opensrs.net>\r
To: Domain Ops <domains@reseller.example>\r
Subject: Event notification: DOMAIN: CREATED: <script>document.title='pwned'</script>\r
Message-ID: <hostile-1@opensrs.net>\r
MIME-Version: 1.0\r
Content-Type: text/plain; charset=UTF-8\r
\r
{\"object_data\":{\"domain_name\":\"x<script>document.title='pwned'</script>.com\",\"note\":\"<img src=x onerror=\\\"document.title='pwned'\\\"> it's \\\"quoted\\\" & <b>bold</b>\",\"domain_id\":\"1\"},\"object\":\"DOMAIN\",\"event_id\":\"hostile-<script>document.title='pwned'</script>\",\"event\":\"CREATED\",\"event_date\":\"2026-11-03T14:22:07Z\"}\r
";

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

/// Every `.eml` directly in `dir`.
fn emls(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    v.sort();
    v
}

struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

struct Env {
    dir: tempfile::TempDir,
    port: u16,
}

impl Env {
    /// A config with a Maildir `inbox` holding `files`, webhooks to a closed port for
    /// failed jobs (so they fail and are given up at once), forwards for new domains,
    /// a daily digest for transfers out.
    fn new(files: &[PathBuf], token: bool) -> Env {
        let dir = tempfile::tempdir().unwrap();
        for d in ["rules", "out", "inbox/new", "inbox/cur", "inbox/tmp"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        for (i, f) in files.iter().enumerate() {
            std::fs::copy(f, dir.path().join(format!("inbox/new/{i:04}.console:2,"))).unwrap();
        }
        std::fs::write(dir.path().join("inbox/new/hostile.console:2,"), HOSTILE).unwrap();
        let port = support::free_port();
        let closed = support::free_port();
        let token_line = if token {
            "token_env = \"CONSOLE_TOKEN\"\n"
        } else {
            ""
        };
        std::fs::write(
            dir.path().join("mailroom.toml"),
            support::age::any_age(&format!(
                "db = \"m.db\"\nrules = \"rules\"\n[smtp]\ndir = \"out\"\n\
                 [delivery]\ngive_up_after = \"1s\"\nfirst_backoff = \"1s\"\nmax_backoff = \"1s\"\n\
                 [http]\nlisten = \"127.0.0.1:{port}\"\n{token_line}\
                 [[maildir]]\nname = \"inbox\"\npath = \"inbox\"\n\
                 [[maildir]]\nname = \"gone\"\npath = \"no-such-folder\"\n"
            )),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("rules/10.toml"),
            format!(
                "[[rule]]\nname = \"failed jobs hook\"\nwhen.topic = \"job.result\"\nwhen.status = \"error\"\n\
                 webhook = {{ url = \"http://127.0.0.1:{closed}/hook\" }}\n\
                 [[rule]]\nname = \"new domains\"\nwhen.topic = \"domain.created\"\nforward = {{ to = [\"ops@example.com\"] }}\n\
                 [[rule]]\nname = \"transfers\"\nwhen.topic = \"transfer.out\"\ndigest = \"daily\"\n\
                 [[digest]]\nname = \"daily\"\nat = \"08:00\"\ntimezone = \"UTC\"\nto = [\"owner@example.com\"]\n"
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
            .env("CONSOLE_TOKEN", TOKEN);
        c
    }

    /// Starts `verb` (watch or serve) and waits for its HTTP server.
    fn spawn(&self, verb: &str) -> Running {
        let mut child = self
            .cmd(&[verb])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.path(&format!("{verb}.log"))).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{verb} exited ({status}): {}", self.log(verb));
            }
            assert!(Instant::now() < deadline, "the HTTP server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Running(child)
    }

    fn log(&self, verb: &str) -> String {
        std::fs::read_to_string(self.path(&format!("{verb}.log"))).unwrap_or_default()
    }

    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.path("m.db")).unwrap()
    }

    fn count(&self, sql: &str) -> i64 {
        self.db().query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// Waits until `sql` counts at least `n`.
    fn wait_for(&self, sql: &str, n: i64, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = if self.path("m.db").exists() {
                self.db()
                    .query_row(sql, [], |r| r.get::<_, i64>(0))
                    .unwrap_or(0)
            } else {
                0
            };
            if got >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: {got} of {n}\n{}",
                self.log("watch")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// One HTTP/1.1 request; `extra` are header lines ending in CRLF.
    fn request(&self, method: &str, target: &str, extra: &str, body: &str) -> Reply {
        let form = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/x-www-form-urlencoded\r\n"
        };
        let r = support::http(
            self.port,
            method,
            target,
            &format!("{extra}{form}"),
            body.as_bytes(),
        );
        Reply {
            status: r.status,
            head: r.head,
            body: r.body,
        }
    }

    fn get(&self, target: &str) -> Reply {
        self.request("GET", target, "", "")
    }

    fn post(&self, target: &str, extra: &str, body: &str) -> Reply {
        self.request("POST", target, extra, body)
    }
}

/// The value of the first hidden `csrf` field of a page.
fn csrf(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a csrf field")
        + "name=\"csrf\" value=\"".len();
    page[at..].split('"').next().unwrap().to_string()
}

/// `N` from the event list's "Events a–b of N".
fn listed(page: &str) -> i64 {
    if page.contains("No event matches.") {
        return 0;
    }
    let at = page.find("id=\"count\"").expect("the count line");
    let line = &page[at..page[at..].find("</p>").unwrap() + at];
    line.split(" of ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no count in {line}"))
}

/// The samples the console is browsed with: every bundled sample (well over 100
/// events, so several pages) and the malformed ones (quarantine).
fn corpus() -> Vec<PathBuf> {
    let mut files = emls(&samples());
    for sub in ["extra", "field", "malformed"] {
        files.extend(emls(&samples().join(sub)));
    }
    files
}

/// Starts watch on the corpus and waits until every file is stored and the failed
/// jobs' webhooks have been given up.
fn running(token: bool) -> (Env, Running) {
    let files = corpus();
    let env = Env::new(&files, token);
    let child = env.spawn("watch");
    env.wait_for(
        "SELECT COUNT(*) FROM message_sources",
        files.len() as i64 + 1,
        "messages stored",
    );
    // Every failed job's webhook given up (the port is closed, the window 1 s).
    env.wait_for(
        "SELECT COUNT(*) FROM outbox WHERE channel = 'webhook' AND state = 'dead'
           AND NOT EXISTS (SELECT 1 FROM outbox WHERE channel = 'webhook' AND state != 'dead')",
        1,
        "webhooks given up",
    );
    (env, child)
}

/// A running `watch` or `serve`: killed if the test fails before [`stop`].
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// SIGTERM, then it must exit 0 within 10 s.
fn stop(mut running: Running) {
    unsafe extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    // SAFETY: kill(2) on our own child.
    unsafe {
        kill(running.0.id() as i32, 15);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = running.0.try_wait().unwrap() {
            assert!(status.success(), "exit status {status} after SIGTERM");
            return;
        }
        assert!(Instant::now() < deadline, "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn every_page_renders_in_chromium_and_payload_markup_stays_text() {
    let (env, child) = running(false);
    let hostile: i64 = env.count(&format!(
        "SELECT id FROM events WHERE domain = '{}'",
        HOSTILE_DOMAIN.replace('\'', "''")
    ));
    let message: i64 = env.count(&format!("SELECT message FROM events WHERE id = {hostile}"));
    let failed_job: i64 =
        env.count("SELECT MIN(id) FROM events WHERE topic = 'job.result' AND status = 'error'");
    // (name, path, title, texts the page must show)
    let pages: Vec<(&str, String, &str, Vec<String>)> = vec![
        (
            "attention",
            "/".into(),
            "Needs attention",
            vec![
                "Failed jobs".into(),
                "Transfers out pending".into(),
                "Expiring and deleted domains".into(),
                "Zone checks failing".into(),
                "Deliveries given up".into(),
                "Quarantined mail".into(),
                "<section id=\"sources\"><h2>Sources in error (1)</h2>".into(),
                "no-such-folder".into(),
                format!("href=\"/events/{failed_job}\""),
            ],
        ),
        (
            "events",
            "/events".into(),
            "Events",
            vec!["name=\"registrar\"".into(), "rel=\"next\"".into()],
        ),
        (
            "events-created",
            "/events?topic=domain.created".into(),
            "Events",
            vec!["x&lt;script&gt;document.title='pwned'&lt;/script&gt;.com".into()],
        ),
        (
            "event-hostile",
            format!("/events/{hostile}"),
            "domain.created x",
            vec![
                "x&lt;script&gt;document.title='pwned'&lt;/script&gt;.com".into(),
                "&lt;img src=x onerror=\\\"document.title='pwned'\\\"&gt;".into(),
                "id=\"payload\"".into(),
                "id=\"headers\"".into(),
                "Seen at".into(),
                "maildir".into(),
                format!("href=\"/messages/{message}.eml\""),
                "new domains".into(),
            ],
        ),
        (
            "event-failed-job",
            format!("/events/{failed_job}"),
            "job.result",
            vec!["failed jobs hook".into(), "dead".into(), "Retry now".into()],
        ),
        (
            "message-hostile",
            format!("/messages/{message}"),
            "Message #",
            vec!["Subject: Event notification: DOMAIN: CREATED: &lt;script&gt;".into()],
        ),
        (
            "quarantine",
            "/quarantine".into(),
            "Quarantine",
            vec![
                "Reparse every quarantined message".into(),
                "gave no event".into(),
                "maildir:".into(),
            ],
        ),
        (
            "outbox",
            "/outbox?state=dead".into(),
            "Outbox",
            vec!["failed jobs hook".into(), "Retry now".into()],
        ),
        (
            "sources",
            "/sources".into(),
            "Sources",
            vec![
                "inbox".into(),
                "local folder".into(),
                "gone".into(),
                "no-such-folder".into(),
            ],
        ),
        (
            "digests",
            "/digests".into(),
            "Digests",
            vec!["daily".into(), "daily at 08:00 UTC".into()],
        ),
    ];
    let out = browser::output_dir("console");
    std::thread::scope(|s| {
        for chunk in pages.chunks(pages.len().div_ceil(3)) {
            let env = &env;
            let out = &out;
            s.spawn(move || {
                for (name, path, title, texts) in chunk {
                    let url = env.url(path);
                    let narrow = out.join(format!("{name}-375.png"));
                    let dom = browser::dom_and_screenshot(&url, &narrow, 375, 1400);
                    assert!(
                        dom.contains(&format!("<title>{title}")),
                        "{path}: title {title:?} not in\n{dom}"
                    );
                    assert!(
                        !dom.contains("pwned</title>"),
                        "{path}: a payload script ran"
                    );
                    assert!(
                        !dom.contains("<script"),
                        "{path}: a script element in the DOM"
                    );
                    assert!(
                        !dom.contains("<img"),
                        "{path}: an injected element in the DOM"
                    );
                    assert!(
                        !dom.contains("<b>bold"),
                        "{path}: payload markup became markup"
                    );
                    assert!(
                        dom.contains("<nav aria-label=\"main\">"),
                        "{path}: no navigation"
                    );
                    for t in texts {
                        assert!(dom.contains(t.as_str()), "{path}: {t:?} not in\n{dom}");
                    }
                    browser::screenshot(&url, &out.join(format!("{name}-1280.png")), 1280, 1000);
                }
            });
        }
    });
    // The answer itself: escaped, under a policy that runs no script, no framing.
    let r = env.get(&format!("/events/{hostile}"));
    assert_eq!(r.status, 200);
    let csp = r.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    assert_eq!(
        r.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert!(
        r.text()
            .contains("x&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;.com")
    );
    assert!(!r.text().contains("<script"));
    stop(child);
}

#[test]
fn filters_and_paging_narrow_the_list_and_an_event_shows_everything() {
    let (env, child) = running(false);
    let all = env.count("SELECT COUNT(*) FROM events");
    assert!(all > 100, "{all} events");
    let page = env.get("/events").text();
    assert_eq!(listed(&page), all);
    for (query, sql) in [
        ("registrar=gandi", "registrar = 'gandi'"),
        ("topic=transfer", "topic LIKE 'transfer.%'"),
        (
            "topic=transfer.out&status=pending",
            "topic = 'transfer.out' AND status = 'pending'",
        ),
        ("domain=.fr", "domain LIKE '%.fr'"),
        ("domain=example.com", "domain = 'example.com'"),
        (
            "since=2026-11-01T00%3A00%3A00Z",
            "COALESCE(occurred_at, first_seen) >= '2026-11-01T00:00:00'",
        ),
        (
            "registrar=opensrs&topic=domain",
            "registrar = 'opensrs' AND topic LIKE 'domain.%'",
        ),
    ] {
        let want = env.count(&format!("SELECT COUNT(*) FROM events WHERE {sql}"));
        let got = listed(&env.get(&format!("/events?{query}")).text());
        assert_eq!(got, want, "/events?{query}");
        assert!(
            got < all && got > 0,
            "/events?{query} does not narrow: {got} of {all}"
        );
    }
    let bad = env.get("/events?since=last+tuesday").text();
    assert!(bad.contains("since: last tuesday is not a date"), "{bad}");
    // Paging: 50 a page, the filters kept in the links, no overlap.
    let first_ids = |page: &str| -> Vec<String> {
        page.match_indices("<a href=\"/events/")
            .map(|(i, _)| page[i + 17..].split('"').next().unwrap().to_string())
            .collect()
    };
    let p1 = env.get("/events?registrar=autodns").text();
    // The Older link names the last event shown (keyset paging), the filters kept.
    let older = p1
        .split("rel=\"next\" href=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no Older link: {p1}"))
        .replace("&amp;", "&");
    let last_shown = first_ids(&p1).last().unwrap().clone();
    assert_eq!(
        older,
        format!("/events?registrar=autodns&before={last_shown}&page=2")
    );
    let p2 = env.get(&older).text();
    assert!(p2.contains("rel=\"prev\"") && p2.contains("Page 2 of"));
    let by_number = env.get("/events?registrar=autodns&page=2").text();
    assert_eq!(
        first_ids(&p2),
        first_ids(&by_number),
        "keyset and numbered page 2 differ"
    );
    let newer = p2
        .split("rel=\"prev\" href=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .replace("&amp;", "&");
    assert_eq!(first_ids(&env.get(&newer).text()), first_ids(&p1));
    let (a, b) = (first_ids(&p1), first_ids(&p2));
    assert!(!a.is_empty() && !b.is_empty());
    assert!(a.iter().all(|id| !b.contains(id)), "pages overlap");
    let pages = (listed(&p1) as f64 / 50.0).ceil() as i64;
    let last = env
        .get(&format!("/events?registrar=autodns&page={pages}"))
        .text();
    assert!(!last.contains("rel=\"next\""));
    // One event: every field, the payload, where it was seen, its actions, the headers.
    let id =
        env.count("SELECT MIN(id) FROM events WHERE topic = 'job.result' AND status = 'error'");
    let (event_id, message): (String, i64) = env
        .db()
        .query_row(
            &format!("SELECT event_id, message FROM events WHERE id = {id}"),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let detail = env.get(&format!("/events/{id}")).text();
    for want in [
        event_id.as_str(),
        "autodns",
        "job.result",
        "<pre id=\"payload\">{",
        "maildir:",
        "failed jobs hook",
        "Message-ID:",
        "Subject:",
        &format!("/messages/{message}.eml"),
    ] {
        assert!(detail.contains(want), "{want:?} not in the event page");
    }
    // The raw message, byte for byte, as an attachment.
    let raw = env.get(&format!("/messages/{message}.eml"));
    assert_eq!(raw.status, 200);
    assert!(
        raw.header("content-disposition")
            .unwrap()
            .starts_with("attachment")
    );
    let (kept, _) = mailroom::store::query::raw_message(&env.db(), message)
        .unwrap()
        .unwrap();
    assert_eq!(raw.body, kept);
    assert!(
        corpus()
            .iter()
            .any(|f| std::fs::read(f).unwrap() == raw.body)
    );
    assert_eq!(env.get("/events/999999").status, 404);
    assert_eq!(env.get("/nowhere").status, 404);
    // Without a token only loopback names are answered (DNS rebinding).
    let rebound = env.request("GET", "/events", "Host: evil.example\r\n", "");
    assert_eq!(rebound.status, 403, "{}", rebound.head);
    stop(child);
}

#[test]
fn retry_and_reparse_take_a_post_with_the_csrf_token() {
    let (env, child) = running(false);
    let dead = env.count("SELECT MIN(id) FROM outbox WHERE state = 'dead' AND channel = 'webhook'");
    let attempts = |env: &Env| env.count(&format!("SELECT attempts FROM outbox WHERE id = {dead}"));
    let before = attempts(&env);
    let token = csrf(&env.get("/outbox").text());
    let retry = format!("/outbox/{dead}/retry");
    // Refused: a GET, no token, a wrong token, another site's page.
    assert_eq!(env.get(&retry).status, 403);
    assert_eq!(env.post(&retry, "", "back=%2Foutbox").status, 403);
    assert_eq!(env.post(&retry, "", "csrf=0000&back=%2Foutbox").status, 403);
    let foreign = env.post(
        &retry,
        "Origin: http://evil.example\r\n",
        &format!("csrf={token}"),
    );
    assert_eq!(foreign.status, 403);
    let huge = format!("csrf={token}&pad={}", "x".repeat(64 << 10));
    assert_eq!(env.post(&retry, "", &huge).status, 413);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(attempts(&env), before, "a refused retry changed the item");
    assert_eq!(
        env.count(&format!(
            "SELECT COUNT(*) FROM outbox WHERE id = {dead} AND state = 'dead'"
        )),
        1
    );
    // Accepted: requeued, tried again at once (and given up again: the port is closed).
    let same_origin = format!("Origin: http://127.0.0.1:{}\r\n", env.port);
    let r = env.post(
        &retry,
        &same_origin,
        &format!("csrf={token}&back=%2Foutbox"),
    );
    assert_eq!(r.status, 303, "{}", r.head);
    let to = r.header("location").unwrap();
    assert_eq!(to, format!("/outbox?done=retried&id={dead}"));
    env.wait_for(
        &format!("SELECT attempts - {before} FROM outbox WHERE id = {dead}"),
        1,
        "retried",
    );
    assert!(
        env.get(&to)
            .text()
            .contains(&format!("Delivery #{dead} is queued again"))
    );
    // Reparse: a quarantined message that the extractors read now (held back by hand).
    let raw = std::fs::read_to_string(samples().join("opensrs-domain-created.eml"))
        .unwrap()
        .replace("c98ae6da2899b4677d147f5733f9e82d", "reparse-me-1")
        .replace("\"example.com\"", "\"reparsed.example\"");
    let hash = {
        use sha2::Digest;
        sha2::Sha256::digest(raw.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let db = env.db();
    db.execute(
        "INSERT INTO messages (content_hash, subject, size, status, reason, first_seen, last_seen)
         VALUES (?1, 'held back', ?2, 'quarantined', 'held back by the test', '2026-11-20T00:00:00.000Z', '2026-11-20T00:00:00.000Z')",
        rusqlite::params![hash, raw.len() as i64],
    )
    .unwrap();
    let held = db.last_insert_rowid();
    db.execute(
        "INSERT INTO raw_messages (message, complete, raw) VALUES (?1, 1, ?2)",
        rusqlite::params![held, raw.as_bytes()],
    )
    .unwrap();
    db.execute(
        "INSERT INTO message_sources (message, source, seen_at) VALUES (?1, 'file:/held/back.eml', '2026-11-20T00:00:00.000Z')",
        [held],
    )
    .unwrap();
    let quarantine = env.get("/quarantine").text();
    assert!(quarantine.contains("held back by the test"));
    let reparse = format!("/messages/{held}/reparse");
    assert_eq!(env.get(&reparse).status, 403);
    assert_eq!(env.post(&reparse, "", "back=%2Fquarantine").status, 403);
    assert_eq!(
        env.count(&format!(
            "SELECT COUNT(*) FROM messages WHERE id = {held} AND status = 'quarantined'"
        )),
        1
    );
    let r = env.post(
        &reparse,
        "",
        &format!("csrf={}&back=%2Fquarantine", csrf(&quarantine)),
    );
    assert_eq!(r.status, 303, "{}", r.head);
    let to = r.header("location").unwrap();
    assert_eq!(
        to,
        format!("/quarantine?done=reparsed&id={held}&found=1&new=1")
    );
    assert_eq!(
        env.count(&format!(
            "SELECT COUNT(*) FROM messages WHERE id = {held} AND status = 'parsed'"
        )),
        1
    );
    // The new event went through the rules: its forward is queued (and sent).
    let forwards = env.count(
        "SELECT COUNT(*) FROM outbox o JOIN events e ON e.id = o.event
         WHERE e.domain = 'reparsed.example' AND o.channel = 'forward' AND o.rule = 'new domains'",
    );
    assert_eq!(forwards, 1);
    assert!(env.get(&to).text().contains("1 event(s) found, 1 new"));
    assert!(
        !env.get("/quarantine")
            .text()
            .contains("held back by the test")
    );
    // Marking an event handled takes it off the attention page. The sample job failed
    // in 2018: outside the last 30 days ([http] attention_window), shown when asked.
    let job =
        env.count("SELECT MIN(id) FROM events WHERE topic = 'job.result' AND status = 'error'");
    assert!(!env.get("/").text().contains(&format!("/events/{job}/ack")));
    let landing = env.get("/?all=1").text();
    assert!(landing.contains(&format!("/events/{job}/ack")));
    assert_eq!(env.get(&format!("/events/{job}/ack")).status, 403);
    let r = env.post(
        &format!("/events/{job}/ack"),
        "",
        &format!("csrf={}&back=%2F", csrf(&landing)),
    );
    assert_eq!(r.status, 303);
    assert!(
        !env.get("/?all=1")
            .text()
            .contains(&format!("/events/{job}/ack"))
    );
    stop(child);
}

#[test]
fn with_a_token_the_console_wants_a_login() {
    let (env, child) = running(true);
    let r = env.get("/events?topic=transfer");
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("location").unwrap(),
        "/login?next=%2Fevents%3Ftopic%3Dtransfer"
    );
    let form = env.get("/login?next=%2Fevents");
    assert_eq!(form.status, 200);
    let form = form.text();
    assert!(form.contains("type=\"password\" name=\"token\""));
    assert!(!form.contains(TOKEN));
    let token = csrf(&form);
    // A wrong token: refused after a pause, the form again.
    let started = Instant::now();
    let wrong = env.post(
        "/login",
        "",
        &format!("csrf={token}&next=%2Fevents&token=guess"),
    );
    assert_eq!(wrong.status, 401);
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(wrong.text().contains("name=\"token\"") && wrong.header("set-cookie").is_none());
    // Without the form's CSRF token even the right token is refused.
    assert_eq!(
        env.post("/login", "", &format!("next=%2Fevents&token={TOKEN}"))
            .status,
        403
    );
    // The right token: a session cookie (not the token), then the pages.
    let ok = env.post(
        "/login",
        "",
        &format!("csrf={token}&next=%2Fevents&token={TOKEN}"),
    );
    assert_eq!(ok.status, 303, "{}", ok.head);
    assert_eq!(ok.header("location").unwrap(), "/events");
    let cookie = ok.header("set-cookie").unwrap();
    for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} not in {cookie}");
    }
    assert!(!cookie.contains(TOKEN));
    let pair = cookie.split(';').next().unwrap().to_string();
    let page = env.request("GET", "/events", &format!("Cookie: {pair}\r\n"), "");
    assert_eq!(page.status, 200);
    let page = page.text();
    assert!(page.contains("<h1>Events</h1>") && page.contains("Log out"));
    assert!(!page.contains(TOKEN));
    for path in ["/", "/sources", "/outbox", "/digests", "/quarantine"] {
        let p = env.request("GET", path, &format!("Cookie: {pair}\r\n"), "");
        assert_eq!(p.status, 200, "{path}");
        assert!(
            !p.text().contains(TOKEN) && !p.text().contains("CONSOLE_TOKEN"),
            "{path}"
        );
    }
    // A forged cookie is no session.
    let flipped = if pair.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{flipped}", &pair[..pair.len() - 1]);
    assert_eq!(
        env.request("GET", "/events", &format!("Cookie: {forged}\r\n"), "")
            .status,
        303
    );
    // Forms carry the session's own CSRF token: the login form's is refused.
    let dead = env.count("SELECT MIN(id) FROM outbox WHERE state = 'dead'");
    let retry = format!("/outbox/{dead}/retry");
    let cookie_line = format!("Cookie: {pair}\r\n");
    assert_eq!(
        env.post(&retry, &cookie_line, &format!("csrf={token}"))
            .status,
        403
    );
    assert_eq!(
        env.post(&retry, "", &format!("csrf={}", csrf(&page)))
            .status,
        403
    );
    assert_eq!(
        env.post(&retry, &cookie_line, &format!("csrf={}", csrf(&page)))
            .status,
        303
    );
    // The API wants the bearer token, not the cookie.
    assert_eq!(
        env.request("GET", "/api/v1/events", &cookie_line, "")
            .status,
        401
    );
    stop(child);
}

#[test]
fn serve_shows_a_database_filled_by_import() {
    let env = Env::new(&[], false);
    let mut files: Vec<String> = emls(&samples())
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    files.push(
        env.path("inbox/new/hostile.console:2,")
            .display()
            .to_string(),
    );
    let mut args = vec!["import"];
    args.extend(files.iter().map(String::as_str));
    let import = env.cmd(&args).output().unwrap();
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    // Sends the digest (and tries what else is due: the webhooks fail, the port is closed).
    let send = env.cmd(&["digest", "daily", "--send"]).output().unwrap();
    let in_run = env.count("SELECT COALESCE(MAX(events), 0) FROM digest_runs");
    assert!(
        in_run > 0,
        "no digest run: {}",
        String::from_utf8_lossy(&send.stderr)
    );
    let queued = env.count("SELECT COUNT(*) FROM outbox");
    assert!(queued > 0, "import queued nothing");
    // (Under load the 1 s give-up window may already have ended: dead or pending, what
    // counts below is that `serve` attempts nothing.)
    let attempts = env.count("SELECT COALESCE(SUM(attempts), 0) FROM outbox");
    let undelivered = env.count("SELECT COUNT(*) FROM outbox WHERE state != 'done'");
    let child = env.spawn("serve");
    let events = env.count("SELECT COUNT(*) FROM events");
    assert_eq!(listed(&env.get("/events").text()), events);
    let landing = browser::dom(&env.url("/"));
    assert!(landing.contains("Transfers out pending"));
    let digests = browser::dom(&env.url("/digests"));
    assert!(digests.contains("href=\"/digests/runs/1\""), "{digests}");
    browser::screenshot(
        &env.url("/digests"),
        &browser::output_dir("console").join("serve-digests-375.png"),
        375,
        1000,
    );
    let run = env.get("/digests/runs/1").text();
    let linked: std::collections::HashSet<&str> = run
        .match_indices("<a href=\"/events/")
        .map(|(i, _)| run[i + 17..].split('"').next().unwrap())
        .collect();
    assert_eq!(linked.len() as i64, in_run, "{run}");
    assert!(env.get("/sources").text().contains("inbox"));
    // `serve` reads no source and delivers nothing: what import queued stays queued.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        env.count("SELECT COALESCE(SUM(attempts), 0) FROM outbox"),
        attempts
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM outbox WHERE state != 'done'"),
        undelivered
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM message_sources WHERE source LIKE 'maildir:%'"),
        0
    );
    stop(child);
    // A database that does not exist is an error, not a new empty one.
    let missing = env.cmd(&["--db", "nowhere.db", "serve"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no database at"));
}
