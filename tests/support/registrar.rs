//! The registrars' poll APIs as test servers (`registrar_api.py`): OpenSRS XCP and
//! AutoDNS JSON and XML, each with its own queue, acknowledgements and request log in
//! a temp dir, on a free loopback port. Stopped when dropped.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use super::{START_TIMEOUT, free_port, python, terminate};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Opensrs,
    AutodnsJson,
    AutodnsXml,
}

impl Kind {
    fn arg(self) -> &'static str {
        match self {
            Kind::Opensrs => "opensrs",
            Kind::AutodnsJson => "autodns-json",
            Kind::AutodnsXml => "autodns-xml",
        }
    }
}

pub struct RegistrarApi {
    tmp: TempDir,
    pub kind: Kind,
    port: u16,
    args: Vec<String>,
    child: Option<Child>,
}

impl RegistrarApi {
    /// Starts a server that accepts `user` with `secret` (OpenSRS key or AutoDNS
    /// password) and, for AutoDNS, context 4.
    pub fn start(kind: Kind, user: &str, secret: &str) -> RegistrarApi {
        let tmp = tempfile::Builder::new()
            .prefix("mr-registrar-")
            .tempdir()
            .expect("tempdir");
        let port = free_port();
        let args = vec![
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/support/registrar_api.py"
            )
            .to_string(),
            "--kind".into(),
            kind.arg().into(),
            "--port".into(),
            port.to_string(),
            "--dir".into(),
            tmp.path().display().to_string(),
            "--user".into(),
            user.into(),
            "--secret".into(),
            secret.into(),
            "--exit-on-stdin-eof".into(),
        ];
        let mut api = RegistrarApi {
            tmp,
            kind,
            port,
            args,
            child: None,
        };
        api.set_queue(&[]);
        api.start_again();
        api
    }

    /// (Re)starts on the same port with the same state; returns once it is READY.
    pub fn start_again(&mut self) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.tmp.path().join("server.log"))
            .unwrap();
        let mut child = Command::new(python())
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn python3 registrar_api.py: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        self.child = Some(child);
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) if line.trim() == "READY" => {}
            other => panic!(
                "registrar_api.py did not start ({other:?})\n{}",
                super::file_tail(&self.tmp.path().join("server.log"), 40)
            ),
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            terminate(&mut c);
        }
    }

    /// The URL to configure: the XCP endpoint, the JSON API base, or the XML gateway.
    pub fn url(&self) -> String {
        match self.kind {
            Kind::AutodnsJson => format!("http://127.0.0.1:{}/v1", self.port),
            _ => format!("http://127.0.0.1:{}", self.port),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Replaces the queue. Each entry has an "id" (the one acknowledged): OpenSRS
    /// event objects, AutoDNS JSON data items, or `{"id", "xml"}` for AutoDNS XML.
    pub fn set_queue(&self, messages: &[serde_json::Value]) {
        let tmp = self.path("queue.json.tmp");
        fs::write(&tmp, serde_json::to_vec(messages).unwrap()).unwrap();
        fs::rename(tmp, self.path("queue.json")).unwrap();
    }

    pub fn set_faults(&self, faults: serde_json::Value) {
        let tmp = self.path("faults.json.tmp");
        fs::write(&tmp, serde_json::to_vec(&faults).unwrap()).unwrap();
        fs::rename(tmp, self.path("faults.json")).unwrap();
    }

    /// Ids acknowledged so far, in order.
    pub fn acked(&self) -> Vec<String> {
        fs::read(self.path("acked.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Every request so far: `{"action": "POLL"|"ACK"|"AUTH"|…, "ok", "ids", …}`.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        fs::read_to_string(self.path("requests.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn count(&self, action: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r["action"] == action)
            .count()
    }

    /// Waits until `action` was requested at least `n` times.
    pub fn wait_for(&self, action: &str, n: usize, timeout: Duration) {
        let deadline = std::time::Instant::now() + timeout;
        while self.count(action) < n {
            if std::time::Instant::now() > deadline {
                panic!(
                    "{action} requested {} times, wanted {n}: {:?}",
                    self.count(action),
                    self.requests()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RegistrarApi {
    fn drop(&mut self) {
        self.stop();
    }
}
