//! `mailroom gandi subscriptions | count | test NAME`: Gandi's notification API
//! (`[gandi]`) beside what this reseller's rules want. `subscriptions` warns of each
//! notification a rule wants that Gandi sends on no channel mailroom reads, and of
//! each active one no rule uses; `test` asks Gandi for a test message and waits until
//! a running `watch` has stored it, through whichever channel.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::{Context, EXIT_ERROR, EXIT_OK};
use crate::channel::gandi::{Gandi, REGISTRAR};
use crate::channel::gandi_xmlrpc::{ChannelState, Notification};
use crate::config::Config;
use crate::event::Registrar;
use crate::rules::{RuleSet, Subscription};
use crate::store::probes;
use crate::term::printable;
use crate::topics::{self, OTHER_TOPIC, Topic};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: GandiCommand,
}

#[derive(Debug, clap::Subcommand)]
enum GandiCommand {
    /// Every notification Gandi offers (notification.list), active or not, with its
    /// channels, beside the rules that want it; warnings for what would never arrive
    /// and for what nobody uses.
    Subscriptions {
        /// Print JSON: each notification with its channels and the rules that want it.
        #[arg(long)]
        json: bool,
    },
    /// How many notifications Gandi makes available (notification.count).
    Count {
        /// Print JSON: {"count": N}.
        #[arg(long)]
        json: bool,
    },
    /// Ask Gandi for the test message of NAME (notification.test), then wait until a
    /// running `mailroom watch` has stored it; exit 1 when it does not come in time.
    Test {
        /// A notification name, e.g. paas.create.
        name: String,
        /// How long to wait for the test message (0: ask, do not wait).
        #[arg(long, default_value = "10m", value_parser = crate::config::parse_duration)]
        wait: Duration,
        /// Print JSON: whether the test message came, after how long, and where.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<u8> {
    let config = ctx.config.gandi.as_ref().ok_or_else(|| {
        anyhow::anyhow!(
            "{}: no [gandi] section: add one with apikey_env or apikey_command (docs/CONFIGURATION.md)",
            ctx.config.position("[gandi]", None, "config")
        )
    })?;
    if let Some(problem) = config.apikey_problem(&ctx.config) {
        anyhow::bail!(problem);
    }
    let api = Gandi::new(config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    match &args.command {
        GandiCommand::Subscriptions { json } => {
            let list = runtime.block_on(api.list())?;
            subscriptions(&ctx.config, &ctx.rules()?, list, *json)
        }
        GandiCommand::Count { json } => {
            let n = runtime.block_on(api.count())?;
            if *json {
                println!("{}", serde_json::json!({ "count": n }));
            } else {
                println!("{n}");
            }
            Ok(EXIT_OK)
        }
        GandiCommand::Test { name, wait, json } => test(ctx, &runtime, &api, name, *wait, *json),
    }
}

/// One notification beside the rules.
#[derive(Serialize)]
struct Line {
    name: String,
    active: bool,
    channels: Vec<ChannelState>,
    topic: String,
    /// Rules (and digests, by their own filters) that want it.
    rules: Vec<String>,
    /// Gandi sends it on a channel mailroom reads.
    reaches_mailroom: bool,
}

#[derive(Serialize)]
struct Report {
    /// What mailroom reads: smtp (a watched mailbox), sns (a push receiver).
    reads_smtp: bool,
    reads_sns: bool,
    notifications: Vec<Line>,
    warnings: Vec<String>,
}

/// The rules and digests that want notification `name` of Gandi's (by its kind).
fn wanted_by(rules: &RuleSet, name: &str) -> (String, Vec<String>) {
    let mut probe = match topics::lookup(Registrar::Gandi, name) {
        Some(t) => super::rules::kind_probe(t),
        None => super::rules::kind_probe(&Topic {
            registrar: Registrar::Gandi,
            name: "",
            topic: OTHER_TOPIC,
            object: "unknown",
            status: None,
            announced_only: false,
        }),
    };
    probe.event_type = name.to_string();
    let mut who = Vec::new();
    for r in &rules.rules {
        match r.subscribes(&probe) {
            Subscription::No => {}
            Subscription::Yes => who.push(r.name.clone()),
            Subscription::Conditional => who.push(format!("{} (some)", r.name)),
        }
    }
    for d in &rules.digests {
        if rules.collects(&d.name, &probe) != Subscription::No {
            who.push(format!("digest {}", d.name));
        }
    }
    (probe.topic, who)
}

fn subscriptions(
    config: &Config,
    rules: &RuleSet,
    list: Vec<Notification>,
    json: bool,
) -> anyhow::Result<u8> {
    // Every [[push]] reads every format (SNS envelopes included); mail comes in through
    // any watched mailbox or local folder.
    let reads_smtp = !config.accounts.is_empty() || !config.maildirs.is_empty();
    let reads_sns = !config.pushes.is_empty();
    let mut warnings = Vec::new();
    let mut lines = Vec::new();
    for n in list {
        let (topic, who) = wanted_by(rules, &n.name);
        let reaches = (reads_smtp && n.sends_on("smtp")) || (reads_sns && n.sends_on("sns"));
        let name = printable(&n.name).to_string();
        if !who.is_empty() && !reaches {
            warnings.push(format!(
                "{name}: wanted by {}, but Gandi sends it on no channel mailroom reads: {}",
                who.join(", "),
                unreachable_because(&n, reads_smtp, reads_sns)
            ));
        }
        if n.active && who.is_empty() {
            warnings.push(format!(
                "{name}: active at Gandi, but no rule uses it: its events are only stored (add a rule for topic {topic}, or switch it off at Gandi)"
            ));
        }
        lines.push(Line {
            name: n.name,
            active: n.active,
            channels: n.channels,
            topic,
            rules: who,
            reaches_mailroom: reaches,
        });
    }
    let report = Report {
        reads_smtp,
        reads_sns,
        notifications: lines,
        warnings,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(EXIT_OK);
    }
    let rows: Vec<[String; 5]> = report
        .notifications
        .iter()
        .map(|l| {
            let channels: Vec<String> = l
                .channels
                .iter()
                .map(|c| format!("{}={}", printable(&c.name), printable(&c.status)))
                .collect();
            [
                printable(&l.name).to_string(),
                if l.active { "yes" } else { "no" }.to_string(),
                channels.join(" "),
                l.topic.clone(),
                if l.rules.is_empty() {
                    "-".to_string()
                } else {
                    l.rules.join(", ")
                },
            ]
        })
        .collect();
    let head = ["NOTIFICATION", "ACTIVE", "CHANNELS", "TOPIC", "RULES"].map(String::from);
    let width = |i: usize| {
        rows.iter()
            .chain([&head])
            .map(|r| r[i].chars().count())
            .max()
            .unwrap_or(0)
    };
    let (w0, w1, w2, w3) = (width(0), width(1), width(2), width(3));
    for r in [&head].into_iter().chain(&rows) {
        println!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {}",
            r[0], r[1], r[2], r[3], r[4]
        );
    }
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    Ok(EXIT_OK)
}

/// Why a notification a rule wants never reaches mailroom, and what fixes it.
fn unreachable_because(n: &Notification, reads_smtp: bool, reads_sns: bool) -> String {
    if !n.active {
        return "it is switched off at Gandi (switch it on, with its smtp channel to a mailbox mailroom watches, or sns to a [[push]])".into();
    }
    let on: Vec<&str> = n
        .channels
        .iter()
        .filter(|c| c.status == "active")
        .map(|c| c.name.as_str())
        .collect();
    match (n.sends_on("smtp"), n.sends_on("sns")) {
        (true, _) if !reads_smtp => "Gandi mails it (smtp), but mailroom watches no mailbox: add an [[account]] or [[maildir]] for the address Gandi sends to".into(),
        (_, true) if !reads_sns => "Gandi sends it by SNS, but mailroom has no [[push]] receiver: add one and subscribe it to the SNS topic".into(),
        _ => format!(
            "Gandi sends it only on {}: switch on its smtp channel (to a mailbox mailroom watches) or sns (to a [[push]])",
            if on.is_empty() { "no channel".to_string() } else { printable(&on.join(", ")).to_string() }
        ),
    }
}

#[derive(Serialize)]
struct TestReport {
    notification: String,
    arrived: bool,
    /// Seconds from the request to the test message stored.
    after_s: Option<f64>,
    waited_s: f64,
    arrival: Option<probes::Arrival>,
}

/// How often the database is looked at while waiting.
const LOOK_EVERY: Duration = Duration::from_millis(250);

fn test(
    ctx: &Context,
    runtime: &tokio::runtime::Runtime,
    api: &Gandi,
    name: &str,
    wait: Duration,
    json: bool,
) -> anyhow::Result<u8> {
    // The database a `watch` fills, read only; there before anything is asked of Gandi.
    let db = ctx.db_path();
    let reader = if wait.is_zero() {
        None
    } else {
        if crate::store::pg_url(&db).is_none() && !db.is_file() {
            anyhow::bail!(
                "no database at {} (start mailroom watch with this config first, or pass --db): the test message could not be seen arriving",
                db.display()
            );
        }
        Some(crate::store::Store::reader(&db)?)
    };
    let mark = match &reader {
        Some(c) => probes::mark(c)?,
        None => 0,
    };
    let started = Instant::now();
    runtime.block_on(api.test(name))?;
    let Some(reader) = reader else {
        eprintln!("Gandi sends the test message of {name} now");
        return Ok(EXIT_OK);
    };
    let arrival = loop {
        if let Some(a) = probes::test_arrived(&reader, REGISTRAR, name, mark)? {
            break Some(a);
        }
        if started.elapsed() >= wait {
            break None;
        }
        std::thread::sleep(LOOK_EVERY.min(wait.saturating_sub(started.elapsed())));
    };
    let took = started.elapsed().as_secs_f64();
    let report = TestReport {
        notification: name.to_string(),
        arrived: arrival.is_some(),
        after_s: arrival.as_ref().map(|_| took),
        waited_s: took,
        arrival,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if let Some(a) = &report.arrival {
        println!(
            "the test message of {name} arrived after {took:.1} s (stored {} from {})",
            a.stored_at,
            printable(&a.source)
        );
    } else {
        eprintln!(
            "mailroom gandi test: no test message of {name} was stored within {}: is mailroom watch running, and does Gandi send {name} on a channel it reads? (mailroom gandi subscriptions)",
            crate::ingest::policy::span(wait)
        );
    }
    Ok(if report.arrived { EXIT_OK } else { EXIT_ERROR })
}
