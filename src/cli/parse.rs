//! `mailroom parse [--json] FILE…`: the extractors on files, with no database.

use std::io::{Read, Write};
use std::path::PathBuf;

use serde::Serialize;

use super::{EXIT_ERROR, EXIT_OK};
use crate::event::Event;
use crate::extract;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one JSON array of every event (the fields of docs/EVENTS.md plus
    /// "source").
    #[arg(long)]
    json: bool,
    /// Email files (`-` reads one message from standard input).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// An event as `parse --json` prints it: the event and the file it came from.
#[derive(Serialize)]
struct Sourced<'a> {
    #[serde(flatten)]
    event: &'a Event,
    source: String,
}

pub fn run(args: &Args) -> anyhow::Result<u8> {
    let mut all: Vec<(String, Event)> = Vec::new();
    let mut failed = false;
    // Stdout is line-buffered: pretty JSON would cost one write() per line.
    let mut out = std::io::BufWriter::with_capacity(64 << 10, std::io::stdout().lock());
    for path in &args.files {
        let source = path.display().to_string();
        let raw = match read_input(path) {
            Ok(raw) => raw,
            Err(e) => {
                eprintln!("{source}: cannot read: {e}");
                failed = true;
                continue;
            }
        };
        let found = extract::extract(&raw);
        if found.events.is_empty() {
            let reason = found.reason.unwrap_or_default();
            eprintln!("{source}: no notification found: {reason}");
            failed = true;
            continue;
        }
        for event in found.events {
            if !args.json {
                writeln!(out, "{}", summary_line(&source, &event))?;
            }
            all.push((source.clone(), event));
        }
    }
    if args.json {
        let sourced: Vec<Sourced> = all
            .iter()
            .map(|(source, event)| Sourced {
                event,
                source: source.clone(),
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &sourced)?;
        writeln!(out)?;
    }
    out.flush()?;
    Ok(if failed { EXIT_ERROR } else { EXIT_OK })
}

fn read_input(path: &PathBuf) -> std::io::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin().lock().read_to_end(&mut buf)?;
        return Ok(buf);
    }
    std::fs::read(path)
}

/// One line per event for people: what, where, which state.
pub fn summary_line(source: &str, e: &Event) -> String {
    format!(
        "{source}: {} {} {} [{}] {} {} ({})",
        e.registrar,
        e.topic,
        e.event_type,
        e.kind.as_str(),
        e.domain.as_deref().unwrap_or("-"),
        e.status.as_deref().unwrap_or("-"),
        e.event_id
    )
}
