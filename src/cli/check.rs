//! `mailroom check [--json]`, like `fetchmail -c`: for every configured source and
//! destination, whether it would work — IMAP connect, TLS, login, each folder (and
//! `move_to`) with its message count; local folders readable; SMTP connect, TLS and
//! login (no mail sent); each webhook host reachable (no request made); each registrar
//! poll's credentials accepted (nothing acknowledged); the rule files. One line per
//! item; exit 1 if any failed. It creates no database and sends nothing.

use std::time::Duration;

use serde::Serialize;

use super::{Context, EXIT_ERROR, EXIT_OK};
use crate::config::{AccountConfig, After, Config};
use crate::term::printable;

#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// Print JSON: [{"item", "ok", "detail"}].
    #[arg(long)]
    json: bool,
}

/// One thing checked.
#[derive(Debug, Serialize)]
pub struct Checked {
    pub item: String,
    pub ok: bool,
    pub detail: String,
}

fn ok(item: String, detail: String) -> Checked {
    Checked {
        item,
        ok: true,
        detail,
    }
}

fn failed(item: String, detail: String) -> Checked {
    Checked {
        item,
        ok: false,
        detail,
    }
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let results = runtime.block_on(check_all(ctx));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        for r in &results {
            println!(
                "{}  {}: {}",
                if r.ok { "ok  " } else { "FAIL" },
                printable(&r.item),
                printable(&r.detail)
            );
        }
        let bad = results.iter().filter(|r| !r.ok).count();
        if bad > 0 {
            eprintln!("{bad} of {} checks failed", results.len());
        } else if !results.is_empty() {
            eprintln!("all {} checks passed", results.len());
        }
    }
    Ok(if results.iter().all(|r| r.ok) {
        EXIT_OK
    } else {
        EXIT_ERROR
    })
}

/// Every check, in config order.
pub async fn check_all(ctx: &Context) -> Vec<Checked> {
    let config = &ctx.config;
    let mut out = Vec::new();
    let rules = ctx.rules();
    match &rules {
        Ok(r) => out.push(ok(
            format!("rules {}", config.rules_dir().display()),
            format!("{} file(s), {} rule(s)", r.files.len(), r.rules.len()),
        )),
        Err(e) => out.push(failed(
            format!("rules {}", config.rules_dir().display()),
            format!("{e:#}"),
        )),
    }
    for a in &config.accounts {
        imap(config, a, &mut out).await;
    }
    for m in &config.maildirs {
        let path = config.resolve(&m.path);
        let item = format!("folder {}", m.name);
        match std::fs::read_dir(&path) {
            Ok(entries) => out.push(ok(
                item,
                format!("{} readable, {} entries", path.display(), entries.count()),
            )),
            Err(e) => out.push(failed(
                item,
                format!(
                    "{}: {} (set path in [[maildir]] {})",
                    path.display(),
                    crate::reason::io(&e),
                    m.name
                ),
            )),
        }
    }
    if let Some(s) = &config.smtp {
        let item = "smtp".to_string();
        match &s.dir {
            Some(dir) => {
                let dir = config.resolve(dir);
                // Created when the first mail is written; its parent must exist.
                let there = if dir.is_dir() {
                    Some(dir.as_path())
                } else {
                    dir.parent()
                };
                match there.map(std::fs::metadata) {
                    Some(Ok(m)) if m.is_dir() && !m.permissions().readonly() => out.push(ok(
                        item,
                        format!("mail is written as files into {}", dir.display()),
                    )),
                    _ => out.push(failed(
                        item,
                        format!(
                            "{}: no writable folder there (set dir in [smtp])",
                            dir.display()
                        ),
                    )),
                }
            }
            None => match crate::deliver::smtp::probe(config, s).await {
                Ok(d) => out.push(ok(item, d)),
                Err(e) => out.push(failed(item, e.message)),
            },
        }
    }
    if let Ok(r) = &rules {
        let mut seen = Vec::new();
        for rule in &r.rules {
            let Some(w) = &rule.webhook else { continue };
            let origin = crate::secret::redact(&w.url);
            if seen.contains(&origin) {
                continue;
            }
            seen.push(origin.clone());
            let item = format!("webhook {origin}");
            match crate::deliver::webhook::reachable(config, &w.url, config.webhook.timeout).await {
                Ok(d) => out.push(ok(item, d)),
                Err(e) => out.push(failed(item, e)),
            }
        }
    }
    for p in &config.polls {
        let item = format!("poll {}", p.name);
        let poller = match crate::channel::poll::Poller::new(p) {
            Ok(poller) => poller,
            Err(e) => {
                out.push(failed(item, e.to_string()));
                continue;
            }
        };
        match poller.poll().await {
            Ok(None) => out.push(ok(item, "credentials accepted, nothing queued".into())),
            Ok(Some(polled)) => out.push(ok(
                item,
                format!(
                    "credentials accepted, {} queued (nothing acknowledged)",
                    polled.queue.unwrap_or(polled.ids.len() as u64)
                ),
            )),
            Err(e) => out.push(failed(item, e.to_string())),
        }
    }
    out
}

async fn imap(config: &Config, a: &AccountConfig, out: &mut Vec<Checked>) {
    let item = format!("imap {}", a.name);
    let mut session = match crate::channel::imap::connect(config, a).await {
        Ok(s) => s,
        Err(e) => {
            out.push(failed(item, e.to_string()));
            return;
        }
    };
    out.push(ok(
        item,
        format!(
            "logged in to {} as {} ({})",
            a.host,
            a.username,
            a.auth().as_str()
        ),
    ));
    let limit = config.watch.command_timeout;
    let mut folders: Vec<(String, &str)> =
        a.folders.iter().map(|f| (f.clone(), "folder")).collect();
    if a.after == After::Move
        && let Some(m) = &a.move_to
    {
        folders.push((m.clone(), "move_to"));
    }
    for (folder, key) in folders {
        let item = format!("imap {} {key} {folder}", a.name);
        match tokio::time::timeout(limit, session.examine(&folder)).await {
            Ok(Ok(mailbox)) => out.push(ok(item, format!("{} message(s)", mailbox.exists))),
            Ok(Err(e)) => out.push(failed(
                item,
                format!(
                    "{} (set {key} in [[account]] {} to a folder that exists)",
                    crate::channel::imap::server_text(&e),
                    a.name
                ),
            )),
            Err(_) => out.push(failed(
                item,
                format!("no answer within {} s", limit.as_secs()),
            )),
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), session.logout()).await;
}
