//! The config loader: any text is a config or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = mailroom::config::Config::from_text(
            std::path::Path::new("/nonexistent/mailroom.toml"),
            s.to_string(),
        );
    }
});
