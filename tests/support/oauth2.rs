//! A small OAuth 2.0 authorization server (`oauth2_server.py`) on a free loopback port:
//! the token endpoint (refresh_token, authorization_code with PKCE S256, device_code
//! grants), device authorization, the authorization endpoint for a test "browser",
//! token introspection (for Dovecot's oauth2 passdb and the SMTP sink) and revocation,
//! as RFC 6749, 7636, 7662, 7009, 8252 and 8628 describe them. Tests steer it through
//! its admin endpoints: issue a first refresh token, revoke, approve a device code,
//! change token lifetime and rotation, read counters. Stopped when dropped; exits on
//! its own when the test process dies (stdin EOF). State survives `stop`/`start_again`.
//!
//! ```ignore
//! let oauth = OAuth2Server::start(OAuth2Options::default().expires_in(2).rotate(true));
//! let rt = oauth.refresh_token_for("reseller");
//! // token_url() / device_url() / authorize_url() for mailroom's [account.oauth2],
//! // introspect_url() for Dovecot (DovecotOptions::oauth2) and the SMTP sink.
//! ```

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

use super::{START_TIMEOUT, file_tail, free_port, http, python, terminate};

/// How the server starts. `Default`: one public client `mailroom-test`, access tokens
/// for an hour, no rotation, device codes polled every second for 10 minutes, the
/// browser sign-in approved as `reseller`, introspection behind HTTP Basic.
#[derive(Debug, Clone)]
pub struct OAuth2Options {
    pub client_id: String,
    /// `Some`: a confidential client (the secret by HTTP Basic or the form field);
    /// `None`: a public client (a secret presented is refused, as Microsoft does).
    pub client_secret: Option<String>,
    /// Access token lifetime in seconds (`expires_in`).
    pub expires_in: u64,
    /// Each refresh answers a new refresh token; the old one is void (invalid_grant).
    pub rotate: bool,
    /// RFC 8628 `interval` (the RFC's default is 5; tests want 1).
    pub device_interval: u64,
    pub device_expires_in: u64,
    /// The user the browser sign-in (`GET /authorize`) is approved as.
    pub authorize_user: String,
    /// A refresh token only when the scope holds `offline_access` (Microsoft).
    pub offline_access_required: bool,
    /// The resource server's credentials for `/introspect` (RFC 7662 §2.1 requires
    /// some); `None` leaves the endpoint open.
    pub introspect_auth: Option<(String, String)>,
}

impl Default for OAuth2Options {
    fn default() -> Self {
        OAuth2Options {
            client_id: OAuth2Server::CLIENT_ID.into(),
            client_secret: None,
            expires_in: 3600,
            rotate: false,
            device_interval: 1,
            device_expires_in: 600,
            authorize_user: "reseller".into(),
            offline_access_required: false,
            introspect_auth: Some(("dovecot".into(), "introspect-secret".into())),
        }
    }
}

impl OAuth2Options {
    pub fn confidential(mut self, secret: &str) -> Self {
        self.client_secret = Some(secret.into());
        self
    }
    pub fn expires_in(mut self, secs: u64) -> Self {
        self.expires_in = secs;
        self
    }
    pub fn rotate(mut self, on: bool) -> Self {
        self.rotate = on;
        self
    }
    pub fn device_interval(mut self, secs: u64) -> Self {
        self.device_interval = secs;
        self
    }
    pub fn device_expires_in(mut self, secs: u64) -> Self {
        self.device_expires_in = secs;
        self
    }
    pub fn authorize_user(mut self, user: &str) -> Self {
        self.authorize_user = user.into();
        self
    }
    pub fn offline_access_required(mut self, on: bool) -> Self {
        self.offline_access_required = on;
        self
    }
}

pub struct OAuth2Server {
    tmp: TempDir,
    port: u16,
    args: Vec<String>,
    child: Option<Child>,
    options: OAuth2Options,
}

impl OAuth2Server {
    pub const CLIENT_ID: &'static str = "mailroom-test";

    pub fn start(options: OAuth2Options) -> OAuth2Server {
        let tmp = tempfile::Builder::new()
            .prefix("mr-oauth2-")
            .tempdir()
            .expect("tempdir");
        let port = free_port();
        let config = json!({
            "clients": [{"client_id": options.client_id, "client_secret": options.client_secret}],
            "introspect_auth": options.introspect_auth.as_ref().map(|(u, p)| [u, p]),
            "expires_in": options.expires_in,
            "rotate": options.rotate,
            "device_interval": options.device_interval,
            "device_expires_in": options.device_expires_in,
            "authorize_user": options.authorize_user,
            "offline_access_required": options.offline_access_required,
        });
        let config_path = tmp.path().join("config.json");
        fs::write(&config_path, config.to_string()).unwrap();
        let args = vec![
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/support/oauth2_server.py"
            )
            .to_string(),
            "--port".into(),
            port.to_string(),
            "--dir".into(),
            tmp.path().display().to_string(),
            "--config".into(),
            config_path.display().to_string(),
            "--exit-on-stdin-eof".into(),
        ];
        let mut server = OAuth2Server {
            tmp,
            port,
            args,
            child: None,
            options,
        };
        server.start_again();
        server
    }

    /// (Re)starts on the same port with the same state; returns once it is READY.
    pub fn start_again(&mut self) {
        if let Some(c) = self.child.as_mut()
            && let Ok(None) = c.try_wait()
        {
            return;
        }
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let mut child = Command::new(python())
            .args(&self.args)
            .stdin(Stdio::piped()) // never written: EOF tells it we died
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn python3 oauth2_server.py: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        self.child = Some(child);
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) if line.trim() == "READY" => {}
            other => {
                if let Some(mut c) = self.child.take() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                panic!(
                    "oauth2_server.py did not start ({other:?})\n{}",
                    self.log_tail(40)
                )
            }
        }
    }

    /// SIGTERM and wait: the port then refuses connections (an endpoint that is down).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            terminate(&mut c);
        }
    }

    fn log_path(&self) -> PathBuf {
        self.tmp.path().join("server.log")
    }
    pub fn log_tail(&self, lines: usize) -> String {
        file_tail(&self.log_path(), lines)
    }

    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn options(&self) -> &OAuth2Options {
        &self.options
    }
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    pub fn token_url(&self) -> String {
        format!("{}/token", self.url())
    }
    pub fn device_url(&self) -> String {
        format!("{}/devicecode", self.url())
    }
    pub fn authorize_url(&self) -> String {
        format!("{}/authorize", self.url())
    }
    pub fn revoke_url(&self) -> String {
        format!("{}/revoke", self.url())
    }
    /// The introspection endpoint with the resource server's credentials in it
    /// (`http://user:pass@127.0.0.1:PORT/introspect`, as Dovecot's docs configure it).
    pub fn introspect_url(&self) -> String {
        match &self.options.introspect_auth {
            Some((u, p)) => format!("http://{u}:{p}@127.0.0.1:{}/introspect", self.port),
            None => format!("{}/introspect", self.url()),
        }
    }

    fn admin(&self, method: &str, path: &str, body: Value) -> Value {
        let body = body.to_string();
        let reply = http(
            self.port,
            method,
            path,
            "Content-Type: application/json\r\n",
            body.as_bytes(),
        );
        assert_eq!(
            reply.status,
            200,
            "oauth2 admin {path}: {}\n{}",
            String::from_utf8_lossy(&reply.body),
            self.log_tail(20)
        );
        serde_json::from_slice(&reply.body).unwrap()
    }

    /// A fresh grant for `user` (the configured client, no scope): its refresh token,
    /// as if the user had signed in once.
    pub fn refresh_token_for(&self, user: &str) -> String {
        self.issue(user, None)["refresh_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A fresh grant: `{"access_token", "refresh_token", "expires_in", ...}`.
    pub fn issue(&self, user: &str, scope: Option<&str>) -> Value {
        self.admin(
            "POST",
            "/admin/issue",
            json!({"user": user, "scope": scope}),
        )
    }

    /// An access token for `user` (from a fresh grant), for raw logins.
    pub fn access_token_for(&self, user: &str) -> String {
        self.issue(user, None)["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Revokes the grant of `token` (a refresh or an access token): its refresh tokens
    /// answer invalid_grant, its access tokens introspect inactive. Returns how many
    /// grants were revoked (0: unknown token).
    pub fn revoke(&self, token: &str) -> u64 {
        self.admin("POST", "/admin/revoke", json!({"token": token}))["revoked"]
            .as_u64()
            .unwrap()
    }

    /// Revokes every grant of `user` (a password change, an admin's "sign out everywhere").
    pub fn revoke_user(&self, user: &str) -> u64 {
        self.admin("POST", "/admin/revoke", json!({"user": user}))["revoked"]
            .as_u64()
            .unwrap()
    }

    /// Ends every live access token now (of `user`, or all): they introspect inactive,
    /// as after their `expires_in`. Refresh tokens stay good.
    pub fn expire_access_tokens(&self, user: Option<&str>) -> u64 {
        self.admin("POST", "/admin/expire-access", json!({"user": user}))["expired"]
            .as_u64()
            .unwrap()
    }

    /// Settings changed at run time: `expires_in`, `rotate`, `device_interval`,
    /// `device_expires_in`, `code_expires_in`, `authorize` ("approve" | "deny"),
    /// `authorize_user`, `offline_access_required`, `fail` (the next N token/device
    /// requests answer HTTP 503), `delay` (seconds before each token/device answer).
    pub fn configure(&self, settings: Value) {
        self.admin("POST", "/admin/config", settings);
    }
    pub fn set_expires_in(&self, secs: u64) {
        self.configure(json!({"expires_in": secs}));
    }
    pub fn set_rotate(&self, on: bool) {
        self.configure(json!({"rotate": on}));
    }
    /// The browser sign-in answers `error=access_denied` (true) or a code (false).
    pub fn deny_authorize(&self, deny: bool) {
        self.configure(json!({"authorize": if deny { "deny" } else { "approve" }}));
    }
    /// The next `n` requests to the token and device endpoints answer HTTP 503.
    pub fn fail_next(&self, n: u64) {
        self.configure(json!({"fail": n}));
    }

    /// Another client (`secret` None: public), e.g. to show a refresh token issued
    /// to one client is refused to another.
    pub fn add_client(&self, client_id: &str, secret: Option<&str>) {
        self.admin(
            "POST",
            "/admin/client",
            json!({"client_id": client_id, "client_secret": secret}),
        );
    }

    /// `{"config", "counters", "events", "pending_devices"}`.
    pub fn state(&self) -> Value {
        self.admin("GET", "/admin/state", json!({}))
    }

    /// A counter: `refresh_grants`, `refresh_refused`, `code_grants`, `code_refused`,
    /// `device_grants`, `device_polls`, `device_authorizations`, `slow_downs`,
    /// `authorize_requests`, `introspections`, `introspections_active`,
    /// `introspections_unauthorized`, `revocations`, `failed_on_purpose`.
    pub fn counter(&self, name: &str) -> u64 {
        self.state()["counters"][name].as_u64().unwrap_or(0)
    }
    /// Successful refresh_token grants so far.
    pub fn grants(&self) -> u64 {
        self.counter("refresh_grants")
    }
    /// Introspection requests so far (active or not).
    pub fn introspections(&self) -> u64 {
        self.counter("introspections")
    }
    /// What happened, oldest first (no tokens or secrets): `{"endpoint", "grant_type",
    /// "result", "user", "scope", "why", ...}`.
    pub fn events(&self) -> Vec<Value> {
        self.state()["events"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// User codes of device authorizations waiting for the user.
    pub fn pending_devices(&self) -> Vec<String> {
        self.state()["pending_devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["user_code"].as_str().unwrap().to_string())
            .collect()
    }

    /// Waits (up to `timeout`) for a device authorization to be pending; its user code.
    pub fn wait_device(&self, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(code) = self.pending_devices().pop() {
                return code;
            }
            assert!(
                Instant::now() < deadline,
                "no device authorization within {timeout:?}\n{}",
                self.log_tail(20)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// RFC 7662 introspection of `token` as a resource server asks:
    /// `{"active": true, "username", "scope", "exp", ...}` or `{"active": false}`.
    pub fn introspect(&self, token: &str) -> Value {
        use base64::Engine as _;
        let auth = match &self.options.introspect_auth {
            Some((u, p)) => format!(
                "Authorization: Basic {}\r\n",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            ),
            None => String::new(),
        };
        let body: String = url_form(&[("token", token)]);
        let reply = http(
            self.port,
            "POST",
            "/introspect",
            &format!("Content-Type: application/x-www-form-urlencoded\r\n{auth}"),
            body.as_bytes(),
        );
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        serde_json::from_slice(&reply.body).unwrap()
    }

    /// Whether `token` is a live access token of `user`.
    pub fn is_live_for(&self, token: &str, user: &str) -> bool {
        let v = self.introspect(token);
        v["active"] == true && v["username"] == user
    }

    /// The user entered `user_code` and signed in as `user`.
    pub fn approve_device(&self, user_code: &str, user: &str) {
        self.admin(
            "POST",
            "/admin/device",
            json!({"user_code": user_code, "action": "approve", "user": user}),
        );
    }
    /// The user declined (the next poll answers access_denied).
    pub fn deny_device(&self, user_code: &str) {
        self.admin(
            "POST",
            "/admin/device",
            json!({"user_code": user_code, "action": "deny"}),
        );
    }
    /// The device code runs out now (the next poll answers expired_token).
    pub fn expire_device(&self, user_code: &str) {
        self.admin(
            "POST",
            "/admin/device",
            json!({"user_code": user_code, "action": "expire"}),
        );
    }
}

impl Drop for OAuth2Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `application/x-www-form-urlencoded` of `pairs`.
pub fn url_form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}
