use super::*;
use std::time::Duration;

#[test]
fn durations_and_sizes() {
    assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86400)));
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
    assert!(parse_duration("3 fortnights").is_err());
    assert_eq!(parse_size("10MiB"), Ok(10 << 20));
    assert_eq!(parse_size("4096"), Ok(4096));
}

#[test]
fn api_urls_are_https_or_loopback_http() {
    assert!(check_api_url("https://api.autodns.com/v1").is_ok());
    assert!(check_api_url("http://127.0.0.1:8080/v1").is_ok());
    assert!(check_api_url("http://[::1]:8080").is_ok());
    assert!(check_api_url("http://localhost").is_ok());
    assert!(check_api_url("http://api.autodns.com/v1").is_err());
    assert!(check_api_url("https://user:pw@api.autodns.com").is_err());
    assert!(check_api_url("ftp://x").is_err());
    assert!(check_api_url("api.autodns.com").is_err());
}

#[test]
fn networks_match_their_addresses() {
    let n = Network::parse("62.116.129.216/32").unwrap();
    assert!(n.contains("62.116.129.216".parse().unwrap()));
    assert!(!n.contains("62.116.129.217".parse().unwrap()));
    assert!(n.contains("::ffff:62.116.129.216".parse().unwrap()));
    let n = Network::parse("10.0.0.0/8").unwrap();
    assert!(n.contains("10.200.1.1".parse().unwrap()));
    assert!(
        Network::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap())
    );
    assert!(
        Network::parse("::1")
            .unwrap()
            .contains("::1".parse().unwrap())
    );
    assert!(Network::parse("10.0.0.0/33").is_err());
    assert!(Network::parse("nonsense").is_err());
}

#[test]
fn design_example_parses() {
    let src = r#"
db = "mailroom.db"
rules = "rules/"
[smtp]
host = "smtp.example.net"
port = 587
tls = "starttls"
username = "mailroom@example.net"
password_env = "MAILROOM_SMTP_PASSWORD"
ca_file = "/etc/mailroom/ca.pem"
from = "mailroom <mailroom@example.net>"
[delivery]
fallback_to = ["postmaster@example.net"]
give_up_after = "24h"
[[account]]
name = "registrar-mail"
host = "imap.example.net"
port = 993
tls = "implicit"
username = "notifications@example.net"
password_env = "MAILROOM_IMAP_PASSWORD"
folders = ["INBOX"]
after = "seen"
move_to = "Processed"
start = "all"
[[maildir]]
name = "local"
path = "/var/mail/notifications"
"#;
    let c: Config = toml::from_str(src).unwrap();
    assert_eq!(c.accounts[0].after, After::Seen);
    assert_eq!(c.delivery.give_up_after, Duration::from_secs(86400));
    assert_eq!(
        format!("{:?}", c.accounts[0].password()),
        "Secret(env MAILROOM_IMAP_PASSWORD)"
    );
}

#[test]
fn unknown_keys_are_refused_with_position() {
    let src = "db = \"x.db\"\n[delivery]\ngive_up = \"1h\"\n";
    let e = toml::from_str::<Config>(src).unwrap_err();
    let fe = FileError::from_toml(Path::new("m.toml"), src, &e);
    assert_eq!((fe.line, fe.column), (3, 1));
    assert!(fe.message.contains("unknown field"), "{}", fe.message);
}

#[test]
fn max_connections_defaults_to_5_and_0_is_refused_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.toml");
    let account = "[[account]]\nname = \"reg\"\nhost = \"imap.example.net\"\nusername = \"u\"\n";
    std::fs::write(&path, account).unwrap();
    let c = Config::load(Some(&path)).unwrap();
    assert_eq!(c.accounts[0].max_connections, 5);
    std::fs::write(&path, format!("{account}max_connections = 0\n")).unwrap();
    let e = Config::load(Some(&path)).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "{}:5:1: account reg: max_connections",
            path.display()
        )),
        "{e}"
    );
    std::fs::write(&path, format!("{account}max_connection = 3\n")).unwrap();
    let e = Config::load(Some(&path)).unwrap_err().to_string();
    assert!(e.contains(":5:1:") && e.contains("unknown field"), "{e}");
}
