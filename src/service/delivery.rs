//! The delivery task: works off the outbox and closes digest periods, waking when a
//! channel commits events (the intake's wake-up), when something falls due, and at
//! least every 30 s. It runs on a thread and runtime of its own: its database work (a
//! claim, a record, waiting for a write lock another process holds) never occupies the
//! service's runtime threads the channels share.

use std::time::Duration;

use crate::clock;
use crate::deliver::{Deliverer, digest};
use crate::ingest::intake::Intake;
use crate::shutdown::Shutdown;
use crate::store::{Store, outbox};

/// Longest sleep between two looks at the outbox.
const IDLE: Duration = Duration::from_secs(30);

pub async fn run(intake: Intake, shutdown: Shutdown) {
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("delivery".into())
        .spawn(move || {
            // Multi-threaded (one worker) so that a blocking database client may run
            // on this thread (`store::db::off_runtime`).
            match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(work(intake, shutdown)),
                Err(e) => tracing::error!(error = %e, "delivery not started: no runtime"),
            }
            let _ = done.send(());
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "delivery not started: no thread");
        return;
    }
    let _ = finished.await;
}

async fn work(intake: Intake, mut shutdown: Shutdown) {
    // A connection of its own, held across the sends (which await).
    let mut store = match Store::open(intake.db()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot open the database");
            return;
        }
    };
    let deliverer = match Deliverer::new(&intake.config, &store) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "delivery is not set up; nothing will be sent");
            return;
        }
    };
    let rules = std::sync::Arc::clone(&intake.rules);
    const SEARCH_BATCH: i64 = 2000;
    loop {
        let now = clock::now();
        if let Err(e) = digest::tick(&mut store, &rules.digests, now) {
            tracing::error!(error = %e, "digest");
        }
        if let Err(e) = deliverer.run_due(&mut store).await {
            tracing::error!(error = %e, "delivery");
        }
        let mut wait = IDLE;
        // The search index follows new events in small batches, off the ingest path;
        // a backlog (a big catch-up) is worked through without waiting.
        match crate::store::search::catch_up(store.db(), SEARCH_BATCH) {
            Ok(n) if n >= SEARCH_BATCH => wait = Duration::from_millis(20),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "search index: will try again"),
        }
        if let Ok(Some(next)) = outbox::next_due(store.db())
            && let Ok(t) = chrono::DateTime::parse_from_rfc3339(&next)
        {
            let d = (t.with_timezone(&chrono::Utc) - clock::now())
                .to_std()
                .unwrap_or(Duration::ZERO);
            wait = wait.min(d.max(Duration::from_millis(50)));
        }
        for d in &rules.digests {
            if let Some(b) = d.schedule.next_boundary(clock::now()) {
                let until = (b - clock::now()).to_std().unwrap_or(Duration::ZERO)
                    + Duration::from_millis(100);
                wait = wait.min(until);
            }
        }
        tokio::select! {
            _ = intake.delivery_wanted() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.recv() => return,
        }
    }
}
