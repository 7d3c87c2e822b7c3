//! *Needs attention*, the landing page: what a reseller must act on, newest first,
//! each linking to its detail: failed jobs, transfers out still open, expiring and
//! deleted domains, failing zone checks, deliveries given up or failing, quarantined
//! mail, sources whose last attempt failed.

use std::fmt::Write as _;

use hyper::StatusCode;

use super::html::{self, button, esc, href, link, opt, state, table, when};
use super::{Ask, Reply, Web};
use crate::store::query::StoredEvent;
use crate::store::{StoreError, cursors, views};

/// Items shown per section (the section links to the whole list).
const SHOWN: u64 = 10;

struct Section {
    id: &'static str,
    title: &'static str,
    total: i64,
    html: String,
}

/// A section of events, each with a button to mark it handled.
fn events_section(
    id: &'static str,
    title: &'static str,
    (events, total): (Vec<StoredEvent>, i64),
    all: String,
    ask: &Ask,
) -> Section {
    let mut headers = super::events::COLUMNS.to_vec();
    headers.push("");
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            let mut row = super::events::row(e);
            row.push(button(
                &format!("/events/{}/ack", e.id),
                "Mark handled",
                &ask.csrf,
                "/",
            ));
            row
        })
        .collect();
    let mut html = table(&headers, &rows);
    if total > events.len() as i64 {
        let _ = write!(
            html,
            "<p>{} of {total} shown · <a href=\"{all}\">all</a></p>",
            events.len()
        );
    }
    Section {
        id,
        title,
        total,
        html,
    }
}

/// Since when the page shows events: `[http] attention_window` back from now, unless
/// `?all=1` (or the window is `"0"`).
fn since(web: &Web, ask: &Ask) -> Option<String> {
    let window = web.intake.config.http.attention_window;
    if window.is_zero() || ask.param("all") == "1" {
        return None;
    }
    let window = chrono::Duration::from_std(window).ok()?;
    Some(crate::clock::stamp(crate::clock::now() - window))
}

fn sections(web: &Web, ask: &Ask) -> Result<Vec<Section>, StoreError> {
    let conn = web.reader()?;
    let since = since(web, ask);
    let since = since.as_deref();
    let mut out = vec![
        events_section(
            "alerts",
            "mailroom's alerts",
            views::open_alerts(&conn, since, SHOWN)?,
            href("/events", &[("registrar", "mailroom")]),
            ask,
        ),
        events_section(
            "failed-jobs",
            "Failed jobs",
            views::failed_jobs(&conn, since, SHOWN)?,
            href("/events", &[("topic", "job.result"), ("status", "error")]),
            ask,
        ),
        events_section(
            "transfers-out",
            "Transfers out pending",
            views::open_transfers_out(&conn, since, SHOWN)?,
            href("/events", &[("topic", "transfer.out")]),
            ask,
        ),
        events_section(
            "expiring",
            "Expiring and deleted domains",
            views::expiring_domains(&conn, since, SHOWN)?,
            href("/events", &[("topic", "domain.expired")]),
            ask,
        ),
        events_section(
            "zone-checks",
            "Zone checks failing",
            views::failing_zone_checks(&conn, since, SHOWN)?,
            href("/events", &[("topic", "domain.zone_check")]),
            ask,
        ),
    ];
    for (id, title, wanted) in [
        ("dead", "Deliveries given up", "dead"),
        ("retrying", "Deliveries failing (retrying)", "retrying"),
    ] {
        let (items, total) = views::outbox_page(&conn, Some(wanted), 0, SHOWN)?;
        let mut html = super::queues::deliveries(&items, ask, "/", true);
        if total > items.len() as i64 {
            let _ = write!(
                html,
                "<p>{} of {total} shown · <a href=\"{}\">all</a></p>",
                items.len(),
                href("/outbox", &[("state", wanted)])
            );
        }
        out.push(Section {
            id,
            title,
            total,
            html,
        });
    }
    let (items, total) = views::quarantined_page(&conn, 0, SHOWN)?;
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|q| {
            let target = format!("/messages/{}", q.id);
            vec![
                link(&target, &format!("#{}", q.id)),
                when(&q.first_seen),
                opt(q.sender.as_deref()),
                link(
                    &target,
                    q.subject
                        .as_deref()
                        .filter(|s| !s.is_empty())
                        .unwrap_or("(no subject)"),
                ),
                esc(&q.reason),
            ]
        })
        .collect();
    let mut html = table(&["#", "First seen", "From", "Subject", "Reason"], &rows);
    if total > items.len() as i64 {
        let _ = write!(
            html,
            "<p>{} of {total} shown · <a href=\"/quarantine\">all</a></p>",
            items.len()
        );
    }
    out.push(Section {
        id: "quarantine",
        title: "Quarantined mail",
        total,
        html,
    });
    let failing: Vec<cursors::FolderStatus> = cursors::all(&conn)?
        .into_iter()
        .filter(|f| f.last_error.is_some())
        .collect();
    let rows: Vec<Vec<String>> = failing
        .iter()
        .map(|f| {
            vec![
                link(
                    "/sources",
                    &super::status::source_name(&f.source, &f.folder),
                ),
                state("error"),
                opt(f.last_error.as_deref()),
                f.last_error_at.as_deref().map_or_else(|| opt(None), when),
            ]
        })
        .collect();
    out.push(Section {
        id: "sources",
        title: "Sources in error",
        total: failing.len() as i64,
        html: table(&["Source", "Health", "Last error", "At"], &rows),
    });
    Ok(out)
}

pub(super) fn page(web: &Web, ask: &Ask) -> Reply {
    let sections = match sections(web, ask) {
        Ok(s) => s,
        Err(e) => return Reply::store_error(&e, ask),
    };
    let open: i64 = sections.iter().map(|s| s.total).sum();
    let mut body = String::from("<h1>Needs attention</h1>");
    body.push_str(&super::chart::chart(web, 30));
    if since(web, ask).is_some() {
        let _ = write!(
            body,
            "<p id=\"window\">Events of the last {} ([http] attention_window) · <a href=\"/?all=1\">everything still open</a></p>",
            esc(&crate::ingest::policy::span(
                web.intake.config.http.attention_window
            ))
        );
    }
    if open == 0 {
        body.push_str("<p class=\"flash\" id=\"all-clear\">Nothing needs attention.</p>");
    }
    body.push_str("<ul class=\"summary\">");
    for s in &sections {
        let _ = write!(
            body,
            "<li><a href=\"#{}\">{}</a>: <strong class=\"{}\">{}</strong></li>",
            s.id,
            esc(s.title),
            if s.total > 0 { "bad" } else { "" },
            s.total
        );
    }
    body.push_str("</ul>");
    for s in sections.iter().filter(|s| s.total > 0) {
        let _ = write!(
            body,
            "<section id=\"{}\"><h2>{} ({})</h2>{}</section>",
            s.id,
            esc(s.title),
            s.total,
            s.html
        );
    }
    Reply::Page(
        StatusCode::OK,
        html::page("Needs attention", "/", &ask.frame(), &body),
    )
}
