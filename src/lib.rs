//! mailroom: registrar notification emails in, events stored exactly once, rules run.
//!
//! The pipeline reads top to bottom: `extract` (email → events), `event` (the
//! normalized event) and `topics` (the cross-registrar vocabulary), then the store,
//! rules and delivery stages.

pub mod channel;
pub mod cli;
pub mod clock;
pub mod config;
pub mod deliver;
pub mod event;
pub mod extract;
pub mod reason;
pub mod rules;
pub mod secret;
pub mod source;
pub mod store;
pub mod term;
pub mod tls;
pub mod topics;
pub mod trust;
pub mod watch;
