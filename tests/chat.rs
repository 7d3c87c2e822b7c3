//! Chat destinations (issue 23): a running `watch` posts one event to all eight
//! services of the suite's chat server, which checks every request as that service's
//! documentation describes it and answers as it does — including 429s with their
//! own retry fields and 5xx errors, which the outbox retries. Each service ends with
//! exactly one message, none of the secrets is logged or stored, and `rules test
//! --send` posts a [TEST] to each.

mod support;

use std::time::Duration;

use support::chat::ChatServer;
use support::mailroom::Mailroom;

const SERVICES: [&str; 8] = [
    "slack",
    "mattermost",
    "teams",
    "discord",
    "google_chat",
    "ntfy",
    "matrix",
    "telegram",
];

/// AutoDNS's documented transfer_start notification, for a domain in Unicode.
fn transfer_out() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/samples/extra/autodns-notify-transfer-start.eml"
    ))
    .unwrap()
    .replace("transfer-52.example.org", "bücher-shop.example")
}

fn setup(chat: &ChatServer) -> Mailroom {
    let mailroom = Mailroom::new(&support::age::any_age(&format!(
        "[smtp]\ndir = \"out\"\n[http]\nlisten = \"127.0.0.1:{}\"\npublic_url = \"https://mailroom.example\"\n\
         [delivery]\nfirst_backoff = \"1s\"\nmax_backoff = \"2s\"\ngive_up_after = \"5m\"\n\
         [[maildir]]\nname = \"drop\"\npath = \"drop\"\n",
        support::free_port()
    )));
    for d in ["out", "drop"] {
        std::fs::create_dir_all(mailroom.dir().join(d)).unwrap();
    }
    std::fs::write(
        mailroom.dir().join("rules/10.toml"),
        format!(
            "[[rule]]\nname = \"transfers out to the team\"\nwhen.topic = \"transfer.out\"\nchat = [\n\
             {{ service = \"slack\", url_env = \"SLACK_WEBHOOK_URL\" }},\n\
             {{ service = \"mattermost\", url_env = \"MATTERMOST_URL\" }},\n\
             {{ service = \"teams\", url_env = \"TEAMS_WORKFLOW_URL\" }},\n\
             {{ service = \"discord\", url_env = \"DISCORD_URL\" }},\n\
             {{ service = \"google_chat\", url_env = \"GCHAT_URL\" }},\n\
             {{ service = \"ntfy\", url = \"{}\", token_env = \"NTFY_TOKEN\" }},\n\
             {{ service = \"matrix\", homeserver = \"{}\", room = \"{}\", token_env = \"MATRIX_TOKEN\" }},\n\
             {{ service = \"telegram\", api_url = \"{}\", bot_token_env = \"TELEGRAM_TOKEN\", chat_id = \"{}\" }},\n]\n",
            chat.ntfy_url(),
            chat.matrix_homeserver(),
            ChatServer::MATRIX_ROOM,
            chat.telegram_api(),
            ChatServer::TELEGRAM_CHAT,
        ),
    )
    .unwrap();
    mailroom
}

fn with_secrets(c: &mut std::process::Command, chat: &ChatServer) {
    c.env("SLACK_WEBHOOK_URL", chat.slack_url())
        .env("MATTERMOST_URL", chat.mattermost_url())
        .env("TEAMS_WORKFLOW_URL", chat.teams_url())
        .env("DISCORD_URL", chat.discord_url())
        .env("GCHAT_URL", chat.google_chat_url())
        .env("NTFY_TOKEN", ChatServer::NTFY_TOKEN)
        .env("MATRIX_TOKEN", ChatServer::MATRIX_TOKEN)
        .env("TELEGRAM_TOKEN", ChatServer::TELEGRAM_TOKEN);
}

fn all_problems(chat: &ChatServer) -> Vec<String> {
    chat.all_requests()
        .iter()
        .flat_map(|r| {
            r.problems
                .iter()
                .map(move |p| format!("{}: {p}", r.service))
        })
        .collect()
}

#[test]
fn one_event_reaches_every_chat_service_once_through_429s_and_errors() {
    let chat = ChatServer::start();
    // Rate limits answered each service's own way, and plain server errors.
    chat.fail_next("slack", &["429:1"]);
    chat.fail_next("discord", &["429:1", "500"]);
    chat.fail_next("matrix", &["429:1"]);
    chat.fail_next("telegram", &["429:1"]);
    chat.fail_next("teams", &["503"]);
    chat.fail_next("ntfy", &["429:1"]);
    let mailroom = setup(&chat);
    let log = std::fs::File::create(mailroom.dir().join("watch.log")).unwrap();
    let mut cmd = mailroom.cmd(&["watch"]);
    with_secrets(&mut cmd, &chat);
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    std::fs::write(mailroom.dir().join("drop/transfer.eml"), transfer_out()).unwrap();
    mailroom.wait(
        "a message on every service",
        Duration::from_secs(60),
        || SERVICES.iter().all(|s| !chat.delivered(s).is_empty()),
    );
    // Nothing more comes: retries stop at the first success.
    std::thread::sleep(Duration::from_secs(3));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        all_problems(&chat),
        Vec::<String>::new(),
        "{}",
        mailroom.log()
    );
    for s in SERVICES {
        assert_eq!(chat.messages(s), 1, "{s}: {:?}", chat.requests(s));
    }
    // Every rate-limited or failed first try was retried, and only once more.
    assert_eq!(chat.requests("slack").len(), 2);
    assert_eq!(chat.requests("discord").len(), 3);
    assert_eq!(chat.requests("teams").len(), 2);
    // A Matrix retry is the same transaction: same path, one event in the room.
    let matrix = chat.requests("matrix");
    assert_eq!(matrix.len(), 2);
    assert_eq!(matrix[0].path, matrix[1].path);
    // What each says: registrar, what happened, domain, state, and the link.
    let slack = &chat.delivered("slack")[0];
    let text = slack.body.clone();
    assert!(text.contains("AutoDNS"), "{text}");
    assert!(text.contains("transfer out"), "{text}");
    assert!(text.contains("bücher-shop.example"), "{text}");
    assert!(text.contains("https://mailroom.example/events/"), "{text}");
    let ntfy = &chat.delivered("ntfy")[0];
    assert_eq!(
        ntfy.header("Priority"),
        Some("high"),
        "a pending transfer out"
    );
    assert!(
        ntfy.header("Click")
            .is_some_and(|c| c.starts_with("https://mailroom.example/events/"))
    );
    let teams = chat.delivered("teams")[0].json.clone().unwrap();
    assert_eq!(
        teams["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    // The secrets are nowhere but in the environment.
    let db = std::fs::read(mailroom.db()).unwrap();
    let wal = std::fs::read(mailroom.dir().join("m.db-wal")).unwrap_or_default();
    let log = mailroom.log();
    for secret in chat.secrets() {
        assert!(!log.contains(&secret), "the log holds a secret:\n{log}");
        for bytes in [&db, &wal] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "the database holds a secret"
            );
        }
    }
    // `status`-like listings name each destination without its secret.
    let out = mailroom.run(&["outbox", "--all", "--json"]);
    let listing = String::from_utf8_lossy(&out.stdout);
    for secret in chat.secrets() {
        assert!(!listing.contains(&secret), "{listing}");
    }
}

#[test]
fn rules_test_send_posts_a_test_message_to_each_service() {
    let chat = ChatServer::start();
    let mailroom = setup(&chat);
    let mut cmd = mailroom.cmd(&["rules", "test", "--topic", "transfer.out", "--send"]);
    with_secrets(&mut cmd, &chat);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(all_problems(&chat), Vec::<String>::new());
    for s in SERVICES {
        let d = chat.delivered(s);
        assert_eq!(d.len(), 1, "{s}");
        // ntfy carries the title in its Title header, the others in the body.
        let said = format!("{} {}", d[0].header("Title").unwrap_or(""), d[0].body);
        assert!(said.contains("[TEST]"), "{s}: {said}");
    }
    let printed = String::from_utf8_lossy(&out.stdout);
    for secret in chat.secrets() {
        assert!(!printed.contains(&secret), "{printed}");
    }
}
