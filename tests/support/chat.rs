//! Eight chat services as one test server (`chat_server.py`): Slack and Mattermost
//! incoming webhooks, a Microsoft Teams Workflows webhook (Adaptive Cards), a Discord
//! webhook, a Google Chat incoming webhook, an ntfy topic, a Matrix homeserver's send
//! endpoint and the Telegram Bot API, each under its own path prefix on one free loopback
//! port. Every request is checked as that service documents it and answered as the
//! service does (its errors and its rate limiting included); the rules and the
//! documentation followed are listed at the top of `chat_server.py`. Every request is
//! recorded (see [`ChatRequest`]); [`ChatServer::fail_next`] queues faults. Stopped when
//! dropped (and when the test process dies: it exits on stdin EOF).

use std::collections::HashSet;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

use super::{START_TIMEOUT, free_port, python, terminate};

/// One request the server received, as recorded in its `requests.jsonl`.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    /// slack, mattermost, teams, discord, google_chat, ntfy, matrix, telegram
    /// (or "unknown" for a path no service serves).
    pub service: String,
    pub method: String,
    /// The path and query with the secret part replaced by `<secret>`.
    pub path: String,
    /// As received (a configured secret anywhere in a value reads `<secret>`).
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The payload as the service read it: the JSON body; a form's fields (Slack's and
    /// Mattermost's `payload=` JSON; Telegram's parameters, query included); for ntfy the
    /// published message (message, title, priority, tags, click, content_type).
    pub json: Option<serde_json::Value>,
    /// The status answered; 0 when a hang or close fault gave no answer.
    pub status: u16,
    /// What the request broke of the service's documented rules (empty: nothing).
    pub problems: Vec<String>,
    /// The answer's body.
    pub response: String,
    /// The injected fault that answered it ("429:2", "500", "hang:3", ...), if any.
    pub fault: Option<String>,
    /// The id of the message the service shows for it (Matrix: the event_id, the same for
    /// a repeated txnId), or None when nothing was posted.
    pub posted: Option<String>,
}

impl ChatRequest {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Accepted: a 2xx answer, no fault, and no problems.
    pub fn is_delivered(&self) -> bool {
        (200..300).contains(&self.status) && self.fault.is_none() && self.problems.is_empty()
    }

    fn from_json(v: &serde_json::Value) -> Option<ChatRequest> {
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        let headers = v
            .get("headers")?
            .as_array()?
            .iter()
            .filter_map(|h| Some((h.get(0)?.as_str()?.into(), h.get(1)?.as_str()?.into())))
            .collect();
        let problems = v
            .get("problems")
            .and_then(|p| p.as_array())
            .map(|p| {
                p.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Some(ChatRequest {
            service: s("service")?,
            method: s("method")?,
            path: s("path")?,
            headers,
            body: s("body").unwrap_or_default(),
            json: v.get("json").filter(|j| !j.is_null()).cloned(),
            status: v.get("status")?.as_u64()? as u16,
            problems,
            response: s("response").unwrap_or_default(),
            fault: s("fault"),
            posted: s("posted"),
        })
    }
}

pub struct ChatServer {
    tmp: TempDir,
    port: u16,
    child: Option<Child>,
}

const SLACK_TEAM: &str = "T0MA1LR00M";
const SLACK_HOOK: &str = "B0CHATFAKE1";
const SLACK_SECRET: &str = "sLkWh00kS3cr3tMa1lr00mX7q";
const MATTERMOST_HOOK: &str = "mmh00ks3cr3tma1lr00mtestq7";
const TEAMS_WORKFLOW: &str = "5f1e0c4d2b7a4e3f9c8d6b5a4e3f2d1c";
const TEAMS_SIG: &str = "TmsS1g-Ma1lr00m_W0rkfl0wsFakeSig9xQ2v7Lk3pZ8";
const DISCORD_ID: &str = "1187654321098765432";
const DISCORD_TOKEN: &str =
    "DscTok-ma1lr00m_fakeWebhookT0ken9Zq3Xv7Lk2Pw8Rn4Ty6Ub1Oc5Md0Ae3Sf7Gh9Jk";
const GCHAT_SPACE: &str = "AAAAma1lr00m";
const GCHAT_KEY: &str = "AIzaSyMa1lr00mFakeChatWebhookKey0000042";
const GCHAT_TOKEN: &str = "GcTok-ma1lr00m_fakeWebhookToken7Qx2Lv9Pz4Kw";
const NTFY_TOPIC: &str = "registrar";

impl ChatServer {
    /// The ntfy access token the topic accepts (`Authorization: Bearer ...`).
    pub const NTFY_TOKEN: &'static str = "tk_ma1lr00mfaketokenq7x2lv9pz4kw";
    /// The Matrix access token (`Authorization: Bearer ...`).
    pub const MATRIX_TOKEN: &'static str = "syt_bWFpbHJvb20_Ma1lr00mFakeAccessTok_3kQ9xZ";
    /// The room the Matrix user may send to.
    pub const MATRIX_ROOM: &'static str = "!ma1lr00mTestRoom:example.org";
    /// The Telegram bot token (`{api}/bot<token>/sendMessage`).
    pub const TELEGRAM_TOKEN: &'static str = "7012345678:AAFma1lr00m-FakeB0tT0ken_q7x2Lv9Pz4";
    /// The chat the bot may send to (`chat_id`).
    pub const TELEGRAM_CHAT: &'static str = "-1001234567890";

    /// Starts the server; returns once it is READY.
    pub fn start() -> ChatServer {
        let tmp = tempfile::Builder::new()
            .prefix("mr-chat-")
            .tempdir()
            .expect("tempdir");
        let port = free_port();
        let config = serde_json::json!({
            "slack": {"team": SLACK_TEAM, "hook": SLACK_HOOK, "secret": SLACK_SECRET},
            "mattermost": {"hook": MATTERMOST_HOOK},
            "teams": {"workflow": TEAMS_WORKFLOW, "sig": TEAMS_SIG},
            "discord": {"id": DISCORD_ID, "token": DISCORD_TOKEN},
            "google_chat": {"space": GCHAT_SPACE, "key": GCHAT_KEY, "token": GCHAT_TOKEN},
            "ntfy": {"topic": NTFY_TOPIC, "token": Self::NTFY_TOKEN},
            "matrix": {"token": Self::MATRIX_TOKEN, "room": Self::MATRIX_ROOM,
                       "user": "@mailroom:example.org"},
            "telegram": {"token": Self::TELEGRAM_TOKEN, "chat": Self::TELEGRAM_CHAT},
        });
        let config_path = tmp.path().join("config.json");
        fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        let log_path = tmp.path().join("server.log");
        let log = fs::File::create(&log_path).unwrap();
        let mut child = Command::new(python())
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/support/chat_server.py"
            ))
            .arg("--port")
            .arg(port.to_string())
            .arg("--dir")
            .arg(tmp.path())
            .arg("--config")
            .arg(&config_path)
            .arg("--log")
            .arg(&log_path)
            .arg("--exit-on-stdin-eof")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn python3 chat_server.py: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let server = ChatServer {
            tmp,
            port,
            child: Some(child),
        };
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) if line.trim() == "READY" => server,
            other => panic!(
                "chat_server.py did not start ({other:?})\n{}",
                server.log_tail()
            ),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The Slack incoming-webhook URL, secret included.
    pub fn slack_url(&self) -> String {
        format!(
            "{}/slack/services/{SLACK_TEAM}/{SLACK_HOOK}/{SLACK_SECRET}",
            self.base_url()
        )
    }

    /// The Mattermost incoming-webhook URL (`.../hooks/ID`, the id being the secret).
    pub fn mattermost_url(&self) -> String {
        format!("{}/mattermost/hooks/{MATTERMOST_HOOK}", self.base_url())
    }

    /// A Workflows-style URL: `.../workflows/ID/triggers/manual/paths/invoke?api-version=..&sp=..&sv=..&sig=SECRET`.
    pub fn teams_url(&self) -> String {
        format!(
            "{}/teams/workflows/{TEAMS_WORKFLOW}/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={TEAMS_SIG}",
            self.base_url()
        )
    }

    /// The Discord webhook URL `.../api/webhooks/{id}/{token}`.
    pub fn discord_url(&self) -> String {
        format!(
            "{}/discord/api/webhooks/{DISCORD_ID}/{DISCORD_TOKEN}",
            self.base_url()
        )
    }

    /// The Google Chat webhook URL `.../v1/spaces/SPACE/messages?key=..&token=..`.
    pub fn google_chat_url(&self) -> String {
        format!(
            "{}/google_chat/v1/spaces/{GCHAT_SPACE}/messages?key={GCHAT_KEY}&token={GCHAT_TOKEN}",
            self.base_url()
        )
    }

    /// The ntfy topic URL (`.../ntfy/registrar`); publishing needs [`Self::NTFY_TOKEN`].
    pub fn ntfy_url(&self) -> String {
        format!("{}/ntfy/{NTFY_TOPIC}", self.base_url())
    }

    /// The Matrix homeserver base URL (append `/_matrix/client/v3/...`).
    pub fn matrix_homeserver(&self) -> String {
        format!("{}/matrix", self.base_url())
    }

    /// The base URL standing in for `https://api.telegram.org` (append `/bot<token>/METHOD`).
    pub fn telegram_api(&self) -> String {
        format!("{}/telegram", self.base_url())
    }

    /// Every secret the services accept, for "never logged" checks.
    pub fn secrets(&self) -> Vec<String> {
        [
            SLACK_SECRET,
            MATTERMOST_HOOK,
            TEAMS_SIG,
            DISCORD_TOKEN,
            GCHAT_KEY,
            GCHAT_TOKEN,
            Self::NTFY_TOKEN,
            Self::MATRIX_TOKEN,
            Self::TELEGRAM_TOKEN,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// Queues answers `service` gives to its next requests, in order, before behaving
    /// normally again: "429" or "429:SECONDS" (the service's own rate-limit answer,
    /// default 1 s), another status such as "500" or "503" (a plain server error),
    /// "hang" or "hang:SECONDS" (no answer, the connection closed after SECONDS, default
    /// 30), "close" (closed at once without an answer).
    pub fn fail_next(&self, service: &str, answers: &[&str]) {
        let body = serde_json::to_vec(answers).unwrap();
        let reply = super::http(
            self.port,
            "POST",
            &format!("/_control/fail/{service}"),
            "Content-Type: application/json\r\n",
            &body,
        );
        assert_eq!(
            reply.status,
            200,
            "fail_next({service}, {answers:?}): {}\n{}",
            String::from_utf8_lossy(&reply.body),
            self.log_tail()
        );
    }

    /// Every recorded request, in arrival order.
    pub fn all_requests(&self) -> Vec<ChatRequest> {
        fs::read_to_string(self.path("requests.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| ChatRequest::from_json(&v))
            .collect()
    }

    /// The requests `service` received, in arrival order.
    pub fn requests(&self, service: &str) -> Vec<ChatRequest> {
        self.all_requests()
            .into_iter()
            .filter(|r| r.service == service)
            .collect()
    }

    /// The accepted ones: 2xx, not faulted, no problems.
    pub fn delivered(&self, service: &str) -> Vec<ChatRequest> {
        self.requests(service)
            .into_iter()
            .filter(ChatRequest::is_delivered)
            .collect()
    }

    /// Distinct messages posted among the delivered requests (Matrix: distinct event_ids,
    /// so a txnId sent again counts once).
    pub fn messages(&self, service: &str) -> usize {
        self.delivered(service)
            .into_iter()
            .filter_map(|r| r.posted)
            .collect::<HashSet<_>>()
            .len()
    }

    /// The server's log (one redacted line a request), for panic messages.
    pub fn log_tail(&self) -> String {
        super::file_tail(&self.path("server.log"), 40)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }
}

impl Drop for ChatServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            terminate(&mut c);
        }
    }
}
