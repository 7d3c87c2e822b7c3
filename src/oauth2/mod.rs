//! OAuth2 access tokens for IMAP and SMTP logins (SASL XOAUTH2 and OAUTHBEARER, RFC
//! 7628). An access token comes from the standard `refresh_token` grant (RFC 6749 §6: a
//! form POST to the token endpoint), is kept in memory until shortly before it
//! expires, and is fetched again before a login when due and once more after the server
//! refused it. A refresh token the provider rotates is saved back to the token file
//! atomically (mode 0600). No token, secret or code ever appears in an error or a log
//! line: errors carry the endpoint, the account and the provider's error code.
//!
//! `login` gets the first refresh token (`mailroom oauth2 login`).

pub mod login;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Where the refresh token (or the access token itself) comes from.
#[derive(Clone)]
pub enum Source {
    /// A JSON file `{"refresh_token": "…"}`, written by `mailroom oauth2 login`; rotated
    /// refresh tokens are saved back to it.
    File(PathBuf),
    /// A refresh token read once from the environment or a command (read-only:
    /// a rotated token is kept in memory only).
    Fixed(String),
    /// A command printing an access token (an external helper such as `oauth2ms`).
    AccessCommand(String),
}

/// What a token source needs, resolved from the config (secrets read).
#[derive(Clone)]
pub struct Settings {
    /// The account (or `smtp`) the tokens are for, for messages.
    pub name: String,
    pub token_url: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub scope: Option<String>,
    pub source: Source,
    /// Longest wait for the token endpoint (or the command).
    pub timeout: Duration,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret or a token.
        f.debug_struct("Settings")
            .field("name", &self.name)
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Why no access token could be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OAuthError {
    /// The provider refused the refresh token (revoked, expired, or issued to another
    /// client): only signing in again helps.
    #[error(
        "{name}: the OAuth2 refresh token was refused by {url} ({code}{description}): run `mailroom oauth2 login {name}` to sign in again"
    )]
    Refused {
        name: String,
        url: String,
        code: String,
        description: String,
    },
    /// The provider refused the client itself (`invalid_client`, `unauthorized_client`,
    /// `invalid_scope`): a setting is wrong.
    #[error(
        "{name}: {url} refused the OAuth2 client ({code}{description}): check client_id, the client secret and scope in [{section}.oauth2]"
    )]
    Client {
        name: String,
        url: String,
        code: String,
        description: String,
        section: String,
    },
    /// The endpoint could not be reached or answered nonsense: retried like a server
    /// outage.
    #[error("{name}: OAuth2 token endpoint {url}: {reason}")]
    Unreachable {
        name: String,
        url: String,
        reason: String,
    },
    /// The token file or command could not be used.
    #[error("{name}: {reason}")]
    Setup { name: String, reason: String },
}

impl OAuthError {
    /// Whether only a person can fix it (then retried slowly).
    pub fn needs_a_person(&self) -> bool {
        !matches!(self, OAuthError::Unreachable { .. })
    }
}

/// How long before its end an access token is fetched anew.
const MARGIN: Duration = Duration::from_secs(60);
/// How long an access token printed by a command is used (it says nothing of its end).
const COMMAND_TOKEN_LIFE: Duration = Duration::from_secs(300);

struct State {
    access: Option<(String, Instant)>,
    refresh: Option<String>,
}

/// Access tokens for one account, shared by its connections.
pub struct Tokens {
    settings: Settings,
    client: reqwest::Client,
    state: tokio::sync::Mutex<State>,
}

impl Tokens {
    pub fn new(settings: Settings) -> Result<Tokens, OAuthError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .user_agent(concat!("mailroom/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OAuthError::Setup {
                name: settings.name.clone(),
                reason: format!("HTTP client: {e}"),
            })?;
        Ok(Tokens {
            settings,
            client,
            state: tokio::sync::Mutex::new(State {
                access: None,
                refresh: None,
            }),
        })
    }

    /// An access token valid for a while yet: the cached one, else a fresh one.
    pub async fn access_token(&self) -> Result<String, OAuthError> {
        let mut state = self.state.lock().await;
        if let Some((token, until)) = &state.access
            && Instant::now() + MARGIN < *until
        {
            return Ok(token.clone());
        }
        let (token, life) = self.fetch(&mut state).await?;
        state.access = Some((token.clone(), Instant::now() + life));
        Ok(token)
    }

    /// The server refused the last token: the next [`Tokens::access_token`] fetches a
    /// new one.
    pub async fn invalidate(&self) {
        self.state.lock().await.access = None;
    }

    async fn fetch(&self, state: &mut State) -> Result<(String, Duration), OAuthError> {
        let s = &self.settings;
        let refresh = match &s.source {
            Source::AccessCommand(cmd) => {
                let token = tokio::task::spawn_blocking({
                    let cmd = cmd.clone();
                    let timeout = s.timeout;
                    move || crate::secret::run_secret_command(&cmd, "access_token_command", timeout)
                })
                .await
                .map_err(|_| self.setup("access_token_command did not finish".into()))?
                .map_err(|e| self.setup(e.to_string()))?;
                if token.trim().is_empty() {
                    return Err(self.setup("access_token_command printed nothing".into()));
                }
                return Ok((token.trim().to_string(), COMMAND_TOKEN_LIFE + MARGIN));
            }
            Source::Fixed(t) => state.refresh.clone().unwrap_or_else(|| t.clone()),
            Source::File(path) => match &state.refresh {
                Some(t) => t.clone(),
                None => read_token_file(path).map_err(|e| self.setup(e))?,
            },
        };
        match self.grant(&refresh).await {
            Err(refused @ OAuthError::Refused { .. }) => {
                // `mailroom oauth2 login` may have written a new token since it was read.
                let Source::File(path) = &s.source else {
                    return Err(refused);
                };
                let current = read_token_file(path).map_err(|e| self.setup(e))?;
                if current == refresh {
                    return Err(refused);
                }
                let granted = self.grant(&current).await?;
                state.refresh = Some(current);
                Ok(self.keep(state, granted))
            }
            other => other.map(|g| self.keep(state, g)),
        }
    }

    /// Keeps a rotated refresh token (saved to the token file when there is one).
    fn keep(&self, state: &mut State, g: Granted) -> (String, Duration) {
        if let Some(new) = g.refresh {
            if let Source::File(path) = &self.settings.source
                && let Err(e) = write_token_file(path, &new)
            {
                // The old token may already be void: say so loudly, keep the new one.
                tracing::error!(account = %self.settings.name, error = %e, "the rotated OAuth2 refresh token could not be saved");
            }
            state.refresh = Some(new);
        }
        (g.access, g.life)
    }

    /// The `refresh_token` grant.
    async fn grant(&self, refresh: &str) -> Result<Granted, OAuthError> {
        let s = &self.settings;
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", &s.client_id),
        ];
        if let Some(secret) = &s.client_secret {
            form.push(("client_secret", secret));
        }
        if let Some(scope) = &s.scope {
            form.push(("scope", scope));
        }
        let reply = token_request(&self.client, &s.token_url, &form)
            .await
            .map_err(|reason| self.unreachable(reason))?;
        granted(reply).map_err(|e| self.classify(e))
    }

    fn setup(&self, reason: String) -> OAuthError {
        OAuthError::Setup {
            name: self.settings.name.clone(),
            reason,
        }
    }

    fn unreachable(&self, reason: String) -> OAuthError {
        OAuthError::Unreachable {
            name: self.settings.name.clone(),
            url: self.settings.token_url.clone(),
            reason,
        }
    }

    fn classify(&self, e: EndpointError) -> OAuthError {
        classify(&self.settings, e)
    }
}

/// An answer of the token endpoint.
pub(crate) struct Granted {
    pub access: String,
    pub life: Duration,
    pub refresh: Option<String>,
}

/// What the token endpoint said instead of a token.
pub(crate) enum EndpointError {
    /// An RFC 6749 §5.2 error: `error` and `error_description`.
    Oauth { code: String, description: String },
    /// Anything else (HTML, an empty body, a 5xx).
    Other(String),
}

/// POSTs `form` to `url`; the status and the body as JSON, or why not. The reason
/// never holds the form (it carries the secrets).
pub(crate) async fn token_request(
    client: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> Result<(u16, Value), String> {
    let resp = client
        .post(url)
        .header("Accept", "application/json")
        .form(form)
        .send()
        .await
        .map_err(|e| {
            let e = e.without_url();
            if e.is_timeout() {
                "no answer in time".to_string()
            } else if e.is_connect() {
                format!("could not connect: {}", crate::reason::innermost(&e))
            } else {
                crate::reason::innermost(&e)
            }
        })?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map_err(|e| {
        format!(
            "reading the answer: {}",
            crate::reason::innermost(&e.without_url())
        )
    })?;
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Ok((status, json))
}

/// A token answer read (RFC 6749 §5.1), or the error it holds (§5.2).
pub(crate) fn granted((status, json): (u16, Value)) -> Result<Granted, EndpointError> {
    let text = |k: &str| json.get(k).and_then(Value::as_str).map(str::to_string);
    if (200..300).contains(&status)
        && let Some(access) = text("access_token").filter(|t| !t.is_empty())
    {
        let life = json
            .get("expires_in")
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .unwrap_or(3600);
        return Ok(Granted {
            access,
            life: Duration::from_secs(life),
            refresh: text("refresh_token").filter(|t| !t.is_empty()),
        });
    }
    match text("error") {
        Some(code) => Err(EndpointError::Oauth {
            code,
            description: text("error_description").unwrap_or_default(),
        }),
        None if (500..600).contains(&status) => {
            Err(EndpointError::Other(format!("answered HTTP {status}")))
        }
        None => Err(EndpointError::Other(format!(
            "answered HTTP {status} without an access token"
        ))),
    }
}

pub(crate) fn classify(s: &Settings, e: EndpointError) -> OAuthError {
    match e {
        EndpointError::Oauth { code, description } => {
            let description = if description.is_empty() {
                String::new()
            } else {
                format!(": {}", crate::term::printable(first_line(&description)))
            };
            let code = crate::term::printable(&code).into_owned();
            match code.as_str() {
                "invalid_grant" => OAuthError::Refused {
                    name: s.name.clone(),
                    url: s.token_url.clone(),
                    code,
                    description,
                },
                "temporarily_unavailable" | "server_error" | "slow_down" => {
                    OAuthError::Unreachable {
                        name: s.name.clone(),
                        url: s.token_url.clone(),
                        reason: format!("{code}{description}"),
                    }
                }
                _ => OAuthError::Client {
                    name: s.name.clone(),
                    url: s.token_url.clone(),
                    code,
                    description,
                    section: if s.name == "smtp" {
                        "smtp".into()
                    } else {
                        "account".into()
                    },
                },
            }
        }
        EndpointError::Other(reason) => OAuthError::Unreachable {
            name: s.name.clone(),
            url: s.token_url.clone(),
            reason,
        },
    }
}

fn first_line(s: &str) -> &str {
    let line = s.lines().next().unwrap_or_default();
    match line.char_indices().nth(200) {
        Some((i, _)) => &line[..i],
        None => line,
    }
}

/// The refresh token in a token file.
pub fn read_token_file(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "token file {}: {} (run `mailroom oauth2 login` to create it)",
            path.display(),
            crate::reason::io(&e)
        )
    })?;
    let v: Value = serde_json::from_str(&text).map_err(|_| {
        format!(
            "token file {}: not JSON with a refresh_token",
            path.display()
        )
    })?;
    v.get("refresh_token")
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .map(|t| t.trim().to_string())
        .ok_or_else(|| format!("token file {}: no refresh_token in it", path.display()))
}

/// Writes `{"refresh_token": …}` to `path`, readable by its owner only, atomically (a
/// crash leaves the old file or the new one, never half of one).
pub fn write_token_file(path: &Path, refresh: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "token".into());
    let tmp = dir
        .unwrap_or(Path::new("."))
        .join(format!(".{name}.{}.tmp", std::process::id()));
    let body = serde_json::json!({ "refresh_token": refresh }).to_string();
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(body.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("token file {}: {}", path.display(), crate::reason::io(&e))
    })
}

/// The SASL XOAUTH2 initial response (Google's and Microsoft's mechanism), before
/// base64.
pub fn xoauth2(user: &str, token: &str) -> String {
    format!("user={user}\x01auth=Bearer {token}\x01\x01")
}

/// The SASL OAUTHBEARER initial response (RFC 7628 §3.1), before base64.
pub fn oauthbearer(user: &str, host: &str, port: u16, token: &str) -> String {
    let user = user.replace('=', "=3D").replace(',', "=2C");
    format!("n,a={user},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_initial_responses_follow_their_specs() {
        assert_eq!(
            xoauth2(
                "someuser@example.com",
                "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
            ),
            "user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"
        );
        // RFC 7628 §4.1, with the user named.
        assert_eq!(
            oauthbearer(
                "user@example.com",
                "server.example.com",
                143,
                "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="
            ),
            "n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
        );
        assert!(oauthbearer("a,b=c", "h", 1, "t").starts_with("n,a=a=2Cb=3Dc,"));
    }

    #[test]
    fn token_answers_and_errors_are_read_as_rfc_6749_says() {
        let ok = granted((
            200,
            serde_json::json!({"access_token": "at", "expires_in": 3599, "refresh_token": "rt2", "token_type": "Bearer"}),
        ))
        .ok()
        .unwrap();
        assert_eq!(ok.access, "at");
        assert_eq!(ok.life, Duration::from_secs(3599));
        assert_eq!(ok.refresh.as_deref(), Some("rt2"));
        let s = Settings {
            name: "m365".into(),
            token_url: "https://login.example/token".into(),
            client_id: "c".into(),
            client_secret: Some("s3cret".into()),
            scope: None,
            source: Source::Fixed("rt-secret".into()),
            timeout: Duration::from_secs(5),
        };
        let refused = granted((
            400,
            serde_json::json!({"error": "invalid_grant", "error_description": "AADSTS70008: The refresh token has expired."}),
        ))
        .err()
        .unwrap();
        let e = classify(&s, refused);
        assert!(e.needs_a_person());
        let text = e.to_string();
        assert!(text.contains("mailroom oauth2 login m365"), "{text}");
        assert!(text.contains("invalid_grant"), "{text}");
        assert!(
            !text.contains("rt-secret") && !text.contains("s3cret"),
            "{text}"
        );
        let down = classify(&s, granted((503, Value::Null)).err().unwrap());
        assert!(!down.needs_a_person(), "{down}");
        let client = classify(
            &s,
            granted((401, serde_json::json!({"error": "invalid_client"})))
                .err()
                .unwrap(),
        );
        assert!(client.to_string().contains("[account.oauth2]"), "{client}");
    }

    #[test]
    fn a_token_file_is_written_atomically_for_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m365.token");
        assert!(read_token_file(&path).unwrap_err().contains("oauth2 login"));
        write_token_file(&path, "rt-1").unwrap();
        write_token_file(&path, "rt-2").unwrap();
        assert_eq!(read_token_file(&path).unwrap(), "rt-2");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
