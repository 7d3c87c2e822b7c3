//! `mailroom deliver` (everything due, then exit) and `mailroom outbox` (what is
//! pending, failing or dead, and requeueing).

use super::{Context, EXIT_ERROR, EXIT_OK};
use crate::clock;
use crate::deliver::{self, Deliverer};
use crate::store::outbox;
use crate::term::{self, Column, Cut, Table, local_time, printable};

#[derive(Debug, clap::Args)]
pub struct DeliverArgs {
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &DeliverArgs, ctx: &Context) -> anyhow::Result<u8> {
    let rules = ctx.rules()?;
    let mut store = ctx.open_store()?;
    let deliverer = Deliverer::new(&ctx.config, &store)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let digests = deliver::digest::tick(&mut store, &rules.digests, clock::now())?;
    let mut report = runtime.block_on(deliverer.run_due(&mut store))?;
    report.digests = digests;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        eprintln!(
            "{} delivered, {} failed (will retry), {} given up, {} digest(s) queued; {} still pending",
            report.delivered,
            report.failed,
            report.dead,
            report.digests,
            outbox::depth(store.db())?
        );
        for w in outbox::waiting(store.db(), clock::now())? {
            let why = match &w.last_error {
                Some(e) => format!("last error: {}", printable(e)),
                None => "held back: its destination was found unreachable".to_string(),
            };
            eprintln!(
                "waiting: {} {} item(s) until {} ({why}); mailroom outbox retry --all tries them now",
                w.count,
                w.kind,
                local_time(&w.next_attempt)
            );
        }
    }
    Ok(if report.failed == 0 && report.dead == 0 {
        EXIT_OK
    } else {
        EXIT_ERROR
    })
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct OutboxArgs {
    #[command(subcommand)]
    retry: Option<Retry>,
    /// Show delivered items too, with when each was delivered.
    #[arg(long)]
    all: bool,
    /// Print JSON: the items with state, attempts, next attempt, last error and when
    /// delivered (done_at).
    #[arg(long)]
    json: bool,
    /// Every cell whole, however wide the terminal (piped output always is).
    #[arg(long)]
    wide: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Retry {
    /// Put a dead or failing item (or --all of them) back in the queue, due now.
    Retry {
        /// The item's id, as `mailroom outbox` lists it.
        #[arg(required_unless_present = "all")]
        id: Option<i64>,
        /// Every item not delivered: dead, failing, or waiting behind an unreachable
        /// destination.
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
}

pub fn outbox(args: &OutboxArgs, ctx: &Context) -> anyhow::Result<u8> {
    let store = ctx.open_existing_store()?;
    if let Some(Retry::Retry { id, all }) = &args.retry {
        let n = outbox::retry(store.db(), if *all { None } else { *id }, clock::now())?;
        eprintln!("{n} item(s) requeued");
        return Ok(if n == 0 && !*all { EXIT_ERROR } else { EXIT_OK });
    }
    let states: &[&str] = if args.all { &[] } else { &["pending", "dead"] };
    let items = outbox::list(store.db(), states)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(EXIT_OK);
    }
    if items.is_empty() {
        eprintln!("outbox is empty");
    }
    // The layout it always had (no header, fixed widths); on a narrow screen the rule
    // gives way first, then the target; the state and the time never.
    let table = Table::new(vec![
        Column::left("id").pad(6),
        Column::left("state").pad(10),
        Column::left("channel").pad(9),
        Column::left("target").pad(40).cut(Cut::End, 16, 1),
        Column::left("rule").pad(25).cut(Cut::End, 14, 0),
        Column::left("when"),
    ])
    .headless()
    .gap(1);
    let width = term::width(args.wide);
    let rows: Vec<Vec<String>> = items.iter().map(row).collect();
    for (i, line) in items.iter().zip(table.render(&rows, width)) {
        println!("{line}");
        if let Some(e) = &i.last_error {
            let e = printable(e);
            println!(
                "{}",
                term::line(
                    &[("       last error: ", Cut::Never), (&e, Cut::End)],
                    width
                )
            );
        }
    }
    Ok(EXIT_OK)
}

/// One item as `mailroom outbox` lists it: when it is next tried, or (with `--all`) when
/// it was delivered.
fn row(i: &outbox::Item) -> Vec<String> {
    let state = match (i.state.as_str(), i.attempts) {
        ("pending", 0) => "pending".to_string(),
        ("pending", n) => format!("failed x{n}"),
        (s, _) => s.to_string(),
    };
    let when = match (i.state.as_str(), &i.done_at) {
        ("pending", _) => format!("next {}", local_time(&i.next_attempt)),
        ("done", Some(at)) => format!("delivered {}", local_time(at)),
        _ => "next -".to_string(),
    };
    vec![
        format!("#{}", i.id),
        state,
        i.channel.as_str().to_string(),
        printable(&i.target).into_owned(),
        format!("rule {}", printable(i.rule.as_deref().unwrap_or("-"))),
        when,
    ]
}
