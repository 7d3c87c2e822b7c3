//! The `mailroom` binary: a thin shell over the library's CLI module.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Like other Unix tools, end quietly when the reader of our output goes away
    // (`mailroom events | head`) instead of failing on every later write.
    // SAFETY: setting a signal disposition to its default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    mailroom::cli::run(mailroom::cli::Cli::parse())
}
