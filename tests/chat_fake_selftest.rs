//! The chat test server (`support/chat_server.py`) itself: for each of the eight
//! services a valid request gets the documented success answer, an invalid one the
//! documented error with its problems recorded, and a 429 fault the service's own
//! rate-limit answer; Matrix's same txnId twice is one message with one event_id; a hang
//! fault gives no answer; no secret reaches the server's records.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::HttpReply;
use support::chat::ChatServer;

/// The path and query of one of the server's URLs.
fn target(server: &ChatServer, url: &str) -> String {
    url.strip_prefix(&server.base_url())
        .unwrap_or_else(|| panic!("{url} is not on {}", server.base_url()))
        .to_string()
}

fn send(server: &ChatServer, method: &str, url: &str, headers: &str, body: &[u8]) -> HttpReply {
    support::http(server.port(), method, &target(server, url), headers, body)
}

fn post_json(server: &ChatServer, url: &str, body: &Value) -> HttpReply {
    send(
        server,
        "POST",
        url,
        "Content-Type: application/json\r\n",
        body.to_string().as_bytes(),
    )
}

fn text(reply: &HttpReply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

fn json_of(reply: &HttpReply) -> Value {
    serde_json::from_slice(&reply.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", text(reply)))
}

/// The value of header `name` in a reply's head.
fn header(reply: &HttpReply, name: &str) -> Option<String> {
    reply.head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// The last recorded request of `service`, which must have problems.
fn last_with_problems(server: &ChatServer, service: &str, status: u16) {
    let last = server.requests(service).pop().expect("a recorded request");
    assert_eq!(last.status, status, "{last:?}");
    assert!(!last.problems.is_empty(), "no problems recorded: {last:?}");
    assert!(!last.is_delivered());
}

#[test]
fn slack() {
    let s = ChatServer::start();
    let url = s.slack_url();
    let ok = post_json(
        &s,
        &url,
        &json!({"text": "gandi: example.com expires in 30 days",
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*example.com* expires"}},
                           {"type": "context", "elements": [{"type": "mrkdwn", "text": "gandi"}]}]}),
    );
    assert_eq!(
        (ok.status, text(&ok).as_str()),
        (200, "ok"),
        "{}",
        s.log_tail()
    );

    let no_text = post_json(&s, &url, &json!({"username": "x"}));
    assert_eq!((no_text.status, text(&no_text).as_str()), (400, "no_text"));
    last_with_problems(&s, "slack", 400);

    let long = "x".repeat(3001);
    let bad_blocks = post_json(
        &s,
        &url,
        &json!({"text": "t", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": long}}]}),
    );
    assert_eq!(
        (bad_blocks.status, text(&bad_blocks).as_str()),
        (400, "invalid_blocks")
    );
    assert!(s.requests("slack")[2].problems[0].contains("3001"));

    // Accepted by Slack, but without the notification fallback: a problem.
    let no_fallback = post_json(
        &s,
        &url,
        &json!({"blocks": [{"type": "divider"}, {"type": "header", "text": {"type": "plain_text", "text": "h"}}]}),
    );
    assert_eq!(no_fallback.status, 200);
    last_with_problems(&s, "slack", 200);

    let wrong = send(
        &s,
        "POST",
        &url.replace("Ma1lr00mX7q", "Ma1lr00mX7r"),
        "Content-Type: application/json\r\n",
        b"{\"text\":\"x\"}",
    );
    assert_eq!(
        (wrong.status, text(&wrong).as_str()),
        (403, "invalid_token")
    );

    s.fail_next("slack", &["429:7", "503"]);
    let limited = post_json(&s, &url, &json!({"text": "again"}));
    assert_eq!(limited.status, 429);
    assert_eq!(header(&limited, "retry-after").as_deref(), Some("7"));
    assert_eq!(post_json(&s, &url, &json!({"text": "again"})).status, 503);
    assert_eq!(post_json(&s, &url, &json!({"text": "again"})).status, 200);

    let reqs = s.requests("slack");
    assert_eq!(reqs[5].fault.as_deref(), Some("429:7"));
    assert_eq!(reqs[6].fault.as_deref(), Some("503"));
    assert!(
        reqs.iter()
            .all(|r| r.path.ends_with("/<secret>") && !r.path.contains("X7q"))
    );
    assert_eq!(s.delivered("slack").len(), 2);
    assert_eq!(s.messages("slack"), 2);
    assert_eq!(
        s.delivered("slack")[0].json.as_ref().unwrap()["text"],
        "gandi: example.com expires in 30 days"
    );
}

#[test]
fn mattermost() {
    let s = ChatServer::start();
    let url = s.mattermost_url();
    let ok = post_json(
        &s,
        &url,
        &json!({"text": "#### example.com\nexpires in 30 days", "props": {"card": "x"}}),
    );
    assert_eq!((ok.status, text(&ok).as_str()), (200, "ok"));

    let empty = post_json(&s, &url, &json!({"text": ""}));
    assert_eq!(empty.status, 400);
    assert_eq!(json_of(&empty)["id"], "web.incoming_webhook.text.app_error");
    last_with_problems(&s, "mattermost", 400);

    let wrong = post_json(&s, &format!("{url}x"), &json!({"text": "t"}));
    assert_eq!(
        json_of(&wrong)["id"],
        "web.incoming_webhook.invalid.app_error"
    );

    // Slack-compatible form body.
    let form = send(
        &s,
        "POST",
        &url,
        "Content-Type: application/x-www-form-urlencoded\r\n",
        b"payload=%7B%22text%22%3A%22hi%22%7D",
    );
    assert_eq!(form.status, 200);

    s.fail_next("mattermost", &["429:3"]);
    let limited = post_json(&s, &url, &json!({"text": "t"}));
    assert_eq!(limited.status, 429);
    assert_eq!(header(&limited, "retry-after").as_deref(), Some("3"));
    assert_eq!(
        header(&limited, "x-ratelimit-remaining").as_deref(),
        Some("0")
    );
    assert_eq!(s.messages("mattermost"), 2);
}

fn adaptive_card() -> Value {
    json!({"type": "message", "attachments": [{
    "contentType": "application/vnd.microsoft.card.adaptive",
    "contentUrl": null,
    "content": {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard", "version": "1.4",
        "body": [{"type": "TextBlock", "text": "example.com expires", "wrap": true, "weight": "Bolder"},
                 {"type": "FactSet", "facts": [{"title": "Registrar", "value": "Gandi"}]}],
        "actions": [{"type": "Action.OpenUrl", "title": "Open", "url": "https://example.com/"}]
    }}]})
}

#[test]
fn teams() {
    let s = ChatServer::start();
    let url = s.teams_url();
    assert!(
        url.contains("/workflows/") && url.contains("/triggers/manual/paths/invoke?api-version=")
    );
    let ok = post_json(&s, &url, &adaptive_card());
    assert_eq!(ok.status, 202, "{}", text(&ok));
    assert!(ok.body.is_empty());

    // The retired Office 365 connector card is refused.
    let message_card = post_json(
        &s,
        &url,
        &json!({"@type": "MessageCard", "@context": "http://schema.org/extensions",
                "summary": "s", "themeColor": "0076D7", "sections": [{"activityTitle": "t"}]}),
    );
    assert_eq!(message_card.status, 400);
    assert_eq!(
        json_of(&message_card)["error"]["code"],
        "TriggerInputSchemaMismatch"
    );
    last_with_problems(&s, "teams", 400);
    let connector_attachment = post_json(
        &s,
        &url,
        &json!({"type": "message", "attachments": [{
            "contentType": "application/vnd.microsoft.teams.card.o365connector",
            "content": {"@type": "MessageCard", "text": "t"}}]}),
    );
    assert_eq!(connector_attachment.status, 400);

    // Accepted by the trigger, but the card is broken: recorded, not delivered.
    let mut broken = adaptive_card();
    broken["attachments"][0]["content"]["body"][0] = json!({"type": "TextBlock"});
    assert_eq!(post_json(&s, &url, &broken).status, 202);
    last_with_problems(&s, "teams", 202);

    let wrong = post_json(
        &s,
        &url.replace("sig=TmsS1g", "sig=TmsS1h"),
        &adaptive_card(),
    );
    assert_eq!(wrong.status, 401);
    assert_eq!(
        json_of(&wrong)["error"]["code"],
        "DirectApiInvalidAuthorizationSignature"
    );

    s.fail_next("teams", &["429:4"]);
    let limited = post_json(&s, &url, &adaptive_card());
    assert_eq!(limited.status, 429);
    assert_eq!(header(&limited, "retry-after").as_deref(), Some("4"));
    assert_eq!(
        json_of(&limited)["error"]["code"],
        "WorkflowRequestsThrottled"
    );
    assert!(
        s.requests("teams")
            .iter()
            .all(|r| r.path.contains("sig=<secret>"))
    );
    assert_eq!(s.messages("teams"), 1);
}

#[test]
fn discord() {
    let s = ChatServer::start();
    let url = s.discord_url();
    let embed = json!({"title": "example.com", "description": "expires in 30 days", "color": 0xE67E22,
                       "fields": [{"name": "Registrar", "value": "Gandi", "inline": true}],
                       "footer": {"text": "mailroom"}, "timestamp": "2026-01-02T03:04:05Z"});
    let ok = post_json(&s, &url, &json!({"content": "hello", "embeds": [embed]}));
    assert_eq!(ok.status, 204, "{}", text(&ok));
    let waited = post_json(
        &s,
        &format!("{url}?wait=true"),
        &json!({"content": "hello"}),
    );
    assert_eq!(waited.status, 200);
    assert_eq!(json_of(&waited)["content"], "hello");
    assert!(json_of(&waited)["id"].as_str().is_some());

    let long = post_json(&s, &url, &json!({"content": "x".repeat(2001)}));
    assert_eq!(long.status, 400);
    assert_eq!(json_of(&long)["code"], 50035);
    assert_eq!(
        json_of(&long)["errors"]["content"]["_errors"][0]["code"],
        "BASE_TYPE_MAX_LENGTH"
    );
    last_with_problems(&s, "discord", 400);

    let eleven = post_json(
        &s,
        &url,
        &json!({"embeds": vec![json!({"title": "t"}); 11]}),
    );
    assert_eq!(eleven.status, 400);
    let empty = post_json(&s, &url, &json!({"content": ""}));
    assert_eq!(json_of(&empty)["code"], 50006);

    let wrong = post_json(&s, &url.replace("Jk", "Jl"), &json!({"content": "hello"}));
    assert_eq!(wrong.status, 401);
    assert_eq!(json_of(&wrong)["code"], 50027);

    s.fail_next("discord", &["429:2.5"]);
    let limited = post_json(&s, &url, &json!({"content": "hello"}));
    assert_eq!(limited.status, 429);
    assert_eq!(header(&limited, "retry-after").as_deref(), Some("3"));
    assert_eq!(json_of(&limited)["retry_after"], 2.5);
    assert_eq!(json_of(&limited)["global"], false);
    assert_eq!(s.messages("discord"), 2);
}

#[test]
fn google_chat() {
    let s = ChatServer::start();
    let url = s.google_chat_url();
    let ok = send(
        &s,
        "POST",
        &url,
        "Content-Type: application/json; charset=UTF-8\r\n",
        json!({"text": "*example.com* expires",
               "cardsV2": [{"cardId": "expiry", "card": {
                   "header": {"title": "example.com"},
                   "sections": [{"widgets": [{"textParagraph": {"text": "expires in <b>30</b> days"}}]}]}}]})
        .to_string()
        .as_bytes(),
    );
    assert_eq!(ok.status, 200, "{}", text(&ok));
    assert!(
        json_of(&ok)["name"]
            .as_str()
            .unwrap()
            .starts_with("spaces/")
    );

    let empty = post_json(&s, &url, &json!({"text": ""}));
    assert_eq!(empty.status, 400);
    assert_eq!(json_of(&empty)["error"]["status"], "INVALID_ARGUMENT");
    last_with_problems(&s, "google_chat", 400);
    let unknown = post_json(&s, &url, &json!({"text": "t", "blocks": []}));
    assert_eq!(unknown.status, 400);

    let no_token = post_json(
        &s,
        url.split("&token=").next().unwrap(),
        &json!({"text": "t"}),
    );
    assert_eq!(no_token.status, 401);

    s.fail_next("google_chat", &["429"]);
    let limited = post_json(&s, &url, &json!({"text": "t"}));
    assert_eq!(limited.status, 429);
    assert_eq!(json_of(&limited)["error"]["status"], "RESOURCE_EXHAUSTED");
    assert!(
        s.requests("google_chat")
            .iter()
            .all(|r| r.path.contains("key=<secret>"))
    );
    assert_eq!(s.messages("google_chat"), 1);
}

#[test]
fn ntfy() {
    let s = ChatServer::start();
    let url = s.ntfy_url();
    let auth = format!("Authorization: Bearer {}\r\n", ChatServer::NTFY_TOKEN);
    let ok = send(
        &s,
        "POST",
        &url,
        &format!(
            "{auth}Title: =?UTF-8?B?w6ljaMOpYW5jZQ==?=\r\nPriority: high\r\nTags: warning,calendar\r\n\
             Click: https://example.com/\r\nMarkdown: yes\r\n"
        ),
        "**example.com** expires".as_bytes(),
    );
    assert_eq!(ok.status, 200, "{}", text(&ok));
    let msg = json_of(&ok);
    assert_eq!(msg["event"], "message");
    assert_eq!(msg["title"], "échéance");
    assert_eq!(msg["priority"], 4);
    assert_eq!(msg["tags"], json!(["warning", "calendar"]));
    assert_eq!(msg["content_type"], "text/markdown");
    assert_eq!(msg["message"], "**example.com** expires");

    let put = send(&s, "PUT", &url, &format!("{auth}Priority: 2\r\n"), b"plain");
    assert_eq!(put.status, 200);
    // The token as a Basic password with an empty user: accepted, recorded redacted.
    use base64::Engine as _;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!(":{}", ChatServer::NTFY_TOKEN));
    let basic = send(
        &s,
        "POST",
        &url,
        &format!("Authorization: Basic {basic}\r\n"),
        b"basic",
    );
    assert_eq!(basic.status, 200);
    let recorded = s.requests("ntfy").pop().unwrap();
    assert_eq!(recorded.header("Authorization"), Some("Basic <secret>"));

    let bad_priority = send(&s, "POST", &url, &format!("{auth}Priority: 6\r\n"), b"x");
    assert_eq!(bad_priority.status, 400);
    assert_eq!(json_of(&bad_priority)["code"], 40007);
    last_with_problems(&s, "ntfy", 400);

    let anonymous = send(&s, "POST", &url, "", b"x");
    assert_eq!(
        (anonymous.status, json_of(&anonymous)["code"].clone()),
        (403, json!(40301))
    );
    let wrong = send(&s, "POST", &url, "Authorization: Bearer tk_nope\r\n", b"x");
    assert_eq!(
        (wrong.status, json_of(&wrong)["code"].clone()),
        (401, json!(40101))
    );

    s.fail_next("ntfy", &["429"]);
    let limited = send(&s, "POST", &url, &auth, b"x");
    assert_eq!(limited.status, 429);
    assert_eq!(json_of(&limited)["code"], 42901);
    let first = &s.delivered("ntfy")[0];
    assert_eq!(first.header("authorization"), Some("Bearer <secret>"));
    assert_eq!(first.json.as_ref().unwrap()["title"], "échéance");
    assert_eq!(s.messages("ntfy"), 3);
}

#[test]
fn matrix() {
    let s = ChatServer::start();
    let room = ChatServer::MATRIX_ROOM
        .replace('!', "%21")
        .replace(':', "%3A");
    let send_url = |txn: &str| {
        format!(
            "{}/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}",
            s.matrix_homeserver()
        )
    };
    let auth = format!(
        "Authorization: Bearer {}\r\nContent-Type: application/json\r\n",
        ChatServer::MATRIX_TOKEN
    );
    let content = json!({"msgtype": "m.text", "body": "example.com expires",
                         "format": "org.matrix.custom.html",
                         "formatted_body": "<b>example.com</b> expires"});
    let body = content.to_string();
    let first = send(&s, "PUT", &send_url("mr-1"), &auth, body.as_bytes());
    assert_eq!(first.status, 200, "{}", text(&first));
    let event_id = json_of(&first)["event_id"].as_str().unwrap().to_string();
    assert!(event_id.starts_with('$'));
    // The same txnId again: the same event, no second message.
    let again = send(&s, "PUT", &send_url("mr-1"), &auth, body.as_bytes());
    assert_eq!(json_of(&again)["event_id"], event_id.as_str());
    assert_eq!(s.delivered("matrix").len(), 2);
    assert_eq!(s.messages("matrix"), 1);

    let wrong = send(
        &s,
        "PUT",
        &send_url("mr-2"),
        "Authorization: Bearer syt_wrong\r\n",
        body.as_bytes(),
    );
    assert_eq!(wrong.status, 401);
    assert_eq!(json_of(&wrong)["errcode"], "M_UNKNOWN_TOKEN");
    last_with_problems(&s, "matrix", 401);
    let missing = send(&s, "PUT", &send_url("mr-2"), "", body.as_bytes());
    assert_eq!(json_of(&missing)["errcode"], "M_MISSING_TOKEN");

    // A 429 does not remember the txnId: the retry posts.
    s.fail_next("matrix", &["429:1.5"]);
    let limited = send(&s, "PUT", &send_url("mr-2"), &auth, body.as_bytes());
    assert_eq!(limited.status, 429);
    assert_eq!(json_of(&limited)["errcode"], "M_LIMIT_EXCEEDED");
    assert_eq!(json_of(&limited)["retry_after_ms"], 1500);
    assert_eq!(header(&limited, "retry-after").as_deref(), Some("2"));
    let retried = send(&s, "PUT", &send_url("mr-2"), &auth, body.as_bytes());
    assert_ne!(json_of(&retried)["event_id"], event_id.as_str());
    assert_eq!(s.messages("matrix"), 2);

    // The same txnId with another message: the earlier event, and a problem.
    let reused = send(
        &s,
        "PUT",
        &send_url("mr-2"),
        &auth,
        json!({"msgtype": "m.text", "body": "another"})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(reused.status, 200);
    last_with_problems(&s, "matrix", 200);
    assert_eq!(s.messages("matrix"), 2);
}

#[test]
fn telegram() {
    let s = ChatServer::start();
    let send_message = format!(
        "{}/bot{}/sendMessage",
        s.telegram_api(),
        ChatServer::TELEGRAM_TOKEN
    );
    let ok = post_json(
        &s,
        &send_message,
        &json!({"chat_id": ChatServer::TELEGRAM_CHAT.parse::<i64>().unwrap(),
                "text": "<b>example.com</b> expires &lt;soon&gt; &amp; <a href=\"https://example.com/\">renew</a>",
                "parse_mode": "HTML"}),
    );
    assert_eq!(ok.status, 200, "{}", text(&ok));
    let reply = json_of(&ok);
    assert_eq!(reply["ok"], true);
    assert_eq!(
        reply["result"]["text"],
        "example.com expires <soon> & renew"
    );

    let form = send(
        &s,
        "POST",
        &send_message,
        "Content-Type: application/x-www-form-urlencoded\r\n",
        format!(
            "chat_id={}&parse_mode=MarkdownV2&text=*example\\.com* expires",
            ChatServer::TELEGRAM_CHAT
        )
        .as_bytes(),
    );
    assert_eq!(form.status, 200, "{}", text(&form));

    let wrong_token = post_json(
        &s,
        &send_message.replace("Pz4/", "Pz5/"),
        &json!({"chat_id": ChatServer::TELEGRAM_CHAT, "text": "x"}),
    );
    assert_eq!(wrong_token.status, 401);
    assert_eq!(
        json_of(&wrong_token),
        json!({"ok": false, "error_code": 401, "description": "Unauthorized"})
    );
    last_with_problems(&s, "telegram", 401);

    let bad_html = post_json(
        &s,
        &send_message,
        &json!({"chat_id": ChatServer::TELEGRAM_CHAT, "text": "<div>a & b</div>", "parse_mode": "HTML"}),
    );
    assert_eq!(bad_html.status, 400);
    assert!(
        json_of(&bad_html)["description"]
            .as_str()
            .unwrap()
            .starts_with("Bad Request: can't parse entities")
    );
    let unescaped = post_json(
        &s,
        &send_message,
        &json!({"chat_id": ChatServer::TELEGRAM_CHAT, "text": "a & b", "parse_mode": "HTML"}),
    );
    assert_eq!(unescaped.status, 400);
    let too_long = post_json(
        &s,
        &send_message,
        &json!({"chat_id": ChatServer::TELEGRAM_CHAT, "text": "x".repeat(4097)}),
    );
    assert_eq!(
        json_of(&too_long)["description"],
        "Bad Request: message is too long"
    );
    let other_chat = post_json(&s, &send_message, &json!({"chat_id": 42, "text": "x"}));
    assert_eq!(
        json_of(&other_chat)["description"],
        "Bad Request: chat not found"
    );

    s.fail_next("telegram", &["429:5"]);
    let limited = post_json(
        &s,
        &send_message,
        &json!({"chat_id": ChatServer::TELEGRAM_CHAT, "text": "x"}),
    );
    assert_eq!(limited.status, 429);
    assert_eq!(json_of(&limited)["parameters"]["retry_after"], 5);
    assert_eq!(header(&limited, "retry-after"), None);
    assert!(
        s.requests("telegram")
            .iter()
            .all(|r| r.path.starts_with("/telegram/bot<secret>/"))
    );
    assert_eq!(s.messages("telegram"), 2);
}

#[test]
fn hang_fault_and_no_secret_recorded() {
    let s = ChatServer::start();
    s.fail_next("slack", &["hang:1"]);
    let path = target(&s, &s.slack_url());
    let mut stream = TcpStream::connect(("127.0.0.1", s.port())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let body = b"{\"text\":\"x\"}";
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got);
    assert!(got.is_empty(), "a hang answers nothing: {got:?}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    let hung = s.requests("slack").pop().unwrap();
    assert_eq!((hung.status, hung.fault.as_deref()), (0, Some("hang:1")));

    // A secret in a body is caught, and redacted in the record like everywhere else.
    let leak = post_json(
        &s,
        &s.mattermost_url(),
        &json!({"text": format!("token {}", ChatServer::NTFY_TOKEN)}),
    );
    assert_eq!(leak.status, 200);
    last_with_problems(&s, "mattermost", 200);

    let all = s.all_requests();
    let log = s.log_tail();
    for secret in s.secrets() {
        for r in &all {
            let seen = format!("{} {:?} {} {}", r.path, r.headers, r.body, r.response);
            assert!(!seen.contains(&secret), "{secret} recorded: {seen}");
        }
        assert!(!log.contains(&secret), "{secret} in the log:\n{log}");
    }
}
