//! The Python-literal reader (Gandi's dicts) alone.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data)
        && let Ok((v, used)) = mailroom::extract::pyliteral::parse_prefix(s)
    {
        assert!(used <= s.len());
        let _ = serde_json::to_string(&v).unwrap();
    }
});
