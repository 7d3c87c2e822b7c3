//! The one reconnect loop: runs a channel's `watch` until shutdown, and after each
//! failure records it (`mailroom status`, `/metrics`), logs it, and runs it again after
//! a capped exponential backoff with jitter — from the shortest delay again once the
//! channel said it was working ([`Health`]), never in a tight loop, and slowly (at
//! least a minute) for what only a person can fix (a password, a certificate, a
//! missing folder).

use std::future::Future;
use std::time::Duration;

use crate::channel::{Failure, Health};
use crate::ingest::intake::Intake;
use crate::shutdown::Shutdown;

/// How long a channel may take to finish once a stop is asked for: a server that says
/// nothing (a handshake, a fetch stuck for the whole command timeout) must not hold the
/// service. What is committed stays; an IMAP `seen`/`move` left undone is finished on
/// the next start, a registrar message not yet acknowledged is served again.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// Whose failures these are, for the records and the log.
pub struct Task {
    /// The source's name (account, `[[maildir]]`, `[[poll]]`).
    pub source: String,
    /// The folders it watches (several for an IMAP account's shared connection), or
    /// one empty name for sources without folders. A failure is recorded on each.
    pub folders: Vec<String>,
    /// What kind of source, for the log line (`IMAP error`, `poll error`, …).
    pub kind: &'static str,
}

/// Runs `watch` (given a health flag and the stop) until it returns `Ok` at shutdown.
pub async fn supervise<E, F, Fut>(intake: Intake, mut shutdown: Shutdown, task: Task, mut watch: F)
where
    E: Failure,
    F: FnMut(Health, Shutdown) -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let max = intake
        .config
        .watch
        .max_reconnect_delay
        .max(Duration::from_secs(1));
    let mut delay = Duration::from_secs(1);
    let health = Health::default();
    loop {
        let mut stop = shutdown.clone();
        let abandon = async move {
            stop.recv().await;
            tokio::time::sleep(STOP_WAIT).await;
        };
        let result = tokio::select! {
            r = watch(health.clone(), shutdown.clone()) => r,
            _ = abandon => {
                tracing::warn!(source = %task.source, folder = %task.folders.join(", "), "stopping without waiting for the server");
                return;
            }
        };
        let Err(e) = result else { return };
        if health.take() {
            delay = Duration::from_secs(1);
        }
        let message = e.to_string();
        for folder in &task.folders {
            let _ = intake.failed(&task.source, folder, &message);
            intake.live.source_error(&task.source, folder);
        }
        let wait = if e.needs_a_person() {
            delay.max(Duration::from_secs(60))
        } else {
            delay
        }
        .min(max);
        tracing::error!(
            source = %task.source,
            folder = %task.folders.join(", "),
            error = %message,
            retry_in_s = wait.as_secs_f32(),
            "{} error",
            task.kind
        );
        let jitter = Duration::from_millis(fastrand::u64(0..=wait.as_millis() as u64 / 5 + 1));
        if shutdown.sleep(wait + jitter).await {
            return;
        }
        delay = (delay * 2).min(max);
    }
}
