//! `mailroom rules check` (validate, run nothing), `mailroom rules test FILE.eml` (what
//! each rule would do, sending nothing), `mailroom rules test --topic T --send` (a
//! marked test notification through every channel subscribed to T), and
//! `mailroom topics` (every known notification and who subscribes to it).

use std::path::PathBuf;

use serde::Serialize;
use serde_json::json;

use super::{Context, EXIT_ERROR, EXIT_OK};
use crate::clock;
use crate::deliver::{Deliverer, compose};
use crate::event::{Event, Format, Kind, Registrar};
use crate::rules::{Action, RuleSet, Subscription};
use crate::store::db::Sql as _;
use crate::store::outbox::{Channel, Item};
use crate::term::{self, Column, Cut, Table, printable};
use crate::topics::TOPICS;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: RulesCommand,
}

#[derive(Debug, clap::Subcommand)]
enum RulesCommand {
    /// Validate every rule file; report file, line, column and reason.
    Check,
    /// Show what each rule would do with the events of an email (sends nothing), or
    /// send a test notification for a topic (`--topic T --send`).
    Test {
        /// An email file.
        #[arg(required_unless_present = "topic", conflicts_with = "topic")]
        file: Option<PathBuf>,
        /// A topic to test the subscriptions of.
        #[arg(long)]
        topic: Option<String>,
        /// With --topic: really send the test notification.
        #[arg(long, requires = "topic")]
        send: bool,
        /// Print the verdicts (or what was sent) as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the current rules over events stored since a date and queue what they ask
    /// for that the events did not get yet (never twice).
    Apply {
        /// Events from this time: a date, RFC 3339, or an age such as `7d`.
        #[arg(long, value_parser = crate::filter::parse_when)]
        since: String,
        /// Show what would be queued; queue nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print what was (or would be) queued as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<u8> {
    match &args.command {
        RulesCommand::Check => check(ctx),
        RulesCommand::Test {
            file: Some(file),
            json,
            ..
        } => test_file(ctx, file, *json),
        RulesCommand::Test {
            topic: Some(topic),
            send,
            json,
            ..
        } => test_topic(ctx, topic, *send, *json),
        RulesCommand::Test { .. } => Ok(EXIT_ERROR),
        RulesCommand::Apply {
            since,
            dry_run,
            json,
        } => apply(ctx, since, *dry_run, *json),
    }
}

fn check(ctx: &Context) -> anyhow::Result<u8> {
    let dir = ctx.config.rules_dir();
    let checked = super::preflight::service_rules(ctx).and_then(|set| {
        let missing = super::preflight::maildirs(&ctx.config);
        if missing.is_empty() {
            Ok(set)
        } else {
            anyhow::bail!("{}", missing.join("\n"))
        }
    });
    match checked {
        Ok(set) => {
            println!(
                "{}: {} rule(s) and {} digest(s) in {} file(s): OK",
                dir.display(),
                set.rules.len(),
                set.digests.len(),
                set.files.len()
            );
            Ok(EXIT_OK)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(EXIT_ERROR)
        }
    }
}

fn test_file(ctx: &Context, file: &PathBuf, json_out: bool) -> anyhow::Result<u8> {
    let rules = ctx.rules()?;
    let raw = std::fs::read(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let found = crate::extract::extract(&raw);
    if found.events.is_empty() {
        eprintln!(
            "{}: no notification found: {}",
            file.display(),
            found.reason.unwrap_or_default()
        );
        return Ok(EXIT_ERROR);
    }
    let mut report = Vec::new();
    for e in &found.events {
        let verdicts = rules.verdicts(e);
        let actions = rules.actions(e);
        if !json_out {
            println!(
                "{}",
                printable(&format!(
                    "{} {} {} {}",
                    e.key(),
                    e.topic,
                    e.event_type,
                    e.domain.as_deref().unwrap_or("-")
                ))
            );
            for v in &verdicts {
                let what = if v.skipped {
                    "skipped (an earlier rule stopped)".to_string()
                } else if v.matched {
                    let acts: Vec<String> = v.actions.iter().map(describe).collect();
                    if acts.is_empty() {
                        "matches: stop".into()
                    } else {
                        format!("matches: {}", acts.join("; "))
                    }
                } else {
                    format!("no: {}", v.failed.as_deref().unwrap_or("-"))
                };
                println!("  rule {:<24} {}", v.rule, printable(&what));
            }
            for a in actions
                .iter()
                .filter(|a| matches!(a, Action::Digest { rule: None, .. }))
            {
                println!("  {} (by the digest's own filters)", describe(a));
            }
            if actions.is_empty() {
                println!("  nothing would be done");
            }
        }
        report.push(json!({"event": e, "rules": verdicts, "actions": actions}));
    }
    if json_out {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(EXIT_OK)
}

fn describe(a: &Action) -> String {
    match a {
        Action::Forward { forward, .. } => format!("forward to {}", forward.to.join(", ")),
        Action::Webhook { webhook, .. } => {
            format!("webhook {}", crate::secret::redact(&webhook.url))
        }
        Action::Digest { digest, .. } => format!("digest {digest}"),
        Action::Chat { chat, .. } => format!("{} {}", chat.service.as_str(), chat.shown),
    }
}

/// A clearly marked event of `topic`, sent by `rules test --topic T --send`.
fn test_event(topic: &str) -> Event {
    let entry = TOPICS
        .iter()
        .chain(crate::topics::ALERTS)
        .find(|t| t.topic == topic);
    let now = clock::now();
    Event {
        registrar: entry.map_or(Registrar::Unknown, |t| t.registrar),
        event_id: format!("mailroom-test-{}", now.timestamp()),
        kind: Kind::Test,
        object: entry.map_or("domain", |t| t.object).to_string(),
        event_type: entry.map_or("test", |t| t.name).to_string(),
        topic: topic.to_string(),
        domain: Some("example.com".into()),
        domains: vec!["example.com".into()],
        status: entry.and_then(|t| t.status).map(str::to_string),
        status_text: None,
        occurred_at: Some(now.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        format: Format::Json,
        data: json!({"mailroom_test": true, "note": "test notification sent by mailroom rules test --send"}),
        authenticated: None,
        authentication: None,
        occurred_at_source: None,
        rules_skipped: None,
    }
}

fn test_topic(ctx: &Context, topic: &str, send: bool, json_out: bool) -> anyhow::Result<u8> {
    // The same check the rule loader makes: a topic no notification has matches nothing.
    crate::rules::known_value("topic", topic).map_err(|e| anyhow::anyhow!("--topic {e}"))?;
    let rules = ctx.rules()?;
    let event = test_event(topic);
    let mut items: Vec<Item> = Vec::new();
    let item = |channel, rule: &str, target: String, payload| Item {
        id: 0,
        channel,
        rule: Some(rule.to_string()),
        event: None,
        message: None,
        target,
        payload,
        state: "pending".into(),
        attempts: 0,
        next_attempt: String::new(),
        window_start: String::new(),
        last_error: None,
        created: String::new(),
        done_at: None,
    };
    for rule in rules
        .rules
        .iter()
        .filter(|r| r.subscribes(&event) != Subscription::No)
    {
        if let Some(f) = &rule.forward {
            let payload = if f.is_customer_mail() {
                let mut p = crate::ingest::rules::customer_payload(&rules, f, &rule.name, &event);
                p["test"] = json!(true);
                p
            } else {
                crate::action::forward(&event, f, &rule.name, true)
            };
            items.push(item(Channel::Forward, &rule.name, f.to.join(", "), payload));
        }
        if let Some(w) = &rule.webhook {
            items.push(item(
                Channel::Webhook,
                &rule.name,
                crate::secret::redact(&w.url),
                crate::action::webhook(&event, w, &rule.name),
            ));
        }
        for c in &rule.chat {
            // A test event has no page in the console: no link.
            items.push(item(
                Channel::Webhook,
                &rule.name,
                format!("{} {}", c.service.as_str(), c.shown),
                crate::ingest::rules::chat_payload(&event, c, &rule.name, None, true),
            ));
        }
        for name in &rule.digests {
            if let Some(d) = rules.digest(name) {
                let mut mail = test_digest(d, &event);
                mail["subject"] = json!(format!(
                    "[TEST] {}",
                    mail["subject"].as_str().unwrap_or_default()
                ));
                items.push(item(Channel::Digest, &rule.name, d.to.join(", "), mail));
            }
        }
    }
    if items.is_empty() {
        eprintln!("no rule subscribes to topic {topic}");
        return Ok(EXIT_ERROR);
    }
    let mut results = Vec::new();
    let mut failed = false;
    let store = if send { Some(ctx.open_store()?) } else { None };
    let deliverer = match &store {
        Some(s) => Some(Deliverer::new(&ctx.config, s)?),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    for it in &items {
        let outcome = match (&deliverer, &store) {
            (Some(d), Some(s)) => match runtime.block_on(d.send(it, d.original(s, it))) {
                Ok(()) => "sent".to_string(),
                Err(e) => {
                    failed = true;
                    format!("failed: {e}")
                }
            },
            _ => "would send (add --send)".to_string(),
        };
        if !json_out {
            println!(
                "{:<8} {:<40} rule {:<20} {outcome}",
                it.channel.as_str(),
                it.target,
                it.rule.as_deref().unwrap_or("-")
            );
        }
        results.push(json!({"channel": it.channel, "target": it.target, "rule": it.rule, "outcome": outcome}));
    }
    if json_out {
        println!("{}", serde_json::to_string_pretty(&results)?);
    }
    Ok(if failed { EXIT_ERROR } else { EXIT_OK })
}

fn test_digest(d: &crate::rules::Digest, event: &Event) -> serde_json::Value {
    let now = clock::stamp(clock::now());
    let stored = crate::store::query::StoredEvent {
        id: 0,
        event: event.clone(),
        seen_count: 1,
        first_seen: now.clone(),
        last_seen: now.clone(),
    };
    let entry = crate::deliver::digest_mail::Entry {
        stored,
        subject: None,
    };
    compose::digest(d, &[entry], &[], None, &now)
}

#[derive(Debug, clap::Args)]
pub struct TopicsArgs {
    /// Only this registrar.
    #[arg(long)]
    registrar: Option<String>,
    /// Print JSON: every notification type with its topic and subscribers.
    #[arg(long)]
    json: bool,
    /// Every cell whole, however wide the terminal (piped output always is).
    #[arg(long)]
    wide: bool,
}

#[derive(Serialize)]
struct TopicLine {
    registrar: &'static str,
    name: &'static str,
    topic: &'static str,
    object: &'static str,
    announced_only: bool,
    active: bool,
    /// Events of this type in the database.
    stored: i64,
    subscribers: Vec<Subscriber>,
}

#[derive(Serialize)]
struct Subscriber {
    rule: Option<String>,
    digest: Option<String>,
    subscription: Subscription,
    channels: Vec<String>,
}

pub fn topics(args: &TopicsArgs, ctx: &Context) -> anyhow::Result<u8> {
    let rules = ctx.rules()?;
    let store = ctx.open_existing_store()?;
    let mut lines = topic_lines(&rules, args.registrar.as_deref());
    for l in &mut lines {
        l.stored = stored(store.db(), l)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&lines)?);
        return Ok(EXIT_OK);
    }
    // The layout it always had; on a narrow screen the registrar's name for the
    // notification gives way before the topic.
    let table = Table::new(vec![
        Column::left("registrar").pad(8),
        Column::left("name").pad(46).cut(Cut::End, 12, 1),
        Column::left("topic").pad(32).cut(Cut::End, 14, 2),
        Column::left("stored").cut(Cut::End, 23, 0),
    ])
    .headless()
    .gap(1);
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|l| {
            let state = if l.active { "active" } else { "inactive" };
            let later = if l.announced_only {
                " (announced, not yet sent)"
            } else {
                ""
            };
            vec![
                l.registrar.to_string(),
                l.name.to_string(),
                l.topic.to_string(),
                format!("{:>6} stored  {state}{later}", l.stored),
            ]
        })
        .collect();
    let width = term::width(args.wide);
    for (l, line) in lines.iter().zip(table.render(&rows, width)) {
        println!("{line}");
        for s in &l.subscribers {
            let who = match (&s.rule, &s.digest) {
                (Some(r), _) => format!("rule {r}"),
                (None, Some(d)) => format!("digest {d} (own filters)"),
                _ => String::new(),
            };
            let cond = if s.subscription == Subscription::Conditional {
                " [if its other conditions hold]"
            } else {
                ""
            };
            let text = printable(&format!("{who}: {}{cond}", s.channels.join("; "))).into_owned();
            println!(
                "{}",
                term::line(&[("           ", Cut::Never), (&text, Cut::End)], width)
            );
        }
    }
    Ok(EXIT_OK)
}

/// How many stored events are of this notification type. OpenSRS names are `OBJECT
/// EVENT`; AutoDNS job results have a status code as their type.
fn stored(conn: &crate::store::db::Db, l: &TopicLine) -> anyhow::Result<i64> {
    use crate::store::db::{Arg, Sql, args};
    let count = |sql: &str, args: &[&dyn Arg]| -> crate::store::Result<i64> {
        conn.one(
            &format!("SELECT COUNT(*) FROM events WHERE registrar = ?1 AND {sql}"),
            args,
        )
    };
    Ok(match l.name.split_once(' ') {
        Some((object, event)) => count(
            "lower(object) = lower(?2) AND lower(type) = lower(?3)",
            args![l.registrar, object, event],
        )?,
        None if l.registrar == "autodns" && l.name == "job" => count(
            "kind = 'job' AND type NOT IN ('panData', 'trnData')",
            args![l.registrar],
        )?,
        None => count("lower(type) = lower(?2)", args![l.registrar, l.name])?,
    })
}

/// An event standing for every notification of `t`'s kind (registrar, name, topic,
/// object; no domain, status or data): what a rule's `subscribes` is asked about.
pub(super) fn kind_probe(t: &crate::topics::Topic) -> Event {
    Event {
        registrar: t.registrar,
        event_id: String::new(),
        kind: if t.topic == "job.result" {
            Kind::Job
        } else {
            Kind::Event
        },
        object: t.object.to_string(),
        event_type: t.name.rsplit(' ').next().unwrap_or(t.name).to_string(),
        topic: t.topic.to_string(),
        domain: None,
        domains: Vec::new(),
        status: None,
        status_text: None,
        occurred_at: None,
        format: Format::Json,
        data: json!({}),
        authenticated: None,
        authentication: None,
        occurred_at_source: None,
        rules_skipped: None,
    }
}

fn topic_lines(rules: &RuleSet, only: Option<&str>) -> Vec<TopicLine> {
    let mut out = Vec::new();
    for t in TOPICS.iter().chain(crate::topics::ALERTS) {
        if only.is_some_and(|r| !t.registrar.as_str().eq_ignore_ascii_case(r)) {
            continue;
        }
        let probe = kind_probe(t);
        let mut subscribers = Vec::new();
        for r in &rules.rules {
            let s = r.subscribes(&probe);
            if s != Subscription::No {
                subscribers.push(Subscriber {
                    rule: Some(r.name.clone()),
                    digest: None,
                    subscription: s,
                    channels: r.channels(),
                });
            }
        }
        for d in &rules.digests {
            let s = rules.collects(&d.name, &probe);
            if s != Subscription::No {
                subscribers.push(Subscriber {
                    rule: None,
                    digest: Some(d.name.clone()),
                    subscription: s,
                    channels: vec![format!("digest {} to {}", d.name, d.to.join(", "))],
                });
            }
        }
        out.push(TopicLine {
            registrar: t.registrar.as_str(),
            name: t.name,
            topic: t.topic,
            object: t.object,
            announced_only: t.announced_only,
            active: subscribers
                .iter()
                .any(|s| s.channels.iter().any(|c| c != "stop")),
            stored: 0,
            subscribers,
        });
    }
    out
}

/// One action `rules apply` queued (or would queue).
#[derive(Debug, Serialize)]
struct Applied {
    event: i64,
    key: String,
    rule: Option<String>,
    action: &'static str,
    target: String,
}

fn apply(ctx: &Context, since: &str, dry_run: bool, json_out: bool) -> anyhow::Result<u8> {
    let rules = super::preflight::service_rules(ctx)?;
    let store = ctx.open_store()?;
    let tx = store.db().write()?;
    let given = crate::ingest::rules::Given::load(&tx)?;
    let mut grouping = crate::ingest::group::Grouping::default();
    let filter = crate::store::query::EventFilter {
        since: Some(since.to_string()),
        ..Default::default()
    };
    let events = crate::store::query::events(&tx, &filter)?;
    let mut applied = Vec::new();
    for stored in &events {
        let missing: Vec<Action> = rules
            .actions(&stored.event)
            .into_iter()
            .filter(|a| !given.has(stored.id, a))
            .collect();
        if missing.is_empty() {
            continue;
        }
        for a in &missing {
            let (rule, action, target) = match a {
                Action::Forward { rule, forward } => {
                    (Some(rule.clone()), "forward", forward.to.join(", "))
                }
                Action::Webhook { rule, webhook } => (
                    Some(rule.clone()),
                    "webhook",
                    crate::secret::redact(&webhook.url),
                ),
                Action::Digest { rule, digest } => (rule.clone(), "digest", digest.clone()),
                Action::Chat { rule, chat, .. } => (
                    Some(rule.clone()),
                    "chat",
                    format!("{} {}", chat.service.as_str(), chat.shown),
                ),
            };
            applied.push(Applied {
                event: stored.id,
                key: stored.event.key(),
                rule,
                action,
                target,
            });
        }
        if !dry_run {
            let message: i64 = tx.one(
                "SELECT message FROM events WHERE id = ?1",
                crate::store::db::args![stored.id],
            )?;
            let new = crate::store::NewEvent {
                row: stored.id,
                message,
                event: &stored.event,
            };
            crate::ingest::rules::queue(&tx, &mut grouping, new, missing, &rules)?;
        }
    }
    if dry_run {
        drop(tx);
    } else {
        tx.commit()?;
    }
    if json_out {
        println!("{}", serde_json::to_string_pretty(&applied)?);
    } else {
        for a in &applied {
            println!(
                "{} {:<8} {} (rule {})",
                a.key,
                a.action,
                a.target,
                a.rule.as_deref().unwrap_or("-")
            );
        }
        let verb = if dry_run { "would queue" } else { "queued" };
        println!(
            "{} events since {}: {verb} {} action(s)",
            events.len(),
            term::local_time(since),
            applied.len()
        );
    }
    Ok(EXIT_OK)
}
