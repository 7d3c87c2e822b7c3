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

/// extract-2: an AutoDNS notification whose message id is a 74-digit number, read as a
/// float. serde_json's default float reading is fast but not always correctly rounded:
/// it read the digits as 1.0177777777777779e73 (not the nearest double), `parse --json`
/// printed that, and reading the output gave 1.017777777777778e73, another number. With serde_json's `float_roundtrip` what is
/// printed reads back as the same value.
#[test]
fn regression_extract_2_a_huge_number_reads_back_as_printed() {
    let raw = finding("extract-2.eml");
    let found = extract_strict(&raw);
    assert_eq!(found.events.len(), 1, "{:?}", found.reason);
    for e in &found.events {
        let value = serde_json::to_value(e).unwrap();
        let text = serde_json::to_string(e).unwrap();
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value, "{text}");
        // The double nearest the 74 digits, as Python's float() reads them too.
        assert_eq!(value["data"]["id"].as_f64(), Some(1.0177777777777777e73));
    }
}

/// der-1: an SNS signing certificate whose validity's UTCTime holds a two-byte UTF-8
/// character where the year ends. The time reader cut the text after two bytes, inside
/// the character, and panicked; now a time that is not all digits is no time (here both
/// are broken: the other holds a `;`), and the rest of the certificate reads.
#[test]
fn regression_der_1_a_non_digit_in_a_certificate_time() {
    let raw = finding("der-1.der");
    let cert = mailroom::der::certificate(&raw).expect("the rest of the certificate reads");
    assert_eq!(
        cert.not_before, None,
        "a time with a non-digit read as a time"
    );
    assert_eq!(
        cert.not_after, None,
        "a time with a non-digit read as a time"
    );
    assert_eq!(
        cert.rsa_public_key.len(),
        270,
        "the RSA key is where it was"
    );
}
