//! The payload scanner over one text part (JSON with its repairs, XML and EPP roots,
//! Python literals, AutoDNS's standard text, Gandi's test sentence): never a panic, never
//! more work than its linear budget, no more memory than the bound per input byte.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mailroom::extract::fuzzing::{MEMORY_PER_BYTE, MEMORY_SLACK, scan, work_bound};

#[path = "../common/alloc.rs"]
mod alloc;

#[global_allocator]
static COUNTING: alloc::Counting = alloc::Counting;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let ((_, _, examined), peak) = alloc::peak_of(|| scan(&text));
    assert!(
        examined <= work_bound(text.len()),
        "examined {examined} bytes of a {}-byte text",
        text.len()
    );
    let bound = MEMORY_PER_BYTE * text.len() + MEMORY_SLACK;
    assert!(peak <= bound, "{peak} bytes live for {} input bytes", text.len());
});
