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
    if matches!(cli.command, Command::Watch(_)) {
        return_freed_memory_at_once();
    }
    mailroom::cli::run(cli)
}

/// The service runs for months: memory it frees goes back to the system at once, and
/// stays in small pages. With mimalloc's defaults (a purge delay of a second, and
/// transparent huge pages in its arenas) the soak saw `watch` hold 89-150 MiB, more
/// each simulated day, for what it used; with these 42-50 MiB all week, flat
/// (docs/RELIABILITY.md).
/// Short commands (import) keep the defaults, which are a little faster.
fn return_freed_memory_at_once() {
    /// `mi_option_purge_delay` of mimalloc 3 (the crate's constants name version 2's).
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: mimalloc reads this option each time it purges; prctl sets a flag of this
    // process only. Both are called before any other thread starts.
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY, 0);
        #[cfg(target_os = "linux")]
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
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
