//! The service: the only module that knows every task. [`start`] runs one of three
//! modes — `Watch` (every channel, delivery and the HTTP server until SIGINT/SIGTERM;
//! SIGHUP reloads config and rules, a new set that fails its checks is refused with its
//! reason and the running one kept), `Serve` (the HTTP server alone) and `Once` (every
//! source caught up once, what is due delivered, then a report). Channels are run under
//! the one supervisor (`supervise`); delivery is its own task (`delivery`). Nothing
//! imports this module but the CLI.

pub mod alerts;
mod delivery;
mod lock;
pub mod probe;
mod shared;
mod supervise;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

pub use lock::WatchLock;
use supervise::{Task, supervise};

use crate::channel::{folder, imap, poll};
use crate::clock;
use crate::config::Config;
use crate::deliver::{Deliverer, digest};
use crate::ingest::intake::Intake;
use crate::ingest::live::Live;
use crate::ingest::{Batch, sum};
use crate::rules::RuleSet;
use crate::shutdown::{Shutdown, Trigger};
use crate::store::{self, Store};

/// Reads the config and rules again (for SIGHUP), with every check of the start.
pub type Reload = Box<dyn Fn() -> anyhow::Result<(Config, RuleSet)> + Send>;

/// What to run.
pub enum Mode {
    /// Every channel, delivery and the HTTP server, until SIGINT/SIGTERM.
    Watch(Reload),
    /// Only the HTTP server, over a database another process fills.
    Serve,
    /// Every source caught up once, then what is due delivered.
    Once,
}

/// How a run ended.
pub enum Outcome {
    Stopped,
    Once(OnceReport),
}

/// What a `--once` run did.
#[derive(Debug, Default, serde::Serialize)]
pub struct OnceReport {
    pub messages: u64,
    pub events_new: u64,
    pub duplicates: u64,
    pub quarantined: u64,
    /// New events no rule acted on: older than `[limits] max_event_age`.
    pub rules_skipped: u64,
    pub errors: Vec<String>,
    pub delivery: crate::deliver::Report,
}

/// How long a stop waits for tasks to finish their batch before abandoning them (an
/// abandoned transaction is rolled back by SQLite; nothing half-done is kept).
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Runs `mode` on a runtime of its own and returns when it ends.
pub fn start(mode: Mode, config: Config, db: PathBuf, rules: RuleSet) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(run(mode, config, db, rules));
    // A blocking task stuck in a server's reply or a command must not hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(2));
    result
}

pub async fn run(
    mode: Mode,
    config: Config,
    db: PathBuf,
    rules: RuleSet,
) -> anyhow::Result<Outcome> {
    match mode {
        Mode::Watch(reload) => watch(config, db, rules, reload)
            .await
            .map(|_| Outcome::Stopped),
        Mode::Serve => serve(config, db, rules).await.map(|_| Outcome::Stopped),
        Mode::Once => once(config, db, rules).await.map(Outcome::Once),
    }
}

/// Waits for SIGINT or SIGTERM.
struct Signals {
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        Ok(Signals { term })
    }

    async fn stop(&mut self) {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = self.term.recv() => {}
        }
    }
}

fn intake(
    config: &Config,
    db: &std::path::Path,
    rules: &RuleSet,
    live: &Arc<Live>,
) -> store::Result<Intake> {
    Intake::open(
        Arc::new(config.clone()),
        Arc::new(rules.clone()),
        db,
        Arc::clone(live),
    )
}

async fn watch(
    mut config: Config,
    db: PathBuf,
    mut rules: RuleSet,
    reload: Reload,
) -> anyhow::Result<()> {
    let shared = store::pg_url(&db).is_some();
    // One watch per SQLite file; on PostgreSQL any number, sharing the sources by lease.
    let _lock = if shared {
        None
    } else {
        Some(WatchLock::acquire(&db)?)
    };
    let first = Store::open(&db)?;
    // WAL checkpoints run beside the service, never inside a commit on the intake path.
    let _checkpoints = if shared {
        None
    } else {
        Some(store::Checkpointer::start(&first)?)
    };
    drop(first);
    let (_alive, alive_shutdown) = Shutdown::new();
    if shared {
        shared::start(&db, &config, alive_shutdown);
    }
    let mut signals = Signals::new()?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let live: Arc<Live> = Arc::default();
    loop {
        let (trigger, shutdown) = Shutdown::new();
        let root = intake(&config, &db, &rules, &live)?;
        if shared {
            shared::listen(&db, root.clone(), shutdown.clone());
        }
        let mut tasks = spawn_all(&root, &shutdown);
        let reloaded = loop {
            tokio::select! {
                _ = signals.stop() => break None,
                _ = hup.recv() => match reload() {
                    Ok(new) => break Some(new),
                    Err(e) => tracing::error!(
                        error = %format!("{e:#}"),
                        "SIGHUP: the new config or rules are refused; running on with the old ones"
                    ),
                },
            }
        };
        tracing::info!(
            "{}: finishing the current batch",
            if reloaded.is_none() {
                "shutting down"
            } else {
                "reloading"
            }
        );
        stop(trigger, &mut tasks).await;
        let Some((new_config, new_rules)) = reloaded else {
            if shared {
                shared::gone(&db);
            }
            tracing::info!("stopped");
            return Ok(());
        };
        if new_config.db_path(None) != config.db_path(None) {
            tracing::warn!(
                "SIGHUP: the database path changed in the config; restart mailroom watch to use it"
            );
        }
        config = new_config;
        rules = new_rules;
        tracing::info!(
            rules = rules.rules.len(),
            "SIGHUP: config and rules reloaded"
        );
    }
}

/// Fires the stop and waits (a while) for every task to finish its batch.
async fn stop(trigger: Trigger, tasks: &mut JoinSet<()>) {
    trigger.fire();
    let drained = tokio::time::timeout(STOP_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            grace_s = STOP_GRACE.as_secs(),
            "tasks still busy after the grace period: abandoned (their open work is rolled back)"
        );
        tasks.abort_all();
    }
}

/// Every task of `watch`: a supervised channel per IMAP folder, local folder and
/// registrar API (each on a database connection of its own), the Gandi probe when one
/// is set, the HTTP server when there is something to serve, delivery, and mailroom's
/// checks on itself (alerts).
fn spawn_all(root: &Intake, shutdown: &Shutdown) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    let config = Arc::clone(&root.config);
    let connect = |name: &str| match root.connect() {
        Ok(i) => Some(i),
        Err(e) => {
            tracing::error!(source = name, error = %e, "cannot open the database");
            None
        }
    };
    for account in &config.accounts {
        // At most `max_connections` per account: servers refuse logins past their own
        // per-user limit, and a refused folder would never be watched.
        let plan = imap::plan(account);
        for folder in &plan.own {
            let Some(intake) = connect(&account.name) else {
                continue;
            };
            let task = Task {
                source: account.name.clone(),
                folders: vec![folder.clone()],
                kind: "IMAP",
            };
            let (account, folder) = (account.clone(), folder.clone());
            let i = intake.clone();
            tasks.spawn(supervise(
                intake,
                shutdown.clone(),
                task,
                move |health, stop| {
                    let (i, account, folder) = (i.clone(), account.clone(), folder.clone());
                    async move { imap::watch(&i, &account, &folder, stop, &health).await }
                },
            ));
        }
        if plan.shared.is_empty() {
            continue;
        }
        let Some(intake) = connect(&account.name) else {
            continue;
        };
        let task = Task {
            source: account.name.clone(),
            folders: plan.shared.clone(),
            kind: "IMAP",
        };
        let (account, folders) = (account.clone(), plan.shared);
        let i = intake.clone();
        tasks.spawn(supervise(
            intake,
            shutdown.clone(),
            task,
            move |health, stop| {
                let (i, account, folders) = (i.clone(), account.clone(), folders.clone());
                async move { imap::watch_shared(&i, &account, &folders, stop, &health).await }
            },
        ));
    }
    for m in &config.maildirs {
        let Some(intake) = connect(&m.name) else {
            continue;
        };
        let task = Task {
            source: m.name.clone(),
            folders: vec![String::new()],
            kind: "local folder",
        };
        let (m, i) = (m.clone(), intake.clone());
        tasks.spawn(supervise(
            intake,
            shutdown.clone(),
            task,
            move |health, stop| {
                let (i, m) = (i.clone(), m.clone());
                async move { folder::watch(&i, &m, stop, &health).await }
            },
        ));
    }
    for p in &config.polls {
        let Some(intake) = connect(&p.name) else {
            continue;
        };
        let task = Task {
            source: p.name.clone(),
            folders: vec![String::new()],
            kind: "poll",
        };
        let (p, i) = (p.clone(), intake.clone());
        tasks.spawn(supervise(
            intake,
            shutdown.clone(),
            task,
            move |health, stop| {
                let (i, p) = (i.clone(), p.clone());
                async move { poll::watch(&i, &p, stop, &health).await }
            },
        ));
    }
    if let Some(g) = &config.gandi
        && let Some(name) = &g.probe
        && let Some(intake) = connect("gandi probe")
    {
        let task = Task {
            source: probe::SOURCE.into(),
            folders: vec![probe::FOLDER.into()],
            kind: "Gandi probe",
        };
        let (g, name, i) = (g.clone(), name.clone(), intake.clone());
        tasks.spawn(supervise(
            intake,
            shutdown.clone(),
            task,
            move |health, stop| {
                let (i, g, name) = (i.clone(), g.clone(), name.clone());
                async move { probe::watch(&i, &g, &name, stop, &health).await }
            },
        ));
    }
    if !config.pushes.is_empty() || config.http.present {
        tasks.spawn(crate::web::serve(root.clone(), shutdown.clone()));
    }
    tasks.spawn(delivery::run(root.clone(), shutdown.clone()));
    if let Some(intake) = connect("alerts") {
        tasks.spawn(alerts::watch(intake, shutdown.clone()));
    }
    tracing::info!(
        imap_folders = config
            .accounts
            .iter()
            .map(|a| a.folders.len())
            .sum::<usize>(),
        local_folders = config.maildirs.len(),
        registrar_apis = config.polls.len(),
        "mailroom watch started"
    );
    tasks
}

/// `mailroom serve`: the HTTP server alone until SIGINT/SIGTERM.
async fn serve(config: Config, db: PathBuf, rules: RuleSet) -> anyhow::Result<()> {
    let root = intake(&config, &db, &rules, &Arc::default())?;
    let (trigger, shutdown) = Shutdown::new();
    let listen = config.http.listen.clone();
    let mut signals = Signals::new()?;
    let mut server = tokio::spawn(crate::web::serve(root, shutdown));
    tracing::info!(%listen, "mailroom serve started");
    tokio::select! {
        _ = signals.stop() => {}
        _ = &mut server => anyhow::bail!(
            "the HTTP server on {listen} stopped (the reason is logged above)"
        ),
    }
    tracing::info!("shutting down");
    trigger.fire();
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    tracing::info!("stopped");
    Ok(())
}

/// `watch --once`: every source caught up once, then what is due delivered.
async fn once(config: Config, db: PathBuf, rules: RuleSet) -> anyhow::Result<OnceReport> {
    let shared = store::pg_url(&db).is_some();
    let _lock = if shared {
        None
    } else {
        Some(WatchLock::acquire(&db)?)
    };
    let intake = intake(&config, &db, &rules, &Arc::default())?;
    let _checkpoints = if shared {
        None
    } else {
        Some(store::Checkpointer::start(&intake.store())?)
    };
    // Nothing stops a `--once` run midway: its trigger is kept until the end.
    let (_trigger, shutdown) = Shutdown::new();
    let mut report = OnceReport::default();
    let mut total = Batch::default();
    let mut failed = |source: &str, folder: &str, error: String| {
        let _ = intake.failed(source, folder, &error);
        report.errors.push(error);
    };
    for account in &config.accounts {
        for folder in &account.folders {
            match imap::once(&intake, account, folder, shutdown.clone()).await {
                Ok(b) => sum(&mut total, b),
                Err(e) => failed(&account.name, folder, e.to_string()),
            }
        }
    }
    for m in &config.maildirs {
        match folder::once(&intake, m).await {
            Ok(b) => sum(&mut total, b),
            Err(e) => failed(&m.name, "", e.to_string()),
        }
    }
    for p in &config.polls {
        match poll::once(&intake, p, &shutdown).await {
            Ok(b) => sum(&mut total, b),
            Err(e) => failed(&p.name, "", e.to_string()),
        }
    }
    let mut store = Store::open(&db)?;
    let deliverer = Deliverer::new(&config, &store)?;
    let digests = digest::tick(&mut store, &rules.digests, clock::now())?;
    report.delivery = deliverer.run_due(&mut store).await?;
    report.delivery.digests = digests;
    report.messages = total.messages;
    report.events_new = total.events_new;
    report.duplicates = total.duplicates;
    report.quarantined = total.quarantined;
    report.rules_skipped = total.rules_skipped;
    Ok(report)
}
