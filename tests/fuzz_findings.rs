//! Inputs the coverage-guided fuzzers (scripts/fuzz.sh) found, each kept as a test named
//! after its finding in docs/RELIABILITY.md, so that what was fixed stays fixed.

use mailroom::extract::{extract, extract_strict};

fn finding(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/fuzz/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// extract-1: a forward whose attached notification is itself cut by the outer boundary
/// and carries a second `message/rfc822` part. mail-parser 0.11 reaches a state its
/// debug build asserts on ("Invalid part ID, could not find multipart") and its release
/// build recovers from; mailroom runs it as released, so the message is read, not turned
/// into an internal error.
#[test]
fn regression_extract_1_nested_rfc822_under_a_cut_boundary() {
    let raw = finding("extract-1.eml");
    let found = extract_strict(&raw);
    // The JSON the fuzzer mangled sits among the attached message's headers: nothing to
    // store, so quarantined with the reason a person can act on.
    assert!(found.events.is_empty(), "{:?}", found.events);
    let reason = found.reason.expect("a quarantine reason");
    assert!(reason.contains("closest extractor opensrs"), "{reason}");
    // The guarded entry point says the same: no panic was caught on the way.
    assert_eq!(extract(&raw).reason.as_deref(), Some(reason.as_str()));
}
