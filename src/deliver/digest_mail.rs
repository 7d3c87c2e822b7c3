//! The digest as people read it, on a phone as on a desk: first what needs attention
//! (failures, dead deliveries, transfers out waiting, expiring or deleted domains) in the
//! registrar's own words, then every event grouped by topic in time order, then the
//! counts. One HTML column (inline CSS only, nothing loaded from elsewhere, every value
//! escaped) and a plain-text part saying the same. A pure function: the scheduler, the
//! preview and the console all call [`render`].

use std::fmt::Write as _;

use chrono_tz::Tz;

use crate::action::{Digest, header_safe};
use crate::event::Event;
use crate::store::query::StoredEvent;

/// An event of the digest, with the subject of the message it came in (the registrar's
/// words when the payload has no status text).
#[derive(Debug, Clone)]
pub struct Entry {
    pub stored: StoredEvent,
    pub subject: Option<String>,
}

/// A delivery given up, shown under "Needs attention".
#[derive(Debug, Clone)]
pub struct DeadDelivery {
    pub id: i64,
    pub kind: String,
    pub target: String,
    pub error: String,
}

/// A rendered digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Why an event needs a person, or None (see [`Event::attention`]).
pub fn attention(e: &Event) -> Option<&'static str> {
    e.attention()
}

/// HTML-escapes a value (text and attribute values alike), as the console does.
pub fn escape(s: &str) -> String {
    crate::text::esc(s)
}

/// One line of plain text: line breaks in a value (a payload may hold any) as spaces.
/// Other control characters stay, as the registrar sent them: the mail is then sent
/// quoted-printable, and `digest --preview` shows them escaped.
fn line(s: &str) -> String {
    s.chars()
        .map(|c| {
            if matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

fn local(tz: Tz, stamp: &str, zone: bool) -> String {
    match chrono::DateTime::parse_from_rfc3339(stamp) {
        Ok(t) if zone => t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string(),
        Ok(t) => t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
        Err(_) => stamp.to_string(),
    }
}

fn when(s: &StoredEvent) -> &str {
    s.event.occurred_at.as_deref().unwrap_or(&s.first_seen)
}

/// The registrar's own words for an event: its status text, else the mail's subject.
fn own_words(e: &Entry) -> Option<&str> {
    e.stored
        .event
        .status_text
        .as_deref()
        .or(e.subject.as_deref())
        .filter(|t| !t.trim().is_empty())
}

const DEFAULT_SUBJECT: &str = "[mailroom] {{ digest }}: {{ count }} event{% if count != 1 %}s{% endif %}{% if attention %} ({{ attention }} need{% if attention == 1 %}s{% endif %} attention){% endif %}{% if period_end %} until {{ period_end }}{% endif %}";

/// Most dead deliveries listed by name; the rest are counted.
const MAX_DEAD_LISTED: usize = 20;

const BODY: &str = "margin:0;padding:0;background:#f4f4f5;";
const PAGE: &str = "max-width:640px;margin:0 auto;padding:16px;background:#ffffff;color:#18181b;\
font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;font-size:15px;line-height:1.45;\
overflow-wrap:anywhere;word-wrap:break-word;word-break:break-word;";
const H1: &str = "font-size:20px;margin:0 0 4px 0;";
const H2: &str =
    "font-size:17px;margin:20px 0 6px 0;padding-bottom:4px;border-bottom:2px solid #18181b;";
const H3: &str = "font-size:15px;margin:14px 0 2px 0;color:#3f3f46;";
const MUTED: &str = "color:#52525b;font-size:13px;";
const ITEM: &str = "padding:8px 0;border-top:1px solid #e4e4e7;";
const ALERT: &str =
    "padding:8px 10px;margin:6px 0;border-left:4px solid #b91c1c;background:#fef2f2;";
const QUOTE: &str = "margin:4px 0 0 0;padding:0 0 0 8px;border-left:2px solid #d4d4d8;color:#3f3f46;font-style:italic;";

/// The digest `d` over `entries` for the period `(period_start, period_end]`, with the
/// deliveries given up so far. Times are shown in the digest's time zone.
pub fn render(
    d: &Digest,
    entries: &[Entry],
    dead: &[DeadDelivery],
    period_start: Option<&str>,
    period_end: &str,
) -> Rendered {
    let tz = d.schedule.tz();
    let mut ordered: Vec<&Entry> = entries.iter().collect();
    ordered.sort_by(|a, b| {
        when(&a.stored)
            .cmp(when(&b.stored))
            .then(a.stored.id.cmp(&b.stored.id))
    });
    // What needs attention, newest first: the latest is what is still open.
    let flagged: Vec<(&Entry, &str)> = ordered
        .iter()
        .rev()
        .filter_map(|e| attention(&e.stored.event).map(|why| (*e, why)))
        .collect();
    // Topics in the order their first event happened; events in time order within.
    let mut groups: Vec<(&str, Vec<&Entry>)> = Vec::new();
    for e in &ordered {
        let topic = e.stored.event.topic.as_str();
        match groups.iter_mut().find(|g| g.0 == topic) {
            Some(g) => g.1.push(e),
            None => groups.push((topic, vec![e])),
        }
    }
    let mut counts: Vec<(String, String, usize)> = Vec::new();
    for e in &ordered {
        let (r, t) = (e.stored.event.registrar.as_str(), &e.stored.event.topic);
        match counts.iter_mut().find(|c| c.0 == r && &c.1 == t) {
            Some(c) => c.2 += 1,
            None => counts.push((r.to_string(), t.clone(), 1)),
        }
    }
    counts.sort();
    let needs = flagged.len() + dead.len();

    let start = period_start.map(|p| local(tz, p, true));
    let end = local(tz, period_end, true);
    let period = match &start {
        Some(s) => format!("Period: from {s} until {end} ({})", tz.name()),
        None => format!("Period: until {end} ({})", tz.name()),
    };
    let count = entries.len();
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let summary = format!(
        "{}; {} attention",
        plural(count, "event", "events"),
        plural(needs, "needs", "need")
    );

    let ctx = minijinja::context! {
        digest => d.name,
        count => count,
        attention => needs,
        timezone => tz.name(),
        period_start => start,
        period_end => end,
    };
    let subject = crate::action::render(d.subject.as_deref().unwrap_or(DEFAULT_SUBJECT), ctx)
        .unwrap_or_else(|e| {
            format!(
                "[mailroom] digest {} (subject template failed: {e})",
                d.name
            )
        });
    let subject = header_safe(&subject);

    let width = ordered
        .iter()
        .map(|e| {
            e.stored
                .event
                .domain
                .as_deref()
                .map_or(11, |d| line(d).chars().count())
        })
        .max()
        .unwrap_or(0);
    let domain_of = |e: &Entry| line(e.stored.event.domain.as_deref().unwrap_or("(no domain)"));
    let facts = |e: &Entry| {
        let ev = &e.stored.event;
        let mut s = format!("{} {}", ev.registrar.as_str(), line(&ev.event_type));
        if let Some(st) = &ev.status {
            let _ = write!(s, " {}", line(st));
        }
        s
    };

    // Plain text.
    let mut t = String::new();
    let _ = writeln!(t, "Digest {}", line(&d.name));
    let _ = writeln!(t, "{period}");
    let _ = writeln!(t, "{summary}\n");
    let _ = writeln!(t, "NEEDS ATTENTION");
    if needs == 0 {
        let _ = writeln!(t, "  Nothing.");
    }
    for (e, why) in &flagged {
        let _ = writeln!(
            t,
            "* {}: {why} ({}, {}) {}",
            domain_of(e),
            facts(e),
            line(&e.stored.event.topic),
            local(tz, when(&e.stored), false)
        );
        if let Some(words) = own_words(e) {
            let _ = writeln!(t, "    \"{}\"", line(words));
        }
    }
    for dd in dead.iter().take(MAX_DEAD_LISTED) {
        let _ = writeln!(
            t,
            "* delivery #{} given up: {} to {}: {}",
            dd.id,
            line(&dd.kind),
            line(&dd.target),
            line(&dd.error)
        );
    }
    if dead.len() > MAX_DEAD_LISTED {
        let _ = writeln!(
            t,
            "* and {} more deliveries given up (mailroom outbox)",
            dead.len() - MAX_DEAD_LISTED
        );
    }
    let _ = writeln!(t, "\nEVENTS BY TOPIC, in time order ({})", tz.name());
    if groups.is_empty() {
        let _ = writeln!(t, "  No events in this period.");
    }
    for (topic, evs) in &groups {
        let _ = writeln!(t, "{} ({})", line(topic), evs.len());
        for e in evs {
            let mut l = format!(
                "  {}  {:<width$}  {}",
                local(tz, when(&e.stored), false),
                domain_of(e),
                facts(e)
            );
            if let Some(st) = &e.stored.event.status_text {
                let _ = write!(l, ": {}", line(st));
            }
            let _ = writeln!(t, "{}", l.trim_end());
        }
    }
    let _ = writeln!(t, "\nCounts");
    for (r, topic, n) in &counts {
        let _ = writeln!(t, "  {r:<10} {:<34} {n}", line(topic));
    }
    let _ = writeln!(t, "  {:<10} {:<34} {count}", "total", "");

    // HTML.
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{}</title></head>\n<body style=\"{BODY}\">\n<div id=\"digest\" style=\"{PAGE}\">\n\
<h1 style=\"{H1}\">Digest {}</h1>\n<p id=\"period\" style=\"{MUTED}margin:0;\">{}</p>\n\
<p id=\"summary\" style=\"margin:4px 0 0 0;font-weight:600;\">{}</p>\n",
        escape(&subject),
        escape(&d.name),
        escape(&period),
        escape(&summary)
    );
    let _ = write!(
        h,
        "<div id=\"attention\" data-section=\"attention\">\n<h2 style=\"{H2}\">Needs attention</h2>\n"
    );
    if needs == 0 {
        let _ = writeln!(h, "<p style=\"{MUTED}\">Nothing.</p>");
    }
    for (e, why) in &flagged {
        let ev = &e.stored.event;
        let _ = write!(
            h,
            "<div data-attention=\"{}\" style=\"{ALERT}\"><div><b>{}</b> <span style=\"color:#b91c1c;font-weight:600;\">{}</span></div>\
<div style=\"{MUTED}\">{} · {} · {}</div>",
            escape(why),
            escape(&domain_of(e)),
            escape(why),
            escape(&local(tz, when(&e.stored), false)),
            escape(&facts(e)),
            escape(&ev.topic)
        );
        if let Some(words) = own_words(e) {
            let _ = write!(h, "<p style=\"{QUOTE}\">{}</p>", escape(words));
        }
        h.push_str("</div>\n");
    }
    for dd in dead.iter().take(MAX_DEAD_LISTED) {
        let _ = writeln!(
            h,
            "<div data-attention=\"delivery given up\" style=\"{ALERT}\"><div><b>Delivery #{} given up</b></div>\
<div style=\"{MUTED}\">{} to {}</div><p style=\"{QUOTE}\">{}</p></div>",
            dd.id,
            escape(&dd.kind),
            escape(&dd.target),
            escape(&dd.error)
        );
    }
    if dead.len() > MAX_DEAD_LISTED {
        let _ = writeln!(
            h,
            "<p style=\"{MUTED}\">and {} more deliveries given up (mailroom outbox)</p>",
            dead.len() - MAX_DEAD_LISTED
        );
    }
    let _ = write!(
        h,
        "</div>\n<div id=\"events\" data-section=\"events\">\n<h2 style=\"{H2}\">Events by topic</h2>\n\
<p style=\"{MUTED}margin:0;\">In time order; times in {}.</p>\n",
        escape(tz.name())
    );
    if groups.is_empty() {
        let _ = writeln!(h, "<p style=\"{MUTED}\">No events in this period.</p>");
    }
    for (topic, evs) in &groups {
        let _ = writeln!(
            h,
            "<div data-topic=\"{}\">\n<h3 style=\"{H3}\">{} ({})</h3>",
            escape(topic),
            escape(topic),
            evs.len()
        );
        for e in evs {
            let ev = &e.stored.event;
            let _ = write!(
                h,
                "<div data-event=\"{}\" style=\"{ITEM}\"><div style=\"font-weight:600;\">{}</div>\
<div style=\"{MUTED}\">{} · {}</div>",
                escape(&ev.key()),
                escape(&domain_of(e)),
                escape(&local(tz, when(&e.stored), false)),
                escape(&facts(e))
            );
            if let Some(st) = &ev.status_text {
                let _ = write!(h, "<p style=\"{QUOTE}\">{}</p>", escape(st));
            }
            h.push_str("</div>\n");
        }
        h.push_str("</div>\n");
    }
    let _ = write!(
        h,
        "</div>\n<div id=\"counts\" data-section=\"counts\">\n<h2 style=\"{H2}\">Counts</h2>\n\
<table role=\"presentation\" style=\"width:100%;border-collapse:collapse;table-layout:fixed;font-size:14px;\">\n"
    );
    let cell = "padding:3px 4px;border-bottom:1px solid #e4e4e7;";
    for (r, topic, n) in &counts {
        let _ = writeln!(
            h,
            "<tr><td style=\"{cell}width:28%;\">{}</td><td style=\"{cell}\">{}</td><td style=\"{cell}width:15%;text-align:right;\">{n}</td></tr>",
            escape(r),
            escape(topic)
        );
    }
    let _ = write!(
        h,
        "<tr><td style=\"{cell}font-weight:600;\">total</td><td style=\"{cell}\"></td><td style=\"{cell}text-align:right;font-weight:600;\">{count}</td></tr>\n\
</table>\n</div>\n</div>\n</body></html>\n"
    );

    Rendered {
        subject,
        text: t,
        html: h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(topic: &str, status: Option<&str>) -> Event {
        serde_json::from_value(serde_json::json!({
            "registrar": "autodns", "event_id": "1", "kind": "event", "object": "domain",
            "type": "t", "topic": topic, "domain": "example.com", "domains": ["example.com"],
            "status": status, "occurred_at": null, "format": "json", "data": {}
        }))
        .unwrap()
    }

    #[test]
    fn what_needs_attention() {
        assert_eq!(
            attention(&event("domain.zone_check", Some("error"))),
            Some("failed")
        );
        assert_eq!(
            attention(&event("transfer.out", Some("pending"))),
            Some("transfer out pending")
        );
        assert_eq!(attention(&event("transfer.out", Some("completed"))), None);
        assert_eq!(
            attention(&event("transfer.out", Some("rejected"))),
            Some("transfer out rejected (domain stays)")
        );
        assert_eq!(
            attention(&event("domain.deleted", Some("pending"))),
            Some("deletion requested")
        );
        assert_eq!(
            attention(&event("domain.renewal_reminder", None)),
            Some("expiring soon")
        );
        assert_eq!(
            attention(&event("domain.deleted", Some("completed"))),
            Some("domain deleted")
        );
        assert_eq!(attention(&event("domain.created", None)), None);
    }

    #[test]
    fn values_cannot_become_markup() {
        assert_eq!(
            escape("<a href=\"x\" onclick='y'>&</a>\u{1b}"),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;\\u{1b}"
        );
    }
}
