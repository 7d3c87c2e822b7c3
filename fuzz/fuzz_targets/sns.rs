//! The Amazon SNS message reader and its string to sign.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = mailroom::channel::sns::parse(data) {
        let _ = m.string_to_sign();
        let _ = m.source_id();
    }
});
