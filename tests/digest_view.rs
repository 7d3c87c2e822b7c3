//! The digest people read (issue 13, item 5), rendered by a real browser: Debian's
//! headless Chromium loads the HTML part at a phone's width (375 px). What needs
//! attention comes first (with the registrar's own words), then the events grouped by
//! topic in time order, then the counts; a hostile value stays text; nothing is wider
//! than the screen; the plain-text part says the same. Screenshots are kept under
//! `target/test-output/digest/` for a person to look at.

use std::path::{Path, PathBuf};

#[path = "support/age.rs"]
mod age;
use std::process::{Command, Output};

const RULES: &str = r#"
[[rule]]
name = "collect"
digest = "daily"

[[digest]]
name = "daily"
at = "08:00"
timezone = "Europe/Berlin"
to = ["owner@example.com"]
"#;

const HOSTILE: &str = "<script>document.title='pwned'</script>.example";

fn opensrs_created(event_id: &str, domain: &str, date: &str) -> String {
    format!(
        "From: notifications@opensrs.net\r\nTo: ops@example.com\r\n\
         Subject: Event notification: DOMAIN: CREATED: {event_id}\r\n\r\n\
         {{\"object_data\":{{\"domain_name\":\"{domain}\"}},\"object\":\"DOMAIN\",\
         \"event_id\":\"{event_id}\",\"event\":\"CREATED\",\"event_date\":\"{date}\"}}\r\n"
    )
}

fn sample(name: &str) -> String {
    format!("{}/samples/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn mailroom(dir: &Path, now: &str, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_mailroom"))
        .current_dir(dir)
        .env("MAILROOM_NOW", now)
        .env_remove("RUST_LOG")
        .arg("--config")
        .arg(dir.join("mailroom.toml"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mailroom {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn output_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-output/digest");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs headless Chromium at 375×1400 with `args` on `page`.
fn chromium(profile: &Path, page: &Path, args: &[&str]) -> Output {
    let out = Command::new("chromium")
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=375,1400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium (Debian's chromium package) must be installed for this test");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn position(haystack: &str, needle: &str) -> usize {
    haystack
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not found in:\n{haystack}"))
}

/// An attribute's value in a dumped DOM: `name="value"`.
fn attribute<'a>(dom: &'a str, name: &str) -> &'a str {
    let start = position(dom, &format!("{name}=\"")) + name.len() + 2;
    let len = dom[start..].find('"').unwrap();
    &dom[start..start + len]
}

#[test]
fn a_digest_reads_on_a_phone_attention_first_then_topics_then_counts() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    std::fs::create_dir_all(work.join("rules")).unwrap();
    std::fs::write(work.join("mailroom.toml"), age::any_age("db = \"m.db\"\n")).unwrap();
    std::fs::write(work.join("rules/90.toml"), RULES).unwrap();
    let long = format!("{}.{}.example", "a".repeat(63), "b".repeat(63));
    std::fs::write(
        work.join("hostile.eml"),
        opensrs_created("h-1", HOSTILE, "2026-11-19T21:16:22Z"),
    )
    .unwrap();
    std::fs::write(
        work.join("long.eml"),
        opensrs_created("h-2", &long, "2026-11-19T22:00:00Z"),
    )
    .unwrap();
    let now = "2026-11-20T06:00:00Z";
    mailroom(
        work,
        now,
        &[
            "import",
            "hostile.eml",
            "long.eml",
            &sample("autodns-job-error-json.eml"), // job failed, 2018-09-26
            &sample("opensrs-domain-created.eml"), // example.com, 2026-11-03
            &sample("opensrs-transfer-status-change.eml"), // transfer.in
            &sample("autodns-notify-transfer-start.eml"), // transfer.out pending
        ],
    );
    let out = mailroom(
        work,
        "2026-11-20T06:30:00Z",
        &["digest", "daily", "--preview", "--html"],
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    let html = &printed[position(&printed, "<!DOCTYPE html>")..];
    // Nothing loaded from elsewhere, no script, no style sheet: inline CSS only.
    for banned in ["<script", "<link", "<style", "src=", "url("] {
        assert!(!html.contains(banned), "{banned} in the digest:\n{html}");
    }

    let out_dir = output_dir();
    let page = out_dir.join("digest.html");
    std::fs::write(&page, html).unwrap();
    // A copy with a probe: after layout at the phone's width it records how wide the
    // content is and whether a hostile value ran, then removes itself.
    let probe = "<script>document.documentElement.style.width='375px';\
        var b=document.body; b.setAttribute('data-content-width', b.scrollWidth);\
        b.setAttribute('data-title', document.title); document.currentScript.remove();</script>";
    let probed = out_dir.join("digest-probe.html");
    std::fs::write(&probed, html.replace("</body>", &format!("{probe}</body>"))).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let dom = String::from_utf8(chromium(profile.path(), &probed, &["--dump-dom"]).stdout).unwrap();
    std::fs::write(out_dir.join("digest-dom.html"), &dom).unwrap();

    // No horizontal overflow at 375 px, even with a 130-character domain.
    let width: u32 = attribute(&dom, "data-content-width").parse().unwrap();
    assert!(width <= 375, "content is {width} px wide at 375 px");
    // The hostile domain is text: it did not run, and no script element came of it.
    assert!(attribute(&dom, "data-title").starts_with("[mailroom] daily: 6 events"));
    assert!(!dom.to_lowercase().contains("<script"), "{dom}");
    assert!(
        dom.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;.example"),
        "{dom}"
    );

    // Attention first, then the topic groups, then the counts.
    let attention = position(&dom, "id=\"attention\"");
    let events = position(&dom, "id=\"events\"");
    let counts = position(&dom, "id=\"counts\"");
    assert!(attention < events && events < counts, "{dom}");
    let section = &dom[attention..events];
    assert!(
        section.contains("data-attention=\"job failed\""),
        "{section}"
    );
    assert!(
        section.contains("The domain could not be created."),
        "{section}"
    );
    assert!(
        section.contains("data-attention=\"transfer out pending\""),
        "{section}"
    );
    assert!(
        !section.contains("example.com"),
        "nothing to do about example.com"
    );
    // Topics in the order their first event happened, events in time order within. The
    // transfer's payload gives no time: it happened when its mail was sent (2022), not
    // when it was imported.
    let topics: Vec<&str> = dom[events..counts]
        .split("data-topic=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .collect();
    assert_eq!(
        topics,
        [
            "job.result",
            "transfer.out",
            "domain.created",
            "transfer.in"
        ],
        "{dom}"
    );
    let created = &dom[position(&dom, "data-topic=\"domain.created\"")..];
    let (a, b, c) = (
        position(created, "example.com"),
        position(created, "&lt;script&gt;"),
        position(created, &long),
    );
    assert!(a < b && b < c, "domain.created not in time order");
    let table = &dom[counts..];
    assert!(
        table.contains("domain.created") && table.contains(">3<"),
        "{table}"
    );
    assert!(table.contains(">6<"), "the total: {table}");

    // What a phone shows, kept for people; Chromium wrote a 375 px wide image.
    let shot = out_dir.join("digest-375.png");
    let _ = std::fs::remove_file(&shot);
    chromium(
        profile.path(),
        &page,
        &[&format!("--screenshot={}", shot.display())],
    );
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 375);

    // The plain-text part says the same, in the same order.
    let out = mailroom(
        work,
        "2026-11-20T06:30:00Z",
        &["digest", "daily", "--preview"],
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (a, e, c) = (
        position(&text, "NEEDS ATTENTION"),
        position(&text, "EVENTS BY TOPIC"),
        position(&text, "\nCounts"),
    );
    assert!(a < e && e < c, "{text}");
    assert!(
        text[a..e].contains("job failed")
            && text[a..e].contains("\"The domain could not be created.\"")
    );
    assert!(text[a..e].contains("transfer out pending"), "{text}");
    for needle in [
        HOSTILE,
        long.as_str(),
        "example.com",
        "example.org",
        "example.eu",
    ] {
        assert!(
            text[e..c].contains(needle),
            "{needle} missing from the text part:\n{text}"
        );
    }
    assert!(
        text.contains("Period: until 2026-11-20 07:30 CET (Europe/Berlin)"),
        "{text}"
    );
}
