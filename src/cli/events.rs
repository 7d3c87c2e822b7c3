//! `mailroom events`: list, count and show stored events, with filters.

use crate::term::{self, Column, Cut, Table, local_time, one_line as printable};

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
    /// Print JSON: an array of events (the fields of docs/EVENTS.md plus id,
    /// seen_count, first_seen, last_seen), newest first; with --count `{"count": N}`,
    /// with --stats the rows.
    #[arg(long)]
    json: bool,
    /// Every cell whole, however wide the terminal (piped output always is).
    #[arg(long)]
    wide: bool,
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
    /// Events whose domain, message subject or registrar's words contain this text
    /// (at least 3 characters; any case).
    #[arg(long, value_parser = search_text)]
    search: Option<String>,
}

fn search_text(s: &str) -> Result<String, String> {
    if s.trim().chars().count() < crate::store::search::MIN_CHARS {
        return Err(format!(
            "give at least {} characters",
            crate::store::search::MIN_CHARS
        ));
    }
    Ok(s.trim().to_string())
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<u8> {
    let store = ctx.open_existing_store()?;
    let conn = store.db();
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
        search: f.search.clone(),
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
        let columns = vec![
            Column::left("registrar"),
            Column::left("topic").cut(Cut::End, 10, 0),
            Column::right("events"),
            Column::right("seen"),
        ];
        print_table(Table::new(columns), &table, args.wide);
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
    // On a narrow screen the registrar's own event name gives way first, the domain
    // last (and it keeps its end: the name people recognise).
    let columns = vec![
        Column::right("id"),
        Column::left("time").cut(Cut::End, 16, 0),
        Column::left("registrar"),
        Column::left("topic").cut(Cut::End, 10, 2),
        Column::left("type").cut(Cut::End, 4, 0),
        Column::left("domain").cut(Cut::Start, 16, 3),
        Column::left("status").cut(Cut::End, 9, 1),
        Column::right("seen"),
    ];
    print_table(Table::new(columns), &table, args.wide);
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

/// The table, fitted to the terminal unless piped or `--wide`.
fn print_table(table: Table, rows: &[Vec<String>], wide: bool) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for line in table.render(rows, term::width(wide)) {
        let _ = writeln!(out, "{line}");
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
    let time = |v: &Option<String>| v.as_deref().map_or("-".into(), local_time);
    println!("  occurred    {}{}", time(&e.occurred_at), e.time_note());
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
        s.seen_count,
        local_time(&s.first_seen),
        local_time(&s.last_seen)
    );
    println!("  sources");
    for src in &detail.sources {
        println!(
            "    {}  {}  (message #{}, from {}, subject \"{}\")",
            local_time(&src.seen_at),
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
            local_time(&c.seen_at),
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
