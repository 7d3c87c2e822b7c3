//! *Sources* (every configured source with its health: last sync, last error, what it
//! read, its channel's counters) and *Digests* (each configured digest, its past sends
//! and, for one send, the events it contained).

use std::fmt::Write as _;

use hyper::StatusCode;

use super::html::{self, esc, fields, link, opt, state, table, when};
use super::{Ask, Reply, Web};
use crate::config::PollRegistrar;
use crate::store::{StoreError, channels, cursors, views};

/// `account/folder`, or the name alone for a source without folders.
pub(super) fn source_name(source: &str, folder: &str) -> String {
    if folder.is_empty() {
        source.to_string()
    } else {
        format!("{source}/{folder}")
    }
}

/// A configured source: (kind, name, folder, where it reads from). Never a secret: no
/// user names, passwords, keys, tokens or the variables that hold them.
fn configured(web: &Web) -> Vec<(&'static str, String, String, String)> {
    let c = &web.intake.config;
    let mut out = Vec::new();
    for a in &c.accounts {
        for f in &a.folders {
            out.push(("IMAP", a.name.clone(), f.clone(), a.host.clone()));
        }
    }
    for m in &c.maildirs {
        out.push((
            "local folder",
            m.name.clone(),
            String::new(),
            m.path.display().to_string(),
        ));
    }
    for p in &c.polls {
        let registrar = match p.registrar {
            PollRegistrar::Opensrs => "OpenSRS",
            PollRegistrar::Autodns => "AutoDNS",
        };
        out.push((
            "registrar poll",
            p.name.clone(),
            String::new(),
            registrar.to_string(),
        ));
    }
    for p in &c.pushes {
        out.push((
            "registrar push",
            p.name.clone(),
            String::new(),
            format!("POST {} ({})", p.path, p.registrar.label()),
        ));
    }
    out
}

pub(super) fn sources(web: &Web, ask: &Ask) -> Reply {
    let read = || -> Result<_, StoreError> {
        let conn = web.reader()?;
        Ok((cursors::all(&conn)?, channels::all(&conn)?))
    };
    let (folders, counters) = match read() {
        Ok(r) => r,
        Err(e) => return Reply::store_error(&e, ask),
    };
    let mut rows = Vec::new();
    let mut shown = std::collections::HashSet::new();
    let row = |kind: &str, name: &str, folder: &str, from: &str| -> Vec<String> {
        let f = folders
            .iter()
            .find(|f| f.source == name && f.folder == folder);
        let health = match f {
            Some(f) if f.last_error.is_some() => state("error"),
            Some(f) if f.last_sync.is_some() || f.messages > 0 => state("ok"),
            _ => state("waiting"),
        };
        let counted: String = counters
            .get(name)
            .map(|c| {
                c.iter()
                    .map(|(k, v)| format!("{}: {v}", esc(k)))
                    .collect::<Vec<_>>()
                    .join("<br>")
            })
            .unwrap_or_default();
        vec![
            esc(&source_name(name, folder)),
            esc(kind),
            esc(from),
            health,
            f.and_then(|f| f.last_sync.as_deref())
                .map_or_else(|| "never".into(), when),
            f.map_or(0, |f| f.messages).to_string(),
            f.and_then(|f| f.uidvalidity).map_or_else(
                || opt(None),
                |v| format!("uidvalidity {v}, uid {}", f.map_or(0, |f| f.last_uid)),
            ),
            match f.and_then(|f| f.last_error.as_deref()) {
                Some(e) => format!(
                    "<span class=\"bad\">{}</span> ({})",
                    esc(e),
                    f.and_then(|f| f.last_error_at.as_deref())
                        .map_or_else(|| opt(None), when)
                ),
                None => opt(None),
            },
            counted,
        ]
    };
    for (kind, name, folder, from) in configured(web) {
        rows.push(row(kind, &name, &folder, &from));
        shown.insert((name, folder));
    }
    // Sources the database knows that this config no longer names.
    for f in &folders {
        if !shown.contains(&(f.source.clone(), f.folder.clone())) {
            rows.push(row("not in the config", &f.source, &f.folder, ""));
        }
    }
    let mut body = String::from("<h1>Sources</h1>");
    if rows.is_empty() {
        body.push_str("<p class=\"muted\">No source is configured: this database is filled by <code>mailroom import</code> or by another process.</p>");
    } else {
        body.push_str(&table(
            &[
                "Source",
                "Kind",
                "Reads",
                "Health",
                "Last sync",
                "Messages",
                "Cursor",
                "Last error",
                "Counters",
            ],
            &rows,
        ));
    }
    Reply::Page(
        StatusCode::OK,
        html::page("Sources", "/sources", &ask.frame(), &body),
    )
}

fn runs_table(runs: &[views::DigestRun]) -> String {
    if runs.is_empty() {
        return "<p class=\"muted\">Not sent yet.</p>".into();
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let (st, err) = match &r.delivery {
                Some(d) => (state(d.shown_state()), opt(d.last_error.as_deref())),
                None if r.events == 0 => (html::opt(Some("nothing to send")), opt(None)),
                None => (opt(None), opt(None)),
            };
            vec![
                link(&format!("/digests/runs/{}", r.id), &format!("#{}", r.id)),
                r.period_start.as_deref().map_or_else(|| opt(None), when),
                when(&r.period_end),
                r.events.to_string(),
                st,
                err,
                when(&r.created),
            ]
        })
        .collect();
    table(
        &[
            "Run",
            "From",
            "To",
            "Events",
            "Mail",
            "Last error",
            "Queued",
        ],
        &rows,
    )
}

/// Events shown in a digest's preview at most.
const PREVIEW: u64 = 50;

pub(super) fn digests(web: &Web, ask: &Ask) -> Reply {
    let rules = &web.intake.rules;
    let read = || -> Result<_, StoreError> {
        let conn = web.reader()?;
        let mut names: Vec<(String, bool)> = rules
            .digests
            .iter()
            .map(|d| (d.name.clone(), true))
            .collect();
        for n in views::digest_names(&conn)? {
            if !names.iter().any(|(m, _)| *m == n) {
                names.push((n, false));
            }
        }
        let mut out = Vec::new();
        for (name, configured) in names {
            let waiting = views::digest_waiting(&conn, &name)?;
            let runs = views::digest_runs(&conn, &name)?;
            let open = views::domains::digest_open(&conn, &name, PREVIEW)?;
            out.push((name, configured, waiting, runs, open));
        }
        Ok(out)
    };
    let all = match read() {
        Ok(r) => r,
        Err(e) => return Reply::store_error(&e, ask),
    };
    let mut body = String::from("<h1>Digests</h1>");
    if all.is_empty() {
        body.push_str("<p class=\"muted\">No digest is configured (a <code>[[digest]]</code> in a rule file).</p>");
    }
    for (name, configured, waiting, runs, open) in &all {
        let _ = write!(body, "<section class=\"digest\"><h2>{}</h2>", esc(name));
        let mut pairs = Vec::new();
        match rules.digests.iter().find(|d| &d.name == name) {
            Some(d) => {
                pairs.push(("When", esc(&d.schedule.describe())));
                if let Some(next) = d.schedule.next_boundary(crate::clock::now()) {
                    pairs.push(("Next send", html::when(&crate::clock::stamp(next))));
                }
                pairs.push(("To", esc(&d.to.join(", "))));
                pairs.push(("Defined in", esc(&d.origin)));
            }
            None if !configured => pairs.push(("When", "no longer in the rule files".into())),
            None => {}
        }
        pairs.push(("Waiting", format!("{waiting} event(s) for the next send")));
        body.push_str(&fields(&pairs));
        if !open.is_empty() {
            let _ = write!(
                body,
                "<details class=\"preview\"><summary>Preview of the open period{}</summary>{}</details>",
                if (open.len() as u64) < PREVIEW {
                    String::new()
                } else {
                    format!(" (the latest {PREVIEW})")
                },
                super::events::list_of(open)
            );
        }
        body.push_str(&runs_table(runs));
        body.push_str("</section>");
    }
    Reply::Page(
        StatusCode::OK,
        html::page("Digests", "/digests", &ask.frame(), &body),
    )
}

pub(super) fn run(web: &Web, ask: &Ask, id: i64) -> Reply {
    let read = || -> Result<_, StoreError> {
        let conn = web.reader()?;
        Ok((
            views::digest_run(&conn, id)?,
            views::digest_run_events(&conn, id)?,
        ))
    };
    let (run, events) = match read() {
        Ok((Some(r), e)) => (r, e),
        Ok((None, _)) => return Reply::not_found(ask),
        Err(e) => return Reply::store_error(&e, ask),
    };
    let title = format!("Digest {} run #{id}", run.digest);
    let mut body = format!("<h1>{}</h1>", esc(&title));
    body.push_str(&runs_table(std::slice::from_ref(&run)));
    body.push_str("<h2>Events in this send</h2>");
    body.push_str(&super::events::list_of(&events));
    Reply::Page(
        StatusCode::OK,
        html::page(&title, "/digests", &ask.frame(), &body),
    )
}
