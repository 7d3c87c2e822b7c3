//! `mailroom completions SHELL` and `mailroom man`: shell completions and manual pages
//! generated from the command-line definition itself, so they never drift from it.

use std::io::Write;
use std::path::PathBuf;

use clap::CommandFactory;
use clap_mangen::roff;

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
    let extra = sections().to_roff();
    match &args.dir {
        Some(dir) => {
            let fail = |e: std::io::Error| anyhow::anyhow!("{}: {e}", dir.display());
            std::fs::create_dir_all(dir).map_err(fail)?;
            clap_mangen::generate_to(cmd, dir).map_err(fail)?;
            let page = dir.join("mailroom.1");
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&page)
                .map_err(fail)?;
            file.write_all(extra.as_bytes()).map_err(fail)?;
            eprintln!("manual pages written to {}", dir.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            out.write_all(extra.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(EXIT_OK)
}

/// What `--help` has no room for: where the config is found, the environment, exit
/// statuses.
fn sections() -> roff::Roff {
    let mut page = roff::Roff::new();
    let item = |page: &mut roff::Roff, term: &str, text: &str| {
        page.control("TP", [] as [&str; 0])
            .text([roff::bold(term)])
            .text([roff::roman(text)]);
    };
    page.control("SH", ["FILES"]);
    page.text([roff::roman(
        "The config is the file named by --config, else by $MAILROOM_CONFIG, else the \
         first that exists of:",
    )]);
    item(&mut page, "./mailroom.toml", "in the working directory");
    item(
        &mut page,
        "$XDG_CONFIG_HOME/mailroom/mailroom.toml",
        "(default ~/.config/mailroom/mailroom.toml)",
    );
    item(
        &mut page,
        "/etc/mailroom/mailroom.toml",
        "for a system service",
    );
    page.control("PP", [] as [&str; 0]).text([roff::roman(
        "With none, defaults apply. Relative paths in it are relative to its directory. \
         The database (default mailroom.db) is created mode 0600.",
    )]);
    page.control("SH", ["ENVIRONMENT"]);
    item(
        &mut page,
        "MAILROOM_CONFIG",
        "The config file, when --config is not given.",
    );
    item(
        &mut page,
        "RUST_LOG",
        "Log filter (error, warn, info, debug, trace, or per module); when set it decides \
         instead of -v and -q.",
    );
    item(
        &mut page,
        "MAILROOM_NOW",
        "Fixes the clock (RFC 3339) or moves it (+SECONDS), for tests and tries.",
    );
    page.control("SH", ["EXIT STATUS"]);
    item(&mut page, "0", "Success.");
    item(
        &mut page,
        "1",
        "An error to fix; the message on stderr names the file and the reason.",
    );
    item(&mut page, "2", "Bad usage.");
    page.control("SH", ["SEE ALSO"]);
    page.text([roff::roman(
        "The README of mailroom, and mailroom COMMAND --help.",
    )]);
    page
}
