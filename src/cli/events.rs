//! `mailroom events`: list, count and show stored events, with filters.

use crate::term::one_line as printable;
use chrono::{DateTime, Local};

use super::{Context, EXIT_ERROR, EXIT_OK};
use crate::filter::{domain_forms, parse_when};
use crate::store::query::{self, EventFilter, StoredEvent};

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    show: Option<Show>,
    #[command(flatten)]
    filter: FilterArgs,
    /// Print only how many events match.
    #[arg(long, conflicts_with = "stats")]
    count: bool,
    /// Counts per registrar and topic.
    #[arg(long)]
    stats: bool,
    /// Print JSON: an array of events (DESIGN §3 plus id, seen_count, first_seen,
    /// last_seen), newest first; with --count `{"count": N}`, with --stats the rows.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Show {
    /// One event with every place it was seen and its payload.
    Show {
        /// Row id, `registrar:event_id`, or an event id.
        id: String,
        /// Print JSON: the event, its place in the store and every sighting.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
struct FilterArgs {
    /// Only this registrar: opensrs, autodns, gandi or unknown.
    #[arg(long)]
    registrar: Option<String>,
    /// A topic (`transfer.out`) or its first part (`transfer`).
    #[arg(long)]
    topic: Option<String>,
    /// The registrar's event name.
    #[arg(long = "type")]
    event_type: Option<String>,
    /// A domain name (`müller.de` or `xn--mller-kva.de` alike), or a suffix starting with
    /// a dot (`.de`: every .de domain).
    #[arg(long)]
    domain: Option<String>,
    /// The state the event reports (`completed`, `pending`, `error`, …).
    #[arg(long)]
    status: Option<String>,
    /// Events from this time on: an age (`36h`, `7d`, `1w`), a date (`2026-11-20`), a
    /// local date and time (`2026-11-20 14:30`), or RFC 3339 with a zone.
    #[arg(long, value_parser = parse_when)]
    since: Option<String>,
    /// Events before this time (same forms as --since).
    #[arg(long, value_parser = parse_when)]
    until: Option<String>,
    /// At most this many events: the latest ones.
    #[arg(long)]
    limit: Option<u64>,
}

/// A stored UTC time as local time for people, to the second.
fn local_time(stamp: &str) -> String {
    match DateTime::parse_from_rfc3339(stamp) {
        Ok(t) => t
            .with_timezone(&Local)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        Err(_) => printable(stamp).into_owned(),
    }
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<u8> {
    let store = ctx.open_existing_store()?;
    let conn = store.conn();
    if let Some(Show::Show { id, json }) = &args.show {
        let Some(detail) = query::event_detail(conn, id)? else {
            eprintln!("mailroom events show: no event {}", printable(id));
            return Ok(EXIT_ERROR);
        };
        if *json {
            println!("{}", serde_json::to_string_pretty(&detail)?);
            return Ok(EXIT_OK);
        }
        show(&detail)?;
        return Ok(EXIT_OK);
    }
    let f = &args.filter;
    let (domain, domain_suffix) = match &f.domain {
        Some(d) => domain_forms(d),
        None => (Vec::new(), false),
    };
    let filter = EventFilter {
        registrar: f.registrar.clone(),
        topic: f.topic.clone(),
        event_type: f.event_type.clone(),
        domain,
        domain_suffix,
        status: f.status.clone(),
        since: f.since.clone(),
        until: f.until.clone(),
        limit: f.limit,
    };
    if args.count {
        let n = query::count(conn, &filter)?;
        if args.json {
            println!("{}", serde_json::json!({ "count": n }));
        } else {
            println!("{n}");
        }
        return Ok(EXIT_OK);
    }
    if args.stats {
        let rows = query::stats(conn, &filter)?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&rows)?);
            return Ok(EXIT_OK);
        }
        if rows.is_empty() {
            eprintln!("no events match");
            return Ok(EXIT_OK);
        }
        let table: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    printable(&r.registrar).into_owned(),
                    printable(&r.topic).into_owned(),
                    r.events.to_string(),
                    r.seen.to_string(),
                ]
            })
            .collect();
        print_table(&["registrar", "topic", "events", "seen"], &[2, 3], &table);
        return Ok(EXIT_OK);
    }
    let events = query::events(conn, &filter)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&events)?);
        return Ok(EXIT_OK);
    }
    if events.is_empty() {
        eprintln!("no events match");
        return Ok(EXIT_OK);
    }
    let table: Vec<Vec<String>> = events.iter().map(row).collect();
    print_table(
        &[
            "id",
            "time",
            "registrar",
            "topic",
            "type",
            "domain",
            "status",
            "seen",
        ],
        &[0, 7],
        &table,
    );
    Ok(EXIT_OK)
}

/// One line of the listing: when it happened (or was first seen), in local time.
fn row(s: &StoredEvent) -> Vec<String> {
    let e = &s.event;
    let text = |v: &Option<String>| {
        v.as_deref()
            .map_or("-".into(), |v| printable(v).into_owned())
    };
    vec![
        s.id.to_string(),
        format!(
            "{}{}",
            local_time(e.occurred_at.as_deref().unwrap_or(&s.first_seen)),
            e.time_note()
        ),
        e.registrar.as_str().to_string(),
        printable(&e.topic).into_owned(),
        printable(&e.event_type).into_owned(),
        text(&e.domain),
        text(&e.status),
        s.seen_count.to_string(),
    ]
}

/// A header row and aligned columns (`right`: the numeric ones, aligned right).
fn print_table(header: &[&str], right: &[usize], rows: &[Vec<String>]) {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, cell) in width.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (i, cell) in cells.enumerate() {
            let pad = width[i].saturating_sub(cell.chars().count());
            if i > 0 {
                out.push_str("  ");
            }
            if right.contains(&i) {
                out.extend(std::iter::repeat_n(' ', pad));
                out.push_str(cell);
            } else {
                out.push_str(cell);
                if i + 1 < width.len() {
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
        }
        println!("{}", out.trim_end());
    };
    line(&mut header.iter().copied());
    for r in rows {
        line(&mut r.iter().map(String::as_str));
    }
}

fn show(detail: &query::EventDetail) -> anyhow::Result<()> {
    let s = &detail.stored;
    let e = &s.event;
    let text = |v: &Option<String>| {
        v.as_deref()
            .map_or("-".into(), |v| printable(v).into_owned())
    };
    println!(
        "event #{}  {}:{}",
        s.id,
        e.registrar,
        printable(&e.event_id)
    );
    println!("  kind        {}", e.kind.as_str());
    println!("  topic       {}", printable(&e.topic));
    println!("  type        {}", printable(&e.event_type));
    println!("  object      {}", printable(&e.object));
    println!("  domain      {}", text(&e.domain));
    if e.domains.len() > 1 {
        println!("  domains     {}", printable(&e.domains.join(", ")));
    }
    println!("  status      {}", text(&e.status));
    println!("  occurred    {}{}", text(&e.occurred_at), e.time_note());
    if let Some(why) = &e.rules_skipped {
        println!(
            "  rules       not run: {} ([limits] max_event_age; mailroom rules apply --since acts on it)",
            printable(why)
        );
    }
    println!("  format      {}", e.format.as_str());
    match e.authenticated {
        Some(yes) => println!(
            "  sender      {}: {}",
            if yes {
                "authenticated"
            } else {
                "not authenticated"
            },
            text(&e.authentication)
        ),
        None => println!("  sender      not judged (stored before sender authentication)"),
    }
    println!(
        "  seen        {} time(s), first {}, last {}",
        s.seen_count, s.first_seen, s.last_seen
    );
    println!("  sources");
    for src in &detail.sources {
        println!(
            "    {}  {}  (message #{}, from {}, subject \"{}\")",
            src.seen_at,
            printable(&src.source),
            src.message,
            text(&src.sender),
            src.subject.as_deref().map(printable).unwrap_or_default()
        );
    }
    println!("  payload");
    // serde_json escapes control characters inside strings already.
    for line in serde_json::to_string_pretty(&e.data)?.lines() {
        println!("    {line}");
    }
    for c in &detail.conflicts {
        println!(
            "  CONFLICT: {} copy in message #{} at {} ({}){}",
            if c.superseded {
                "the first, unauthenticated"
            } else {
                "a different"
            },
            c.message,
            c.seen_at,
            match c.authenticated {
                Some(true) => "authenticated".to_string(),
                _ => format!("not authenticated: {}", text(&c.authentication)),
            },
            if c.superseded {
                ", replaced by the authenticated copy above"
            } else {
                ""
            }
        );
        for line in serde_json::to_string_pretty(&c.data)?.lines() {
            println!("    {line}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert!(matches!(
            printable("plain ü"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(printable("a\x1b[2Jb\x07"), "a\\u{1b}[2Jb\\u{7}");
        assert_eq!(printable("x\r\ny"), "x\\u{d}\\ny");
    }
}
