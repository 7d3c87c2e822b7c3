//! The HTTP server's request parts read by hand: percent-decoding and forms.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = mailroom::web::percent_decode(s);
        let _ = mailroom::web::form(s);
    }
});
