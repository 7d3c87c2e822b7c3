//! `mailroom watch [--once]` and `mailroom status`.

use super::{Context, EXIT_ERROR, EXIT_OK};
use crate::service::{self, Mode, Outcome};
use crate::store::{cursors, outbox};
use crate::term::{self, Column, Cut, Table, local_time, printable};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Catch up every source, deliver what is due, and exit (for cron and tries).
    #[arg(long)]
    once: bool,
    /// With --once: print the report as JSON (messages, events_new, duplicates,
    /// quarantined, errors, delivery).
    #[arg(long, requires = "once")]
    json: bool,
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<u8> {
    if ctx.config.accounts.is_empty()
        && ctx.config.maildirs.is_empty()
        && ctx.config.polls.is_empty()
        && ctx.config.pushes.is_empty()
    {
        anyhow::bail!(
            "nothing to watch: add [[account]], [[maildir]], [[poll]] or [[push]] sections to the config (mailroom init writes one; docs/CONFIGURATION.md lists every key)"
        );
    }
    let rules = super::preflight::service_rules(ctx)?;
    let missing = super::preflight::maildirs(&ctx.config);
    if args.once && !missing.is_empty() {
        anyhow::bail!("{}", missing.join("\n"));
    }
    for m in &missing {
        tracing::warn!("{m}; retried until it appears");
    }
    let db = ctx.db_path();
    if !db.exists() {
        // A wrong --db or `db` path would otherwise start over silently.
        tracing::warn!(
            db = %db.display(),
            "no database at this path: creating a new one (every event found is new to it; \
             rules act only on those younger than [limits] max_event_age)"
        );
    }
    // Create and migrate the database before any task opens it.
    drop(ctx.open_store()?);
    let mode = if args.once {
        Mode::Once
    } else {
        let config_path = ctx.config.origin.as_ref().map(|(p, _)| p.clone());
        let db_override = ctx.db.clone();
        Mode::Watch(Box::new(move || {
            let ctx = Context::load(config_path.as_deref(), db_override.clone())?;
            let rules = super::preflight::service_rules(&ctx)?;
            Ok((ctx.config, rules))
        }))
    };
    let Outcome::Once(report) = service::start(mode, ctx.config.clone(), db, rules)? else {
        return Ok(EXIT_OK);
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        let old = if report.rules_skipped > 0 {
            format!(
                " ({} too old for the rules: [limits] max_event_age)",
                report.rules_skipped
            )
        } else {
            String::new()
        };
        eprintln!(
            "{} messages: {} new events{old}, {} duplicates, {} quarantined; {} delivered, {} failed, {} given up",
            report.messages,
            report.events_new,
            report.duplicates,
            report.quarantined,
            report.delivery.delivered,
            report.delivery.failed,
            report.delivery.dead
        );
        for e in &report.errors {
            eprintln!("mailroom watch: {e}");
        }
    }
    let delivered_all = report.delivery.failed == 0 && report.delivery.dead == 0;
    Ok(if report.errors.is_empty() && delivered_all {
        EXIT_OK
    } else {
        EXIT_ERROR
    })
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Print the status as JSON (folders, problems, outbox and event counts).
    #[arg(long)]
    json: bool,
    /// Every value whole, however wide the terminal (piped output always is).
    #[arg(long)]
    wide: bool,
}

pub fn status(args: &StatusArgs, ctx: &Context) -> anyhow::Result<u8> {
    let store = ctx.open_existing_store()?;
    let conn = store.db();
    let folders = cursors::all(conn)?;
    let channels = crate::store::channels::all(conn)?;
    let depth = outbox::depth(conn)?;
    let dead = outbox::list(conn, &["dead"])?.len();
    let events = crate::store::query::count(conn, &Default::default())?;
    let quarantined = crate::store::figures::quarantined(conn)?;
    let mut configured: Vec<(String, String)> = Vec::new();
    for a in &ctx.config.accounts {
        for f in &a.folders {
            configured.push((a.name.clone(), f.clone()));
        }
    }
    for m in &ctx.config.maildirs {
        configured.push((m.name.clone(), String::new()));
    }
    for p in &ctx.config.polls {
        configured.push((p.name.clone(), String::new()));
    }
    if ctx.config.gandi.as_ref().is_some_and(|g| g.probe.is_some()) {
        configured.push((
            crate::service::probe::SOURCE.into(),
            crate::service::probe::FOLDER.into(),
        ));
    }
    let never: Vec<&(String, String)> = configured
        .iter()
        .filter(|(s, f)| !folders.iter().any(|x| &x.source == s && &x.folder == f))
        .collect();
    // What a script watching the service must hear about: exit 1 and say which.
    let mut problems: Vec<String> = folders
        .iter()
        .filter_map(|f| {
            let e = f.last_error.as_deref()?;
            let name = if f.folder.is_empty() {
                f.source.clone()
            } else {
                format!("{}/{}", f.source, f.folder)
            };
            Some(format!("{name}: last attempt failed: {e}"))
        })
        .collect();
    // Shown, not failed on: a conflict is history to look at, not a running fault.
    let leases = crate::store::leases::all(conn)?;
    let instances = crate::store::leases::instances(conn)?;
    let conflicts = crate::store::query::conflicted_events(conn)?;
    let (reused, reused_list) = crate::store::query::reused_ids(conn, 10)?;
    if dead > 0 {
        problems.push(format!(
            "outbox: {dead} delivery(ies) given up (mailroom outbox lists them; mailroom outbox retry ID sends one again)"
        ));
    }
    let code = if problems.is_empty() {
        EXIT_OK
    } else {
        EXIT_ERROR
    };
    if args.json {
        let v = serde_json::json!({
            "ok": problems.is_empty(),
            "conflicts": conflicts,
            "reused_ids": reused,
            "reused_id_events": reused_list,
            "problems": problems,
            "folders": folders,
            "channels": channels,
            "never_synced": never.iter().map(|(s, f)| serde_json::json!({"source": s, "folder": f})).collect::<Vec<_>>(),
            "outbox_pending": depth,
            "outbox_dead": dead,
            "events": events,
            "quarantined": quarantined,
            "leases": leases,
            "instances": instances,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(code);
    }
    let width = term::width(args.wide);
    // Free text is cut at its end on a narrow screen; a path keeps its end.
    let say = |text: &str| println!("{}", term::line(&[(text, Cut::End)], width));
    let db = store.path().display().to_string();
    println!(
        "{}",
        term::line(
            &[
                ("database ", Cut::Never),
                (&printable(&db), Cut::Start),
                (
                    &format!(": {events} events, {quarantined} quarantined messages"),
                    Cut::Never
                ),
            ],
            width
        )
    );
    say(&format!("outbox: {depth} pending, {dead} dead"));
    if conflicts > 0 {
        say(&format!(
            "conflicts: {conflicts} event(s) arrived again with a different payload (mailroom events show ID lists each copy)"
        ));
    }
    if reused > 0 {
        say(&format!(
            "reused ids: {reused} event(s) came under an id already used for another domain, type or status; each is an event of its own:"
        ));
        for r in &reused_list {
            say(&format!(
                "  #{} {} {} ({})",
                r.id,
                printable(&r.key),
                printable(r.domain.as_deref().unwrap_or("-")),
                printable(&r.topic)
            ));
        }
    }
    // The layout it always had; on a narrow screen the cursor gives way first, then
    // the folder's name.
    let table = Table::new(vec![
        Column::left("folder").pad(32).cut(Cut::End, 12, 1),
        Column::left("last sync").pad(26),
        Column::left("cursor").pad(35).cut(Cut::End, 10, 0),
        Column::left("messages"),
    ])
    .headless()
    .gap(1);
    let name_of = |source: &str, folder: &str| {
        printable(&if folder.is_empty() {
            source.to_string()
        } else {
            format!("{source}/{folder}")
        })
        .into_owned()
    };
    let rows: Vec<Vec<String>> = folders
        .iter()
        .map(|f| {
            let cursor = match f.uidvalidity {
                Some(v) => format!("uidvalidity {v} uid {}", f.last_uid),
                None => "-".into(),
            };
            vec![
                name_of(&f.source, &f.folder),
                format!(
                    "last sync {}",
                    f.last_sync.as_deref().map_or("never".into(), local_time)
                ),
                format!("cursor {cursor}"),
                format!("{} messages", f.messages),
            ]
        })
        .collect();
    let indent = " ".repeat(33);
    for (f, line) in folders.iter().zip(table.render(&rows, width)) {
        println!("{line}");
        if let Some(counters) = channels.get(&f.source)
            && f.folder.is_empty()
        {
            let text: Vec<String> = counters.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            say(&format!("{indent}{}", text.join(", ")));
        }
        if let Some(e) = &f.last_error {
            let at = f.last_error_at.as_deref().map_or("?".into(), local_time);
            say(&format!("{indent}last error at {at}: {}", printable(e)));
        }
    }
    for (s, f) in never {
        say(&format!("{:<32} never synced", name_of(s, f)));
    }
    // A shared store (PostgreSQL): who works which source.
    for l in &leases {
        let state = if l.left_ms >= 0 {
            format!(
                "held by {} for {} s",
                printable(&l.holder),
                l.held_ms / 1000
            )
        } else {
            format!("free (last held by {})", printable(&l.holder))
        };
        say(&format!("{:<32} {state}", printable(&l.source)));
    }
    for i in &instances {
        say(&format!(
            "instance {} (pid {} on {}): last alive {} s ago",
            printable(&i.id),
            i.pid,
            printable(&i.host),
            i.quiet_ms / 1000
        ));
    }
    for p in &problems {
        eprintln!("problem: {p}");
    }
    Ok(code)
}
