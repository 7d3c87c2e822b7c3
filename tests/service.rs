//! The service as a new user meets it: configs that cannot work refused at load with
//! `file:line:column: reason`, a rules folder with nothing in it warned about, SIGHUP
//! reloading (and refusing a bad new set), and exit codes scripts can trust.

use std::path::{Path, PathBuf};

#[path = "support/age.rs"]
mod age;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    /// A config with a local folder source (`inbox/`) and the given extra lines.
    fn new(config: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("inbox")).unwrap();
        std::fs::create_dir_all(dir.path().join("rules")).unwrap();
        std::fs::write(dir.path().join("mailroom.toml"), age::any_age(config)).unwrap();
        Env { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn rules(&self, name: &str, text: &str) {
        std::fs::write(self.path("rules").join(name), text).unwrap();
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mailroom"));
        c.arg("--config").arg(self.path("mailroom.toml")).args(args);
        c.env_remove("MAILROOM_NOW").env_remove("RUST_LOG");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs and expects exit 1; returns stderr.
    fn refused(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?} was not refused: {err}"
        );
        err
    }
}

const LOCAL: &str = "db = \"m.db\"\n[[maildir]]\nname = \"local\"\npath = \"inbox\"\n";

fn notification(i: usize, status: &str) -> String {
    format!(
        "From: OpenSRS <notifications@opensrs.net>\r\nTo: reseller@example.com\r\n\
         Subject: Event notification: TRANSFER: STATUS_CHANGE: sv-{i}\r\n\
         Message-ID: <sv-{i}@opensrs.net>\r\nDate: Fri, 20 Nov 2026 07:00:00 +0000\r\n\r\n\
         {{\"object_data\":{{\"domain_name\":\"d{i}.example\",\"transfer_id\":\"1\",\"order_id\":0,\
         \"transfer_status\":\"{status}\"}},\"object\":\"TRANSFER\",\"event_id\":\"sv-{i}\",\
         \"event\":\"STATUS_CHANGE\",\"event_date\":\"2026-11-20T06:59:00Z\"}}\r\n"
    )
}

#[test]
fn a_rules_folder_that_does_not_exist_is_refused_by_check_and_watch() {
    let env = Env::new(&format!("rules = \"ruels\"\n{LOCAL}"));
    for args in [&["rules", "check"][..], &["watch", "--once"], &["watch"]] {
        let err = env.refused(args);
        assert!(
            err.contains("mailroom.toml:1:1: rules folder") && err.contains("ruels does not exist"),
            "{args:?}: {err}"
        );
    }
    assert!(!env.path("m.db").exists() || env.run(&["events"]).status.success());
}

#[test]
fn topics_and_registrars_no_notification_has_are_refused_with_suggestions() {
    let env = Env::new(LOCAL);
    env.rules(
        "10.toml",
        "[[rule]]\nname = \"t\"\nwhen.topic = \"transfer\"\nforward = { to = \"a@example.com\" }\n",
    );
    let err = env.refused(&["rules", "check"]);
    assert!(err.contains("10.toml:3:14: when.topic"), "{err}");
    assert!(
        err.contains("did you mean \"transfer.in\", \"transfer.out\"")
            || err.contains("did you mean \"transfer.out\", \"transfer.in\""),
        "{err}"
    );
    env.rules(
        "10.toml",
        "[[rule]]\nname = \"t\"\nwhen.topic = [\"transfer.out\", \"domian.expired\"]\nwhen.registrar = \"opnesrs\"\nforward = { to = \"a@example.com\" }\n",
    );
    let err = env.refused(&["watch", "--once"]);
    assert!(err.contains("did you mean \"domain.expired\""), "{err}");
    assert!(err.contains("did you mean \"opensrs\""), "{err}");
    // A regular expression that matches no topic at all is refused too; one that
    // matches some is fine, and `rules test --topic` agrees with the matcher.
    env.rules(
        "10.toml",
        "[[rule]]\nname = \"t\"\nwhen.topic = \"/^transfer\\\\./\"\nforward = { to = \"a@example.com\" }\n",
    );
    let out = env.run(&["rules", "check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = env.refused(&["rules", "test", "--topic", "transfer"]);
    assert!(err.contains("did you mean"), "{err}");
    let out = env.run(&["rules", "test", "--topic", "transfer.out"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_template_variable_that_does_not_exist_is_refused() {
    let env = Env::new(LOCAL);
    env.rules(
        "10.toml",
        "[[rule]]\nname = \"t\"\nforward = { to = \"a@example.com\", subject = \"{{ domian }} {{ status }}\" }\n",
    );
    let err = env.refused(&["rules", "check"]);
    assert!(
        err.contains("10.toml:3:") && err.contains("template variable \"domian\" does not exist"),
        "{err}"
    );
}

#[test]
fn secrets_that_cannot_be_read_are_refused_at_start() {
    let env = Env::new(&format!(
        "{LOCAL}[smtp]\nhost = \"127.0.0.1\"\nusername = \"u\"\npassword_env = \"MR_UNSET_SMTP_PASSWORD\"\n"
    ));
    let err = env.refused(&["watch", "--once"]);
    assert!(
        err.contains(
            "mailroom.toml:8:1: [smtp]: environment variable MR_UNSET_SMTP_PASSWORD is not set"
        ),
        "{err}"
    );
    let env = Env::new(&format!(
        "{LOCAL}[smtp]\nhost = \"127.0.0.1\"\nusername = \"u\"\npassword_command = \"echo vault is sealed >&2; exit 3\"\n"
    ));
    let err = env.refused(&["rules", "check"]);
    assert!(err.contains("mailroom.toml:8:1"), "{err}");
    assert!(
        err.contains("vault is sealed"),
        "the command's stderr is shown: {err}"
    );
    let env = Env::new(LOCAL);
    env.rules(
        "10.toml",
        "[[rule]]\nname = \"hook\"\nwebhook = { url = \"https://hooks.example.com/x\", secret_env = \"MR_UNSET_HOOK\" }\n",
    );
    let err = env.refused(&["watch", "--once"]);
    assert!(
        err.contains("10.toml:3:11: rule \"hook\": webhook secret: environment variable MR_UNSET_HOOK is not set"),
        "{err}"
    );
    let out = env
        .cmd(&["rules", "check"])
        .env("MR_UNSET_HOOK", "x")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_config_key_typo_names_its_line_and_the_allowed_keys() {
    let env = Env::new(
        "db = \"m.db\"\n[[account]]\nname = \"a\"\nhost = \"localhost\"\nusername = \"u\"\npasword_env = \"X\"\n",
    );
    let err = env.refused(&["status"]);
    assert!(
        err.contains("mailroom.toml:6:1: unknown field `pasword_env`"),
        "{err}"
    );
    assert!(
        err.contains("`password_env`") && err.contains("`password_command`"),
        "{err}"
    );
}

#[test]
fn an_empty_rules_folder_is_a_warning_not_an_error() {
    let env = Env::new(LOCAL);
    let out = env.run(&["rules", "check"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("WARN") && err.contains("holds no rule"),
        "{err}"
    );
}

#[test]
fn status_and_watch_once_exit_1_when_something_failed() {
    let env = Env::new(&format!(
        "{LOCAL}[smtp]\nhost = \"127.0.0.1\"\nport = 1\ntls = \"none\"\n"
    ));
    env.rules(
        "10.toml",
        "[[rule]]\nname = \"all\"\nforward = { to = \"a@example.com\" }\n",
    );
    std::fs::write(env.path("inbox/1.eml"), notification(1, "completed")).unwrap();
    // The message is read and stored, the forward fails: exit 1, as deliver does.
    let out = env.run(&["watch", "--once", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["events_new"], 1);
    assert_eq!(report["delivery"]["failed"], 1);
    // status counts messages read from the local folder and is healthy so far.
    let out = env.run(&["status", "--json"]);
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st["folders"][0]["messages"], 1, "{st}");
    assert_eq!(out.status.code(), Some(0), "{st}");
    // A folder that went away: watch refuses to start, naming the setting.
    std::fs::remove_dir_all(env.path("inbox")).unwrap();
    let out = env.run(&["watch", "--once"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("[[maildir]] local: folder"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A source whose last attempt failed (as a running service records it): exit 1,
    // naming it.
    let store = mailroom::store::Store::open(&env.path("m.db")).unwrap();
    mailroom::store::cursors::failed(store.conn(), "local", "", "inbox: gone").unwrap();
    drop(store);
    let out = env.run(&["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("local: last attempt failed"));
    let st: serde_json::Value =
        serde_json::from_slice(&env.run(&["status", "--json"]).stdout).unwrap();
    assert!(
        st["folders"][0]["last_error"].is_string() && st["folders"][0]["last_error_at"].is_string()
    );
    // Recovered: no error and no stale error time.
    std::fs::create_dir_all(env.path("inbox")).unwrap();
    env.run(&["watch", "--once"]);
    let st: serde_json::Value =
        serde_json::from_slice(&env.run(&["status", "--json"]).stdout).unwrap();
    assert!(st["folders"][0]["last_error"].is_null(), "{st}");
    assert!(st["folders"][0]["last_error_at"].is_null(), "{st}");
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(child: &Child, sig: i32) {
    unsafe extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    unsafe {
        kill(child.id() as i32, sig);
    }
}

fn wait_for(what: &str, log: &Path, mut f: impl FnMut(&str) -> bool) {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if f(&text) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sighup_reloads_rules_and_keeps_the_old_ones_when_the_new_are_bad() {
    let env = Env::new(&format!(
        "{LOCAL}[smtp]\ndir = \"out\"\n[watch]\npoll_interval = \"300ms\"\n"
    ));
    env.rules(
        "10.toml",
        "[[rule]]\nname = \"quiet\"\nwhen.kind = \"test\"\nstop = true\n",
    );
    let log = env.path("watch.log");
    let mut child = Running(
        env.cmd(&["watch"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_for("start", &log, |t| t.contains("mailroom watch started"));
    // A bad new rule file: refused with its reason, the old rules keep running.
    env.rules("10.toml", "[[rule]]\nname = \"bad\"\nwhen.topic = \"transfr.in\"\nforward = { to = \"a@example.com\" }\n");
    signal(&child.0, 1);
    wait_for("refusal", &log, |t| {
        t.contains("SIGHUP") && t.contains("transfr.in")
    });
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "watch ended on a bad reload"
    );
    // A good one: the next message is forwarded by it.
    env.rules("10.toml", "[[rule]]\nname = \"fwd\"\nwhen.topic = \"transfer.in\"\nforward = { to = \"a@example.com\" }\n");
    signal(&child.0, 1);
    wait_for("reload", &log, |t| t.contains("config and rules reloaded"));
    std::fs::write(env.path("inbox/1.eml"), notification(7, "completed")).unwrap();
    let start = Instant::now();
    while std::fs::read_dir(env.path("out")).map_or(0, |d| d.count()) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no forward after the reload"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    signal(&child.0, 15);
    let status = child.0.wait().unwrap();
    assert!(status.success());
}

#[test]
fn the_registrars_text_is_stored_and_listed_with_the_event() {
    let env = Env::new(LOCAL);
    let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/field");
    assert!(env.run(&["import", samples]).status.success());
    let out = env.run(&["events", "--json"]);
    let events: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let with_text = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["status_text"].is_string())
        .count();
    assert!(with_text > 10, "status_text lost in the store: {with_text}");
}

#[test]
fn one_watch_per_database_whatever_the_spelling_of_its_path() {
    let env = Env::new(&format!("{LOCAL}[watch]\npoll_interval = \"1s\"\n"));
    env.rules(
        "10.toml",
        "[[rule]]\nname = \"quiet\"\nwhen.kind = \"test\"\nstop = true\n",
    );
    let log = env.path("watch.log");
    let child = Running(
        env.cmd(&["watch"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_for("start", &log, |t| t.contains("mailroom watch started"));
    std::os::unix::fs::symlink(env.path("m.db"), env.path("link.db")).unwrap();
    std::fs::create_dir_all(env.path("sub")).unwrap();
    for db in ["link.db", "sub/../m.db"] {
        let out = env
            .cmd(&["--db", db, "watch", "--once"])
            .current_dir(env.dir.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{db}: {err}");
        assert!(
            err.contains("another mailroom watch is running"),
            "{db}: {err}"
        );
    }
    drop(child);
}

fn signed(id: &str, status: &str, results: &str) -> String {
    format!("{results}{}", notification_with(id, status))
}

fn notification_with(id: &str, status: &str) -> String {
    format!(
        "From: OpenSRS <notifications@opensrs.net>\r\nTo: reseller@example.com\r\n\
         Subject: Event notification: TRANSFER: STATUS_CHANGE: {id}\r\n\
         Message-ID: <{id}.{status}@opensrs.net>\r\nDate: Fri, 20 Nov 2026 07:00:00 +0000\r\n\r\n\
         {{\"object_data\":{{\"domain_name\":\"victim.example\",\"transfer_id\":\"1\",\"order_id\":0,\
         \"transfer_status\":\"{status}\"}},\"object\":\"TRANSFER\",\"event_id\":\"{id}\",\
         \"event\":\"STATUS_CHANGE\",\"event_date\":\"2026-11-20T06:59:00Z\"}}\r\n"
    )
}

const GOOD_RESULTS: &str = "Authentication-Results: mx.reseller.example;\r\n\tdkim=pass header.d=opensrs.net header.s=k1; spf=pass smtp.mailfrom=opensrs.net\r\n";
const FORGED_RESULTS: &str = "Authentication-Results: mx.reseller.example; dkim=fail header.d=opensrs.net\r\nAuthentication-Results: mx.reseller.example; dkim=pass header.d=opensrs.net\r\n";

impl Env {
    fn import_mail(&self, name: &str, text: &str) -> Output {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        self.run(&["import", path.to_str().unwrap()])
    }

    fn event(&self, key: &str) -> serde_json::Value {
        let out = self.run(&["events", "show", key, "--json"]);
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
    }
}

#[test]
fn forged_notifications_are_recorded_as_such_and_do_not_act() {
    let env = Env::new(&format!(
        "{LOCAL}[smtp]\ndir = \"out\"\n[trust]\nauthserv_id = \"mx.reseller.example\"\n"
    ));
    env.rules(
        "10.toml",
        "[[rule]]\nname = \"billing\"\nwhen.authenticated = true\nforward = { to = \"billing@example.com\" }\n",
    );
    // No results, a forged pass under our server's fail, another server's pass.
    assert!(
        env.import_mail("a.eml", &notification_with("f-1", "completed"))
            .status
            .success()
    );
    assert!(
        env.import_mail("b.eml", &signed("f-2", "completed", FORGED_RESULTS))
            .status
            .success()
    );
    let other = "Authentication-Results: attacker.example; dkim=pass header.d=opensrs.net\r\n";
    assert!(
        env.import_mail("c.eml", &signed("f-3", "completed", other))
            .status
            .success()
    );
    // The real thing.
    assert!(
        env.import_mail("d.eml", &signed("g-1", "completed", GOOD_RESULTS))
            .status
            .success()
    );
    for key in ["opensrs:f-1", "opensrs:f-2", "opensrs:f-3"] {
        let e = env.event(key);
        assert_eq!(e["authenticated"], false, "{e}");
        assert!(e["authentication"].is_string(), "{e}");
    }
    let g = env.event("opensrs:g-1");
    assert_eq!(g["authenticated"], true, "{g}");
    assert!(
        g["authentication"]
            .as_str()
            .unwrap()
            .contains("dkim=pass for opensrs.net")
    );
    assert!(env.run(&["deliver"]).status.success());
    let sent = std::fs::read_dir(env.path("out")).unwrap().count();
    assert_eq!(sent, 1, "only the authenticated notification is forwarded");

    // Quarantined instead, when the config says so.
    let strict = Env::new(&format!(
        "{LOCAL}[trust]\nauthserv_id = \"mx.reseller.example\"\nrequire = true\n"
    ));
    assert!(
        strict
            .import_mail("a.eml", &signed("s-1", "completed", FORGED_RESULTS))
            .status
            .success()
    );
    assert!(
        strict
            .import_mail("b.eml", &signed("s-2", "completed", GOOD_RESULTS))
            .status
            .success()
    );
    let q: serde_json::Value =
        serde_json::from_slice(&strict.run(&["quarantine", "--json"]).stdout).unwrap();
    let q = q.as_array().unwrap();
    assert_eq!(q.len(), 1, "{q:?}");
    assert!(
        q[0]["reason"]
            .as_str()
            .unwrap()
            .contains("not authenticated"),
        "{q:?}"
    );
    assert_eq!(strict.event("opensrs:s-2")["authenticated"], true);
}

#[test]
fn a_different_payload_for_a_known_event_is_a_conflict_and_the_authenticated_copy_wins() {
    let env = Env::new(&format!(
        "{LOCAL}[trust]\nauthserv_id = \"mx.reseller.example\"\n"
    ));
    // A forged copy first, then the registrar's own with another status.
    assert!(
        env.import_mail("a.eml", &notification_with("c-1", "cancelled"))
            .status
            .success()
    );
    assert!(
        env.import_mail("b.eml", &signed("c-1", "completed", GOOD_RESULTS))
            .status
            .success()
    );
    let e = env.event("opensrs:c-1");
    assert_eq!(
        e["status"], "completed",
        "the authenticated copy supersedes: {e}"
    );
    assert_eq!(e["authenticated"], true);
    let conflicts = e["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{e}");
    assert_eq!(conflicts[0]["superseded"], true);
    assert_eq!(
        conflicts[0]["data"]["object_data"]["transfer_status"],
        "cancelled"
    );
    // A later unauthenticated copy with yet another payload: recorded, not applied.
    assert!(
        env.import_mail("c.eml", &notification_with("c-1", "pending_owner"))
            .status
            .success()
    );
    let e = env.event("opensrs:c-1");
    assert_eq!(e["status"], "completed");
    assert_eq!(e["conflicts"].as_array().unwrap().len(), 2, "{e}");
    // Two copies in one message with different payloads: the second is a conflict too.
    let two = "From: OpenSRS <notifications@opensrs.net>\r\nSubject: Event notification: TRANSFER: STATUS_CHANGE: c-2\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/json\r\n\r\n\
         {\"object\":\"TRANSFER\",\"event\":\"STATUS_CHANGE\",\"event_id\":\"c-2\",\"event_date\":\"2026-11-20T06:59:00Z\",\"object_data\":{\"domain_name\":\"x.example\",\"transfer_status\":\"completed\"}}\r\n\
         --b\r\nContent-Type: application/json\r\n\r\n\
         {\"object\":\"TRANSFER\",\"event\":\"STATUS_CHANGE\",\"event_id\":\"c-2\",\"event_date\":\"2026-11-20T06:59:00Z\",\"object_data\":{\"domain_name\":\"x.example\",\"transfer_status\":\"cancelled\"}}\r\n\
         --b--\r\n";
    assert!(env.import_mail("d.eml", two).status.success());
    assert_eq!(
        env.event("opensrs:c-2")["conflicts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let out = env.run(&["events", "show", "opensrs:c-1"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("CONFLICT"));
    let out = env.run(&["status"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("conflicts: 2 event(s)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_full_disk_is_reported_naming_the_database_file() {
    // A 300 KiB file system: the import below needs more.
    let env = Env::new(LOCAL);
    let small = env.path("small");
    std::fs::create_dir_all(&small).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=300k", "tmpfs"])
        .arg(&small)
        .status()
        .unwrap();
    assert!(mounted.success(), "mount tmpfs (the tests run as root)");
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(small.clone());
    let db = small.join("m.db");
    let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/samples");
    let out = env
        .cmd(&["--db", db.to_str().unwrap(), "import", samples])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "database {}: the disk holding it is full",
            db.display()
        )),
        "{err}"
    );
    assert!(!err.contains("code") && !err.contains("Sqlite"), "{err}");
}

#[test]
fn sigterm_ends_watch_within_seconds_while_a_server_says_nothing() {
    // A server that accepts and then never answers: the TLS handshake would wait out the
    // 60 s command timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let env = Env::new(&format!(
        "db = \"m.db\"\n[watch]\ncommand_timeout = \"60s\"\n[[account]]\nname = \"mute\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"implicit\"\nusername = \"u\"\npassword_env = \"MR_MUTE_PASSWORD\"\n"
    ));
    env.rules(
        "10.toml",
        "[[rule]]\nname = \"quiet\"\nwhen.kind = \"test\"\nstop = true\n",
    );
    let log = env.path("watch.log");
    let mut child = Running(
        env.cmd(&["watch"])
            .env("MR_MUTE_PASSWORD", "x")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_for("start", &log, |t| t.contains("mailroom watch started"));
    let (_conn, _) = silent.accept().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let asked = Instant::now();
    signal(&child.0, 15);
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(6),
            "watch did not stop on SIGTERM:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("stopped {:?} after SIGTERM", asked.elapsed());
}
