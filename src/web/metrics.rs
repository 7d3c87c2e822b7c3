//! `/metrics` (Prometheus text format), `/healthz` (process up) and `/readyz`
//! (database writable, every source synced within its interval), for a load balancer,
//! systemd or Kubernetes. Figures about stored data are read from the database at each
//! scrape (so they agree with `mailroom events --stats` and `mailroom outbox --json`);
//! latencies only the running process knows are kept in [`Live`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};

mod process;
mod ready;

use super::{Resp, Web};
use crate::ingest::live::{BUCKETS, Live};
use crate::store::{channels, cursors, feed, figures};

/// The paths answered here.
pub const PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

pub async fn handle(web: &Arc<Web>, req: Request<Incoming>) -> Resp {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = super::text(StatusCode::METHOD_NOT_ALLOWED, "use GET");
        r.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static("GET, HEAD"),
        );
        return r;
    }
    let path = req.uri().path().to_string();
    if path == "/healthz" {
        // Answered from memory: a database another process holds locked does not slow it.
        return super::text(StatusCode::OK, "ok");
    }
    let web = Arc::clone(web);
    let work = tokio::task::spawn_blocking(move || match path.as_str() {
        "/metrics" => match render(&web) {
            Ok(body) => super::with_type(
                StatusCode::OK,
                body.into_bytes(),
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            Err(e) => {
                tracing::error!(error = %e, "/metrics: database");
                super::text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the database could not be read",
                )
            }
        },
        "/readyz" => {
            let problems = ready::readiness(&web);
            if problems.is_empty() {
                super::text(StatusCode::OK, "ready")
            } else {
                super::text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!("not ready\n{}", problems.join("\n")),
                )
            }
        }
        _ => super::text(StatusCode::NOT_FOUND, "not found"),
    });
    work.await
        .unwrap_or_else(|_| super::text(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))
}

/// The text exposition format, written by hand (a few families; no dependency).
struct Exposition(String);

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(
            self.0,
            "# HELP {name} {}",
            help.replace('\\', "\\\\").replace('\n', "\\n")
        );
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {}", number(value));
    }
}

/// A label value as the format wants it: backslash, double quote and newline escaped.
pub fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn number(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn seconds(stamp: &str) -> Option<f64> {
    chrono::DateTime::parse_from_rfc3339(stamp)
        .ok()
        .map(|t| t.timestamp_millis() as f64 / 1000.0)
}

/// Every metric, from the read-only connection and [`Live`].
fn render(web: &Web) -> crate::store::Result<String> {
    let conn = web.reader()?;
    figures::snapshot(&conn, |conn| {
        // The message tally is brought up to date from the last scrape's (store::figures).
        let mut kept = web.messages.lock().unwrap_or_else(|e| e.into_inner());
        let tally = figures::message_tally(conn, kept.take())?;
        let out = figures_text(conn, &web.intake.live, &tally.counts);
        *kept = Some(tally);
        out
    })
}

fn figures_text(
    conn: &impl crate::store::db::Sql,
    live: &Live,
    messages: &BTreeMap<(String, String), i64>,
) -> crate::store::Result<String> {
    let mut out = Exposition(String::new());
    // Both event figures in one pass over an index (store::figures).
    let tally = figures::events_by_topic(conn)?;
    out.family(
        "mailroom_events_stored_total",
        "counter",
        "Events stored (each once per registrar and event id), by registrar and topic; as mailroom events --stats counts them.",
    );
    for (registrar, topic, n, _) in &tally {
        out.sample(
            "mailroom_events_stored_total",
            &[("registrar", registrar), ("topic", topic)],
            *n as f64,
        );
    }
    out.family(
        "mailroom_events_seen_total",
        "counter",
        "Places events were seen (an event seen again raises this, not events_stored), by registrar and topic.",
    );
    for (registrar, topic, _, seen) in &tally {
        out.sample(
            "mailroom_events_seen_total",
            &[("registrar", registrar), ("topic", topic)],
            *seen as f64,
        );
    }

    out.family(
        "mailroom_messages_total",
        "counter",
        "Messages read, by channel (imap, maildir, file, mbox, stdin, poll, push) and result: parsed or quarantined where a message was first found, known for every further place the same message was found (a \"duplicate\" is an event already stored, as import and watch --once count them).",
    );
    let channels_seen: std::collections::BTreeSet<String> =
        messages.keys().map(|k| k.0.clone()).collect();
    for ch in &channels_seen {
        for result in ["parsed", "known", "quarantined"] {
            let n = messages
                .get(&(ch.clone(), result.to_string()))
                .copied()
                .unwrap_or(0);
            out.sample(
                "mailroom_messages_total",
                &[("channel", ch), ("result", result)],
                n as f64,
            );
        }
    }
    out.family(
        "mailroom_quarantined_messages",
        "gauge",
        "Messages in quarantine (no event found; mailroom quarantine lists them).",
    );
    out.sample(
        "mailroom_quarantined_messages",
        &[],
        figures::quarantined(conn)? as f64,
    );
    out.family(
        "mailroom_event_conflicts",
        "gauge",
        "Events with a copy whose payload differs from the stored one (mailroom events show lists them).",
    );
    out.sample(
        "mailroom_event_conflicts",
        &[],
        crate::store::query::conflicted_events(conn)? as f64,
    );

    out.family(
        "mailroom_outbox_items",
        "gauge",
        "Outbox items by state (pending, done, dead), as mailroom outbox --json --all lists them.",
    );
    let mut states: BTreeMap<String, i64> = ["pending", "done", "dead"]
        .iter()
        .map(|s| (s.to_string(), 0))
        .collect();
    for (state, n) in figures::outbox_states(conn)? {
        states.insert(state, n);
    }
    for (s, n) in &states {
        out.sample("mailroom_outbox_items", &[("state", s)], *n as f64);
    }
    let deliveries = figures::deliveries(conn)?;
    out.family(
        "mailroom_deliveries_total",
        "counter",
        "Deliveries finished, by kind (forward, webhook, digest, fallback) and result: delivered, or dead (given up).",
    );
    for (kind, result, n) in deliveries
        .iter()
        .filter(|d| d.1 == "delivered" || d.1 == "dead")
    {
        out.sample(
            "mailroom_deliveries_total",
            &[("kind", kind), ("result", result)],
            *n as f64,
        );
    }
    out.family(
        "mailroom_deliveries_waiting",
        "gauge",
        "Deliveries not finished, by kind and state: retrying (pending after a failed attempt) or queued (not tried yet).",
    );
    for (kind, result, n) in deliveries
        .iter()
        .filter(|d| d.1 != "delivered" && d.1 != "dead")
    {
        out.sample(
            "mailroom_deliveries_waiting",
            &[("kind", kind), ("result", result)],
            *n as f64,
        );
    }

    let sources = cursors::all(conn)?;
    out.family(
        "mailroom_source_last_success_timestamp_seconds",
        "gauge",
        "When each source (IMAP folder, local folder, registrar API) last finished a sync, Unix time.",
    );
    for s in &sources {
        if let Some(t) = s.last_sync.as_deref().and_then(seconds) {
            out.sample(
                "mailroom_source_last_success_timestamp_seconds",
                &[("source", &s.source), ("folder", &s.folder)],
                t,
            );
        }
    }
    out.family(
        "mailroom_source_failing",
        "gauge",
        "1 when a source's last attempt failed (mailroom status shows the error), else 0.",
    );
    for s in &sources {
        let failing = s.last_error.is_some();
        out.sample(
            "mailroom_source_failing",
            &[("source", &s.source), ("folder", &s.folder)],
            if failing { 1.0 } else { 0.0 },
        );
    }
    out.family(
        "mailroom_source_last_error_timestamp_seconds",
        "gauge",
        "When each failing source's last error happened, Unix time.",
    );
    for s in &sources {
        if let (Some(_), Some(t)) = (&s.last_error, s.last_error_at.as_deref().and_then(seconds)) {
            out.sample(
                "mailroom_source_last_error_timestamp_seconds",
                &[("source", &s.source), ("folder", &s.folder)],
                t,
            );
        }
    }
    out.family(
        "mailroom_source_messages",
        "gauge",
        "Messages read from each source in all.",
    );
    for s in &sources {
        out.sample(
            "mailroom_source_messages",
            &[("source", &s.source), ("folder", &s.folder)],
            s.messages as f64,
        );
    }
    out.family(
        "mailroom_source_errors_total",
        "counter",
        "Failed attempts of each source since this process started.",
    );
    let errors = live.errors();
    for ((source, folder), n) in &errors {
        out.sample(
            "mailroom_source_errors_total",
            &[("source", source), ("folder", folder)],
            *n as f64,
        );
    }

    let counters = channels::all(conn)?;
    out.family(
        "mailroom_registrar_queue_depth",
        "gauge",
        "Messages the registrar API last reported waiting in its poll queue.",
    );
    for (source, c) in &counters {
        if let Some(q) = c.get("queue") {
            out.sample(
                "mailroom_registrar_queue_depth",
                &[("source", source)],
                *q as f64,
            );
        }
    }
    out.family(
        "mailroom_registrar_acknowledged_total",
        "counter",
        "Messages acknowledged to a registrar API after they were stored.",
    );
    for (source, c) in &counters {
        if let Some(n) = c.get("acknowledged") {
            out.sample(
                "mailroom_registrar_acknowledged_total",
                &[("source", source)],
                *n as f64,
            );
        }
    }
    out.family(
        "mailroom_push_answers_total",
        "counter",
        "Requests to each push receiver, by the HTTP status answered.",
    );
    for (source, c) in &counters {
        for (k, n) in c {
            if let Some(code) = k.strip_prefix("answered ") {
                out.sample(
                    "mailroom_push_answers_total",
                    &[("source", source), ("code", code)],
                    *n as f64,
                );
            }
        }
    }

    out.family(
        "mailroom_feed_consumer_lag",
        "gauge",
        "Events stored after each feed consumer's acknowledged cursor.",
    );
    for c in feed::consumers(conn)? {
        out.sample(
            "mailroom_feed_consumer_lag",
            &[("consumer", &c.name)],
            c.lag as f64,
        );
    }

    out.family(
        "mailroom_intake_latency_seconds",
        "histogram",
        "Time from a wake-up to the commit of what it brought: imap-idle from the server's IDLE notice, imap-poll from the poll of a server without IDLE, poll from a registrar API request.",
    );
    let intake = live.latencies();
    for (channel, h) in &intake {
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(h.buckets) {
            cumulative += n;
            out.sample(
                "mailroom_intake_latency_seconds_bucket",
                &[("channel", channel), ("le", &number(*bound))],
                cumulative as f64,
            );
        }
        out.sample(
            "mailroom_intake_latency_seconds_bucket",
            &[("channel", channel), ("le", "+Inf")],
            h.count as f64,
        );
        out.sample(
            "mailroom_intake_latency_seconds_sum",
            &[("channel", channel)],
            h.sum,
        );
        out.sample(
            "mailroom_intake_latency_seconds_count",
            &[("channel", channel)],
            h.count as f64,
        );
    }

    out.family(
        "mailroom_uptime_seconds",
        "gauge",
        "Seconds since this mailroom process started.",
    );
    out.sample(
        "mailroom_uptime_seconds",
        &[],
        live.uptime().as_secs_f64().floor(),
    );
    out.family(
        "mailroom_alerts_total",
        "counter",
        "mailroom's own alerts raised (mailroom.* events), by topic.",
    );
    for (registrar, topic, n, _) in &tally {
        if registrar == "mailroom" {
            out.sample("mailroom_alerts_total", &[("topic", topic)], *n as f64);
        }
    }
    out.family(
        "mailroom_build_info",
        "gauge",
        "Always 1; the version of the running mailroom as a label.",
    );
    out.sample(
        "mailroom_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    // One reading of the C heap for both of its gauges (mallinfo2 takes every arena's lock).
    let heap = process::heap_bytes();
    for (name, help, value) in [
        (
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            process::resident_bytes(),
        ),
        (
            "process_open_fds",
            "Number of open file descriptors.",
            process::open_fds(),
        ),
        (
            "mailroom_heap_in_use_bytes",
            "Bytes of the C library's heap in use (glibc's mallinfo2: uordblks + hblkhd); Rust's allocations and SQLite's use mimalloc, not this heap.",
            heap.map(|h| h.0),
        ),
        (
            "mailroom_heap_held_bytes",
            "Bytes the C heap holds from the system (glibc's mallinfo2: arena + hblkhd); above what is in use, it is freed memory kept.",
            heap.map(|h| h.1),
        ),
        (
            "mailroom_sqlite_memory_bytes",
            "Memory SQLite holds in this process: page caches (each bounded by its connection's cache_size) and the rest.",
            crate::store::sqlite_memory_bytes(),
        ),
        (
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            process::start_time_seconds(),
        ),
    ] {
        if let Some(v) = value {
            out.family(name, "gauge", help);
            out.sample(name, &[], v);
        }
    }
    Ok(out.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        let mut e = Exposition(String::new());
        e.sample("m", &[("l", "x\"y")], 2.5);
        assert_eq!(e.0, "m{l=\"x\\\"y\"} 2.5\n");
    }
}
