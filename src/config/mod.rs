//! `mailroom.toml` (DESIGN §7): every key, its default, and the checks done at load.
//! Every command also works with no config file at all, on these defaults.

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub mod alerts;
pub mod gandi;
mod http;
mod mail;
pub mod oauth2;
mod sources;
#[cfg(test)]
mod tests;
mod values;

pub use alerts::AlertsConfig;
pub use gandi::GandiConfig;
pub use http::*;
pub use mail::*;
pub use oauth2::{Auth, OAuth2Config};
pub use sources::*;
use values::*;
pub use values::{parse_duration, parse_size};

/// Where a config or rule file is wrong: file, line, column, reason (line 0: the file
/// as a whole, such as one that cannot be read).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FileError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            0 => write!(f, "{}: {}", self.file.display(), self.message),
            line => write!(
                f,
                "{}:{line}:{}: {}",
                self.file.display(),
                self.column,
                self.message
            ),
        }
    }
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
    /// mailroom's own alerts (`mailroom.*` events).
    #[serde(default)]
    pub alerts: AlertsConfig,
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
    /// Gandi's notification API and the end-to-end probe (`[gandi]`). Default: none.
    pub gandi: Option<GandiConfig>,
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
    /// PostgreSQL: environment variable holding the password (else `PGPASSWORD`), for
    /// `mailroom migrate --to`.
    pub password_env: Option<String>,
    /// PostgreSQL: command printing the password.
    pub password_command: Option<String>,
    /// PostgreSQL: a CA (PEM) trusted besides the system's for the server's certificate.
    pub ca_file: Option<PathBuf>,
    /// PostgreSQL: environment variable holding the whole URL (`db` then need not be
    /// set; a URL with a password in it stays out of the config file).
    pub url_env: Option<String>,
    /// PostgreSQL: how long a source (an IMAP folder, a local folder, a registrar
    /// poll) waits for another instance after its holder died or lost the database.
    /// Default `30s`.
    #[serde(default = "default_lease", deserialize_with = "de_duration")]
    pub lease: std::time::Duration,
    /// PostgreSQL: `"transaction"` when connections go through a pool in transaction
    /// mode (PgBouncer `pool_mode = transaction`): no prepared statements, no startup
    /// options, delivery polls instead of LISTEN. Default `"session"` (a direct
    /// connection, or a pool in session mode).
    #[serde(default)]
    pub pool_mode: PoolMode,
}

/// How connections reach PostgreSQL (`[store] pool_mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolMode {
    #[default]
    Session,
    Transaction,
}

/// Whether `db` names a PostgreSQL database rather than an SQLite file.
pub fn is_pg_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

fn default_lease() -> std::time::Duration {
    std::time::Duration::from_secs(30)
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            raw_limit: default_raw_limit(),
            password_env: None,
            password_command: None,
            ca_file: None,
            url_env: None,
            lease: default_lease(),
            pool_mode: PoolMode::default(),
        }
    }
}

impl StoreConfig {
    pub fn password(&self) -> Secret {
        Secret {
            password_env: self.password_env.clone(),
            password_command: self.password_command.clone(),
        }
    }
}

fn default_raw_limit() -> u64 {
    25 << 20
}

/// `file:line:column` of the first line of `src` that sets `key` (to `value`, when
/// given); the file alone when no line does.
fn position(file: &Path, src: &str, key: &str, value: Option<&str>) -> String {
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

/// `file:line:column` of the line opening table `header` (`[gandi]`); the file alone
/// when no line does.
fn table_position(file: &Path, src: &str, header: &str) -> String {
    let mut offset = 0;
    for line in src.split_inclusive('\n') {
        let body = line.trim_start();
        if body.starts_with(header) {
            let (l, c) = line_col(src, offset + (line.len() - body.len()));
            return format!("{}:{l}:{c}", file.display());
        }
        offset += line.len();
    }
    file.display().to_string()
}

/// What is wrong with a login's settings: (key, value, message).
fn login_problem(
    what: &str,
    auth: Auth,
    oauth2: Option<&OAuth2Config>,
) -> Option<(&'static str, Option<String>, String)> {
    match (auth.is_oauth2(), oauth2) {
        (false, _) => None,
        (true, None) => Some((
            "auth",
            Some(auth.as_str().to_string()),
            format!(
                "{what}: auth = \"{}\" needs an oauth2 table (token_url, client_id, token_file)",
                auth.as_str()
            ),
        )),
        (true, Some(o)) => o
            .problem()
            .map(|(key, msg)| (key, None, format!("{what}: {msg}"))),
    }
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
    /// An event older than this when first stored is stored, listed and counted, but no
    /// rule acts on it (a first run over years of mail sends no news of old events);
    /// `mailroom rules apply --since` acts on such events deliberately. `"0"`: no
    /// limit. Default `7d`.
    #[serde(default = "default_max_event_age", deserialize_with = "de_duration")]
    pub max_event_age: std::time::Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_events_per_message: default_max_events(),
            max_event_age: default_max_event_age(),
        }
    }
}

fn default_max_event_age() -> std::time::Duration {
    std::time::Duration::from_secs(7 * 86400)
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
        // Who named the file, for a message that says what to change.
        let by = if path.is_some() {
            "--config "
        } else {
            "MAILROOM_CONFIG="
        };
        let (path, required) = match named {
            Some(p) => (p, true),
            None => match search_path().into_iter().find(|p| p.is_file()) {
                Some(p) => (p, false),
                None => return Ok(Config::default()),
            },
        };
        if required && path.is_dir() {
            anyhow::bail!(
                "{by}{}: is a folder; name the config file itself, e.g. {by}{}",
                path.display(),
                path.join("mailroom.toml").display()
            );
        }
        let src = match std::fs::read_to_string(&path) {
            Ok(s) => s,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Config::default());
            }
            Err(e) if required => anyhow::bail!(
                "{by}{}: {} (name an existing mailroom.toml)",
                path.display(),
                crate::reason::io(&e)
            ),
            Err(e) => anyhow::bail!("{}: {}", path.display(), crate::reason::io(&e)),
        };
        let config = Config::from_text(&path, src)?;
        tracing::debug!(file = %path.display(), "config read");
        Ok(config)
    }

    /// A config from its text, as if read from `path` (errors point into `src`).
    pub fn from_text(path: &Path, src: String) -> anyhow::Result<Config> {
        let mut config: Config =
            toml::from_str(&src).map_err(|e| FileError::from_toml(path, &src, &e))?;
        config.base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        config.presets(path, &src)?;
        config.check(path, &src)?;
        config.origin = Some((path.to_path_buf(), src));
        Ok(config)
    }

    /// Fills what `provider` presets know and the file leaves out, then checks the login
    /// settings (an OAuth2 login needs its endpoint, client and token source).
    fn presets(&mut self, path: &Path, src: &str) -> anyhow::Result<()> {
        let unknown = |name: &str| {
            anyhow::anyhow!(
                "{}: unknown provider {name:?} (known: {}; mailroom providers lists them)",
                position(path, src, "provider", Some(name)),
                oauth2::provider_names()
            )
        };
        let mut problems = Vec::new();
        for a in &mut self.accounts {
            if let Some(name) = &a.provider {
                let p = oauth2::provider(name).ok_or_else(|| unknown(name))?;
                if a.host.is_empty() {
                    a.host = p.imap_host.to_string();
                }
                a.auth.get_or_insert(p.auth);
                if a.auth().is_oauth2() {
                    a.oauth2
                        .get_or_insert_with(OAuth2Config::default)
                        .fill(p, false);
                }
            }
            if a.host.is_empty() {
                problems.push((
                    "name",
                    Some(a.name.clone()),
                    format!("account {}: host is missing (or set provider)", a.name),
                ));
            }
            let problem =
                login_problem(&format!("account {}", a.name), a.auth(), a.oauth2.as_ref());
            // A missing key has no line: point at the account.
            problems.extend(problem.map(|(key, value, msg)| match key {
                "oauth2" => ("name", Some(a.name.clone()), msg),
                _ => (key, value, msg),
            }));
        }
        if let Some(s) = &mut self.smtp {
            if let Some(name) = &s.provider {
                let p = oauth2::provider(name).ok_or_else(|| unknown(name))?;
                s.host.get_or_insert_with(|| p.smtp_host.to_string());
                s.auth.get_or_insert(p.auth);
                if s.auth().is_oauth2() {
                    s.oauth2
                        .get_or_insert_with(OAuth2Config::default)
                        .fill(p, true);
                }
            }
            problems.extend(login_problem("[smtp]", s.auth(), s.oauth2.as_ref()));
        }
        match problems.into_iter().next() {
            Some((key, value, msg)) => Err(anyhow::anyhow!(
                "{}: {msg}",
                self.position_in(path, src, key, value.as_deref())
            )),
            None => Ok(()),
        }
    }

    fn check(&self, path: &Path, src: &str) -> anyhow::Result<()> {
        let fail = |msg: String| anyhow::anyhow!("{}: {msg}", path.display());
        let n = self.webhook.concurrency;
        if !(1..=64).contains(&n) {
            return Err(anyhow::anyhow!(
                "{}: [webhook] concurrency must be 1 to 64 (calls in flight to one host at once; default 1)",
                self.position_in(path, src, "concurrency", Some(&n.to_string())),
            ));
        }
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
        self.check_store(path, src)?;
        if let Some((key, value, msg)) = self.gandi.as_ref().and_then(GandiConfig::problem) {
            let at = if key == "[gandi]" {
                table_position(path, src, key)
            } else {
                self.position_in(path, src, key, value.as_deref())
            };
            return Err(anyhow::anyhow!("{at}: {msg}"));
        }
        for e in &self.alerts.expect {
            if !matches!(e.registrar.as_str(), "opensrs" | "autodns" | "gandi") {
                return Err(anyhow::anyhow!(
                    "{}: [[alerts.expect]] registrar {:?} is not one mailroom reads (opensrs, autodns, gandi)",
                    self.position_in(path, src, "registrar", Some(&e.registrar)),
                    e.registrar
                ));
            }
        }
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
        if let Some(u) = &self.http.public_url {
            let ok = reqwest::Url::parse(u)
                .is_ok_and(|x| matches!(x.scheme(), "http" | "https") && x.host_str().is_some());
            if !ok {
                anyhow::bail!(
                    "{}: [http] public_url {u:?} is not an http(s) URL (e.g. https://mailroom.example)",
                    at("public_url", Some(u))
                );
            }
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
            if let Some((key, value, msg)) = p.sns_problem() {
                anyhow::bail!("{}: push {}: {msg}", at(key, value.as_deref()), p.name);
            }
            // An SNS message is authenticated by its signature; SNS sends no token header
            // (a token may still be set, sent as https://user:TOKEN@host/path or ?token=).
            if !listen.ip().is_loopback() && !p.token().is_set() && p.format != PushFormat::Sns {
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
        position(file, src, key, value)
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
        if let (None, Some(url)) = (cli, self.pg_url()) {
            return PathBuf::from(url);
        }
        match (cli, &self.db) {
            (Some(p), _) => p.to_path_buf(),
            (None, Some(p)) if p.to_str().is_some_and(is_pg_url) => p.clone(),
            (None, Some(p)) => self.resolve(p),
            (None, None) => self.resolve(Path::new("mailroom.db")),
        }
    }

    /// `[store]` and `db` for PostgreSQL: the URL parses, the password can be read (set
    /// and not empty) when the config names where it comes from, the lease is sane.
    fn check_store(&self, path: &Path, src: &str) -> anyhow::Result<()> {
        let st = &self.store;
        if let Some(var) = &st.url_env {
            let at = self.position_in(path, src, "url_env", None);
            match std::env::var(var) {
                Ok(u) if is_pg_url(u.trim()) => {}
                Ok(u) if u.trim().is_empty() => {
                    anyhow::bail!("{at}: url_env = {var:?}: the environment variable is empty")
                }
                Ok(_) => anyhow::bail!(
                    "{at}: url_env = {var:?}: the environment variable does not hold a postgres:// URL"
                ),
                Err(_) => {
                    anyhow::bail!("{at}: url_env = {var:?}: the environment variable is not set")
                }
            }
        }
        let Some(url) = self.pg_url() else {
            return Ok(());
        };
        let at = if st.url_env.is_some() {
            self.position_in(path, src, "url_env", None)
        } else {
            self.position_in(path, src, "db", None)
        };
        if let Err(e) = url.parse::<postgres::Config>() {
            anyhow::bail!(
                "{at}: db = {}: not a PostgreSQL URL ({})",
                crate::secret::redact(&url),
                e
            );
        }
        let secret = st.password();
        if secret.is_set() {
            let key = if st.password_env.is_some() {
                "password_env"
            } else {
                "password_command"
            };
            let at = self.position_in(path, src, key, None);
            match secret.resolve() {
                Ok(Some(p)) if !p.is_empty() => {}
                Ok(_) => anyhow::bail!("{at}: [store] {key} gives an empty password"),
                Err(e) => anyhow::bail!("{at}: [store] {key}: {e}"),
            }
        }
        if st.lease < std::time::Duration::from_secs(3)
            || st.lease > std::time::Duration::from_secs(3600)
        {
            let at = self.position_in(path, src, "lease", None);
            anyhow::bail!("{at}: [store] lease must be between 3s and 1h");
        }
        Ok(())
    }

    /// The PostgreSQL URL of the store, when it is one: `[store] url_env`, else `db`.
    pub fn pg_url(&self) -> Option<String> {
        if let Some(var) = &self.store.url_env {
            return std::env::var(var).ok().map(|u| u.trim().to_string());
        }
        self.db
            .as_ref()
            .and_then(|d| d.to_str())
            .filter(|d| is_pg_url(d))
            .map(str::to_string)
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
