//! Folders past an account's `max_connections`. Servers cap the connections of one user
//! (Dovecot `mail_max_userip_connections` = 10 per user and address, Gmail about 15 per
//! account) and refuse the rest at login, so [`plan`] gives IDLE connections to as
//! many folders as the setting allows (INBOX first, then the folders in config order)
//! and [`watch_shared`] watches the rest together over one more: with RFC 5465 NOTIFY
//! where the server offers it (woken by the server, and swept every `idle_refresh`
//! anyway), else by `STATUS (UIDNEXT UIDVALIDITY)` every `poll_interval`; a folder whose
//! UIDNEXT or UIDVALIDITY moved is selected and caught up like any other.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::catch_up::{Selected, catch_up_until_quiet, store_err};
use super::connect::{ImapError, ImapSession, connect, server_text, timed};
use super::open_folder;
use crate::channel::Health;
use crate::config::AccountConfig;
use crate::ingest::Batch;
use crate::ingest::intake::Intake;
use crate::shutdown::Shutdown;

/// Which folders of an account get a connection of their own (IDLE) and which share one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub own: Vec<String>,
    pub shared: Vec<String>,
}

/// Splits the account's folders over at most `max_connections` connections: all of them
/// their own when they fit; else INBOX first, then the folders in config order, one
/// connection each, and the rest over the last connection.
pub fn plan(account: &AccountConfig) -> Plan {
    let mut folders: Vec<String> = Vec::with_capacity(account.folders.len());
    for f in &account.folders {
        if !folders.contains(f) {
            folders.push(f.clone());
        }
    }
    if let Some(i) = folders.iter().position(|f| f.eq_ignore_ascii_case("INBOX")) {
        let inbox = folders.remove(i);
        folders.insert(0, inbox);
    }
    let max = account.max_connections.max(1);
    if folders.len() <= max {
        return Plan {
            own: folders,
            shared: Vec::new(),
        };
    }
    let shared = folders.split_off(max - 1);
    Plan {
        own: folders,
        shared,
    }
}

/// What a folder looked like when it was last caught up.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Seen {
    uidvalidity: u32,
    uid_next: u32,
}

/// What the shared connection knows of its account and server.
struct Shared<'a> {
    intake: &'a Intake,
    account: &'a AccountConfig,
    has_move: bool,
    has_unselect: bool,
    limit: Duration,
}

/// What a look at one folder found.
enum Visit {
    Unchanged,
    CaughtUp(Seen, Batch),
}

impl Shared<'_> {
    /// Takes the folder's STATUS and, when it differs from `before` (or there is none),
    /// selects the folder, catches it up and leaves it again. The STATUS is taken before
    /// the catch-up: mail arriving during it moves UIDNEXT past what is remembered, and
    /// the next look sees that.
    async fn visit(
        &self,
        session: &mut ImapSession,
        folder: &str,
        shutdown: &Shutdown,
        before: Option<Seen>,
    ) -> Result<Visit, ImapError> {
        let now = status(session, self.account, folder, self.limit).await?;
        if before == Some(now) {
            return Ok(Visit::Unchanged);
        }
        let mailbox = open_folder(session, self.account, folder, self.limit).await?;
        let mut sel = Selected {
            account: self.account,
            folder,
            uidvalidity: mailbox.uid_validity.unwrap_or(0),
            uid_next: mailbox.uid_next,
            has_move: self.has_move,
            // The first look of the session also finishes the `seen`/`move` that an
            // earlier connection left undone.
            finish_earlier: before.is_none(),
        };
        let batch = catch_up_until_quiet(session, self.intake, shutdown, &mut sel).await?;
        if self.has_unselect {
            // Leaves without expunging, so NOTIFY reports every shared folder alike.
            let name = self.account.name.as_str();
            let unselect = session.run_command_and_check_ok("UNSELECT");
            timed(name, "UNSELECT", self.limit, unselect).await?;
        }
        Ok(Visit::CaughtUp(now, batch))
    }
}

/// The shared connection: catch every folder up, then wait for a change (NOTIFY + IDLE,
/// else `poll_interval`) and catch up the folders whose STATUS moved, until shutdown.
/// A folder that cannot be opened (a setting to fix) is recorded as failed and looked
/// at again on every sweep; the others are watched meanwhile.
pub async fn watch_shared(
    intake: &Intake,
    account: &AccountConfig,
    folders: &[String],
    mut shutdown: Shutdown,
    health: &Health,
) -> Result<(), ImapError> {
    let name = account.name.as_str();
    let limit = intake.config.watch.command_timeout;
    let mut session = connect(&intake.config, account).await?;
    let caps = timed(name, "CAPABILITY", limit, session.capabilities()).await?;
    let shared = Shared {
        intake,
        account,
        has_move: caps.has_str("MOVE"),
        has_unselect: caps.has_str("UNSELECT"),
        limit,
    };
    let mut notify = caps.has_str("NOTIFY") && caps.has_str("IDLE");
    let mut seen: HashMap<&str, Seen> = HashMap::new();
    let mut broken: HashSet<&str> = HashSet::new();
    let mut woken: Option<Instant> = None;
    let mut first = true;
    loop {
        let mut changed = false;
        for folder in folders {
            if shutdown.is_shutdown() {
                break;
            }
            let before = seen.get(folder.as_str()).copied();
            match shared.visit(&mut session, folder, &shutdown, before).await {
                Ok(Visit::Unchanged) => {}
                Ok(Visit::CaughtUp(now, batch)) => {
                    changed |= before.is_some();
                    seen.insert(folder, now);
                    if let Some(at) = woken
                        && batch.messages > 0
                    {
                        let channel = if notify { "imap-idle" } else { "imap-poll" };
                        intake.live.intake(channel, at.elapsed());
                    }
                }
                Err(e @ ImapError::Setup { .. }) => {
                    if broken.insert(folder) {
                        tracing::error!(account = name, folder, error = %e, "IMAP error: this folder is not watched until that is fixed");
                        let _ = intake.failed(name, folder, &e.to_string());
                        intake.live.source_error(name, folder);
                    }
                    continue;
                }
                Err(e) => return Err(e),
            }
            if broken.remove(folder.as_str()) {
                tracing::info!(account = name, folder, "folder can be watched again");
            }
            intake
                .synced(name, folder)
                .map_err(|e| store_err(name, e))?;
        }
        if first {
            first = false;
            notify = notify && notify_set(&mut session, name, folders, limit).await?;
            health.ok();
            tracing::info!(
                account = name,
                folders = folders.join(", "),
                notify,
                "watching over one shared connection"
            );
        }
        // A notice that came with another command's reply (or was consumed by a
        // catch-up) is not sent again: sweep once more rather than wait for it.
        let pending = notices_pending(&mut session);
        woken = if changed || (notify && pending) {
            Some(Instant::now())
        } else if notify {
            let (s, woken) = wait_for_notice(session, intake, &mut shutdown, name).await?;
            session = s;
            woken
        } else if shutdown.sleep(intake.config.watch.poll_interval).await {
            None
        } else {
            Some(Instant::now())
        };
        if shutdown.is_shutdown() {
            let _ = timed(name, "LOGOUT", limit, session.logout()).await;
            return Ok(());
        }
    }
}

/// NOTIFY SET for the shared folders (asked once: it holds for the session); whether
/// the server took it. A server that refuses it is polled instead.
async fn notify_set(
    session: &mut ImapSession,
    name: &str,
    folders: &[String],
    limit: Duration,
) -> Result<bool, ImapError> {
    let mailboxes: Vec<String> = folders.iter().map(|f| quote(f)).collect();
    let command = format!(
        "NOTIFY SET (mailboxes ({}) (MessageNew MessageExpunge))",
        mailboxes.join(" ")
    );
    match timed(
        name,
        "NOTIFY",
        limit,
        session.run_command_and_check_ok(command),
    )
    .await
    {
        Ok(()) => Ok(true),
        Err(e @ ImapError::Timeout { .. }) => Err(e),
        Err(e) => {
            tracing::warn!(account = name, error = %e, "NOTIFY refused: polling the shared folders instead");
            Ok(false)
        }
    }
}

/// `STATUS (UIDNEXT UIDVALIDITY)` of `folder`; a folder the server does not know is a
/// setting to fix, said as for a folder of its own connection.
async fn status(
    session: &mut ImapSession,
    account: &AccountConfig,
    folder: &str,
    limit: Duration,
) -> Result<Seen, ImapError> {
    let name = account.name.as_str();
    let asked = tokio::time::timeout(limit, session.status(folder, "(UIDNEXT UIDVALIDITY)")).await;
    let status = match asked {
        Ok(Ok(s)) => s,
        Ok(Err(e @ async_imap::error::Error::No(_))) => {
            return Err(ImapError::Setup {
                account: name.to_string(),
                message: format!(
                    "folder {folder:?} cannot be watched on {}: {} (check folders = [...] for this account)",
                    account.host,
                    server_text(&e)
                ),
            });
        }
        Ok(Err(e)) => {
            return Err(ImapError::Other {
                account: name.to_string(),
                message: format!("STATUS {folder}: {}", server_text(&e)),
            });
        }
        Err(_) => {
            return Err(ImapError::Timeout {
                account: name.to_string(),
                what: format!("STATUS {folder}"),
                secs: limit.as_secs(),
            });
        }
    };
    Ok(Seen {
        uidvalidity: status.uid_validity.unwrap_or(0),
        uid_next: status.uid_next.unwrap_or(0),
    })
}

/// Whether the server sent anything unasked since the last look (a NOTIFY `STATUS`,
/// an `EXISTS`); consumes it.
fn notices_pending(session: &mut ImapSession) -> bool {
    let mut any = false;
    while session.unsolicited_responses.try_recv().is_ok() {
        any = true;
    }
    any
}

/// IDLE after NOTIFY SET: the server's `STATUS` (or any other notice) wakes it, and so
/// does `idle_refresh` (a sweep then runs anyway). `None` when woken by shutdown or the
/// refresh, else when the notice came.
async fn wait_for_notice(
    session: ImapSession,
    intake: &Intake,
    shutdown: &mut Shutdown,
    name: &str,
) -> Result<(ImapSession, Option<Instant>), ImapError> {
    use async_imap::extensions::idle::IdleResponse;
    let limit = intake.config.watch.command_timeout;
    let refresh = intake.config.watch.idle_refresh;
    let notices = session.unsolicited_responses.clone();
    let mut idle = session.idle();
    timed(name, "IDLE", limit, idle.init()).await?;
    // A notice sent before the server's "+ idling" is queued apart by the library.
    let mut noticed = false;
    while notices.try_recv().is_ok() {
        noticed = true;
    }
    let woken = if noticed {
        Some(Instant::now())
    } else {
        let (fut, stop) = idle.wait_with_timeout(refresh + Duration::from_secs(60));
        let woken = tokio::select! {
            r = tokio::time::timeout(refresh, fut) => match r {
                Ok(Ok(IdleResponse::NewData(_))) => Some(Instant::now()),
                Ok(Ok(IdleResponse::Timeout)) | Err(_) => None,
                Ok(Ok(IdleResponse::ManualInterrupt)) => {
                    return Err(ImapError::Other { account: name.into(), message: "connection closed during IDLE".into() });
                }
                Ok(Err(e)) => return Err(ImapError::Other { account: name.into(), message: format!("IDLE: {e}") }),
            },
            _ = shutdown.recv() => None,
        };
        drop(stop);
        woken
    };
    let session = timed(name, "IDLE DONE", limit, idle.done()).await?;
    Ok((session, woken))
}

/// A mailbox name as an IMAP quoted string.
fn quote(folder: &str) -> String {
    format!("\"{}\"", folder.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(folders: &[&str], max: usize) -> AccountConfig {
        let src = format!(
            "name = \"a\"\nhost = \"h\"\nusername = \"u\"\nmax_connections = {max}\nfolders = [{}]\n",
            folders
                .iter()
                .map(|f| format!("{f:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        toml::from_str(&src).unwrap()
    }

    #[test]
    fn folders_that_fit_each_get_a_connection() {
        let p = plan(&account(&["A", "INBOX"], 5));
        assert_eq!(p.own, ["INBOX", "A"]);
        assert!(p.shared.is_empty());
    }

    #[test]
    fn inbox_first_then_config_order_and_the_rest_share_the_last_connection() {
        let p = plan(&account(&["A", "B", "inbox", "C", "D", "E"], 3));
        assert_eq!(p.own, ["inbox", "A"]);
        assert_eq!(p.shared, ["B", "C", "D", "E"]);
        let p = plan(&account(&["A", "B"], 1));
        assert!(p.own.is_empty());
        assert_eq!(p.shared, ["A", "B"]);
    }
}
