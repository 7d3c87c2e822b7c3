//! The command line: arguments are parsed and validated here, then each verb (one file
//! each) does its work through the library and returns its exit status.

mod events;
mod import;
mod parse;
mod quarantine;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::store::{self, NewEvent, Store};

/// Registrar notification mail, stored once, acted on by your rules.
#[derive(Debug, Parser)]
#[command(name = "mailroom", version, about, propagate_version = true)]
pub struct Cli {
    /// Config file (default: mailroom.toml when present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// SQLite database file (overrides the config; default mailroom.db).
    #[arg(long, global = true, value_name = "FILE")]
    pub db: Option<PathBuf>,
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
}

/// What every verb gets: the config and the command-line overrides.
pub struct Context {
    pub config: Config,
    db: Option<PathBuf>,
}

/// What the store calls for each event stored for the first time.
pub type Reactor = Box<dyn FnMut(&rusqlite::Transaction<'_>, NewEvent<'_>) -> store::Result<()>>;

impl Context {
    pub fn load(config: Option<&Path>, db: Option<PathBuf>) -> anyhow::Result<Context> {
        Ok(Context {
            config: Config::load(config)?,
            db,
        })
    }

    pub fn db_path(&self) -> PathBuf {
        self.config.db_path(self.db.as_deref())
    }

    pub fn open_store(&self) -> anyhow::Result<Store> {
        Ok(Store::open(&self.db_path())?)
    }

    /// What happens to a new event: its rules run and their actions are queued.
    pub fn reactor(&self, _store: &Store) -> anyhow::Result<Reactor> {
        Ok(Box::new(|_, _| Ok(())))
    }
}

/// Exit statuses (DESIGN §6).
pub const EXIT_OK: u8 = 0;
pub const EXIT_ERROR: u8 = 1;

pub fn run(cli: Cli) -> ExitCode {
    let result = match &cli.command {
        Command::Parse(args) => parse::run(args),
        command => {
            Context::load(cli.config.as_deref(), cli.db.clone()).and_then(|ctx| match command {
                Command::Import(args) => import::run(args, &ctx),
                Command::Events(args) => events::run(args, &ctx),
                Command::Quarantine(args) => quarantine::run(args, &ctx),
                Command::Reparse(args) => quarantine::reparse(args, &ctx),
                Command::Parse(_) => unreachable!("handled above"),
            })
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("mailroom: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}
