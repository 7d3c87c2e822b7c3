//! SQLite allocates through the process's allocator (mimalloc in the binary) instead of
//! the C library's malloc. Its page caches are allocated and freed from whichever blocking
//! thread runs a connection at the time; glibc's malloc gives each thread an arena of its
//! own and keeps what is freed in them: in the soak it held 56–81 MiB for the 16–32 MiB
//! SQLite used, growing day after day. Handed to one allocator that reuses memory across
//! threads, SQLite's memory is what it uses.
//!
//! Each block carries its size in a 16-byte header (SQLite asks a block's size back, and
//! Rust's deallocation needs it), as SQLite's own default allocator does with 8 bytes.

use std::alloc::{Layout, alloc, dealloc, realloc};
use std::os::raw::{c_int, c_void};

use rusqlite::ffi;

const HEADER: usize = 16;

fn layout(size: usize) -> Option<Layout> {
    Layout::from_size_align(size.checked_add(HEADER)?, HEADER).ok()
}

unsafe extern "C" fn x_malloc(n: c_int) -> *mut c_void {
    let Some(l) = usize::try_from(n).ok().and_then(layout) else {
        return std::ptr::null_mut();
    };
    // SAFETY: l has a non-zero size (at least the header).
    let p = unsafe { alloc(l) };
    if p.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: p is valid for l.size() bytes, aligned to 16.
    unsafe {
        (p as *mut usize).write(l.size() - HEADER);
        p.add(HEADER) as *mut c_void
    }
}

/// The header of a block x_malloc gave: its start and the size asked for.
///
/// # Safety
/// `p` must have come from x_malloc or x_realloc and not have been freed.
unsafe fn header(p: *mut c_void) -> (*mut u8, usize) {
    // SAFETY: per the contract, HEADER bytes precede p and start with its size.
    unsafe {
        let start = (p as *mut u8).sub(HEADER);
        (start, (start as *const usize).read())
    }
}

unsafe extern "C" fn x_free(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    // SAFETY: SQLite frees only what this allocator gave it.
    unsafe {
        let (start, size) = header(p);
        dealloc(start, layout(size).expect("a size that was allocated"));
    }
}

unsafe extern "C" fn x_realloc(p: *mut c_void, n: c_int) -> *mut c_void {
    if p.is_null() {
        // SAFETY: as malloc.
        return unsafe { x_malloc(n) };
    }
    let Some(new) = usize::try_from(n).ok().and_then(layout) else {
        return std::ptr::null_mut();
    };
    // SAFETY: p came from this allocator; the new layout has the same alignment.
    unsafe {
        let (start, size) = header(p);
        let q = realloc(
            start,
            layout(size).expect("a size that was allocated"),
            new.size(),
        );
        if q.is_null() {
            return std::ptr::null_mut();
        }
        (q as *mut usize).write(new.size() - HEADER);
        q.add(HEADER) as *mut c_void
    }
}

unsafe extern "C" fn x_size(p: *mut c_void) -> c_int {
    if p.is_null() {
        return 0;
    }
    // SAFETY: p came from this allocator.
    let size = unsafe { header(p).1 };
    c_int::try_from(size).unwrap_or(c_int::MAX)
}

unsafe extern "C" fn x_roundup(n: c_int) -> c_int {
    n.checked_add(7).map_or(n, |m| m & !7)
}

unsafe extern "C" fn x_init(_: *mut c_void) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_shutdown(_: *mut c_void) {}

/// Hands SQLite's allocations to the process's allocator. Must run before SQLite
/// initialises (before any connection opens); later it only returns SQLITE_MISUSE and
/// SQLite keeps the C library's malloc, which is harmless.
pub fn install() {
    let methods = ffi::sqlite3_mem_methods {
        xMalloc: Some(x_malloc),
        xFree: Some(x_free),
        xRealloc: Some(x_realloc),
        xSize: Some(x_size),
        xRoundup: Some(x_roundup),
        xInit: Some(x_init),
        xShutdown: Some(x_shutdown),
        pAppData: std::ptr::null_mut(),
    };
    // SAFETY: SQLite copies the struct before returning; the functions live forever.
    unsafe {
        ffi::sqlite3_config(ffi::SQLITE_CONFIG_MALLOC, &methods as *const _);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_keep_their_size_and_contents_through_realloc() {
        // SAFETY: the functions are used as SQLite uses them.
        unsafe {
            let p = x_malloc(10);
            assert!(!p.is_null());
            assert_eq!(x_size(p), 10);
            assert_eq!(p as usize % 8, 0);
            std::ptr::copy_nonoverlapping(b"0123456789".as_ptr(), p as *mut u8, 10);
            let q = x_realloc(p, 100_000);
            assert_eq!(x_size(q), 100_000);
            assert_eq!(
                std::slice::from_raw_parts(q as *const u8, 10),
                b"0123456789"
            );
            let r = x_realloc(q, 4);
            assert_eq!(std::slice::from_raw_parts(r as *const u8, 4), b"0123");
            x_free(r);
            x_free(std::ptr::null_mut());
            assert!(x_malloc(-1).is_null());
            assert_eq!(x_roundup(9), 16);
        }
    }
}
