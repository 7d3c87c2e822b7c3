//! `mailroom events`: list, count and show stored events, with filters.

use chrono::{DateTime, NaiveDate, Utc};

use super::{Context, EXIT_ERROR, EXIT_OK};
use crate::clock;
use crate::config::parse_duration;
use crate::store::query::{self, EventFilter};

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
    /// Print JSON: an array of events (DESIGN §3 plus id, seen_count, first_seen, last_seen).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Show {
    /// One event with every place it was seen and its payload.
    Show {
        /// Row id, `registrar:event_id`, or an event id.
        id: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
struct FilterArgs {
    #[arg(long)]
    registrar: Option<String>,
    /// A topic (`transfer.out`) or its first part (`transfer`).
    #[arg(long)]
    topic: Option<String>,
    /// The registrar's event name.
    #[arg(long = "type")]
    event_type: Option<String>,
    #[arg(long)]
    domain: Option<String>,
    /// Events from this time: `2026-11-01`, RFC 3339, or an age such as `24h`, `7d`.
    #[arg(long, value_parser = parse_when)]
    since: Option<String>,
    /// Events before this time (same forms as --since).
    #[arg(long, value_parser = parse_when)]
    until: Option<String>,
    /// At most this many events.
    #[arg(long)]
    limit: Option<u64>,
}

/// A point in time as stored (RFC 3339 UTC).
pub(super) fn parse_when(s: &str) -> Result<String, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(clock::stamp(t.with_timezone(&Utc)));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let t = d.and_hms_opt(0, 0, 0).ok_or("bad date")?.and_utc();
        return Ok(clock::stamp(t));
    }
    let age = parse_duration(s)
        .map_err(|_| format!("{s:?} is not a date, an RFC 3339 time or an age like 24h"))?;
    let age = chrono::Duration::from_std(age).map_err(|e| e.to_string())?;
    Ok(clock::stamp(clock::now() - age))
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<u8> {
    let store = ctx.open_store()?;
    let conn = store.conn();
    if let Some(Show::Show { id, json }) = &args.show {
        let Some(detail) = query::event_detail(conn, id)? else {
            eprintln!("mailroom events show: no event {id}");
            return Ok(EXIT_ERROR);
        };
        if *json {
            println!("{}", serde_json::to_string_pretty(&detail)?);
            return Ok(EXIT_OK);
        }
        let e = &detail.stored.event;
        println!(
            "event #{}  {}:{}",
            detail.stored.id, e.registrar, e.event_id
        );
        println!("  kind        {}", e.kind.as_str());
        println!("  topic       {}", e.topic);
        println!("  type        {}", e.event_type);
        println!("  object      {}", e.object);
        println!("  domain      {}", e.domain.as_deref().unwrap_or("-"));
        if e.domains.len() > 1 {
            println!("  domains     {}", e.domains.join(", "));
        }
        println!("  status      {}", e.status.as_deref().unwrap_or("-"));
        println!("  occurred    {}", e.occurred_at.as_deref().unwrap_or("-"));
        println!("  format      {}", e.format.as_str());
        println!(
            "  seen        {} time(s), first {}, last {}",
            detail.stored.seen_count, detail.stored.first_seen, detail.stored.last_seen
        );
        println!("  sources");
        for s in &detail.sources {
            println!(
                "    {}  {}  (message #{}, {}, {:?})",
                s.seen_at,
                s.source,
                s.message,
                s.sender.as_deref().unwrap_or("-"),
                s.subject.as_deref().unwrap_or("")
            );
        }
        println!("  payload");
        for line in serde_json::to_string_pretty(&e.data)?.lines() {
            println!("    {line}");
        }
        return Ok(EXIT_OK);
    }
    let f = &args.filter;
    let filter = EventFilter {
        registrar: f.registrar.clone(),
        topic: f.topic.clone(),
        event_type: f.event_type.clone(),
        domain: f.domain.clone(),
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
        } else {
            println!(
                "{:<10} {:<34} {:>8} {:>8}",
                "registrar", "topic", "events", "seen"
            );
            for r in &rows {
                println!(
                    "{:<10} {:<34} {:>8} {:>8}",
                    r.registrar, r.topic, r.events, r.seen
                );
            }
        }
        return Ok(EXIT_OK);
    }
    let events = query::events(conn, &filter)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&events)?);
        return Ok(EXIT_OK);
    }
    for s in &events {
        let e = &s.event;
        println!(
            "#{:<6} {:<20} {:<8} {:<32} {:<28} {:<28} {:<10} x{}",
            s.id,
            e.occurred_at
                .as_deref()
                .unwrap_or(&s.first_seen[..19.min(s.first_seen.len())]),
            e.registrar.as_str(),
            e.topic,
            e.event_type,
            e.domain.as_deref().unwrap_or("-"),
            e.status.as_deref().unwrap_or("-"),
            s.seen_count
        );
    }
    Ok(EXIT_OK)
}
