//! `[alerts]`: when mailroom raises its own alerts (registrar `mailroom`, topics
//! `mailroom.*`) and the shortcut that forwards them all to a person.

use std::time::Duration;

use serde::Deserialize;

use super::values::*;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Addresses every alert is forwarded to (a built-in rule ahead of the rule files).
    /// Empty: alerts are stored, listed and shown, and rules may route them.
    #[serde(default)]
    pub to: Vec<String>,
    /// A source failing for longer than this raises `mailroom.source_failing` (once),
    /// then `mailroom.source_recovered` when it works again. Default `15m`.
    #[serde(default = "default_failing_after", deserialize_with = "de_duration")]
    pub source_failing_after: Duration,
    /// Registrars that must be heard from at least this often
    /// (`[[alerts.expect]] registrar = "autodns" every = "3d"`).
    #[serde(default)]
    pub expect: Vec<Expect>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            to: Vec::new(),
            source_failing_after: default_failing_after(),
            expect: Vec::new(),
        }
    }
}

fn default_failing_after() -> Duration {
    Duration::from_secs(15 * 60)
}

/// A registrar expected to send something every so often.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub registrar: String,
    #[serde(deserialize_with = "de_duration")]
    pub every: Duration,
}
