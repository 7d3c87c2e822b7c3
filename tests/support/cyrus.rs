//! Cyrus IMAP as a second real IMAP server (Dovecot hides some client bugs Cyrus
//! shows: it announces new mail with the reply to whatever command is running, and
//! not again at IDLE). Debian's packages conflict with dovecot-imapd, so
//! `scripts/install-cyrus.sh` unpacks them into `/opt/mailroom-test/cyrus` (or
//! `$MAILROOM_CYRUS`) and this runs that `master` with `LD_LIBRARY_PATH`, in a temp dir
//! of its own (config, spool, sockets), on a free loopback port, services running as
//! `nobody`. Any password is accepted (`sasl_pwcheck_method: alwaystrue`): LOGIN as
//! `reseller` for the mailbox, as `cyrus` for the admin. `idled` runs, so IDLE hears of
//! new mail at once. No TLS is configured: STARTTLS is refused.
//!
//! Timings seen here (Cyrus 3.6.1): up in ~0.3 s; IDLE `EXISTS` ~0.1 s after an APPEND;
//! 2,000 small messages appended (MULTIAPPEND, 500 a command) in ~1 s.
//! Cyrus logs only to syslog, which a test machine usually lacks: a failure shows the
//! IMAP transcript instead.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::{
    ImapConn, SIGKILL, SIGTERM, START_TIMEOUT, chmod, chown_nobody_recursive, free_port, is_root,
    libc_kill, quote, send_signal, spawn_watchdog, stop_watchdog,
};

/// A running Cyrus `master` with one user, `reseller`, whose INBOX exists.
pub struct Cyrus {
    tmp: TempDir,
    port: u16,
    child: Option<Child>,
    watchdog: Option<Child>,
}

fn root() -> PathBuf {
    std::env::var_os("MAILROOM_CYRUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/mailroom-test/cyrus"))
}

impl Cyrus {
    pub const USER: &'static str = "reseller";

    pub fn start() -> Cyrus {
        assert!(
            is_root(),
            "support::Cyrus needs root (its services run as nobody)"
        );
        let bin = root().join("usr/lib/cyrus/bin");
        assert!(
            bin.join("master").is_file(),
            "no Cyrus IMAP under {}: run scripts/install-cyrus.sh (or scripts/install-test-deps.sh)",
            root().display()
        );
        // Short path: Cyrus's unix sockets live under the config directory.
        let tmp = tempfile::Builder::new()
            .prefix("mr-cyrus-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let t = tmp.path().to_path_buf();
        for d in [
            "conf/db",
            "conf/socket",
            "conf/proc",
            "conf/lock",
            "spool",
            "sieve",
        ] {
            fs::create_dir_all(t.join(d)).unwrap();
        }
        let port = free_port();
        let (td, b) = (t.display(), bin.display());
        let imapd_conf = t.join("imapd.conf");
        fs::write(
            &imapd_conf,
            format!(
                "configdirectory: {td}/conf\npartition-default: {td}/spool\nsievedir: {td}/sieve\n\
                 admins: cyrus\nsasl_pwcheck_method: alwaystrue\nsasl_mech_list: PLAIN\n\
                 allowplaintext: yes\ncyrus_user: nobody\ncyrus_group: nogroup\n\
                 unixhierarchysep: yes\naltnamespace: yes\n"
            ),
        )
        .unwrap();
        let c = imapd_conf.display();
        fs::write(
            t.join("cyrus.conf"),
            format!(
                "START {{\n  recover cmd=\"{b}/ctl_cyrusdb -C {c} -r\"\n}}\n\
                 SERVICES {{\n  imap cmd=\"{b}/imapd -C {c}\" listen=\"127.0.0.1:{port}\" prefork=0\n}}\n\
                 EVENTS {{\n}}\nDAEMON {{\n  idled cmd=\"{b}/idled -C {c}\"\n}}\n"
            ),
        )
        .unwrap();
        chown_nobody_recursive(&t);
        chmod(&t, 0o755);
        let mut cyrus = Cyrus {
            tmp,
            port,
            child: None,
            watchdog: None,
        };
        cyrus.spawn();
        let mut admin = ImapConn::connect(port);
        admin.ok("LOGIN cyrus x");
        admin.ok(&format!(
            "CREATE {}",
            quote(&format!("user/{}", Self::USER))
        ));
        admin.logout();
        cyrus
    }

    fn spawn(&mut self) {
        let root = root();
        let t = self.tmp.path();
        let libs = format!(
            "{}:{}",
            root.join("usr/lib/x86_64-linux-gnu").display(),
            root.join("lib/x86_64-linux-gnu").display()
        );
        let child = Command::new(root.join("usr/lib/cyrus/bin/master"))
            .arg("-C")
            .arg(t.join("imapd.conf"))
            .arg("-M")
            .arg(t.join("cyrus.conf"))
            .arg("-p")
            .arg(t.join("master.pid"))
            .arg("-D")
            .env("LD_LIBRARY_PATH", libs)
            // Own process group: stop() takes every Cyrus process down at once.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn Cyrus master (run scripts/install-cyrus.sh): {e}"));
        self.watchdog = spawn_watchdog(child.id());
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.as_mut().unwrap().try_wait() {
                panic!("Cyrus master exited at start ({status}); it logs to syslog only");
            }
            if let Ok(s) = TcpStream::connect_timeout(
                &([127, 0, 0, 1], self.port).into(),
                Duration::from_millis(200),
            ) {
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut line = String::new();
                if BufReader::new(s).read_line(&mut line).is_ok() && line.starts_with("* OK") {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "Cyrus did not greet on 127.0.0.1:{} within {START_TIMEOUT:?}",
                self.port
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// LOGIN as the mailbox user.
    pub fn login(&self) -> ImapConn {
        let mut c = ImapConn::connect(self.port);
        c.ok(&format!("LOGIN {} x", Self::USER));
        c
    }

    /// Creates `folder` (a top-level folder of the user's, beside INBOX).
    pub fn create_folder(&self, folder: &str) {
        let mut c = self.login();
        c.ok(&format!("CREATE {}", quote(folder)));
        c.logout();
    }

    /// APPENDs one message to `folder` (IDLEing clients are told at once).
    pub fn append(&self, folder: &str, message: &[u8]) {
        let mut c = self.login();
        c.append(folder, message);
        c.logout();
    }

    /// APPENDs many messages: MULTIAPPEND with non-synchronizing literals, 500 a command.
    pub fn append_many(&self, folder: &str, messages: &[Vec<u8>]) {
        let mut c = self.login();
        for chunk in messages.chunks(500) {
            let tag = c.next_tag();
            let mut cmd = format!("{tag} APPEND {}", quote(folder)).into_bytes();
            for m in chunk {
                cmd.extend_from_slice(format!(" {{{}+}}\r\n", m.len()).as_bytes());
                cmd.extend_from_slice(m);
            }
            cmd.extend_from_slice(b"\r\n");
            c.send_raw(&cmd);
            let (_, done) = c.collect(&tag);
            assert!(
                done.starts_with(&format!("{tag} OK")),
                "MULTIAPPEND to {folder}: {done}"
            );
        }
        c.logout();
    }

    /// Messages in `folder` (STATUS MESSAGES).
    pub fn count(&self, folder: &str) -> u32 {
        let mut c = self.login();
        let n = c.status(folder).messages;
        c.logout();
        n
    }

    pub fn stop(&mut self) {
        stop_watchdog(&mut self.watchdog);
        if let Some(mut c) = self.child.take() {
            send_signal(&c, SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(3);
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(10));
            }
            // SAFETY: kill(2) on the process group made for Cyrus (ESRCH once empty).
            unsafe {
                libc_kill(-(c.id() as i32), SIGKILL);
            }
            let _ = c.wait();
        }
    }
}

impl Drop for Cyrus {
    fn drop(&mut self) {
        self.stop();
    }
}
