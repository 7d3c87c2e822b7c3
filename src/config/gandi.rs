//! `[gandi]`: Gandi's notification API (XML-RPC `notification.list`, `count`, `test`)
//! and the end-to-end probe `watch` runs with it.

use std::time::Duration;

use serde::Deserialize;

use super::Secret;
use super::values::*;

/// Gandi's XML-RPC endpoint (API v3).
pub const GANDI_URL: &str = "https://rpc.gandi.net/xmlrpc/";

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GandiConfig {
    /// Environment variable holding the API key (passed as every call's first argument).
    pub apikey_env: Option<String>,
    /// Command printing the API key (first line of its output).
    pub apikey_command: Option<String>,
    /// The XML-RPC endpoint. Default `https://rpc.gandi.net/xmlrpc/`; `https` is
    /// required, `http` only for a loopback address.
    #[serde(default = "default_url")]
    pub url: String,
    /// A notification (`paas.create`) whose test message `watch` asks Gandi for every
    /// `probe_every`, then waits for through every channel. Default: no probe.
    pub probe: Option<String>,
    /// How often the probe runs. Default `24h` (only with `probe`).
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub probe_every: Option<Duration>,
    /// How long the test message may take to be stored before the probe has failed.
    /// Default `30m`.
    #[serde(default = "default_probe_timeout", deserialize_with = "de_duration")]
    pub probe_timeout: Duration,
}

impl std::fmt::Debug for GandiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GandiConfig")
            .field("url", &self.url)
            .field("apikey", &self.apikey())
            .field("probe", &self.probe)
            .finish_non_exhaustive()
    }
}

fn default_url() -> String {
    GANDI_URL.to_string()
}

fn default_probe_timeout() -> Duration {
    Duration::from_secs(30 * 60)
}

fn de_opt_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    de_duration(d).map(Some)
}

/// How often the probe runs when `probe_every` is left out.
pub const DEFAULT_PROBE_EVERY: Duration = Duration::from_secs(24 * 3600);

impl GandiConfig {
    /// Where the API key comes from.
    pub fn apikey(&self) -> Secret {
        Secret {
            password_env: self.apikey_env.clone(),
            password_command: self.apikey_command.clone(),
        }
    }

    /// Reads the API key now: an unset variable, a failing command or an empty key is
    /// an error naming the setting, never the value.
    pub fn read_apikey(&self) -> Result<String, String> {
        let what = match (&self.apikey_env, &self.apikey_command) {
            (Some(var), _) => format!("environment variable {var} ([gandi] apikey_env)"),
            (None, Some(_)) => "[gandi] apikey_command".to_string(),
            _ => return Err("[gandi] needs apikey_env or apikey_command".into()),
        };
        match self.apikey().resolve() {
            Ok(Some(k)) if !k.trim().is_empty() => Ok(k.trim().to_string()),
            Ok(_) => Err(format!("{what} gives an empty API key")),
            Err(e) => Err(match &self.apikey_env {
                Some(var) => format!(
                    "environment variable {var} is not set ([gandi] apikey_env: set it in the service's environment, or use apikey_command)"
                ),
                None => format!("{what}: {e:#}"),
            }),
        }
    }

    /// The API key cannot be read: `file:line:column: reason`, naming the setting.
    pub fn apikey_problem(&self, config: &super::Config) -> Option<String> {
        let e = self.read_apikey().err()?;
        let at = match (&self.apikey_env, &self.apikey_command) {
            (Some(var), _) => config.position("apikey_env", Some(&format!("\"{var}\"")), "config"),
            (None, Some(_)) => config.position("apikey_command", None, "config"),
            _ => config.position("[gandi]", None, "config"),
        };
        Some(format!("{at}: {e}"))
    }

    /// How often the probe runs, when there is one.
    pub fn probe_every(&self) -> Duration {
        self.probe_every.unwrap_or(DEFAULT_PROBE_EVERY)
    }

    /// What is wrong with this section: the key to point at, its value, the reason.
    pub(super) fn problem(&self) -> Option<(&'static str, Option<String>, String)> {
        match (&self.apikey_env, &self.apikey_command) {
            (None, None) => {
                return Some((
                    "[gandi]",
                    None,
                    "[gandi] needs apikey_env or apikey_command (the API key of Gandi's XML-RPC API)".into(),
                ));
            }
            (Some(_), Some(_)) => {
                return Some((
                    "apikey_command",
                    None,
                    "[gandi]: set apikey_env or apikey_command, not both".into(),
                ));
            }
            _ => {}
        }
        if let Err(e) = super::check_api_url(&self.url) {
            return Some(("url", Some(self.url.clone()), format!("[gandi] url {e}")));
        }
        match &self.probe {
            Some(name) if !is_notification_name(name) => {
                return Some((
                    "probe",
                    Some(name.clone()),
                    format!(
                        "[gandi] probe = {name:?} is not a notification name (like \"paas.create\"; mailroom gandi subscriptions lists them)"
                    ),
                ));
            }
            None if self.probe_every.is_some() => {
                return Some((
                    "probe_every",
                    None,
                    "[gandi] probe_every needs probe (the notification to test)".into(),
                ));
            }
            _ => {}
        }
        for (key, d) in [
            ("probe_every", self.probe_every()),
            ("probe_timeout", self.probe_timeout),
        ] {
            if d < Duration::from_secs(1) {
                return Some((key, None, format!("[gandi] {key} must be at least 1s")));
            }
        }
        None
    }
}

/// Gandi's notification names: lowercase words joined by dots (`domain.transfer_out`).
fn is_notification_name(s: &str) -> bool {
    s.contains('.')
        && !s.starts_with('.')
        && !s.ends_with('.')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_')
}
