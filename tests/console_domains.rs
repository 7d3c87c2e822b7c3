//! "What happened to this domain?" (issue 23): `/domains` finds a domain by part of its
//! name, `/domains/NAME` shows its state per subject, its events in time order across
//! registrars and channels and the deliveries made about them; `/events?q=` searches
//! domain, subject and the registrar's words through the index; the attention and
//! events pages carry a per-day chart; the digests page the next send and a preview.
//! Checked in headless Chromium at 375 and 1280 px, with hostile values escaped.

mod support;

use std::time::Duration;

use support::browser;
use support::mailroom::Mailroom;

/// AutoDNS's documented notification `kind` (a file of samples/extra) for `domain`.
fn autodns(kind: &str, domain: &str, id: u32) -> String {
    let text = std::fs::read_to_string(format!(
        "{}/samples/extra/autodns-notify-{kind}.eml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let text = regex::Regex::new(r"(transfer|domain)-\d+\.example\.org")
        .unwrap()
        .replace_all(&text, domain);
    regex::Regex::new(r"10120540\d\d")
        .unwrap()
        .replace_all(&text, id.to_string().as_str())
        .replace("Message-ID: <", &format!("Message-ID: <{id}."))
}

fn get(port: u16, path: &str) -> String {
    let r = support::http(port, "GET", path, "", b"");
    assert_eq!(r.status, 200, "{path}");
    String::from_utf8_lossy(&r.body).into_owned()
}

#[test]
fn a_domain_page_answers_what_happened_to_it() {
    let port = support::free_port();
    let mailroom = Mailroom::new(&support::age::any_age(&format!(
        "[smtp]\ndir = \"out\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n"
    )));
    std::fs::create_dir_all(mailroom.dir().join("out")).unwrap();
    std::fs::write(
        mailroom.dir().join("rules/10.toml"),
        "[[rule]]\nname = \"transfers to ops\"\nwhen.topic = \"transfer.out\"\nforward = { to = [\"ops@example.com\"] }\ndigest = \"daily\"\n\n\
         [[digest]]\nname = \"daily\"\nat = \"08:00\"\nto = [\"owner@example.com\"]\n",
    )
    .unwrap();
    let inbox = mailroom.dir().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    // One domain's story: a transfer starts, a reminder, then it is gone; another
    // domain with a hostile name; and the bundled samples around them.
    std::fs::write(
        inbox.join("1.eml"),
        autodns("transfer-start", "kunde-shop.de", 7001),
    )
    .unwrap();
    std::fs::write(
        inbox.join("2.eml"),
        autodns("transfer-reminder", "kunde-shop.de", 7002),
    )
    .unwrap();
    std::fs::write(
        inbox.join("3.eml"),
        autodns("domain-away", "kunde-shop.de", 7003),
    )
    .unwrap();
    std::fs::write(
        inbox.join("4.eml"),
        autodns("transfer-start", "x<b>bold</b>.kunde-evil.de", 7004),
    )
    .unwrap();
    let samples = format!("{}/samples", env!("CARGO_MANIFEST_DIR"));
    let out = mailroom
        .cmd(&["import", inbox.to_str().unwrap(), &samples])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Delivered, so the domain page has deliveries to show.
    let out = mailroom.run(&["deliver"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut serve = mailroom.cmd(&["serve"]);
    let log = std::fs::File::create(mailroom.dir().join("watch.log")).unwrap();
    let mut child = serve
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    support::wait_listening(port);

    // /domains?q= finds both by part of the name, with the latest state.
    let found = get(port, "/domains?q=kunde-");
    assert!(found.contains("2 domain(s)"), "{found}");
    assert!(found.contains("href=\"/domains/kunde-shop.de\""), "{found}");
    assert!(!found.contains("<b>bold"), "escaped: {found}");
    let short = get(port, "/domains?q=ku");
    assert!(short.contains("at least 3 characters"), "{short}");

    // The domain's page: state per subject, three events oldest first, deliveries.
    let page = get(port, "/domains/kunde-shop.de");
    assert!(page.contains("3 event(s), oldest first"), "{page}");
    let start = page
        .find(">transfer_start<")
        .expect("transfer_start listed");
    let reminder = page
        .find(">transfer_reminder<")
        .expect("transfer_reminder listed");
    let away = page.find(">domain_away<").expect("domain_away listed");
    assert!(start < reminder && reminder < away, "in time order: {page}");
    assert!(
        page.contains("Current state") && page.contains("Transfer"),
        "{page}"
    );
    assert!(
        page.contains("ops@example.com"),
        "deliveries listed: {page}"
    );
    assert!(page.contains(">done<"), "{page}");

    // /events?q= searches the words and subjects through the index.
    let searched = get(port, "/events?q=kunde-shop");
    assert!(searched.contains("Events 1–3 of 3"), "{searched}");
    let by_subject = get(port, "/events?q=Benachrichtigung");
    assert!(!by_subject.contains("No event matches"), "{by_subject}");
    let out = mailroom.run(&["events", "--search", "kunde-shop", "--count"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3");

    // The charts and the digest preview.
    let landing = get(port, "/");
    assert!(
        landing.contains("<figure class=\"chart\"><svg"),
        "{landing}"
    );
    let digests = get(port, "/digests");
    assert!(digests.contains("Next send"), "{digests}");
    assert!(digests.contains("Preview of the open period"), "{digests}");
    assert!(digests.contains("kunde-shop.de"), "{digests}");

    // In a browser, at a phone's width and a desk's.
    let dir = browser::output_dir("console-domains");
    for (name, path, must) in [
        ("domains", "/domains?q=kunde", "kunde-shop.de"),
        ("domain", "/domains/kunde-shop.de", "Current state"),
        (
            "evil",
            "/domains/x%3Cb%3Ebold%3C%2Fb%3E.kunde-evil.de",
            "kunde-evil.de",
        ),
        ("search", "/events?q=kunde", "Events 1–4 of 4"),
        ("attention", "/", "Needs attention"),
        ("digests", "/digests", "Preview of the open period"),
    ] {
        let url = format!("http://127.0.0.1:{port}{path}");
        let dom =
            browser::dom_and_screenshot(&url, &dir.join(format!("{name}-375.png")), 375, 1200);
        assert!(dom.contains(must), "{path}: {must:?} not in\n{dom}");
        assert!(!dom.contains("<script"), "{path}");
        assert!(
            !dom.contains("<b>bold"),
            "{path}: payload markup became markup"
        );
        assert!(dom.contains("<nav aria-label=\"main\">"), "{path}");
        browser::screenshot(&url, &dir.join(format!("{name}-1280.png")), 1280, 900);
    }
    let _ = child.kill();
    let _ = child.wait();
    std::thread::sleep(Duration::from_millis(10));
}
