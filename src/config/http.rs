//! The embedded HTTP server and its push receivers.

use serde::Deserialize;

use super::values::*;
use super::*;

/// The embedded HTTP server (`[http]`): registrar push receivers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address and port to listen on. Default `127.0.0.1:8025`. Anything but a loopback
    /// address needs a token on every `[[push]]`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Largest request body taken; bigger ones are answered 413. Default `1MiB`.
    #[serde(default = "default_max_body", deserialize_with = "de_size")]
    pub max_body: u64,
    /// Environment variable holding the token for the console and the API (bearer token
    /// for `/api/`, a login form for the console). Required unless `listen` is loopback.
    pub token_env: Option<String>,
    /// Command printing that token.
    pub token_command: Option<String>,
    /// The attention page shows what happened within this long (`?all=1` shows
    /// everything still open). `"0"`: no window. Default `30d`.
    #[serde(default = "default_attention_window", deserialize_with = "de_duration")]
    pub attention_window: std::time::Duration,
    /// Where people reach the console (`https://mailroom.example`): chat messages link
    /// to the event's page there. Unset: no links.
    pub public_url: Option<String>,
    /// True when the config file has an `[http]` table (the server then runs even
    /// without `[[push]]`).
    #[serde(skip_deserializing, default = "yes")]
    pub present: bool,
}

fn yes() -> bool {
    true
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: default_listen(),
            max_body: default_max_body(),
            token_env: None,
            token_command: None,
            attention_window: default_attention_window(),
            public_url: None,
            present: false,
        }
    }
}

impl HttpConfig {
    /// The console and API token.
    pub fn token(&self) -> Secret {
        Secret {
            password_env: self.token_env.clone(),
            password_command: self.token_command.clone(),
        }
    }
}

fn default_attention_window() -> std::time::Duration {
    std::time::Duration::from_secs(30 * 86400)
}

fn default_listen() -> String {
    "127.0.0.1:8025".into()
}

fn default_max_body() -> u64 {
    1 << 20
}

/// A registrar push (webhook) receiver (`[[push]]`): `POST path` is stored and
/// committed before it is answered 200.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushConfig {
    /// Names the source in `status` and in every event's sources.
    pub name: String,
    /// Whose pushes these are (for the operator; every format is read).
    pub registrar: PushRegistrar,
    /// URL path, e.g. `/push/autodns`.
    pub path: String,
    /// What the body is: `"any"` (default; a registrar's notification as it sends it)
    /// or `"sns"` (Amazon SNS HTTP(S) deliveries, each verified before it is read).
    #[serde(default)]
    pub format: PushFormat,
    /// `format = "sns"`: hosts the signing certificate and the subscription link may come
    /// from (`*` stands for one label; `host:port` pins a port). Default
    /// `sns.*.amazonaws.com` and `sns.*.amazonaws.com.cn`.
    #[serde(default = "default_sns_hosts")]
    pub sns_hosts: Vec<String>,
    /// `format = "sns"`: the topic ARNs taken; a message of any other topic is refused.
    #[serde(default)]
    pub topics: Vec<String>,
    /// `format = "sns"`: a CA (PEM) trusted besides the system's when fetching signing
    /// certificates and confirming subscriptions.
    pub ca_file: Option<std::path::PathBuf>,
    /// Environment variable holding a token the pusher must send (`?token=`, or the
    /// `X-Mailroom-Token` or `Authorization: Bearer` header). Optional on loopback.
    pub token_env: Option<String>,
    /// Command printing the token.
    pub token_command: Option<String>,
    /// Source addresses or networks (CIDR) allowed; default: any.
    #[serde(default)]
    pub allow_from: Vec<String>,
}

impl std::fmt::Debug for PushConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushConfig")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("token", &self.token())
            .field("allow_from", &self.allow_from)
            .field("format", &self.format)
            .field("topics", &self.topics)
            .finish_non_exhaustive()
    }
}

impl PushConfig {
    pub fn token(&self) -> Secret {
        Secret {
            password_env: self.token_env.clone(),
            password_command: self.token_command.clone(),
        }
    }

    /// What makes the SNS settings unusable: `(key, value, reason)`.
    pub fn sns_problem(&self) -> Option<(&'static str, Option<String>, String)> {
        if self.format != PushFormat::Sns {
            if let Some(t) = self.topics.first() {
                return Some((
                    "topics",
                    Some(t.clone()),
                    "topics applies to format = \"sns\" only".into(),
                ));
            }
            if self.sns_hosts != default_sns_hosts() {
                return Some((
                    "sns_hosts",
                    None,
                    "sns_hosts applies to format = \"sns\" only".into(),
                ));
            }
            if self.ca_file.is_some() {
                return Some((
                    "ca_file",
                    None,
                    "ca_file applies to format = \"sns\" only".into(),
                ));
            }
            return None;
        }
        if self.topics.is_empty() {
            return Some((
                "format",
                Some("sns".into()),
                "format = \"sns\" needs topics = [\"arn:aws:sns:REGION:ACCOUNT:TOPIC\"], the topics whose messages are taken".into(),
            ));
        }
        for t in &self.topics {
            let parts: Vec<&str> = t.split(':').collect();
            if parts.len() != 6
                || parts[0] != "arn"
                || parts[2] != "sns"
                || parts.iter().any(|p| p.trim().is_empty())
            {
                return Some((
                    "topics",
                    Some(t.clone()),
                    format!(
                        "topics: {t:?} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:TOPIC)"
                    ),
                ));
            }
        }
        if self.sns_hosts.is_empty() {
            return Some((
                "sns_hosts",
                None,
                "sns_hosts is empty: no signing certificate could be fetched (leave it out for Amazon's own hosts)".into(),
            ));
        }
        for h in &self.sns_hosts {
            if h.trim().is_empty() || h.contains(['/', '@', '?', '#', ' ']) {
                return Some((
                    "sns_hosts",
                    Some(h.clone()),
                    format!("sns_hosts: {h:?} is not a host name (e.g. \"sns.*.amazonaws.com\")"),
                ));
            }
        }
        None
    }

    /// The allowed networks, parsed; an error names the bad entry.
    pub fn networks(&self) -> Result<Vec<Network>, String> {
        self.allow_from.iter().map(|s| Network::parse(s)).collect()
    }
}

/// Whose pushes a `[[push]]` receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushRegistrar {
    Opensrs,
    Autodns,
    Gandi,
}

impl PushRegistrar {
    pub fn label(self) -> &'static str {
        match self {
            PushRegistrar::Opensrs => "OpenSRS",
            PushRegistrar::Autodns => "AutoDNS",
            PushRegistrar::Gandi => "Gandi",
        }
    }
}

/// How a `[[push]]` body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushFormat {
    /// The registrar's notification itself.
    #[default]
    Any,
    /// An Amazon SNS message (`SubscriptionConfirmation`, `Notification`,
    /// `UnsubscribeConfirmation`) carrying the notification in `Message`.
    Sns,
}

/// Where Amazon SNS signs from: its regional endpoints.
pub fn default_sns_hosts() -> Vec<String> {
    vec![
        "sns.*.amazonaws.com".to_string(),
        "sns.*.amazonaws.com.cn".to_string(),
    ]
}

/// Whether `host` (lower-case, with `port`) is allowed by one of `patterns`: a pattern's
/// `*` stands for exactly one DNS label; a pattern with `:port` allows that port only,
/// one without allows any.
pub fn host_allowed(patterns: &[String], host: &str, port: Option<u16>) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    patterns.iter().any(|p| {
        let p = p.trim().to_ascii_lowercase();
        let (name, want_port) = match p.rsplit_once(':') {
            Some((n, port_text)) if !n.contains(':') || n.starts_with('[') => {
                match port_text.parse::<u16>() {
                    Ok(v) => (n.trim_matches(['[', ']']).to_string(), Some(v)),
                    Err(_) => (p.clone(), None),
                }
            }
            _ => (p.clone(), None),
        };
        if want_port.is_some() && want_port != Some(port.unwrap_or(443)) {
            return false;
        }
        let (want, have): (Vec<&str>, Vec<&str>) =
            (name.split('.').collect(), host.split('.').collect());
        want.len() == have.len()
            && want
                .iter()
                .zip(&have)
                .all(|(w, h)| !h.is_empty() && (*w == "*" || w == h))
    })
}

/// An address with a prefix length (`62.116.129.216/32`, `::1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    pub addr: std::net::IpAddr,
    pub prefix: u8,
}

impl Network {
    pub fn parse(s: &str) -> Result<Network, String> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: std::net::IpAddr = a
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not an address or CIDR network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: prefix length must be 0 to {max}"))?,
        };
        Ok(Network { addr, prefix })
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}
