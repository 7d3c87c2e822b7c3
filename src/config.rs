//! `mailroom.toml` (DESIGN §7): every key, its default, and the checks done at load.
//! Every command also works with no config file at all, on these defaults.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Where a config or rule file is wrong: file, line, column, reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", file.display())]
pub struct FileError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl FileError {
    /// From a toml error: its span becomes line and column (1-based).
    pub fn from_toml(file: &Path, src: &str, e: &toml::de::Error) -> FileError {
        let (line, column) = e.span().map(|s| line_col(src, s.start)).unwrap_or((1, 1));
        FileError {
            file: file.to_path_buf(),
            line,
            column,
            message: e.message().trim().to_string(),
        }
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let before = &src[..offset.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// SQLite file. Default `mailroom.db` (beside the config file when there is one).
    pub db: Option<PathBuf>,
    /// Directory of rule files, read in name order. Default `rules/`.
    pub rules: Option<PathBuf>,
    #[serde(default)]
    pub store: StoreConfig,
    /// Where forwards, digests and fallbacks go out. Default: none (forwards stay queued
    /// with an error saying so).
    pub smtp: Option<SmtpConfig>,
    #[serde(default)]
    pub delivery: DeliveryConfig,
    #[serde(default)]
    pub webhook: WebhookConfig,
    #[serde(default)]
    pub watch: WatchConfig,
    /// Sender authentication of notifications (DESIGN §8).
    #[serde(default)]
    pub trust: crate::trust::TrustConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    /// IMAP accounts to watch.
    #[serde(default, rename = "account")]
    pub accounts: Vec<AccountConfig>,
    /// Local Maildir folders to watch.
    #[serde(default, rename = "maildir")]
    pub maildirs: Vec<MaildirConfig>,
    /// Registrar APIs polled on an interval (OpenSRS EVENT POLL, AutoDNS poll).
    #[serde(default, rename = "poll")]
    pub polls: Vec<PollConfig>,
    /// The embedded HTTP server (push receivers, web console, event feed, metrics).
    /// It runs when the config has an `[http]` table or any `[[push]]`.
    #[serde(default)]
    pub http: HttpConfig,
    /// Registrar push receivers on the HTTP server.
    #[serde(default, rename = "push")]
    pub pushes: Vec<PushConfig>,
    /// Directory of the config file; relative paths are resolved against it.
    #[serde(skip)]
    pub base: PathBuf,
    /// The file it was read from and its text, to point errors at a key's line.
    #[serde(skip)]
    pub origin: Option<(PathBuf, String)>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Raw messages up to this size are kept whole for `reparse`; larger ones keep
    /// headers and hash only. Default `25MiB`.
    #[serde(default = "default_raw_limit", deserialize_with = "de_size")]
    pub raw_limit: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            raw_limit: default_raw_limit(),
        }
    }
}

fn default_raw_limit() -> u64 {
    25 << 20
}

/// Bounds on what one message may cause.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// A message with more events than this is quarantined (with the reason) instead
    /// of stored and acted on; raise it and `mailroom reparse` to take it. Default 1000
    /// (registrars send up to 100 per poll reply).
    #[serde(default = "default_max_events")]
    pub max_events_per_message: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_events_per_message: default_max_events(),
        }
    }
}

fn default_max_events() -> usize {
    crate::store::MAX_EVENTS_PER_MESSAGE
}

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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// SMTP server. Either `host` or `dir` must be given.
    pub host: Option<String>,
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

fn default_timeout() -> Duration {
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
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            timeout: default_webhook_timeout(),
            ca_file: None,
        }
    }
}

fn default_webhook_timeout() -> Duration {
    Duration::from_secs(15)
}

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
    /// Default `["INBOX"]`.
    #[serde(default = "default_folders")]
    pub folders: Vec<String>,
    #[serde(default)]
    pub after: After,
    /// Folder for `after = "move"`.
    pub move_to: Option<String>,
    #[serde(default)]
    pub start: Start,
}

impl AccountConfig {
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
    fn problem(&self) -> Option<(&'static str, Option<String>, String)> {
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
    pub registrar: PollRegistrar,
    /// URL path, e.g. `/push/autodns`.
    pub path: String,
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

    /// The allowed networks, parsed; an error names the bad entry.
    pub fn networks(&self) -> Result<Vec<Network>, String> {
        self.allow_from.iter().map(|s| Network::parse(s)).collect()
    }
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

fn de_opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Some(match NumOrStr::deserialize(d)? {
        NumOrStr::Num(n) => n.to_string(),
        NumOrStr::Str(s) => s,
    }))
}

impl Config {
    /// Loads `path` (`--config`), else `$MAILROOM_CONFIG`, else the first of
    /// `./mailroom.toml`, `$XDG_CONFIG_HOME/mailroom/mailroom.toml` (default
    /// `~/.config/…`) and `/etc/mailroom/mailroom.toml` that exists, else defaults. A file
    /// named explicitly (option or variable) must exist.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let named = path.map(Path::to_path_buf).or_else(|| {
            std::env::var_os("MAILROOM_CONFIG")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        let (path, required) = match named {
            Some(p) => (p, true),
            None => match search_path().into_iter().find(|p| p.is_file()) {
                Some(p) => (p, false),
                None => return Ok(Config::default()),
            },
        };
        let src = match std::fs::read_to_string(&path) {
            Ok(s) => s,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Config::default());
            }
            Err(e) => anyhow::bail!("{}: {e}", path.display()),
        };
        let mut config: Config =
            toml::from_str(&src).map_err(|e| FileError::from_toml(&path, &src, &e))?;
        config.base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        tracing::debug!(file = %path.display(), "config read");
        config.check(&path, &src)?;
        config.origin = Some((path.clone(), src));
        Ok(config)
    }

    fn check(&self, path: &Path, src: &str) -> anyhow::Result<()> {
        let fail = |msg: String| anyhow::anyhow!("{}: {msg}", path.display());
        for a in &self.accounts {
            if a.after == After::Move && a.move_to.is_none() {
                return Err(fail(format!(
                    "account {}: after = \"move\" needs move_to",
                    a.name
                )));
            }
        }
        for fp in self
            .accounts
            .iter()
            .filter_map(|a| a.cert_fingerprint.as_deref())
            .chain(
                self.smtp
                    .iter()
                    .filter_map(|s| s.cert_fingerprint.as_deref()),
            )
        {
            if let Err(e) = crate::tls::parse_fingerprint(fp) {
                return Err(anyhow::anyhow!(
                    "{}: {e}",
                    self.position_in(path, src, "cert_fingerprint", Some(fp))
                ));
            }
        }
        for p in &self.polls {
            if let Some((key, value, msg)) = p.problem() {
                return Err(anyhow::anyhow!(
                    "{}: {msg}",
                    self.position_in(path, src, key, value.as_deref())
                ));
            }
        }
        self.check_push(path, src)?;
        let mut names: Vec<&str> = self.accounts.iter().map(|a| a.name.as_str()).collect();
        names.extend(self.maildirs.iter().map(|m| m.name.as_str()));
        names.extend(self.polls.iter().map(|p| p.name.as_str()));
        names.extend(self.pushes.iter().map(|p| p.name.as_str()));
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(fail(format!("two sources are named {}", w[0])));
        }
        if let Some(s) = &self.smtp
            && s.host.is_none()
            && s.dir.is_none()
        {
            return Err(fail(
                "[smtp] needs host (a server) or dir (write .eml files)".into(),
            ));
        }
        Ok(())
    }

    /// `file:line:column` of the first line of the config file that sets `key` (to
    /// `value`, when given), for errors about it; the file alone when no line does,
    /// and `what` when there is no config file.
    fn check_push(&self, path: &Path, src: &str) -> anyhow::Result<()> {
        if self.pushes.is_empty() && !self.http.present {
            return Ok(());
        }
        let at = |key: &str, value: Option<&str>| self.position_in(path, src, key, value);
        let listen: std::net::SocketAddr = self.http.listen.parse().map_err(|_| {
            anyhow::anyhow!(
                "{}: [http] listen = {:?} is not an address:port (e.g. 127.0.0.1:8025)",
                at("listen", None),
                self.http.listen
            )
        })?;
        if !listen.ip().is_loopback() && !self.http.token().is_set() {
            anyhow::bail!(
                "{}: [http] listen = {} is reachable from other hosts: set token_env or token_command in [http] (the console and API then ask for it)",
                at("listen", None),
                self.http.listen
            );
        }
        let mut paths: Vec<&str> = Vec::new();
        for p in &self.pushes {
            if !p.path.starts_with('/') || p.path.contains(['?', '#', ' ']) {
                anyhow::bail!(
                    "{}: push {}: path must start with / (e.g. /push/autodns)",
                    at("path", Some(&p.path)),
                    p.name
                );
            }
            if paths.contains(&p.path.as_str()) {
                anyhow::bail!(
                    "{}: push {}: another push already has path {}",
                    at("path", Some(&p.path)),
                    p.name,
                    p.path
                );
            }
            paths.push(&p.path);
            if let Err(e) = p.networks() {
                anyhow::bail!(
                    "{}: push {}: allow_from {e}",
                    at("allow_from", None),
                    p.name
                );
            }
            if !listen.ip().is_loopback() && !p.token().is_set() {
                anyhow::bail!(
                    "{}: push {}: [http] listen = {} is reachable from other hosts: set token_env or token_command",
                    at("name", Some(&p.name)),
                    p.name,
                    self.http.listen
                );
            }
        }
        Ok(())
    }

    pub fn position(&self, key: &str, value: Option<&str>, what: &str) -> String {
        match &self.origin {
            Some((file, src)) => self.position_in(file, src, key, value),
            None => what.to_string(),
        }
    }

    fn position_in(&self, file: &Path, src: &str, key: &str, value: Option<&str>) -> String {
        let mut offset = 0;
        for line in src.split_inclusive('\n') {
            let body = line.trim_start();
            if let Some(rest) = body.strip_prefix(key)
                && rest.trim_start().starts_with('=')
                && value.is_none_or(|v| rest.contains(v))
            {
                let (l, c) = line_col(src, offset + (line.len() - body.len()));
                return format!("{}:{l}:{c}", file.display());
            }
            offset += line.len();
        }
        file.display().to_string()
    }

    /// A path from the config, relative to the config file's directory.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    pub fn db_path(&self, cli: Option<&Path>) -> PathBuf {
        match (cli, &self.db) {
            (Some(p), _) => p.to_path_buf(),
            (None, Some(p)) => self.resolve(p),
            (None, None) => self.resolve(Path::new("mailroom.db")),
        }
    }

    pub fn rules_dir(&self) -> PathBuf {
        self.resolve(self.rules.as_deref().unwrap_or(Path::new("rules")))
    }
}

/// Where a config file is looked for when none is named, in order.
pub fn search_path() -> Vec<PathBuf> {
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    let mut out = vec![PathBuf::from("mailroom.toml")];
    out.extend(xdg.map(|d| d.join("mailroom/mailroom.toml")));
    out.push(PathBuf::from("/etc/mailroom/mailroom.toml"));
    out
}

/// `30s`, `15m`, `24h`, `2d`, `500ms`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => n,
        "ms" => n / 1000.0,
        "m" | "min" | "mins" => n * 60.0,
        "h" | "hour" | "hours" => n * 3600.0,
        "d" | "day" | "days" => n * 86400.0,
        other => {
            return Err(format!(
                "bad duration unit {other:?} in {s:?} (use s, m, h or d)"
            ));
        }
    };
    Ok(Duration::from_secs_f64(secs))
}

/// `10MiB`, `512KiB`, `1GB`, or a bare number of bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("bad size {s:?}"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => return Err(format!("bad size unit {other:?} in {s:?}")),
    };
    Ok(n * mult)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrStr {
    Num(u64),
    Str(String),
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    match NumOrStr::deserialize(d)? {
        NumOrStr::Num(n) => Ok(Duration::from_secs(n)),
        NumOrStr::Str(s) => parse_duration(&s).map_err(serde::de::Error::custom),
    }
}

fn de_size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match NumOrStr::deserialize(d)? {
        NumOrStr::Num(n) => Ok(n),
        NumOrStr::Str(s) => parse_size(&s).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("3 fortnights").is_err());
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
    }

    #[test]
    fn api_urls_are_https_or_loopback_http() {
        assert!(check_api_url("https://api.autodns.com/v1").is_ok());
        assert!(check_api_url("http://127.0.0.1:8080/v1").is_ok());
        assert!(check_api_url("http://[::1]:8080").is_ok());
        assert!(check_api_url("http://localhost").is_ok());
        assert!(check_api_url("http://api.autodns.com/v1").is_err());
        assert!(check_api_url("https://user:pw@api.autodns.com").is_err());
        assert!(check_api_url("ftp://x").is_err());
        assert!(check_api_url("api.autodns.com").is_err());
    }

    #[test]
    fn networks_match_their_addresses() {
        let n = Network::parse("62.116.129.216/32").unwrap();
        assert!(n.contains("62.116.129.216".parse().unwrap()));
        assert!(!n.contains("62.116.129.217".parse().unwrap()));
        assert!(n.contains("::ffff:62.116.129.216".parse().unwrap()));
        let n = Network::parse("10.0.0.0/8").unwrap();
        assert!(n.contains("10.200.1.1".parse().unwrap()));
        assert!(
            Network::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert!(
            Network::parse("::1")
                .unwrap()
                .contains("::1".parse().unwrap())
        );
        assert!(Network::parse("10.0.0.0/33").is_err());
        assert!(Network::parse("nonsense").is_err());
    }

    #[test]
    fn design_example_parses() {
        let src = r#"
db = "mailroom.db"
rules = "rules/"
[smtp]
host = "smtp.example.net"
port = 587
tls = "starttls"
username = "mailroom@example.net"
password_env = "MAILROOM_SMTP_PASSWORD"
ca_file = "/etc/mailroom/ca.pem"
from = "mailroom <mailroom@example.net>"
[delivery]
fallback_to = ["postmaster@example.net"]
give_up_after = "24h"
[[account]]
name = "registrar-mail"
host = "imap.example.net"
port = 993
tls = "implicit"
username = "notifications@example.net"
password_env = "MAILROOM_IMAP_PASSWORD"
folders = ["INBOX"]
after = "seen"
move_to = "Processed"
start = "all"
[[maildir]]
name = "local"
path = "/var/mail/notifications"
"#;
        let c: Config = toml::from_str(src).unwrap();
        assert_eq!(c.accounts[0].after, After::Seen);
        assert_eq!(c.delivery.give_up_after, Duration::from_secs(86400));
        assert_eq!(
            format!("{:?}", c.accounts[0].password()),
            "Secret(env MAILROOM_IMAP_PASSWORD)"
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_position() {
        let src = "db = \"x.db\"\n[delivery]\ngive_up = \"1h\"\n";
        let e = toml::from_str::<Config>(src).unwrap_err();
        let fe = FileError::from_toml(Path::new("m.toml"), src, &e);
        assert_eq!((fe.line, fe.column), (3, 1));
        assert!(fe.message.contains("unknown field"), "{}", fe.message);
    }
}
