//! The XML reader (OpenSRS, AutoDNS XML and EPP) alone, strict and forgiving.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok((_, used)) = mailroom::extract::xml::parse_document(s) {
            assert!(used <= s.len());
        }
        if let Ok((_, used)) = mailroom::extract::xml::parse_document_tolerant(s) {
            assert!(used <= s.len());
        }
    }
});
