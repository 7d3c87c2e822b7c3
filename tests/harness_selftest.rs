//! Proves the real-server test harness (tests/support) works: Dovecot, the
//! aiosmtpd SMTP sink and the HTTP sink, driven by raw protocol dialogues.
//! Needs `scripts/install-test-deps.sh` to have run (and root, for Dovecot).

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Certs, Dovecot, HttpResponse, HttpSink, ImapConn, SmtpOptions, SmtpSink};

const T: Duration = Duration::from_secs(10);

fn msg(subject: &str) -> Vec<u8> {
    format!(
        "From: notifications@registrar.example\r\nTo: ops@example.com\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@harness.example>\r\n\r\nbody of {subject}\r\n"
    )
    .into_bytes()
}

/// `openssl s_client` handshake against 127.0.0.1:port, verifying against
/// `ca` for host `localhost`. Returns (verified_ok, output).
fn tls_handshake(port: u16, ca: &std::path::Path, starttls: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new("openssl");
    cmd.args([
        "s_client",
        "-connect",
        &format!("127.0.0.1:{port}"),
        "-CAfile",
    ])
    .arg(ca)
    .args([
        "-verify_hostname",
        "localhost",
        "-verify_return_error",
        "-brief",
    ]);
    if let Some(proto) = starttls {
        cmd.args(["-starttls", proto]);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl s_client");
    drop(child.stdin.take()); // EOF: s_client quits after the handshake
    let deadline = Instant::now() + T;
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "openssl s_client hung");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let ok = out.status.success() && text.contains("Verification: OK");
    (ok, text)
}

fn select_exists(port: u16, folder: &str) -> u32 {
    let mut c = ImapConn::login(port);
    let lines = c.ok(&format!("SELECT \"{folder}\""));
    let exists = lines
        .iter()
        .find_map(|l| l.strip_prefix("* ")?.strip_suffix(" EXISTS")?.parse().ok())
        .unwrap_or_else(|| panic!("no EXISTS in {lines:?}"));
    c.logout();
    exists
}

#[test]
fn dovecot_end_to_end() {
    let started = Instant::now();
    let certs = Certs::generate();
    let mut dovecot = Dovecot::start(&certs);
    eprintln!("dovecot up in {:?}", started.elapsed());

    // Plain port: greeting, STARTTLS offered, LOGIN works, bad password refused.
    let mut c = ImapConn::connect(dovecot.imap_port());
    let caps = c.ok("CAPABILITY").join(" ");
    assert!(caps.contains("STARTTLS"), "no STARTTLS in {caps}");
    let (_, bad) = c.command("LOGIN reseller wrong");
    assert!(bad.contains(" NO "), "{bad}");
    c.ok("LOGIN reseller secret");
    c.logout();

    eprintln!("[{:?}] login checks done", started.elapsed());
    // IMAPS and STARTTLS present our CA's cert; an unknown CA is refused.
    let (ok, out) = tls_handshake(dovecot.imaps_port(), &certs.ca_pem, None);
    assert!(ok, "IMAPS handshake: {out}");
    let (ok, out) = tls_handshake(dovecot.imap_port(), &certs.ca_pem, Some("imap"));
    assert!(ok, "IMAP STARTTLS handshake: {out}");
    let other = certs.other_ca();
    let (ok, _) = tls_handshake(dovecot.imaps_port(), &other.ca_pem, None);
    assert!(!ok, "IMAPS cert verified against an unrelated CA");

    eprintln!("[{:?}] TLS handshakes done", started.elapsed());
    // Direct Maildir delivery is visible to IMAP.
    assert_eq!(dovecot.count("INBOX"), 0);
    dovecot.deliver("INBOX", &msg("first"));
    assert_eq!(dovecot.count("INBOX"), 1);
    assert_eq!(select_exists(dovecot.imap_port(), "INBOX"), 1);
    dovecot.deliver("Processed", &msg("elsewhere"));
    assert!(dovecot.maildir("Processed").ends_with(".Processed"));
    assert_eq!(select_exists(dovecot.imap_port(), "Processed"), 1);

    eprintln!("[{:?}] deliver+select done", started.elapsed());
    // APPEND through IMAP wakes an IDLE client.
    let mut idler = ImapConn::login(dovecot.imap_port());
    idler.ok("SELECT INBOX");
    let tag = idler.idle();
    let t0 = Instant::now();
    let done = dovecot.append_via_imap("INBOX", &msg("second"));
    assert!(done.contains("APPENDUID"), "{done}");
    let pushed = idler.wait_untagged("EXISTS", Duration::from_secs(5));
    eprintln!("IDLE push after APPEND: {:?} ({pushed:?})", t0.elapsed());
    assert_eq!(
        pushed.as_deref(),
        Some("* 2 EXISTS"),
        "{}",
        idler.transcript()
    );
    // ...and so does a direct Maildir delivery (inotify).
    let t0 = Instant::now();
    dovecot.deliver("INBOX", &msg("third"));
    let pushed = idler.wait_untagged("EXISTS", Duration::from_secs(5));
    eprintln!(
        "IDLE push after Maildir deliver: {:?} ({pushed:?})",
        t0.elapsed()
    );
    assert_eq!(
        pushed.as_deref(),
        Some("* 3 EXISTS"),
        "{}",
        idler.transcript()
    );
    idler.done(&tag);
    // Mark one \Seen so we can check flags survive on disk.
    idler.ok("STORE 1 +FLAGS (\\Seen)");
    idler.logout();
    assert_eq!(dovecot.count("INBOX"), 3);
    assert!(
        dovecot
            .messages("INBOX")
            .iter()
            .any(|m| m.flags.contains('S'))
    );

    eprintln!("[{:?}] IDLE done", started.elapsed());
    // A graceful restart and a crash restart both keep mail, on the same ports.
    let before = dovecot.status("INBOX");
    let t0 = Instant::now();
    dovecot.stop();
    eprintln!("dovecot stop: {:?}", t0.elapsed());
    assert!(
        TcpStream::connect(("127.0.0.1", dovecot.imap_port())).is_err(),
        "port open while stopped"
    );
    dovecot.deliver("INBOX", &msg("while-down"));
    let t0 = Instant::now();
    dovecot.start_again();
    eprintln!("dovecot start_again: {:?}", t0.elapsed());
    assert_eq!(select_exists(dovecot.imap_port(), "INBOX"), 4);
    dovecot.kill();
    let t0 = Instant::now();
    dovecot.start_again();
    eprintln!("dovecot start_again after SIGKILL: {:?}", t0.elapsed());
    let after = dovecot.status("INBOX");
    assert_eq!(after.messages, 4);
    assert_eq!(after.uidvalidity, before.uidvalidity);

    eprintln!("[{:?}] restarts done", started.elapsed());
    // UIDVALIDITY change: same messages, new UIDVALIDITY, UIDs renumbered.
    let t0 = Instant::now();
    let (old, new) = dovecot.change_uidvalidity("INBOX");
    eprintln!("UIDVALIDITY {old} -> {new} in {:?}", t0.elapsed());
    assert_ne!(old, new);
    assert_eq!(dovecot.status("INBOX").messages, 4);
    let (old_p, new_p) = dovecot.change_uidvalidity("Processed");
    assert_ne!(old_p, new_p);
    assert_eq!(
        dovecot.uidvalidity("INBOX"),
        new,
        "changing Processed touched INBOX"
    );
    eprintln!("dovecot test total: {:?}", started.elapsed());
}

/// Minimal SMTP client: reads a (multi-line) reply, returns (code, text).
struct Smtp {
    r: BufReader<TcpStream>,
}

impl Smtp {
    fn connect(port: u16) -> Smtp {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(T)).unwrap();
        let mut c = Smtp {
            r: BufReader::new(s),
        };
        assert_eq!(c.reply().0, 220);
        c
    }
    fn reply(&mut self) -> (u16, String) {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            self.r.read_line(&mut line).unwrap();
            assert!(line.len() >= 4, "short SMTP reply {line:?} after {all}");
            all.push_str(&line);
            if line.as_bytes()[3] == b' ' {
                return (line[..3].parse().unwrap(), all);
            }
        }
    }
    fn cmd(&mut self, line: &str) -> (u16, String) {
        self.r
            .get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .unwrap();
        self.reply()
    }
    fn expect(&mut self, line: &str, code: u16) -> String {
        let (got, text) = self.cmd(line);
        assert_eq!(got, code, "`{line}` -> {text}");
        text
    }
}

fn smtp_send(c: &mut Smtp, from: &str, to: &[&str], data: &[u8]) {
    c.expect(&format!("MAIL FROM:<{from}>"), 250);
    for rcpt in to {
        c.expect(&format!("RCPT TO:<{rcpt}>"), 250);
    }
    c.expect("DATA", 354);
    c.r.get_mut().write_all(data).unwrap();
    c.expect(".", 250);
}

#[test]
fn smtp_sink_plain_and_auth() {
    let started = Instant::now();
    let mut sink = SmtpSink::start(SmtpOptions::plain());
    eprintln!("smtp sink up in {:?}", started.elapsed());
    let mut c = Smtp::connect(sink.port());
    let ehlo = c.expect("EHLO client.example", 250);
    assert!(!ehlo.contains("AUTH"), "plain sink advertises AUTH: {ehlo}");
    smtp_send(
        &mut c,
        "a@example.net",
        &["ops@example.com", "b@example.com"],
        &msg("smtp-one"),
    );
    smtp_send(
        &mut c,
        "a@example.net",
        &["ops@example.com"],
        &msg("smtp-two"),
    );
    c.expect("QUIT", 221);
    let msgs = sink.wait_for(2, T);
    assert!(
        msgs[0].starts_with(
            b"X-MailFrom: a@example.net\r\nX-RcptTo: ops@example.com, b@example.com\r\n"
        )
    );
    let rec = sink.received();
    assert_eq!(rec[0].rcpt_to, vec!["ops@example.com", "b@example.com"]);
    assert_eq!(rec[0].data, msg("smtp-one"));
    assert_eq!(rec[1].data, msg("smtp-two"));

    // Restart on the same port keeps what was received.
    sink.stop();
    assert!(
        TcpStream::connect(("127.0.0.1", sink.port())).is_err(),
        "port open while stopped"
    );
    sink.start_again();
    let mut c = Smtp::connect(sink.port());
    c.expect("HELO x", 250);
    smtp_send(
        &mut c,
        "c@example.net",
        &["ops@example.com"],
        &msg("smtp-three"),
    );
    let rec: Vec<_> = sink
        .wait_for(3, T)
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect();
    assert!(rec[2].contains("smtp-three"), "arrival order: {rec:?}");

    // AUTH required: MAIL before AUTH is refused, wrong password too, right one works.
    let auth_sink = SmtpSink::start(SmtpOptions::plain().auth("mailer", "pw"));
    let mut c = Smtp::connect(auth_sink.port());
    let ehlo = c.expect("EHLO client.example", 250);
    assert!(ehlo.contains("AUTH"), "{ehlo}");
    let (code, text) = c.cmd("MAIL FROM:<a@example.net>");
    assert_eq!(code, 530, "unauthenticated MAIL: {text}");
    // AUTH PLAIN base64("\0mailer\0nope") / ("\0mailer\0pw")
    c.expect("AUTH PLAIN AG1haWxlcgBub3Bl", 535);
    c.expect("AUTH PLAIN AG1haWxlcgBwdw==", 235);
    smtp_send(
        &mut c,
        "a@example.net",
        &["ops@example.com"],
        &msg("authed"),
    );
    assert_eq!(auth_sink.wait_for(1, T).len(), 1);
    eprintln!("smtp test total: {:?}", started.elapsed());
}

#[test]
fn smtp_sink_tls_modes() {
    let certs = Certs::generate();
    // STARTTLS + AUTH: AUTH only after STARTTLS.
    let sink = SmtpSink::start(SmtpOptions::plain().starttls(&certs).auth("u", "p"));
    let mut c = Smtp::connect(sink.port());
    let ehlo = c.expect("EHLO x", 250);
    assert!(
        ehlo.contains("STARTTLS") && !ehlo.contains("AUTH"),
        "{ehlo}"
    );
    assert_eq!(c.cmd("MAIL FROM:<a@b>").0, 530);
    let (ok, out) = tls_handshake(sink.port(), &certs.ca_pem, Some("smtp"));
    assert!(ok, "SMTP STARTTLS handshake: {out}");

    // Implicit TLS.
    let sink = SmtpSink::start(SmtpOptions::plain().implicit_tls(&certs));
    let (ok, out) = tls_handshake(sink.port(), &certs.ca_pem, None);
    assert!(ok, "SMTPS handshake: {out}");
    let (ok, _) = tls_handshake(sink.port(), &certs.other_ca().ca_pem, None);
    assert!(!ok, "SMTPS verified against an unrelated CA");

    // Same CA, wrong host name: the chain is fine, the name check fails.
    let wrong = certs.issue("wrong", "wrong.example", &["DNS:wrong.example"]);
    let sink = SmtpSink::start(SmtpOptions::plain().implicit_tls(&wrong));
    let (ok, out) = tls_handshake(sink.port(), &certs.ca_pem, None);
    assert!(!ok, "cert for wrong.example accepted for localhost: {out}");

    // Require STARTTLS.
    let sink = SmtpSink::start(SmtpOptions::plain().require_starttls(&certs));
    let mut c = Smtp::connect(sink.port());
    c.expect("EHLO x", 250);
    assert_eq!(c.cmd("MAIL FROM:<a@b>").0, 530);
}

fn http_exchange(stream: &mut TcpStream, request: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    stream.write_all(request).unwrap();
    let mut r = BufReader::new(stream.try_clone().unwrap());
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    let code: u16 = status.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap();
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    (code, headers, body)
}

#[test]
fn http_sink_records_and_answers() {
    let mut http = HttpSink::start();
    assert!(http.url().starts_with("http://127.0.0.1:"));
    let mut s = TcpStream::connect(("127.0.0.1", http.port())).unwrap();
    s.set_read_timeout(Some(T)).unwrap();

    // Default 200; keep-alive: two requests on one connection.
    let body = br#"{"event":"transfer"}"#;
    let req = format!(
        "POST /hooks/registrar?x=1 HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         X-Signature: sha256=abc\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let (code, _, _) = http_exchange(&mut s, &[req.as_bytes(), body].concat());
    assert_eq!(code, 200);
    http.set_status(503);
    let (code, _, _) = http_exchange(&mut s, b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(code, 503);

    // Chunked body, queued one-shot response, then redirect; Connection: close.
    http.queue_response(HttpResponse::status(500).body("boom"));
    let (code, _, rbody) = http_exchange(
        &mut s,
        b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    );
    assert_eq!((code, rbody.as_slice()), (500, &b"boom"[..]));
    http.set_redirect(307, "/elsewhere");
    let (code, headers, _) = http_exchange(
        &mut s,
        b"POST /r HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(code, 307);
    assert!(
        headers.contains(&("Location".into(), "/elsewhere".into())),
        "{headers:?}"
    );
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap(); // server closed after Connection: close
    assert!(rest.is_empty());

    let reqs = http.wait_for(4, T);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/hooks/registrar?x=1");
    assert_eq!(reqs[0].header("x-signature"), Some("sha256=abc"));
    assert_eq!(reqs[0].body, body);
    assert_eq!(reqs[1].method, "GET");
    assert_eq!(reqs[2].body, b"hello world");
    assert!(http.errors().is_empty(), "{:?}", http.errors());

    // Stopped: refused; started again: same port, history kept.
    http.stop();
    assert!(TcpStream::connect(("127.0.0.1", http.port())).is_err());
    http.start_again();
    http.set_status(204);
    let mut s = TcpStream::connect(("127.0.0.1", http.port())).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let (code, _, _) = http_exchange(&mut s, b"DELETE /x HTTP/1.0\r\n\r\n");
    assert_eq!(code, 204);
    assert_eq!(http.wait_for(5, T).len(), 5);
}

#[test]
fn https_sink_over_tls() {
    let certs = Certs::generate();
    let https = HttpSink::start_tls(&certs);
    assert!(https.url().starts_with("https://localhost:"));
    let (ok, out) = tls_handshake(https.port(), &certs.ca_pem, None);
    assert!(ok, "HTTPS handshake: {out}");
    // A real request through the TLS front, via openssl s_client.
    https.set_status(202);
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-connect",
            &format!("127.0.0.1:{}", https.port()),
            "-CAfile",
        ])
        .arg(&certs.ca_pem)
        .args(["-verify_hostname", "localhost", "-verify_return_error"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"POST /tls HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        .unwrap();
    let reqs = https.wait_for(1, T);
    assert_eq!(
        (reqs[0].path.as_str(), reqs[0].body.as_slice()),
        ("/tls", &b"ok"[..])
    );
    let deadline = Instant::now() + T;
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "s_client did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("HTTP/1.1 202"), "{text}");
}

// ---------------------------------------------------------------------------
// OAuth2: the authorization server, Dovecot's oauth2 passdb, the SMTP sink's XOAUTH2
// ---------------------------------------------------------------------------

use support::oauth2::{OAuth2Options, OAuth2Server};

/// A form POST to the OAuth2 server: (status, JSON body, head).
fn post_form(
    server: &OAuth2Server,
    path: &str,
    extra_headers: &str,
    form: &[(&str, &str)],
) -> (u16, serde_json::Value, String) {
    let body: String = form
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let reply = support::http(
        server.port(),
        "POST",
        path,
        &format!("Content-Type: application/x-www-form-urlencoded\r\n{extra_headers}"),
        body.as_bytes(),
    );
    let json = serde_json::from_slice(&reply.body).unwrap_or(serde_json::Value::Null);
    (reply.status, json, reply.head)
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn basic(user: &str, pass: &str) -> String {
    use base64::Engine as _;
    format!(
        "Authorization: Basic {}\r\n",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

/// RFC 7662 as Dovecot asks: (active, username).
fn introspect(server: &OAuth2Server, token: &str) -> (bool, String) {
    let (status, v, _) = post_form(
        server,
        "/introspect",
        &basic("dovecot", "introspect-secret"),
        &[("token", token)],
    );
    assert_eq!(status, 200, "{v}");
    (
        v["active"].as_bool().unwrap(),
        v["username"].as_str().unwrap_or_default().to_string(),
    )
}

fn error_of(v: &serde_json::Value) -> &str {
    v["error"].as_str().unwrap_or("(no error)")
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The query parameters of a URL (percent-decoded).
fn query_of(url: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[test]
fn oauth2_server_speaks_rfc_6749_7636_7662_8628() {
    let oauth = OAuth2Server::start(
        OAuth2Options::default()
            .confidential("s3cret")
            .expires_in(1)
            .rotate(true),
    );
    let id = OAuth2Server::CLIENT_ID;
    let rt = oauth.refresh_token_for("reseller");

    // RFC 6749 §6 with the secret in the form; §5.1 answer, not cached; rotation.
    let (status, v, head) = post_form(
        &oauth,
        "/token",
        "",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("client_id", id),
            ("client_secret", "s3cret"),
        ],
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 1);
    assert_eq!(header(&head, "Cache-Control"), Some("no-store"), "{head}");
    let access = v["access_token"].as_str().unwrap().to_string();
    let rt2 = v["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt2, rt, "rotation gives a new refresh token");
    assert_eq!(introspect(&oauth, &access), (true, "reseller".into()));
    // The rotated-out token is void: §5.2 invalid_grant, 400, JSON with a description.
    let (status, v, _) = post_form(
        &oauth,
        "/token",
        "",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("client_id", id),
            ("client_secret", "s3cret"),
        ],
    );
    assert_eq!((status, error_of(&v)), (400, "invalid_grant"), "{v}");
    assert!(v["error_description"].as_str().unwrap().contains("rotated"));
    // §2.3.1: HTTP Basic works; Basic and the form field together are refused.
    let (status, v, _) = post_form(
        &oauth,
        "/token",
        &basic(id, "s3cret"),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt2)],
    );
    assert_eq!(status, 200, "{v}");
    let rt3 = v["refresh_token"].as_str().unwrap().to_string();
    let (status, v, _) = post_form(
        &oauth,
        "/token",
        &basic(id, "s3cret"),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt3),
            ("client_secret", "s3cret"),
        ],
    );
    assert_eq!((status, error_of(&v)), (400, "invalid_request"), "{v}");
    // A wrong secret by Basic: 401 with a Basic challenge; no secret: 401.
    let (status, v, head) = post_form(
        &oauth,
        "/token",
        &basic(id, "wrong"),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt3)],
    );
    assert_eq!((status, error_of(&v)), (401, "invalid_client"), "{v}");
    assert!(
        header(&head, "WWW-Authenticate").is_some_and(|h| h.starts_with("Basic")),
        "{head}"
    );
    let (status, v, _) = post_form(
        &oauth,
        "/token",
        "",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt3),
            ("client_id", id),
        ],
    );
    assert_eq!((status, error_of(&v)), (401, "invalid_client"), "{v}");
    // Unknown grant type, a repeated parameter, GET: refused as the RFC says.
    let (status, v, _) = post_form(
        &oauth,
        "/token",
        &basic(id, "s3cret"),
        &[("grant_type", "password")],
    );
    assert_eq!((status, error_of(&v)), (400, "unsupported_grant_type"));
    let (status, v, _) = post_form(
        &oauth,
        "/token",
        &basic(id, "s3cret"),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt3),
            ("refresh_token", &rt3),
        ],
    );
    assert_eq!((status, error_of(&v)), (400, "invalid_request"), "{v}");
    assert_eq!(
        support::http(oauth.port(), "GET", "/token", "", b"").status,
        405
    );
    // The failures above did not use up rt3; the access token ran out after 1 s.
    std::thread::sleep(Duration::from_millis(1100));
    assert!(!introspect(&oauth, &access).0, "expired access token");
    // RFC 7662: the introspection endpoint wants the resource server's credentials.
    let (status, _, _) = post_form(&oauth, "/introspect", "", &[("token", &access)]);
    assert_eq!(status, 401);
    // Scope (§6): narrower is fine, wider is invalid_scope.
    let scoped = oauth.issue("reseller", Some("mail offline_access"))["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, v, _) = post_form(
        &oauth,
        "/token",
        &basic(id, "s3cret"),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &scoped),
            ("scope", "calendar"),
        ],
    );
    assert_eq!((status, error_of(&v)), (400, "invalid_scope"), "{v}");
    let (status, v, _) = post_form(
        &oauth,
        "/token",
        &basic(id, "s3cret"),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &scoped),
            ("scope", "mail"),
        ],
    );
    assert_eq!((status, v["scope"].as_str()), (200, Some("mail")), "{v}");
    // Revoking voids the grant: its refresh token and its live access tokens.
    let access = v["access_token"].as_str().unwrap().to_string();
    let scoped = v["refresh_token"].as_str().unwrap().to_string();
    oauth.set_expires_in(3600);
    assert_eq!(oauth.revoke(&scoped), 1);
    assert!(!introspect(&oauth, &access).0);
    let (status, v, _) = post_form(
        &oauth,
        "/token",
        &basic(id, "s3cret"),
        &[("grant_type", "refresh_token"), ("refresh_token", &scoped)],
    );
    assert_eq!((status, error_of(&v)), (400, "invalid_grant"), "{v}");

    // RFC 6749 §4.1 + RFC 7636 (its Appendix B verifier and challenge) + RFC 8252 §7.3.
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let redirect = "http://127.0.0.1:5555/cb";
    let authorize = |extra: &str| {
        let target = format!(
            "/authorize?response_type=code&client_id={id}&redirect_uri={}&state=xyz&scope=mail{extra}",
            urlencode(redirect)
        );
        let reply = support::http(oauth.port(), "GET", &target, "", b"");
        (
            reply.status,
            header(&reply.head, "Location").map(str::to_string),
        )
    };
    let pkce = format!("&code_challenge={challenge}&code_challenge_method=S256");
    let (status, location) = authorize(&pkce);
    assert_eq!(status, 302);
    let location = location.unwrap();
    assert!(
        location.starts_with("http://127.0.0.1:5555/cb?"),
        "{location}"
    );
    let q = query_of(&location);
    assert_eq!(param(&q, "state"), Some("xyz"));
    let code = param(&q, "code").unwrap().to_string();
    let code_grant = |code: &str, verifier: &str, redirect: &str| {
        post_form(
            &oauth,
            "/token",
            &basic(id, "s3cret"),
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect),
                ("code_verifier", verifier),
            ],
        )
    };
    let (status, v, _) = code_grant(&code, verifier, redirect);
    assert_eq!(status, 200, "{v}");
    let from_code = v["access_token"].as_str().unwrap().to_string();
    assert!(v["refresh_token"].is_string());
    assert_eq!(introspect(&oauth, &from_code), (true, "reseller".into()));
    // A code used twice is refused, and what it gave is revoked (§4.1.2).
    let (status, v, _) = code_grant(&code, verifier, redirect);
    assert_eq!((status, error_of(&v)), (400, "invalid_grant"), "{v}");
    assert!(!introspect(&oauth, &from_code).0);
    // A wrong verifier, another redirect_uri: invalid_grant.
    let q = query_of(&authorize(&pkce).1.unwrap());
    let (status, v, _) = code_grant(
        param(&q, "code").unwrap(),
        "aBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        redirect,
    );
    assert_eq!((status, error_of(&v)), (400, "invalid_grant"), "{v}");
    let q = query_of(&authorize(&pkce).1.unwrap());
    let (status, v, _) = code_grant(
        param(&q, "code").unwrap(),
        verifier,
        "http://127.0.0.1:5556/cb",
    );
    assert_eq!((status, error_of(&v)), (400, "invalid_grant"), "{v}");
    // No challenge, or the plain method: error=invalid_request at the redirect URI.
    let q = query_of(&authorize("").1.unwrap());
    assert_eq!(param(&q, "error"), Some("invalid_request"));
    let q = query_of(
        &authorize(&format!(
            "&code_challenge={challenge}&code_challenge_method=plain"
        ))
        .1
        .unwrap(),
    );
    assert_eq!(param(&q, "error"), Some("invalid_request"));
    // A redirect URI that is not loopback is never redirected to.
    let reply = support::http(
        oauth.port(),
        "GET",
        &format!(
            "/authorize?response_type=code&client_id={id}&redirect_uri={}{pkce}",
            urlencode("https://evil.example/cb")
        ),
        "",
        b"",
    );
    assert_eq!(reply.status, 400);
    assert!(header(&reply.head, "Location").is_none());
    // The user says no: error=access_denied with the state.
    oauth.deny_authorize(true);
    let q = query_of(&authorize(&pkce).1.unwrap());
    assert_eq!(
        (param(&q, "error"), param(&q, "state")),
        (Some("access_denied"), Some("xyz"))
    );

    // RFC 8628: device authorization, then polling.
    let device = || {
        let (status, v, _) = post_form(
            &oauth,
            "/devicecode",
            &basic(id, "s3cret"),
            &[("scope", "mail")],
        );
        assert_eq!(status, 200, "{v}");
        for k in ["device_code", "user_code", "verification_uri"] {
            assert!(v[k].is_string(), "{k} in {v}");
        }
        assert_eq!(v["interval"], 1);
        assert!(v["expires_in"].as_u64().unwrap() > 0);
        (
            v["device_code"].as_str().unwrap().to_string(),
            v["user_code"].as_str().unwrap().to_string(),
        )
    };
    let poll = |dc: &str| {
        let (status, v, _) = post_form(
            &oauth,
            "/token",
            &basic(id, "s3cret"),
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", dc),
            ],
        );
        (status, v)
    };
    // Polled before the interval passed: slow_down (and 5 s more from now on).
    let (fast, _) = device();
    let (status, v) = poll(&fast);
    assert_eq!((status, error_of(&v)), (400, "slow_down"), "{v}");
    let (approved, approved_code) = device();
    let (denied, denied_code) = device();
    let (expired, expired_code) = device();
    std::thread::sleep(Duration::from_millis(1050));
    let (status, v) = poll(&approved);
    assert_eq!(
        (status, error_of(&v)),
        (400, "authorization_pending"),
        "{v}"
    );
    assert_eq!(oauth.pending_devices().len(), 4);
    oauth.approve_device(&approved_code, "reseller");
    oauth.deny_device(&denied_code);
    oauth.expire_device(&expired_code);
    std::thread::sleep(Duration::from_millis(1050));
    let (status, v) = poll(&approved);
    assert_eq!(status, 200, "{v}");
    let access = v["access_token"].as_str().unwrap().to_string();
    assert!(v["refresh_token"].is_string());
    assert_eq!(introspect(&oauth, &access), (true, "reseller".into()));
    assert_eq!(
        error_of(&poll(&approved).1),
        "invalid_grant",
        "a device code is used once"
    );
    assert_eq!(error_of(&poll(&denied).1), "access_denied");
    assert_eq!(error_of(&poll(&expired).1), "expired_token");
    // RFC 7009: the client revokes its access token, and with it the grant.
    let (status, _, _) = post_form(
        &oauth,
        "/revoke",
        &basic(id, "s3cret"),
        &[("token", &access)],
    );
    assert_eq!(status, 200);
    assert!(!introspect(&oauth, &access).0);
    let (status, _, _) = post_form(
        &oauth,
        "/revoke",
        &basic(id, "s3cret"),
        &[("token", "unknown")],
    );
    assert_eq!(
        status, 200,
        "RFC 7009 §2.2: unknown tokens are answered 200 too"
    );

    let counters = &oauth.state()["counters"];
    assert_eq!(counters["slow_downs"], 1, "{counters}");
    assert_eq!(counters["device_grants"], 1, "{counters}");
    assert_eq!(counters["code_grants"], 1, "{counters}");
    assert_eq!(oauth.grants(), 3, "{counters}");
    // Nothing secret in the server's log (request lines only, no query strings).
    let log = oauth.log_tail(1000);
    assert!(!log.contains(&rt) && !log.contains(challenge), "{log}");
}

/// `AUTHENTICATE XOAUTH2` / `OAUTHBEARER` against Dovecot's oauth2 passdb.
fn imap_oauth(port: u16, mechanism: &str, user: &str, token: &str) -> (Option<String>, String) {
    let mut c = ImapConn::connect(port);
    let (initial, after) = match mechanism {
        "XOAUTH2" => (mailroom::oauth2::xoauth2(user, token), ""),
        _ => (
            mailroom::oauth2::oauthbearer(user, "127.0.0.1", port, token),
            "AQ==",
        ),
    };
    let (challenge, done) = c.authenticate(mechanism, &initial, after);
    if done.contains(" OK ") {
        // Logged in for real: the mailbox answers.
        c.ok("SELECT INBOX");
        c.logout();
    }
    (challenge, done)
}

#[test]
fn dovecot_logs_in_with_oauth2_tokens_checked_by_introspection() {
    let certs = Certs::generate();
    let oauth = OAuth2Server::start(OAuth2Options::default());
    let dovecot = Dovecot::start_with(&certs, support::DovecotOptions::default().oauth2(&oauth));
    let caps = ImapConn::connect(dovecot.imap_port())
        .ok("CAPABILITY")
        .join(" ");
    assert!(
        caps.contains("AUTH=XOAUTH2") && caps.contains("AUTH=OAUTHBEARER"),
        "{caps}"
    );
    // A token as a client gets it: the refresh_token grant at the token endpoint.
    let rt = oauth.refresh_token_for(Dovecot::USER);
    let (status, v, _) = post_form(
        &oauth,
        "/token",
        "",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("client_id", OAuth2Server::CLIENT_ID),
        ],
    );
    assert_eq!(status, 200, "{v}");
    let token = v["access_token"].as_str().unwrap().to_string();
    let port = dovecot.imap_port();
    for mech in ["XOAUTH2", "OAUTHBEARER"] {
        let (challenge, done) = imap_oauth(port, mech, Dovecot::USER, &token);
        assert!(
            done.contains(" OK ") && challenge.is_none(),
            "{mech}: {done} {challenge:?}\n{}",
            dovecot.log_tail(20)
        );
    }
    assert!(oauth.counter("introspections_active") >= 2);
    assert_eq!(oauth.counter("introspections_unauthorized"), 0);
    // Passwords still work for everyone else.
    ImapConn::login(port).logout();

    // Another user's token is refused (Dovecot compares `username`).
    let other = oauth.access_token_for("intruder");
    let (challenge, done) = imap_oauth(port, "XOAUTH2", Dovecot::USER, &other);
    assert!(done.contains(" NO "), "{done}");
    let challenge: serde_json::Value = serde_json::from_str(&challenge.unwrap()).unwrap();
    assert_eq!(challenge["status"], "401", "{challenge}");

    // Revoked: the same token no longer logs in, by either mechanism.
    assert_eq!(oauth.revoke(&rt), 1);
    let (challenge, done) = imap_oauth(port, "XOAUTH2", Dovecot::USER, &token);
    assert!(done.contains(" NO [AUTHENTICATIONFAILED]"), "{done}");
    assert!(challenge.is_some(), "XOAUTH2 errors come as a challenge");
    let (challenge, done) = imap_oauth(port, "OAUTHBEARER", Dovecot::USER, &token);
    assert!(done.contains(" NO "), "{done}");
    let challenge: serde_json::Value = serde_json::from_str(&challenge.unwrap()).unwrap();
    assert_eq!(challenge["status"], "invalid_token", "{challenge}");

    // Expired: a 2-second token works, then is refused once its time is up.
    oauth.set_expires_in(2);
    let short = oauth.access_token_for(Dovecot::USER);
    let issued = Instant::now();
    assert!(
        imap_oauth(port, "XOAUTH2", Dovecot::USER, &short)
            .1
            .contains(" OK ")
    );
    std::thread::sleep(Duration::from_millis(2100).saturating_sub(issued.elapsed()));
    let (_, done) = imap_oauth(port, "XOAUTH2", Dovecot::USER, &short);
    assert!(done.contains(" NO "), "{done}");
    // And a fresh one from a new grant works again.
    let fresh = oauth.access_token_for(Dovecot::USER);
    assert!(
        imap_oauth(port, "OAUTHBEARER", Dovecot::USER, &fresh)
            .1
            .contains(" OK ")
    );
    assert!(
        dovecot.log_tail(200).contains("oauth2 failed"),
        "{}",
        dovecot.log_tail(30)
    );
}

#[test]
fn smtp_sink_accepts_xoauth2_and_oauthbearer() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let oauth = OAuth2Server::start(OAuth2Options::default());
    let sink = SmtpSink::start(SmtpOptions::plain().oauth2(&oauth));
    let port = sink.port();
    let user = "notifications@reseller.example";
    let rt = oauth.refresh_token_for(user);
    let (_, v, _) = post_form(
        &oauth,
        "/token",
        "",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("client_id", OAuth2Server::CLIENT_ID),
        ],
    );
    let token = v["access_token"].as_str().unwrap().to_string();

    let mut c = Smtp::connect(port);
    let ehlo = c.expect("EHLO client.example", 250);
    assert!(
        ehlo.contains("AUTH OAUTHBEARER XOAUTH2") && !ehlo.contains("PLAIN"),
        "{ehlo}"
    );
    c.expect("MAIL FROM:<a@example.net>", 530);
    c.expect(
        &format!(
            "AUTH XOAUTH2 {}",
            b64(&mailroom::oauth2::xoauth2(user, &token))
        ),
        235,
    );
    smtp_send(&mut c, user, &["ops@example.com"], &msg("xoauth2"));
    assert_eq!(sink.wait_for(1, T).len(), 1);

    // OAUTHBEARER, the initial response after an empty challenge.
    let mut c = Smtp::connect(port);
    c.expect("EHLO client.example", 250);
    let (code, text) = c.cmd("AUTH OAUTHBEARER");
    assert_eq!((code, text.trim_end()), (334, "334"), "{text}");
    c.expect(
        &b64(&mailroom::oauth2::oauthbearer(
            user,
            "127.0.0.1",
            port,
            &token,
        )),
        235,
    );

    // Another user's token: refused as Gmail does, 334 + JSON, then 535 after "".
    let other = oauth.access_token_for("someone@else.example");
    let mut c = Smtp::connect(port);
    c.expect("EHLO client.example", 250);
    let (code, text) = c.cmd(&format!(
        "AUTH XOAUTH2 {}",
        b64(&mailroom::oauth2::xoauth2(user, &other))
    ));
    assert_eq!(code, 334, "{text}");
    let json = base64::engine::general_purpose::STANDARD
        .decode(text[4..].trim())
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(json["status"], "401", "{json}");
    assert_eq!(json["schemes"], "bearer", "{json}");
    c.expect("", 535);

    // Revoked: OAUTHBEARER's error challenge (RFC 7628 §4.3), AQ==, then 535.
    oauth.revoke(&rt);
    let (code, text) = c.cmd(&format!(
        "AUTH OAUTHBEARER {}",
        b64(&mailroom::oauth2::oauthbearer(
            user,
            "127.0.0.1",
            port,
            &token
        ))
    ));
    assert_eq!(code, 334, "{text}");
    let json = base64::engine::general_purpose::STANDARD
        .decode(text[4..].trim())
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(json["status"], "invalid_token", "{json}");
    c.expect("AQ==", 535);
    // Anything else than %x01 after the error challenge is a protocol error.
    c.cmd(&format!(
        "AUTH OAUTHBEARER {}",
        b64(&mailroom::oauth2::oauthbearer(
            user,
            "127.0.0.1",
            port,
            &token
        ))
    ));
    c.expect("", 501);
    c.expect("MAIL FROM:<a@example.net>", 530);

    // The introspection endpoint down: a temporary failure (454), not a refusal.
    let mut oauth = oauth;
    oauth.stop();
    let fresh_user_token = "at-whatever";
    c.expect(
        &format!(
            "AUTH XOAUTH2 {}",
            b64(&mailroom::oauth2::xoauth2(user, fresh_user_token))
        ),
        454,
    );
    let log = sink.log_tail(100);
    assert!(
        log.contains("AUTH XOAUTH2 for 'notifications@reseller.example': ok"),
        "{log}"
    );
    assert!(!log.contains(&token), "the sink logged a token\n{log}");
}
