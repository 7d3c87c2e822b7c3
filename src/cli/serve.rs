//! `mailroom serve`: only the HTTP server (the console, the API, `/metrics`, push
//! receivers) over a database that another process fills (`watch` elsewhere, or
//! `import`). No source is read and nothing is delivered here: a retry or a reparse done
//! in the console is picked up by that other process's delivery. Stops on SIGINT/SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::{Context, EXIT_OK};
use crate::watch::Shared;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: &Args, ctx: &Context) -> anyhow::Result<u8> {
    let rules = super::preflight::service_rules(ctx)?;
    let db = ctx.db_path();
    // Serve what exists: a wrong path is an error, not a new empty database.
    drop(ctx.open_existing_store()?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Shared {
        config: Arc::new(ctx.config.clone()),
        db,
        rules: Arc::new(rules),
        deliver: Arc::new(Notify::new()),
        shutdown: stop_rx,
        live: Arc::default(),
    };
    let listen = shared.config.http.listen.clone();
    let result = runtime.block_on(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut server = tokio::spawn(crate::web::serve(shared));
        tracing::info!(%listen, "mailroom serve started");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
            _ = &mut server => anyhow::bail!(
                "the HTTP server on {listen} stopped (the reason is logged above)"
            ),
        }
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        tracing::info!("stopped");
        Ok(())
    });
    runtime.shutdown_timeout(Duration::from_secs(2));
    result?;
    Ok(EXIT_OK)
}
