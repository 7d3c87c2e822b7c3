//! The DER reader of signing certificates (SNS).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = mailroom::der::certificate(data) {
        assert!(c.rsa_public_key.len() <= data.len());
    }
});
