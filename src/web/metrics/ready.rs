//! `/readyz`: whether a load balancer, systemd or Kubernetes should send work here —
//! the database takes a write lock, and every configured source (IMAP folder, local
//! folder, registrar API) finished a sync within its interval.

use std::time::Duration;

use rusqlite::Connection;

use super::super::Web;
use crate::config::Config;
use crate::store::cursors;

/// A source that has not synced yet is not counted against readiness for this long after
/// start (the first catch-up of a big folder takes a while).
const STARTUP_GRACE: Duration = Duration::from_secs(60);

/// How long a source may go without a finished sync before it counts as not ready.
fn allowed_gap(config: &Config, source: &Source) -> Duration {
    let w = &config.watch;
    match source {
        // IDLE is re-issued (and the folder synced) every idle_refresh; a server without
        // IDLE is polled every poll_interval.
        Source::Imap => {
            w.idle_refresh.max(w.poll_interval) + w.command_timeout + Duration::from_secs(60)
        }
        Source::Local => w.poll_interval * 2 + Duration::from_secs(60),
        Source::Api(interval) => *interval * 2 + Duration::from_secs(60),
    }
}

enum Source {
    Imap,
    Local,
    Api(Duration),
}

/// What keeps the service from being ready, one line each (no secrets: names, times and
/// the errors `mailroom status` shows); empty when ready.
pub(super) fn readiness(web: &Web) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(e) = writable(web.intake.db()) {
        problems.push(format!(
            "database {} is not writable: {e}",
            web.intake.db().display()
        ));
    }
    let config = &web.intake.config;
    let mut expected: Vec<(String, String, Source)> = Vec::new();
    for a in &config.accounts {
        for f in &a.folders {
            expected.push((a.name.clone(), f.clone(), Source::Imap));
        }
    }
    for m in &config.maildirs {
        expected.push((m.name.clone(), String::new(), Source::Local));
    }
    for p in &config.polls {
        expected.push((p.name.clone(), String::new(), Source::Api(p.interval)));
    }
    if expected.is_empty() {
        return problems;
    }
    let known = match web.reader().and_then(|c| cursors::all(&c)) {
        Ok(k) => k,
        Err(e) => {
            problems.push(format!("the database cannot be read: {e}"));
            return problems;
        }
    };
    let now = crate::clock::now();
    let starting = web.intake.live.uptime() < STARTUP_GRACE;
    for (source, folder, kind) in &expected {
        let name = if folder.is_empty() {
            source.clone()
        } else {
            format!("{source}/{folder}")
        };
        let row = known
            .iter()
            .find(|s| &s.source == source && &s.folder == folder);
        let last = row
            .and_then(|r| r.last_sync.as_deref())
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok());
        let error = row.and_then(|r| r.last_error.as_deref());
        if let Some(e) = error {
            problems.push(format!(
                "{name}: last attempt failed: {}",
                crate::term::one_line(e)
            ));
            continue;
        }
        match last {
            None if starting => {}
            None => problems.push(format!("{name}: not synced since start")),
            Some(t) => {
                let age = (now - t.with_timezone(&chrono::Utc))
                    .to_std()
                    .unwrap_or_default();
                let gap = allowed_gap(config, kind);
                if age > gap {
                    problems.push(format!(
                        "{name}: last synced {}s ago (expected within {}s)",
                        age.as_secs(),
                        gap.as_secs()
                    ));
                }
            }
        }
    }
    problems
}

/// The database takes a write lock within a short wait (nothing is written).
fn writable(db: &std::path::Path) -> Result<(), String> {
    let conn = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|e| e.to_string())?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;")
        .map_err(|e| e.to_string())
}
