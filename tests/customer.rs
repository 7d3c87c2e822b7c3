//! The domain's own customer (issue 23): lookups from a CSV file, an SQLite database and
//! an HTTP endpoint route forwards to the customer, in the customer's language, under
//! the reseller's brand, with `missing_to` when nobody is found; an endpoint that fails
//! is retried through the outbox; customer mail carries no registrar JSON and no
//! original message.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use support::mailroom::Mailroom;

/// AutoDNS's documented transfer_start notification for `domain` (job id `id`).
fn transfer_out(domain: &str, id: u32) -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/samples/extra/autodns-notify-transfer-start.eml"
    ))
    .unwrap()
    .replace("transfer-52.example.org", domain)
    .replace("1012054052", &id.to_string())
    .replace("0013.6746656df0", &format!("{id}.customer"))
}

/// A billing system's customer API: `GET /customers/<domain>` with a bearer token;
/// the first request answers 503 (the outbox must retry), unknown domains 404.
struct Billing {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

const BILLING_TOKEN: &str = "billing-t0ken-never-logged";

impl Billing {
    fn start() -> Billing {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let count = Arc::new(AtomicUsize::new(0));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                let mut auth = String::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = h.split_once(':')
                        && name.eq_ignore_ascii_case("authorization")
                    {
                        auth = value.trim().to_string();
                    }
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                seen.lock().unwrap().push(path.clone());
                let n = count.fetch_add(1, Ordering::SeqCst);
                let (status, body) = if auth != format!("Bearer {BILLING_TOKEN}") {
                    ("401 Unauthorized", "{}".to_string())
                } else if n == 0 {
                    ("503 Service Unavailable", "{}".to_string())
                } else if path == "/customers/shop.example" {
                    (
                        "200 OK",
                        r#"{"email": "owner@shop.example", "language": "fr", "name": "Chloé"}"#
                            .to_string(),
                    )
                } else {
                    (
                        "404 Not Found",
                        r#"{"error": "no such customer"}"#.to_string(),
                    )
                };
                let mut s = stream;
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.flush();
                let _ = s.read(&mut [0u8; 1]);
            }
        });
        Billing { port, requests }
    }
}

fn mails(mailroom: &Mailroom) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(mailroom.dir().join("out"))
        .map(|d| {
            d.flatten()
                .map(|e| std::fs::read_to_string(e.path()).unwrap())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn mail_to<'a>(all: &'a [String], to: &str) -> &'a String {
    all.iter()
        .find(|m| m.lines().any(|l| l.starts_with("To:") && l.contains(to)))
        .unwrap_or_else(|| panic!("no mail to {to}:\n{}", all.join("\n-----\n")))
}

#[test]
fn lookups_route_forwards_in_the_customers_language_and_missing_to_catches_the_rest() {
    let billing = Billing::start();
    let mailroom = Mailroom::new(&support::age::any_age(
        "[smtp]\ndir = \"out\"\nfrom = \"mailroom <mailroom@reseller.example>\"\n\
         [delivery]\nfirst_backoff = \"1s\"\nmax_backoff = \"1s\"\n",
    ));
    let rules = mailroom.dir().join("rules");
    std::fs::create_dir_all(rules.join("templates")).unwrap();
    std::fs::create_dir_all(mailroom.dir().join("out")).unwrap();
    std::fs::write(
        rules.join("customers.csv"),
        "domain,email,language,plan\n\"example.de\",kunde@example.de,de,premium\nxn--bcher-kva.example,buch@example.de,de,basic\n",
    )
    .unwrap();
    {
        let db = rusqlite::Connection::open(rules.join("billing.db")).unwrap();
        db.execute_batch(
            "CREATE TABLE contacts (domain TEXT, contact TEXT, tier TEXT);
             INSERT INTO contacts VALUES ('example.de', 'billing@example.de', 'gold');",
        )
        .unwrap();
    }
    for (lang, subject, body) in [
        (
            "en",
            "Your domain {{ domain }} is moving away",
            "Hello,\n\nthe domain {{ domain }} is being transferred out.\n",
        ),
        (
            "de",
            "Ihre Domain {{ domain }} zieht um",
            "Guten Tag,\n\ndie Domain {{ domain }} wird zu einem anderen Anbieter übertragen.\n",
        ),
        (
            "fr",
            "Votre domaine {{ domain }} part",
            "Bonjour {{ crm.name }},\n\nle domaine {{ domain }} est transféré.\n",
        ),
    ] {
        std::fs::write(
            rules.join(format!("templates/out.{lang}.txt")),
            format!("Subject: {subject}\n\n{body}"),
        )
        .unwrap();
    }
    std::fs::write(
        rules.join("templates/out.de.html"),
        "<p>Guten Tag,</p><p>die Domain <b>{{ domain }}</b> wird übertragen.</p>\n",
    )
    .unwrap();
    std::fs::write(
        rules.join("10-customers.toml"),
        format!(
            r#"
[[lookup]]
name = "customer"
csv = "customers.csv"
key = "domain"

[[lookup]]
name = "billing"
sql = "SELECT contact, tier FROM contacts WHERE domain = ?1"
db = "billing.db"

[[lookup]]
name = "crm"
url = "http://127.0.0.1:{}/customers/{{{{ domain }}}}"
token_env = "BILLING_TOKEN"
cache = "10m"

[[rule]]
name = "tell the customer"
when.topic = "transfer.out"
forward = {{ to = ["{{{{ customer.email }}}}"], from = "Acme Domains <support@acme.example>",
            reply_to = "support@acme.example",
            template = "templates/out.{{{{ customer.language | default('en') }}}}.txt",
            missing_to = ["support@acme.example"] }}

[[rule]]
name = "tell billing"
when.topic = "transfer.out"
when."billing.tier" = "gold"
forward = {{ to = ["{{{{ billing.contact }}}}"], missing_to = ["support@acme.example"],
            subject = "Transfer out for {{{{ domain }}}} ({{{{ billing.tier }}}} customer)",
            body = "{{{{ domain }}}} leaves us.\n" }}

[[rule]]
name = "tell the crm contact"
when.topic = "transfer.out"
forward = {{ to = ["{{{{ crm.email }}}}"], missing_to = ["crm-missing@acme.example"],
            template = "templates/out.{{{{ crm.language | default('en') }}}}.txt" }}
"#,
            billing.port
        ),
    )
    .unwrap();
    // Three transfers out: a subdomain of a CSV customer, a CSV customer stored in
    // punycode named in Unicode, and a domain nobody knows but the CRM.
    let inbox = mailroom.dir().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(
        inbox.join("1.eml"),
        transfer_out("www.example.de", 1012054001),
    )
    .unwrap();
    std::fs::write(
        inbox.join("2.eml"),
        transfer_out("bücher.example", 1012054002),
    )
    .unwrap();
    std::fs::write(
        inbox.join("3.eml"),
        transfer_out("shop.example", 1012054003),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = mailroom
            .cmd(args)
            .env("BILLING_TOKEN", BILLING_TOKEN)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!text.contains(BILLING_TOKEN), "{text}");
        text
    };
    let imported = run(&["import", inbox.to_str().unwrap()]);
    assert_eq!(mailroom.events(), 3, "{imported}");
    // The first pass meets the CRM's 503: those mails wait, the others go.
    run(&["deliver"]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let said = run(&["deliver"]);
    assert_eq!(
        mailroom.count("SELECT COUNT(*) FROM outbox WHERE state != 'done'"),
        0,
        "{said}"
    );
    let all = mails(&mailroom);
    // 3 customer mails + 1 billing mail + 3 CRM mails.
    assert_eq!(all.len(), 7, "{}", all.join("\n-----\n"));

    // www.example.de: found by its parent, in German, with the HTML twin, branded.
    let de = mail_to(&all, "kunde@example.de");
    assert!(
        de.contains("From: \"Acme Domains\" <support@acme.example>"),
        "{de}"
    );
    assert!(de.contains("Reply-To: support@acme.example"), "{de}");
    assert!(
        de.contains("Subject: Ihre Domain www.example.de zieht um"),
        "{de}"
    );
    assert!(de.contains("text/html"), "{de}");
    // bücher.example: the CSV's punycode row, found by the Unicode name.
    let buch = mail_to(&all, "buch@example.de");
    assert!(buch.contains("zieht um"), "{buch}");
    // shop.example: nobody in the CSV, so missing_to, in English, saying why.
    let missing = mail_to(&all, "support@acme.example");
    assert!(
        missing.contains("Subject: Your domain shop.example is moving away"),
        "{missing}"
    );
    assert!(missing.contains("No recipient was found"), "{missing}");
    // The SQLite lookup: only the gold customer's domain, and its condition held.
    let bill = mail_to(&all, "billing@example.de");
    assert!(
        bill.contains("Subject: Transfer out for www.example.de (gold customer)"),
        "{bill}"
    );
    // The CRM (url lookup): shop.example found after the retry, in French.
    let crm = mail_to(&all, "owner@shop.example");
    assert!(
        crm.contains("Subject: Votre domaine shop.example part"),
        "{crm}"
    );
    assert!(crm.contains("Bonjour Chlo"), "{crm}");
    assert_eq!(
        all.iter()
            .filter(|m| m.lines().any(|l| l == "To: crm-missing@acme.example"))
            .count(),
        2
    );
    // The parent was asked after the subdomain was not found.
    let asked = billing.requests.lock().unwrap().clone();
    assert!(
        asked.contains(&"/customers/www.example.de".to_string()),
        "{asked:?}"
    );
    assert!(
        asked.contains(&"/customers/example.de".to_string()),
        "{asked:?}"
    );
    // Customer mail carries neither the registrar's JSON nor the original message.
    for m in &all {
        assert!(!m.contains("event.json"), "{m}");
        assert!(!m.contains("message/rfc822"), "{m}");
        assert!(!m.contains("gainingRegistrar"), "{m}");
    }
}

#[test]
fn a_customer_rule_that_cannot_work_is_refused_at_load() {
    let mailroom = Mailroom::new("");
    let rules = mailroom.dir().join("rules");
    std::fs::write(
        rules.join("customers.csv"),
        "domain,email\nexample.de,a@example.de\n",
    )
    .unwrap();
    std::fs::write(
        rules.join("10.toml"),
        "[[lookup]]\nname = \"customer\"\ncsv = \"customers.csv\"\n\n[[rule]]\nname = \"r\"\nforward = { to = [\"{{ customer.mail }}\"], missing_to = [\"x@example.com\"], template = \"nope/{{ customer.email }}.txt\" }\n",
    )
    .unwrap();
    let out = mailroom.run(&["rules", "check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("10.toml:7:"), "{err}");
    assert!(
        err.contains("lookup \"customer\" has no column \"mail\""),
        "{err}"
    );
    assert!(err.contains("nope/a@example.de.txt"), "{err}");
}
