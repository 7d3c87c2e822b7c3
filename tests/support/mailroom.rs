//! The `mailroom` binary under test: a config and an empty rule set in a temp dir,
//! `watch` spawned with its log kept (killed if the test fails first), the database
//! read while it runs, and OpenSRS notifications to feed it (one event each).

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::{SIGTERM, send_signal, wait_child};

/// An OpenSRS notification whose one event is `ev{i}` on `d{i}.example`.
pub fn notification(i: usize) -> Vec<u8> {
    format!(
        "From: OpenSRS <notifications@opensrs.net>\r\nTo: reseller@example.com\r\n\
         Subject: Event notification: DOMAIN: NAMESERVER_UPDATE: ev{i:06}\r\n\
         Message-ID: <ev{i:06}@opensrs.net>\r\nDate: Fri, 20 Nov 2026 07:00:00 +0000\r\n\r\n\
         {{\"object_data\":{{\"domain_name\":\"d{i}.example\",\"domain_id\":\"{i}\",\
         \"nameserver_list\":[\"ns1.systemdns.com\",\"ns2.systemdns.com\"]}},\"object\":\"DOMAIN\",\
         \"event_id\":\"ev{i:06}\",\"event\":\"NAMESERVER_UPDATE\",\"event_date\":\"2026-11-20T06:59:00Z\"}}\r\n"
    )
    .into_bytes()
}

const NO_RULES: &str = "[[rule]]\nname = \"nothing\"\nwhen.kind = \"test\"\nstop = true\n";

/// A config dir: `mailroom.toml` (`db = "m.db"` and the given text), `rules/`.
pub struct Mailroom {
    dir: TempDir,
}

impl Mailroom {
    /// `config` is the rest of mailroom.toml (sections such as `[watch]`, `[[account]]`);
    /// IMAP passwords come from `MR_IMAP_PASSWORD` (= `secret`).
    pub fn new(config: &str) -> Mailroom {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("mailroom.toml"),
            format!("db = \"m.db\"\n{config}\n"),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("rules")).unwrap();
        std::fs::write(dir.path().join("rules/10.toml"), NO_RULES).unwrap();
        Mailroom { dir }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mailroom"));
        c.arg("--config")
            .arg(self.dir.path().join("mailroom.toml"))
            .args(args)
            .env("MR_IMAP_PASSWORD", "secret")
            .env_remove("MAILROOM_NOW");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// `mailroom watch`, its stderr in `watch.log`.
    pub fn spawn_watch(&self) -> Watch {
        let log = std::fs::File::create(self.dir.path().join("watch.log")).unwrap();
        Watch(
            self.cmd(&["watch"])
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        )
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("watch.log")).unwrap_or_default()
    }

    /// The config dir (mailroom.toml, rules/, the database).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("m.db")
    }

    /// The first column of the first row of `sql` (0 while there is no database yet).
    pub fn count(&self, sql: &str) -> i64 {
        let Ok(conn) = rusqlite::Connection::open_with_flags(
            self.db(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        ) else {
            return 0;
        };
        conn.query_row(sql, [], |r| r.get(0)).unwrap_or(0)
    }

    pub fn events(&self) -> i64 {
        self.count("SELECT COUNT(*) FROM events")
    }

    /// Waits until `f` holds, or fails with the watch log.
    pub fn wait(&self, what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
        let start = Instant::now();
        while !f() {
            assert!(
                start.elapsed() < timeout,
                "timed out after {timeout:?} waiting for {what}\nwatch log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A running `mailroom watch`, killed if the test fails before stopping it.
pub struct Watch(Child);

impl Watch {
    /// SIGTERM, then waits (up to 15 s) for a clean exit; true if it exited by itself.
    pub fn terminate(&mut self) -> bool {
        send_signal(&self.0, SIGTERM);
        wait_child(&mut self.0, Duration::from_secs(15))
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
