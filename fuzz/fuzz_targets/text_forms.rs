//! Text the extractors read before the payload: HTML to text, format=flowed.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = mailroom::extract::html::to_text(s);
        let _ = mailroom::extract::flowed::unflow(s, false);
        let _ = mailroom::extract::flowed::unflow(s, true);
    }
});
