//! Amazon SNS's delivery side as a test server (`sns_server.py`): HTTPS on a loopback
//! port with the suite's test CA, its own RSA signing key and certificate, documented
//! message shapes, signatures (v1 SHA1, v2 SHA256) and retries; driven over a plain
//! loopback control port. Stopped when dropped (and when the test process dies: it
//! exits on stdin EOF).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

use super::{Certs, START_TIMEOUT, free_port, python, terminate};

/// Who signs an envelope: SNS's key (the one its SigningCertURL names) or another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    Sns,
    Other,
}

/// One delivery attempt as the fake SNS made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub attempt: u32,
    pub status: Option<u16>,
    pub error: Option<String>,
}

pub struct FakeSns {
    tmp: TempDir,
    port: u16,
    control: u16,
    child: Option<Child>,
}

impl FakeSns {
    pub fn start(certs: &Certs) -> FakeSns {
        let tmp = tempfile::Builder::new()
            .prefix("mr-sns-")
            .tempdir()
            .expect("tempdir");
        let (port, control) = (free_port(), free_port());
        let log = std::fs::File::create(tmp.path().join("server.log")).unwrap();
        let mut child = Command::new(python())
            .arg(format!(
                "{}/tests/support/sns_server.py",
                env!("CARGO_MANIFEST_DIR")
            ))
            .args(["--port", &port.to_string()])
            .args(["--control-port", &control.to_string()])
            .arg("--cert")
            .arg(&certs.cert_pem)
            .arg("--key")
            .arg(&certs.key_pem)
            .arg("--ca")
            .arg(&certs.ca_pem)
            .arg("--dir")
            .arg(tmp.path())
            .arg("--exit-on-stdin-eof")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn python3 sns_server.py: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let sns = FakeSns {
            tmp,
            port,
            control,
            child: Some(child),
        };
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) if line.trim() == "READY" => sns,
            other => panic!(
                "sns_server.py did not start ({other:?})\n{}",
                sns.log_tail()
            ),
        }
    }

    /// What mailroom's `sns_hosts` must allow.
    pub fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn topic(name: &str) -> String {
        format!("arn:aws:sns:us-east-1:123456789012:{name}")
    }

    fn call(&self, method: &str, target: &str, body: &Value) -> Value {
        let body = body.to_string();
        let r = super::http(
            self.control,
            method,
            target,
            "Content-Type: application/json\r\n",
            body.as_bytes(),
        );
        serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("fake SNS {target}: {e}\n{}", self.log_tail()))
    }

    /// Subscribes `endpoint` to `topic`: SNS posts a signed SubscriptionConfirmation;
    /// returns the endpoint's answer to the first attempt.
    pub fn subscribe(&self, topic: &str, endpoint: &str) -> u16 {
        let v = self.call(
            "POST",
            "/subscribe",
            &json!({"topic": topic, "endpoint": endpoint}),
        );
        v["status"].as_u64().unwrap_or(0) as u16
    }

    pub fn confirmed(&self, topic: &str, endpoint: &str) -> bool {
        let q = format!("/confirmed?topic={}&endpoint={}", pct(topic), pct(endpoint));
        self.call("GET", &q, &json!({}))["confirmed"] == true
    }

    /// Publishes to `topic`: each confirmed subscriber gets it (with retries) in the
    /// background. Returns the MessageId.
    pub fn publish(
        &self,
        topic: &str,
        message: &str,
        subject: Option<&str>,
        version: u8,
    ) -> String {
        let v = self.call(
            "POST",
            "/publish",
            &json!({"topic": topic, "message": message, "subject": subject, "version": version}),
        );
        v["message_id"].as_str().unwrap().to_string()
    }

    pub fn attempts(&self, message_id: &str) -> Vec<Attempt> {
        let v = self.call(
            "GET",
            &format!("/attempts?message_id={}", pct(message_id)),
            &json!({}),
        );
        v.as_array()
            .into_iter()
            .flatten()
            .map(|a| Attempt {
                attempt: a["attempt"].as_u64().unwrap_or(0) as u32,
                status: a["status"].as_u64().map(|s| s as u16),
                error: a["error"].as_str().map(str::to_string),
            })
            .collect()
    }

    /// The attempts once delivery has ended: a 2xx or 4xx answer, or retries spent.
    pub fn wait_settled(&self, message_id: &str, timeout: Duration) -> Vec<Attempt> {
        let start = Instant::now();
        loop {
            let a = self.attempts(message_id);
            let done = a.last().is_some_and(|l| {
                l.status.is_some_and(|s| (200..500).contains(&s)) || l.attempt >= 4
            });
            if done || start.elapsed() > timeout {
                return a;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A signed envelope, not sent.
    #[allow(clippy::too_many_arguments)]
    pub fn envelope(
        &self,
        kind: &str,
        topic: &str,
        message: &str,
        subject: Option<&str>,
        version: u8,
        timestamp: Option<&str>,
        signer: Signer,
    ) -> Value {
        self.call(
            "POST",
            "/envelope",
            &json!({
                "type": kind, "topic": topic, "message": message, "subject": subject,
                "version": version, "timestamp": timestamp,
                "signer": if signer == Signer::Sns { "sns" } else { "other" },
            }),
        )
    }

    pub fn log_tail(&self) -> String {
        super::file_tail(&self.tmp.path().join("server.log"), 40)
    }
}

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Drop for FakeSns {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            terminate(&mut c);
        }
    }
}
