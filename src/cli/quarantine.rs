//! `mailroom quarantine` (messages that gave no event, and why) and `mailroom reparse`
//! (the extractors again over stored messages, after an extractor fix).

use super::{Context, EXIT_OK};
use crate::extract::suggest;
use crate::store::db::Sql as _;
use crate::store::query;
use crate::term::{self, Column, Cut, Table, local_time, one_line};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Only notification-shaped messages (a registrar's sender or subject) that no
    /// extractor could read, with the closest extractor and the fields it could not
    /// find: the samples worth sending upstream.
    #[arg(long)]
    suggest: bool,
    /// Every value whole on one line per message, however wide the terminal (piped
    /// output always is).
    #[arg(long)]
    wide: bool,
}

/// A quarantined message worth a look, as `--suggest` shows it.
#[derive(Debug, serde::Serialize)]
struct Suggested<'a> {
    #[serde(flatten)]
    message: &'a query::Quarantined,
    closest_extractor: &'a str,
    missing: Vec<&'a str>,
}

/// Reads back the closest extractor and the missing fields the extraction wrote into
/// the reason (`… (notification-shaped mail; closest extractor NAME; missing A, B): …`).
fn suggestion(reason: &str) -> Option<(&str, Vec<&str>)> {
    let at = reason.find(suggest::CLOSEST)?;
    let rest = &reason[at + suggest::CLOSEST.len()..];
    let (name, missing) = rest.split_once(';')?;
    let missing = missing.trim().strip_prefix(suggest::MISSING)?;
    let missing = missing.split_once(')').map_or(missing, |(m, _)| m).trim();
    let fields = missing
        .trim_end_matches('…')
        .split(", ")
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .collect();
    Some((name.trim(), fields))
}

fn run_suggest(list: &[query::Quarantined], json: bool) -> anyhow::Result<u8> {
    let found: Vec<Suggested<'_>> = list
        .iter()
        .filter_map(|q| {
            let (closest_extractor, missing) = suggestion(&q.reason)?;
            Some(Suggested {
                message: q,
                closest_extractor,
                missing,
            })
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&found)?);
        return Ok(EXIT_OK);
    }
    if found.is_empty() {
        eprintln!("no notification-shaped message in quarantine");
    }
    for s in &found {
        let q = s.message;
        println!(
            "#{} from {} subject \"{}\": closest extractor {}, could not find {}",
            q.id,
            one_line(q.sender.as_deref().unwrap_or("-")),
            one_line(q.subject.as_deref().unwrap_or("")),
            s.closest_extractor,
            s.missing.join(", ")
        );
        for src in &q.sources {
            println!("    {}", one_line(src));
        }
    }
    Ok(EXIT_OK)
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<u8> {
    let store = ctx.open_existing_store()?;
    let list = query::quarantined(store.db())?;
    if args.suggest {
        return run_suggest(&list, args.json);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(EXIT_OK);
    }
    if list.is_empty() {
        eprintln!("quarantine is empty");
    }
    let width = term::width(args.wide);
    for q in &list {
        for line in lines(q, width) {
            println!("{line}");
        }
    }
    Ok(EXIT_OK)
}

/// One quarantined message: `#ID TIME from SENDER subject "SUBJECT": REASON`, then its
/// sources. On a terminal the reason gets a line of its own and each line is fitted
/// to the screen (a source keeps its end: the file or folder name).
fn lines(q: &query::Quarantined, width: Option<usize>) -> Vec<String> {
    let head = format!("#{} {} from ", q.id, local_time(&q.first_seen));
    let sender = one_line(q.sender.as_deref().unwrap_or("-"));
    let subject = one_line(q.subject.as_deref().unwrap_or(""));
    let reason = one_line(&q.reason);
    let mut out = Vec::new();
    let Some(room) = width else {
        out.push(format!("{head}{sender} subject \"{subject}\": {reason}"));
        out.extend(q.sources.iter().map(|s| format!("    {}", one_line(s))));
        return out;
    };
    // The sender gives way before the subject does.
    let table = Table::new(vec![
        Column::left(""),
        Column::left("").cut(Cut::End, 12, 0),
        Column::left(""),
        Column::left("").cut(Cut::End, 12, 1),
        Column::left(""),
    ])
    .headless()
    .gap(0);
    let row = [
        head,
        sender.into_owned(),
        " subject \"".into(),
        subject.into_owned(),
        "\"".into(),
    ];
    out.extend(table.render(&[row.to_vec()], Some(room)));
    out.push(term::line(
        &[("    ", Cut::Never), (&reason, Cut::End)],
        Some(room),
    ));
    for s in &q.sources {
        out.push(term::line(
            &[("    ", Cut::Never), (&one_line(s), Cut::Start)],
            Some(room),
        ));
    }
    out
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
    let store = ctx.open_store()?;
    let rules = ctx.rules()?;
    let mut grouping = crate::ingest::group::Grouping::default();
    let mut react = |tx: &crate::store::db::Db, new: crate::store::NewEvent<'_>| {
        crate::ingest::rules::react(&rules, &mut grouping, tx, new).map(|_| ())
    };
    let limits = crate::ingest::Limits::of(&ctx.config);
    let ids: Vec<(i64, String)> = {
        let sql = if args.all {
            "SELECT id, status FROM messages ORDER BY id"
        } else {
            "SELECT id, status FROM messages WHERE status = 'quarantined' ORDER BY id"
        };
        store.db().rows(sql, crate::store::db::args![], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
    };
    let mut summary = Summary::default();
    for chunk in ids.chunks(500) {
        let tx = store.db().write()?;
        for (id, status) in chunk {
            let done = crate::ingest::reparse(&*tx, *id, limits, &mut react)?;
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

#[cfg(test)]
mod tests {
    use super::suggestion;

    #[test]
    fn reads_the_suggestion_back_from_the_reason() {
        let reason = "payload is not a registrar notification any extractor knows (notification-shaped mail; closest extractor autodns-json; missing notify.type|job|status.code, object.type): JSON object with keys id, foo";
        assert_eq!(
            suggestion(reason),
            Some((
                "autodns-json",
                vec!["notify.type|job|status.code", "object.type"]
            ))
        );
        assert_eq!(
            suggestion("payload is not a registrar notification: x"),
            None
        );
    }
}
