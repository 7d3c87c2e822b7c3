//! Figures only the running process knows (intake latencies, failed attempts since
//! start), recorded by the channels through the intake and rendered by the web's
//! `/metrics`; kept across SIGHUP reloads.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Upper bounds (seconds) of the intake latency histogram's buckets.
pub const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

#[derive(Default, Clone)]
pub struct Histogram {
    /// Observations at or below each bucket's bound (not cumulative).
    pub buckets: [u64; BUCKETS.len()],
    pub sum: f64,
    pub count: u64,
}

/// Figures only the running process knows (latencies, errors since start), kept while it
/// runs and rendered by `/metrics`. Shared by every task of the service.
pub struct Live {
    started: Instant,
    intake: Mutex<BTreeMap<String, Histogram>>,
    /// (source, folder) → failed attempts.
    errors: Mutex<BTreeMap<(String, String), u64>>,
}

impl Default for Live {
    fn default() -> Self {
        Live {
            started: Instant::now(),
            intake: Mutex::default(),
            errors: Mutex::default(),
        }
    }
}

impl Live {
    /// Records how long new mail took from the wake-up (an IDLE notice, a poll request)
    /// to its commit, for the channel named.
    pub fn intake(&self, channel: &str, took: Duration) {
        let secs = took.as_secs_f64();
        let mut all = self.intake.lock().unwrap_or_else(|e| e.into_inner());
        let h = all.entry(channel.to_string()).or_default();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            h.buckets[i] += 1;
        }
        h.sum += secs;
        h.count += 1;
    }

    /// Counts a failed attempt of a source (a connection, a sync, a poll round).
    /// `folder` is empty for sources without folders (a local folder, a registrar API).
    pub fn source_error(&self, source: &str, folder: &str) {
        let mut all = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        *all.entry((source.to_string(), folder.to_string()))
            .or_default() += 1;
    }

    /// How long this process has run.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// The intake latencies so far, by channel.
    pub fn latencies(&self) -> BTreeMap<String, Histogram> {
        self.intake
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Failed attempts so far, by (source, folder).
    pub fn errors(&self) -> BTreeMap<(String, String), u64> {
        self.errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_fall_in_cumulative_buckets() {
        let live = Live::default();
        live.intake("imap-idle", Duration::from_millis(30));
        live.intake("imap-idle", Duration::from_secs(400));
        let h = live.intake.lock().unwrap()["imap-idle"].clone();
        assert_eq!(h.count, 2);
        assert_eq!(
            h.buckets.iter().sum::<u64>(),
            1,
            "over the last bound: +Inf only"
        );
        assert_eq!(h.buckets[3], 1);
    }
}
