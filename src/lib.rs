//! mailroom: registrar notifications in (mail, API polls, pushes), events stored exactly
//! once, rules run.
//!
//! The pipeline reads top to bottom (DESIGN §1): `channel/` (one file per channel:
//! IMAP, local files and mbox, registrar poll, push) hands raw bytes and their `source`
//! to `pipeline` (extract → store → rules → outbox rows, one transaction), built on
//! `extract` (email → events), `event` and `topics` (the model), `store` (SQLite: it
//! persists and answers queries, runs no extractor and no rule) and `rules` (pure
//! matching); `deliver/` works off the outbox. `watch` is the service running the
//! channels, delivery and the HTTP server; `cli/` sits on top.

pub mod channel;
pub mod cli;
pub mod clock;
pub mod config;
pub mod deliver;
pub mod event;
pub mod extract;
pub mod filter;
pub mod pipeline;
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
pub mod web;
