//! mailroom: registrar notifications in (mail, API polls, pushes), events stored exactly
//! once, rules run.
//!
//! The stages read top to bottom (docs/ARCHITECTURE.md): `cli/` on top; `service/`
//! runs the tasks; `web/` (console, API, metrics, push HTTP); `channel/` (IMAP, local
//! folders, files, registrar poll, push), each owning its loop and handing raw bytes
//! and their `source` to the one `ingest::intake::Intake` (extract → policy → store →
//! rules → outbox rows, one transaction); `deliver/` works off the outbox behind a
//! transport; below them `store` (SQLite: persists and answers queries), `rules` (pure
//! matching) and `extract` (email → events); the model (`event`, `topics`, `source`,
//! `config`, `action`); small helpers (`text`, `secret`, `shutdown`, `clock`) at the
//! bottom.

pub mod action;
pub mod channel;
pub mod cli;
pub mod clock;
pub mod config;
pub mod deliver;
pub mod der;
pub mod event;
pub mod extract;
pub mod filter;
pub mod ingest;
pub mod oauth2;
pub mod reason;
pub mod rules;
pub mod schedule;
pub mod secret;
pub mod service;
pub mod shutdown;
pub mod source;
pub mod store;
pub mod term;
pub mod text;
pub mod tls;
pub mod topics;
pub mod trust;
pub mod web;
