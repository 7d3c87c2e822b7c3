//! Whole-message extraction: bytes → events, never a panic; and what `parse --json`
//! prints of the events always reads back as the same JSON.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let x = mailroom::extract::extract_strict(data);
    for e in x.events.iter().chain(&x.conflicts) {
        let text = serde_json::to_string(e).expect("an event serializes");
        let back: serde_json::Value = serde_json::from_str(&text).expect("its JSON re-parses");
        assert_eq!(back, serde_json::to_value(e).unwrap());
    }
});
