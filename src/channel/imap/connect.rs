//! Connecting to an IMAP server (implicit TLS, STARTTLS or plain; certificates verified
//! against the system roots plus an optional CA file) and logging in, each step under a
//! timeout; the errors, sorted by what to do about them.

use std::time::Duration;

use async_imap::Session;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::config::{AccountConfig, Config, Tls};

/// A byte stream IMAP can run over: TLS or plain TCP.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Stream for T {}

pub type ImapSession = Session<Box<dyn Stream>>;

/// What went wrong talking to a server, sorted by what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    /// Wrong user or password: retried slowly.
    #[error("{account}: IMAP login to {host} as {user} refused: {message}")]
    Auth {
        account: String,
        host: String,
        user: String,
        message: String,
    },
    /// A setting that cannot work (a folder that does not exist, TLS on a port that does
    /// not speak it): retried slowly, the message says what to change.
    #[error("{account}: {message}")]
    Setup { account: String, message: String },
    /// The certificate is not trusted (or TLS failed): retried slowly.
    #[error("{account}: TLS with {host}: {message}")]
    Tls {
        account: String,
        host: String,
        message: String,
    },
    /// A command took longer than the timeout.
    #[error("{account}: {what} timed out after {secs} s")]
    Timeout {
        account: String,
        what: String,
        secs: u64,
    },
    /// The database could not take what was fetched (nothing acknowledged): retried
    /// with backoff.
    #[error("{account}: database: {message}")]
    Database { account: String, message: String },
    /// Anything else (connection refused or dropped, protocol errors): retried with
    /// backoff.
    #[error("{account}: {message}")]
    Other { account: String, message: String },
}

impl ImapError {
    /// Errors a person has to fix; retrying quickly only hammers the server.
    pub fn needs_a_person(&self) -> bool {
        matches!(
            self,
            ImapError::Auth { .. } | ImapError::Tls { .. } | ImapError::Setup { .. }
        )
    }

    fn other(account: &str, message: impl std::fmt::Display) -> ImapError {
        ImapError::Other {
            account: account.to_string(),
            message: message.to_string(),
        }
    }
}

/// The server's own words from an IMAP error, without the library's decoration
/// (`No Response: [AUTHENTICATIONFAILED] Authentication failed.` → the part after `:`).
pub fn server_text(e: &async_imap::error::Error) -> String {
    use async_imap::error::Error;
    match e {
        Error::No(text) | Error::Bad(text) => status_text(text),
        Error::ConnectionLost => "the server closed the connection".into(),
        Error::Io(io) => crate::reason::io(io),
        other => other.to_string(),
    }
}

/// async-imap hands NO/BAD texts over in Rust debug form (`code: None, info:
/// Some("[AUTHENTICATIONFAILED] Authentication failed.")`): the server's words only.
fn status_text(text: &str) -> String {
    let text = text.trim();
    if let Some(start) = text.find("Some(\"") {
        let rest = &text[start + "Some(\"".len()..];
        let end = rest.rfind("\")").unwrap_or(rest.len());
        return rest[..end].replace("\\\"", "\"").replace("\\\\", "\\");
    }
    if text.contains("info: None") || text.contains("information: None") {
        return "refused without a reason".into();
    }
    text.to_string()
}

/// An error's text for people.
pub trait Reason {
    fn reason(&self) -> String;
}

impl Reason for async_imap::error::Error {
    fn reason(&self) -> String {
        server_text(self)
    }
}

impl Reason for std::io::Error {
    fn reason(&self) -> String {
        crate::reason::io(self)
    }
}

/// Runs `fut` under the command timeout.
pub async fn timed<T, E: Reason>(
    account: &str,
    what: &str,
    limit: Duration,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, ImapError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(ImapError::other(account, format!("{what}: {}", e.reason()))),
        Err(_) => Err(ImapError::Timeout {
            account: account.to_string(),
            what: what.to_string(),
            secs: limit.as_secs(),
        }),
    }
}

async fn wrap_tls(
    config: &Config,
    account: &AccountConfig,
    tcp: TcpStream,
) -> Result<Box<dyn Stream>, ImapError> {
    let tls_err = |message: String| ImapError::Tls {
        account: account.name.clone(),
        host: account.host.clone(),
        message,
    };
    let ca = account.ca_file.as_ref().map(|p| config.resolve(p));
    let client =
        crate::tls::client(ca.as_deref(), account.cert_fingerprint.as_deref()).map_err(tls_err)?;
    let limit = config.watch.command_timeout;
    // After STARTTLS the server's first bytes are kept: one whose TLS fails after it
    // agreed says why in plain text, and that is what a person needs to read.
    let tcp = Recorded::new(tcp);
    let seen = tcp.seen();
    match tokio::time::timeout(limit, crate::tls::connect(tcp, &account.host, &client)).await {
        Ok(Ok(s)) => Ok(Box::new(s)),
        Ok(Err(crate::tls::TlsFailure::NotTls)) if account.tls == Tls::Starttls => {
            Err(tls_err(plain_after_starttls(&seen)))
        }
        Ok(Err(e)) => Err(tls_err(e.explain(&account.host))),
        Err(_) => Err(ImapError::Timeout {
            account: account.name.clone(),
            what: "TLS handshake".into(),
            secs: limit.as_secs(),
        }),
    }
}

/// STARTTLS by hand on the plain connection (after reading the greeting), so the IMAP
/// client only ever sees the encrypted stream.
async fn starttls(
    account: &AccountConfig,
    port: u16,
    tcp: TcpStream,
    limit: Duration,
) -> Result<TcpStream, ImapError> {
    let name = account.name.as_str();
    let mut reader = BufReader::new(tcp);
    let mut line = String::new();
    match tokio::time::timeout(greeting_wait(limit), reader.read_line(&mut line)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            return Err(ImapError::other(
                name,
                format!("greeting: {}", crate::reason::io(&e)),
            ));
        }
        Err(_) => return Err(silent_port(account, port, limit)),
    }
    if !line.starts_with("* OK") {
        return Err(ImapError::other(
            name,
            format!("unexpected greeting {:?}", line.trim()),
        ));
    }
    timed(
        name,
        "STARTTLS",
        limit,
        reader.get_mut().write_all(b"s0 STARTTLS\r\n"),
    )
    .await?;
    loop {
        line.clear();
        let n = timed(name, "STARTTLS", limit, reader.read_line(&mut line)).await?;
        if n == 0 {
            return Err(ImapError::other(name, "connection closed during STARTTLS"));
        }
        if let Some(answer) = line.strip_prefix("s0 ") {
            if answer.starts_with("OK") {
                break;
            }
            return Err(ImapError::Tls {
                account: name.to_string(),
                host: account.host.clone(),
                message: format!(
                    "the server on port {port} refused STARTTLS: \"{}\" (tls = \"starttls\" needs TLS enabled on the server; or use its implicit-TLS port, usually 993, with tls = \"implicit\")",
                    printable(answer)
                ),
            });
        }
    }
    if !reader.buffer().is_empty() {
        // Nothing sent in plain text after the OK is ever read as part of the session.
        // A server whose own TLS setup failed says so at once ("* BYE … TLS
        // initialization failed."), often in the same packet as its OK: quoted, as
        // when it arrives a moment later.
        let early = String::from_utf8_lossy(reader.buffer()).into_owned();
        if early.starts_with("* BYE") {
            let seen = std::sync::Mutex::new(early.into_bytes());
            return Err(ImapError::Tls {
                account: name.to_string(),
                host: account.host.clone(),
                message: plain_after_starttls(&seen),
            });
        }
        return Err(ImapError::other(
            name,
            "data after STARTTLS response (possible injection)",
        ));
    }
    Ok(reader.into_inner())
}

/// What a server that agreed to STARTTLS sent instead of TLS, for people.
fn plain_after_starttls(seen: &std::sync::Mutex<Vec<u8>>) -> String {
    let seen = seen.lock().unwrap_or_else(|p| p.into_inner());
    if seen.is_empty() {
        return "the server accepted STARTTLS and then answered in plain text instead of TLS"
            .into();
    }
    format!(
        "the server accepted STARTTLS and then answered in plain text instead of TLS: \"{}\" (tls = \"starttls\" is right for this port: the server's own TLS setup failed, its log says why)",
        printable(&String::from_utf8_lossy(&seen))
    )
}

/// A server's words on one line: its first lines joined, control characters dropped,
/// at most 300 characters.
fn printable(text: &str) -> String {
    let joined = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" / ");
    let clean: String = joined.chars().filter(|c| !c.is_control()).collect();
    match clean.char_indices().nth(300) {
        Some((at, _)) => format!("{}…", &clean[..at]),
        None => clean,
    }
}

/// A stream that keeps the first bytes it reads (to quote them in an error).
#[derive(Debug)]
struct Recorded<S> {
    inner: S,
    seen: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl<S> Recorded<S> {
    const KEEP: usize = 512;

    fn new(inner: S) -> Recorded<S> {
        Recorded {
            inner,
            seen: std::sync::Arc::default(),
        }
    }

    fn seen(&self) -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
        std::sync::Arc::clone(&self.seen)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Recorded<S> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let me = self.get_mut();
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut me.inner).poll_read(cx, buf);
        let mut seen = me.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() < Self::KEEP {
            let new = &buf.filled()[before..];
            let take = new.len().min(Self::KEEP - seen.len());
            seen.extend_from_slice(&new[..take]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recorded<S> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// How long to wait for a plain-text greeting: a server that expects TLS from the
/// first byte says nothing at all, and that should be told in seconds, not minutes.
fn greeting_wait(limit: Duration) -> Duration {
    limit.min(Duration::from_secs(10))
}

fn silent_port(account: &AccountConfig, port: u16, limit: Duration) -> ImapError {
    ImapError::Setup {
        account: account.name.clone(),
        message: format!(
            "{}:{port} sent no IMAP greeting within {} s: the port may expect TLS from the first byte; set tls = \"implicit\" (or use the server's plain port, usually 143)",
            account.host,
            greeting_wait(limit).as_secs()
        ),
    }
}

/// Connects and logs in.
pub async fn connect(config: &Config, account: &AccountConfig) -> Result<ImapSession, ImapError> {
    let limit = config.watch.command_timeout;
    let name = account.name.as_str();
    let port = account.port.unwrap_or(if account.tls == Tls::Implicit {
        993
    } else {
        143
    });
    let tcp = timed(
        name,
        &format!("connect to {}:{port}", account.host),
        limit,
        TcpStream::connect((account.host.as_str(), port)),
    )
    .await?;
    let _ = tcp.set_nodelay(true);
    let (stream, greeted): (Box<dyn Stream>, bool) = match account.tls {
        Tls::Implicit => (wrap_tls(config, account, tcp).await?, false),
        Tls::Starttls => {
            let tcp = starttls(account, port, tcp, limit).await?;
            (wrap_tls(config, account, tcp).await?, true)
        }
        Tls::None => (Box::new(tcp), false),
    };
    let mut client = async_imap::Client::new(stream);
    if !greeted {
        // Client::new does not read the greeting.
        let wait = if account.tls == Tls::None {
            greeting_wait(limit)
        } else {
            limit
        };
        match tokio::time::timeout(wait, client.read_response()).await {
            Ok(Ok(Some(_))) => {}
            Ok(Ok(None)) => {
                return Err(ImapError::other(
                    name,
                    "the server closed the connection before its greeting",
                ));
            }
            Ok(Err(e)) => {
                return Err(ImapError::other(
                    name,
                    format!("greeting: {}", crate::reason::io(&e)),
                ));
            }
            Err(_) if account.tls == Tls::None => return Err(silent_port(account, port, limit)),
            Err(_) => {
                return Err(ImapError::Timeout {
                    account: name.to_string(),
                    what: "greeting".into(),
                    secs: limit.as_secs(),
                });
            }
        }
    }
    if account.auth().is_oauth2() {
        return super::oauth::login(config, account, port, client, limit)
            .await
            .map_err(|f| oauth_failure(account, limit, f));
    }
    let password = account
        .password()
        .resolve()
        .map_err(|e| ImapError::Setup {
            account: name.to_string(),
            message: format!("password for {}: {e}", account.username),
        })?
        .unwrap_or_default();
    match tokio::time::timeout(limit, client.login(&account.username, &password)).await {
        Ok(Ok(session)) => Ok(session),
        Ok(Err((e, _))) if server_text(&e).contains("[LIMIT]") => Err(ImapError::Setup {
            account: name.to_string(),
            message: format!(
                "{} refused one more connection for {}: \"{}\". This account opens up to max_connections = {} at once (a connection per folder up to that, the rest share the last): set a lower max_connections for account {name}, or let fewer other clients of {} connect",
                account.host,
                account.username,
                server_text(&e),
                account.max_connections,
                account.username
            ),
        }),
        Ok(Err((e, _))) => Err(ImapError::Auth {
            account: name.to_string(),
            host: account.host.clone(),
            user: account.username.clone(),
            message: server_text(&e),
        }),
        Err(_) => Err(ImapError::Timeout {
            account: name.to_string(),
            what: "LOGIN".into(),
            secs: limit.as_secs(),
        }),
    }
}

/// An OAuth2 login's failure, sorted like the others.
fn oauth_failure(account: &AccountConfig, limit: Duration, f: super::oauth::Failure) -> ImapError {
    use super::oauth::Failure;
    let name = account.name.clone();
    match f {
        Failure::Token(e) if e.needs_a_person() => ImapError::Setup {
            account: name,
            message: e.to_string(),
        },
        Failure::Token(e) => ImapError::Other {
            account: name,
            message: e.to_string(),
        },
        Failure::Refused(mechanism, e) => ImapError::Auth {
            account: name,
            host: account.host.clone(),
            user: account.username.clone(),
            message: format!(
                "AUTHENTICATE {mechanism} with a fresh access token: {} (check the app's IMAP permission and the scope in [account.oauth2])",
                server_text(&e)
            ),
        },
        Failure::Timeout(mechanism) => ImapError::Timeout {
            account: name,
            what: format!("AUTHENTICATE {mechanism}"),
            secs: limit.as_secs(),
        },
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_servers_plain_words_fit_one_line() {
        assert_eq!(
            super::printable("* BYE [UNAVAILABLE] TLS initialization failed.\r\n"),
            "* BYE [UNAVAILABLE] TLS initialization failed."
        );
        assert_eq!(super::printable("a\r\n\r\nb\x07\r\n"), "a / b");
        assert_eq!(super::printable(&"x".repeat(400)).chars().count(), 301);
    }

    #[test]
    fn server_words_without_debug_text() {
        assert_eq!(
            super::status_text(
                "code: None, info: Some(\"[AUTHENTICATIONFAILED] Authentication failed.\")"
            ),
            "[AUTHENTICATIONFAILED] Authentication failed."
        );
        assert_eq!(
            super::status_text("Mailbox doesn't exist"),
            "Mailbox doesn't exist"
        );
    }
}
