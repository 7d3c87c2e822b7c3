//! Amazon SNS deliveries to a `[[push]]` with `format = "sns"` (how Gandi notifications
//! reach an HTTPS endpoint). Nothing in a body is believed before it is verified, in
//! the order AWS documents: the body is an SNS message of a known `Type`; its `TopicArn`
//! is one of the configured `topics`; its `Timestamp` is within the last hour; its
//! `SigningCertURL` is https on an allowed host (`sns_hosts`) with the path
//! `/SimpleNotificationService-….pem`; and its `Signature` (version 1: RSA with SHA1,
//! version 2: RSA with SHA256) verifies over the documented string to sign with the key
//! of that certificate (fetched once per URL and kept). A `SubscriptionConfirmation` is
//! then confirmed by fetching its `SubscribeURL` (same host rule); a `Notification`'s
//! `Message` is what the receiver stores.
//!
//! Answers follow SNS's retry rules: a message that fails verification is answered 403,
//! which SNS does not retry; a certificate or confirmation that cannot be fetched now is
//! answered 503, which it does.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;

use crate::config::{PushConfig, host_allowed};

/// A message older than this is refused (a replay, or one held back too long).
pub const MAX_AGE: chrono::TimeDelta = chrono::TimeDelta::hours(1);
/// A message this far ahead of the clock is taken (clocks differ a little); further is
/// refused.
const MAX_AHEAD: chrono::TimeDelta = chrono::TimeDelta::minutes(5);
/// Fetching a certificate or a confirmation link.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// A signing certificate is a few kilobytes; more is not one.
const MAX_CERT: usize = 64 * 1024;
/// Certificates kept (SNS uses one at a time; rotation adds one).
const CACHED: usize = 32;

/// The three kinds of message SNS posts to an HTTP(S) subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Notification,
    SubscriptionConfirmation,
    UnsubscribeConfirmation,
}

/// An SNS message as posted (the JSON body), not yet verified.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Message {
    #[serde(rename = "Type")]
    pub kind_text: String,
    pub message_id: String,
    pub topic_arn: String,
    pub message: String,
    pub timestamp: String,
    pub signature_version: Option<String>,
    pub signature: Option<String>,
    #[serde(rename = "SigningCertURL")]
    pub signing_cert_url: Option<String>,
    pub subject: Option<String>,
    pub token: Option<String>,
    #[serde(rename = "SubscribeURL")]
    pub subscribe_url: Option<String>,
}

/// Why a message is not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not an SNS message at all (400).
    NotSns(String),
    /// An SNS message that does not verify, is stale or of a foreign topic (403).
    NotVerified(String),
    /// Could not be checked now (the certificate or the link did not load): 503, so
    /// SNS tries again.
    Unavailable(String),
}

impl Refusal {
    pub fn reason(&self) -> &str {
        match self {
            Refusal::NotSns(r) | Refusal::NotVerified(r) | Refusal::Unavailable(r) => r,
        }
    }
}

/// Reads an SNS message from a body (at most the receiver's `max_body`).
pub fn parse(body: &[u8]) -> Result<Message, Refusal> {
    let m: Message = serde_json::from_slice(body).map_err(|e| {
        Refusal::NotSns(format!(
            "not an Amazon SNS message (a JSON object with Type, MessageId, TopicArn, Message, Timestamp): {}",
            crate::text::clip(&e.to_string(), 160)
        ))
    })?;
    m.kind()?;
    Ok(m)
}

impl Message {
    pub fn kind(&self) -> Result<Kind, Refusal> {
        match self.kind_text.as_str() {
            "Notification" => Ok(Kind::Notification),
            "SubscriptionConfirmation" => Ok(Kind::SubscriptionConfirmation),
            "UnsubscribeConfirmation" => Ok(Kind::UnsubscribeConfirmation),
            other => Err(Refusal::NotSns(format!(
                "SNS message of unknown Type {:?}",
                crate::text::clip(other, 60)
            ))),
        }
    }

    /// The documented string to sign: for a notification `Message`, `MessageId`,
    /// `Subject` (when present), `Timestamp`, `TopicArn`, `Type`; for the confirmations
    /// `Message`, `MessageId`, `SubscribeURL`, `Timestamp`, `Token`, `TopicArn`, `Type`;
    /// each as its name, a newline, its value, a newline. None when a field it needs is
    /// missing.
    pub fn string_to_sign(&self) -> Option<String> {
        let mut out = String::with_capacity(self.message.len() + 512);
        let mut add = |k: &str, v: &str| {
            out.push_str(k);
            out.push('\n');
            out.push_str(v);
            out.push('\n');
        };
        add("Message", &self.message);
        add("MessageId", &self.message_id);
        match self.kind().ok()? {
            Kind::Notification => {
                if let Some(s) = &self.subject {
                    add("Subject", s);
                }
                add("Timestamp", &self.timestamp);
            }
            Kind::SubscriptionConfirmation | Kind::UnsubscribeConfirmation => {
                add("SubscribeURL", self.subscribe_url.as_deref()?);
                add("Timestamp", &self.timestamp);
                add("Token", self.token.as_deref()?);
            }
        }
        add("TopicArn", &self.topic_arn);
        add("Type", &self.kind_text);
        Some(out)
    }

    /// `MessageId` as a source id: letters, digits and `-` only, at most 64.
    pub fn source_id(&self) -> String {
        self.message_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(64)
            .collect()
    }
}

/// Checks SNS messages for one receiver, with the certificates it fetched.
pub struct Verifier {
    hosts: Vec<String>,
    topics: Vec<String>,
    client: reqwest::Client,
    keys: Mutex<HashMap<String, Arc<Key>>>,
    /// One fetch at a time: a flood of forged certificate URLs costs one request at a
    /// time to the allowed hosts, never many.
    fetching: tokio::sync::Mutex<()>,
}

/// A signing certificate's public key and the end of its validity.
struct Key {
    rsa: Vec<u8>,
    not_after: Option<chrono::DateTime<chrono::Utc>>,
    not_before: Option<chrono::DateTime<chrono::Utc>>,
}

impl Verifier {
    /// For a receiver with `format = "sns"`; `ca_file` already resolved.
    pub fn new(config: &PushConfig, ca_file: Option<&Path>) -> Result<Verifier, String> {
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            .https_only(true)
            .user_agent(concat!("mailroom/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                format!(
                    "push {}: ca_file {}: {}",
                    config.name,
                    path.display(),
                    crate::reason::io(&e)
                )
            })?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
                format!(
                    "push {}: ca_file {}: not a PEM certificate ({})",
                    config.name,
                    path.display(),
                    crate::reason::chain(&e)
                )
            })?;
            b = b.add_root_certificate(cert);
        }
        let client = b
            .build()
            .map_err(|e| format!("HTTP client: {}", crate::reason::chain(&e)))?;
        Ok(Verifier {
            hosts: config.sns_hosts.clone(),
            topics: config.topics.clone(),
            client,
            keys: Mutex::new(HashMap::new()),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// Whether `url` is https on an allowed host (and, for a certificate, the documented
    /// path): a refusal saying which part is wrong.
    fn check_url(&self, what: &str, url: &str, cert: bool) -> Result<reqwest::Url, Refusal> {
        let bad = |why: String| Refusal::NotVerified(format!("{what} {why}"));
        let u = reqwest::Url::parse(url)
            .map_err(|_| bad(format!("{:?} is not a URL", crate::text::clip(url, 120))))?;
        if u.scheme() != "https" {
            return Err(bad(format!("{} is not https", u.scheme())));
        }
        if !u.username().is_empty() || u.password().is_some() {
            return Err(bad("carries credentials".into()));
        }
        let host = u.host_str().unwrap_or("").trim_matches(['[', ']']);
        if !host_allowed(&self.hosts, host, u.port()) {
            return Err(bad(format!(
                "host {host} is not in sns_hosts ({})",
                self.hosts.join(", ")
            )));
        }
        if cert {
            let path = u.path();
            let name = path.strip_prefix("/SimpleNotificationService-");
            if u.query().is_some() || !name.is_some_and(|n| n.ends_with(".pem") && !n.contains('/'))
            {
                return Err(bad(format!(
                    "path {path} is not /SimpleNotificationService-….pem"
                )));
            }
        }
        Ok(u)
    }

    /// Verifies a message (see the module's comment): the message, or why it is refused.
    pub async fn verify(&self, body: &[u8]) -> Result<Message, Refusal> {
        let m = parse(body)?;
        if !self.topics.iter().any(|t| t == &m.topic_arn) {
            return Err(Refusal::NotVerified(format!(
                "topic {} is not in topics",
                crate::text::clip(&m.topic_arn, 200)
            )));
        }
        let sent = chrono::DateTime::parse_from_rfc3339(&m.timestamp)
            .map_err(|_| {
                Refusal::NotVerified(format!(
                    "Timestamp {:?} is not a time",
                    crate::text::clip(&m.timestamp, 40)
                ))
            })?
            .with_timezone(&chrono::Utc);
        let now = crate::clock::now();
        if now - sent > MAX_AGE {
            return Err(Refusal::NotVerified(format!(
                "stale: sent {} ago (at most an hour is taken)",
                crate::ingest::policy::span((now - sent).to_std().unwrap_or_default())
            )));
        }
        if sent - now > MAX_AHEAD {
            return Err(Refusal::NotVerified(format!(
                "Timestamp {} is ahead of this machine's clock",
                m.timestamp
            )));
        }
        let algorithm: &'static dyn ring::signature::VerificationAlgorithm =
            match m.signature_version.as_deref() {
                Some("1") => &ring::signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
                Some("2") => &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                None => {
                    return Err(Refusal::NotVerified(
                        "unsigned (no SignatureVersion)".into(),
                    ));
                }
                Some(v) => {
                    return Err(Refusal::NotVerified(format!(
                        "SignatureVersion {:?} is not 1 or 2",
                        crate::text::clip(v, 20)
                    )));
                }
            };
        let signature = m
            .signature
            .as_deref()
            .and_then(|s| {
                base64::engine::general_purpose::STANDARD
                    .decode(s.trim())
                    .ok()
            })
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Refusal::NotVerified("unsigned (no Signature in base64)".into()))?;
        let cert_url = m
            .signing_cert_url
            .as_deref()
            .ok_or_else(|| Refusal::NotVerified("unsigned (no SigningCertURL)".into()))?;
        let url = self.check_url("SigningCertURL", cert_url, true)?;
        let text = m.string_to_sign().ok_or_else(|| {
            Refusal::NotVerified(format!("{} without SubscribeURL or Token", m.kind_text))
        })?;
        let key = self.key(&url).await?;
        if key.not_after.is_some_and(|t| t < now) || key.not_before.is_some_and(|t| t > now) {
            return Err(Refusal::NotVerified(format!(
                "the signing certificate {url} is outside its validity"
            )));
        }
        ring::signature::UnparsedPublicKey::new(algorithm, &key.rsa)
            .verify(text.as_bytes(), &signature)
            .map_err(|_| {
                Refusal::NotVerified(format!(
                    "the signature does not verify with the certificate {url}"
                ))
            })?;
        if m.kind()? == Kind::SubscriptionConfirmation {
            self.check_url(
                "SubscribeURL",
                m.subscribe_url.as_deref().unwrap_or(""),
                false,
            )?;
        }
        Ok(m)
    }

    /// The key of the certificate at `url` (checked by `check_url`), fetched once.
    async fn key(&self, url: &reqwest::Url) -> Result<Arc<Key>, Refusal> {
        let cached = |keys: &Mutex<HashMap<String, Arc<Key>>>| {
            keys.lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(url.as_str())
                .cloned()
        };
        if let Some(k) = cached(&self.keys) {
            return Ok(k);
        }
        let _one = tokio::time::timeout(FETCH_TIMEOUT * 3, self.fetching.lock())
            .await
            .map_err(|_| Refusal::Unavailable("busy fetching signing certificates".into()))?;
        if let Some(k) = cached(&self.keys) {
            return Ok(k);
        }
        let pem = self.fetch(url, MAX_CERT).await?;
        let der = CertificateDer::from_pem_slice(&pem)
            .map_err(|_| Refusal::NotVerified(format!("{url} is not a PEM certificate")))?;
        let found = crate::der::certificate(&der)
            .map_err(|why| Refusal::NotVerified(format!("certificate {url}: {why}")))?;
        let key = Arc::new(Key {
            rsa: found.rsa_public_key.to_vec(),
            not_after: found.not_after,
            not_before: found.not_before,
        });
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if keys.len() >= CACHED {
            keys.clear();
        }
        keys.insert(url.to_string(), key.clone());
        Ok(key)
    }

    /// GETs `url`: its body (at most `limit` bytes). A refusal of the server (4xx) makes
    /// the message unverifiable; anything else (no answer, 5xx) is worth a retry.
    async fn fetch(&self, url: &reqwest::Url, limit: usize) -> Result<Vec<u8>, Refusal> {
        let shown = url_shown(url);
        let mut resp = self.client.get(url.clone()).send().await.map_err(|e| {
            Refusal::Unavailable(format!("{shown}: {}", crate::reason::innermost(&e)))
        })?;
        let status = resp.status();
        if status.is_client_error() {
            return Err(Refusal::NotVerified(format!("{shown} answered {status}")));
        }
        if !status.is_success() {
            return Err(Refusal::Unavailable(format!("{shown} answered {status}")));
        }
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    if body.len() + c.len() > limit {
                        return Err(Refusal::NotVerified(format!(
                            "{shown}: more than {limit} bytes"
                        )));
                    }
                    body.extend_from_slice(&c);
                }
                Ok(None) => return Ok(body),
                Err(e) => {
                    return Err(Refusal::Unavailable(format!(
                        "{shown}: {}",
                        crate::reason::innermost(&e)
                    )));
                }
            }
        }
    }

    /// Confirms a verified `SubscriptionConfirmation` by fetching its `SubscribeURL`:
    /// the subscription's ARN when SNS names it.
    pub async fn confirm(&self, m: &Message) -> Result<Option<String>, Refusal> {
        let url = self.check_url(
            "SubscribeURL",
            m.subscribe_url.as_deref().unwrap_or(""),
            false,
        )?;
        let body = self.fetch(&url, MAX_CERT).await.map_err(|r| match r {
            // A refused link (expired token) is for a person, but SNS may send a new one.
            Refusal::NotVerified(why) => Refusal::Unavailable(why),
            other => other,
        })?;
        let text = String::from_utf8_lossy(&body);
        Ok(text
            .split_once("<SubscriptionArn>")
            .and_then(|(_, rest)| rest.split_once("</SubscriptionArn>"))
            .map(|(arn, _)| arn.trim().to_string()))
    }
}

/// A URL for logs: scheme, host, port and path (the confirmation token, in the query,
/// left out).
fn url_shown(url: &reqwest::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier(hosts: &[&str]) -> Verifier {
        let config: PushConfig = toml::from_str(&format!(
            "name = \"g\"\nregistrar = \"gandi\"\npath = \"/sns\"\nformat = \"sns\"\ntopics = [\"arn:aws:sns:eu-west-1:123456789012:gandi\"]\nsns_hosts = {hosts:?}\n"
        ))
        .unwrap();
        Verifier::new(&config, None).unwrap()
    }

    #[test]
    fn certificate_urls_must_be_https_on_an_allowed_host_with_the_documented_path() {
        let v = verifier(&["sns.*.amazonaws.com", "sns.*.amazonaws.com.cn"]);
        let ok = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfda.pem";
        assert!(v.check_url("SigningCertURL", ok, true).is_ok());
        assert!(
            v.check_url(
                "SigningCertURL",
                "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-x.pem",
                true
            )
            .is_ok()
        );
        for bad in [
            "http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-a.pem",
            "https://sns.eu-west-1.amazonaws.com.evil.example/SimpleNotificationService-a.pem",
            "https://evil.example/SimpleNotificationService-a.pem",
            "https://sns.amazonaws.com/SimpleNotificationService-a.pem",
            "https://x.sns.eu-west-1.amazonaws.com/SimpleNotificationService-a.pem",
            "https://sns.eu-west-1.amazonaws.com/other.pem",
            "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-a.pem?x=1",
            "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-a/b.pem",
            "https://user:pw@sns.eu-west-1.amazonaws.com/SimpleNotificationService-a.pem",
            "https://sns.eu-west-1.amazonaws.com@evil.example/SimpleNotificationService-a.pem",
            "not a url",
        ] {
            assert!(
                matches!(
                    v.check_url("SigningCertURL", bad, true),
                    Err(Refusal::NotVerified(_))
                ),
                "{bad}"
            );
        }
        // The subscription link: same host rule, any path.
        assert!(
            v.check_url(
                "SubscribeURL",
                "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=a&Token=b",
                false
            )
            .is_ok()
        );
        assert!(
            v.check_url(
                "SubscribeURL",
                "https://evil.example/?Action=ConfirmSubscription",
                false
            )
            .is_err()
        );
        // A pinned port is that port only; none means any.
        let v = verifier(&["127.0.0.1:8443", "localhost"]);
        assert!(
            v.check_url(
                "c",
                "https://127.0.0.1:8443/SimpleNotificationService-a.pem",
                true
            )
            .is_ok()
        );
        assert!(
            v.check_url(
                "c",
                "https://127.0.0.1:9443/SimpleNotificationService-a.pem",
                true
            )
            .is_err()
        );
        assert!(
            v.check_url(
                "c",
                "https://localhost:9443/SimpleNotificationService-a.pem",
                true
            )
            .is_ok()
        );
    }

    #[test]
    fn the_string_to_sign_is_the_documented_one() {
        let n = parse(br#"{"Type":"Notification","MessageId":"m1","TopicArn":"arn:aws:sns:us-west-2:123456789012:MyTopic","Subject":"My First Message","Message":"Hello world!","Timestamp":"2012-05-02T00:54:06.655Z","SignatureVersion":"1","Signature":"x","SigningCertURL":"u","UnsubscribeURL":"v"}"#).unwrap();
        assert_eq!(
            n.string_to_sign().unwrap(),
            "Message\nHello world!\nMessageId\nm1\nSubject\nMy First Message\nTimestamp\n2012-05-02T00:54:06.655Z\nTopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\nType\nNotification\n"
        );
        let c = parse(br#"{"Type":"SubscriptionConfirmation","MessageId":"m2","Token":"t","TopicArn":"arn:aws:sns:us-west-2:123456789012:MyTopic","Message":"You have chosen","SubscribeURL":"https://s/?a","Timestamp":"2012-04-26T20:45:04.751Z","SignatureVersion":"1","Signature":"x","SigningCertURL":"u"}"#).unwrap();
        assert_eq!(
            c.string_to_sign().unwrap(),
            "Message\nYou have chosen\nMessageId\nm2\nSubscribeURL\nhttps://s/?a\nTimestamp\n2012-04-26T20:45:04.751Z\nToken\nt\nTopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\nType\nSubscriptionConfirmation\n"
        );
        assert!(matches!(parse(b"{}"), Err(Refusal::NotSns(_))));
        assert!(matches!(
            parse(
                br#"{"Type":"Other","MessageId":"m","TopicArn":"a","Message":"","Timestamp":"t"}"#
            ),
            Err(Refusal::NotSns(_))
        ));
    }
}
