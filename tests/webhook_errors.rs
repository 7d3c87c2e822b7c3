//! A webhook that cannot be reached says why, in words that tell the cases apart
//! (issue 9): nothing listening, no answer in time, a certificate not trusted.

mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::{Certs, HttpResponse, HttpSink};

/// Imports one OpenSRS notification with a webhook rule to `url`, runs `deliver`, and
/// returns the outbox item's last error.
fn last_error_for(url: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mailroom.toml"),
        support::age::any_age("db = \"m.db\"\n[webhook]\ntimeout = \"1s\"\n"),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(
        dir.path().join("rules/10.toml"),
        format!("[[rule]]\nname = \"hook\"\nwebhook = {{ url = \"{url}\" }}\n"),
    )
    .unwrap();
    let eml = dir.path().join("n.eml");
    std::fs::write(
        &eml,
        "From: notifications@opensrs.net\r\nSubject: Event notification: DOMAIN: CREATED: e-1\r\n\r\n\
         {\"object_data\":{\"domain_name\":\"x.example\"},\"object\":\"DOMAIN\",\"event_id\":\"e-1\",\
         \"event\":\"CREATED\",\"event_date\":\"2026-09-09T21:16:22Z\"}\r\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_mailroom"))
            .arg("--config")
            .arg(dir.path().join("mailroom.toml"))
            .args(args)
            .env_remove("MAILROOM_NOW")
            .output()
            .unwrap()
    };
    assert!(run(&["import", eml.to_str().unwrap()]).status.success());
    run(&["deliver"]);
    let out = run(&["outbox", "--all", "--json"]);
    let items: Value = serde_json::from_slice(&out.stdout).unwrap();
    items[0]["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn refused_timed_out_and_tls_failures_read_differently() {
    let port = support::free_port();
    let refused = last_error_for(&format!("http://127.0.0.1:{port}/hook"));
    assert!(refused.contains("connection refused"), "{refused}");

    let slow = HttpSink::start();
    slow.set_response(HttpResponse::status(200).delay(Duration::from_secs(3)));
    let timed_out = last_error_for(&format!("{}/hook", slow.url()));
    assert!(timed_out.contains("timed out"), "{timed_out}");

    let certs = Certs::generate();
    let tls = HttpSink::start_tls(&certs);
    let untrusted = last_error_for(&format!("{}/hook", tls.url()));
    assert!(untrusted.contains("TLS failure"), "{untrusted}");
    assert!(!untrusted.contains("connection refused") && !untrusted.contains("timed out"));
}
