//! Where mail and calls go out: SMTP, the delivery queue's timing, webhooks, and the
//! secrets they use.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::oauth2::{Auth, OAuth2Config};
use super::values::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tls {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Implicit,
    /// Plain connection upgraded with STARTTLS; refused if the server does not offer it.
    Starttls,
    /// No TLS at all (loopback and tests only).
    None,
}

/// A password: from an environment variable or a command's first output line. Never
/// printed (Debug shows where it comes from, not the value).
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    pub password_env: Option<String>,
    pub password_command: Option<String>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.password_env, &self.password_command) {
            (Some(v), _) => write!(f, "Secret(env {v})"),
            (None, Some(_)) => write!(f, "Secret(command)"),
            _ => write!(f, "Secret(none)"),
        }
    }
}

impl Secret {
    pub fn is_set(&self) -> bool {
        self.password_env.is_some() || self.password_command.is_some()
    }

    /// Reads the secret now. The error names the variable or says the command failed,
    /// never the value.
    pub fn resolve(&self) -> anyhow::Result<Option<String>> {
        if let Some(var) = &self.password_env {
            return match std::env::var(var) {
                Ok(v) => Ok(Some(v)),
                Err(_) => anyhow::bail!("environment variable {var} is not set"),
            };
        }
        if let Some(cmd) = &self.password_command {
            return Ok(Some(crate::secret::run_secret_command(
                cmd,
                "password_command",
                crate::secret::DEFAULT_TIMEOUT,
            )?));
        }
        Ok(None)
    }

    /// Reads a token that lets someone in (`[http]`, a `[[push]]`): as [`Secret::resolve`],
    /// but an empty (or blank) value is an error. Empty is unset: a server started with it
    /// would take an empty guess for the token.
    pub fn resolve_token(&self) -> anyhow::Result<Option<String>> {
        match self.resolve()? {
            Some(t) if t.trim().is_empty() => match &self.password_env {
                Some(var) => anyhow::bail!("environment variable {var} is empty"),
                None => anyhow::bail!("token_command printed nothing"),
            },
            t => Ok(t),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// SMTP server. Either `host` (or `provider`) or `dir` must be given.
    pub host: Option<String>,
    /// A preset (`mailroom providers`): fills host, the login method and the OAuth2
    /// endpoints and scope where they are left out.
    pub provider: Option<String>,
    /// `password` (default), `xoauth2` or `oauthbearer` (then `[smtp.oauth2]`).
    pub auth: Option<Auth>,
    pub oauth2: Option<OAuth2Config>,
    /// Default 465 for implicit TLS, 587 for STARTTLS, 25 for none.
    pub port: Option<u16>,
    /// Default `starttls`.
    #[serde(default = "default_smtp_tls")]
    pub tls: Tls,
    pub username: Option<String>,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// Command printing the password (first line of its output).
    pub password_command: Option<String>,
    /// Extra CA certificate (PEM) to trust; the system roots are trusted too.
    pub ca_file: Option<PathBuf>,
    /// Trust exactly the server certificate with this SHA-256 fingerprint
    /// (`sha256:…`, as `openssl x509 -fingerprint -sha256` prints it) instead of a CA.
    pub cert_fingerprint: Option<String>,
    /// Sender of every mail mailroom sends. Default `mailroom <mailroom@localhost>`.
    #[serde(default = "default_from")]
    pub from: String,
    /// Write each mail as a `.eml` file into this directory instead of sending it.
    pub dir: Option<PathBuf>,
    /// Per-command timeout. Default `30s`.
    #[serde(default = "default_timeout", deserialize_with = "de_duration")]
    pub timeout: Duration,
    /// Largest mail sent: over it, the original message is left out of a forward (with
    /// a note saying so), then the text is cut. Default `10MiB`.
    #[serde(default = "default_max_message_size", deserialize_with = "de_size")]
    pub max_message_size: u64,
}

fn default_max_message_size() -> u64 {
    10 << 20
}

impl SmtpConfig {
    /// How mailroom logs in to the server.
    pub fn auth(&self) -> Auth {
        self.auth.unwrap_or_default()
    }

    /// Where the password comes from. (Not a flattened field: serde cannot refuse
    /// unknown keys beside a flattened struct, and a typo must not pass silently.)
    pub fn password(&self) -> Secret {
        Secret {
            password_env: self.password_env.clone(),
            password_command: self.password_command.clone(),
        }
    }
}

fn default_smtp_tls() -> Tls {
    Tls::Starttls
}

fn default_from() -> String {
    "mailroom <mailroom@localhost>".into()
}

pub(super) fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Where a delivery goes when it has failed for `give_up_after`. Default: nowhere
    /// (the item is marked dead and listed by `mailroom outbox`).
    #[serde(default)]
    pub fallback_to: Vec<String>,
    /// Default `24h`, as the registrars do.
    #[serde(default = "default_give_up", deserialize_with = "de_duration")]
    pub give_up_after: Duration,
    /// First retry delay; doubles each attempt (with jitter) up to `max_backoff`.
    /// Default `30s`.
    #[serde(default = "default_first_backoff", deserialize_with = "de_duration")]
    pub first_backoff: Duration,
    /// Default `1h`.
    #[serde(default = "default_max_backoff", deserialize_with = "de_duration")]
    pub max_backoff: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            fallback_to: Vec::new(),
            give_up_after: default_give_up(),
            first_backoff: default_first_backoff(),
            max_backoff: default_max_backoff(),
        }
    }
}

fn default_give_up() -> Duration {
    Duration::from_secs(24 * 3600)
}

fn default_first_backoff() -> Duration {
    Duration::from_secs(30)
}

fn default_max_backoff() -> Duration {
    Duration::from_secs(3600)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Whole-request timeout. Default `15s`.
    #[serde(default = "default_webhook_timeout", deserialize_with = "de_duration")]
    pub timeout: Duration,
    /// Extra CA certificate (PEM) to trust for https webhooks.
    pub ca_file: Option<PathBuf>,
    /// Calls to one destination (scheme, host, port) that one instance has in flight
    /// at once, each answer recorded before its turn passes on. Default 1: a crash
    /// or kill repeats at most one call per destination; more is faster to a slow
    /// endpoint and repeats up to this many. 1 to 64.
    #[serde(default = "default_webhook_concurrency")]
    pub concurrency: usize,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            timeout: default_webhook_timeout(),
            ca_file: None,
            concurrency: default_webhook_concurrency(),
        }
    }
}

fn default_webhook_concurrency() -> usize {
    1
}

fn default_webhook_timeout() -> Duration {
    Duration::from_secs(15)
}
