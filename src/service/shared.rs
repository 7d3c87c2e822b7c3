//! What an instance does beside its tasks when the store is shared (PostgreSQL): it
//! says it is alive every third of `[store] lease` (another instance takes over the
//! deliveries it claimed once it stops saying so), and it listens for the other
//! instances' commits (`LISTEN mailroom_outbox`: a new delivery is sent by whichever
//! instance is free first), with the delivery task's own timer as the fallback.

use std::path::Path;
use std::time::Duration;

use crate::config::Config;
use crate::ingest::intake::Intake;
use crate::shutdown::Shutdown;
use crate::store::{self, Store, leases, outbox};

use store::pg::NOTIFY_CHANNEL as CHANNEL;

fn me() -> (String, String, u32) {
    let id = outbox::holder();
    let host = id.rsplitn(3, ':').nth(2).unwrap_or("localhost").to_string();
    (id, host, std::process::id())
}

/// Starts the heartbeat (on a thread of its own: it must beat while the runtime is
/// busy) until `stop` fires.
pub fn start(db: &Path, config: &Config, stop: Shutdown) {
    let db = db.to_path_buf();
    let every = (config.store.lease / 3).max(Duration::from_secs(1));
    let _ = std::thread::Builder::new()
        .name("heartbeat".into())
        .spawn(move || {
            let (id, host, pid) = me();
            let mut store: Option<Store> = None;
            loop {
                if store.as_ref().is_none_or(Store::is_broken) {
                    store = Store::open(&db).ok();
                }
                if let Some(s) = &store
                    && let Err(e) = leases::alive(s.db(), &id, &host, pid)
                {
                    tracing::warn!(error = %e, "this instance could not say it is alive");
                    store = None;
                }
                if stop.wait_blocking(every) {
                    return;
                }
            }
        });
}

/// A clean stop: this instance is gone at once (its leases and claims free for others).
pub fn gone(db: &Path) {
    let (id, _, _) = me();
    if let Ok(s) = Store::open(db) {
        let _ = leases::gone(s.db(), &id);
    }
}

/// Wakes `intake`'s delivery whenever another commit queued something, until `stop`.
/// A lost connection is made again (with a growing pause); meanwhile the delivery
/// task's timer finds the work.
pub fn listen(db: &Path, intake: Intake, stop: Shutdown) {
    let Some(url) = store::pg_url(db).map(str::to_string) else {
        return;
    };
    if store::pg::target(&url).pooled {
        // A pool in transaction mode hands LISTEN's session to others: delivery polls.
        tracing::info!(
            "[store] pool_mode = \"transaction\": deliveries queued by other instances are found by polling"
        );
        return;
    }
    let _ = std::thread::Builder::new()
        .name("listen".into())
        .spawn(move || {
            let mut pause = Duration::from_secs(1);
            loop {
                match listen_once(&url, &intake, &stop) {
                    Ok(()) => return,
                    Err(e) => tracing::warn!(error = %e, "not listening for other instances' deliveries; trying again"),
                }
                if stop.wait_blocking(pause) {
                    return;
                }
                pause = (pause * 2).min(Duration::from_secs(60));
            }
        });
}

fn listen_once(url: &str, intake: &Intake, stop: &Shutdown) -> Result<(), String> {
    let target = store::pg::target(url);
    let mut client = target.connect()?;
    client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .map_err(|e| store::to_postgres::pg_reason(&e))?;
    loop {
        {
            use postgres::fallible_iterator::FallibleIterator;
            let mut notes = client.notifications();
            let mut it = notes.timeout_iter(Duration::from_secs(1));
            while it
                .next()
                .map_err(|e| store::to_postgres::pg_reason(&e))?
                .is_some()
            {
                intake.wake_delivery();
                if stop.is_shutdown() {
                    return Ok(());
                }
            }
        }
        if stop.is_shutdown() {
            return Ok(());
        }
        if client.is_closed() {
            return Err("the connection was closed".into());
        }
    }
}
