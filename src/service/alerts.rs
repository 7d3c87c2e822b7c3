//! mailroom watches itself and raises its own events (registrar `mailroom`, the
//! `mailroom.*` topics of `topics::ALERTS`), which go through the rules like any other:
//! a source failing for too long and recovering (from the supervisor), a registrar gone
//! quiet, notification-shaped mail no extractor read (at most one per registrar per
//! hour), a delivery given up, a probe that did not come back. Each alert's event id
//! names its occurrence, so it is raised once (a failing source: once per failure
//! period, not per retry).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::clock;
use crate::event::{Event, Format, Kind, Registrar};
use crate::ingest::intake::Intake;
use crate::shutdown::Shutdown;
use crate::store::alerts as seen;

/// How often the quarantine and the dead deliveries are looked at.
const CHECK_EVERY: Duration = Duration::from_secs(10);
/// How often the registrars' silences are measured.
const QUIET_EVERY: Duration = Duration::from_secs(15 * 60);
/// The window a registrar's usual rhythm is measured over.
const RHYTHM_DAYS: i64 = 30;
/// Fewer events than this in the window: no rhythm to miss.
const RHYTHM_MIN_EVENTS: usize = 5;

/// An alert event: `name` is its type (`source_failing`), `occurrence` what makes it
/// one (so raising it again is the same event).
pub fn alert(name: &str, occurrence: &str, text: String, data: Value) -> Event {
    let entry = crate::topics::ALERTS.iter().find(|t| t.name == name);
    Event {
        registrar: Registrar::Mailroom,
        event_id: format!("{name}:{occurrence}"),
        kind: Kind::Event,
        object: entry.map_or("mailroom", |t| t.object).to_string(),
        event_type: name.to_string(),
        topic: entry.map_or_else(|| format!("mailroom.{name}"), |t| t.topic.to_string()),
        domain: None,
        domains: Vec::new(),
        status: entry.and_then(|t| t.status).map(str::to_string),
        status_text: Some(text),
        occurred_at: Some(clock::now_stamp()),
        occurred_at_source: None,
        format: Format::Json,
        data,
        authenticated: None,
        authentication: None,
        rules_skipped: None,
    }
}

/// Which source an alert is about: its name, folder (or empty) and kind (`IMAP`).
pub struct Source<'a> {
    pub source: &'a str,
    /// The folder, folders (`INBOX, Archive`) or empty.
    pub folder: String,
    pub kind: &'a str,
}

fn place(task: &Source<'_>) -> String {
    if task.folder.is_empty() {
        task.source.to_string()
    } else {
        format!("{}/{}", task.source, task.folder)
    }
}

/// A source failing for longer than `[alerts] source_failing_after`.
pub fn source_failing(
    task: &Source<'_>,
    since: DateTime<Utc>,
    error: &str,
    after: Duration,
) -> Event {
    let place = place(task);
    alert(
        "source_failing",
        &format!("{place}@{}", clock::stamp(since)),
        format!(
            "{} {place} has failed for more than {}: {error}",
            task.kind,
            crate::ingest::policy::span(after)
        ),
        json!({ "source": task.source, "folder": task.folder, "kind": task.kind,
                "since": clock::stamp(since), "error": error }),
    )
}

/// The same source working again.
pub fn source_recovered(task: &Source<'_>, since: DateTime<Utc>) -> Event {
    let place = place(task);
    alert(
        "source_recovered",
        &format!("{place}@{}", clock::stamp(since)),
        format!(
            "{} {place} works again (failing since {})",
            task.kind,
            clock::stamp(since)
        ),
        json!({ "source": task.source, "folder": task.folder, "kind": task.kind,
                "since": clock::stamp(since) }),
    )
}

/// A probe (`[gandi] probe`) whose test message did not come back in time.
pub fn probe_failed(name: &str, sent: DateTime<Utc>, timeout: Duration) -> Event {
    alert(
        "probe_failed",
        &format!("{name}@{}", clock::stamp(sent)),
        format!(
            "the test notification {name} sent at {} did not arrive within {}: a channel from the registrar is broken",
            clock::stamp(sent),
            crate::ingest::policy::span(timeout)
        ),
        json!({ "probe": name, "sent": clock::stamp(sent) }),
    )
}

/// Runs the periodic checks until the stop.
pub async fn watch(intake: Intake, mut shutdown: Shutdown) {
    // Once everything has started.
    if shutdown.sleep(Duration::from_secs(5)).await {
        return;
    }
    let mut last_quiet: Option<std::time::Instant> = None;
    loop {
        let quiet = last_quiet.is_none_or(|t| t.elapsed() >= QUIET_EVERY);
        if quiet {
            last_quiet = Some(std::time::Instant::now());
        }
        let checker = intake.clone();
        let found = tokio::task::spawn_blocking(move || check(&checker, quiet)).await;
        let alerts = match found {
            Ok(Ok(alerts)) => alerts,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "the alert checks could not read the database");
                Vec::new()
            }
            Err(e) => {
                tracing::error!(error = %e, "the alert checks stopped unexpectedly");
                Vec::new()
            }
        };
        for a in alerts {
            let topic = a.topic.clone();
            match intake.raise(a).await {
                Ok(b) if b.events_new > 0 => tracing::warn!(topic = %topic, "alert raised"),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "the alert could not be stored"),
            }
        }
        if shutdown.sleep(CHECK_EVERY).await {
            return;
        }
    }
}

/// The alerts the database shows now (each raised once: its id names its occurrence).
fn check(intake: &Intake, quiet: bool) -> crate::store::Result<Vec<Event>> {
    let now = clock::now();
    let store = intake.store();
    let conn = store.db();
    let mut out = Vec::new();
    if quiet {
        out.extend(quiet_registrars(conn, &intake.config, now)?);
    }
    out.extend(unknown_formats(conn, &intake.config, now)?);
    for d in seen::dead_deliveries(conn)? {
        // A dead alert about a dead delivery would only make another.
        if d.topic.as_deref() == Some("mailroom.delivery_dead") {
            continue;
        }
        out.push(alert(
            "delivery_dead",
            &d.id.to_string(),
            format!(
                "a {} to {} was given up{}: {}",
                d.channel,
                d.target,
                d.rule
                    .as_deref()
                    .map(|r| format!(" (rule {r})"))
                    .unwrap_or_default(),
                d.error.as_deref().unwrap_or("no reason recorded")
            ),
            json!({ "outbox": d.id, "channel": d.channel, "target": d.target,
                    "rule": d.rule, "error": d.error,
                    "retry": format!("mailroom outbox retry {}", d.id) }),
        ));
    }
    // Raised before (this check runs every minute): not again.
    let mut fresh = Vec::new();
    for a in out {
        if !seen::raised(conn, &a.event_id)? {
            fresh.push(a);
        }
    }
    Ok(fresh)
}

fn parse(stamp: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(stamp)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Registrars silent for longer than their rhythm (3× the median gap between their
/// events of the last 30 days, at least a day) or than `[[alerts.expect]]` says.
fn quiet_registrars(
    conn: &impl crate::store::db::Sql,
    config: &crate::config::Config,
    now: DateTime<Utc>,
) -> crate::store::Result<Vec<Event>> {
    let since = clock::stamp(now - chrono::Duration::days(RHYTHM_DAYS));
    let mut out = Vec::new();
    let mut judged = Vec::new();
    for e in &config.alerts.expect {
        judged.push(e.registrar.clone());
        let Some(last) = seen::last_arrival(conn, &e.registrar)?.and_then(|l| parse(&l)) else {
            continue;
        };
        let every = chrono::Duration::from_std(e.every).unwrap_or(chrono::Duration::days(1));
        if now - last > every {
            out.push(quiet(
                &e.registrar,
                last,
                now,
                &format!(
                    "expected at least every {} ([[alerts.expect]])",
                    crate::ingest::policy::span(e.every)
                ),
            ));
        }
    }
    for (registrar, times) in seen::arrivals_since(conn, &since)? {
        if judged.contains(&registrar) || times.len() < RHYTHM_MIN_EVENTS {
            continue;
        }
        let times: Vec<DateTime<Utc>> = times.iter().filter_map(|t| parse(t)).collect();
        let mut gaps: Vec<i64> = times
            .windows(2)
            .map(|w| (w[1] - w[0]).num_seconds().max(0))
            .collect();
        gaps.sort_unstable();
        let Some(&median) = gaps.get(gaps.len() / 2) else {
            continue;
        };
        let limit = chrono::Duration::seconds(median * 3).max(chrono::Duration::days(1));
        let Some(&last) = times.last() else { continue };
        if now - last > limit {
            out.push(quiet(&registrar, last, now, &format!(
                "usually heard from every {} or so (the median gap of the last {RHYTHM_DAYS} days)",
                crate::ingest::policy::span(Duration::from_secs(median.max(1) as u64))
            )));
        }
    }
    Ok(out)
}

fn quiet(registrar: &str, last: DateTime<Utc>, now: DateTime<Utc>, rhythm: &str) -> Event {
    let hours = (now - last).num_hours();
    alert(
        "registrar_quiet",
        // Once per silence: the silence is named by its last event.
        &format!("{registrar}@{}", clock::stamp(last)),
        format!(
            "no notification from {registrar} for {hours} hours (last at {}); {rhythm}: check the address it sends to and its settings",
            clock::stamp(last)
        ),
        json!({ "registrar": registrar, "last": clock::stamp(last), "silent_hours": hours }),
    )
}

/// The registrar a quarantined message looks like it came from: by its sender's domain
/// (`[trust]` lists), else by the extractor its reason says came closest.
fn registrar_of(config: &crate::config::Config, h: &seen::Held) -> Option<&'static str> {
    let sender = h.sender.as_deref().unwrap_or_default().to_ascii_lowercase();
    let domain = sender.rsplit('@').next().unwrap_or_default();
    for r in [Registrar::Opensrs, Registrar::Autodns, Registrar::Gandi] {
        if config
            .trust
            .sending_domains(r)
            .iter()
            .any(|d| domain == d || domain.ends_with(&format!(".{d}")))
        {
            return Some(r.as_str());
        }
    }
    let at = h.reason.find(crate::extract::suggest::CLOSEST)?;
    let extractor = h.reason[at + crate::extract::suggest::CLOSEST.len()..].trim_start();
    ["opensrs", "autodns", "gandi"]
        .into_iter()
        .find(|r| extractor.starts_with(r))
}

/// Notification-shaped mail quarantined in the current hour: one alert per registrar
/// per hour, with the count and the ids when first seen (not raised again that hour).
fn unknown_formats(
    conn: &impl crate::store::db::Sql,
    config: &crate::config::Config,
    now: DateTime<Utc>,
) -> crate::store::Result<Vec<Event>> {
    use chrono::Timelike;
    let hour = now
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(now);
    let held = seen::quarantined_since(conn, &clock::stamp(hour))?;
    let mut by: Vec<(&'static str, Vec<i64>, String)> = Vec::new();
    for h in &held {
        let Some(r) = registrar_of(config, h) else {
            continue;
        };
        match by.iter_mut().find(|b| b.0 == r) {
            Some(b) => b.1.push(h.id),
            None => by.push((r, vec![h.id], h.reason.clone())),
        }
    }
    Ok(by
        .into_iter()
        .map(|(registrar, ids, reason)| {
            alert(
                "format_unknown",
                &format!("{registrar}@{}", clock::stamp(hour)),
                format!(
                    "{} notification(s) from {registrar} could not be read and are in quarantine: your registrar may have changed its format (mailroom quarantine --suggest; first reason: {})",
                    ids.len(),
                    crate::term::printable(&reason)
                ),
                json!({ "registrar": registrar, "count": ids.len(), "quarantined": ids,
                        "hour": clock::stamp(hour) }),
            )
        })
        .collect())
}
