//! Parse + extract throughput over the golden samples mix, one thread; then the
//! worst cases: texts built so every payload candidate makes the parsers read far and
//! fail (issue 9), timed per MiB of input.
//! `cargo bench --bench extract` prints both; docs/BENCHMARKS.md records them.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

// The same allocator as the mailroom binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // `cargo test --all-targets` and nextest list targets: a benchmark has no tests.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let mut mix: Vec<Vec<u8>> = Vec::new();
    for dir in [root.clone(), root.join("extra"), root.join("malformed")] {
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .expect("samples/")
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        paths.sort();
        mix.extend(paths.iter().map(|p| std::fs::read(p).unwrap()));
    }
    let bytes: usize = mix.iter().map(Vec::len).sum();
    let mut events = 0usize;
    // Warm up, then measure whole passes over the mix for at least three seconds.
    for raw in &mix {
        events += mailroom::extract::extract(raw).events.len();
    }
    let per_pass = events;
    let started = Instant::now();
    let mut messages = 0usize;
    while started.elapsed() < Duration::from_secs(3) {
        for raw in &mix {
            black_box(mailroom::extract::extract(black_box(raw)));
        }
        messages += mix.len();
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "extract: {} messages ({} KiB, {per_pass} events per pass), {:.0} messages/s, {:.1} MiB/s, {:.2} µs/message",
        mix.len(),
        bytes / 1024,
        messages as f64 / secs,
        (messages as f64 / mix.len() as f64) * bytes as f64 / secs / (1 << 20) as f64,
        secs * 1e6 / messages as f64
    );
    adversarial();
}

/// One text part holding `text`.
fn one_part(text: &str) -> Vec<u8> {
    format!("From: a@example.com\r\nSubject: x\r\nContent-Type: text/plain\r\n\r\n{text}\r\n")
        .into_bytes()
}

/// `parts` text parts, each holding `text`.
fn many_parts(text: &str, parts: usize) -> Vec<u8> {
    let mut m = String::from(
        "From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n",
    );
    for _ in 0..parts {
        m.push_str("--b\r\nContent-Type: text/plain\r\n\r\n");
        m.push_str(text);
        m.push_str("\r\n");
    }
    m.push_str("--b--\r\n");
    m.into_bytes()
}

fn adversarial() {
    let pad = "x".repeat(1 << 20);
    let texts: Vec<(&str, String)> = vec![
        ("`{\"` x 20000 + 1 MiB", "{\"".repeat(20_000) + &pad),
        (
            "`{\"` x 20000 + LF + 1 MiB",
            "{\"".repeat(20_000) + "\n" + &pad,
        ),
        ("`{\"a LF` x 20000 + 1 MiB", "{\"a\n".repeat(20_000) + &pad),
        ("`{'` x 20000 + 1 MiB", "{'".repeat(20_000) + &pad),
        (
            "(`{\"` LF + 2 KiB) x 512",
            format!("{{\"\n{}", "x".repeat(2048)).repeat(512),
        ),
        (
            "`<response>` x 20000 + 1 MiB",
            "<response>".repeat(20_000) + &pad,
        ),
        ("`<epp ` x 20000 + 1 MiB", "<epp ".repeat(20_000) + &pad),
    ];
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, text) in &texts {
        cases.push((format!("1 part, {name}"), one_part(text)));
    }
    let broken = "{\"".repeat(512) + "\n" + &"x".repeat(1 << 20);
    cases.push((
        "40 parts, each `{\"` x 512 + LF + 1 MiB".into(),
        many_parts(&broken, 40),
    ));
    let spread = format!("{{\"\n{}", "x".repeat(2048)).repeat(512);
    cases.push((
        "40 parts, each (`{\"` LF + 2 KiB) x 512".into(),
        many_parts(&spread, 40),
    ));
    let mut worst = 0f64;
    for (name, raw) in &cases {
        let mib = raw.len() as f64 / (1 << 20) as f64;
        let started = Instant::now();
        let mut runs = 0;
        while runs < 3 || started.elapsed() < Duration::from_secs(1) {
            black_box(mailroom::extract::extract(black_box(raw)));
            runs += 1;
        }
        let secs = started.elapsed().as_secs_f64() / runs as f64;
        worst = worst.max(secs / mib);
        println!(
            "adversarial: {name}: {mib:.1} MiB in {:.1} ms = {:.0} ms/MiB",
            secs * 1e3,
            secs * 1e3 / mib
        );
    }
    println!(
        "adversarial: worst {:.0} ms of CPU per MiB (aim: well under 1000)",
        worst * 1e3
    );
}
