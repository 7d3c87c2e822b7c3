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

impl Task {
    /// The source as an alert names it.
    fn alerted(&self) -> super::alerts::Source<'_> {
        super::alerts::Source {
            source: &self.source,
            folder: self.folders.join(", "),
            kind: self.kind,
        }
    }
}

/// A failure period of a source: since when, and whether it was raised as an alert.
struct Failing {
    since: chrono::DateTime<chrono::Utc>,
    alerted: bool,
}

impl Task {
    /// The source's lease key: the source and its folders.
    fn lease_key(&self) -> String {
        format!("{}/{}", self.source, self.folders.join(","))
    }
}

/// Runs `watch` under [`supervise_held`]; on a shared store (PostgreSQL) only while
/// this instance holds the source's lease: it waits (standby) while another instance
/// holds it, renews it every third of `[store] lease`, and stops working the source
/// when the lease is lost (another instance took it, or the database was unreachable
/// for two thirds of the lease: the lease may run out meanwhile).
pub async fn supervise<E, F, Fut>(intake: Intake, mut shutdown: Shutdown, task: Task, mut watch: F)
where
    E: Failure,
    F: FnMut(Health, Shutdown) -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    if !intake.shared() {
        return supervise_held(intake, shutdown, &task, &mut watch).await;
    }
    let key = task.lease_key();
    let lease = intake.config.store.lease;
    let every = (lease / 3).max(Duration::from_secs(1));
    let mut standby_logged = false;
    loop {
        loop {
            match intake.lease(&key, lease) {
                Ok(true) => break,
                Ok(false) if !standby_logged => {
                    standby_logged = true;
                    tracing::info!(source = %task.source, folder = %task.folders.join(", "), "another instance works this source: standing by");
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(source = %task.source, error = %e, "cannot take the source's lease; trying again")
                }
            }
            if shutdown.sleep(every).await {
                return;
            }
        }
        standby_logged = false;
        tracing::info!(source = %task.source, folder = %task.folders.join(", "), "this instance works the source now");
        let renew = async {
            let mut last_ok = std::time::Instant::now();
            loop {
                tokio::time::sleep(every).await;
                match intake.lease(&key, lease) {
                    Ok(true) => last_ok = std::time::Instant::now(),
                    Ok(false) => return "another instance took it over".to_string(),
                    Err(e) if last_ok.elapsed() >= lease * 2 / 3 => {
                        return format!("the database was unreachable for too long ({e})");
                    }
                    Err(e) => {
                        tracing::warn!(source = %task.source, error = %e, "the source's lease was not renewed; trying again")
                    }
                }
            }
        };
        let lost = tokio::select! {
            _ = supervise_held(intake.clone(), shutdown.clone(), &task, &mut watch) => None,
            why = renew => Some(why),
        };
        match lost {
            None => {
                if let Err(e) = intake.release(&key) {
                    tracing::warn!(source = %task.source, error = %e, "the source's lease was not given up (it runs out by itself)");
                }
                return;
            }
            Some(why) => {
                tracing::warn!(source = %task.source, folder = %task.folders.join(", "), reason = %why, "this instance lost the source's lease: it stops working the source");
            }
        }
    }
}

/// Runs `watch` (given a health flag and the stop) until it returns `Ok` at shutdown.
/// A source failing for longer than `[alerts] source_failing_after` raises
/// `mailroom.source_failing` once, and `mailroom.source_recovered` when it works again.
async fn supervise_held<E, F, Fut>(
    intake: Intake,
    mut shutdown: Shutdown,
    task: &Task,
    watch: &mut F,
) where
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
    let mut failing: Option<Failing> = None;
    loop {
        let mut stop = shutdown.clone();
        let abandon = async move {
            stop.recv().await;
            tokio::time::sleep(STOP_WAIT).await;
        };
        tokio::pin!(abandon);
        let run = watch(health.clone(), shutdown.clone());
        tokio::pin!(run);
        let result = loop {
            tokio::select! {
                r = &mut run => break r,
                _ = &mut abandon => {
                    tracing::warn!(source = %task.source, folder = %task.folders.join(", "), "stopping without waiting for the server");
                    return;
                }
                // While a failed source runs again, its recovery is seen as it happens.
                _ = tokio::time::sleep(Duration::from_secs(1)), if failing.is_some() => {
                    if health.peek() {
                        recovered(&intake, task, failing.take()).await;
                    }
                }
            }
        };
        let Err(e) = result else { return };
        if health.take() {
            delay = Duration::from_secs(1);
            recovered(&intake, task, failing.take()).await;
        }
        let message = e.to_string();
        let record = intake.clone();
        let (source, folders, text) = (task.source.clone(), task.folders.clone(), message.clone());
        let _ = tokio::task::spawn_blocking(move || {
            for folder in &folders {
                let _ = record.failed(&source, folder, &text);
            }
        })
        .await;
        for folder in &task.folders {
            intake.live.source_error(&task.source, folder);
        }
        let now = crate::clock::now();
        let period = failing.get_or_insert(Failing {
            since: now,
            alerted: false,
        });
        let after = intake.config.alerts.source_failing_after;
        let failing_for = (now - period.since).to_std().unwrap_or_default();
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
            if e.in_database() { "database" } else { task.kind }
        );
        let jitter = Duration::from_millis(fastrand::u64(0..=wait.as_millis() as u64 / 5 + 1));
        let mut pause = wait + jitter;
        if !period.alerted && failing_for + pause >= after {
            // The failure period reaches the threshold during this pause: say so then.
            let until = after.saturating_sub(failing_for);
            if shutdown.sleep(until).await {
                return;
            }
            pause = pause.saturating_sub(until);
            period.alerted = true;
            let alert =
                super::alerts::source_failing(&task.alerted(), period.since, &message, after);
            if let Err(e) = intake.raise(alert).await {
                tracing::error!(source = %task.source, error = %e, "the alert could not be stored");
            }
        }
        if shutdown.sleep(pause).await {
            return;
        }
        delay = (delay * 2).min(max);
    }
}

/// The end of a failure period: raised when its start was.
async fn recovered(intake: &Intake, task: &Task, period: Option<Failing>) {
    let Some(period) = period.filter(|p| p.alerted) else {
        return;
    };
    let alert = super::alerts::source_recovered(&task.alerted(), period.since);
    if let Err(e) = intake.raise(alert).await {
        tracing::error!(source = %task.source, error = %e, "the alert could not be stored");
    }
}
