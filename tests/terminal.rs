//! The terminal as people meet it, through the real binary: listings fit the screen
//! they are printed on (driven through a real pseudo-terminal with its width set, as
//! `stty cols 80` would), long domains keep their end, `--wide` and pipes keep every
//! value whole; times read one way (`2026-11-20 14:30`, local); `outbox --all` says
//! when each item was delivered; `digest --html` writes only the page; and errors
//! about the config name the setting to fix, with no Rust debug text.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "support/age.rs"]
mod age;

const LONG_DOMAIN: &str = "a-very-long-registration-name-for-testing.example.com";
const HOOK: &str = "http://127.0.0.1:9/a/very/long/webhook/path/that/goes/on/and/on/to/the/end";

/// Every listing a person reads.
const LISTINGS: &[&[&str]] = &[
    &["events"],
    &["events", "--stats"],
    &["quarantine"],
    &["topics"],
    &["outbox"],
    &["outbox", "--all"],
    &["status"],
    &["digest", "daily", "--preview"],
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A working directory with a config, rules (a digest, a webhook nobody listens to, a
/// forward into mail files) and a folder of mail: samples, an event for a very long
/// domain name, and a message that gives no event.
struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let env = Env {
            dir: tempfile::tempdir().unwrap(),
        };
        for dir in ["work/out", "work/inbox", "work/rules"] {
            std::fs::create_dir_all(env.path(dir)).unwrap();
        }
        env
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn write(&self, p: &str, text: &str) -> PathBuf {
        let path = self.path(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mailroom"));
        c.current_dir(self.path("work"))
            .env_remove("MAILROOM_CONFIG")
            .env_remove("RUST_LOG")
            .env_remove("COLUMNS")
            .env("MAILROOM_NOW", "2026-11-20T13:30:00Z")
            .env("XDG_CONFIG_HOME", self.path("xdg"))
            .env("HOME", self.path("home"))
            .env("TZ", "Europe/Berlin");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Stdout of a run on a pipe (not a terminal).
    fn piped(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Stdout of a run on a pseudo-terminal `cols` wide (stderr kept apart).
    fn on_terminal(&self, cols: u16, args: &[&str]) -> String {
        self.on_terminal_with(self.cmd(), cols, &self.path("pty-stderr"), args)
    }

    fn on_terminal_with(&self, c: Command, cols: u16, err: &Path, args: &[&str]) -> String {
        // python3's pty module: the child gets the terminal as its stdout, sized
        // before mailroom starts, so nothing races the window size.
        let script = r#"
import os, pty, sys, fcntl, termios, struct
cols, err, argv = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
    os.dup2(os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 2)
    os.execv(argv[0], argv)
out = b""
while True:
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(out.replace(b"\r\n", b"\n"))
sys.exit(os.waitstatus_to_exitcode(status))
"#;
        let mut py = Command::new("python3");
        py.current_dir(self.path("work"));
        for (k, v) in c.get_envs() {
            match v {
                Some(v) => py.env(k, v),
                None => py.env_remove(k),
            };
        }
        let out = py
            .arg("-c")
            .arg(script)
            .arg(cols.to_string())
            .arg(err)
            .arg(c.get_program())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?} on a terminal: {}{}",
            stderr(&out),
            std::fs::read_to_string(err).unwrap_or_default()
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn widest(text: &str) -> usize {
    text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

/// The listing world: mail read once through `watch --once`, one forward delivered
/// into a mail file, webhooks waiting, a message in quarantine.
fn listings() -> Env {
    let env = Env::new();
    env.write(
        "work/mailroom.toml",
        &age::any_age(
            "db = \"m.db\"\n[smtp]\ndir = \"out\"\n[[maildir]]\nname = \"local\"\npath = \"inbox\"\n",
        ),
    );
    env.write(
        "work/rules/10.toml",
        &format!(
            r#"
[[rule]]
name = "transfers-to-a-webhook-with-a-long-name"
when.topic = "/^transfer\\./"
webhook.url = "{HOOK}"

[[rule]]
name = "created"
when.topic = "domain.created"
forward = {{ to = ["ops@example.com"] }}

[[rule]]
name = "all"
digest = "daily"

[[digest]]
name = "daily"
at = "08:00"
timezone = "Europe/Berlin"
to = ["owner@example.com"]
"#
        ),
    );
    for s in [
        "opensrs-domain-created.eml",
        "opensrs-transfer-status-change.eml",
        "autodns-notify-transfer-start.eml",
        "gandi-domain-transfer-out.eml",
    ] {
        let from = root().join("samples").join(s);
        {
            std::fs::copy(from, env.path(&format!("work/inbox/{s}"))).unwrap();
        }
    }
    env.write(
        "work/inbox/long.eml",
        &format!(
            "From: notifications@opensrs.net\r\nTo: ops@example.com\r\n\
             Subject: Event notification: DOMAIN: CREATED: long\r\n\r\n\
             {{\"object_data\":{{\"domain_name\":\"{LONG_DOMAIN}\",\"domain_id\":\"1\"}},\
             \"object\":\"DOMAIN\",\"event_id\":\"long-1\",\"event\":\"CREATED\",\
             \"event_date\":\"2026-11-20T10:05:00Z\"}}\r\n"
        ),
    );
    env.write(
        "work/inbox/nothing.eml",
        "From: someone.with.a.long.address@registrar-notifications.example.net\r\n\
         To: ops@example.com\r\nSubject: A rather long subject line that says nothing \
         useful about any domain at all, really\r\n\r\nhello\r\n",
    );
    let out = env.run(&["watch", "--once"]);
    // The webhook's address refuses: those items wait, which is what outbox shows.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    env
}

#[test]
fn every_listing_fits_an_80_column_terminal_and_long_domains_keep_their_end() {
    let env = listings();
    for args in LISTINGS {
        let text = env.on_terminal(80, args);
        assert!(text.lines().count() > 1, "{args:?} printed nothing: {text}");
        assert!(widest(&text) <= 80, "{args:?} is wider than 80:\n{text}");
    }
    let events = env.on_terminal(80, &["events"]);
    assert!(!events.contains(LONG_DOMAIN), "{events}");
    let tail = &LONG_DOMAIN[LONG_DOMAIN.len() - 12..];
    assert!(
        events.lines().any(|l| l.contains(tail) && l.contains('…')),
        "the long domain should keep its end ({tail}):\n{events}"
    );
    assert!(
        events
            .lines()
            .any(|l| l.contains("…") && l.contains(".example.com")),
        "{events}"
    );
    // A narrower screen still fits.
    for args in [&["events"][..], &["outbox"], &["topics"]] {
        let text = env.on_terminal(60, args);
        assert!(widest(&text) <= 60, "{args:?} at 60:\n{text}");
    }
}

#[test]
fn wide_and_piped_listings_keep_every_value_whole() {
    let env = listings();
    for args in [
        &["events", "--wide"][..],
        &["outbox", "--wide"],
        &["topics", "--wide"],
        &["status", "--wide"],
        &["quarantine", "--wide"],
    ] {
        let text = env.on_terminal(80, args);
        assert!(widest(&text) > 80, "{args:?} should not be cut:\n{text}");
    }
    assert!(
        env.on_terminal(80, &["events", "--wide"])
            .contains(LONG_DOMAIN)
    );
    assert!(env.on_terminal(80, &["outbox", "--wide"]).contains(HOOK));
    // Piped: the same listing, whole, with or without --wide.
    let piped = env.piped(&["events"]);
    assert!(piped.contains(LONG_DOMAIN), "{piped}");
    assert_eq!(piped, env.piped(&["events", "--wide"]));
    assert!(env.piped(&["outbox"]).contains(HOOK));
    let quarantine = env.piped(&["quarantine"]);
    assert!(
        quarantine.contains("subject \"A rather long subject line that says nothing useful about any domain at all, really\": "),
        "{quarantine}"
    );
    for args in LISTINGS {
        assert!(
            !env.piped(args).contains('…'),
            "{args:?} cut a value on a pipe"
        );
    }
}

#[test]
fn columns_sets_the_width_on_a_terminal() {
    let env = listings();
    let mut c = env.cmd();
    c.env("COLUMNS", "100");
    let err = env.path("err");
    let text = env.on_terminal_with(c, 60, &err, &["events"]);
    let w = widest(&text);
    assert!(
        w > 60 && w <= 100,
        "COLUMNS=100 should win over the 60 of the terminal: {w}\n{text}"
    );
}

#[test]
fn human_times_read_as_local_minutes_and_json_keeps_utc() {
    let env = listings();
    // 10:05 UTC is 11:05 in Berlin; first seen at MAILROOM_NOW, 13:30 UTC → 14:30.
    let events = env.piped(&["events", "--domain", LONG_DOMAIN]);
    assert!(events.contains("2026-11-20 11:05 "), "{events}");
    let json = env.piped(&["events", "--json", "--domain", LONG_DOMAIN]);
    assert!(json.contains("\"2026-11-20T10:05:00Z\""), "{json}");
    let stamp = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d").unwrap();
    let minute = regex::Regex::new(r"\b2026-11-2\d \d\d:\d\d\b").unwrap();
    let id = serde_json::from_str::<serde_json::Value>(&json).unwrap()[0]["id"].to_string();
    for args in [
        &["events", "show", id.as_str()][..],
        &["quarantine"],
        &["outbox", "--all"],
        &["status"],
    ] {
        let text = env.piped(args);
        // The payload is the registrar's own data, shown as it came.
        let text = text.split("\n  payload\n").next().unwrap();
        assert!(
            !stamp.is_match(text),
            "{args:?} printed an RFC 3339 stamp:\n{text}"
        );
        assert!(
            minute.is_match(text),
            "{args:?} printed no local time:\n{text}"
        );
    }
    let show = env.piped(&["events", "show", &id]);
    assert!(show.contains("occurred    2026-11-20 11:05"), "{show}");
    assert!(show.contains("first 2026-11-20 14:30"), "{show}");
    let quarantine = env.piped(&["quarantine"]);
    assert!(
        quarantine.contains(" 2026-11-20 14:30 from "),
        "{quarantine}"
    );
    let apply = env.piped(&["rules", "apply", "--since", "2026-11-20", "--dry-run"]);
    assert!(
        apply.contains(" events since 2026-11-20 00:00: "),
        "{apply}"
    );
}

#[test]
fn outbox_all_says_when_each_item_was_delivered() {
    let env = listings();
    let all = env.piped(&["outbox", "--all"]);
    let delivered: Vec<&str> = all.lines().filter(|l| l.contains(" done ")).collect();
    assert!(!delivered.is_empty(), "{all}");
    for line in delivered {
        assert!(line.ends_with("delivered 2026-11-20 14:30"), "{line}");
    }
    let open = env.piped(&["outbox"]);
    assert!(!open.contains("delivered"), "{open}");
    assert!(open.contains("next 2026-11-20 14:3"), "{open}");
}

#[test]
fn digest_html_preview_writes_only_the_page() {
    let env = listings();
    let out = env.run(&["digest", "daily", "--preview", "--html"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let page = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(!page.contains("Subject: "), "{page}");
    assert!(
        stderr(&out).contains("Subject: [mailroom] daily"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["digest", "daily", "--html", "--headers"]);
    let with = String::from_utf8(out.stdout).unwrap();
    assert!(with.starts_with("Subject: [mailroom] daily"), "{with}");
    assert!(
        with.contains("To: owner@example.com\n\n<!DOCTYPE html>"),
        "{with}"
    );
    // The text keeps its headers on stdout, as it always did.
    assert!(env.piped(&["digest", "daily"]).starts_with("Subject: "));
}

/// No Rust debug text and no OS decoration in a message for people.
fn assert_plain(text: &str) {
    for debug in ["Os {", "code:", "kind:", "Error(", "os error", "0:0:"] {
        assert!(!text.contains(debug), "debug text {debug:?} in: {text}");
    }
}

#[test]
fn a_config_option_naming_a_folder_says_to_name_the_file() {
    let env = Env::new();
    std::fs::create_dir_all(env.path("work/conf")).unwrap();
    let out = env.run(&["--config", "conf", "events"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_plain(&err);
    assert!(
        err.contains("--config conf: is a folder") && err.contains("conf/mailroom.toml"),
        "{err}"
    );
    let out = env
        .cmd()
        .env("MAILROOM_CONFIG", "conf")
        .arg("status")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_plain(&err);
    assert!(err.contains("MAILROOM_CONFIG=conf: is a folder"), "{err}");
}

#[test]
fn a_missing_maildir_fails_before_any_run_naming_its_config_line() {
    let env = Env::new();
    env.write(
        "work/mailroom.toml",
        "db = \"m.db\"\n\n[[maildir]]\nname = \"registrars\"\npath = \"no/such/folder\"\n",
    );
    for args in [&["watch", "--once"][..], &["rules", "check"]] {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert_plain(&err);
        assert!(
            err.contains("mailroom.toml:5:1: [[maildir]] registrars: folder ")
                && err.contains("no/such/folder does not exist")
                && err.contains("set path"),
            "{args:?}: {err}"
        );
        // Failed before the run: no summary of a run that read nothing.
        assert!(!err.contains("messages:"), "{err}");
        assert!(out.stdout.is_empty());
    }
    assert!(!env.path("work/m.db").exists());
}

#[test]
fn a_rules_setting_naming_a_file_says_it_must_name_the_folder() {
    let env = Env::new();
    env.write(
        "work/mailroom.toml",
        "db = \"m.db\"\nrules = \"rules/10.toml\"\n",
    );
    env.write(
        "work/rules/10.toml",
        "[[rule]]\nname = \"x\"\nwhen.kind = \"test\"\nstop = true\n",
    );
    for args in [&["rules", "check"][..], &["digest", "daily"], &["topics"]] {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert_plain(&err);
        assert!(
            err.contains("mailroom.toml:2:1: rules = ")
                && err.contains("names a file")
                && err.contains("set rules = \"rules\""),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn help_cites_only_documents_in_the_repository() {
    use clap::CommandFactory;
    fn walk(cmd: &mut clap::Command, path: &str, found: &mut Vec<(String, String)>) {
        found.push((path.to_string(), cmd.render_long_help().to_string()));
        let names: Vec<String> = cmd
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .collect();
        for name in names {
            let sub = cmd.find_subcommand_mut(&name).unwrap();
            walk(sub, &format!("{path} {name}"), found);
        }
    }
    let mut helps = Vec::new();
    walk(&mut mailroom::cli::Cli::command(), "mailroom", &mut helps);
    assert!(helps.len() > 15);
    let doc = regex::Regex::new(r"[\w./-]+\.md\b").unwrap();
    for (path, text) in &helps {
        for gone in ["DESIGN", "§"] {
            assert!(
                !text.contains(gone),
                "{path} --help cites {gone:?}:\n{text}"
            );
        }
        for m in doc.find_iter(text) {
            assert!(
                root().join(m.as_str()).exists(),
                "{path} --help cites {}, which is not in the repository",
                m.as_str()
            );
        }
    }
}
