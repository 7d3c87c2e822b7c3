//! Local folders (`[[maildir]]`): a Maildir, or a directory `.eml` files are dropped
//! into, read every `[watch] poll_interval`. A message is known by its file name (its
//! Maildir unique part), so one moved from `new/` to `cur/` is not read twice; what was
//! read is stored through the intake in chunks, each with its own commit.

use std::path::{Path, PathBuf};

use super::{Failure, Health, files};
use crate::config::MaildirConfig;
use crate::ingest::intake::{Intake, Item};
use crate::ingest::{Batch, sum};
use crate::shutdown::Shutdown;
use crate::source::Source;

/// Messages stored per transaction.
const CHUNK: usize = 1000;

/// A local folder that could not be read, or whose messages could not be stored.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FolderError(String);

impl Failure for FolderError {}

/// Reads `m` every poll interval until shutdown (`Ok`) or a failure (`Err`).
pub async fn watch(
    intake: &Intake,
    m: &MaildirConfig,
    mut shutdown: Shutdown,
    health: &Health,
) -> Result<(), FolderError> {
    loop {
        once(intake, m).await?;
        health.ok();
        if shutdown.sleep(intake.config.watch.poll_interval).await {
            return Ok(());
        }
    }
}

/// Reads what is new in `m` once (on a blocking thread: the listing, the files and the
/// database are all disk work).
pub async fn once(intake: &Intake, m: &MaildirConfig) -> Result<Batch, FolderError> {
    let (intake, m) = (intake.clone(), m.clone());
    tokio::task::spawn_blocking(move || catch_up(&intake, &m))
        .await
        .map_err(|e| FolderError(format!("reading the folder stopped unexpectedly: {e}")))?
}

/// New messages of a local folder with where they were found.
fn new_messages(intake: &Intake, dir: &Path) -> crate::store::Result<Vec<(Source, PathBuf)>> {
    let d = dir.display().to_string();
    if files::is_maildir(dir) {
        let known = intake.known_under(&format!("maildir:{d}#"))?;
        return Ok(files::maildir_files(dir)
            .into_iter()
            .filter(|(_, name)| !known.contains(name))
            .map(|(path, name)| {
                (
                    Source::Maildir {
                        dir: d.clone(),
                        name,
                    },
                    path,
                )
            })
            .collect());
    }
    let prefix = format!("{d}/");
    let known = intake.known_under(&format!("file:{prefix}"))?;
    Ok(files::eml_files(dir)
        .into_iter()
        .map(|path| (path.display().to_string(), path))
        .filter(|(key, _)| {
            !key.strip_prefix(&prefix)
                .is_some_and(|rest| known.contains(rest))
        })
        .map(|(key, path)| (Source::File { path: key }, path))
        .collect())
}

fn catch_up(intake: &Intake, m: &MaildirConfig) -> Result<Batch, FolderError> {
    let dir = intake.config.resolve(&m.path);
    let dir = std::fs::canonicalize(&dir)
        .map_err(|e| {
            FolderError(format!(
                "[[maildir]] {}: path {}: {} (set path to the folder your notification mail is delivered to)",
                m.name,
                dir.display(),
                crate::reason::io(&e)
            ))
        })?;
    let new = new_messages(intake, &dir).map_err(|e| FolderError(format!("{}: {e}", m.name)))?;
    let mut total = Batch::default();
    for chunk in new.chunks(CHUNK) {
        let mut items = Vec::with_capacity(chunk.len());
        for (source, path) in chunk {
            match std::fs::read(path) {
                Ok(raw) => items.push(Item::new(source.clone(), raw)),
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot read"),
            }
        }
        let b = intake
            .ingest_here(items, None)
            .map_err(|e| FolderError(format!("{}: {e}", m.name)))?;
        sum(&mut total, b);
    }
    let _ = intake.read(&m.name, "", total.messages);
    let _ = intake.synced(&m.name, "");
    if total.messages > 0 {
        tracing::info!(source = %m.name, messages = total.messages, new_events = total.events_new, "caught up");
    }
    Ok(total)
}
