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

fn load(text: &str) -> anyhow::Result<Config> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mailroom.toml");
    std::fs::write(&path, text).unwrap();
    Config::load(Some(&path)).map_err(|e| anyhow::anyhow!("{e}"))
}

#[test]
fn a_provider_preset_fills_what_is_left_out_and_keys_set_win() {
    let c = load(
        "[[account]]\nname = \"m365\"\nprovider = \"microsoft365\"\nusername = \"n@r.example\"\n\
         [account.oauth2]\nclient_id = \"app\"\ntoken_file = \"m365.token\"\n\
         [smtp]\nprovider = \"gmail\"\nauth = \"password\"\nusername = \"n@r.example\"\npassword_env = \"P\"\n",
    )
    .unwrap();
    let a = &c.accounts[0];
    assert_eq!(a.host, "outlook.office365.com");
    assert_eq!(a.auth(), Auth::Xoauth2);
    let o = a.oauth2.as_ref().unwrap();
    assert_eq!(
        o.token_url.as_deref(),
        Some("https://login.microsoftonline.com/common/oauth2/v2.0/token")
    );
    assert!(
        o.scope
            .as_deref()
            .unwrap()
            .contains("IMAP.AccessAsUser.All")
    );
    let s = c.smtp.as_ref().unwrap();
    assert_eq!(s.host.as_deref(), Some("smtp.gmail.com"));
    assert_eq!(s.auth(), Auth::Password, "an explicit auth wins");
}

#[test]
fn oauth2_logins_that_cannot_work_are_refused_at_load_with_the_line() {
    let e = load("[[account]]\nname = \"x\"\nprovider = \"hotmail\"\nusername = \"u\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("mailroom.toml:3:1: unknown provider \"hotmail\""),
        "{e}"
    );
    let e = load(
        "[[account]]\nname = \"x\"\nhost = \"imap.example\"\nusername = \"u\"\nauth = \"xoauth2\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains(":5:1: account x: auth = \"xoauth2\" needs an oauth2 table"),
        "{e}"
    );
    let e = load(
        "[[account]]\nname = \"x\"\nhost = \"imap.example\"\nusername = \"u\"\nauth = \"oauthbearer\"\n\
         [account.oauth2]\ntoken_url = \"http://login.example/token\"\nclient_id = \"c\"\ntoken_file = \"t\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains(":7:1: account x: token_url"), "{e}");
    assert!(e.contains("plain http"), "{e}");
    let e = load("[[account]]\nname = \"x\"\nusername = \"u\"\npassword_env = \"P\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("host is missing"), "{e}");
}

#[test]
fn gandi_needs_a_key_source_and_an_https_url_and_defaults_the_probe() {
    let e =
        load("db = \"x.db\"\n\n[gandi]\nurl = \"https://rpc.gandi.net/xmlrpc/\"\n").unwrap_err();
    let e = e.to_string();
    assert!(
        e.contains("mailroom.toml:3:1: [gandi] needs apikey_env or apikey_command"),
        "{e}"
    );
    let e = load("[gandi]\napikey_env = \"K\"\nurl = \"http://rpc.gandi.net/xmlrpc/\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("mailroom.toml:3:1: [gandi] url") && e.contains("plain http"),
        "{e}"
    );
    let e = load("[gandi]\napikey_env = \"K\"\nprobe_every = \"1h\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("probe_every needs probe"), "{e}");
    let e = load("[gandi]\napikey_env = \"K\"\nprobe = \"Paas Create\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("mailroom.toml:3:1: [gandi] probe = \"Paas Create\""),
        "{e}"
    );
    let e = load("[gandi]\napikey_env = \"K\"\nprob = \"paas.create\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field"), "{e}");
    let c = load("[gandi]\napikey_env = \"K\"\nprobe = \"paas.create\"\n").unwrap();
    let g = c.gandi.unwrap();
    assert_eq!(g.url, "https://rpc.gandi.net/xmlrpc/");
    assert_eq!(g.probe_every(), Duration::from_secs(86400));
    assert_eq!(g.probe_timeout, Duration::from_secs(1800));
    assert!(!format!("{g:?}").contains("apikey_command"));
}

#[test]
fn an_empty_or_unset_gandi_key_is_refused_naming_its_setting() {
    let c = load("[gandi]\napikey_command = \"printf ''\"\n").unwrap();
    let g = c.gandi.as_ref().unwrap();
    let p = g.apikey_problem(&c).unwrap();
    assert!(
        p.contains("mailroom.toml:2:1: [gandi] apikey_command gives an empty API key"),
        "{p}"
    );
    let c = load("[gandi]\napikey_env = \"MAILROOM_TEST_NO_SUCH_VARIABLE\"\n").unwrap();
    let p = c.gandi.as_ref().unwrap().apikey_problem(&c).unwrap();
    assert!(
        p.contains(
            "mailroom.toml:2:1: environment variable MAILROOM_TEST_NO_SUCH_VARIABLE is not set"
        ),
        "{p}"
    );
    let c = load("[gandi]\napikey_command = \"echo k3ygandi0123456789abcdef\"\n").unwrap();
    assert_eq!(
        c.gandi.as_ref().unwrap().read_apikey().unwrap(),
        "k3ygandi0123456789abcdef"
    );
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

#[test]
fn an_sns_push_needs_valid_topics_and_its_keys_need_format_sns() {
    let base = "[[push]]\nname = \"g\"\nregistrar = \"gandi\"\npath = \"/sns\"\n";
    let e = load(&format!("{base}format = \"sns\"\n"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("mailroom.toml:5:1: push g: format = \"sns\" needs topics"),
        "{e}"
    );
    let e = load(&format!("{base}format = \"sns\"\ntopics = [\"gandi\"]\n"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("mailroom.toml:6:1: push g: topics: \"gandi\" is not an SNS topic ARN"),
        "{e}"
    );
    let e = load(&format!(
        "{base}topics = [\"arn:aws:sns:eu-west-1:123456789012:gandi\"]\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("topics applies to format = \"sns\" only"), "{e}");
    let e = load(&format!(
        "{base}format = \"sns\"\ntopics = [\"arn:aws:sns:eu-west-1:123456789012:gandi\"]\nsns_hosts = []\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("mailroom.toml:7:1: push g: sns_hosts is empty"),
        "{e}"
    );
    // Off loopback, the signature is the authentication: no token needed for SNS…
    let ok = format!(
        "[http]\nlisten = \"0.0.0.0:8025\"\ntoken_env = \"T\"\n{base}format = \"sns\"\ntopics = [\"arn:aws:sns:eu-west-1:123456789012:gandi\"]\n"
    );
    let c = load(&ok).unwrap();
    assert_eq!(c.pushes[0].format, PushFormat::Sns);
    assert_eq!(c.pushes[0].sns_hosts, default_sns_hosts());
    // …but for any other push.
    let e = load(&format!(
        "[http]\nlisten = \"0.0.0.0:8025\"\ntoken_env = \"T\"\n{base}"
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("set token_env or token_command"), "{e}");
}

#[test]
fn sns_host_patterns_match_one_label_per_star_and_pinned_ports() {
    let p = default_sns_hosts();
    assert!(host_allowed(&p, "sns.eu-west-1.amazonaws.com", None));
    assert!(host_allowed(&p, "SNS.EU-WEST-1.AMAZONAWS.COM.", Some(443)));
    assert!(host_allowed(&p, "sns.cn-north-1.amazonaws.com.cn", None));
    assert!(!host_allowed(&p, "sns.amazonaws.com", None));
    assert!(!host_allowed(&p, "sns.a.b.amazonaws.com", None));
    assert!(!host_allowed(&p, "sns.eu-west-1.amazonaws.com.evil", None));
    assert!(!host_allowed(&p, "sns..amazonaws.com", None));
    let pinned = vec!["127.0.0.1:8443".to_string(), "[::1]:8443".to_string()];
    assert!(host_allowed(&pinned, "127.0.0.1", Some(8443)));
    assert!(!host_allowed(&pinned, "127.0.0.1", Some(443)));
    assert!(!host_allowed(&pinned, "127.0.0.1", None));
    assert!(host_allowed(&pinned, "::1", Some(8443)));
}

#[test]
fn webhook_concurrency_defaults_to_1_and_is_refused_outside_1_to_64_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.toml");
    std::fs::write(&path, "db = \"m.db\"\n").unwrap();
    assert_eq!(Config::load(Some(&path)).unwrap().webhook.concurrency, 1);
    std::fs::write(&path, "db = \"m.db\"\n[webhook]\nconcurrency = 8\n").unwrap();
    assert_eq!(Config::load(Some(&path)).unwrap().webhook.concurrency, 8);
    for bad in ["0", "65"] {
        std::fs::write(
            &path,
            format!("db = \"m.db\"\n[webhook]\nconcurrency = {bad}\n"),
        )
        .unwrap();
        let e = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "{}:3:1: [webhook] concurrency must be 1 to 64",
                path.display()
            )),
            "{e}"
        );
    }
}
