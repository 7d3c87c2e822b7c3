//! `mailroom migrate --to postgres://…`: the SQLite database copied into PostgreSQL
//! (see `store::to_postgres`). The password comes from `[store] password_env` or
//! `password_command`, else `PGPASSWORD`, never from the command line; TLS is required
//! (and verified) for any host but loopback unless the URL says `sslmode=`.

use std::io::Write as _;
use std::path::PathBuf;

use super::{Context, EXIT_ERROR, EXIT_OK};
use crate::store::to_postgres;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The PostgreSQL database: `postgres://USER@HOST[:PORT]/DB[?sslmode=…]`.
    #[arg(long, value_name = "URL")]
    to: String,
    /// The SQLite file to copy (default: the config's `db`).
    #[arg(long, value_name = "FILE")]
    from: Option<PathBuf>,
    /// Rows per committed batch.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(i64).range(1..))]
    batch: i64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<u8> {
    let from = args.from.clone().unwrap_or_else(|| ctx.db_path());
    let store =
        to_postgres::open_source(&from).map_err(|e| anyhow::anyhow!("mailroom migrate: {e}"))?;
    let shown = crate::secret::redact(&args.to);
    if let Err(e) = args.to.parse::<postgres::Config>() {
        anyhow::bail!(
            "mailroom migrate: --to {shown}: {}",
            to_postgres::pg_reason(&e)
        );
    }
    let secret = ctx.config.store.password();
    let password = if secret.is_set() {
        match secret.resolve() {
            Ok(Some(p)) if !p.is_empty() => Some(p),
            Ok(_) => anyhow::bail!(
                "mailroom migrate: [store] gives an empty password (set password_env or password_command)"
            ),
            Err(e) => anyhow::bail!("mailroom migrate: [store] password: {e}"),
        }
    } else {
        std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty())
    };
    let target = super::pg_target(&ctx.config, &args.to, password);
    // The store's own schema first (keys, identities, indexes), then the rows into it.
    let pg =
        crate::store::pg::open(&target).map_err(|e| anyhow::anyhow!("mailroom migrate: {e}"))?;
    let quiet = args.json;
    let mut last_table = String::new();
    let report = to_postgres::copy(
        store.conn(),
        &mut pg.client(),
        args.batch,
        |table, done, total| {
            if quiet {
                return;
            }
            if table != last_table {
                if !last_table.is_empty() {
                    eprintln!();
                }
                last_table = table.to_string();
            }
            eprint!("\r{table}: {done} of {total}");
            let _ = std::io::stderr().flush();
        },
    )
    .map_err(|e| {
        anyhow::anyhow!("mailroom migrate: {e} (run it again: it goes on where it stopped)")
    })?;
    crate::store::pg::reset_identities(&pg)
        .map_err(|e| anyhow::anyhow!("mailroom migrate: {shown}: {e}"))?;
    if !quiet && !last_table.is_empty() {
        eprintln!();
    }
    let mismatched: Vec<&(String, i64, i64)> =
        report.tables.iter().filter(|(_, a, b)| a != b).collect();
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "to": shown,
                "tables": report.tables.iter().map(|(t, a, b)| serde_json::json!({"table": t, "sqlite": a, "postgres": b})).collect::<Vec<_>>(),
                "resumed": report.resumed,
                "verified": mismatched.is_empty(),
            })
        );
    } else {
        if !report.resumed.is_empty() {
            println!(
                "resumed: {} table(s) were copied by an earlier run",
                report.resumed.len()
            );
        }
        for (t, a, b) in &report.tables {
            let mark = if a == b { "ok" } else { "DIFFERENT" };
            println!("{t:<20} {a:>10} {b:>10}  {mark}");
        }
        if mismatched.is_empty() {
            println!("verified: every table has the same number of rows in {shown}");
        }
    }
    Ok(if mismatched.is_empty() {
        EXIT_OK
    } else {
        eprintln!(
            "mailroom migrate: {} table(s) differ in row count",
            mismatched.len()
        );
        EXIT_ERROR
    })
}
