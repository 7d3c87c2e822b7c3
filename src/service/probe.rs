//! `[gandi] probe`: every `probe_every`, Gandi is asked for the test message of one
//! notification (`notification.test`), and the probe waits until that message is
//! stored through any channel. A message not stored within `probe_timeout` is logged
//! at ERROR, shown by `status` (source `gandi/probe`) and raised as
//! `mailroom.probe_failed` through the rules ([`probe_failed`]). Each run is recorded
//! in the store, so a restart (or a SIGHUP reload) neither asks again early nor forgets
//! a run it was waiting for. Run under the supervisor: a fault or an unreachable API is
//! a failure like any channel's, retried with backoff.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::channel::Health;
use crate::channel::gandi::{self, Gandi, GandiError, ProbeOutcome};
use crate::clock;
use crate::config::GandiConfig;
use crate::ingest::intake::Intake;
use crate::shutdown::Shutdown;
use crate::store::probes::State;

/// The probe's name in `status` and in the supervisor's records: `gandi/probe`.
pub const SOURCE: &str = "gandi";
pub const FOLDER: &str = "probe";

/// Runs the probe of notification `name` until the stop.
pub async fn watch(
    intake: &Intake,
    config: &GandiConfig,
    name: &str,
    mut shutdown: Shutdown,
    health: &Health,
) -> Result<(), GandiError> {
    let api = Gandi::new(config)?;
    let every = config.probe_every();
    loop {
        let run = match gandi::last_run(intake, name).await? {
            // A run this service was waiting for when it stopped: wait on.
            Some(run) if run.state == State::Waiting => run,
            last => {
                let due_in = last
                    .and_then(|r| stamp(&r.sent))
                    .map(|sent| until(sent, every))
                    .unwrap_or_default();
                if shutdown.sleep(due_in).await {
                    return Ok(());
                }
                gandi::send_test(intake, &api, name).await?
            }
        };
        health.ok();
        tracing::info!(probe = name, sent = %run.sent, "Gandi probe: waiting for the test message");
        let outcome =
            gandi::await_test(intake, name, &run, config.probe_timeout, &mut shutdown).await?;
        if outcome == ProbeOutcome::Stopped {
            return Ok(());
        }
        settle(intake, &outcome).await;
    }
}

fn stamp(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// How long until `every` after `sent` (zero when that has passed).
fn until(sent: DateTime<Utc>, every: Duration) -> Duration {
    let due = sent + chrono::Duration::from_std(every).unwrap_or(chrono::Duration::days(1));
    (due - clock::now()).to_std().unwrap_or_default()
}

/// Acts on how a probe run ended: an arrival clears the probe's error in `status`; a
/// missing test message is a [`probe_failed`].
pub async fn settle(intake: &Intake, outcome: &ProbeOutcome) {
    match outcome {
        ProbeOutcome::Arrived {
            name,
            after,
            arrival,
        } => {
            tracing::info!(
                probe = %name,
                after_s = after.as_secs_f32(),
                source = %arrival.source,
                "Gandi probe: the test message arrived"
            );
            let i = intake.clone();
            let _ = tokio::task::spawn_blocking(move || i.synced(SOURCE, FOLDER)).await;
        }
        ProbeOutcome::Missing {
            name,
            sent,
            timeout,
        } => probe_failed(intake, name, *sent, *timeout).await,
        ProbeOutcome::Stopped => {}
    }
}

/// The test message of `name`, asked for at `sent`, was not stored within `timeout`:
/// logged at ERROR, recorded for `status` (until a later run arrives), and raised as
/// `mailroom.probe_failed` (once per run: the alert's id names the run).
pub async fn probe_failed(intake: &Intake, name: &str, sent: DateTime<Utc>, timeout: Duration) {
    let alert = super::alerts::probe_failed(name, sent, timeout);
    let text = alert.status_text.clone().unwrap_or_default();
    tracing::error!(probe = name, "Gandi probe failed: {text}");
    let (i, t) = (intake.clone(), text.clone());
    let _ = tokio::task::spawn_blocking(move || i.failed(SOURCE, FOLDER, &t)).await;
    intake.live.source_error(SOURCE, FOLDER);
    match intake.raise(alert).await {
        Ok(b) if b.events_new > 0 => {
            tracing::warn!(topic = "mailroom.probe_failed", "alert raised")
        }
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "the alert could not be stored"),
    }
}
