//! Gandi over Amazon SNS (issue 22): a `[[push]]` with `format = "sns"` on a running
//! `watch`, fed by a fake SNS of the suite (its own test CA for HTTPS, its own RSA
//! signing key and certificate, AWS's documented message shapes, signatures and
//! retries). A subscription is confirmed by fetching its SubscribeURL; notifications
//! signed v1 and v2 are stored once and forwarded once; forged, unsigned, tampered,
//! stale, foreign-topic and foreign-host messages are answered 403 and stored nowhere;
//! a replay is one place.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::Certs;
use support::mailroom::Mailroom;
use support::sns::{FakeSns, Signer};

const TRANSFER_OUT: &str = "{'platform': 'production', 'domain': 'pizzza.xyz', 'source_notification': 'domain.transfer_out_done_reselle'}";
const REACHABILITY: &str = "{'status': 'pending',\n 'handle': 'XXXX1234-GANDI',\n 'platform': 'production',\n 'date_end': '2016-01-01 08:36:32',\n 'date': '2015-12-17 08:39:06',\n 'source_notification': 'domain.reachability_reseller',\n 'domains': \"['pizzza.xyz']\",\n 'date_created': '2015-12-17 08:35:20'}";

struct Env {
    mailroom: Mailroom,
    port: u16,
    sns: FakeSns,
    topic: String,
    _certs: Certs,
}

impl Env {
    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/push/gandi", self.port)
    }

    fn post(&self, envelope: &Value) -> u16 {
        support::http(
            self.port,
            "POST",
            "/push/gandi",
            "Content-Type: text/plain; charset=UTF-8\r\nx-amz-sns-message-type: Notification\r\n",
            envelope.to_string().as_bytes(),
        )
        .status
    }

    fn messages(&self) -> i64 {
        self.mailroom.count("SELECT COUNT(*) FROM messages")
    }

    fn forwards(&self) -> usize {
        std::fs::read_dir(self.mailroom.dir().join("out"))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

fn start() -> (Env, support::mailroom::Watch) {
    let certs = Certs::generate();
    let sns = FakeSns::start(&certs);
    let topic = FakeSns::topic("gandi-notifications");
    let port = support::free_port();
    let mailroom = Mailroom::new(&support::age::any_age(&format!(
        "[smtp]\ndir = \"out\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n\
         [[push]]\nname = \"gandi-sns\"\nregistrar = \"gandi\"\npath = \"/push/gandi\"\nformat = \"sns\"\n\
         topics = [\"{topic}\"]\nsns_hosts = [\"{}\"]\nca_file = \"{}\"\n",
        sns.host_port(),
        certs.ca_pem.display()
    )));
    std::fs::create_dir_all(mailroom.dir().join("out")).unwrap();
    std::fs::write(
        mailroom.dir().join("rules/10.toml"),
        "[[rule]]\nname = \"gandi\"\nwhen.registrar = \"gandi\"\nforward = { to = [\"ops@example.com\"] }\n",
    )
    .unwrap();
    let watch = mailroom.spawn_watch();
    support::wait_listening(port);
    (
        Env {
            mailroom,
            port,
            sns,
            topic,
            _certs: certs,
        },
        watch,
    )
}

#[test]
fn gandi_over_sns_is_confirmed_verified_stored_once_and_forgeries_are_refused() {
    let (env, mut watch) = start();

    // The subscription: SNS posts a signed SubscriptionConfirmation; mailroom verifies it
    // and fetches its SubscribeURL, which is what confirms it.
    assert_eq!(env.sns.subscribe(&env.topic, &env.endpoint()), 200);
    env.mailroom.wait(
        "the subscription confirmed",
        Duration::from_secs(10),
        || env.sns.confirmed(&env.topic, &env.endpoint()),
    );
    assert_eq!(env.mailroom.events(), 0, "a confirmation is not an event");

    // Notifications signed with SHA1 (v1) and SHA256 (v2): 200 after the commit.
    let first = env.sns.publish(&env.topic, TRANSFER_OUT, None, 1);
    let attempts = env.sns.wait_settled(&first, Duration::from_secs(20));
    assert_eq!(
        attempts.iter().map(|a| a.status).collect::<Vec<_>>(),
        vec![Some(200)],
        "{}",
        env.mailroom.log()
    );
    let second = env.sns.publish(
        &env.topic,
        REACHABILITY,
        Some("domain.reachability_reseller"),
        2,
    );
    let attempts = env.sns.wait_settled(&second, Duration::from_secs(20));
    assert_eq!(attempts.last().and_then(|a| a.status), Some(200));
    assert_eq!(env.mailroom.events(), 2);
    assert_eq!(
        env.mailroom.count(
            "SELECT COUNT(*) FROM events WHERE registrar = 'gandi' AND topic = 'transfer.out' AND domain = 'pizzza.xyz'"
        ),
        1
    );
    assert_eq!(
        env.mailroom.count(
            "SELECT COUNT(*) FROM events WHERE registrar = 'gandi' AND type = 'domain.reachability_reseller' AND status = 'pending'"
        ),
        1
    );
    assert_eq!(env.messages(), 2);
    env.mailroom
        .wait("two forwards", Duration::from_secs(15), || {
            env.forwards() == 2
        });

    // A replay (or SNS's retry: the same body, the same MessageId) is one place.
    let valid = env.sns.envelope(
        "Notification",
        &env.topic,
        "{'platform': 'production', 'domain': 'replayed.xyz', 'source_notification': 'domain.transfer_out_done_reselle'}",
        None,
        2,
        None,
        Signer::Sns,
    );
    assert_eq!(env.post(&valid), 200, "{}", env.mailroom.log());
    assert_eq!(env.post(&valid), 200);
    assert_eq!(env.mailroom.events(), 3);
    assert_eq!(env.messages(), 3);
    assert_eq!(
        env.mailroom
            .count("SELECT seen_count FROM events WHERE domain = 'replayed.xyz'"),
        1
    );

    // Forgeries: each answered 403, nothing stored, not even in quarantine.
    let forged_message = "{'platform': 'production', 'domain': 'forged.xyz', 'source_notification': 'domain.transfer_out_done_reselle'}";
    let mut forgeries: Vec<(&str, Value)> = Vec::new();
    forgeries.push((
        "signed by another key than the certificate's",
        env.sns.envelope(
            "Notification",
            &env.topic,
            forged_message,
            None,
            1,
            None,
            Signer::Other,
        ),
    ));
    let good = env.sns.envelope(
        "Notification",
        &env.topic,
        forged_message,
        None,
        2,
        None,
        Signer::Sns,
    );
    let mut tampered = good.clone();
    tampered["Message"] = json!(forged_message.replace("forged.xyz", "tampered.xyz"));
    forgeries.push(("the Message changed after signing", tampered));
    let mut unsigned = good.clone();
    unsigned.as_object_mut().unwrap().remove("Signature");
    forgeries.push(("no Signature", unsigned));
    let mut unversioned = good.clone();
    unversioned
        .as_object_mut()
        .unwrap()
        .remove("SignatureVersion");
    forgeries.push(("no SignatureVersion", unversioned));
    let mut downgraded = good.clone();
    downgraded["SignatureVersion"] = json!("1");
    forgeries.push(("a v2 signature claimed as v1", downgraded));
    let mut foreign_host = good.clone();
    foreign_host["SigningCertURL"] = json!(
        good["SigningCertURL"]
            .as_str()
            .unwrap()
            .replace("127.0.0.1", "localhost")
    );
    forgeries.push(("a certificate from a host not in sns_hosts", foreign_host));
    let mut plain_http = good.clone();
    plain_http["SigningCertURL"] = json!(
        good["SigningCertURL"]
            .as_str()
            .unwrap()
            .replace("https://", "http://")
    );
    forgeries.push(("a certificate over http", plain_http));
    let two_hours_ago = mailroom::clock::now() - chrono::Duration::hours(2);
    forgeries.push((
        "stale (two hours old, correctly signed)",
        env.sns.envelope(
            "Notification",
            &env.topic,
            forged_message,
            None,
            2,
            Some(&two_hours_ago.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            Signer::Sns,
        ),
    ));
    forgeries.push((
        "a topic not in topics (correctly signed)",
        env.sns.envelope(
            "Notification",
            &FakeSns::topic("someone-else"),
            forged_message,
            None,
            2,
            None,
            Signer::Sns,
        ),
    ));
    let mut foreign_subscribe = env.sns.envelope(
        "SubscriptionConfirmation",
        &env.topic,
        "You have chosen to subscribe",
        None,
        1,
        None,
        Signer::Sns,
    );
    foreign_subscribe["SubscribeURL"] = json!("https://evil.example/?Action=ConfirmSubscription");
    forgeries.push(("a SubscribeURL changed to another host", foreign_subscribe));
    for (what, envelope) in &forgeries {
        assert_eq!(env.post(envelope), 403, "{what}\n{}", env.mailroom.log());
    }
    assert_eq!(
        support::http(env.port, "POST", "/push/gandi", "", TRANSFER_OUT.as_bytes()).status,
        400,
        "a bare notification is not an SNS message"
    );
    assert_eq!(env.mailroom.events(), 3);
    assert_eq!(env.messages(), 3, "a refused message is stored nowhere");
    assert_eq!(
        env.mailroom
            .count("SELECT COUNT(*) FROM events WHERE domain IN ('forged.xyz', 'tampered.xyz')"),
        0
    );

    // Forwarded once per event; the log says why each forgery was refused.
    env.mailroom
        .wait("three forwards", Duration::from_secs(15), || {
            env.forwards() == 3
        });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(env.forwards(), 3);
    // Unsubscribed at SNS: the signed UnsubscribeConfirmation is taken (200) and
    // said in the log; nothing is stored for it.
    let bye = env
        .sns
        .unsubscribe(&env.topic, &env.endpoint())
        .expect("the subscription was confirmed");
    let attempts = env.sns.wait_settled(&bye, Duration::from_secs(20));
    assert_eq!(attempts.last().and_then(|a| a.status), Some(200));
    assert_eq!(env.mailroom.events(), 3);
    assert!(watch.terminate());
    let log = env.mailroom.log();
    assert!(log.contains("unsubscribed from the topic"), "{log}");
    for reason in [
        "the signature does not verify",
        "stale",
        "is not in topics",
        "is not in sns_hosts",
        "unsigned",
    ] {
        assert!(
            log.contains(reason),
            "the log does not say {reason:?}:\n{log}"
        );
    }
    let status = env.mailroom.run(&["status", "--json"]);
    let v: Value = serde_json::from_slice(&status.stdout).unwrap();
    let answers = &v["channels"]["gandi-sns"];
    assert_eq!(answers["answered 403"], forgeries.len(), "{v}");
    // Confirmation, two notifications, the replay twice, the unsubscribe.
    assert_eq!(answers["answered 200"], 6, "{v}");
    assert_eq!(answers["answered 400"], 1, "{v}");
}
