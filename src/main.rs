//! The `mailroom` binary: a thin shell over the library's CLI module.

use std::process::ExitCode;

use clap::Parser;
use mailroom::cli::{Cli, Command};

// Messages are read and extracted on one thread and stored (and their memory freed) on
// another; mimalloc handles that hand-over far better than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if only_prints(&cli.command) {
        // Like other Unix tools, a listing ends quietly when the reader of its output
        // goes away (`mailroom events | head`) instead of failing on every later write.
        // Never for commands that talk to servers: a peer closing a TLS or TCP
        // connection would kill them with SIGPIPE instead of an error they recover from.
        // SAFETY: setting a signal disposition to its default before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    mailroom::cli::run(cli)
}

/// Commands that only read the database (or files) and print.
fn only_prints(command: &Command) -> bool {
    matches!(
        command,
        Command::Parse(_)
            | Command::Events(_)
            | Command::Quarantine(_)
            | Command::Topics(_)
            | Command::Status(_)
            | Command::Outbox(_)
    )
}
