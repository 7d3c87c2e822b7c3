//! The `mailroom` binary: a thin shell over the library's CLI module.

use std::process::ExitCode;

use clap::Parser;

// Messages are read and extracted on one thread and stored (and their memory freed) on
// another; mimalloc handles that hand-over far better than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Like other Unix tools, end quietly when the reader of our output goes away
    // (`mailroom events | head`) instead of failing on every later write.
    // SAFETY: setting a signal disposition to its default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    mailroom::cli::run(mailroom::cli::Cli::parse())
}
