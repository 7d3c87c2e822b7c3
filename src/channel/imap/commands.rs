//! The IMAP folder commands the session needs (search, sizes, fetch, seen, move), each
//! under a timeout, and how a catch-up is cut into chunks. Protocol only: no store.

use std::time::Duration;

use futures_util::TryStreamExt;

use super::connect::{ImapError, ImapSession, timed};

/// UIDs above `after` in the selected folder, ascending.
pub async fn uids_after(
    session: &mut ImapSession,
    account: &str,
    after: u32,
    limit: Duration,
) -> Result<Vec<u32>, ImapError> {
    let set = timed(
        account,
        "UID SEARCH",
        limit,
        session.uid_search(format!("UID {}:*", after.saturating_add(1))),
    )
    .await?;
    let mut uids: Vec<u32> = set.into_iter().filter(|u| *u > after).collect();
    uids.sort_unstable();
    Ok(uids)
}

/// UIDs up to `upto` still in the selected folder (only unseen ones with
/// `unseen_only`), ascending.
pub async fn uids_upto(
    session: &mut ImapSession,
    account: &str,
    upto: u32,
    unseen_only: bool,
    limit: Duration,
) -> Result<Vec<u32>, ImapError> {
    let query = format!("UID 1:{upto}{}", if unseen_only { " UNSEEN" } else { "" });
    let set = timed(account, "UID SEARCH", limit, session.uid_search(query)).await?;
    let mut uids: Vec<u32> = set.into_iter().filter(|u| *u <= upto).collect();
    uids.sort_unstable();
    Ok(uids)
}

/// The raw messages of `uids` (which should be few: the caller chunks), as (uid, bytes);
/// with `header_only`, only their header sections. Each server response is copied and
/// freed as it arrives, so memory holds the chunk once.
pub async fn fetch(
    session: &mut ImapSession,
    account: &str,
    uids: &[u32],
    header_only: bool,
    limit: Duration,
) -> Result<Vec<(u32, Vec<u8>)>, ImapError> {
    let set = uid_set(uids);
    let query = if header_only {
        "(UID BODY.PEEK[HEADER])"
    } else {
        "(UID BODY.PEEK[])"
    };
    let fut = async {
        let mut stream = session.uid_fetch(&set, query).await?;
        let mut out: Vec<(u32, Vec<u8>)> = Vec::with_capacity(uids.len());
        while let Some(f) = stream.try_next().await? {
            let Some(uid) = f.uid else { continue };
            if uids.binary_search(&uid).is_err() {
                continue;
            }
            let bytes = if header_only { f.header() } else { f.body() };
            out.push((uid, bytes.unwrap_or_default().to_vec()));
        }
        Ok::<_, async_imap::error::Error>(out)
    };
    let mut out = timed(account, "UID FETCH", limit, fut).await?;
    out.sort_by_key(|(uid, _)| *uid);
    Ok(out)
}

/// The size in bytes of each of `uids` (RFC822.SIZE), ascending by UID.
pub async fn sizes(
    session: &mut ImapSession,
    account: &str,
    uids: &[u32],
    limit: Duration,
) -> Result<Vec<(u32, u32)>, ImapError> {
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let set = uid_set(uids);
    let fut = async {
        let mut stream = session.uid_fetch(&set, "(UID RFC822.SIZE)").await?;
        let mut out = Vec::with_capacity(uids.len());
        while let Some(f) = stream.try_next().await? {
            if let Some(uid) = f.uid
                && uids.binary_search(&uid).is_ok()
            {
                out.push((uid, f.size.unwrap_or(0)));
            }
        }
        Ok::<_, async_imap::error::Error>(out)
    };
    let mut out = timed(account, "UID FETCH RFC822.SIZE", limit, fut).await?;
    out.sort_unstable();
    out.dedup_by_key(|(uid, _)| *uid);
    Ok(out)
}

/// Groups messages into fetch chunks of at most `max_count` messages and `max_bytes`
/// bytes (a message larger than that is a chunk of its own), in UID order.
pub fn plan_chunks(sizes: &[(u32, u32)], max_count: usize, max_bytes: u64) -> Vec<Vec<u32>> {
    let mut chunks: Vec<Vec<u32>> = Vec::new();
    let mut current: Vec<u32> = Vec::new();
    let mut bytes = 0u64;
    for &(uid, size) in sizes {
        let size = u64::from(size);
        if !current.is_empty() && (current.len() >= max_count || bytes + size > max_bytes) {
            chunks.push(std::mem::take(&mut current));
            bytes = 0;
        }
        current.push(uid);
        bytes += size;
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// `1:3,7,9:10` for a sorted list.
pub fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// Marks messages \Seen.
pub async fn mark_seen(
    session: &mut ImapSession,
    account: &str,
    uids: &[u32],
    limit: Duration,
) -> Result<(), ImapError> {
    let set = uid_set(uids);
    let fut = async {
        let stream = session.uid_store(&set, "+FLAGS.SILENT (\\Seen)").await?;
        stream.try_collect::<Vec<_>>().await
    };
    timed(account, "UID STORE", limit, fut).await.map(|_| ())
}

/// Moves messages to `folder` (MOVE when offered, else COPY, \Deleted and EXPUNGE).
pub async fn move_to(
    session: &mut ImapSession,
    account: &str,
    uids: &[u32],
    folder: &str,
    has_move: bool,
    limit: Duration,
) -> Result<(), ImapError> {
    let set = uid_set(uids);
    if has_move {
        return timed(account, "UID MOVE", limit, session.uid_mv(&set, folder)).await;
    }
    timed(account, "UID COPY", limit, session.uid_copy(&set, folder)).await?;
    let fut = async {
        let stream = session.uid_store(&set, "+FLAGS.SILENT (\\Deleted)").await?;
        stream.try_collect::<Vec<_>>().await?;
        let stream = session.uid_expunge(&set).await?;
        stream.try_collect::<Vec<_>>().await
    };
    timed(account, "EXPUNGE", limit, fut).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    #[test]
    fn chunks_by_count_and_by_bytes() {
        let sizes: Vec<(u32, u32)> = (1..=5).map(|u| (u, 10)).collect();
        assert_eq!(
            super::plan_chunks(&sizes, 2, 1000),
            vec![vec![1, 2], vec![3, 4], vec![5]]
        );
        assert_eq!(
            super::plan_chunks(&sizes, 100, 25),
            vec![vec![1, 2], vec![3, 4], vec![5]]
        );
        // A message over the budget is fetched alone.
        let big = [(1, 5), (2, 500), (3, 5), (4, 5)];
        assert_eq!(
            super::plan_chunks(&big, 100, 100),
            vec![vec![1], vec![2], vec![3, 4]]
        );
        assert!(super::plan_chunks(&[], 10, 10).is_empty());
    }

    #[test]
    fn uid_sets() {
        assert_eq!(super::uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(super::uid_set(&[5]), "5");
        assert_eq!(super::uid_set(&[]), "");
    }
}
