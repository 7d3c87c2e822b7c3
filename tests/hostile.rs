//! Hostile mail is quarantined, never fatal: each case below yields no event and a
//! one-line reason naming what was wrong, in bounded time, without a panic.

use std::time::{Duration, Instant};

use mailroom::extract::extract_strict;

fn email(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: notifications@opensrs.net\r\nTo: ops@example.com\r\nSubject: {subject}\r\n\
         Message-ID: <hostile@example.net>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    )
    .into_bytes()
}

/// Runs the extractor (no panic guard: a panic fails the test) and returns the reason.
fn quarantine_reason(raw: &[u8]) -> String {
    let started = Instant::now();
    let found = extract_strict(raw);
    let took = started.elapsed();
    assert!(found.events.is_empty(), "gave events: {:?}", found.events);
    // A hang guard, not a speed test (that is `cargo bench`).
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let reason = found.reason.expect("a quarantine reason");
    assert!(!reason.contains('\n'), "multi-line reason: {reason}");
    reason
}

#[test]
fn truncated_json() {
    let body = r#"{"object_data":{"domain_name":"example.com","domain_id":"3839"#;
    let reason = quarantine_reason(&email("Event notification: DOMAIN: CREATED: 1", body));
    assert_eq!(reason, "truncated JSON");
}

#[test]
fn xml_entity_bomb_is_not_expanded() {
    let mut body =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE OPS_envelope [\n <!ENTITY lol \"lol\">\n");
    for i in 1..10 {
        let prev = if i == 1 {
            "lol".to_string()
        } else {
            format!("lol{}", i - 1)
        };
        body.push_str(&format!(
            " <!ENTITY lol{i} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
    }
    body.push_str("]>\n<OPS_envelope><body><data_block><dt_assoc><item key=\"x\">&lol9;</item></dt_assoc></data_block></body></OPS_envelope>\n");
    let reason = quarantine_reason(&email("poll", &body));
    assert!(reason.contains("<!ENTITY"), "{reason}");
}

#[test]
fn deep_nesting_in_every_syntax() {
    let json = "{\"a\":".repeat(100_000);
    assert!(quarantine_reason(&email("deep", &json)).contains("nesting too deep"));
    let array = format!("{{\"a\":{}", "[".repeat(100_000));
    assert!(quarantine_reason(&email("deep", &array)).contains("nesting too deep"));
    let xml = format!("<?xml version=\"1.0\"?>{}", "<response>".repeat(100_000));
    assert!(quarantine_reason(&email("deep", &xml)).contains("nesting too deep"));
    let python = format!("{{'a': {}", "{'a': ".repeat(100_000));
    quarantine_reason(&email("deep", &python));
    // 100,000 nested MIME parts.
    let mut mime = String::from("From: a@b\r\nSubject: parts\r\n");
    for i in 0..100_000 {
        mime.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
        ));
    }
    quarantine_reason(mime.as_bytes());
    // 1,000 forwarded messages inside each other.
    let mut fwd = String::new();
    for _ in 0..1_000 {
        fwd.push_str("From: a@b\r\nContent-Type: message/rfc822\r\n\r\n");
    }
    quarantine_reason(fwd.as_bytes());
}

#[test]
fn thirty_megabyte_message() {
    // 30 MB of text that keeps opening payloads it never finishes.
    let mut body = String::with_capacity(31 << 20);
    while body.len() < 30 << 20 {
        body.push_str(
            "{\"event\": \"x\", \"object_data\": {\"domain_name\": \"a.example\", <response><id>1",
        );
        body.push_str(&"lorem ipsum dolor sit amet ".repeat(40));
        body.push('\n');
    }
    let reason = quarantine_reason(&email("Event notification: DOMAIN: CREATED: 1", &body));
    assert!(
        reason.contains("JSON") || reason.contains("XML"),
        "{reason}"
    );
    // And 30 MB of base64 attachment with no payload.
    let mut mime = String::from(
        "From: a@b\r\nSubject: big\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n--X\r\n\
         Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n",
    );
    while mime.len() < 30 << 20 {
        mime.push_str(
            "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\r\n",
        );
    }
    mime.push_str("--X--\r\n");
    quarantine_reason(mime.as_bytes());
}

#[test]
fn binary_garbage_and_empty_input() {
    // A fixed xorshift stream, so the test is the same on every run.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let garbage: Vec<u8> = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    quarantine_reason(&garbage);
    assert_eq!(quarantine_reason(b""), "empty message");
    assert_eq!(quarantine_reason(b"\r\n \r\n"), "empty message");
    quarantine_reason(b"From: a@b\r\nSubject: headers only\r\n");
    quarantine_reason(&[0u8; 4096]);
}

#[test]
fn valid_json_that_is_not_a_notification() {
    let reason = quarantine_reason(&email("hello", r#"{"hello": "world"}"#));
    assert!(reason.contains("not a registrar notification"), "{reason}");
}

/// The forgiving second XML pass (issue 10) reads a mistyped closing tag, nothing more:
/// entity declarations, undefined entities and depth bombs with typos in them are
/// refused exactly as before.
#[test]
fn tolerant_xml_pass_keeps_hostile_documents_out() {
    let entity = "<?xml version=\"1.0\"?><!DOCTYPE epp [<!ENTITY x \"y\">]><epp><response><msgQ id=\"1\"><msg>&x;</mgs></msgQ></response></epp>";
    assert!(quarantine_reason(&email("poll", entity)).contains("<!ENTITY"));
    let undefined = "<epp><response><msgQ id=\"1\"><msg>&lol9;</mgs></msgQ></response></epp>";
    assert!(quarantine_reason(&email("poll", undefined)).contains("undefined entity"));
    let deep = format!("<epp>{}</ep>", "<a>".repeat(100_000));
    assert!(quarantine_reason(&email("poll", &deep)).contains("too deep"));
    let mismatched = format!("<epp>{}", "<a></b>".repeat(50_000));
    quarantine_reason(&email("poll", &mismatched));
}

/// What relayed mail needs read differently (issue 20) stays linear on hostile input:
/// format=flowed text whose every line is a soft break (one 8 MB line once unflowed),
/// HTML-only mail of unclosed elements, comments and `&nbsp;`-indented objects, a
/// reply quoting payload candidates (read twice: as it stands, then unquoted) and XML
/// whose closing tags all lost their `<`.
#[test]
fn relayed_mail_worst_cases_are_quarantined_in_bounded_time() {
    let flowed_line = "{\"object\": \"DOMAIN\", \"event_id\": \"a \r\n";
    let flowed = format!(
        "From: notifications@opensrs.net\r\nSubject: Event notification: DOMAIN: CREATED: 1\r\n\
         Content-Type: text/plain; format=flowed; delsp=yes\r\n\r\n{}",
        flowed_line.repeat((8 << 20) / flowed_line.len())
    );
    assert!(quarantine_reason(flowed.as_bytes()).contains("JSON"));

    let unit = "<div>&nbsp;{&nbsp;&quot;event_id&quot;:&nbsp;&quot;1<style><!-- x --><p class=x '>";
    let html = format!(
        "From: notifications@opensrs.net\r\nSubject: Event notification: DOMAIN: CREATED: 1\r\n\
         Content-Type: text/html\r\n\r\n{}<!-- never closed {}",
        unit.repeat((4 << 20) / unit.len()),
        "<script>".repeat(100_000)
    );
    quarantine_reason(html.as_bytes());

    let quoted = "> {\"event_id\": \"1\",\n> \u{a0}\"object\": [\n".repeat(200_000);
    quarantine_reason(&email(
        "Re: Event notification: DOMAIN: CREATED: 1",
        &quoted,
    ));

    let lost = format!("<response>{}", "<a><b>x/a>/c>".repeat(200_000));
    quarantine_reason(&email("AutoDNS", &lost));
}
