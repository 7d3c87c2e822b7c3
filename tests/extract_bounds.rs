//! Extraction's memory is bounded per input byte: the most bytes live at once while one
//! message is read stay under [`BYTES_PER_BYTE`] × its size plus [`SLACK`], on every
//! sample, every public odd-MIME message and inputs made to blow up parsers. The fuzz
//! targets `extract` and `scan` assert the same bound on what they generate.

#[path = "../fuzz/common/alloc.rs"]
mod alloc;

#[global_allocator]
static COUNTING: alloc::Counting = alloc::Counting;

use std::path::Path;

use mailroom::extract::extract_strict;

fn inputs() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let mut stack = vec![
        root.join("samples"),
        root.join("tests/corpora"),
        root.join("tests/data"),
    ];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(raw) = std::fs::read(&p) {
                out.push((p.display().to_string(), raw));
            }
        }
    }
    out
}

fn hostile() -> Vec<(String, Vec<u8>)> {
    let head = "From: OpenSRS <do_not_reply@opensrs.net>\r\nSubject: Event notification\r\nContent-Type: text/plain\r\n\r\n";
    let n = 200_000;
    let mut v: Vec<(String, String)> = vec![
        ("headers".into(), "a:b\r\n".repeat(n) + "\r\nbody"),
        (
            "json zeros".into(),
            format!("{head}{{\"a\":[{}0]}}", "0,".repeat(n)),
        ),
        (
            "json nesting".into(),
            format!("{head}{{\"a\":{}", "[".repeat(n)),
        ),
        (
            "json keys".into(),
            format!(
                "{head}{{{}\"z\":1}}",
                (0..n / 4)
                    .map(|i| format!("\"{i}\":1,"))
                    .collect::<String>()
            ),
        ),
        (
            "xml elements".into(),
            format!("{head}<?xml version=\"1.0\"?><r>{}</r>", "<a/>".repeat(n)),
        ),
        (
            "xml attrs".into(),
            format!(
                "{head}<?xml version=\"1.0\"?><r {}/>",
                (0..n / 4)
                    .map(|i| format!("a{i}=\"\" "))
                    .collect::<String>()
            ),
        ),
        (
            "py list".into(),
            format!("{head}{{'a': [{}0]}}", "0,".repeat(n)),
        ),
        (
            "py dict".into(),
            format!(
                "{head}{{{}'z': 1}}",
                (0..n / 4).map(|i| format!("'{i}':1,")).collect::<String>()
            ),
        ),
        ("kv lines".into(), format!("{head}{}", "a: b\n".repeat(n))),
        (
            "parts".into(),
            format!(
                "Content-Type: multipart/mixed; boundary=b\r\n\r\n{}--b--\r\n",
                "--b\r\n\r\nx\r\n".repeat(n / 4)
            ),
        ),
        (
            "nested parts".into(),
            (0..2000)
                .map(|i| format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n"))
                .collect(),
        ),
        (
            "rfc822".into(),
            "Content-Type: message/rfc822\r\n\r\n".repeat(5000),
        ),
        ("braces".into(), format!("{head}{}", "{\"".repeat(n))),
        (
            "xml roots".into(),
            format!("{head}{}", "<epp ".repeat(n / 2)),
        ),
    ];
    // A notification whose payload is huge, and a message of many notifications.
    let mail = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/samples/opensrs-domain-created.eml"
    ))
    .unwrap();
    let id = "\"domain_id\":\"38391945\"";
    let array = format!("\"domain_id\":[{}0]", "0,".repeat(n));
    v.push(("event with a big array".into(), mail.replace(id, &array)));
    let keys: Vec<String> = (0..n / 4).map(|i| format!("\"{i}\":1")).collect();
    v.push((
        "event with many keys".into(),
        mail.replace(id, &keys.join(",")),
    ));
    let one =
        "{\"object_data\":{},\"object\":\"DOMAIN\",\"event_id\":\"x\",\"event\":\"CREATED\"}\n";
    v.push((
        "many events".into(),
        mail.replace("{\"object_data\"", &one.repeat(2000)),
    ));
    v.push((
        "b64".into(),
        format!(
            "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
            "QUJD\r\n".repeat(n)
        ),
    ));
    v.push((
        "qp".into(),
        format!(
            "Content-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{}",
            "<p>=3D</p>=\r\n".repeat(n / 4)
        ),
    ));
    v.into_iter().map(|(a, b)| (a, b.into_bytes())).collect()
}

use mailroom::extract::fuzzing::{MEMORY_PER_BYTE as BYTES_PER_BYTE, MEMORY_SLACK as SLACK};

fn check(name: &str, raw: &[u8]) {
    let (_, peak) = alloc::peak_of(|| extract_strict(raw));
    let bound = BYTES_PER_BYTE * raw.len() + SLACK;
    assert!(
        peak <= bound,
        "{name}: {peak} bytes live at once for {} input bytes (bound {bound})",
        raw.len()
    );
}

#[test]
fn every_sample_and_corpus_message_stays_within_the_bound() {
    let all = inputs();
    assert!(all.len() > 100, "{} inputs", all.len());
    for (name, raw) in all {
        check(&name, &raw);
    }
}

#[test]
fn inputs_made_to_blow_up_the_parsers_stay_within_the_bound() {
    for (name, raw) in hostile() {
        assert!(raw.len() > 100_000, "{name}");
        check(&name, &raw);
    }
}

/// The counter itself counts: a test that could not fail otherwise.
#[test]
fn the_counter_sees_an_allocation() {
    let (v, peak) = alloc::peak_of(|| vec![0u8; 1 << 20]);
    assert!(peak >= 1 << 20 && v.len() == 1 << 20, "{peak}");
}
