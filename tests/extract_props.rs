//! Property tests over the extractor entry point: whatever the bytes, `extract` returns
//! (no panic, no hang) and either events or a one-line quarantine reason. Inputs are
//! random bytes and random mutations of the golden samples, which reach far deeper
//! into the MIME and payload parsers than random bytes do.

use std::path::Path;

use mailroom::extract::extract_strict;
use proptest::prelude::*;

fn seeds() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in [
        "samples",
        "samples/extra",
        "samples/relayed",
        "samples/malformed",
        "tests/corpora/mime-robustness/malformed",
    ] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        paths.sort();
        for p in paths
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        {
            out.push(std::fs::read(p).unwrap());
        }
    }
    assert!(!out.is_empty());
    out
}

fn check(raw: &[u8]) {
    let found = extract_strict(raw);
    if found.events.is_empty() {
        let reason = found.reason.expect("no events and no reason");
        assert!(
            !reason.is_empty() && !reason.contains('\n'),
            "bad reason {reason:?}"
        );
    } else {
        assert!(found.reason.is_none());
        for e in &found.events {
            assert!(!e.event_id.is_empty());
            assert!(!e.topic.is_empty());
        }
    }
}

/// One edit of a message.
#[derive(Debug, Clone)]
enum Edit {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Repeat(usize, usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let noise = prop_oneof![
        Just(b"{".to_vec()),
        Just(b"}".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"'".to_vec()),
        Just(b"<".to_vec()),
        Just(b"</".to_vec()),
        Just(b"\\".to_vec()),
        Just(b"=\r\n".to_vec()),
        Just(b"\r\n--".to_vec()),
        Just(b"&lt;".to_vec()),
        Just(b"u'".to_vec()),
        Just("\u{e9}\u{1F600}".as_bytes().to_vec()),
        proptest::collection::vec(any::<u8>(), 1..16),
    ];
    prop_oneof![
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
        (any::<usize>(), noise).prop_map(|(i, n)| Edit::Insert(i, n)),
        (any::<usize>(), 1usize..64).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<usize>(), 1usize..64, 1usize..50).prop_map(|(i, n, k)| Edit::Repeat(i, n, k)),
    ]
}

fn apply(mut raw: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let len = raw.len().max(1);
        match e {
            Edit::Truncate(i) => raw.truncate(i % len),
            Edit::Flip(i, b) if !raw.is_empty() => raw[i % len] ^= b,
            Edit::Flip(..) => {}
            Edit::Insert(i, bytes) => {
                let at = i % (raw.len() + 1);
                raw.splice(at..at, bytes.iter().copied());
            }
            Edit::Delete(i, n) => {
                let at = i % len;
                let end = (at + n).min(raw.len());
                if at < end {
                    raw.drain(at..end);
                }
            }
            Edit::Repeat(i, n, k) => {
                let at = i % len;
                let end = (at + n).min(raw.len());
                if at < end {
                    let chunk = raw[at..end].to_vec();
                    for _ in 0..*k {
                        raw.splice(end..end, chunk.iter().copied());
                    }
                }
            }
        }
    }
    raw
}

proptest! {
    // 2,000 cases per property in the suite; PROPTEST_CASES=1000000 for a long run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..4096)) {
        check(&raw);
    }

    #[test]
    fn mutated_samples_never_panic(
        pick in any::<proptest::sample::Index>(),
        edits in proptest::collection::vec(edit(), 1..8),
    ) {
        let seeds = seeds();
        let raw = apply(seeds[pick.index(seeds.len())].clone(), &edits);
        check(&raw);
    }
}
