//! Parse + extract throughput over the golden samples mix, one thread.
//! `cargo bench --bench extract` prints messages/s; docs/BENCHMARKS.md records it.

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
}
