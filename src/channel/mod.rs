//! The channels: where registrar notifications come in. Each owns its loop and hands
//! raw bytes with where it found them (`crate::source::Source`) to the one
//! [`Intake`](crate::ingest::intake::Intake), the only way a channel stores anything;
//! it acknowledges (IMAP `seen`/`move`, registrar ACK, HTTP 200) only what the intake
//! has committed. Channels know the intake, not the rules or the tables behind it.
//!
//! - `imap/`: IMAP folders, a connection each (`watch`, `once`);
//! - `folder`: local Maildirs and drop directories, read on an interval;
//! - `files`: `.eml`, Maildir and mbox readers for `mailroom import` and `folder`;
//! - `poll`: registrar APIs polled (protocol text in `poll_opensrs`, `poll_autodns`);
//! - `push`: registrar pushes, judged here and answered by the web server;
//! - `gandi`: Gandi's notification API (XML-RPC text in `gandi_xmlrpc`) and the
//!   end-to-end probe's two steps (ask for a test message, wait until it is stored).
//!
//! A channel's `watch` returns `Ok` at shutdown and `Err` when it fails; the service's
//! supervisor records the failure and retries with backoff, so no channel writes its
//! own reconnect loop.

pub mod files;
pub mod folder;
pub mod gandi;
pub mod gandi_xmlrpc;
pub mod imap;
pub mod poll;
pub mod poll_autodns;
pub mod poll_opensrs;
pub mod push;
pub mod sns;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A channel's failure as the supervisor sees it: its text (for the log and `mailroom
/// status`) and whether only a person can fix it (then retried slowly).
pub trait Failure: std::fmt::Display {
    fn needs_a_person(&self) -> bool {
        false
    }
    /// The source worked but the database would not take what it brought: the log
    /// line says "database error", not the source's kind.
    fn in_database(&self) -> bool {
        false
    }
}

/// Set by a channel once it is working (connected and caught up, a poll round done):
/// the supervisor then starts its next retry from the shortest delay again.
#[derive(Clone, Default)]
pub struct Health(Arc<AtomicBool>);

impl Health {
    pub fn ok(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether the channel was working since the last [`Health::take`], leaving it.
    pub fn peek(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Whether the channel was working since the last call.
    pub fn take(&self) -> bool {
        self.0.swap(false, Ordering::Relaxed)
    }
}
