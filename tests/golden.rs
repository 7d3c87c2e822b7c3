//! The golden corpus: every `samples/*.eml` must give exactly the events of the `.json`
//! beside it (written from the registrars' documentation), every hostile message in
//! `samples/malformed/` and the public MIME corpora must be quarantined with a reason.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mailroom::event::{Format, Kind, Registrar};
use mailroom::extract::extract;
use mailroom::topics::TOPICS;
use serde_json::Value;

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    out.sort();
    out
}

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

/// Every difference between two JSON values, as `path: expected X, got Y` lines.
fn diff(path: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = format!("{path}.{k}");
                match b.get(k) {
                    Some(w) => diff(&p, v, w, out),
                    None => out.push(format!("{p}: missing (expected {v})")),
                }
            }
            for k in b.keys().filter(|k| !a.contains_key(*k)) {
                out.push(format!("{path}.{k}: unexpected (got {})", b[k]));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                diff(&format!("{path}[{i}]"), v, w, out);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            out.push(format!(
                "{path}: expected {} items, got {}",
                a.len(),
                b.len()
            ));
        }
        _ if want != got => out.push(format!("{path}: expected {want}, got {got}")),
        _ => {}
    }
}

/// The golden corpora: samples/, samples/extra/, samples/field/ (what registrars
/// really send beyond the seed examples) and samples/relayed/ (notifications as a
/// person's mail client passed them on: format=flowed, Outlook HTML forwards, quoted
/// replies), each written independently from the registrars' documentation.
fn golden_emls() -> Vec<PathBuf> {
    let mut emls = files(&samples(), "eml");
    for dir in ["extra", "field", "relayed"] {
        emls.extend(files(&samples().join(dir), "eml"));
    }
    emls
}

#[test]
fn every_sample_gives_its_golden_events() {
    let emls = golden_emls();
    assert!(emls.len() >= 100, "only {} samples", emls.len());
    let mut failures = Vec::new();
    for eml in &emls {
        let golden = eml.with_extension("json");
        let want: Value = match std::fs::read(&golden) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{}: {e}", golden.display())),
            Err(e) => {
                failures.push(format!("{}: no golden file ({e})", golden.display()));
                continue;
            }
        };
        let found = extract(&std::fs::read(eml).unwrap());
        let got = serde_json::to_value(&found.events).unwrap();
        let mut lines = Vec::new();
        diff("events", &want, &got, &mut lines);
        if !lines.is_empty() {
            if let Some(reason) = &found.reason {
                lines.push(format!("(quarantine reason: {reason})"));
            }
            failures.push(format!("{}:\n  {}", eml.display(), lines.join("\n  ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} samples differ from their golden events:\n{}",
        failures.len(),
        emls.len(),
        failures.join("\n")
    );
}

#[test]
fn the_samples_cover_every_documented_name_and_format() {
    let mut events = Vec::new();
    for golden in golden_emls().iter().map(|e| e.with_extension("json")) {
        let v: Vec<Value> = serde_json::from_slice(&std::fs::read(&golden).unwrap()).unwrap();
        events.extend(v);
    }
    let has = |registrar: Registrar, name: &str| {
        events.iter().any(|e| {
            let r = e["registrar"] == registrar.as_str();
            let t = e["type"].as_str().unwrap_or_default();
            let object = e["data"]["object"].as_str().unwrap_or_default();
            match registrar {
                Registrar::Opensrs => r && format!("{} {t}", object.to_uppercase()) == name,
                Registrar::Autodns if name == "job" => r && e["kind"] == "job" && t != "panData",
                _ => r && t == name,
            }
        })
    };
    let missing: Vec<&str> = TOPICS
        .iter()
        .filter(|t| !t.announced_only && t.name != "trnData")
        .filter(|t| !has(t.registrar, t.name))
        .map(|t| t.name)
        .collect();
    assert!(missing.is_empty(), "no sample for {missing:?}");
    for format in [
        Format::Json,
        Format::Xml,
        Format::OpsXml,
        Format::Epp,
        Format::PythonLiteral,
        Format::Text,
    ] {
        assert!(
            events.iter().any(|e| e["format"] == format.as_str()),
            "no sample in format {}",
            format.as_str()
        );
    }
    for kind in [Kind::Event, Kind::Job, Kind::Test] {
        assert!(
            events.iter().any(|e| e["kind"] == kind.as_str()),
            "no {kind:?} sample"
        );
    }
}

/// Quarantined with a one-line reason, promptly. The time bound only catches hangs:
/// speed is measured by `cargo bench`.
fn assert_quarantined(path: &Path, raw: &[u8]) {
    let started = Instant::now();
    let found = extract(raw);
    let took = started.elapsed();
    assert!(
        found.events.is_empty(),
        "{}: gave events {:?}",
        path.display(),
        found.events
    );
    let reason = found.reason.unwrap_or_default();
    assert!(!reason.trim().is_empty(), "{}: no reason", path.display());
    assert!(
        !reason.contains('\n'),
        "{}: reason is not one line: {reason}",
        path.display()
    );
    assert!(
        took < Duration::from_secs(10),
        "{}: took {took:?}",
        path.display()
    );
}

#[test]
fn malformed_samples_are_quarantined() {
    let emls = files(&samples().join("malformed"), "eml");
    assert!(emls.len() >= 6, "only {} malformed samples", emls.len());
    for eml in emls {
        assert_quarantined(&eml, &std::fs::read(&eml).unwrap());
    }
}

#[test]
fn public_mime_corpora_are_quarantined() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpora/mime-robustness");
    let mut n = 0;
    for dir in ["malformed", "thirdparty"] {
        for eml in files(&root.join(dir), "eml") {
            assert_quarantined(&eml, &std::fs::read(&eml).unwrap());
            n += 1;
        }
    }
    assert!(n >= 40, "only {n} corpus messages");
}
