//! The command line: arguments are parsed and validated here, then each verb (one file
//! each) does its work through the library and returns its exit status.

mod check;
mod deliver;
mod digest;
mod events;
mod gandi;
mod import;
mod init;
mod manual;
mod migrate;
mod oauth2;
mod parse;
mod preflight;
mod quarantine;
mod rules;
mod serve;
mod watch;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::rules::RuleSet;
use crate::store::{self, NewEvent, Store};

/// Registrar notification mail, stored once, acted on by your rules.
#[derive(Debug, Parser)]
#[command(name = "mailroom", version, about, propagate_version = true)]
pub struct Cli {
    /// Config file (default: $MAILROOM_CONFIG, else the first of ./mailroom.toml,
    /// ~/.config/mailroom/mailroom.toml, /etc/mailroom/mailroom.toml).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// SQLite database file (overrides the config; default mailroom.db).
    #[arg(long, global = true, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// Log lines for people (`human`, the default) or machines (`json`).
    #[arg(long, global = true, value_enum, default_value = "human")]
    pub log_format: LogFormat,
    /// More log detail: -v debug, -vv trace (RUST_LOG, when set, wins).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less log detail: -q warnings and errors only, -qq errors only.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the events found in email files, touching no database.
    Parse(parse::Args),
    /// Store the events of .eml files, Maildir folders, mbox files or stdin.
    Import(import::Args),
    /// List, count and show stored events.
    Events(events::Args),
    /// List messages that gave no event, with the reason.
    Quarantine(quarantine::Args),
    /// Run the extractors again over stored messages and add what they now find.
    Reparse(quarantine::ReparseArgs),
    /// Validate rule files, or test what they would do.
    Rules(rules::Args),
    /// Every known notification type per registrar, its topic and who subscribes.
    Topics(rules::TopicsArgs),
    /// Deliver everything due in the outbox (and digests whose period ended), then exit.
    Deliver(deliver::DeliverArgs),
    /// Pending, failed and dead deliveries; retry.
    Outbox(deliver::OutboxArgs),
    /// Preview or send a digest now.
    Digest(digest::Args),
    /// The main job: watch every configured folder, deliver, send digests.
    Watch(watch::Args),
    /// Only the HTTP server (web console, API, metrics) over a database another
    /// process fills.
    Serve(serve::Args),
    /// Per folder: last sync, last error, cursor; and the outbox depth.
    Status(watch::StatusArgs),
    /// Write a commented mailroom.toml and rules/ for one mailbox (asks on a terminal,
    /// or takes flags), then check it.
    Init(init::Args),
    /// Whether every configured source and destination would work (like fetchmail -c):
    /// logins, folders, SMTP, webhook hosts, registrar credentials, rule files. Sends
    /// nothing, creates no database.
    Check(check::Args),
    /// Gandi's notification API: subscriptions beside the rules, count, and an
    /// end-to-end test of one notification.
    Gandi(gandi::Args),
    /// OAuth2 sign-in for an account: `mailroom oauth2 login ACCOUNT`.
    Oauth2(oauth2::Args),
    /// The provider presets (`provider = "…"`): hosts, ports, login method.
    Providers(oauth2::ProvidersArgs),
    /// Copy the database into PostgreSQL (`--to postgres://…`) and compare every
    /// table's row count; interrupted, it resumes.
    Migrate(migrate::Args),
    /// Print the shell completion script for bash, zsh, fish, elvish or powershell.
    Completions(manual::CompletionsArgs),
    /// Print the manual page (roff), or write one per command into a directory.
    Man(manual::ManArgs),
}

/// What every verb gets: the config and the command-line overrides.
pub struct Context {
    pub config: Config,
    db: Option<PathBuf>,
}

/// What the store calls for each event stored for the first time.
pub type Reactor = Box<dyn FnMut(&rusqlite::Transaction<'_>, NewEvent<'_>) -> store::Result<()>>;

/// Where the PostgreSQL store at `url` is and how to reach it, as `[store]` says.
pub(crate) fn pg_target(
    config: &Config,
    url: &str,
    password: Option<String>,
) -> crate::store::pg::Target {
    let st = &config.store;
    crate::store::pg::Target {
        url: url.to_string(),
        password,
        ca_file: st.ca_file.as_ref().map(|p| config.resolve(p)),
        dead_after: crate::store::pg::Target::dead_after_for(st.lease),
        pooled: st.pool_mode == crate::config::PoolMode::Transaction,
    }
}

impl Context {
    pub fn load(config: Option<&Path>, db: Option<PathBuf>) -> anyhow::Result<Context> {
        let ctx = Context {
            config: Config::load(config)?,
            db: db.clone(),
        };
        let path = ctx.db_path();
        if let Some(url) = crate::store::pg_url(&path) {
            let st = &ctx.config.store;
            let secret = st.password();
            let password = if secret.is_set() {
                secret.resolve()?.filter(|p| !p.is_empty())
            } else {
                std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty())
            };
            crate::store::pg::register(pg_target(&ctx.config, url, password));
        }
        tracing::debug!(
            db = %crate::secret::redact(&path.display().to_string()),
            rules = %ctx.config.rules_dir().display(),
            "using"
        );
        Ok(ctx)
    }

    pub fn db_path(&self) -> PathBuf {
        self.config.db_path(self.db.as_deref())
    }

    pub fn open_store(&self) -> anyhow::Result<Store> {
        Ok(Store::open(&self.db_path())?)
    }

    /// The database if it exists: for commands that only read, which must create
    /// nothing (`no database at PATH` otherwise).
    pub fn open_existing_store(&self) -> anyhow::Result<Store> {
        Ok(Store::open_existing(&self.db_path())?)
    }

    /// The rule files, checked; a bad file is an error naming file, line and reason.
    /// With `[alerts] to`, a built-in rule ahead of them forwards every alert.
    pub fn rules(&self) -> anyhow::Result<RuleSet> {
        let dir = self.config.rules_dir();
        if dir.is_file() {
            let at = self
                .config
                .position("rules", None, &dir.display().to_string());
            anyhow::bail!(
                "{at}: rules = {} names a file; it must name the folder holding your rule files (*.toml): set rules = \"{}\" in the config, or move the file into a folder",
                dir.display(),
                dir.parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."))
                    .display()
            );
        }
        let mut rules = crate::rules::load_dir(&dir).map_err(|e| anyhow::anyhow!("{e}"))?;
        rules.public_url = self.config.http.public_url.clone();
        if !self.config.alerts.to.is_empty() {
            rules
                .rules
                .insert(0, crate::rules::alerts_rule(&self.config.alerts.to));
        }
        Ok(rules)
    }

    /// What happens to a new event: its rules run and their actions are queued, in the
    /// transaction that stores it.
    pub fn reactor(&self, _store: &Store) -> anyhow::Result<Reactor> {
        let rules = self.rules()?;
        let mut grouping = crate::ingest::group::Grouping::default();
        Ok(Box::new(move |tx, new| {
            crate::ingest::rules::react(&rules, &mut grouping, tx, new).map(|_| ())
        }))
    }
}

fn dispatch(command: &Command, ctx: &Context) -> anyhow::Result<u8> {
    match command {
        Command::Parse(args) => parse::run(args),
        Command::Import(args) => import::run(args, ctx),
        Command::Events(args) => events::run(args, ctx),
        Command::Quarantine(args) => quarantine::run(args, ctx),
        Command::Reparse(args) => quarantine::reparse(args, ctx),
        Command::Rules(args) => rules::run(args, ctx),
        Command::Topics(args) => rules::topics(args, ctx),
        Command::Deliver(args) => deliver::run(args, ctx),
        Command::Outbox(args) => deliver::outbox(args, ctx),
        Command::Digest(args) => digest::run(args, ctx),
        Command::Watch(args) => watch::run(args, ctx),
        Command::Serve(args) => serve::run(args, ctx),
        Command::Status(args) => watch::status(args, ctx),
        Command::Check(args) => check::run(args, ctx),
        Command::Init(args) => init::run(args),
        Command::Gandi(args) => gandi::run(args, ctx),
        Command::Oauth2(args) => oauth2::run(args, ctx),
        Command::Providers(args) => oauth2::providers(args),
        Command::Migrate(args) => migrate::run(args, ctx),
        Command::Completions(args) => manual::completions(args),
        Command::Man(args) => manual::man(args),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

/// Structured logs on stderr at `info`; `-v`/`-vv` and `-q`/`-qq` move that level,
/// and `RUST_LOG`, when set, decides instead (it can name modules too).
fn init_logging(format: LogFormat, verbose: u8, quiet: u8) {
    let level = match (verbose, quiet) {
        (0, 0) => "info",
        (1, _) => "debug",
        (v, _) if v > 1 => "trace",
        (_, 1) => "warn",
        _ => "error",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Human => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}

/// Exit statuses (`mailroom man`, EXIT STATUS).
pub const EXIT_OK: u8 = 0;
pub const EXIT_ERROR: u8 = 1;

pub fn run(cli: Cli) -> ExitCode {
    init_logging(cli.log_format, cli.verbose, cli.quiet);
    let result = match &cli.command {
        // These need no config and no database.
        Command::Parse(args) => parse::run(args),
        Command::Completions(args) => manual::completions(args),
        Command::Man(args) => manual::man(args),
        command => Context::load(cli.config.as_deref(), cli.db.clone()).and_then(|ctx| {
            dispatch(command, &ctx).map_err(|e| {
                // A fault of the database file itself: name the file and the fix.
                match crate::store::file_problem(e.as_ref(), &ctx.db_path()) {
                    Some(line) => anyhow::anyhow!(line),
                    None => e,
                }
            })
        }),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("mailroom: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}
