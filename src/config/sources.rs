//! Where notifications come from: IMAP accounts, local folders, registrar polls.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::oauth2::{Auth, OAuth2Config};
use super::values::*;
use super::*;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    /// Polling interval for servers without IDLE and for Maildir folders. Default `30s`.
    #[serde(default = "default_poll", deserialize_with = "de_duration")]
    pub poll_interval: Duration,
    /// IDLE is re-issued this often (servers drop it after 30 min). Default `10m`.
    #[serde(default = "default_idle", deserialize_with = "de_duration")]
    pub idle_refresh: Duration,
    /// Timeout of every IMAP command. Default `60s`.
    #[serde(default = "default_command_timeout", deserialize_with = "de_duration")]
    pub command_timeout: Duration,
    /// Longest wait between reconnect attempts. Default `5m`.
    #[serde(default = "default_max_reconnect", deserialize_with = "de_duration")]
    pub max_reconnect_delay: Duration,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            poll_interval: default_poll(),
            idle_refresh: default_idle(),
            command_timeout: default_command_timeout(),
            max_reconnect_delay: default_max_reconnect(),
        }
    }
}

fn default_poll() -> Duration {
    Duration::from_secs(30)
}

fn default_idle() -> Duration {
    Duration::from_secs(600)
}

fn default_command_timeout() -> Duration {
    Duration::from_secs(60)
}

fn default_max_reconnect() -> Duration {
    Duration::from_secs(300)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum After {
    /// Leave the message as it is (default).
    #[default]
    Leave,
    /// Mark it \Seen.
    Seen,
    /// Move it to `move_to`.
    Move,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Start {
    /// On the first run, read everything already in the folder (default).
    #[default]
    All,
    /// On the first run, start after the newest message.
    New,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// Name used in sources, logs and `mailroom status`.
    pub name: String,
    /// A preset (`mailroom providers` lists them): fills host, port, TLS, the login
    /// method and the OAuth2 endpoints and scope where they are left out.
    pub provider: Option<String>,
    /// Required unless `provider` gives it.
    #[serde(default)]
    pub host: String,
    /// Default 993 for implicit TLS, else 143.
    pub port: Option<u16>,
    /// Default `implicit`.
    #[serde(default = "default_imap_tls")]
    pub tls: Tls,
    /// Extra CA certificate (PEM) to trust; the system roots are trusted too.
    pub ca_file: Option<PathBuf>,
    /// Trust exactly the server certificate with this SHA-256 fingerprint instead of a CA.
    pub cert_fingerprint: Option<String>,
    pub username: String,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// Command printing the password (first line of its output).
    pub password_command: Option<String>,
    /// `password` (default), `xoauth2` or `oauthbearer` (then `[account.oauth2]`).
    pub auth: Option<Auth>,
    pub oauth2: Option<OAuth2Config>,
    /// Default `["INBOX"]`.
    #[serde(default = "default_folders")]
    pub folders: Vec<String>,
    #[serde(default)]
    pub after: After,
    /// Folder for `after = "move"`.
    pub move_to: Option<String>,
    #[serde(default)]
    pub start: Start,
    /// Most IMAP connections this account opens at once, at least 1. Default 5, below
    /// the usual per-user limits (Dovecot 10 per user and address, Gmail about 15). With
    /// more folders than this, INBOX and then the folders listed first get one each
    /// (IDLE) and the rest share the last one (NOTIFY, else STATUS every
    /// `poll_interval`).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

impl AccountConfig {
    /// How this account logs in.
    pub fn auth(&self) -> Auth {
        self.auth.unwrap_or_default()
    }

    /// Where the password comes from.
    pub fn password(&self) -> Secret {
        Secret {
            password_env: self.password_env.clone(),
            password_command: self.password_command.clone(),
        }
    }
}

fn default_imap_tls() -> Tls {
    Tls::Implicit
}

fn default_max_connections() -> usize {
    5
}

fn default_folders() -> Vec<String> {
    vec!["INBOX".into()]
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaildirConfig {
    pub name: String,
    pub path: PathBuf,
}

/// Which registrar API a `[[poll]]` source speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PollRegistrar {
    /// XCP `EVENT POLL` / `ACK`, XML over HTTPS, signed with the private key.
    Opensrs,
    /// `GET /poll` + `PUT /poll/{id}` (JSON) or tasks 0905/0906 (XML).
    Autodns,
}

/// The AutoDNS poll interface: the JSON REST API or the XML gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PollFormat {
    #[default]
    Json,
    Xml,
}

/// A registrar API polled on an interval (`[[poll]]`). Each polled message is stored
/// and committed before it is acknowledged.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollConfig {
    /// Names the source in `status` and in every event's sources.
    pub name: String,
    pub registrar: PollRegistrar,
    /// API endpoint. Default: OpenSRS `https://rr-n1-tor.opensrs.net:55443`, AutoDNS
    /// JSON `https://api.autodns.com/v1`, AutoDNS XML `https://gateway.autodns.com`.
    /// `https` is required; `http` only for a loopback address.
    pub url: Option<String>,
    /// OpenSRS reseller username (`X-Username`) or AutoDNS user.
    pub username: String,
    /// OpenSRS: environment variable holding the private key.
    pub key_env: Option<String>,
    /// OpenSRS: command printing the private key.
    pub key_command: Option<String>,
    /// AutoDNS: environment variable holding the password.
    pub password_env: Option<String>,
    /// AutoDNS: command printing the password.
    pub password_command: Option<String>,
    /// AutoDNS context (`X-Domainrobot-Context`). Default 4.
    #[serde(default, deserialize_with = "de_opt_text")]
    pub context: Option<String>,
    /// AutoDNS: `json` (default) or `xml`.
    #[serde(default)]
    pub format: PollFormat,
    /// Time between polls when the queue is empty. Default `60s`.
    #[serde(
        default = "default_poll_api_interval",
        deserialize_with = "de_duration"
    )]
    pub interval: Duration,
    /// OpenSRS `limit`: events per poll, 1 to 100. Default 100.
    #[serde(default = "default_poll_batch")]
    pub batch: u32,
    /// Limit for one request. Default `30s`.
    #[serde(default = "default_timeout", deserialize_with = "de_duration")]
    pub timeout: Duration,
}

impl std::fmt::Debug for PollConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollConfig")
            .field("name", &self.name)
            .field("registrar", &self.registrar)
            .field("url", &self.url)
            .field("username", &self.username)
            .field("secret", &self.secret())
            .finish_non_exhaustive()
    }
}

impl PollConfig {
    /// The key (OpenSRS) or password (AutoDNS), read when the source starts.
    pub fn secret(&self) -> Secret {
        match self.registrar {
            PollRegistrar::Opensrs => Secret {
                password_env: self.key_env.clone(),
                password_command: self.key_command.clone(),
            },
            PollRegistrar::Autodns => Secret {
                password_env: self.password_env.clone(),
                password_command: self.password_command.clone(),
            },
        }
    }

    /// The configured URL or the registrar's default, without a trailing slash.
    pub fn endpoint(&self) -> String {
        let url = match (&self.url, self.registrar, self.format) {
            (Some(u), _, _) => u.as_str(),
            (None, PollRegistrar::Opensrs, _) => "https://rr-n1-tor.opensrs.net:55443",
            (None, PollRegistrar::Autodns, PollFormat::Json) => "https://api.autodns.com/v1",
            (None, PollRegistrar::Autodns, PollFormat::Xml) => "https://gateway.autodns.com",
        };
        url.trim_end_matches('/').to_string()
    }

    /// What is wrong with this source: the key to point at, its value, the reason.
    pub(super) fn problem(&self) -> Option<(&'static str, Option<String>, String)> {
        let name = &self.name;
        if !(1..=100).contains(&self.batch) {
            return Some((
                "batch",
                Some(self.batch.to_string()),
                format!(
                    "poll {name}: batch = {} is out of range (1 to 100, the registrars' limit)",
                    self.batch
                ),
            ));
        }
        if self.interval < Duration::from_secs(1) {
            return Some((
                "interval",
                None,
                format!("poll {name}: interval must be at least 1s"),
            ));
        }
        if let Some(url) = &self.url
            && let Err(e) = check_api_url(url)
        {
            return Some(("url", Some(url.clone()), format!("poll {name}: url {e}")));
        }
        let (own, other, own_keys, what) = match self.registrar {
            PollRegistrar::Opensrs => (
                self.key_env.is_some() || self.key_command.is_some(),
                self.password_env
                    .as_ref()
                    .map(|_| "password_env")
                    .or(self.password_command.as_ref().map(|_| "password_command")),
                "key_env or key_command",
                "the OpenSRS private key",
            ),
            PollRegistrar::Autodns => (
                self.password_env.is_some() || self.password_command.is_some(),
                self.key_env
                    .as_ref()
                    .map(|_| "key_env")
                    .or(self.key_command.as_ref().map(|_| "key_command")),
                "password_env or password_command",
                "the AutoDNS password",
            ),
        };
        if let Some(key) = other {
            return Some((
                key,
                None,
                format!("poll {name}: {key} does not apply to this registrar (use {own_keys})"),
            ));
        }
        if !own {
            return Some((
                "registrar",
                None,
                format!("poll {name}: needs {own_keys} ({what})"),
            ));
        }
        if self.registrar == PollRegistrar::Opensrs && self.format == PollFormat::Xml {
            return Some((
                "format",
                None,
                format!("poll {name}: format applies to autodns only"),
            ));
        }
        None
    }
}

/// `https://…`, or `http://` to a loopback address; no user or password in the URL.
pub fn check_api_url(url: &str) -> Result<(), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url:?} is not a URL (https://host[:port][/path])"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("must not hold a user or password (use username and the secret keys)".into());
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(()),
        "http" if is_loopback(host) => Ok(()),
        "http" => Err(format!(
            "{url:?} is plain http: use https (http only for a loopback address)"
        )),
        _ => Err(format!("{url:?}: the scheme must be https")),
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn default_poll_api_interval() -> Duration {
    Duration::from_secs(60)
}

fn default_poll_batch() -> u32 {
    100
}
