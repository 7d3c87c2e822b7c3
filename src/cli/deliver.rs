//! `mailroom deliver` (everything due, then exit) and `mailroom outbox` (what is
//! pending, failing or dead, and requeueing).

use super::{Context, EXIT_ERROR, EXIT_OK};
use crate::clock;
use crate::deliver::{self, Deliverer};
use crate::store::outbox;
use crate::term::printable;

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
    let runtime = tokio::runtime::Builder::new_current_thread()
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
            outbox::depth(store.conn())?
        );
        for w in outbox::waiting(store.conn(), clock::now())? {
            let why = match &w.last_error {
                Some(e) => format!("last error: {}", printable(e)),
                None => "held back: its destination was found unreachable".to_string(),
            };
            eprintln!(
                "waiting: {} {} item(s) until {} ({why}); mailroom outbox retry --all tries them now",
                w.count, w.kind, w.next_attempt
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
    /// Show delivered items too.
    #[arg(long)]
    all: bool,
    /// Print JSON: the items with state, attempts, next attempt and last error.
    #[arg(long)]
    json: bool,
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
        let n = outbox::retry(store.conn(), if *all { None } else { *id }, clock::now())?;
        eprintln!("{n} item(s) requeued");
        return Ok(if n == 0 && !*all { EXIT_ERROR } else { EXIT_OK });
    }
    let states: &[&str] = if args.all { &[] } else { &["pending", "dead"] };
    let items = outbox::list(store.conn(), states)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(EXIT_OK);
    }
    if items.is_empty() {
        eprintln!("outbox is empty");
    }
    for i in &items {
        let state = match (i.state.as_str(), i.attempts) {
            ("pending", 0) => "pending".to_string(),
            ("pending", n) => format!("failed x{n}"),
            (s, _) => s.to_string(),
        };
        println!(
            "#{:<5} {:<10} {:<9} {:<40} rule {:<20} next {}",
            i.id,
            state,
            i.channel.as_str(),
            printable(&i.target),
            i.rule.as_deref().unwrap_or("-"),
            if i.state == "pending" {
                i.next_attempt.as_str()
            } else {
                "-"
            }
        );
        if let Some(e) = &i.last_error {
            println!("       last error: {}", printable(e));
        }
    }
    Ok(EXIT_OK)
}
