//! The process figures Prometheus's client libraries export under these names
//! (`process_resident_memory_bytes`, `process_open_fds`, `process_start_time_seconds`),
//! read from `/proc/self`.

/// Resident memory in bytes (`/proc/self/statm`, second field, in pages).
pub fn resident_bytes() -> Option<f64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    (page > 0).then_some(pages * page as f64)
}

/// Open file descriptors (entries of `/proc/self/fd`).
pub fn open_fds() -> Option<f64> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as f64)
}

/// When the process started, in seconds since the epoch: boot time (`btime` of
/// `/proc/stat`) plus field 22 of `/proc/self/stat` (clock ticks since boot).
pub fn start_time_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces: fields are counted after its closing ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    let ticks: f64 = after.split_whitespace().nth(19)?.parse().ok()?;
    let boot: f64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then_some(boot + ticks / hz as f64)
}

/// The C library's heap (glibc's malloc: what C code other than SQLite allocates; the
/// binary's Rust allocations and SQLite's go to mimalloc): (bytes in use, bytes it holds
/// from the system). Their difference is memory freed but kept, in holes or per-thread
/// arenas; RSS growing with the first flat is fragmentation, not a leak.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn heap_bytes() -> Option<(f64, f64)> {
    // SAFETY: mallinfo2 only reads the allocator's statistics (taking its locks).
    let m = unsafe { libc::mallinfo2() };
    Some(((m.uordblks + m.hblkhd) as f64, (m.arena + m.hblkhd) as f64))
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn heap_bytes() -> Option<(f64, f64)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_memory_descriptors_and_a_start_in_the_past() {
        assert!(resident_bytes().unwrap() > 1e6);
        assert!(open_fds().unwrap() >= 3.0);
        let start = start_time_seconds().unwrap();
        #[allow(clippy::disallowed_methods)]
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            start <= now + 1.0 && start > now - 86400.0 * 365.0,
            "{start} {now}"
        );
    }
}
