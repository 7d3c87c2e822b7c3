//! One catch-up of a selected folder: everything after the cursor, fetched in chunks
//! (at most `CHUNK` messages and `CHUNK_BYTES`), each chunk stored through the intake
//! while the next is fetched, and marked `seen` or moved on the server only after its
//! commit. The first catch-up of a connection also finishes the `seen`/`move` that a
//! crash or a dropped connection left undone after a commit.

use std::collections::HashMap;
use std::time::Duration;

use super::commands;
use super::connect::{ImapError, ImapSession};
use crate::config::{AccountConfig, After, Start};
use crate::ingest::intake::{IngestError, Intake, Item, Position, Storing};
use crate::ingest::{Batch, sum};
use crate::shutdown::Shutdown;
use crate::source::Source;
use crate::store::cursors::Cursor;

/// Messages fetched and committed together (one transaction, one cursor move): at most
/// this many, and at most `CHUNK_BYTES` of them (one fetched while the one before is
/// stored, so a catch-up holds about twice this, whatever the folder holds).
const CHUNK: usize = 1000;
const CHUNK_BYTES: u64 = 24 << 20;

pub(super) fn store_err(account: &str, e: impl std::fmt::Display) -> ImapError {
    ImapError::Database {
        account: account.to_string(),
        message: e.to_string(),
    }
}

fn ingest_err(account: &str, e: IngestError) -> ImapError {
    match e {
        IngestError::Store(e) => store_err(account, e),
        e => ImapError::Other {
            account: account.to_string(),
            message: e.to_string(),
        },
    }
}

/// The selected folder, as `catch_up` needs it.
#[derive(Clone, Copy)]
pub(super) struct Selected<'a> {
    pub account: &'a AccountConfig,
    pub folder: &'a str,
    pub uidvalidity: u32,
    pub uid_next: Option<u32>,
    pub has_move: bool,
    /// First catch-up of a connection: finish `seen`/`move` for messages up to the
    /// cursor that a crash or a dropped connection left unmarked after their commit.
    pub finish_earlier: bool,
}

/// The last UID stored from the folder; on first sight (or a new UIDVALIDITY) where to
/// start, written down at once.
fn start(intake: &Intake, sel: &Selected<'_>) -> Result<u32, ImapError> {
    let Selected {
        account,
        folder,
        uidvalidity,
        uid_next,
        ..
    } = *sel;
    let name = account.name.as_str();
    let stored = intake
        .position(name, folder)
        .map_err(|e| store_err(name, e))?;
    match stored {
        Some(c) if c.uidvalidity == uidvalidity => return Ok(c.last_uid),
        Some(c) => {
            tracing::warn!(
                account = name,
                folder,
                old = c.uidvalidity,
                new = uidvalidity,
                "UIDVALIDITY changed: rescanning the folder"
            );
        }
        None => {}
    }
    let first = match (stored, account.start) {
        (None, Start::New) => uid_next.unwrap_or(1).saturating_sub(1),
        _ => 0,
    };
    let c = Cursor {
        uidvalidity,
        last_uid: first,
    };
    intake
        .start_at(name, folder, c)
        .map_err(|e| store_err(name, e))?;
    Ok(first)
}

/// How many catch-ups in a row may find nothing while the server keeps announcing
/// `EXISTS`: a server that repeats an unchanged count must not keep us from IDLE.
const QUIET_ROUNDS: usize = 3;

/// Catches the selected folder up until a round's `UID SEARCH` finds nothing new and no
/// `EXISTS` arrived with that round's replies, so the last command before the caller's
/// IDLE is a search that saw everything. Mail that arrives during a catch-up is
/// announced by an `EXISTS` riding on a FETCH, STORE, COPY, EXPUNGE or MOVE reply and
/// the server does not announce it again at IDLE: it would wait for the next mail (or
/// `idle_refresh`). After the first round `sel` is the ongoing state of the connection
/// (no start position from SELECT, post-processing of earlier runs finished).
pub(super) async fn catch_up_until_quiet(
    session: &mut ImapSession,
    intake: &Intake,
    shutdown: &Shutdown,
    sel: &mut Selected<'_>,
) -> Result<Batch, ImapError> {
    let mut total = Batch::default();
    let mut quiet = 0;
    loop {
        let (batch, found) = catch_up(session, intake, shutdown, sel).await?;
        sel.uid_next = None;
        sel.finish_earlier = false;
        sum(&mut total, batch);
        let announced = new_mail_announced(session);
        if shutdown.is_shutdown() {
            return Ok(total);
        }
        if found > 0 {
            quiet = 0;
        } else if !announced || quiet >= QUIET_ROUNDS {
            return Ok(total);
        } else {
            quiet += 1;
        }
        tracing::debug!(
            account = sel.account.name.as_str(),
            folder = sel.folder,
            "mail arrived during the catch-up: searching again"
        );
    }
}

/// Whether the server said `EXISTS` since the last look (the replies to our commands
/// carry it; the library queues it apart). Everything queued is consumed: the next
/// `UID SEARCH` covers what any of it announced.
pub(super) fn new_mail_announced(session: &mut ImapSession) -> bool {
    let mut exists = false;
    while let Ok(r) = session.unsolicited_responses.try_recv() {
        exists |= matches!(r, async_imap::types::UnsolicitedResponse::Exists(_));
    }
    exists
}

/// Reads everything after the cursor in the selected folder; also says how many new
/// messages its `UID SEARCH` found.
pub(super) async fn catch_up(
    session: &mut ImapSession,
    intake: &Intake,
    shutdown: &Shutdown,
    sel: &Selected<'_>,
) -> Result<(Batch, usize), ImapError> {
    let Selected {
        account,
        folder,
        uidvalidity,
        has_move,
        finish_earlier,
        ..
    } = *sel;
    let name = account.name.as_str();
    let limit = intake.config.watch.command_timeout;
    let last = start(intake, sel)?;
    if finish_earlier && last > 0 && account.after != After::Leave {
        let left =
            commands::uids_upto(session, name, last, account.after == After::Seen, limit).await?;
        if !left.is_empty() {
            tracing::info!(
                account = name,
                folder,
                messages = left.len(),
                after = if account.after == After::Seen {
                    "seen"
                } else {
                    "move"
                },
                "finishing post-processing of messages stored before the last disconnect"
            );
            post_process(session, account, &left, has_move, limit).await?;
        }
    }
    // The search below covers whatever was announced before it.
    new_mail_announced(session);
    let uids = commands::uids_after(session, name, last, limit).await?;
    tracing::debug!(account = name, folder, new = uids.len(), "searched");
    let mut total = Batch::default();
    // Fetching chunk k+1 overlaps storing chunk k (on a blocking thread); each chunk's
    // messages, events, actions and cursor commit together, in order.
    let mut storing: Option<(Storing, Vec<u32>)> = None;
    let sizes = commands::sizes(session, name, &uids, limit).await?;
    let too_large: HashMap<u32, u32> = sizes
        .iter()
        .filter(|(_, size)| *size as usize > crate::extract::MAX_MESSAGE_BYTES)
        .copied()
        .collect();
    let size_of: HashMap<u32, u32> = sizes.iter().copied().collect();
    let mut storing_big = false;
    for chunk in commands::plan_chunks(&sizes, CHUNK, CHUNK_BYTES) {
        if shutdown.is_shutdown() {
            break;
        }
        let chunk = chunk.as_slice();
        // Over the message cap: only its header is fetched, and it is quarantined.
        let header_only = chunk.len() == 1 && too_large.contains_key(&chunk[0]);
        // A chunk over the byte budget (one big message) is not fetched while another
        // is being stored, nor stored while the next is fetched: memory holds one.
        let bytes: u64 = chunk.iter().map(|u| u64::from(size_of[u])).sum();
        let big = bytes > CHUNK_BYTES && !header_only;
        if (big || storing_big)
            && let Some((pending, done)) = storing.take()
        {
            sum(
                &mut total,
                finish(pending, session, intake, account, &done, has_move).await?,
            );
        }
        storing_big = big;
        let fetched = commands::fetch(session, name, chunk, header_only, limit * 4).await?;
        tracing::debug!(account = name, folder, messages = fetched.len(), "fetched");
        if let Some((pending, done)) = storing.take() {
            sum(
                &mut total,
                finish(pending, session, intake, account, &done, has_move).await?,
            );
        }
        let got: Vec<u32> = fetched.iter().map(|(u, _)| *u).collect();
        let items: Vec<Item> = fetched
            .into_iter()
            .map(|(uid, raw)| {
                let source = Source::Imap {
                    account: name.to_string(),
                    folder: folder.to_string(),
                    uidvalidity,
                    uid,
                };
                match too_large.get(&uid).filter(|_| header_only) {
                    Some(&size) => Item::header_only(source, raw, u64::from(size)),
                    None => Item::new(source, raw),
                }
            })
            .collect();
        let at = Position {
            account: name.to_string(),
            folder: folder.to_string(),
            cursor: Cursor {
                uidvalidity,
                last_uid: *chunk.last().unwrap_or(&last),
            },
        };
        storing = Some((intake.ingest(items, Some(at)), got));
    }
    if let Some((pending, done)) = storing.take() {
        sum(
            &mut total,
            finish(pending, session, intake, account, &done, has_move).await?,
        );
    }
    if total.messages > 0 {
        tracing::info!(
            account = name,
            folder,
            messages = total.messages,
            new_events = total.events_new,
            duplicates = total.duplicates,
            quarantined = total.quarantined,
            "caught up"
        );
    }
    Ok((total, uids.len()))
}

/// Waits for a chunk to be committed (the intake then wakes delivery), then marks or
/// moves the chunk's messages on the server (only ever after they are safely stored).
async fn finish(
    pending: Storing,
    session: &mut ImapSession,
    intake: &Intake,
    account: &AccountConfig,
    uids: &[u32],
    has_move: bool,
) -> Result<Batch, ImapError> {
    let name = account.name.as_str();
    let batch = pending.await.map_err(|e| ingest_err(name, e))?;
    let limit = intake.config.watch.command_timeout;
    post_process(session, account, uids, has_move, limit).await?;
    Ok(batch)
}

/// `seen` or `move` for stored messages (nothing for `leave`).
async fn post_process(
    session: &mut ImapSession,
    account: &AccountConfig,
    uids: &[u32],
    has_move: bool,
    limit: Duration,
) -> Result<(), ImapError> {
    if uids.is_empty() {
        return Ok(());
    }
    let name = account.name.as_str();
    match account.after {
        After::Leave => Ok(()),
        After::Seen => commands::mark_seen(session, name, uids, limit).await,
        After::Move => {
            let to = account.move_to.as_deref().unwrap_or("Processed");
            commands::move_to(session, name, uids, to, has_move, limit).await
        }
    }
}
