//! Amazon SNS's delivery side as a test server (`sns_server.py`): HTTPS on a loopback
//! port with the suite's test CA, its own RSA signing key and certificate (and a second,
//! unrelated one for forgeries), the documented message shapes, headers and signatures
//! (v1 SHA1, v2 SHA256), SubscribeURL/UnsubscribeURL, and SNS's retries (a 5xx, a status
//! outside 200-599, no answer within the timeout or a connection error is retried with
//! the same bytes; a 2xx or 4xx ends the delivery). Driven over a plain loopback control
//! port (JSON). Stopped when dropped (and when the test process dies: it exits on stdin
//! EOF). `tests/sns_fake_selftest.rs` checks it against the documentation on its own.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
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

impl Signer {
    fn name(self) -> &'static str {
        match self {
            Signer::Sns => "sns",
            Signer::Other => "other",
        }
    }
}

/// One delivery attempt as the fake SNS made it: the endpoint's HTTP status, or why
/// there was none (connection refused, TLS, "no answer within 5s").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub attempt: u32,
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// What a Subscribe did.
#[derive(Debug, Clone)]
pub struct Subscribed {
    /// The endpoint's answer to the first attempt (0: no answer, or nothing was sent
    /// because the endpoint is already confirmed on the topic).
    pub status: u16,
    /// The SubscriptionConfirmation's MessageId (None when nothing was sent).
    pub message_id: Option<String>,
    pub subscription_arn: String,
}

/// One message as posted to one endpoint (every attempt of it sent these bytes).
#[derive(Debug, Clone)]
pub struct Sent {
    pub endpoint: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// A request SNS's own HTTPS endpoint answered (certificate fetch, SubscribeURL visit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsRequest {
    pub method: String,
    pub path: String,
    pub status: u16,
}

/// How the fake retries. Default: 3 retries 0.3 s apart, 5 s to answer.
#[derive(Debug, Clone)]
pub struct SnsOptions {
    pub retries: u32,
    pub retry_delay: Duration,
    pub timeout: Duration,
}

impl Default for SnsOptions {
    fn default() -> Self {
        SnsOptions {
            retries: 3,
            retry_delay: Duration::from_millis(300),
            timeout: Duration::from_secs(5),
        }
    }
}

pub struct FakeSns {
    tmp: TempDir,
    port: u16,
    control: u16,
    ca_pem: PathBuf,
    options: SnsOptions,
    child: Option<Child>,
}

impl FakeSns {
    pub fn start(certs: &Certs) -> FakeSns {
        FakeSns::start_with(certs, SnsOptions::default())
    }

    pub fn start_with(certs: &Certs, options: SnsOptions) -> FakeSns {
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
            .args(["--retries", &options.retries.to_string()])
            .args([
                "--retry-delay",
                &options.retry_delay.as_secs_f64().to_string(),
            ])
            .args(["--timeout", &options.timeout.as_secs_f64().to_string()])
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
            ca_pem: certs.ca_pem.clone(),
            options,
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

    /// What mailroom's `sns_hosts` must allow: `127.0.0.1:PORT`.
    pub fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `https://127.0.0.1:PORT`, where SigningCertURL, SubscribeURL and UnsubscribeURL point.
    pub fn base_url(&self) -> String {
        format!("https://{}", self.host_port())
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
        let v: Value = serde_json::from_slice(&r.body).unwrap_or_else(|e| {
            panic!(
                "fake SNS {target}: {} {e}: {:?}\n{}",
                r.status,
                String::from_utf8_lossy(&r.body),
                self.log_tail()
            )
        });
        if r.status != 200 {
            panic!("fake SNS {target}: {} {v}\n{}", r.status, self.log_tail());
        }
        v
    }

    /// Subscribes `endpoint` to `topic`: SNS posts a SubscriptionConfirmation (signature
    /// version 1); returns the endpoint's answer to the first attempt (0: none). Retries
    /// go on in the background. Nothing is sent (0) when already confirmed, as with SNS.
    pub fn subscribe(&self, topic: &str, endpoint: &str) -> u16 {
        self.subscribe_with(topic, endpoint, 1).status
    }

    /// `subscribe` with the confirmation signed by `version` (1 or 2), and all it did.
    pub fn subscribe_with(&self, topic: &str, endpoint: &str, version: u8) -> Subscribed {
        let v = self.call(
            "POST",
            "/subscribe",
            &json!({"topic": topic, "endpoint": endpoint, "version": version}),
        );
        Subscribed {
            status: v["status"].as_u64().unwrap_or(0) as u16,
            message_id: v["message_id"].as_str().map(str::to_string),
            subscription_arn: v["subscription_arn"].as_str().unwrap_or("").to_string(),
        }
    }

    /// Whether the SubscribeURL (or the Token with ConfirmSubscription) was visited.
    pub fn confirmed(&self, topic: &str, endpoint: &str) -> bool {
        let q = format!("/confirmed?topic={}&endpoint={}", pct(topic), pct(endpoint));
        self.call("GET", &q, &json!({}))["confirmed"] == true
    }

    /// What visiting the subscription's UnsubscribeURL does: no more notifications, and
    /// an UnsubscribeConfirmation posted to the endpoint (its MessageId; None when the
    /// subscription was not confirmed).
    pub fn unsubscribe(&self, topic: &str, endpoint: &str) -> Option<String> {
        let v = self.call(
            "POST",
            "/unsubscribe",
            &json!({"topic": topic, "endpoint": endpoint}),
        );
        v["message_id"].as_str().map(str::to_string)
    }

    /// Publishes to `topic`: each confirmed subscriber gets it (with retries) in the
    /// background. Returns the MessageId. Panics on what SNS's Publish refuses (an empty
    /// message, a subject not of 1-99 printable ASCII characters).
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

    /// The attempts so far to deliver `message_id` (to every endpoint, in order).
    pub fn attempts(&self, message_id: &str) -> Vec<Attempt> {
        self.attempt_values(message_id)
            .iter()
            .map(attempt_of)
            .collect()
    }

    /// The attempts to deliver `message_id` to `endpoint`.
    pub fn attempts_to(&self, message_id: &str, endpoint: &str) -> Vec<Attempt> {
        self.attempt_values(message_id)
            .iter()
            .filter(|a| a["endpoint"] == endpoint)
            .map(attempt_of)
            .collect()
    }

    fn attempt_values(&self, message_id: &str) -> Vec<Value> {
        let v = self.call(
            "GET",
            &format!("/attempts?message_id={}", pct(message_id)),
            &json!({}),
        );
        v.as_array().cloned().unwrap_or_default()
    }

    /// Whether every delivery of `message_id` has ended (a 2xx or 4xx, or retries spent).
    pub fn settled(&self, message_id: &str) -> bool {
        let v = self.call(
            "GET",
            &format!("/delivery?message_id={}", pct(message_id)),
            &json!({}),
        );
        v["settled"] == true
    }

    /// The attempts once delivery has ended (a 2xx or 4xx answer, or retries spent), or
    /// those made when `timeout` runs out.
    pub fn wait_settled(&self, message_id: &str, timeout: Duration) -> Vec<Attempt> {
        let start = Instant::now();
        while !self.settled(message_id) && start.elapsed() < timeout {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.attempts(message_id)
    }

    /// The bytes and headers posted for `message_id`, one per endpoint.
    pub fn sent(&self, message_id: &str) -> Vec<Sent> {
        let v = self.call(
            "GET",
            &format!("/sent?message_id={}", pct(message_id)),
            &json!({}),
        );
        v.as_array()
            .into_iter()
            .flatten()
            .map(|s| Sent {
                endpoint: s["endpoint"].as_str().unwrap_or("").to_string(),
                headers: s["headers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|h| {
                        (
                            h[0].as_str().unwrap_or("").to_string(),
                            h[1].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect(),
                body: s["body"].as_str().unwrap_or("").to_string(),
            })
            .collect()
    }

    /// A signed envelope, not sent. `kind`: Notification, SubscriptionConfirmation or
    /// UnsubscribeConfirmation; `timestamp`: e.g. `2012-04-26T20:45:04.751Z` (default
    /// now); `Signer::Other` signs with the other key while SigningCertURL still names
    /// SNS's certificate.
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
        self.envelope_json(json!({
            "type": kind, "topic": topic, "message": message, "subject": subject,
            "version": version, "timestamp": timestamp, "signer": signer.name(),
        }))
    }

    /// `envelope` with the control call's own fields: `type`, `topic`, `message`,
    /// `subject`, `version`, `timestamp`, `signer` ("sns"/"other"), and `message_id`,
    /// `token` to choose those too.
    pub fn envelope_json(&self, spec: Value) -> Value {
        self.call("POST", "/envelope", &spec)
    }

    /// The certificate URL and PEM of a signer's key (Other's is served too, at its own URL).
    pub fn cert(&self, signer: Signer) -> (String, String) {
        let v = self.call("GET", "/certs", &json!({}));
        let c = &v[signer.name()];
        (
            c["url"].as_str().unwrap().to_string(),
            c["pem"].as_str().unwrap().to_string(),
        )
    }

    /// The requests SNS's HTTPS endpoint answered so far.
    pub fn requests(&self) -> Vec<SnsRequest> {
        let v = self.call("GET", "/requests", &json!({}));
        v.as_array()
            .into_iter()
            .flatten()
            .map(|r| SnsRequest {
                method: r["method"].as_str().unwrap_or("").to_string(),
                path: r["path"].as_str().unwrap_or("").to_string(),
                status: r["status"].as_u64().unwrap_or(0) as u16,
            })
            .collect()
    }

    /// GET `url` over HTTPS trusting only the test CA (a python3 client, no proxy):
    /// the status and body. For SubscribeURL, UnsubscribeURL, SigningCertURL.
    pub fn https_get(&self, url: &str) -> (u16, String) {
        let out = Command::new(python())
            .args(["-c", HTTPS_GET_PY, url])
            .arg(&self.ca_pem)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("spawn python3: {e}"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (status, body) = text.split_once('\n').unwrap_or_else(|| {
            panic!(
                "GET {url}: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                self.log_tail()
            )
        });
        (status.trim().parse().unwrap(), body.to_string())
    }

    pub fn options(&self) -> &SnsOptions {
        &self.options
    }

    pub fn log_tail(&self) -> String {
        super::file_tail(&self.tmp.path().join("server.log"), 40)
    }
}

const HTTPS_GET_PY: &str = r#"
import http.client, ssl, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
c = http.client.HTTPSConnection(u.hostname, u.port or 443, timeout=10,
                                context=ssl.create_default_context(cafile=sys.argv[2]))
c.request("GET", (u.path or "/") + ("?" + u.query if u.query else ""))
r = c.getresponse()
body = r.read()
sys.stdout.write("%d\n" % r.status)
sys.stdout.flush()
sys.stdout.buffer.write(body)
"#;

fn attempt_of(a: &Value) -> Attempt {
    Attempt {
        attempt: a["attempt"].as_u64().unwrap_or(0) as u32,
        status: a["status"].as_u64().map(|s| s as u16),
        error: a["error"].as_str().map(str::to_string),
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
