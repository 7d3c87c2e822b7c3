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
