//! *Events*: the list with the filters of `mailroom events` and paging; one event with
//! every field, its payload, every place it was seen, what its rules did and the
//! original message; a message's page and its raw `.eml`.

use std::fmt::Write as _;

use hyper::StatusCode;

use super::html::{self, esc, fields, href, link, opt, state, table, when};
use super::{Ask, PAGE, Reply, Web};
use crate::event::Registrar;
use crate::filter::{domain_forms, parse_when};
use crate::store::query::{self, EventFilter, StoredEvent};
use crate::store::{listing, views};

/// The filter parameters of `/events`, as given.
const FILTERS: [&str; 7] = [
    "q",
    "registrar",
    "topic",
    "type",
    "status",
    "domain",
    "since",
];

/// The first cells of an event's row: its number (a link to it) and its time.
pub(super) fn number_and_time(s: &StoredEvent) -> [String; 2] {
    let e = &s.event;
    [
        link(&format!("/events/{}", s.id), &format!("#{}", s.id)),
        format!(
            "{}{}",
            when(e.occurred_at.as_deref().unwrap_or(&s.first_seen)),
            esc(e.time_note())
        ),
    ]
}

/// One row of an event list.
pub(super) fn row(s: &StoredEvent) -> Vec<String> {
    let e = &s.event;
    let target = format!("/events/{}", s.id);
    let [number, time] = number_and_time(s);
    vec![
        number,
        time,
        esc(e.registrar.as_str()),
        esc(&e.topic),
        match &e.domain {
            Some(d) => link(&target, d),
            None => opt(None),
        },
        e.status.as_deref().map_or_else(|| opt(None), state),
        esc(&e.event_type),
    ]
}

pub(super) const COLUMNS: [&str; 7] = [
    "#",
    "When",
    "Registrar",
    "Topic",
    "Domain",
    "Status",
    "Type",
];

/// A list of events, or a line saying there is none.
pub(super) fn list_of(events: &[StoredEvent]) -> String {
    if events.is_empty() {
        return "<p class=\"muted\">None.</p>".into();
    }
    let rows: Vec<Vec<String>> = events.iter().map(row).collect();
    table(&COLUMNS, &rows)
}

pub(super) fn list(web: &Web, ask: &Ask) -> Reply {
    let mut problems = Vec::new();
    let some = |k: &str| Some(ask.param(k).to_string()).filter(|v| !v.is_empty());
    let (domain, domain_suffix) = match some("domain") {
        Some(d) => domain_forms(&d),
        None => (Vec::new(), false),
    };
    let since = some("since").and_then(|s| match parse_when(&s) {
        Ok(t) => Some(t),
        Err(e) => {
            problems.push(format!("since: {e}"));
            None
        }
    });
    let search = some("q").map(|q| q.trim().to_string()).filter(|q| {
        let long_enough = q.chars().count() >= crate::store::search::MIN_CHARS;
        if !long_enough {
            problems.push(format!(
                "search: give at least {} characters",
                crate::store::search::MIN_CHARS
            ));
        }
        long_enough
    });
    let filter = EventFilter {
        registrar: some("registrar"),
        topic: some("topic"),
        event_type: some("type"),
        domain,
        domain_suffix,
        status: some("status"),
        since,
        until: None,
        limit: None,
        search,
    };
    let conn = match web.reader() {
        Ok(c) => c,
        Err(e) => return Reply::store_error(&e, ask),
    };
    let page = super::page_number(ask);
    let id = |k: &str| ask.param(k).parse::<i64>().ok();
    let start = match (id("before"), id("after")) {
        (Some(e), _) => listing::Start::Older(e),
        (None, Some(e)) => listing::Start::Newer(e),
        (None, None) => listing::Start::Skip((page - 1) * PAGE),
    };
    let (mut events, mut total) = match listing::events_page(&conn, &filter, start, PAGE) {
        Ok(r) => r,
        Err(e) => return Reply::store_error(&e, ask),
    };
    // A page past the end (a number typed in, events gone): the last page instead.
    let pages = (total.max(0) as u64).div_ceil(PAGE).max(1);
    let mut page = page.min(pages);
    if events.is_empty() && total > 0 {
        page = pages;
        match listing::events_page(
            &conn,
            &filter,
            listing::Start::Skip((pages - 1) * PAGE),
            PAGE,
        ) {
            Ok(r) => (events, total) = r,
            Err(e) => return Reply::store_error(&e, ask),
        }
    }
    let (topics, statuses) = views::vocabulary(&conn).unwrap_or_default();
    let mut body = String::from("<h1>Events</h1>");
    body.push_str(&super::chart::chart(web, 30));
    body.push_str(&filter_form(ask, &topics, &statuses));
    for p in &problems {
        let _ = write!(body, "<p class=\"error\" role=\"alert\">{}</p>", esc(p));
    }
    let first = (page - 1) * PAGE;
    if total == 0 {
        body.push_str("<p class=\"muted\" id=\"count\">No event matches.</p>");
    } else {
        let _ = write!(
            body,
            "<p id=\"count\">Events {}–{} of {total}, newest first.</p>",
            (first + 1).min(total as u64),
            (first + events.len() as u64).min(total as u64)
        );
        body.push_str(&list_of(&events));
    }
    let params: Vec<(&str, &str)> = FILTERS.iter().map(|k| (*k, ask.param(k))).collect();
    body.push_str(&pager(&params, page, pages, &events));
    Reply::Page(
        StatusCode::OK,
        html::page("Events", "/events", &ask.frame(), &body),
    )
}

/// Newer and older links of the event list: each names the event next to it (keyset:
/// the next page is found through the index, however deep), and carries the page
/// number to show.
fn pager(params: &[(&str, &str)], page: u64, pages: u64, shown: &[StoredEvent]) -> String {
    let at = |p: u64, key: &str, id: i64| {
        let (p, id) = (p.to_string(), id.to_string());
        let mut all = params.to_vec();
        if p != "1" {
            all.push((key, &id));
        }
        all.push(("page", &p));
        href("/events", &all)
    };
    let mut out = String::from("<nav class=\"pager\" aria-label=\"pages\">");
    if let (true, Some(first)) = (page > 1, shown.first()) {
        let _ = write!(
            out,
            "<a rel=\"prev\" href=\"{}\">← Newer</a>",
            at(page - 1, "after", first.id)
        );
    }
    let _ = write!(out, "<span>Page {page} of {pages}</span>");
    if let (true, Some(last)) = (page < pages, shown.last()) {
        let _ = write!(
            out,
            "<a rel=\"next\" href=\"{}\">Older →</a>",
            at(page + 1, "before", last.id)
        );
    }
    out.push_str("</nav>");
    out
}

fn filter_form(ask: &Ask, topics: &[String], statuses: &[String]) -> String {
    let mut f =
        String::from("<form class=\"filters\" method=\"get\" action=\"/events\" role=\"search\">");
    let _ = write!(
        f,
        "<label>Search<input type=\"search\" name=\"q\" value=\"{}\" placeholder=\"domain, subject, words\" minlength=\"3\"></label>",
        esc(ask.param("q"))
    );
    f.push_str("<label>Registrar<select name=\"registrar\"><option value=\"\">any</option>");
    for r in Registrar::ALL {
        let selected = if ask.param("registrar").eq_ignore_ascii_case(r.as_str()) {
            " selected"
        } else {
            ""
        };
        let _ = write!(f, "<option{selected}>{}</option>", r.as_str());
    }
    f.push_str("</select></label>");
    let input = |f: &mut String, name: &str, label: &str, hint: &str, list: Option<&str>| {
        let _ = write!(
            f,
            "<label>{label}<input name=\"{name}\" value=\"{}\" placeholder=\"{}\"{}></label>",
            esc(ask.param(name)),
            esc(hint),
            list.map_or(String::new(), |l| format!(" list=\"{l}\""))
        );
    };
    input(
        &mut f,
        "topic",
        "Topic",
        "transfer.out or transfer",
        Some("topics"),
    );
    input(
        &mut f,
        "status",
        "Status",
        "pending, error…",
        Some("statuses"),
    );
    input(&mut f, "domain", "Domain", "example.com or .de", None);
    input(&mut f, "since", "Since", "7d, 2026-11-20", None);
    input(&mut f, "type", "Type", "registrar's event name", None);
    f.push_str("<span><button type=\"submit\">Filter</button> <a href=\"/events\">Clear</a></span></form><datalist id=\"topics\">");
    for t in topics {
        let _ = write!(f, "<option value=\"{}\">", esc(t));
    }
    f.push_str("</datalist><datalist id=\"statuses\">");
    for s in statuses {
        let _ = write!(f, "<option value=\"{}\">", esc(s));
    }
    f.push_str("</datalist>");
    f
}

/// `payload` as indented JSON (escaped by the caller's `esc`).
fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// What the channel of a source key is: `imap`, `maildir`, `push`, …
fn channel_of(source: &str) -> &str {
    source.split(':').next().unwrap_or(source)
}

pub(super) fn detail(web: &Web, ask: &Ask, id: i64) -> Reply {
    let conn = match web.reader() {
        Ok(c) => c,
        Err(e) => return Reply::store_error(&e, ask),
    };
    let found =
        query::event_detail(&conn, &id.to_string()).map(|d| d.filter(|d| d.stored.id == id));
    let detail = match found {
        Ok(Some(d)) => d,
        Ok(None) => return Reply::not_found(ask),
        Err(e) => return Reply::store_error(&e, ask),
    };
    let (deliveries, digests, acked, first) = match (|| {
        Ok::<_, crate::store::StoreError>((
            views::deliveries_of_event(&conn, id)?,
            views::digests_of_event(&conn, id)?,
            views::acked(&conn, id)?,
            views::first_message(&conn, id)?,
        ))
    })() {
        Ok(r) => r,
        Err(e) => return Reply::store_error(&e, ask),
    };
    let s = &detail.stored;
    let e = &s.event;
    let here = format!("/events/{id}");
    let title = format!("{} {}", e.topic, e.domain.as_deref().unwrap_or(&e.event_id));
    let mut body = format!("<h1>{}</h1>", esc(&title));
    let domain = match &e.domain {
        Some(d) => link(&href("/events", &[("domain", d)]), d),
        None => opt(None),
    };
    let auth = match e.authenticated {
        Some(true) => format!("yes: {}", esc(e.authentication.as_deref().unwrap_or(""))),
        Some(false) => format!(
            "<span class=\"bad\">no</span>: {}",
            esc(e.authentication.as_deref().unwrap_or(""))
        ),
        None => "not judged".into(),
    };
    let mut pairs = vec![
        (
            "Registrar",
            link(
                &href("/events", &[("registrar", e.registrar.as_str())]),
                e.registrar.as_str(),
            ),
        ),
        ("Event id", esc(&e.event_id)),
        (
            "Topic",
            link(&href("/events", &[("topic", &e.topic)]), &e.topic),
        ),
        ("Type", esc(&e.event_type)),
        ("Kind", esc(e.kind.as_str())),
        ("Object", esc(&e.object)),
        ("Domain", domain),
        (
            "Status",
            e.status.as_deref().map_or_else(|| opt(None), state),
        ),
        ("Registrar's words", opt(e.status_text.as_deref())),
        (
            "Occurred",
            e.occurred_at.as_deref().map_or_else(
                || opt(None),
                |t| format!("{}{}", when(t), esc(e.time_note())),
            ),
        ),
        ("Format", esc(e.format.as_str())),
        ("Sender authenticated", auth),
        (
            "Seen",
            format!(
                "{} time(s), first {}, last {}",
                s.seen_count,
                when(&s.first_seen),
                when(&s.last_seen)
            ),
        ),
    ];
    if e.domains.len() > 1 {
        pairs.insert(7, ("All domains", esc(&e.domains.join(", "))));
    }
    if let Some(at) = &acked {
        pairs.push(("Handled", format!("marked handled {}", when(at))));
    }
    body.push_str(&fields(&pairs));
    if acked.is_none() {
        let _ = write!(
            body,
            "<div class=\"actions\">{}</div>",
            html::button(
                &format!("/events/{id}/ack"),
                "Mark handled",
                &ask.csrf,
                &here
            )
        );
    }
    body.push_str("<h2>Payload</h2>");
    let _ = write!(body, "<pre id=\"payload\">{}</pre>", esc(&pretty(&e.data)));
    body.push_str("<h2>Seen at</h2>");
    let rows: Vec<Vec<String>> = detail
        .sources
        .iter()
        .map(|src| {
            vec![
                when(&src.seen_at),
                esc(channel_of(&src.source)),
                esc(&src.source),
                link(
                    &format!("/messages/{}", src.message),
                    &format!("#{}", src.message),
                ),
                opt(src.subject.as_deref()),
                opt(src.sender.as_deref()),
            ]
        })
        .collect();
    body.push_str(&table(
        &["When", "Channel", "Source", "Message", "Subject", "From"],
        &rows,
    ));
    for c in &detail.conflicts {
        let _ = write!(
            body,
            "<h2>Another copy (message {})</h2><p>{} {}, {}.</p><pre>{}</pre>",
            link(
                &format!("/messages/{}", c.message),
                &format!("#{}", c.message)
            ),
            if c.superseded {
                "The first, unauthenticated copy, replaced by the one above; seen"
            } else {
                "A different payload for this event, seen"
            },
            when(&c.seen_at),
            match c.authenticated {
                Some(true) => "authenticated".to_string(),
                _ => format!(
                    "not authenticated: {}",
                    esc(c.authentication.as_deref().unwrap_or(""))
                ),
            },
            esc(&pretty(&c.data))
        );
    }
    body.push_str("<h2>Actions</h2>");
    if deliveries.is_empty() && digests.is_empty() {
        body.push_str("<p class=\"muted\">No rule asked for anything for this event.</p>");
    }
    if !deliveries.is_empty() {
        body.push_str(&super::queues::deliveries(&deliveries, ask, &here, false));
    }
    for d in &digests {
        let _ = write!(
            body,
            "<p>Collected for digest <strong>{}</strong> {}: {}</p>",
            esc(&d.digest),
            when(&d.added),
            match d.run {
                Some(run) => link(&format!("/digests/runs/{run}"), "sent in this run"),
                None => "waiting for the next send".into(),
            }
        );
    }
    body.push_str("<h2>Original message</h2>");
    match first {
        Some(m) => body.push_str(&message_headers(&conn, m)),
        None => body.push_str("<p class=\"muted\">Not kept.</p>"),
    }
    Reply::Page(
        StatusCode::OK,
        html::page(&title, "/events", &ask.frame(), &body),
    )
}

/// The header block of raw mail (up to the first empty line), as text.
pub(super) fn header_block(raw: &[u8]) -> String {
    let end = memchr::memmem::find(raw, b"\r\n\r\n")
        .or_else(|| memchr::memmem::find(raw, b"\n\n"))
        .unwrap_or(raw.len())
        .min(64 << 10);
    String::from_utf8_lossy(&raw[..end]).replace("\r\n", "\n")
}

/// A message's headers with a download link.
fn message_headers(conn: &impl crate::store::db::Sql, message: i64) -> String {
    let mut out = String::new();
    match query::raw_message(conn, message) {
        Ok(Some((raw, complete))) => {
            let _ = write!(
                out,
                "<p>Message {} · <a href=\"/messages/{message}.eml\" download>Download the raw message (.eml{})</a></p><pre id=\"headers\">{}</pre>",
                link(&format!("/messages/{message}"), &format!("#{message}")),
                if complete { "" } else { ", headers only" },
                esc(&header_block(&raw))
            );
        }
        Ok(None) => out.push_str("<p class=\"muted\">The raw message was not kept.</p>"),
        Err(e) => {
            let _ = write!(out, "<p class=\"error\">{}</p>", esc(&e.to_string()));
        }
    }
    out
}

pub(super) fn message(web: &Web, ask: &Ask, id: i64) -> Reply {
    let conn = match web.reader() {
        Ok(c) => c,
        Err(e) => return Reply::store_error(&e, ask),
    };
    let (m, events) = match (|| {
        Ok::<_, crate::store::StoreError>((
            views::message(&conn, id)?,
            views::events_of_message(&conn, id)?,
        ))
    })() {
        Ok((Some(m), ev)) => (m, ev),
        Ok((None, _)) => return Reply::not_found(ask),
        Err(e) => return Reply::store_error(&e, ask),
    };
    let here = format!("/messages/{id}");
    let title = format!("Message #{id}");
    let mut body = format!("<h1>{}</h1>", esc(&title));
    let sources: Vec<String> = m
        .sources
        .iter()
        .map(|(s, at)| format!("{} ({})", esc(s), when(at)))
        .collect();
    body.push_str(&fields(&[
        ("Subject", opt(m.subject.as_deref())),
        ("From", opt(m.sender.as_deref())),
        ("Message-ID", opt(m.message_id.as_deref())),
        ("Date", opt(m.date.as_deref())),
        ("Size", format!("{} bytes", m.size)),
        ("Status", state(&m.status)),
        ("Reason", opt(m.reason.as_deref())),
        ("First seen", when(&m.first_seen)),
        ("Last seen", when(&m.last_seen)),
        ("Found at", sources.join("<br>")),
    ]));
    if m.complete == Some(true) {
        let label = if m.status == "quarantined" {
            "Reparse"
        } else {
            "Read again"
        };
        let _ = write!(
            body,
            "<div class=\"actions\">{}</div>",
            html::button(&format!("{here}/reparse"), label, &ask.csrf, &here)
        );
    }
    body.push_str("<h2>Events from this message</h2>");
    body.push_str(&list_of(&events));
    body.push_str("<h2>Headers</h2>");
    body.push_str(&message_headers(&conn, id));
    Reply::Page(StatusCode::OK, html::page(&title, "", &ask.frame(), &body))
}

/// `/messages/ID.eml`: the raw message as kept, to save.
pub(super) fn raw(web: &Web, ask: &Ask, id: i64) -> Reply {
    let conn = match web.reader() {
        Ok(c) => c,
        Err(e) => return Reply::store_error(&e, ask),
    };
    match query::raw_message(&conn, id) {
        Ok(Some((bytes, _))) => Reply::Download {
            name: format!("message-{id}.eml"),
            content_type: "message/rfc822",
            bytes,
        },
        Ok(None) => Reply::not_found(ask),
        Err(e) => Reply::store_error(&e, ask),
    }
}
