//! How mailroom connects to an IMAP account, against real servers on loopback: no more
//! than `max_connections` per account however many folders it watches (the rest share
//! one connection, NOTIFY on Dovecot, STATUS polling on Cyrus), a server's `[LIMIT]`
//! refusal named with the setting to change, and a server whose STARTTLS fails quoted
//! in its own words.

mod support;

use std::time::Duration;

use support::cyrus::Cyrus;
use support::mailroom::{Mailroom, notification};
use support::{Certs, Dovecot, ImapConn};

fn account(port: u16, folders: &[String], extra: &str) -> String {
    let folders: Vec<String> = folders.iter().map(|f| format!("{f:?}")).collect();
    format!(
        "[watch]\nidle_refresh = \"5m\"\npoll_interval = \"1s\"\ncommand_timeout = \"10s\"\nmax_reconnect_delay = \"2s\"\n\n\
         [[account]]\nname = \"reg\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\n\
         username = \"reseller\"\npassword_env = \"MR_IMAP_PASSWORD\"\nfolders = [{}]\n{extra}\n",
        folders.join(", ")
    )
}

fn folders(n: usize) -> Vec<String> {
    let mut all = vec!["INBOX".to_string()];
    all.extend((1..n).map(|i| format!("F{i:02}")));
    all
}

/// Waits for every folder's first sync, then appends one mail to each and waits for all.
fn each_folder_gets_its_mail(m: &Mailroom, all: &[String], append: impl Fn(&str, &[u8])) {
    let n = all.len() as i64;
    m.wait("every folder synced", Duration::from_secs(30), || {
        m.count("SELECT COUNT(*) FROM cursors WHERE last_sync IS NOT NULL") == n
    });
    for (i, folder) in all.iter().enumerate() {
        append(folder, &notification(i));
    }
    m.wait(
        "one mail from every folder",
        Duration::from_secs(30),
        || m.events() == n,
    );
}

#[test]
fn fourteen_folders_of_one_account_are_all_watched_within_dovecots_connection_limit() {
    // Dovecot's default mail_max_userip_connections (10) is left as it is.
    let dovecot = Dovecot::start(&Certs::generate());
    let all = folders(14);
    for f in &all {
        dovecot.create_folder(f);
    }
    let m = Mailroom::new(&account(dovecot.imap_port(), &all, ""));
    let mut watch = m.spawn_watch();
    each_folder_gets_its_mail(&m, &all, |f, msg| {
        dovecot.append_via_imap(f, msg);
    });
    assert!(watch.terminate(), "watch did not stop on SIGTERM");
    let log = m.log();
    let server = std::fs::read_to_string(dovecot.log_path()).unwrap_or_default();
    assert!(
        !server.contains("Maximum number of connections"),
        "a login was refused:\n{server}"
    );
    assert!(!log.contains("ERROR"), "{log}");
    assert!(log.contains("watching over one shared connection"), "{log}");
    assert!(
        log.contains("notify=true"),
        "NOTIFY not used on Dovecot:\n{log}"
    );
    assert_eq!(
        m.count("SELECT COUNT(*) FROM cursors WHERE last_error IS NOT NULL"),
        0
    );
}

#[test]
fn folders_past_max_connections_are_polled_by_status_and_a_missing_one_spoils_none() {
    // Cyrus offers no NOTIFY: INBOX gets IDLE; F01, F02 and a folder that does not exist
    // share the other connection.
    let cyrus = Cyrus::start();
    let all = folders(3);
    for f in &all[1..] {
        cyrus.create_folder(f);
    }
    let mut configured = all.clone();
    configured.push("Missing".into());
    let m = Mailroom::new(&account(cyrus.port(), &configured, "max_connections = 2"));
    let _watch = m.spawn_watch();
    each_folder_gets_its_mail(&m, &all, |f, msg| cyrus.append(f, msg));
    let log = m.log();
    assert!(log.contains("notify=false"), "{log}");
    let status = String::from_utf8_lossy(&m.run(&["status"]).stdout).into_owned();
    assert!(
        status.contains("folder \"Missing\" cannot be watched on 127.0.0.1"),
        "{status}"
    );
}

#[test]
fn a_limit_refusal_names_the_account_and_max_connections_and_a_lower_setting_fits() {
    let limit = "protocol imap {\n  mail_max_userip_connections = 2\n}\n";
    let dovecot = Dovecot::start_extra(&Certs::generate(), limit);
    let all = folders(4);
    for f in &all {
        dovecot.create_folder(f);
    }
    // Two other clients of the user hold the server's whole allowance.
    let others = [
        ImapConn::login(dovecot.imap_port()),
        ImapConn::login(dovecot.imap_port()),
    ];
    let m = Mailroom::new(&account(dovecot.imap_port(), &all, ""));
    let watch = m.spawn_watch();
    m.wait("the refusal", Duration::from_secs(30), || {
        m.log().contains("[LIMIT]")
    });
    drop(watch);
    let log = m.log();
    assert!(
        log.contains("max_connections = 5")
            && log.contains("set a lower max_connections for account reg"),
        "{log}"
    );
    assert!(
        !log.contains("login to 127.0.0.1 as reseller refused"),
        "{log}"
    );
    let status = String::from_utf8_lossy(&m.run(&["status"]).stdout).into_owned();
    assert!(status.contains("max_connections"), "{status}");
    drop(others);

    // One connection for all four folders leaves room for the one the test appends by.
    let m = Mailroom::new(&account(dovecot.imap_port(), &all, "max_connections = 1"));
    let _watch = m.spawn_watch();
    each_folder_gets_its_mail(&m, &all, |f, msg| {
        dovecot.append_via_imap(f, msg);
    });
    assert!(!m.log().contains("[LIMIT]"), "{}", m.log());
}

fn once_error(m: &Mailroom) -> String {
    let out = m.run(&["watch", "--once", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    report["errors"][0].as_str().unwrap_or_default().to_string()
}

#[test]
fn a_server_whose_tls_fails_after_starttls_is_quoted_not_told_to_set_starttls() {
    // The key belongs to another certificate: Dovecot says OK to STARTTLS, then
    // "* BYE [UNAVAILABLE] TLS initialization failed." in plain text.
    let certs = Certs::generate();
    let other = Certs::generate();
    let broken = format!("ssl_key = <{}\n", other.key_pem.display());
    let dovecot = Dovecot::start_extra(&certs, &broken);
    let m = Mailroom::new(
        &account(dovecot.imap_port(), &folders(1), "")
            .replace("tls = \"none\"", "tls = \"starttls\""),
    );
    let error = once_error(&m);
    assert!(error.contains("TLS initialization failed"), "{error}");
    assert!(error.contains("accepted STARTTLS"), "{error}");
    assert!(!error.contains("set tls = \"starttls\""), "{error}");
}

#[test]
fn a_server_refusing_starttls_is_quoted() {
    // Cyrus here has no TLS configured.
    let cyrus = Cyrus::start();
    let m = Mailroom::new(
        &account(cyrus.port(), &folders(1), "").replace("tls = \"none\"", "tls = \"starttls\""),
    );
    let error = once_error(&m);
    assert!(error.contains("refused STARTTLS: \""), "{error}");
    assert!(
        !error.contains("s0 "),
        "the command's tag is no words of the server's: {error}"
    );
    assert!(!error.contains("set tls = \"starttls\""), "{error}");
}
