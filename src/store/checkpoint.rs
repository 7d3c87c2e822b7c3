//! WAL checkpoints on a thread of their own, beside the service or an import, so no
//! commit on the intake path ever waits for one.

use rusqlite::{Connection, OpenFlags};

use super::{Result, Store, StoreError};

static CHECKPOINTERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

pub(super) fn checkpointer_running() -> bool {
    CHECKPOINTERS.load(std::sync::atomic::Ordering::SeqCst) > 0
}

/// Copies the WAL into the database file on a thread of its own (PASSIVE checkpoints:
/// they never block a writer or a reader), so no commit on the intake path waits for
/// one. Stopped when dropped.
pub struct Checkpointer {
    state: std::sync::Arc<(std::sync::Mutex<CheckpointState>, std::sync::Condvar)>,
    /// Held while a checkpoint runs (the thread's, or a writer's `catch_up`).
    running: std::sync::Arc<std::sync::Mutex<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct CheckpointState {
    poked: bool,
    /// A writer waits for this poke's commit to be copied (`Checkpointer::hurry`): no gap.
    hurried: bool,
    stop: bool,
    /// Commits said so far (`poke`), and how many of them the thread has copied whole.
    pokes: u64,
    copied: u64,
}

/// Checkpoints run after commits, at most one per `CHECKPOINT_GAP`, and at least every
/// `CHECKPOINT_EVERY`.
const CHECKPOINT_GAP: std::time::Duration = std::time::Duration::from_secs(1);
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

impl Checkpointer {
    /// Starts checkpointing `store`'s database; `store` and every connection opened
    /// from now on leave checkpoints to it.
    pub fn start(store: &Store) -> Result<Checkpointer> {
        let path = store.path();
        store.conn().pragma_update(None, "wal_autocheckpoint", 0)?;
        let conn = Connection::open_with_flags(path, OpenFlags::default()).map_err(|source| {
            StoreError::Open {
                path: path.to_path_buf(),
                source,
            }
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(1))?;
        CHECKPOINTERS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let state = std::sync::Arc::new((
            std::sync::Mutex::new(CheckpointState::default()),
            std::sync::Condvar::new(),
        ));
        let theirs = std::sync::Arc::clone(&state);
        let running = std::sync::Arc::new(std::sync::Mutex::new(()));
        let their_running = std::sync::Arc::clone(&running);
        let thread = std::thread::Builder::new()
            .name("checkpoint".into())
            .spawn(move || checkpoint_loop(&conn, &theirs, &their_running))
            .map_err(|e| StoreError::File(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Checkpointer {
            state,
            running,
            thread: Some(thread),
        })
    }

    /// For a writer that never pauses (`import`): the WAL restarts from its beginning
    /// only when a write transaction begins with every frame copied, which the
    /// checkpoint thread, always a commit behind, never sees; a WAL of gigabytes makes
    /// every page lookup slower. So now and then a writer waits for the thread to copy
    /// a big commit (`hurry`, then `copied`) while it goes on working, commits the
    /// little it did meanwhile, and copies that on its own connection with this, so the
    /// next transaction starts the WAL afresh. (Copying the big commit here instead
    /// stalled the writer for a third of a second each time.)
    pub fn catch_up(&self, conn: &Connection) {
        // After the thread's checkpoint (a busy checkpoint lock would make this one
        // do nothing), so only what was committed since is left to copy.
        let _running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    }

    /// Says a commit happened: a checkpoint follows within a second. Returns the
    /// commit's number, for `copied`.
    pub fn poke(&self) -> u64 {
        let (lock, cvar) = &*self.state;
        let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
        s.poked = true;
        s.pokes += 1;
        cvar.notify_one();
        s.pokes
    }

    /// Asks the thread to copy what is committed now, without its usual gap.
    pub fn hurry(&self) {
        let (lock, cvar) = &*self.state;
        let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
        s.poked = true;
        s.hurried = true;
        cvar.notify_one();
    }

    /// True once the thread has copied into the database everything committed up to
    /// commit `poke` (the number `poke` returned).
    pub fn copied(&self, poke: u64) -> bool {
        let (lock, _) = &*self.state;
        lock.lock().unwrap_or_else(|e| e.into_inner()).copied >= poke
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        {
            let (lock, cvar) = &*self.state;
            lock.lock().unwrap_or_else(|e| e.into_inner()).stop = true;
            cvar.notify_one();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        CHECKPOINTERS.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

fn checkpoint_loop(
    conn: &Connection,
    state: &(std::sync::Mutex<CheckpointState>, std::sync::Condvar),
    running: &std::sync::Mutex<()>,
) {
    let (lock, cvar) = state;
    let mut last = std::time::Instant::now();
    let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if s.stop {
            return;
        }
        // At most one checkpoint a second after commits (each copies a hot page once,
        // however many commits wrote it since the last), and one every few seconds.
        let since = last.elapsed();
        let due = if s.hurried {
            std::time::Duration::ZERO
        } else if s.poked {
            CHECKPOINT_GAP.saturating_sub(since)
        } else {
            CHECKPOINT_EVERY.saturating_sub(since)
        };
        if !due.is_zero() {
            s = cvar
                .wait_timeout(s, due)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            continue;
        }
        s.poked = false;
        s.hurried = false;
        let upto = s.pokes;
        drop(s);
        let whole = {
            let _running = running.lock().unwrap_or_else(|e| e.into_inner());
            // (busy, frames in the WAL, frames copied): whole when nothing is left.
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok(r.get::<_, i64>(0)? == 0 && r.get::<_, i64>(1)? == r.get::<_, i64>(2)?)
            })
            .unwrap_or(false)
        };
        last = std::time::Instant::now();
        s = lock.lock().unwrap_or_else(|e| e.into_inner());
        if whole {
            s.copied = s.copied.max(upto);
        }
    }
}
