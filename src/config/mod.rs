//! `mailroom.toml` (DESIGN §7): every key, its default, and the checks done at load.
//! Every command also works with no config file at all, on these defaults.

use std::path::{Path, PathBuf};

use serde::Deserialize;

mod http;
mod mail;
mod sources;
#[cfg(test)]
mod tests;
mod values;

pub use http::*;
pub use mail::*;
pub use sources::*;
use values::*;
pub use values::{parse_duration, parse_size};

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

/// How many events one message may bring before it is quarantined instead (see
/// [`LimitsConfig`]).
pub const MAX_EVENTS_PER_MESSAGE: usize = 1000;

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
    MAX_EVENTS_PER_MESSAGE
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
            if a.max_connections == 0 {
                return Err(anyhow::anyhow!(
                    "{}: account {}: max_connections must be at least 1 (the folders past the first max_connections - 1 share one connection; default 5)",
                    self.position_in(path, src, "max_connections", Some("0")),
                    a.name
                ));
            }
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
