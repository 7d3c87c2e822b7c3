//! `mailroom serve`: only the HTTP server (the console, the API, `/metrics`, push
//! receivers) over a database that another process fills (`watch` elsewhere, or
//! `import`). No source is read and nothing is delivered here: a retry or a reparse done
//! in the console is picked up by that other process's delivery. Stops on SIGINT/SIGTERM.

use super::{Context, EXIT_OK};
use crate::service::{self, Mode};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: &Args, ctx: &Context) -> anyhow::Result<u8> {
    let rules = super::preflight::service_rules(ctx)?;
    let db = ctx.db_path();
    // Serve what exists: a wrong path is an error, not a new empty database.
    drop(ctx.open_existing_store()?);
    service::start(Mode::Serve, ctx.config.clone(), db, rules)?;
    Ok(EXIT_OK)
}
