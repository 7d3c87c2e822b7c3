//! `mailroom quarantine` (messages that gave no event, and why) and `mailroom reparse`
//! (the extractors again over stored messages, after an extractor fix).

use super::{Context, EXIT_OK};
use crate::store::{self, query};
use crate::term::printable;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<u8> {
    let store = ctx.open_store()?;
    let list = query::quarantined(store.conn())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(EXIT_OK);
    }
    if list.is_empty() {
        eprintln!("quarantine is empty");
    }
    for q in &list {
        println!(
            "#{} {} from {} subject {:?}: {}",
            q.id,
            q.first_seen,
            printable(q.sender.as_deref().unwrap_or("-")),
            q.subject.as_deref().unwrap_or(""),
            printable(&q.reason)
        );
        for s in &q.sources {
            println!("    {}", printable(&s.to_string()));
        }
    }
    Ok(EXIT_OK)
}

#[derive(Debug, clap::Args)]
pub struct ReparseArgs {
    /// Every stored message, not only the quarantined ones.
    #[arg(long)]
    all: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Default, serde::Serialize)]
struct Summary {
    messages: u64,
    events_new: u64,
    recovered: u64,
    skipped_incomplete: u64,
}

pub fn reparse(args: &ReparseArgs, ctx: &Context) -> anyhow::Result<u8> {
    let mut store = ctx.open_store()?;
    let mut react = ctx.reactor(&store)?;
    let max_events = ctx.config.limits.max_events_per_message;
    let ids: Vec<(i64, String)> = {
        let sql = if args.all {
            "SELECT id, status FROM messages ORDER BY id"
        } else {
            "SELECT id, status FROM messages WHERE status = 'quarantined' ORDER BY id"
        };
        let mut stmt = store.conn().prepare(sql)?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut summary = Summary::default();
    for chunk in ids.chunks(500) {
        let tx = store.conn_mut().transaction()?;
        for (id, status) in chunk {
            let done = store::reparse(&tx, *id, max_events, &mut *react)?;
            summary.messages += 1;
            summary.events_new += done.events_new.len() as u64;
            summary.skipped_incomplete += u64::from(done.incomplete);
            if status == "quarantined" && done.events_found > 0 {
                summary.recovered += 1;
            }
        }
        tx.commit()?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        eprintln!(
            "{} messages reparsed: {} new events, {} recovered from quarantine, {} kept only as headers",
            summary.messages, summary.events_new, summary.recovered, summary.skipped_incomplete
        );
    }
    Ok(EXIT_OK)
}
