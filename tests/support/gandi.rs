//! Gandi's notification API as a test server (`gandi_xmlrpc.py`): XML-RPC on a free
//! loopback port, the key checked with Gandi's faults, the documented notification list
//! (`gandi_notifications.json`), and `notification.test` mailing the documented test
//! message into a Maildir folder or, by IMAP APPEND, a Dovecot folder. Stopped when
//! dropped (and when the test process dies: it exits on stdin EOF).

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

use super::{Dovecot, START_TIMEOUT, free_port, python, terminate};

/// Where `notification.test` mails the test message.
pub enum Mailbox<'a> {
    /// A Maildir folder (tmp/ then new/), e.g. one a `[[maildir]]` source watches.
    Maildir(&'a Path),
    /// A folder of the Dovecot harness, by IMAP APPEND as user reseller.
    Dovecot(&'a Dovecot, &'a str),
}

pub struct GandiApi {
    tmp: TempDir,
    port: u16,
    child: Option<Child>,
}

impl GandiApi {
    /// Starts a server that accepts `apikey` (24 characters of [a-z0-9]).
    pub fn start(apikey: &str, mailbox: Mailbox<'_>) -> GandiApi {
        let tmp = tempfile::Builder::new()
            .prefix("mr-gandi-")
            .tempdir()
            .expect("tempdir");
        let port = free_port();
        let dir = env!("CARGO_MANIFEST_DIR");
        let mut args = vec![
            format!("{dir}/tests/support/gandi_xmlrpc.py"),
            "--port".into(),
            port.to_string(),
            "--dir".into(),
            tmp.path().display().to_string(),
            "--apikey".into(),
            apikey.into(),
            "--fixture".into(),
            format!("{dir}/tests/support/gandi_notifications.json"),
            "--exit-on-stdin-eof".into(),
        ];
        match mailbox {
            Mailbox::Maildir(path) => {
                args.extend(["--maildir".into(), path.display().to_string()]);
            }
            Mailbox::Dovecot(d, folder) => args.extend([
                "--imap".into(),
                format!("127.0.0.1:{}", d.imap_port()),
                "--imap-user".into(),
                Dovecot::USER.into(),
                "--imap-password".into(),
                Dovecot::PASSWORD.into(),
                "--imap-folder".into(),
                folder.into(),
            ]),
        }
        let log = fs::File::create(tmp.path().join("server.log")).unwrap();
        let mut child = Command::new(python())
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn python3 gandi_xmlrpc.py: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let api = GandiApi {
            tmp,
            port,
            child: Some(child),
        };
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) if line.trim() == "READY" => api,
            other => panic!(
                "gandi_xmlrpc.py did not start ({other:?})\n{}",
                super::file_tail(&api.path("server.log"), 40)
            ),
        }
    }

    /// The endpoint to configure as `[gandi] url`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/xmlrpc/", self.port)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Replaces what `notification.list` answers.
    pub fn set_notifications(&self, list: &serde_json::Value) {
        let tmp = self.path("notifications.json.tmp");
        fs::write(&tmp, serde_json::to_vec(list).unwrap()).unwrap();
        fs::rename(tmp, self.path("notifications.json")).unwrap();
    }

    /// `{"drop_test_mail": true}`, `{"fail": N}`.
    pub fn set_faults(&self, faults: serde_json::Value) {
        let tmp = self.path("faults.json.tmp");
        fs::write(&tmp, serde_json::to_vec(&faults).unwrap()).unwrap();
        fs::rename(tmp, self.path("faults.json")).unwrap();
    }

    /// Every call so far: `{"method", "notification"?, "mailed"?, "fault"?}`.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        fs::read_to_string(self.path("requests.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn log_tail(&self) -> String {
        super::file_tail(&self.path("server.log"), 40)
    }
}

impl Drop for GandiApi {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            terminate(&mut c);
        }
    }
}
