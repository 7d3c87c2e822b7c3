//! OAuth2 logins end to end: a running `mailroom watch` reads a real Dovecot through its
//! `oauth2` passdb (tokens checked at the suite's OAuth2 server) and forwards through
//! the SMTP sink asking for AUTH XOAUTH2. Short-lived access tokens, rotated refresh
//! tokens, a token that expires under a running watch followed by `doveadm kick`, and a
//! revoked refresh token that says what to run.

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::oauth2::{OAuth2Options, OAuth2Server};
use support::{Certs, Dovecot, DovecotOptions, SmtpOptions, SmtpSink};

fn notification(i: usize) -> Vec<u8> {
    format!(
        "From: OpenSRS <notifications@opensrs.net>\r\nSubject: Event notification: DOMAIN: CREATED\r\n\
         Message-ID: <oauth-{i}@opensrs.net>\r\n\r\n\
         {{\"object_data\":{{\"domain_name\":\"oauth{i}.example\",\"domain_id\":\"{i}\"}},\"object\":\"DOMAIN\",\
         \"event_id\":\"oauth-e{i}\",\"event\":\"CREATED\",\"event_date\":\"2026-11-20T10:00:00Z\"}}\r\n"
    )
    .into_bytes()
}

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mailroom"));
        c.env_remove("MAILROOM_CONFIG")
            .env_remove("MAILROOM_NOW")
            .arg("--config")
            .arg(self.path("mailroom.toml"));
        c
    }

    fn events(&self) -> Vec<serde_json::Value> {
        let out = self.cmd().args(["events", "--json"]).output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("watch.log")).unwrap_or_default()
    }

    fn wait_events(&self, n: usize, limit: Duration) {
        let start = Instant::now();
        while self.events().len() < n {
            assert!(
                start.elapsed() < limit,
                "{} of {n} events after {limit:?}; log:\n{}",
                self.events().len(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

struct Watch(Child);

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn kick(dovecot: &Dovecot) {
    let out = Command::new("doveadm")
        .arg("-c")
        .arg(dovecot.dir().join("dovecot.conf"))
        .args(["kick", Dovecot::USER])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn watch_logs_in_by_xoauth2_refreshes_after_expiry_and_a_kick_and_forwards_by_xoauth2() {
    let oauth = OAuth2Server::start(OAuth2Options::default().expires_in(3600).rotate(true));
    let certs = Certs::generate();
    let dovecot = Dovecot::start_with(&certs, DovecotOptions::default().oauth2(&oauth));
    let sink = SmtpSink::start(SmtpOptions::plain().oauth2(&oauth));
    dovecot.deliver("INBOX", &notification(1));
    let s = Setup {
        dir: tempfile::tempdir().unwrap(),
    };
    std::fs::create_dir_all(s.path("rules")).unwrap();
    std::fs::write(
        s.path("rules/10.toml"),
        "[[rule]]\nname = \"created\"\nwhen.topic = \"domain.created\"\nforward = { to = [\"ops@reseller.example\"] }\n",
    )
    .unwrap();
    mailroom::oauth2::write_token_file(
        &s.path("imap.token"),
        &oauth.refresh_token_for(Dovecot::USER),
    )
    .unwrap();
    mailroom::oauth2::write_token_file(
        &s.path("smtp.token"),
        &oauth.refresh_token_for(Dovecot::USER),
    )
    .unwrap();
    std::fs::write(
        s.path("mailroom.toml"),
        format!(
            "db = \"m.db\"\n[limits]\nmax_event_age = \"0\"\n\
             [watch]\nmax_reconnect_delay = \"1s\"\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nusername = \"{user}\"\nauth = \"xoauth2\"\n\
             [smtp.oauth2]\ntoken_url = \"{token}\"\nclient_id = \"{client}\"\ntoken_file = \"smtp.token\"\n\
             [[account]]\nname = \"box\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nusername = \"{user}\"\n\
             auth = \"xoauth2\"\n\
             [account.oauth2]\ntoken_url = \"{token}\"\nclient_id = \"{client}\"\ntoken_file = \"imap.token\"\n",
            sink.port(),
            dovecot.imap_port(),
            user = Dovecot::USER,
            token = oauth.token_url(),
            client = OAuth2Server::CLIENT_ID,
        ),
    )
    .unwrap();
    let first_refresh = std::fs::read_to_string(s.path("imap.token")).unwrap();
    let _watch = Watch(
        s.cmd()
            .arg("watch")
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(s.path("watch.log")).unwrap(),
            ))
            .spawn()
            .unwrap(),
    );
    s.wait_events(1, Duration::from_secs(30));
    // The refresh token was rotated and saved back.
    assert_ne!(
        std::fs::read_to_string(s.path("imap.token")).unwrap(),
        first_refresh
    );
    // The forward went out over AUTH XOAUTH2.
    let start = Instant::now();
    while sink.received().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no forward; log:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The access token ends under the running watch, then the server drops the session:
    // a new login needs a new token.
    let grants = oauth.grants();
    oauth.expire_access_tokens(None);
    kick(&dovecot);
    dovecot.deliver("INBOX", &notification(2));
    s.wait_events(2, Duration::from_secs(30));
    assert!(oauth.grants() > grants, "no refresh after the expiry");
    let log = s.log();
    for secret in [first_refresh.trim(), "access_token"] {
        assert!(!log.contains(secret), "a token in the log:\n{log}");
    }
}

#[test]
fn a_revoked_refresh_token_says_to_sign_in_again_and_watch_keeps_running() {
    let oauth = OAuth2Server::start(OAuth2Options::default());
    let certs = Certs::generate();
    let dovecot = Dovecot::start_with(&certs, DovecotOptions::default().oauth2(&oauth));
    let s = Setup {
        dir: tempfile::tempdir().unwrap(),
    };
    std::fs::create_dir_all(s.path("rules")).unwrap();
    let refresh = oauth.refresh_token_for(Dovecot::USER);
    mailroom::oauth2::write_token_file(&s.path("imap.token"), &refresh).unwrap();
    oauth.revoke(&refresh);
    std::fs::write(
        s.path("mailroom.toml"),
        format!(
            "db = \"m.db\"\n[[account]]\nname = \"m365\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n\
             username = \"{}\"\nauth = \"oauthbearer\"\n\
             [account.oauth2]\ntoken_url = \"{}\"\nclient_id = \"{}\"\ntoken_file = \"imap.token\"\n",
            dovecot.imap_port(),
            Dovecot::USER,
            oauth.token_url(),
            OAuth2Server::CLIENT_ID,
        ),
    )
    .unwrap();
    let out = s.cmd().args(["watch", "--once"]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("invalid_grant"), "{said}");
    assert!(said.contains("run `mailroom oauth2 login m365`"), "{said}");
    assert!(!said.contains(&refresh), "{said}");
    let status = s.cmd().arg("status").output().unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("mailroom oauth2 login m365"), "{text}");
}

#[test]
fn oauth2_login_by_device_code_writes_the_token_file_the_account_then_uses() {
    let oauth = OAuth2Server::start(OAuth2Options::default());
    let certs = Certs::generate();
    let dovecot = Dovecot::start_with(&certs, DovecotOptions::default().oauth2(&oauth));
    dovecot.deliver("INBOX", &notification(7));
    let s = Setup {
        dir: tempfile::tempdir().unwrap(),
    };
    std::fs::create_dir_all(s.path("rules")).unwrap();
    std::fs::write(
        s.path("mailroom.toml"),
        format!(
            "db = \"m.db\"\n[limits]\nmax_event_age = \"0\"\n\
             [[account]]\nname = \"m365\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n\
             username = \"{}\"\nauth = \"xoauth2\"\n\
             [account.oauth2]\ntoken_url = \"{}\"\ndevice_url = \"{}\"\nclient_id = \"{}\"\n\
             scope = \"mail offline_access\"\ntoken_file = \"m365.token\"\n",
            dovecot.imap_port(),
            Dovecot::USER,
            oauth.token_url(),
            oauth.device_url(),
            OAuth2Server::CLIENT_ID,
        ),
    )
    .unwrap();
    let login = s
        .cmd()
        .args(["oauth2", "login", "m365", "--wait", "30s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let code = oauth.wait_device(Duration::from_secs(20));
    oauth.approve_device(&code, Dovecot::USER);
    let out = login.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains(&code), "the code to enter is shown: {said}");
    let token = std::fs::read_to_string(s.path("m365.token")).unwrap();
    assert!(!said.contains(token.trim()), "{said}");
    // The account now logs in with it.
    let once = s.cmd().args(["watch", "--once"]).output().unwrap();
    assert!(
        once.status.success(),
        "{}",
        String::from_utf8_lossy(&once.stderr)
    );
    assert_eq!(s.events().len(), 1);
}
