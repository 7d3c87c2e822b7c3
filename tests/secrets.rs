//! Secrets printed by a command never hang mailroom (issue 9): a `password_command`
//! that does not finish is stopped at its time limit, and a failing one is reported
//! with what it wrote on stderr.

use std::process::Command;
use std::time::{Duration, Instant};

fn deliver_with(password_command: &str) -> (String, Duration) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mailroom.toml"),
        format!(
            "db = \"m.db\"\n[smtp]\nhost = \"127.0.0.1\"\nport = 9\ntls = \"none\"\n\
             username = \"u\"\npassword_command = \"{password_command}\"\n"
        ),
    )
    .unwrap();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_mailroom"))
        .arg("--config")
        .arg(dir.path().join("mailroom.toml"))
        .arg("deliver")
        .env_remove("MAILROOM_NOW")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    (
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn regression_a_hanging_password_command_is_stopped_after_ten_seconds() {
    let (err, took) = deliver_with("sleep 300");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert!(
        err.contains("smtp password: password_command: the command did not finish within 10 s"),
        "{err}"
    );
}

#[test]
fn a_failing_password_command_reports_its_stderr() {
    let (err, _) = deliver_with("echo keyring locked >&2; exit 4");
    assert!(
        err.contains("password_command: the command exited with status 4: keyring locked"),
        "{err}"
    );
}
