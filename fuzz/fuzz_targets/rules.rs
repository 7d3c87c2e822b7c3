//! The rule-file loader: any text is rules or a list of file:line:column errors.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        match mailroom::rules::load_str(std::path::Path::new("/nonexistent/rules/10.toml"), s) {
            Ok(_) => {}
            Err(e) => assert!(!e.errors.is_empty()),
        }
    }
});
