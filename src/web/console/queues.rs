//! *Quarantine* (messages that gave no event, with the reason and a reparse button) and
//! *Outbox* (every delivery by state, with a retry button).

use std::fmt::Write as _;

use hyper::StatusCode;

use super::html::{self, button, esc, href, link, opt, state, table, when};
use super::{Ask, PAGE, Reply, Web};
use crate::store::views::{self, Delivery};

/// A pager for `path` with `params`: newer/older links.
pub(super) fn pager(path: &str, params: &[(&str, &str)], page: u64, total: i64) -> String {
    let pages = (total as u64).div_ceil(PAGE).max(1);
    let at = |p: u64| {
        let p = p.to_string();
        let mut all = params.to_vec();
        all.push(("page", &p));
        href(path, &all)
    };
    let mut out = String::from("<nav class=\"pager\" aria-label=\"pages\">");
    if page > 1 {
        let _ = write!(out, "<a rel=\"prev\" href=\"{}\">← Newer</a>", at(page - 1));
    }
    let _ = write!(out, "<span>Page {page} of {pages}</span>");
    if page < pages {
        let _ = write!(out, "<a rel=\"next\" href=\"{}\">Older →</a>", at(page + 1));
    }
    out.push_str("</nav>");
    out
}

/// A table of deliveries, with a retry button on those not delivered.
pub(super) fn deliveries(items: &[Delivery], ask: &Ask, back: &str, with_event: bool) -> String {
    let mut headers = vec![
        "#",
        "Channel",
        "Rule",
        "To",
        "State",
        "Attempts",
        "Last error",
        "When",
    ];
    if with_event {
        headers.insert(1, "Event");
    }
    headers.push("");
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|d| {
            let shown = d.shown_state();
            let at = match (shown, &d.done_at) {
                ("done", Some(t)) => format!("delivered {}", when(t)),
                ("dead", _) => format!("given up; queued {}", when(&d.created)),
                _ => format!("next try {}", when(&d.next_attempt)),
            };
            let mut row = vec![
                format!("<span id=\"delivery-{}\">{}</span>", d.id, d.id),
                esc(&d.channel),
                opt(d.rule.as_deref()),
                esc(&d.target),
                state(shown),
                d.attempts.to_string(),
                opt(d.last_error.as_deref()),
                at,
            ];
            if with_event {
                row.insert(
                    1,
                    d.event.map_or_else(
                        || opt(None),
                        |e| link(&format!("/events/{e}"), &format!("#{e}")),
                    ),
                );
            }
            row.push(if d.state == "done" {
                String::new()
            } else {
                button(
                    &format!("/outbox/{}/retry", d.id),
                    "Retry now",
                    &ask.csrf,
                    back,
                )
            });
            row
        })
        .collect();
    table(&headers, &rows)
}

pub(super) fn outbox(web: &Web, ask: &Ask) -> Reply {
    let conn = match web.reader() {
        Ok(c) => c,
        Err(e) => return Reply::store_error(&e, ask),
    };
    let wanted = match ask.param("state") {
        s @ ("pending" | "retrying" | "dead" | "done") => Some(s),
        _ => None,
    };
    let page = super::page_number(ask);
    let (counts, (items, total)) = match (|| {
        Ok::<_, crate::store::StoreError>((
            views::outbox_counts(&conn)?,
            views::outbox_page(&conn, wanted, (page - 1) * PAGE, PAGE)?,
        ))
    })() {
        Ok(r) => r,
        Err(e) => return Reply::store_error(&e, ask),
    };
    let mut body = String::from("<h1>Outbox</h1><ul class=\"summary\">");
    let all: i64 = counts.iter().map(|(_, n)| n).sum();
    let tab = |s: Option<&str>, label: &str, n: i64| {
        let target = href("/outbox", &[("state", s.unwrap_or(""))]);
        if s == wanted {
            format!("<li><strong>{} ({n})</strong></li>", esc(label))
        } else {
            format!("<li><a href=\"{target}\">{} ({n})</a></li>", esc(label))
        }
    };
    body.push_str(&tab(None, "all", all));
    for (s, n) in counts {
        body.push_str(&tab(Some(s), s, n));
    }
    body.push_str("</ul>");
    if items.is_empty() {
        body.push_str("<p class=\"muted\">Nothing here.</p>");
    } else {
        body.push_str(&deliveries(&items, ask, "/outbox", true));
    }
    body.push_str(&pager(
        "/outbox",
        &[("state", wanted.unwrap_or(""))],
        page,
        total,
    ));
    Reply::Page(
        StatusCode::OK,
        html::page("Outbox", "/outbox", &ask.frame(), &body),
    )
}

pub(super) fn quarantine(web: &Web, ask: &Ask) -> Reply {
    let conn = match web.reader() {
        Ok(c) => c,
        Err(e) => return Reply::store_error(&e, ask),
    };
    let page = super::page_number(ask);
    let (items, total) = match views::quarantined_page(&conn, (page - 1) * PAGE, PAGE) {
        Ok(r) => r,
        Err(e) => return Reply::store_error(&e, ask),
    };
    let mut body = format!(
        "<h1>Quarantine</h1><p>{total} message(s) gave no event. Each keeps the reason; after an extractor fix, <em>Reparse</em> reads it again (new events go through the rules).</p>"
    );
    if total > 0 {
        let _ = write!(
            body,
            "<div class=\"actions\">{}</div>",
            button(
                "/quarantine/reparse",
                "Reparse every quarantined message",
                &ask.csrf,
                "/quarantine"
            )
        );
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|q| {
            let target = format!("/messages/{}", q.id);
            vec![
                link(&target, &format!("#{}", q.id)),
                when(&q.first_seen),
                opt(q.sender.as_deref()),
                match q.subject.as_deref() {
                    Some(s) if !s.is_empty() => link(&target, s),
                    _ => link(&target, "(no subject)"),
                },
                esc(&q.reason),
                q.sources
                    .iter()
                    .map(|s| esc(s))
                    .collect::<Vec<_>>()
                    .join("<br>"),
                format!(
                    "{} <a href=\"/messages/{}.eml\" download>.eml</a>",
                    button(
                        &format!("/messages/{}/reparse", q.id),
                        "Reparse",
                        &ask.csrf,
                        "/quarantine"
                    ),
                    q.id
                ),
            ]
        })
        .collect();
    if !rows.is_empty() {
        body.push_str(&table(
            &[
                "#",
                "First seen",
                "From",
                "Subject",
                "Reason",
                "Found at",
                "",
            ],
            &rows,
        ));
    }
    body.push_str(&pager("/quarantine", &[], page, total));
    Reply::Page(
        StatusCode::OK,
        html::page("Quarantine", "/quarantine", &ask.frame(), &body),
    )
}
