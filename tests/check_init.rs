//! `mailroom check` against real servers (Dovecot, the SMTP sink, an HTTP sink, a closed
//! port), on a config that works and on one that does not; `mailroom init` from flags:
//! the files it writes load, check runs, and nothing is overwritten.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use support::{Certs, Dovecot, HttpSink, SmtpOptions, SmtpSink};

fn mailroom(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailroom"))
        .current_dir(dir)
        .env_remove("MAILROOM_CONFIG")
        .env("MAILROOM_TEST_IMAP_PASSWORD", Dovecot::PASSWORD)
        .args(args)
        .output()
        .unwrap()
}

fn checked(out: &Output) -> Vec<Value> {
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn item<'a>(all: &'a [Value], name: &str) -> &'a Value {
    all.iter()
        .find(|v| v["item"] == name)
        .unwrap_or_else(|| panic!("no {name:?} in {all:?}"))
}

#[test]
fn check_says_what_works_and_what_does_not_and_touches_nothing() {
    let certs = Certs::generate();
    let dovecot = Dovecot::start(&certs);
    dovecot.create_folder("Registrars");
    dovecot.deliver("INBOX", b"Subject: one\r\n\r\nhello\r\n");
    let smtp = SmtpSink::start(SmtpOptions::plain());
    let hook = HttpSink::start();
    let closed = support::free_port();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(
        dir.path().join("rules/10.toml"),
        format!(
            "[[rule]]\nname = \"hook\"\nwhen.topic = \"transfer.out\"\nwebhook = {{ url = \"{}/in?token=abc\" }}\n\
             [[rule]]\nname = \"gone\"\nwhen.topic = \"domain.expired\"\nwebhook = {{ url = \"http://127.0.0.1:{closed}/x\" }}\n",
            hook.url()
        ),
    )
    .unwrap();
    let good_account = format!(
        "[[account]]\nname = \"box\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n\
         username = \"{}\"\npassword_env = \"MAILROOM_TEST_IMAP_PASSWORD\"\n\
         folders = [\"INBOX\", \"Registrars\"]\nafter = \"move\"\nmove_to = \"Done\"\n",
        dovecot.imap_port(),
        Dovecot::USER
    );
    std::fs::write(
        dir.path().join("mailroom.toml"),
        format!(
            "db = \"m.db\"\n{good_account}\
             [[account]]\nname = \"wrong\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n\
             username = \"{}\"\npassword_env = \"NO_SUCH_MAILROOM_VAR\"\n\
             [[maildir]]\nname = \"drop\"\npath = \"no-such-folder\"\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n",
            dovecot.imap_port(),
            Dovecot::USER,
            smtp.port()
        ),
    )
    .unwrap();
    let out = mailroom(dir.path(), &["check", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = checked(&out);
    assert_eq!(item(&all, "imap box")["ok"], true, "{all:?}");
    assert_eq!(
        item(&all, "imap box folder INBOX")["detail"],
        "1 message(s)"
    );
    assert_eq!(item(&all, "imap box folder Registrars")["ok"], true);
    let done = item(&all, "imap box move_to Done");
    assert_eq!(done["ok"], false);
    assert!(
        done["detail"].as_str().unwrap().contains("set move_to"),
        "{done}"
    );
    let wrong = item(&all, "imap wrong");
    assert_eq!(wrong["ok"], false);
    assert!(
        wrong["detail"]
            .as_str()
            .unwrap()
            .contains("NO_SUCH_MAILROOM_VAR"),
        "{wrong}"
    );
    assert_eq!(item(&all, "folder drop")["ok"], false);
    let s = item(&all, "smtp");
    assert_eq!(s["ok"], true, "{s}");
    assert!(s["detail"].as_str().unwrap().contains("nothing sent"));
    let reached = all
        .iter()
        .find(|v| {
            v["item"]
                .as_str()
                .unwrap()
                .starts_with("webhook http://127.0.0.1:")
                && v["ok"] == true
        })
        .unwrap_or_else(|| panic!("{all:?}"));
    // The token in the URL is not shown.
    assert!(
        !reached["item"].as_str().unwrap().contains("abc"),
        "{reached}"
    );
    let gone = item(&all, &format!("webhook http://127.0.0.1:{closed}/x"));
    assert_eq!(gone["ok"], false);
    // Nothing was sent, requested or created.
    assert!(smtp.received().is_empty());
    assert_eq!(hook.requests().len(), 0);
    assert!(!dir.path().join("m.db").exists());

    // The same account alone, folders that exist: everything ok, exit 0.
    std::fs::write(dir.path().join("rules/10.toml"), "").unwrap();
    std::fs::write(
        dir.path().join("mailroom.toml"),
        good_account.replace("after = \"move\"\nmove_to = \"Done\"\n", ""),
    )
    .unwrap();
    let out = mailroom(dir.path(), &["check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.lines().all(|l| l.starts_with("ok ")), "{text}");
}

#[test]
fn init_writes_a_config_that_loads_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let out = mailroom(
        dir.path(),
        &[
            "init",
            "--provider",
            "microsoft365",
            "--username",
            "notifications@reseller.example",
            "--forward-to",
            "ops@reseller.example",
            "--client-id",
            "0f3c-app",
            "--no-check",
        ],
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("mailroom oauth2 login mailbox"), "{said}");
    // What it wrote loads, and says how the mailbox logs in.
    let status = mailroom(dir.path(), &["providers"]);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let config = std::fs::read_to_string(dir.path().join("mailroom.toml")).unwrap();
    assert!(config.contains("provider = \"microsoft365\""), "{config}");
    assert!(
        config.contains("token_file = \"mailbox.token\""),
        "{config}"
    );
    // Not a second time.
    let again = mailroom(
        dir.path(),
        &[
            "init",
            "--host",
            "imap.example.net",
            "--username",
            "u",
            "--forward-to",
            "o@example.net",
            "--no-check",
        ],
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("never overwrites"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("mailroom.toml")).unwrap(),
        config
    );
    // Without a terminal, what is missing is named.
    let other = tempfile::tempdir().unwrap();
    let out = mailroom(other.path(), &["init", "--host", "imap.example.net"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--username is required"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_oauth2_account_without_its_token_file_is_refused_at_start_with_the_command_to_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(
        dir.path().join("mailroom.toml"),
        "db = \"m.db\"\n[[account]]\nname = \"m365\"\nhost = \"127.0.0.1\"\nport = 9\ntls = \"none\"\n\
         username = \"n@reseller.example\"\nauth = \"xoauth2\"\n\
         [account.oauth2]\ntoken_url = \"http://127.0.0.1:9/token\"\nclient_id = \"app\"\n\
         token_file = \"m365.token\"\n",
    )
    .unwrap();
    let out = mailroom(dir.path(), &["watch", "--once"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("mailroom.toml:12:1"), "{said}");
    assert!(said.contains("run `mailroom oauth2 login m365`"), "{said}");
    assert!(!dir.path().join("m.db").exists());
}
