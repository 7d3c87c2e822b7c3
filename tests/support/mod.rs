//! Real-server test harness: Dovecot (IMAP/IMAPS/STARTTLS, password or OAuth2
//! logins), an aiosmtpd SMTP sink, a tiny HTTP(S) sink, an OAuth2 authorization
//! server (`oauth2`), registrar APIs (`registrar`) and eight chat services (`chat`),
//! each on free loopback ports in its own temp dir.
//!
//! Use from an integration test with `mod support;`. Std only (plus `tempfile`, and
//! `serde_json`/`base64` from the crate's own dependencies).
//! Needs `dovecot`, `openssl` and `python3` with `aiosmtpd` on PATH:
//! `scripts/install-test-deps.sh` installs what is missing. Dovecot needs root
//! (mail processes run as `nobody`).
//!
//! Every wait has a timeout and panics with the server's log tail. Every server
//! is stopped when its handle is dropped (also on panic, which unwinds); if the
//! test process is SIGKILLed, the servers notice (stdin EOF / a watchdog `sh`)
//! and exit too (temp dirs are then left behind).
//!
//! Timings seen here (Debian 12, Dovecot 2.3.19, aiosmtpd 1.4.6): Dovecot up in
//! ~0.1 s, graceful stop ~1.1 s, restart after SIGKILL ~0.04 s; IDLE `EXISTS`
//! arrives ~0.5 s after an APPEND or a direct Maildir delivery (inotify); a
//! failed LOGIN answers after ~0.5 s (anvil auth penalty is switched off, so
//! later logins from 127.0.0.1 are not slowed). SMTP sink up in ~0.2 s.
#![allow(dead_code)]

use std::collections::{HashSet, VecDeque};
use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub mod age;
pub mod browser;
pub mod chat;
pub mod cyrus;
pub mod gandi;
pub mod mailroom;
pub mod oauth2;
pub mod postgres;
pub mod proxy;
pub mod registrar;
pub mod sns;
pub mod sockets;

/// How long any server gets to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a graceful stop may take before we SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Socket timeout for the harness's own raw protocol clients.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// small process / fs helpers (libc symbols are linked by std already)
// ---------------------------------------------------------------------------

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}
const SIGTERM: i32 = 15;
const SIGKILL: i32 = 9;

fn send_signal(child: &Child, sig: i32) {
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe {
        libc_kill(child.id() as i32, sig);
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions.
    unsafe { libc_geteuid() == 0 }
}

/// Waits for `child` to exit; SIGKILLs it after `timeout`. Returns true if it
/// exited by itself.
fn wait_child(child: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return true,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// SIGTERM then wait (SIGKILL after STOP_TIMEOUT).
fn terminate(child: &mut Child) -> bool {
    if let Ok(Some(_)) = child.try_wait() {
        return true;
    }
    send_signal(child, SIGTERM);
    wait_child(child, STOP_TIMEOUT)
}

/// A `sh` that waits for EOF on its stdin (which only we hold) and then
/// SIGTERMs `pid`: if the test process dies without running Drop (SIGKILL,
/// abort), the server it started does not outlive it.
fn spawn_watchdog(pid: u32) -> Option<Child> {
    // Ignores INT/TERM/HUP so a Ctrl-C on the test run does not kill it first.
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' INT TERM HUP; read _x; kill -TERM {pid} 2>/dev/null"
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

/// Disarms a watchdog (SIGKILL, so it never sends its signal).
fn stop_watchdog(watchdog: &mut Option<Child>) {
    if let Some(mut w) = watchdog.take() {
        let _ = w.kill();
        let _ = w.wait();
    }
}

/// Last `lines` lines of a (log) file, for panic messages.
pub fn file_tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            let start = all.len().saturating_sub(lines);
            let mut out = format!(
                "---- last {} lines of {} ----\n",
                all.len() - start,
                path.display()
            );
            for l in &all[start..] {
                out.push_str(l);
                out.push('\n');
            }
            out.push_str("----");
            out
        }
        Err(e) => format!("(no log at {}: {e})", path.display()),
    }
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

/// uid of `nobody` and gid of `nogroup` (Dovecot's mail user here).
fn nobody_ids() -> (u32, u32) {
    static IDS: OnceLock<(u32, u32)> = OnceLock::new();
    *IDS.get_or_init(|| {
        let lookup = |file: &str, name: &str, field: usize| -> Option<u32> {
            fs::read_to_string(file).ok()?.lines().find_map(|l| {
                let parts: Vec<&str> = l.split(':').collect();
                (parts.first() == Some(&name)).then(|| parts.get(field)?.parse().ok())?
            })
        };
        let uid = lookup("/etc/passwd", "nobody", 2).unwrap_or(65534);
        let gid = lookup("/etc/group", "nogroup", 2)
            .or_else(|| lookup("/etc/group", "nobody", 2))
            .unwrap_or(65534);
        (uid, gid)
    })
}

fn chown_nobody(path: &Path) {
    let (uid, gid) = nobody_ids();
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown nobody {}: {e}", path.display()));
}

fn chown_nobody_recursive(path: &Path) {
    chown_nobody(path);
    chown_nobody_below(path);
}

/// Everything under `path`. Another thread's delivery may move its file out of tmp/
/// between the listing and the chown: a file that is gone needs no owner.
fn chown_nobody_below(path: &Path) {
    let entries = match fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return;
        }
        Err(e) => panic!("list {}: {e}", path.display()),
    };
    let (uid, gid) = nobody_ids();
    for entry in entries.flatten() {
        let p = entry.path();
        match std::os::unix::fs::chown(&p, Some(uid), Some(gid)) {
            Ok(()) => chown_nobody_below(&p),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("chown nobody {}: {e}", p.display()),
        }
    }
}

/// A Maildir file name unique in this process, sorting in creation order.
/// (No wall clock: the project's clippy.toml bans SystemTime::now.)
fn unique_name() -> String {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{:010}.P{}.harness",
        SEQ.fetch_add(1, Ordering::SeqCst),
        std::process::id()
    )
}

/// Sorted file names (arrival order for our naming) in `dir/new` and `dir/cur`.
fn maildir_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ["new", "cur"]
        .iter()
        .filter_map(|sub| fs::read_dir(dir.join(sub)).ok())
        .flat_map(|rd| rd.flatten().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    files
}

/// A TCP port on 127.0.0.1 that was free a moment ago. Never hands out the same
/// port twice within one test process (tests run in parallel threads).
/// Waits (up to 20 s) until something accepts connections on `127.0.0.1:port`.
pub fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the HTTP server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A reply read by [`http`]: the status, the head (status line and headers) and the body.
pub struct HttpReply {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

/// One HTTP/1.1 request to `127.0.0.1:port` over a fresh connection (20 s to answer).
/// `headers` are whole lines ending in CRLF; a `Host:` line among them replaces the
/// default `Host: 127.0.0.1:port`.
pub fn http(port: u16, method: &str, target: &str, headers: &str, body: &[u8]) -> HttpReply {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let host = if headers
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("host:"))
    {
        String::new()
    } else {
        format!("Host: 127.0.0.1:{port}\r\n")
    };
    let head = format!(
        "{method} {target} HTTP/1.1\r\n{host}{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    // The server may answer (413, 401) before reading the body and close.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP reply to {method} {target}: {raw:?}"));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {head:?}"));
    HttpReply {
        status,
        head,
        body: raw[split + 4..].to_vec(),
    }
}

pub fn free_port() -> u16 {
    static USED: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let used = USED.get_or_init(|| Mutex::new(HashSet::new()));
    for _ in 0..200 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind 127.0.0.1:0")
            .port();
        if used.lock().unwrap().insert(port) {
            return port;
        }
    }
    panic!("free_port: no fresh port after 200 tries");
}

/// Polls until something accepts TCP connections on 127.0.0.1:`port`.
/// `alive` is called between tries and may panic (e.g. when the server died).
fn wait_for_port(port: u16, timeout: Duration, what: &str, mut alive: impl FnMut(), log: &Path) {
    let deadline = Instant::now() + timeout;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        alive();
        if Instant::now() >= deadline {
            panic!(
                "{what}: port {port} not accepting after {timeout:?}\n{}",
                file_tail(log, 40)
            );
        }
        thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------

/// A throwaway CA and a server certificate for `localhost` / 127.0.0.1 / ::1
/// signed by it (ECDSA P-256, valid 10 years, made with the openssl CLI; the
/// CA's CN is unique per `generate()`). Give clients `ca_pem` as their trust
/// root and servers `cert_pem` + `key_pem`. Files live until the last `Certs`
/// sharing the dir is dropped; servers copy what they need at start.
pub struct Certs {
    pub dir: PathBuf,
    pub ca_pem: PathBuf,
    pub ca_key: PathBuf,
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
    _tmp: Arc<TempDir>,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("running openssl (is it installed? scripts/install-test-deps.sh): {e}")
        });
    if !out.status.success() {
        panic!(
            "openssl {args:?} failed: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Certs {
    /// New CA + server cert for `localhost`, `127.0.0.1` and `::1`.
    pub fn generate() -> Certs {
        let tmp = tempfile::Builder::new()
            .prefix("mr-certs-")
            .tempdir()
            .expect("tempdir");
        let dir = tmp.path().to_path_buf();
        chmod(&dir, 0o755);
        // A unique CA name: two test CAs must not look like the same issuer.
        let ca_subject = format!(
            "/O=mailroom tests/CN=mailroom test CA {}",
            dir.file_name().unwrap().to_string_lossy()
        );
        openssl(
            &dir,
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "ca.key",
            ],
        );
        openssl(
            &dir,
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                "ca.key",
                "-sha256",
                "-days",
                "3650",
                "-subj",
                &ca_subject,
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
                "-out",
                "ca.pem",
            ],
        );
        chmod(&dir.join("ca.pem"), 0o644);
        let ca_only = Certs {
            ca_pem: dir.join("ca.pem"),
            ca_key: dir.join("ca.key"),
            cert_pem: PathBuf::new(),
            key_pem: PathBuf::new(),
            dir,
            _tmp: Arc::new(tmp),
        };
        ca_only.issue(
            "server",
            "localhost",
            &["DNS:localhost", "IP:127.0.0.1", "IP:::1"],
        )
    }

    /// A fresh, unrelated CA and server cert (same names): a server using it
    /// must be refused by a client that trusts only `self.ca_pem`.
    pub fn other_ca(&self) -> Certs {
        Certs::generate()
    }

    /// Another server cert from this same CA, with the given CN and
    /// subjectAltNames (e.g. `issue("wrong", "wrong.example",
    /// &["DNS:wrong.example"])` to test hostname checks). The returned `Certs`
    /// shares this one's CA and dir (files `<name>.pem` / `<name>.key`) and
    /// can be handed to any server here.
    pub fn issue(&self, name: &str, cn: &str, sans: &[&str]) -> Certs {
        let dir = &self.dir;
        let (key, csr, pem, ext) = if name == "server" {
            (
                "key.pem".to_string(),
                "server.csr".to_string(),
                "cert.pem".to_string(),
                "server.ext".to_string(),
            )
        } else {
            (
                format!("{name}.key"),
                format!("{name}.csr"),
                format!("{name}.pem"),
                format!("{name}.ext"),
            )
        };
        openssl(
            dir,
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                &key,
            ],
        );
        openssl(
            dir,
            &[
                "req",
                "-new",
                "-key",
                &key,
                "-subj",
                &format!("/CN={cn}"),
                "-out",
                &csr,
            ],
        );
        fs::write(
            dir.join(&ext),
            format!(
                "basicConstraints=critical,CA:FALSE\n\
                 keyUsage=critical,digitalSignature\n\
                 extendedKeyUsage=serverAuth\n\
                 subjectAltName={}\n",
                sans.join(",")
            ),
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-sha256",
                "-days",
                "3650",
                "-extfile",
                &ext,
                "-out",
                &pem,
            ],
        );
        // Servers copy these; readable for any user anyway.
        chmod(&dir.join(&key), 0o644);
        chmod(&dir.join(&pem), 0o644);
        Certs {
            dir: dir.clone(),
            ca_pem: self.ca_pem.clone(),
            ca_key: self.ca_key.clone(),
            cert_pem: dir.join(pem),
            key_pem: dir.join(key),
            _tmp: self._tmp.clone(),
        }
    }
}

// ---------------------------------------------------------------------------
// Raw IMAP client (for the harness and for tests that want to poke a server)
// ---------------------------------------------------------------------------

/// A minimal line-based IMAP client over plain TCP. Every call has a timeout;
/// failures panic with the transcript so far.
pub struct ImapConn {
    reader: BufReader<TcpStream>,
    tag: u32,
    transcript: String,
}

impl ImapConn {
    /// Connects to 127.0.0.1:`port` and reads the greeting (must be `* OK`).
    pub fn connect(port: u16) -> ImapConn {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("IMAP connect 127.0.0.1:{port}: {e}"));
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut c = ImapConn {
            reader: BufReader::new(stream),
            tag: 0,
            transcript: String::new(),
        };
        let greeting = c.read_line();
        assert!(greeting.starts_with("* OK"), "IMAP greeting: {greeting:?}");
        c
    }

    /// `connect` + LOGIN as `Dovecot::USER`.
    pub fn login(port: u16) -> ImapConn {
        let mut c = ImapConn::connect(port);
        c.ok(&format!("LOGIN {} {}", Dovecot::USER, Dovecot::PASSWORD));
        c
    }

    pub fn transcript(&self) -> &str {
        &self.transcript
    }

    fn read_line(&mut self) -> String {
        let mut buf = Vec::new();
        match self.reader.read_until(b'\n', &mut buf) {
            Ok(0) => panic!("IMAP: connection closed\n{}", self.transcript),
            Ok(_) => {}
            Err(e) => panic!("IMAP read: {e}\n{}", self.transcript),
        }
        let line = String::from_utf8_lossy(&buf).into_owned();
        let _ = write!(self.transcript, "S: {line}");
        line.trim_end_matches(['\r', '\n']).to_string()
    }

    /// Reads one response line, with any `{n}` literals inlined.
    pub fn read_response_line(&mut self) -> String {
        let mut line = self.read_line();
        while let Some(n) = literal_len(&line) {
            let mut lit = vec![0u8; n];
            self.reader
                .read_exact(&mut lit)
                .unwrap_or_else(|e| panic!("IMAP literal: {e}\n{}", self.transcript));
            line.push_str("\r\n");
            line.push_str(&String::from_utf8_lossy(&lit));
            let _ = writeln!(self.transcript, "S: <literal {n} bytes>");
            line.push_str(&self.read_line());
        }
        line
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.reader
            .get_mut()
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("IMAP write: {e}\n{}", self.transcript));
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("h{}", self.tag)
    }

    /// Sends `cmd`, returns (untagged lines, tagged completion line).
    pub fn command(&mut self, cmd: &str) -> (Vec<String>, String) {
        let tag = self.next_tag();
        let _ = writeln!(self.transcript, "C: {tag} {cmd}");
        self.send_raw(format!("{tag} {cmd}\r\n").as_bytes());
        self.collect(&tag)
    }

    fn collect(&mut self, tag: &str) -> (Vec<String>, String) {
        let mut untagged = Vec::new();
        loop {
            let line = self.read_response_line();
            if line.starts_with(&format!("{tag} ")) {
                return (untagged, line);
            }
            untagged.push(line);
        }
    }

    /// Like `command` but panics unless the completion is OK; returns untagged lines.
    pub fn ok(&mut self, cmd: &str) -> Vec<String> {
        let (untagged, done) = self.command(cmd);
        let status = done.split_whitespace().nth(1).unwrap_or("");
        assert_eq!(
            status, "OK",
            "IMAP `{cmd}` failed: {done}\n{}",
            self.transcript
        );
        untagged
    }

    /// `AUTHENTICATE mechanism <initial response>` (SASL-IR, RFC 4959; `initial` is
    /// the SASL message before base64, e.g. `mailroom::oauth2::xoauth2(user, token)`).
    /// A challenge (`+ …`: for XOAUTH2 and OAUTHBEARER the server's error JSON) is
    /// answered with `after_challenge` (already base64: `""` for XOAUTH2, `"AQ=="` —
    /// a single %x01 — for OAUTHBEARER, RFC 7628 §3.2.3). Returns the decoded
    /// challenge, if there was one, and the tagged completion line.
    pub fn authenticate(
        &mut self,
        mechanism: &str,
        initial: &str,
        after_challenge: &str,
    ) -> (Option<String>, String) {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let tag = self.next_tag();
        // The token stays out of the transcript.
        let _ = writeln!(
            self.transcript,
            "C: {tag} AUTHENTICATE {mechanism} <initial response>"
        );
        self.send_raw(
            format!("{tag} AUTHENTICATE {mechanism} {}\r\n", b64.encode(initial)).as_bytes(),
        );
        let mut challenge = None;
        loop {
            let line = self.read_line();
            if let Some(rest) = line.strip_prefix('+') {
                let decoded = b64.decode(rest.trim()).unwrap_or_else(|e| {
                    panic!(
                        "AUTHENTICATE challenge not base64 ({e}): {line}\n{}",
                        self.transcript
                    )
                });
                challenge = Some(String::from_utf8_lossy(&decoded).into_owned());
                let _ = writeln!(self.transcript, "C: {after_challenge}");
                self.send_raw(format!("{after_challenge}\r\n").as_bytes());
            } else if line.starts_with(&format!("{tag} ")) {
                return (challenge, line);
            }
        }
    }

    /// APPENDs `message` to `folder` (quoted) with a synchronizing literal.
    /// Returns the tagged completion line (contains `[APPENDUID v uid]`).
    pub fn append(&mut self, folder: &str, message: &[u8]) -> String {
        let tag = self.next_tag();
        let cmd = format!("{tag} APPEND {} {{{}}}\r\n", quote(folder), message.len());
        let _ = write!(self.transcript, "C: {cmd}");
        self.send_raw(cmd.as_bytes());
        let cont = self.read_line();
        if !cont.starts_with('+') {
            panic!(
                "IMAP APPEND to {folder:?} refused: {cont}\n{}",
                self.transcript
            );
        }
        self.send_raw(message);
        self.send_raw(b"\r\n");
        let _ = writeln!(self.transcript, "C: <literal {} bytes>", message.len());
        let (_, done) = self.collect(&tag);
        assert!(
            done.starts_with(&format!("{tag} OK")),
            "IMAP APPEND failed: {done}\n{}",
            self.transcript
        );
        done
    }

    /// `STATUS folder (MESSAGES UIDNEXT UIDVALIDITY UNSEEN)`.
    pub fn status(&mut self, folder: &str) -> ImapStatus {
        let lines = self.ok(&format!(
            "STATUS {} (MESSAGES UIDNEXT UIDVALIDITY UNSEEN)",
            quote(folder)
        ));
        let line = lines
            .iter()
            .find(|l| l.starts_with("* STATUS"))
            .unwrap_or_else(|| panic!("no STATUS line\n{}", self.transcript))
            .clone();
        let field = |name: &str| -> u32 {
            let inner = &line[line.rfind('(').unwrap() + 1..line.rfind(')').unwrap()];
            let toks: Vec<&str> = inner.split_whitespace().collect();
            toks.chunks(2)
                .find(|c| c[0].eq_ignore_ascii_case(name))
                .and_then(|c| c.get(1)?.parse().ok())
                .unwrap_or_else(|| panic!("STATUS without {name}: {line}"))
        };
        ImapStatus {
            messages: field("MESSAGES"),
            uidnext: field("UIDNEXT"),
            uidvalidity: field("UIDVALIDITY"),
            unseen: field("UNSEEN"),
        }
    }

    /// Starts IDLE on the currently selected mailbox (waits for the `+`).
    pub fn idle(&mut self) -> String {
        let tag = self.next_tag();
        let _ = writeln!(self.transcript, "C: {tag} IDLE");
        self.send_raw(format!("{tag} IDLE\r\n").as_bytes());
        let cont = self.read_line();
        assert!(
            cont.starts_with('+'),
            "IDLE refused: {cont}\n{}",
            self.transcript
        );
        tag
    }

    /// While idling: waits up to `timeout` for an untagged line containing `needle`.
    pub fn wait_untagged(&mut self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let stream = self.reader.get_ref().try_clone().unwrap();
        let result = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break None;
            }
            stream.set_read_timeout(Some(left)).unwrap();
            let mut buf = Vec::new();
            match self.reader.read_until(b'\n', &mut buf) {
                Ok(0) => panic!("IMAP: connection closed while idling\n{}", self.transcript),
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf).into_owned();
                    let _ = write!(self.transcript, "S: {line}");
                    if line.contains(needle) {
                        break Some(line.trim_end().to_string());
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break None;
                }
                Err(e) => panic!("IMAP read while idling: {e}\n{}", self.transcript),
            }
        };
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        result
    }

    /// Ends IDLE (sends DONE, waits for the tagged OK).
    pub fn done(&mut self, tag: &str) {
        let _ = writeln!(self.transcript, "C: DONE");
        self.send_raw(b"DONE\r\n");
        let (_, done) = self.collect(tag);
        assert!(
            done.starts_with(&format!("{tag} OK")),
            "IDLE end: {done}\n{}",
            self.transcript
        );
    }

    pub fn logout(mut self) {
        let tag = self.next_tag();
        self.send_raw(format!("{tag} LOGOUT\r\n").as_bytes());
        let _ = self.collect(&tag);
    }
}

/// Result of `STATUS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImapStatus {
    pub messages: u32,
    pub uidnext: u32,
    pub uidvalidity: u32,
    pub unseen: u32,
}

fn literal_len(line: &str) -> Option<usize> {
    let rest = line.strip_suffix('}')?;
    let open = rest.rfind('{')?;
    rest[open + 1..].trim_end_matches('+').parse().ok()
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

// ---------------------------------------------------------------------------
// Dovecot
// ---------------------------------------------------------------------------

/// A Dovecot IMAP server (`dovecot -F`) in its own temp dir, with one user
/// (`reseller` / `secret`), a plain IMAP port (STARTTLS offered) and an IMAPS
/// port, both on 127.0.0.1, using the server cert from the `Certs` it was
/// started with (copied, so the `Certs` may be dropped).
pub struct Dovecot {
    tmp: TempDir,
    conf: PathBuf,
    log: PathBuf,
    imap_port: u16,
    imaps_port: u16,
    child: Option<Child>,
    /// `sh` that SIGTERMs dovecot if this test process dies without Drop.
    watchdog: Option<Child>,
}

/// How Dovecot is set up beyond the defaults of [`Dovecot::start`].
#[derive(Debug, Clone, Default)]
pub struct DovecotOptions {
    /// Also log in with `AUTHENTICATE XOAUTH2` / `OAUTHBEARER`: Dovecot's `oauth2`
    /// passdb checks each token at this RFC 7662 introspection URL (POST `token=…`,
    /// `username` must be the user, `active` must be true). Password logins keep
    /// working (their passdb is restricted to PLAIN and LOGIN).
    pub oauth2_introspect: Option<String>,
    /// Appended to dovecot.conf.
    pub extra: String,
}

impl DovecotOptions {
    /// Tokens are checked at `server`'s introspection endpoint.
    pub fn oauth2(mut self, server: &oauth2::OAuth2Server) -> Self {
        self.oauth2_introspect = Some(server.introspect_url());
        self
    }

    /// Settings appended to dovecot.conf.
    pub fn extra(mut self, extra: &str) -> Self {
        self.extra = extra.to_string();
        self
    }
}

impl Dovecot {
    pub const USER: &'static str = "reseller";
    pub const PASSWORD: &'static str = "secret";

    pub fn start(certs: &Certs) -> Dovecot {
        Self::start_with(certs, DovecotOptions::default())
    }

    /// `start` with `extra` appended to dovecot.conf (a later setting overrides an
    /// earlier one: `ssl_key = <…` of another certificate, a `protocol imap { … }`).
    pub fn start_extra(certs: &Certs, extra: &str) -> Dovecot {
        Self::start_with(certs, DovecotOptions::default().extra(extra))
    }

    pub fn start_with(certs: &Certs, options: DovecotOptions) -> Dovecot {
        let extra = options.extra.clone();
        assert!(
            is_root(),
            "support::Dovecot needs root (mail processes run as nobody, listeners as dovecot)"
        );
        // Short path: dovecot's unix sockets live in base_dir (108-byte limit).
        let tmp = tempfile::Builder::new()
            .prefix("mr-dovecot-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let t = tmp.path().to_path_buf();
        chmod(&t, 0o755);
        for d in ["mail", "run", "state"] {
            fs::create_dir(t.join(d)).unwrap();
        }
        fs::copy(&certs.cert_pem, t.join("cert.pem")).unwrap();
        fs::copy(&certs.key_pem, t.join("key.pem")).unwrap();
        chmod(&t.join("key.pem"), 0o600);
        fs::write(
            t.join("users"),
            format!("{}:{{PLAIN}}{}::::::\n", Self::USER, Self::PASSWORD),
        )
        .unwrap();
        chmod(&t.join("users"), 0o644);
        let user_root = t.join("mail").join(Self::USER);
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(user_root.join(sub)).unwrap();
        }
        chown_nobody_recursive(&t.join("mail"));

        let imap_port = free_port();
        let imaps_port = free_port();
        let td = t.display();
        let (mechanisms, oauth2_passdb) = match &options.oauth2_introspect {
            None => ("plain login", String::new()),
            Some(url) => {
                // Dovecot 2.3's oauth2 passdb (doc.dovecot.org, "Open Authentication
                // v2.0 database"), the RFC 7662 way: POST token=… with HTTP Basic from
                // the URL's user:password. Tokens are opaque (never JWTs), no cache.
                fs::write(
                    t.join("dovecot-oauth2.conf.ext"),
                    format!(
                        "introspection_mode = post\n\
                         introspection_url = {url}\n\
                         username_attribute = username\n\
                         active_attribute = active\n\
                         active_value = true\n"
                    ),
                )
                .unwrap();
                // Read by the auth process (user dovecot); holds the introspection
                // credentials of a throwaway test server.
                chmod(&t.join("dovecot-oauth2.conf.ext"), 0o644);
                (
                    "plain login xoauth2 oauthbearer",
                    format!(
                        "passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  \
                         args = {td}/dovecot-oauth2.conf.ext\n}}\n"
                    ),
                )
            }
        };
        let password_mechanisms = if options.oauth2_introspect.is_some() {
            "  mechanisms = plain login\n"
        } else {
            ""
        };
        let conf = format!(
            r#"# mailroom test harness
protocols = imap
listen = 127.0.0.1
base_dir = {td}/run
state_dir = {td}/state
log_path = {td}/dovecot.log
info_log_path = {td}/dovecot.log
ssl = yes
ssl_cert = <{td}/cert.pem
ssl_key = <{td}/key.pem
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
auth_verbose = yes
# tests of wrong passwords should not wait the default 2 s
auth_failure_delay = 0
mail_fsync = never
mail_location = maildir:{td}/mail/%n
passdb {{
  driver = passwd-file
{password_mechanisms}  args = scheme=PLAIN {td}/users
}}
{oauth2_passdb}userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={td}/mail/%n
}}
# No anvil auth penalty (else each login after a failed one from 127.0.0.1
# waits 2-15 s more): auth can't open this socket, so penalties are off.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
{extra}
"#
        );
        let conf_path = t.join("dovecot.conf");
        fs::write(&conf_path, conf).unwrap();
        chmod(&conf_path, 0o644);
        let mut d = Dovecot {
            log: t.join("dovecot.log"),
            conf: conf_path,
            tmp,
            imap_port,
            imaps_port,
            child: None,
            watchdog: None,
        };
        d.start_again();
        d
    }

    pub fn imap_port(&self) -> u16 {
        self.imap_port
    }
    pub fn imaps_port(&self) -> u16 {
        self.imaps_port
    }
    /// The temp dir holding config, log, mail.
    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }
    pub fn log_path(&self) -> &Path {
        &self.log
    }
    pub fn log_tail(&self, lines: usize) -> String {
        file_tail(&self.log, lines)
    }
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// (Re)starts dovecot on the same ports with the same mail. Returns once the
    /// plain port answers with an IMAP greeting and the IMAPS port accepts.
    pub fn start_again(&mut self) {
        if self.is_running() {
            return;
        }
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let log_start = fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0);
            let log = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log)
                .unwrap();
            let child = Command::new("dovecot")
                .arg("-F")
                .arg("-c")
                .arg(&self.conf)
                // Own process group: kill() takes down every dovecot process
                // at once (else an orphaned imap-login can hold the ports
                // for seconds). Ctrl-C is covered by the watchdog.
                .process_group(0)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("spawn dovecot (run scripts/install-test-deps.sh): {e}")
                });
            stop_watchdog(&mut self.watchdog);
            self.watchdog = spawn_watchdog(child.id());
            self.child = Some(child);
            // Wait for the greeting; if dovecot exits early (e.g. a port is
            // still held by a dying process after kill()), retry until deadline.
            let mut exited = false;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.as_mut().unwrap().try_wait() {
                    exited = true;
                    break;
                }
                if let Ok(s) = TcpStream::connect_timeout(
                    &([127, 0, 0, 1], self.imap_port).into(),
                    Duration::from_millis(200),
                ) {
                    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                    let mut line = String::new();
                    if BufReader::new(s).read_line(&mut line).is_ok() && line.starts_with("* OK") {
                        let log = self.log.clone();
                        wait_for_port(self.imaps_port, START_TIMEOUT, "dovecot imaps", || {}, &log);
                        return;
                    }
                }
                thread::sleep(Duration::from_millis(20));
            }
            let port_busy = exited
                && fs::read(&self.log)
                    .map(|b| {
                        String::from_utf8_lossy(&b[(log_start as usize).min(b.len())..])
                            .contains("in use")
                    })
                    .unwrap_or(false);
            if !port_busy || Instant::now() >= deadline {
                if let Some(mut c) = self.child.take() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                panic!(
                    "dovecot did not come up on 127.0.0.1:{} within {START_TIMEOUT:?}\n{}",
                    self.imap_port,
                    self.log_tail(40)
                );
            }
            self.child = None;
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Graceful stop: SIGTERM to the master and wait (~1 s). If it is not
    /// gone after 3 s (seen when stopping right after a start: a new
    /// imap-login waits 5 s for the stats process), SIGKILL the whole group.
    /// Leftover processes of the group are SIGKILLed either way.
    pub fn stop(&mut self) {
        stop_watchdog(&mut self.watchdog);
        if let Some(mut c) = self.child.take() {
            send_signal(&c, SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(3);
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(10));
            }
            // SAFETY: kill(2) on the process group we created for dovecot
            // (ESRCH if it is already empty).
            unsafe {
                libc_kill(-(c.id() as i32), SIGKILL);
            }
            let _ = c.wait();
        }
    }

    /// A crash: SIGKILL to every dovecot process (its process group), no
    /// clean-up. Open client connections are cut; `start_again` works at once.
    pub fn kill(&mut self) {
        stop_watchdog(&mut self.watchdog);
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on the process group we created for dovecot.
            unsafe {
                libc_kill(-(c.id() as i32), SIGKILL);
            }
            let _ = c.wait();
        }
    }

    /// The Maildir of `folder` for user reseller: INBOX is the root, other
    /// folders are `.Name` (hierarchy `A/B` or `A.B` is `.A.B`).
    pub fn maildir(&self, folder: &str) -> PathBuf {
        let root = self.tmp.path().join("mail").join(Self::USER);
        if folder.eq_ignore_ascii_case("INBOX") {
            root
        } else {
            root.join(format!(".{}", folder.replace('/', ".")))
        }
    }

    /// Creates `folder` on disk (cur/new/tmp, owned by nobody) if missing.
    /// Dovecot lists it on the next LIST; no restart needed.
    pub fn create_folder(&self, folder: &str) -> PathBuf {
        let dir = self.maildir(folder);
        let mut made = false;
        for sub in ["cur", "new", "tmp"] {
            let p = dir.join(sub);
            if !p.exists() {
                fs::create_dir_all(&p).unwrap();
                made = true;
            }
        }
        if !folder.eq_ignore_ascii_case("INBOX") {
            let marker = dir.join("maildirfolder");
            if !marker.exists() {
                fs::write(&marker, b"").unwrap();
                made = true;
            }
        }
        // Only what was just made: the folder's files are owned already (a recursive
        // chown per delivery made loading thousands of messages quadratic).
        if made {
            chown_nobody_recursive(&dir);
        }
        dir
    }

    /// Writes `message` straight into the folder's Maildir (tmp/ then rename
    /// into new/, chowned to nobody), creating the folder if needed. Works while
    /// dovecot is stopped too. Returns the file's path in new/.
    pub fn deliver(&self, folder: &str, message: &[u8]) -> PathBuf {
        let dir = self.create_folder(folder);
        let name = unique_name();
        let tmp = dir.join("tmp").join(&name);
        fs::write(&tmp, message).unwrap();
        chown_nobody(&tmp);
        chmod(&tmp, 0o600);
        let dest = dir.join("new").join(&name);
        fs::rename(&tmp, &dest).unwrap();
        dest
    }

    /// `deliver` for many messages at once: the folder is made and owned once, not per
    /// message (which grows with the folder).
    pub fn deliver_many(&self, folder: &str, messages: &[Vec<u8>]) {
        let dir = self.create_folder(folder);
        for message in messages {
            let name = unique_name();
            let tmp = dir.join("tmp").join(&name);
            fs::write(&tmp, message).unwrap();
            chown_nobody(&tmp);
            chmod(&tmp, 0o600);
            fs::rename(&tmp, dir.join("new").join(&name)).unwrap();
        }
    }

    /// APPENDs `message` through IMAP (LOGIN + APPEND on the plain port), so
    /// IDLEing clients are notified the way a real delivery does. Creates the
    /// folder first if needed. Returns the completion line (with APPENDUID).
    pub fn append_via_imap(&self, folder: &str, message: &[u8]) -> String {
        let mut c = ImapConn::login(self.imap_port);
        if !folder.eq_ignore_ascii_case("INBOX") {
            let (_, done) = c.command(&format!("CREATE {}", quote(folder)));
            let ok = done.contains(" OK") || done.contains("ALREADYEXISTS");
            assert!(ok, "CREATE {folder}: {done}\n{}", c.transcript());
        }
        let done = c.append(folder, message);
        c.logout();
        done
    }

    /// Messages in the folder on disk (new/ + cur/), including ones flagged
    /// \Deleted but not yet expunged.
    pub fn count(&self, folder: &str) -> usize {
        maildir_files(&self.maildir(folder)).len()
    }

    /// The folder's message files (new/ then cur/ mixed, sorted by name) with
    /// their Maildir flags (the letters after `:2,`, e.g. "S" = \Seen).
    pub fn messages(&self, folder: &str) -> Vec<MaildirMessage> {
        maildir_files(&self.maildir(folder))
            .into_iter()
            .map(|path| {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let flags = name
                    .split_once(":2,")
                    .map(|(_, f)| f.to_string())
                    .unwrap_or_default();
                let bytes = fs::read(&path).unwrap_or_default();
                MaildirMessage { path, flags, bytes }
            })
            .collect()
    }

    /// `STATUS` of the folder over IMAP (server must be running).
    pub fn status(&self, folder: &str) -> ImapStatus {
        let mut c = ImapConn::login(self.imap_port);
        let s = c.status(folder);
        c.logout();
        s
    }

    pub fn uidvalidity(&self, folder: &str) -> u32 {
        self.status(folder).uidvalidity
    }

    /// Forces a new UIDVALIDITY on `folder` (messages stay, UIDs restart):
    /// stops dovecot, deletes the folder's dovecot-uidlist and index files
    /// (and the mailbox-list index, which caches STATUS), restarts it, and
    /// checks the value changed. Returns (old, new). Open client sessions are
    /// cut by the restart.
    pub fn change_uidvalidity(&mut self, folder: &str) -> (u32, u32) {
        let old = self.uidvalidity(folder);
        self.stop();
        let dir = self.maildir(folder);
        let root = self.maildir("INBOX");
        let mut to_remove = Vec::new();
        let dirs = if dir == root {
            vec![&root]
        } else {
            vec![&dir, &root]
        };
        for d in dirs {
            for entry in fs::read_dir(d).unwrap().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let is_folder_file =
                    *d == dir && (name == "dovecot-uidlist" || name.starts_with("dovecot.index"));
                let is_list_index = *d == root && name.starts_with("dovecot.list.index");
                if is_folder_file || is_list_index {
                    to_remove.push(entry.path());
                }
            }
        }
        for p in to_remove {
            match fs::remove_file(&p) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => panic!("rm {}: {e}", p.display()),
                _ => {}
            }
        }
        self.start_again();
        let new = self.uidvalidity(folder);
        assert_ne!(
            old,
            new,
            "UIDVALIDITY of {folder} did not change\n{}",
            self.log_tail(20)
        );
        (old, new)
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One message file in a Maildir.
#[derive(Debug, Clone)]
pub struct MaildirMessage {
    pub path: PathBuf,
    /// Maildir info flags: D=Draft F=Flagged R=Replied S=Seen T=Deleted.
    pub flags: String,
    pub bytes: Vec<u8>,
}

// ---------------------------------------------------------------------------
// SMTP sink (aiosmtpd, tests/support/smtp_sink.py)
// ---------------------------------------------------------------------------

/// How to run the SMTP sink. `SmtpOptions::default()` is plain SMTP, no AUTH.
#[derive(Default, Clone, Copy)]
pub struct SmtpOptions<'a> {
    /// Require AUTH PLAIN/LOGIN with these credentials (MAIL before it: 530).
    pub auth: Option<(&'a str, &'a str)>,
    /// Offer STARTTLS on the plain port (needs `certs`). With `auth`, AUTH is
    /// only offered and accepted after STARTTLS.
    pub starttls: bool,
    /// Refuse MAIL etc. until STARTTLS (implies `starttls`).
    pub require_starttls: bool,
    /// TLS from the first byte (SMTPS). Needs `certs`.
    pub implicit_tls: bool,
    pub certs: Option<&'a Certs>,
    /// Answer DATA only after this long (a slow server).
    pub data_delay: Option<Duration>,
    /// Also accept AUTH XOAUTH2 and OAUTHBEARER, each token checked at this OAuth2
    /// server's introspection endpoint (refusals answered as Gmail does: a 334 with
    /// base64 JSON, then 535 after the client's empty line, or `AQ==` for OAUTHBEARER).
    pub oauth2: Option<&'a oauth2::OAuth2Server>,
}

impl<'a> SmtpOptions<'a> {
    pub fn plain() -> Self {
        Self::default()
    }
    pub fn auth(mut self, user: &'a str, pass: &'a str) -> Self {
        self.auth = Some((user, pass));
        self
    }
    pub fn starttls(mut self, certs: &'a Certs) -> Self {
        self.starttls = true;
        self.certs = Some(certs);
        self
    }
    pub fn require_starttls(mut self, certs: &'a Certs) -> Self {
        self.require_starttls = true;
        self.starttls(certs)
    }
    pub fn data_delay(mut self, delay: Duration) -> Self {
        self.data_delay = Some(delay);
        self
    }
    /// AUTH XOAUTH2 / OAUTHBEARER (AUTH is then required before MAIL, like `auth`).
    pub fn oauth2(mut self, server: &'a oauth2::OAuth2Server) -> Self {
        self.oauth2 = Some(server);
        self
    }
    pub fn implicit_tls(mut self, certs: &'a Certs) -> Self {
        self.implicit_tls = true;
        self.certs = Some(certs);
        self
    }
}

/// One message the SMTP sink received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpMessage {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The DATA as received (without the sink's X-MailFrom/X-RcptTo lines).
    pub data: Vec<u8>,
}

/// An aiosmtpd server on 127.0.0.1 writing every message into a Maildir.
pub struct SmtpSink {
    tmp: TempDir,
    args: Vec<String>,
    port: u16,
    log: PathBuf,
    child: Option<Child>,
}

fn python() -> String {
    std::env::var("MAILROOM_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

impl SmtpSink {
    pub fn start(opts: SmtpOptions<'_>) -> SmtpSink {
        let tmp = tempfile::Builder::new()
            .prefix("mr-smtp-")
            .tempdir()
            .expect("tempdir");
        let t = tmp.path();
        let port = free_port();
        let maildir = t.join("maildir");
        let mut args = vec![
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_sink.py").to_string(),
            "--port".into(),
            port.to_string(),
            "--maildir".into(),
            maildir.display().to_string(),
            "--exit-on-stdin-eof".into(),
        ];
        if opts.starttls || opts.require_starttls || opts.implicit_tls {
            let certs = opts.certs.expect("SmtpOptions: TLS needs certs");
            fs::copy(&certs.cert_pem, t.join("cert.pem")).unwrap();
            fs::copy(&certs.key_pem, t.join("key.pem")).unwrap();
            args.extend([
                "--tls-cert".into(),
                t.join("cert.pem").display().to_string(),
            ]);
            args.extend(["--tls-key".into(), t.join("key.pem").display().to_string()]);
        }
        if opts.implicit_tls {
            args.push("--implicit-tls".into());
        }
        if opts.starttls {
            args.push("--starttls".into());
        }
        if opts.require_starttls {
            args.push("--require-starttls".into());
        }
        if let Some((u, p)) = opts.auth {
            args.extend(["--auth".into(), format!("{u}:{p}")]);
        }
        if let Some(server) = opts.oauth2 {
            args.extend(["--oauth2-introspect".into(), server.introspect_url()]);
        }
        if let Some(d) = opts.data_delay {
            args.extend(["--data-delay".into(), d.as_secs_f64().to_string()]);
        }
        let mut sink = SmtpSink {
            log: t.join("smtp_sink.log"),
            tmp,
            args,
            port,
            child: None,
        };
        sink.start_again();
        sink
    }

    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn maildir(&self) -> PathBuf {
        self.tmp.path().join("maildir")
    }
    pub fn log_tail(&self, lines: usize) -> String {
        file_tail(&self.log, lines)
    }

    /// (Re)starts on the same port and Maildir; returns once it prints READY.
    pub fn start_again(&mut self) {
        if let Some(c) = self.child.as_mut()
            && let Ok(None) = c.try_wait()
        {
            return;
        }
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut child = Command::new(python())
            .args(&self.args)
            .stdin(Stdio::piped()) // never written: EOF tells it we died
            .stdout(Stdio::piped())
            .stderr(log.try_clone().unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn python3 smtp_sink.py: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            // Keep draining stdout into the log so the child never blocks.
            let mut log = log;
            let _ = io::copy(&mut reader, &mut log);
        });
        self.child = Some(child);
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) if line.trim() == "READY" => {}
            other => {
                if let Some(mut c) = self.child.take() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                panic!(
                    "smtp_sink did not print READY within {START_TIMEOUT:?} (got {other:?}; \
                     is aiosmtpd installed? scripts/install-test-deps.sh)\n{}",
                    self.log_tail(40)
                );
            }
        }
    }

    /// SIGTERM and wait (SIGKILL after 10 s). The port then refuses connections.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            terminate(&mut c);
        }
    }

    /// Raw message files in arrival order, each starting with the sink's
    /// `X-MailFrom:` and `X-RcptTo:` header lines.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        maildir_files(&self.maildir())
            .iter()
            .filter_map(|p| fs::read(p).ok())
            .collect()
    }

    /// `messages()` split into envelope and DATA.
    pub fn received(&self) -> Vec<SmtpMessage> {
        self.messages()
            .iter()
            .map(|m| parse_sink_message(m))
            .collect()
    }

    /// Waits until at least `n` messages arrived; returns all of them.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            let msgs = self.messages();
            if msgs.len() >= n {
                return msgs;
            }
            if Instant::now() >= deadline {
                panic!(
                    "SmtpSink on port {}: wanted {n} message(s) within {timeout:?}, got {}\n{}",
                    self.port,
                    msgs.len(),
                    self.log_tail(40)
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

fn parse_sink_message(raw: &[u8]) -> SmtpMessage {
    let mut rest = raw;
    let mut take_header = |name: &str| -> String {
        let line_end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let line = String::from_utf8_lossy(&rest[..line_end])
            .trim_end_matches('\r')
            .to_string();
        rest = &rest[(line_end + 1).min(rest.len())..];
        line.strip_prefix(name)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let mail_from = take_header("X-MailFrom:");
    let rcpt = take_header("X-RcptTo:");
    SmtpMessage {
        mail_from,
        rcpt_to: rcpt
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        data: rest.to_vec(),
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------
// HTTP sink
// ---------------------------------------------------------------------------

/// One request the HTTP sink received.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: String,
    /// Request target as sent, e.g. `/hook?x=1`.
    pub path: String,
    pub version: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What the HTTP sink answers.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Sleep this long before answering (to test client timeouts).
    pub delay: Duration,
}

impl HttpResponse {
    pub fn status(status: u16) -> Self {
        HttpResponse {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
        }
    }
    pub fn redirect(status: u16, location: &str) -> Self {
        let mut r = Self::status(status);
        r.headers.push(("Location".into(), location.into()));
        r
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

struct HttpState {
    requests: Vec<HttpRequest>,
    default: HttpResponse,
    queued: VecDeque<HttpResponse>,
    /// Status per request path (without query), before the default.
    by_path: Vec<(String, u16)>,
    errors: Vec<String>,
}

struct HttpShared {
    state: Mutex<HttpState>,
    cond: Condvar,
    stop: AtomicBool,
    /// Open connections (id, clone), so stop() can cut keep-alive ones.
    conns: Mutex<Vec<(usize, TcpStream)>>,
    next_conn: AtomicUsize,
    /// Requests received and not yet answered, and the most there ever were.
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// A small HTTP/1.1 server on a thread (std::net) that records every request
/// and answers with a configurable response (default `200`, empty body).
/// Supports Content-Length and chunked bodies, `Expect: 100-continue`,
/// keep-alive and `Connection: close`. `start_tls` puts a TLS front (python3
/// ssl) before it, for https:// URLs.
pub struct HttpSink {
    shared: Arc<HttpShared>,
    backend_port: u16,
    port: u16,
    tls: bool,
    listener_thread: Option<JoinHandle<()>>,
    tls_front: Option<Child>,
    tmp: Option<TempDir>,
}

impl HttpSink {
    pub fn start() -> HttpSink {
        let shared = Arc::new(HttpShared {
            state: Mutex::new(HttpState {
                requests: Vec::new(),
                default: HttpResponse::status(200),
                queued: VecDeque::new(),
                by_path: Vec::new(),
                errors: Vec::new(),
            }),
            cond: Condvar::new(),
            stop: AtomicBool::new(false),
            conns: Mutex::new(Vec::new()),
            next_conn: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let port = free_port();
        let mut sink = HttpSink {
            shared,
            backend_port: port,
            port,
            tls: false,
            listener_thread: None,
            tls_front: None,
            tmp: None,
        };
        sink.start_again();
        sink
    }

    /// HTTPS: TLS (server cert from `certs`) on `port()`, forwarding to the
    /// plain sink. `url()` is then `https://localhost:PORT`.
    pub fn start_tls(certs: &Certs) -> HttpSink {
        let mut sink = HttpSink::start();
        let tmp = tempfile::Builder::new()
            .prefix("mr-https-")
            .tempdir()
            .expect("tempdir");
        fs::copy(&certs.cert_pem, tmp.path().join("cert.pem")).unwrap();
        fs::copy(&certs.key_pem, tmp.path().join("key.pem")).unwrap();
        fs::write(tmp.path().join("tls_front.py"), TLS_FRONT_PY).unwrap();
        sink.tmp = Some(tmp);
        sink.tls = true;
        sink.port = free_port();
        sink.start_tls_front();
        sink
    }

    fn start_tls_front(&mut self) {
        let t = self.tmp.as_ref().unwrap().path().to_path_buf();
        let log_path = t.join("tls_front.log");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap();
        let mut child = Command::new(python())
            .arg(t.join("tls_front.py"))
            .args([
                self.port.to_string(),
                self.backend_port.to_string(),
                t.join("cert.pem").display().to_string(),
                t.join("key.pem").display().to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn python3 tls front");
        let mut line = String::new();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let _ = r.read_line(&mut line);
            let _ = tx.send(line);
            let _ = io::copy(&mut r, &mut io::sink());
        });
        self.tls_front = Some(child);
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(l) if l.trim() == "READY" => {}
            other => {
                if let Some(mut c) = self.tls_front.take() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                panic!(
                    "HttpSink TLS front did not start ({other:?})\n{}",
                    file_tail(&log_path, 40)
                );
            }
        }
    }

    /// `http://127.0.0.1:PORT` or `https://localhost:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        if self.tls {
            format!("https://localhost:{}", self.port)
        } else {
            format!("http://127.0.0.1:{}", self.port)
        }
    }
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Status for all following requests (keeps headers/body of the default).
    pub fn set_status(&self, status: u16) {
        let mut st = self.shared.state.lock().unwrap();
        st.default.status = status;
        st.default
            .headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case("Location"));
    }
    /// Answer all following requests with `status` and `Location: location`.
    pub fn set_redirect(&self, status: u16, location: &str) {
        self.set_response(HttpResponse::redirect(status, location));
    }
    /// Response for all following requests (after any queued ones).
    pub fn set_response(&self, response: HttpResponse) {
        self.shared.state.lock().unwrap().default = response;
    }
    /// Answer every request to `path` (query ignored) with `status`.
    pub fn set_path_status(&self, path: &str, status: u16) {
        let mut st = self.shared.state.lock().unwrap();
        st.by_path.retain(|(p, _)| p != path);
        st.by_path.push((path.to_string(), status));
    }
    /// One-shot responses used, in order, before the default one
    /// (e.g. 500 then 503, then the default 200).
    pub fn queue_response(&self, response: HttpResponse) {
        self.shared.state.lock().unwrap().queued.push_back(response);
    }

    pub fn requests(&self) -> Vec<HttpRequest> {
        self.shared.state.lock().unwrap().requests.clone()
    }

    /// The most requests that were ever received and not yet answered at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Malformed requests and I/O errors seen by the server, if any.
    pub fn errors(&self) -> Vec<String> {
        self.shared.state.lock().unwrap().errors.clone()
    }

    /// Waits until at least `n` requests arrived; returns all of them.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<HttpRequest> {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.state.lock().unwrap();
        while st.requests.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "HttpSink {}: wanted {n} request(s) within {timeout:?}, got {}: {:?}\nerrors: {:?}",
                    self.url(),
                    st.requests.len(),
                    st.requests
                        .iter()
                        .map(|r| format!("{} {}", r.method, r.path))
                        .collect::<Vec<_>>(),
                    st.errors
                );
            }
            st = self.shared.cond.wait_timeout(st, left).unwrap().0;
        }
        st.requests.clone()
    }

    /// Stops listening (connections are then refused) and closes open ones.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.tls_front.take() {
            terminate(&mut c);
        }
        if let Some(h) = self.listener_thread.take() {
            self.shared.stop.store(true, Ordering::SeqCst);
            // Wake the blocking accept().
            let _ = TcpStream::connect_timeout(
                &([127, 0, 0, 1], self.backend_port).into(),
                Duration::from_secs(1),
            );
            let _ = h.join();
            // Cut open (keep-alive) connections too, like a dead server.
            for (_, c) in self.shared.conns.lock().unwrap().drain(..) {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    }

    /// Listens again on the same port(s), keeping recorded requests.
    pub fn start_again(&mut self) {
        if self.listener_thread.is_some() {
            return;
        }
        self.shared.stop.store(false, Ordering::SeqCst);
        let deadline = Instant::now() + START_TIMEOUT;
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.backend_port)) {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("HttpSink: bind 127.0.0.1:{}: {e}", self.backend_port),
            }
        };
        let shared = self.shared.clone();
        self.listener_thread = Some(thread::spawn(move || {
            for conn in listener.incoming() {
                if shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = conn {
                    let shared = shared.clone();
                    let id = shared.next_conn.fetch_add(1, Ordering::SeqCst);
                    if let Ok(clone) = stream.try_clone() {
                        shared.conns.lock().unwrap().push((id, clone));
                    }
                    thread::spawn(move || {
                        if let Err(e) = serve_http_conn(stream, &shared)
                            && !shared.stop.load(Ordering::SeqCst)
                        {
                            shared.state.lock().unwrap().errors.push(e);
                        }
                        shared.conns.lock().unwrap().retain(|(i, _)| *i != id);
                    });
                }
            }
        }));
        if self.tls && self.tls_front.is_none() {
            self.start_tls_front();
        }
    }
}

impl Drop for HttpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads one line (up to CRLF) with a limit; None on clean EOF before any byte.
fn read_http_line(
    r: &mut BufReader<TcpStream>,
    shared: &HttpShared,
) -> Result<Option<String>, String> {
    let mut buf = Vec::new();
    loop {
        match r.read_until(b'\n', &mut buf) {
            Ok(0) => {
                return if buf.is_empty() {
                    Ok(None)
                } else {
                    Err("EOF inside a line".into())
                };
            }
            Ok(_) if buf.ends_with(b"\n") => break,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if shared.stop.load(Ordering::SeqCst) {
                    return Ok(None);
                }
            }
            Err(e) => return Err(format!("read: {e}")),
        }
        if buf.len() > 64 * 1024 {
            return Err("line too long".into());
        }
    }
    let s = String::from_utf8_lossy(&buf);
    Ok(Some(s.trim_end_matches(['\r', '\n']).to_string()))
}

fn read_exact_polling(
    r: &mut BufReader<TcpStream>,
    n: usize,
    shared: &HttpShared,
) -> Result<Vec<u8>, String> {
    let mut out = vec![0u8; n];
    let mut got = 0;
    while got < n {
        match r.read(&mut out[got..]) {
            Ok(0) => return Err(format!("EOF after {got} of {n} body bytes")),
            Ok(k) => got += k,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if shared.stop.load(Ordering::SeqCst) {
                    return Err("stopped while reading body".into());
                }
            }
            Err(e) => return Err(format!("read body: {e}")),
        }
    }
    Ok(out)
}

fn serve_http_conn(stream: TcpStream, shared: &HttpShared) -> Result<(), String> {
    if shared.stop.load(Ordering::SeqCst) {
        return Ok(());
    }
    // Short read timeout so idle keep-alive connections notice stop().
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_nodelay(true).ok();
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let mut r = BufReader::new(stream);
    loop {
        // Request line (skip stray empty lines between requests, RFC 9112 2.2).
        let line = loop {
            match read_http_line(&mut r, shared)? {
                None => return Ok(()),
                Some(l) if l.is_empty() => continue,
                Some(l) => break l,
            }
        };
        let mut parts = line.splitn(3, ' ');
        let (method, path, version) = match (parts.next(), parts.next(), parts.next()) {
            (Some(m), Some(p), Some(v)) if v.starts_with("HTTP/") => {
                (m.to_string(), p.to_string(), v.to_string())
            }
            _ => {
                let _ = writer.write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                return Err(format!("bad request line: {line:?}"));
            }
        };
        let mut headers = Vec::new();
        loop {
            let h = read_http_line(&mut r, shared)?.ok_or("EOF in headers")?;
            if h.is_empty() {
                break;
            }
            let (k, v) = h
                .split_once(':')
                .ok_or_else(|| format!("bad header line: {h:?}"))?;
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.to_ascii_lowercase())
        };
        if get("expect").as_deref() == Some("100-continue") {
            writer
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .map_err(|e| e.to_string())?;
        }
        let body = if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            let mut body = Vec::new();
            loop {
                let size_line = read_http_line(&mut r, shared)?.ok_or("EOF in chunk size")?;
                let size_hex = size_line.split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(size_hex, 16)
                    .map_err(|_| format!("bad chunk size {size_line:?}"))?;
                if size == 0 {
                    // trailers until empty line
                    while !read_http_line(&mut r, shared)?
                        .ok_or("EOF in trailers")?
                        .is_empty()
                    {}
                    break;
                }
                body.extend(read_exact_polling(&mut r, size, shared)?);
                read_exact_polling(&mut r, 2, shared)?; // CRLF
            }
            body
        } else if let Some(len) = get("content-length") {
            let len: usize = len
                .trim()
                .parse()
                .map_err(|_| format!("bad Content-Length {len:?}"))?;
            read_exact_polling(&mut r, len, shared)?
        } else {
            Vec::new()
        };
        let conn_hdr = get("connection").unwrap_or_default();
        let close = if version == "HTTP/1.0" {
            !conn_hdr.contains("keep-alive")
        } else {
            conn_hdr.contains("close")
        };
        let is_head = method.eq_ignore_ascii_case("HEAD");

        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let response = {
            let mut st = shared.state.lock().unwrap();
            let bare = path.split('?').next().unwrap_or_default().to_string();
            st.requests.push(HttpRequest {
                method,
                path,
                version: version.clone(),
                headers,
                body,
            });
            shared.cond.notify_all();
            let by_path = st.by_path.iter().find(|(p, _)| *p == bare).map(|(_, c)| *c);
            st.queued.pop_front().unwrap_or_else(|| match by_path {
                Some(code) => HttpResponse::status(code),
                None => st.default.clone(),
            })
        };
        if !response.delay.is_zero() {
            thread::sleep(response.delay);
        }
        let mut head = format!(
            "HTTP/1.1 {} {}\r\n",
            response.status,
            reason(response.status)
        );
        for (k, v) in &response.headers {
            let _ = write!(head, "{k}: {v}\r\n");
        }
        if !response
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            && !response.body.is_empty()
        {
            head.push_str("Content-Type: text/plain; charset=utf-8\r\n");
        }
        let _ = write!(head, "Content-Length: {}\r\n", response.body.len());
        head.push_str(if close {
            "Connection: close\r\n\r\n"
        } else {
            "Connection: keep-alive\r\n\r\n"
        });
        let mut out = head.into_bytes();
        if !is_head {
            out.extend_from_slice(&response.body);
        }
        let written = writer.write_all(&out).and_then(|_| writer.flush());
        shared.in_flight.fetch_sub(1, Ordering::SeqCst);
        if let Err(e) = written {
            return Err(format!("write response: {e}"));
        }
        if close {
            let _ = writer.shutdown(Shutdown::Write);
            return Ok(());
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// TLS terminator for `HttpSink::start_tls`: accepts TLS on argv[1], pipes
/// each connection to 127.0.0.1:argv[2]. Exits on SIGTERM or stdin EOF.
const TLS_FRONT_PY: &str = r#"
import asyncio, os, signal, ssl, sys
listen_port, backend_port, cert, key = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]

async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    finally:
        try:
            if writer.can_write_eof():
                writer.write_eof()
            else:
                writer.close()
        except (ConnectionError, ssl.SSLError, OSError, RuntimeError):
            pass

async def handle(creader, cwriter):
    try:
        breader, bwriter = await asyncio.open_connection("127.0.0.1", backend_port)
    except OSError:
        cwriter.close()
        return
    await asyncio.gather(pipe(creader, bwriter), pipe(breader, cwriter))
    for w in (bwriter, cwriter):
        try:
            w.close()
        except Exception:
            pass

async def main():
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])
    server = await asyncio.start_server(handle, "127.0.0.1", listen_port, ssl=ctx, reuse_address=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    def on_stdin():
        try:
            data = os.read(0, 4096)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(0)
            stop.set()
    loop.add_reader(0, on_stdin)
    print("READY", flush=True)
    await stop.wait()
    server.close()

asyncio.run(main())
"#;
