//! The command line: arguments are parsed and validated here, then each verb (one file
//! each) does its work through the library and returns its exit status.

mod parse;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
}

/// Exit statuses (DESIGN §6).
pub const EXIT_OK: u8 = 0;
pub const EXIT_ERROR: u8 = 1;

pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Parse(args) => parse::run(&args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("mailroom: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}
