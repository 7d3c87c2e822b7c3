//! New mail must not wait for the next mail: a server announces a message that arrives
//! during a catch-up with the reply to whatever command is running (FETCH, STORE,
//! COPY/EXPUNGE, MOVE, SEARCH) and not again at IDLE. Run against Cyrus IMAP (which
//! behaves so) and Dovecot (which hides it), each a real server on loopback.

mod support;

use std::time::{Duration, Instant};

use support::cyrus::Cyrus;
use support::mailroom::{Mailroom, notification};
use support::{Certs, Dovecot};

/// `idle_refresh` is long: mail is only prompt if it is not left for the refresh.
fn config(port: u16, after: &str) -> String {
    format!(
        "[watch]\nidle_refresh = \"5m\"\ncommand_timeout = \"20s\"\nmax_reconnect_delay = \"2s\"\n\n\
         [[account]]\nname = \"reg\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\n\
         username = \"reseller\"\npassword_env = \"MR_IMAP_PASSWORD\"\n{after}\n"
    )
}

/// 2,000 waiting, then one more appended once the first 1,000 are committed (while the
/// rest are fetched, stored and marked): it must be stored within seconds.
fn mail_during_a_catch_up_is_stored_promptly(
    port: u16,
    after: &str,
    load: impl FnOnce(&[Vec<u8>]),
    append: impl FnOnce(&[u8]),
) {
    let waiting: Vec<Vec<u8>> = (0..2000).map(notification).collect();
    load(&waiting);
    let m = Mailroom::new(&config(port, after));
    let _watch = m.spawn_watch();
    m.wait("the first chunk committed", Duration::from_secs(90), || {
        m.events() >= 1
    });
    assert!(
        m.events() < 2000,
        "the catch-up was over before the new mail came: the test proves nothing"
    );
    append(&notification(5000));
    let appended = Instant::now();
    m.wait(
        "the mail appended during the catch-up",
        Duration::from_secs(30),
        || m.events() == 2001,
    );
    assert!(
        appended.elapsed() < Duration::from_secs(20),
        "stored only after {:?}",
        appended.elapsed()
    );
}

#[test]
fn mail_appended_while_2000_are_caught_up_is_stored_promptly_on_cyrus() {
    let cyrus = Cyrus::start();
    mail_during_a_catch_up_is_stored_promptly(
        cyrus.port(),
        "after = \"seen\"",
        |all| cyrus.append_many("INBOX", all),
        |one| cyrus.append("INBOX", one),
    );
    assert_eq!(cyrus.count("INBOX"), 2001);
}

#[test]
fn mail_appended_while_2000_are_caught_up_and_moved_is_stored_promptly_on_dovecot() {
    let dovecot = Dovecot::start(&Certs::generate());
    dovecot.create_folder("Processed");
    mail_during_a_catch_up_is_stored_promptly(
        dovecot.imap_port(),
        "after = \"move\"\nmove_to = \"Processed\"",
        |all| dovecot.deliver_many("INBOX", all),
        |one| {
            dovecot.append_via_imap("INBOX", one);
        },
    );
}
