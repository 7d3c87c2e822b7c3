//! The fake Amazon SNS (`support/sns_server.py`) itself, without mailroom, against AWS's
//! documentation: a SubscriptionConfirmation has the documented keys, headers and a
//! signature that verifies (openssl, with the certificate fetched from SigningCertURL
//! over HTTPS trusting the test CA) and its SubscribeURL confirms (a wrong token is
//! SNS's InvalidParameter); notifications signed v1 (SHA1) and v2 (SHA256) reach
//! confirmed subscribers only; a failed attempt is retried with the same bytes and a 4xx
//! is not; the UnsubscribeURL unsubscribes; an envelope signed by the other key does not
//! verify against the certificate it names.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use regex::Regex;
use serde_json::Value;
use support::sns::{FakeSns, Signer, SnsOptions};
use support::{Certs, HttpRequest, HttpResponse, HttpSink};

const WAIT: Duration = Duration::from_secs(10);
const CONFIRMATION_KEYS: [&str; 10] = [
    "Type",
    "MessageId",
    "Token",
    "TopicArn",
    "Message",
    "SubscribeURL",
    "Timestamp",
    "SignatureVersion",
    "Signature",
    "SigningCertURL",
];

/// The string to sign, as AWS documents it (written here independently of the fake).
fn string_to_sign(m: &Value) -> String {
    let keys: &[&str] = if m["Type"] == "Notification" {
        &[
            "Message",
            "MessageId",
            "Subject",
            "Timestamp",
            "TopicArn",
            "Type",
        ]
    } else {
        &[
            "Message",
            "MessageId",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ]
    };
    let mut out = String::new();
    for k in keys {
        if let Some(v) = m[*k].as_str() {
            out.push_str(&format!("{k}\n{v}\n"));
        }
    }
    out
}

fn openssl(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("openssl")
}

/// Whether `m`'s Signature verifies with the key of `cert_pem`, by the digest its
/// SignatureVersion names (openssl dgst).
fn verifies_with(m: &Value, cert_pem: &str) -> bool {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("cert.pem"), cert_pem).unwrap();
    let out = openssl(
        dir,
        &[
            "x509", "-in", "cert.pem", "-pubkey", "-noout", "-out", "pub.pem",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    std::fs::write(dir.join("data"), string_to_sign(m)).unwrap();
    let sig = base64::engine::general_purpose::STANDARD
        .decode(m["Signature"].as_str().expect("a Signature"))
        .expect("base64 Signature");
    std::fs::write(dir.join("sig"), sig).unwrap();
    let digest = match m["SignatureVersion"].as_str() {
        Some("1") => "-sha1",
        Some("2") => "-sha256",
        other => panic!("SignatureVersion {other:?}"),
    };
    let out = openssl(
        dir,
        &[
            "dgst",
            digest,
            "-verify",
            "pub.pem",
            "-signature",
            "sig",
            "data",
        ],
    );
    out.status.success()
}

/// Whether `m` verifies against the certificate at its SigningCertURL (fetched over
/// HTTPS, trusting the test CA, once per URL), which must be SNS's: CN sns.amazonaws.com.
fn verifies(sns: &FakeSns, m: &Value) -> bool {
    static FETCHED: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());
    let url = m["SigningCertURL"].as_str().expect("a SigningCertURL");
    let cached = FETCHED.lock().unwrap().get(url).cloned();
    let pem = cached.unwrap_or_else(|| {
        let (status, pem) = sns.https_get(url);
        assert_eq!(status, 200, "GET {url}");
        FETCHED.lock().unwrap().insert(url.to_string(), pem.clone());
        pem
    });
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("c.pem"), &pem).unwrap();
    let subject = openssl(tmp.path(), &["x509", "-in", "c.pem", "-noout", "-subject"]);
    assert!(
        String::from_utf8_lossy(&subject.stdout).contains("sns.amazonaws.com"),
        "{subject:?}"
    );
    verifies_with(m, &pem)
}

fn keys(m: &Value) -> Vec<&str> {
    m.as_object().unwrap().keys().map(String::as_str).collect()
}

fn json_body(r: &HttpRequest) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body_str()))
}

/// Checks the documented headers of a delivery of `m`.
fn check_headers(r: &HttpRequest, m: &Value, subscription_arn: Option<&str>) {
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.header("Content-Type"),
        Some("text/plain; charset=UTF-8"),
        "{r:?}"
    );
    assert_eq!(
        r.header("User-Agent"),
        Some("Amazon Simple Notification Service Agent")
    );
    assert_eq!(r.header("x-amz-sns-message-type"), m["Type"].as_str());
    assert_eq!(r.header("x-amz-sns-message-id"), m["MessageId"].as_str());
    assert_eq!(r.header("x-amz-sns-topic-arn"), m["TopicArn"].as_str());
    assert_eq!(r.header("x-amz-sns-subscription-arn"), subscription_arn);
    assert_eq!(
        r.header("Content-Length"),
        Some(r.body.len().to_string().as_str())
    );
}

fn statuses(attempts: &[support::sns::Attempt]) -> Vec<Option<u16>> {
    attempts.iter().map(|a| a.status).collect()
}

/// Subscribes `endpoint` and confirms it by its SubscribeURL; the subscription ARN.
fn subscribe_confirmed(sns: &FakeSns, sink: &HttpSink, topic: &str, endpoint: &str) -> String {
    let before = sink.requests().len();
    let s = sns.subscribe_with(topic, endpoint, 1);
    assert_eq!(s.status, 200, "{}", sns.log_tail());
    let confirmation = json_body(&sink.wait_for(before + 1, WAIT)[before]);
    let (status, xml) = sns.https_get(confirmation["SubscribeURL"].as_str().unwrap());
    assert_eq!(status, 200, "{xml}");
    assert!(sns.confirmed(topic, endpoint));
    s.subscription_arn
}

#[test]
fn a_subscription_confirmation_is_as_documented_and_its_subscribe_url_confirms() {
    let certs = Certs::generate();
    let sns = FakeSns::start(&certs);
    let sink = HttpSink::start();
    let topic = FakeSns::topic("selftest");
    let endpoint = format!("{}/sns/in?x=1", sink.url());

    assert_eq!(sns.subscribe(&topic, &endpoint), 200, "{}", sns.log_tail());
    let r = sink.wait_for(1, WAIT).remove(0);
    assert_eq!(r.path, "/sns/in?x=1");
    let m = json_body(&r);
    check_headers(&r, &m, None);
    assert_eq!(keys(&m), CONFIRMATION_KEYS);
    assert!(
        r.body_str()
            .starts_with("{\n  \"Type\" : \"SubscriptionConfirmation\",\n  \"MessageId\" : \""),
        "laid out as SNS sends it: {}",
        r.body_str()
    );
    assert_eq!(m["TopicArn"], topic.as_str());
    assert_eq!(
        m["Message"],
        format!(
            "You have chosen to subscribe to the topic {topic}.\nTo confirm the subscription, visit the SubscribeURL included in this message."
        )
    );
    let token = m["Token"].as_str().unwrap();
    assert!(
        token.len() >= 128 && token.bytes().all(|b| b.is_ascii_hexdigit()),
        "{token}"
    );
    assert_eq!(
        m["SubscribeURL"],
        format!(
            "{}/?Action=ConfirmSubscription&TopicArn={topic}&Token={token}",
            sns.base_url()
        )
    );
    let uuid = Regex::new("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        .unwrap();
    assert!(uuid.is_match(m["MessageId"].as_str().unwrap()), "{m}");
    let timestamp = Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$").unwrap();
    assert!(timestamp.is_match(m["Timestamp"].as_str().unwrap()), "{m}");
    let cert_url = Regex::new(&format!(
        r"^https://127\.0\.0\.1:{}/SimpleNotificationService-[0-9a-f]{{32}}\.pem$",
        sns.host_port().rsplit(':').next().unwrap()
    ))
    .unwrap();
    assert!(cert_url.is_match(m["SigningCertURL"].as_str().unwrap()));
    assert_eq!(m["SignatureVersion"], "1");
    assert!(verifies(&sns, &m), "the confirmation does not verify: {m}");

    // The SubscribeURL: a wrong token or topic is SNS's error; the right one confirms.
    assert!(!sns.confirmed(&topic, &endpoint));
    let subscribe_url = m["SubscribeURL"].as_str().unwrap();
    let (status, xml) = sns.https_get(&subscribe_url.replace(token, &"0".repeat(token.len())));
    assert_eq!(status, 400, "{xml}");
    assert!(
        xml.contains("<Code>InvalidParameter</Code>") && xml.contains("<Message>Invalid token<"),
        "{xml}"
    );
    let (status, xml) = sns.https_get(&subscribe_url.replace(":selftest", ":nobody"));
    assert_eq!(status, 404, "{xml}");
    assert!(xml.contains("<Code>NotFound</Code>"), "{xml}");
    assert!(!sns.confirmed(&topic, &endpoint));
    let (status, xml) = sns.https_get(subscribe_url);
    assert_eq!(status, 200, "{xml}");
    assert!(
        xml.contains(
            "<ConfirmSubscriptionResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">"
        ) && xml.contains(&format!("<SubscriptionArn>{topic}:")),
        "{xml}"
    );
    assert!(sns.confirmed(&topic, &endpoint));

    // Subscribing a confirmed endpoint again sends nothing, as with SNS.
    assert_eq!(sns.subscribe(&topic, &endpoint), 0);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(sink.requests().len(), 1);

    // Only the certificates' paths are served; every request is recorded.
    let (status, _) = sns.https_get(&format!(
        "{}/SimpleNotificationService-{}.pem",
        sns.base_url(),
        "0".repeat(32)
    ));
    assert_eq!(status, 404);
    let seen = sns.requests();
    assert_eq!(
        seen.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![200, 400, 404, 200, 404],
        "{seen:?}"
    );

    // An https:// endpoint, trusting the test CA.
    let tls_sink = HttpSink::start_tls(&certs);
    assert_eq!(
        sns.subscribe(&topic, &format!("{}/sns", tls_sink.url())),
        200,
        "{}",
        sns.log_tail()
    );
    let r = tls_sink.wait_for(1, WAIT).remove(0);
    assert!(verifies(&sns, &json_body(&r)));
}

#[test]
fn notifications_signed_v1_and_v2_reach_confirmed_subscribers_and_unsubscribe_stops_them() {
    let certs = Certs::generate();
    let sns = FakeSns::start(&certs);
    let sink = HttpSink::start();
    let pending = HttpSink::start();
    let topic = FakeSns::topic("gandi-notifications");
    let endpoint = format!("{}/push", sink.url());
    let arn = subscribe_confirmed(&sns, &sink, &topic, &endpoint);
    assert_eq!(
        sns.subscribe(&topic, &format!("{}/push", pending.url())),
        200
    );

    let message = "{'domain': 'pizzza.xyz', 'note': \"caf\u{e9}\"}\nsecond line";
    let v1 = sns.publish(&topic, message, Some("domain.transfer_out"), 1);
    assert_eq!(statuses(&sns.wait_settled(&v1, WAIT)), vec![Some(200)]);
    let v2 = sns.publish(&topic, "v2 message", None, 2);
    assert_eq!(statuses(&sns.wait_settled(&v2, WAIT)), vec![Some(200)]);
    assert_ne!(v1, v2);

    let got = sink.wait_for(3, WAIT);
    let (n1, n2) = (json_body(&got[1]), json_body(&got[2]));
    check_headers(&got[1], &n1, Some(&arn));
    check_headers(&got[2], &n2, Some(&arn));
    assert_eq!(
        keys(&n1),
        [
            "Type",
            "MessageId",
            "TopicArn",
            "Subject",
            "Message",
            "Timestamp",
            "SignatureVersion",
            "Signature",
            "SigningCertURL",
            "UnsubscribeURL"
        ]
    );
    assert!(
        got[1].body_str().contains("caf\u{e9}"),
        "UTF-8 as it is: {}",
        got[1].body_str()
    );
    assert_eq!(n1["MessageId"], v1.as_str());
    assert_eq!(n1["Message"], message);
    assert_eq!(n1["Subject"], "domain.transfer_out");
    assert_eq!(n1["SignatureVersion"], "1");
    assert_eq!(
        n1["UnsubscribeURL"],
        format!(
            "{}/?Action=Unsubscribe&SubscriptionArn={arn}",
            sns.base_url()
        )
    );
    assert!(
        n2.get("Subject").is_none(),
        "no Subject key without one: {n2}"
    );
    assert_eq!(n2["SignatureVersion"], "2");
    assert!(verifies(&sns, &n1), "v1 (SHA1) does not verify: {n1}");
    assert!(verifies(&sns, &n2), "v2 (SHA256) does not verify: {n2}");
    let mut downgraded = n2.clone();
    downgraded["SignatureVersion"] = "1".into();
    assert!(!verifies(&sns, &downgraded));
    let mut tampered = n1.clone();
    tampered["Subject"] = "domain.other".into();
    assert!(!verifies(&sns, &tampered));
    // What the fake says it sent is what arrived.
    assert_eq!(sns.sent(&v1)[0].body, got[1].body_str());
    // The unconfirmed subscriber got its confirmation only.
    assert_eq!(pending.requests().len(), 1);

    // A Publish SNS refuses.
    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        sns.publish(&topic, "x", Some("two\nlines"), 1)
    }));
    assert!(
        refused.is_err(),
        "a subject with a line break was published"
    );

    // The UnsubscribeURL: an UnsubscribeConfirmation, then no more notifications.
    let (status, xml) = sns.https_get(n1["UnsubscribeURL"].as_str().unwrap());
    assert_eq!(status, 200, "{xml}");
    assert!(xml.contains("<UnsubscribeResponse"), "{xml}");
    assert!(!sns.confirmed(&topic, &endpoint));
    let got = sink.wait_for(4, WAIT);
    let u = json_body(&got[3]);
    check_headers(&got[3], &u, Some(&arn));
    assert_eq!(u["Type"], "UnsubscribeConfirmation");
    assert_eq!(keys(&u), CONFIRMATION_KEYS);
    assert!(u["Message"].as_str().unwrap().starts_with(&format!(
        "You have chosen to deactivate subscription {arn}.\n"
    )));
    assert!(verifies(&sns, &u));
    let after = sns.publish(&topic, "after unsubscribing", None, 2);
    assert!(sns.wait_settled(&after, WAIT).is_empty());
    assert!(sns.settled(&after));
    assert_eq!(sink.requests().len(), 4);
}

#[test]
fn failed_attempts_are_retried_with_the_same_bytes_and_client_errors_are_not() {
    let certs = Certs::generate();
    let sns = FakeSns::start_with(
        &certs,
        SnsOptions {
            timeout: Duration::from_secs(1),
            ..SnsOptions::default()
        },
    );
    let topic = FakeSns::topic("retries");
    let sink = HttpSink::start();
    let endpoint = format!("{}/hook", sink.url());
    subscribe_confirmed(&sns, &sink, &topic, &endpoint);
    let mut dead = HttpSink::start();
    let dead_endpoint = format!("{}/gone", dead.url());
    subscribe_confirmed(&sns, &dead, &topic, &dead_endpoint);
    dead.stop();

    // 500, 500, then 200: three attempts, one MessageId, the same bytes each time.
    sink.queue_response(HttpResponse::status(500));
    sink.queue_response(HttpResponse::status(500));
    let id = sns.publish(&topic, "retried", None, 2);
    let attempts = sns.wait_settled(&id, WAIT);
    let to_sink = sns.attempts_to(&id, &endpoint);
    assert_eq!(
        statuses(&to_sink),
        vec![Some(500), Some(500), Some(200)],
        "{}",
        sns.log_tail()
    );
    assert_eq!(
        to_sink.iter().map(|a| a.attempt).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    let got: Vec<HttpRequest> = sink.wait_for(4, WAIT).split_off(1);
    assert_eq!(got.len(), 3);
    for r in &got {
        assert_eq!(r.body, got[0].body, "a retry is the same body");
        assert_eq!(r.header("x-amz-sns-message-id"), Some(id.as_str()));
    }
    assert_eq!(json_body(&got[0])["MessageId"], id.as_str());
    assert!(verifies(&sns, &json_body(&got[2])));
    // The stopped endpoint: the first attempt and 3 retries, each a connection error.
    let to_dead = sns.attempts_to(&id, &dead_endpoint);
    assert_eq!(to_dead.len(), 4, "{to_dead:?}");
    assert!(
        to_dead
            .iter()
            .all(|a| a.status.is_none() && a.error.is_some()),
        "{to_dead:?}"
    );
    assert_eq!(attempts.len(), 7);
    // (Its UnsubscribeConfirmation fails in the background; nothing more is sent there.)
    assert!(sns.unsubscribe(&topic, &dead_endpoint).is_some());

    // No answer within the timeout is a failed attempt too.
    sink.queue_response(HttpResponse::status(200).delay(Duration::from_millis(1600)));
    let id = sns.publish(&topic, "slow", None, 1);
    sns.wait_settled(&id, WAIT);
    let slow = sns.attempts_to(&id, &endpoint);
    assert_eq!(statuses(&slow), vec![None, Some(200)], "{slow:?}");
    assert!(slow[0].error.as_deref().unwrap().contains("no answer"));

    // A 4xx is the endpoint's answer, not a failure SNS retries.
    sink.set_status(403);
    let id = sns.publish(&topic, "refused", None, 1);
    sns.wait_settled(&id, WAIT);
    assert_eq!(statuses(&sns.attempts_to(&id, &endpoint)), vec![Some(403)]);
}

#[test]
fn envelopes_are_signed_as_asked_and_the_other_key_does_not_verify() {
    let certs = Certs::generate();
    let sns = FakeSns::start(&certs);
    let topic = FakeSns::topic("forgeries");
    let (sns_url, sns_pem) = sns.cert(Signer::Sns);
    let (other_url, other_pem) = sns.cert(Signer::Other);
    assert_ne!(sns_url, other_url);
    assert_eq!(sns.https_get(&other_url), (200, other_pem.clone()));

    let old = "2012-04-26T20:45:04.751Z";
    let n = sns.envelope(
        "Notification",
        &topic,
        "stale",
        Some("s"),
        2,
        Some(old),
        Signer::Sns,
    );
    assert_eq!(n["Timestamp"], old);
    assert_eq!(n["SigningCertURL"], sns_url.as_str());
    assert!(verifies(&sns, &n));

    for version in [1, 2] {
        let forged = sns.envelope(
            "Notification",
            &topic,
            "forged",
            None,
            version,
            None,
            Signer::Other,
        );
        assert_eq!(
            forged["SigningCertURL"],
            sns_url.as_str(),
            "names SNS's certificate"
        );
        assert!(!verifies(&sns, &forged), "v{version}: {forged}");
        assert!(!verifies_with(&forged, &sns_pem));
        assert!(
            verifies_with(&forged, &other_pem),
            "a real signature by the other key"
        );
    }

    for kind in ["SubscriptionConfirmation", "UnsubscribeConfirmation"] {
        let c = sns.envelope(kind, &topic, "m", None, 1, None, Signer::Sns);
        assert_eq!(keys(&c), CONFIRMATION_KEYS);
        assert!(verifies(&sns, &c), "{c}");
    }
    let chosen = sns.envelope_json(serde_json::json!({
        "type": "Notification", "topic": topic, "message": "again",
        "message_id": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
    }));
    assert_eq!(chosen["MessageId"], "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324");
    assert!(verifies(&sns, &chosen));
}
