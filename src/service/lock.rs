//! One watcher per database: an exclusive lock on a file beside it, held while
//! `watch` runs and released by the kernel when the process ends, however it ends.

use std::path::{Path, PathBuf};

pub struct WatchLock(#[allow(dead_code)] std::fs::File);

impl WatchLock {
    pub fn acquire(db: &Path) -> anyhow::Result<WatchLock> {
        use std::os::fd::AsRawFd;
        // One lock file per database whatever its path's spelling (relative, through a
        // symlink): named after the canonical path of the database file.
        let canonical = std::fs::canonicalize(db).unwrap_or_else(|_| db.to_path_buf());
        let path = PathBuf::from(format!("{}.watch-lock", canonical.display()));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        // SAFETY: flock on a descriptor we own.
        let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r != 0 {
            anyhow::bail!(
                "another mailroom watch is running on {} ({} is locked)",
                db.display(),
                path.display()
            );
        }
        Ok(WatchLock(file))
    }
}
