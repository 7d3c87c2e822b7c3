//! The `mailroom` binary: a thin shell over the library's CLI module.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    mailroom::cli::run(mailroom::cli::Cli::parse())
}
