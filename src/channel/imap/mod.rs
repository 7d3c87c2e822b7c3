//! IMAP folders (`[[account]]`): a connection per folder up to the account's
//! `max_connections`, the rest together over one more ([`plan`], `shared`). [`watch`]
//! is a folder connection's life — connect, select, catch up, then IDLE (or poll a
//! server without it) and catch up again until shutdown; [`once`] catches up and logs
//! out. Reconnecting after a failure is the service's supervisor's job. The protocol
//! is apart: `connect` (TLS, login, errors) and `commands` (search, fetch, seen, move);
//! `catch_up` stores through the intake.

mod catch_up;
pub mod commands;
pub mod connect;
mod oauth;
mod shared;

use std::time::{Duration, Instant};

use futures_util::TryStreamExt;

pub use commands::{fetch, mark_seen, move_to, plan_chunks, sizes, uid_set, uids_after, uids_upto};
pub use connect::{ImapError, ImapSession, Reason, Stream, connect, server_text, timed};
pub use shared::{Plan, plan, watch_shared};

use self::catch_up::{Selected, catch_up_until_quiet, store_err};
use super::{Failure, Health};
use crate::config::{AccountConfig, After};
use crate::ingest::intake::Intake;
use crate::ingest::{Batch, sum};
use crate::shutdown::Shutdown;

impl Failure for ImapError {
    fn needs_a_person(&self) -> bool {
        ImapError::needs_a_person(self)
    }
    fn in_database(&self) -> bool {
        matches!(self, ImapError::Database { .. })
    }
}

/// Keeps `folder` of `account` caught up until shutdown (`Ok`), or until the connection
/// fails (`Err`, for the supervisor to retry). `health` is marked once the folder is
/// caught up, so the next failure is retried from the shortest delay again.
pub async fn watch(
    intake: &Intake,
    account: &AccountConfig,
    folder: &str,
    mut shutdown: Shutdown,
    health: &Health,
) -> Result<(), ImapError> {
    folder_session(intake, account, folder, &mut shutdown, Some(health))
        .await
        .map(|_| ())
}

/// `watch --once`: one catch-up of `folder` (cut short only by `shutdown`), then LOGOUT.
pub async fn once(
    intake: &Intake,
    account: &AccountConfig,
    folder: &str,
    mut shutdown: Shutdown,
) -> Result<Batch, ImapError> {
    folder_session(intake, account, folder, &mut shutdown, None).await
}

enum Wake {
    /// The folder changed; when the server said so (or the poll began), for latency.
    Changed(Instant),
    Refresh,
    Shutdown,
}

/// Waits for the folder to change: IDLE (re-issued every `idle_refresh`), else a poll.
async fn wait_for_change(
    session: ImapSession,
    intake: &Intake,
    shutdown: &mut Shutdown,
    name: &str,
    has_idle: bool,
) -> Result<(ImapSession, Wake), ImapError> {
    let limit = intake.config.watch.command_timeout;
    let refresh = intake.config.watch.idle_refresh;
    if !has_idle {
        let mut session = session;
        if shutdown.sleep(intake.config.watch.poll_interval).await {
            return Ok((session, Wake::Shutdown));
        }
        let asked = Instant::now();
        timed(name, "NOOP", limit, session.noop()).await?;
        return Ok((session, Wake::Changed(asked)));
    }
    let notices = session.unsolicited_responses.clone();
    let mut idle = session.idle();
    timed(name, "IDLE", limit, idle.init()).await?;
    // Mail that came after the last search may be announced before the server's
    // "+ idling": the library queues that apart, and the wait below would not see it.
    let mut announced = false;
    while let Ok(r) = notices.try_recv() {
        announced |= matches!(r, async_imap::types::UnsolicitedResponse::Exists(_));
    }
    let wake = if announced {
        Wake::Changed(Instant::now())
    } else {
        // The server's keepalives reset the library's own timeout, so the whole wait is
        // bounded here as well: IDLE is ended and re-issued every `idle_refresh`.
        let (fut, stop) = idle.wait_with_timeout(refresh + Duration::from_secs(60));
        let wake = tokio::select! {
            r = tokio::time::timeout(refresh, fut) => match r {
                Ok(Ok(async_imap::extensions::idle::IdleResponse::NewData(_))) => Wake::Changed(Instant::now()),
                Ok(Ok(async_imap::extensions::idle::IdleResponse::Timeout)) => Wake::Refresh,
                Ok(Ok(async_imap::extensions::idle::IdleResponse::ManualInterrupt)) => {
                    return Err(ImapError::Other { account: name.into(), message: "connection closed during IDLE".into() });
                }
                Ok(Err(e)) => return Err(ImapError::Other { account: name.into(), message: format!("IDLE: {e}") }),
                Err(_) => Wake::Refresh,
            },
            _ = shutdown.recv() => Wake::Shutdown,
        };
        drop(stop);
        wake
    };
    let session = timed(name, "IDLE DONE", limit, idle.done()).await?;
    Ok((session, wake))
}

/// Opens `folder` (read-only under `after = "leave"`) and checks the `move_to` folder.
pub(super) async fn open_folder(
    session: &mut ImapSession,
    account: &AccountConfig,
    folder: &str,
    limit: Duration,
) -> Result<async_imap::types::Mailbox, ImapError> {
    let name = account.name.as_str();
    let opened = tokio::time::timeout(
        limit,
        // `leave` promises not to touch the folder: EXAMINE opens it read-only (the
        // server then neither clears \Recent nor files new mail away).
        async {
            if account.after == After::Leave {
                session.examine(folder).await
            } else {
                session.select(folder).await
            }
        },
    )
    .await;
    let mailbox = match opened {
        Ok(Ok(m)) => m,
        Ok(Err(e @ async_imap::error::Error::No(_))) => {
            return Err(ImapError::Setup {
                account: name.to_string(),
                message: format!(
                    "folder {folder:?} cannot be opened on {}: {} (check folders = [...] for this account)",
                    account.host,
                    server_text(&e)
                ),
            });
        }
        Ok(Err(e)) => {
            return Err(ImapError::Other {
                account: name.to_string(),
                message: format!("SELECT {folder}: {}", server_text(&e)),
            });
        }
        Err(_) => {
            return Err(ImapError::Timeout {
                account: name.to_string(),
                what: format!("SELECT {folder}"),
                secs: limit.as_secs(),
            });
        }
    };
    if account.after == After::Move {
        let to = account.move_to.as_deref().unwrap_or("Processed");
        let found = timed(name, "LIST", limit, async {
            let list = session.list(Some(""), Some(to)).await?;
            list.try_collect::<Vec<_>>().await
        })
        .await?;
        if found.is_empty() {
            return Err(ImapError::Setup {
                account: name.to_string(),
                message: format!(
                    "move_to folder {to:?} does not exist on {}: create it, or set after = \"seen\" or \"leave\"",
                    account.host
                ),
            });
        }
    }
    Ok(mailbox)
}

/// One connection's life: connect, select, catch up, then wait and catch up again until
/// shutdown (or, without `health` to report to, after the first catch-up).
async fn folder_session(
    intake: &Intake,
    account: &AccountConfig,
    folder: &str,
    shutdown: &mut Shutdown,
    health: Option<&Health>,
) -> Result<Batch, ImapError> {
    let name = account.name.as_str();
    let limit = intake.config.watch.command_timeout;
    let mut session = connect(&intake.config, account).await?;
    let caps = timed(name, "CAPABILITY", limit, session.capabilities()).await?;
    let has_idle = caps.has_str("IDLE");
    let has_move = caps.has_str("MOVE");
    let mailbox = open_folder(&mut session, account, folder, limit).await?;
    let mut sel = Selected {
        account,
        folder,
        uidvalidity: mailbox.uid_validity.unwrap_or(0),
        uid_next: mailbox.uid_next,
        has_move,
        finish_earlier: true,
    };
    let mut total = catch_up_until_quiet(&mut session, intake, shutdown, &mut sel).await?;
    intake
        .synced(name, folder)
        .map_err(|e| store_err(name, e))?;
    let Some(health) = health else {
        let _ = timed(name, "LOGOUT", limit, session.logout()).await;
        return Ok(total);
    };
    health.ok();
    tracing::info!(account = name, folder, idle = has_idle, "watching");
    loop {
        let (s, wake) = wait_for_change(session, intake, shutdown, name, has_idle).await?;
        session = s;
        match wake {
            Wake::Shutdown => {
                let _ = timed(name, "LOGOUT", limit, session.logout()).await;
                return Ok(total);
            }
            Wake::Changed(_) | Wake::Refresh => {
                tracing::debug!(account = name, folder, "folder changed");
                let b = catch_up_until_quiet(&mut session, intake, shutdown, &mut sel).await?;
                if let Wake::Changed(at) = wake
                    && b.messages > 0
                {
                    let channel = if has_idle { "imap-idle" } else { "imap-poll" };
                    intake.live.intake(channel, at.elapsed());
                }
                sum(&mut total, b);
                intake
                    .synced(name, folder)
                    .map_err(|e| store_err(name, e))?;
            }
        }
    }
}
