//! `mailroom completions SHELL` and `mailroom man`: shell completions and manual pages
//! generated from the command-line definition itself, so they never drift from it.

use std::io::Write;
use std::path::PathBuf;

use clap::CommandFactory;

use super::{Cli, EXIT_OK};

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for: bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// The completion script on stdout, e.g. `mailroom completions bash >
/// /etc/bash_completion.d/mailroom`.
pub fn completions(args: &CompletionsArgs) -> anyhow::Result<u8> {
    let mut cmd = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut cmd, "mailroom", &mut out);
    out.flush()?;
    Ok(EXIT_OK)
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write mailroom.1 and a page per command (mailroom-events.1, …) into this
    /// directory instead of printing mailroom(1) on stdout.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub fn man(args: &ManArgs) -> anyhow::Result<u8> {
    let cmd = Cli::command();
    match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)
                .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
            eprintln!("manual pages written to {}", dir.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            out.flush()?;
        }
    }
    Ok(EXIT_OK)
}
