//! Whole-message extraction: bytes → events, never a panic; what `parse --json` prints
//! of the events always reads back as the same JSON; and no more memory live at once than
//! `MEMORY_PER_BYTE` per input byte (plus `MEMORY_SLACK`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mailroom::extract::fuzzing::{MEMORY_PER_BYTE, MEMORY_SLACK};

#[path = "../common/alloc.rs"]
mod alloc;

#[global_allocator]
static COUNTING: alloc::Counting = alloc::Counting;

fuzz_target!(|data: &[u8]| {
    let (x, peak) = alloc::peak_of(|| mailroom::extract::extract_strict(data));
    let bound = MEMORY_PER_BYTE * data.len() + MEMORY_SLACK;
    assert!(peak <= bound, "{peak} bytes live for {} input bytes", data.len());
    for e in x.events.iter().chain(&x.conflicts) {
        let text = serde_json::to_string(e).expect("an event serializes");
        let back: serde_json::Value = serde_json::from_str(&text).expect("its JSON re-parses");
        assert_eq!(back, serde_json::to_value(e).unwrap());
    }
});
