//! The SMTP session: implicit TLS, STARTTLS or none, AUTH, an extra CA file (system
//! roots are trusted too; certificates are always verified), a session kept for the
//! next mail. The mail itself is built in [`super::mime`].

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use lettre::Message;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream};
use lettre::transport::smtp::extension::ClientId;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::DeliveryError;
use super::transport::Transport;
use crate::config::{Auth, Config, SmtpConfig, Tls as TlsMode};

/// An SMTP server and how to talk to it. Each mail gets its own session over a
/// connection with Nagle's algorithm off (a mail's last line otherwise waits for the
/// server's delayed acknowledgement, 40 ms a mail).
pub struct SmtpTarget {
    host: String,
    port: u16,
    mode: TlsMode,
    tls: Option<crate::tls::Client>,
    login: Login,
    timeout: Duration,
    /// The session of the last mail, kept for the next one for a short while (a batch
    /// of forwards goes over one session, RSET between mails).
    idle: tokio::sync::Mutex<Option<(AsyncSmtpConnection, std::time::Instant)>>,
}

/// How mailroom logs in to the server.
enum Login {
    None,
    /// PLAIN or LOGIN.
    Password(Credentials),
    /// SASL XOAUTH2 or OAUTHBEARER with an access token from `tokens`.
    OAuth2 {
        user: String,
        auth: Auth,
        tokens: Box<crate::oauth2::Tokens>,
    },
}

/// How long an idle session is kept for the next mail.
const KEEP_IDLE: Duration = Duration::from_secs(10);

impl SmtpTarget {
    /// `host:port`, for messages.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    pub(super) fn from_config(
        config: &Config,
        s: &SmtpConfig,
    ) -> Result<SmtpTarget, DeliveryError> {
        let port = s.port.unwrap_or(match s.tls {
            TlsMode::Implicit => 465,
            TlsMode::Starttls => 587,
            TlsMode::None => 25,
        });
        let tls = match s.tls {
            TlsMode::None => None,
            _ => {
                let ca = s.ca_file.as_ref().map(|p| config.resolve(p));
                let client = crate::tls::client(ca.as_deref(), s.cert_fingerprint.as_deref())
                    .map_err(|e| DeliveryError::config(format!("smtp {e}")))?;
                Some(client)
            }
        };
        let login = match &s.username {
            Some(user) if s.auth().is_oauth2() => {
                let o = s.oauth2.clone().unwrap_or_default();
                let settings = o
                    .settings("smtp", |p| config.resolve(p), s.timeout)
                    .map_err(|e| DeliveryError::config(format!("{e:#}")))?;
                let tokens = crate::oauth2::Tokens::new(settings)
                    .map_err(|e| DeliveryError::config(e.to_string()))?;
                Login::OAuth2 {
                    user: user.clone(),
                    auth: s.auth(),
                    tokens: Box::new(tokens),
                }
            }
            Some(user) => {
                let password = s
                    .password()
                    .resolve()
                    .map_err(|e| DeliveryError::config(format!("smtp password: {e}")))?
                    .unwrap_or_default();
                Login::Password(Credentials::new(user.clone(), password))
            }
            None => Login::None,
        };
        Ok(SmtpTarget {
            host: s.host.clone().unwrap_or_default(),
            port,
            mode: s.tls,
            tls,
            login,
            timeout: s.timeout,
            idle: tokio::sync::Mutex::new(None),
        })
    }

    async fn timed<T, E: std::fmt::Display>(
        &self,
        what: &str,
        fut: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, DeliveryError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(DeliveryError::transient(format!("SMTP {what}: {e}"))),
            Err(_) => Err(DeliveryError::transient(format!(
                "SMTP {what}: timed out after {} s",
                self.timeout.as_secs()
            ))),
        }
    }

    async fn tls(&self, tcp: TcpStream) -> Result<TlsStream<TcpStream>, DeliveryError> {
        let client = self
            .tls
            .as_ref()
            .ok_or_else(|| DeliveryError::config("TLS is not set up".into()))?;
        match tokio::time::timeout(self.timeout, crate::tls::connect(tcp, &self.host, client)).await
        {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(DeliveryError::transient(format!(
                "SMTP {}",
                e.explain(&self.host)
            ))),
            Err(_) => Err(DeliveryError::transient(format!(
                "SMTP TLS handshake with {}: timed out after {} s",
                self.host,
                self.timeout.as_secs()
            ))),
        }
    }

    /// A logged-in session. Failing to reach the server at all (DNS, connect, TLS,
    /// no greeting) means "destination down" for every mail queued behind this one.
    async fn session(&self) -> Result<AsyncSmtpConnection, DeliveryError> {
        let conn = self.reach().await.map_err(DeliveryError::unreachable)?;
        self.login(conn).await
    }

    async fn reach(&self) -> Result<AsyncSmtpConnection, DeliveryError> {
        let addr = format!("{}:{}", self.host, self.port);
        let tcp = self
            .timed(
                &format!("connect to {addr}"),
                TcpStream::connect((self.host.as_str(), self.port)),
            )
            .await?;
        let _ = tcp.set_nodelay(true);
        let peer = tcp
            .peer_addr()
            .map_err(|e| DeliveryError::transient(format!("SMTP {addr}: {e}")))?;
        let hello = ClientId::default();
        let (prefix, inner) = match self.mode {
            TlsMode::None => (Vec::new(), WireInner::Plain(tcp)),
            TlsMode::Implicit => (Vec::new(), WireInner::Tls(Box::new(self.tls(tcp).await?))),
            TlsMode::Starttls => {
                let (tcp, greeting) = self.timed("STARTTLS", starttls(tcp, &hello)).await?;
                // lettre reads a greeting first; the real one was read before TLS.
                (greeting, WireInner::Tls(Box::new(self.tls(tcp).await?)))
            }
        };
        let wire = Wire {
            prefix,
            inner,
            peer,
        };
        let conn = match tokio::time::timeout(
            self.timeout,
            AsyncSmtpConnection::connect_with_transport(Box::new(wire), &hello),
        )
        .await
        {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(DeliveryError::from_smtp(e)),
            Err(_) => return Err(DeliveryError::transient("SMTP greeting: timed out".into())),
        };
        Ok(conn)
    }

    async fn login(
        &self,
        mut conn: AsyncSmtpConnection,
    ) -> Result<AsyncSmtpConnection, DeliveryError> {
        match &self.login {
            Login::None => Ok(conn),
            Login::Password(c) => {
                let mechanisms = [Mechanism::Plain, Mechanism::Login];
                match tokio::time::timeout(self.timeout, conn.auth(&mechanisms, c)).await {
                    Ok(Ok(_)) => Ok(conn),
                    Ok(Err(e)) => Err(DeliveryError::from_smtp(e)),
                    Err(_) => Err(DeliveryError::transient("SMTP AUTH: timed out".into())),
                }
            }
            Login::OAuth2 { user, auth, tokens } => {
                let token = tokens.access_token().await.map_err(oauth_failed)?;
                match self.sasl(&mut conn, user, *auth, &token).await {
                    Err(e) if e.is_permanent() => {
                        // Revoked or ended early: once more with a new token, in a new
                        // session (the refused one may be left mid-exchange).
                        tokens.invalidate().await;
                        let token = tokens.access_token().await.map_err(oauth_failed)?;
                        let mut conn = self.reach().await.map_err(DeliveryError::unreachable)?;
                        self.sasl(&mut conn, user, *auth, &token).await?;
                        Ok(conn)
                    }
                    Err(e) => Err(e),
                    Ok(()) => Ok(conn),
                }
            }
        }
    }

    /// `AUTH XOAUTH2` or `AUTH OAUTHBEARER` with an initial response; an error challenge
    /// (334 with the server's JSON) is answered as each mechanism asks, so the server
    /// ends the exchange with its refusal.
    async fn sasl(
        &self,
        conn: &mut AsyncSmtpConnection,
        user: &str,
        auth: Auth,
        token: &str,
    ) -> Result<(), DeliveryError> {
        use base64::Engine as _;
        let (name, initial) = match auth {
            Auth::Oauthbearer => (
                "OAUTHBEARER",
                crate::oauth2::oauthbearer(user, &self.host, self.port, token),
            ),
            _ => ("XOAUTH2", crate::oauth2::xoauth2(user, token)),
        };
        let line = format!(
            "AUTH {name} {}\r\n",
            base64::engine::general_purpose::STANDARD.encode(initial)
        );
        // After an error challenge: XOAUTH2 answers with an empty line, OAUTHBEARER
        // with a single %x01 (RFC 7628 §3.2.3), and the server then refuses.
        let abort = if auth == Auth::Oauthbearer {
            "AQ==\r\n"
        } else {
            "\r\n"
        };
        let exchange = async {
            let response = conn.command(line).await?;
            if response.has_code(334) {
                return conn.command(abort).await.map(|_| ());
            }
            Ok(())
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(DeliveryError::from_smtp(e)),
            Err(_) => Err(DeliveryError::transient(format!(
                "SMTP AUTH {name}: timed out"
            ))),
        }
    }

    /// Ends the kept session, if any (at the end of a delivery pass).
    pub(super) async fn close(&self) {
        if let Some((mut conn, _)) = self.idle.lock().await.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), conn.quit()).await;
        }
    }
}

/// Connects, starts TLS and logs in as a delivery would, then says QUIT: what `mailroom
/// check` reports about `[smtp]`. Sends nothing.
pub async fn probe(config: &Config, s: &SmtpConfig) -> Result<String, DeliveryError> {
    let target = SmtpTarget::from_config(config, s)?;
    let mut conn = target.session().await?;
    let _ = tokio::time::timeout(Duration::from_secs(5), conn.quit()).await;
    let login = match &target.login {
        Login::None => "no login".to_string(),
        Login::Password(_) => "logged in with a password".to_string(),
        Login::OAuth2 { auth, .. } => format!("logged in with {}", auth.as_str()),
    };
    Ok(format!(
        "{} reached ({}), {login}; nothing sent",
        target.address(),
        match s.tls {
            TlsMode::Implicit => "implicit TLS",
            TlsMode::Starttls => "STARTTLS",
            TlsMode::None => "no TLS",
        }
    ))
}

/// No access token: retried (the endpoint may come back), and said plainly.
fn oauth_failed(e: crate::oauth2::OAuthError) -> DeliveryError {
    DeliveryError::config(format!("SMTP login: {e}"))
}

impl Transport for SmtpTarget {
    type Message = Message;

    async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
        let mut idle = self.idle.lock().await;
        let mut conn = match idle.take() {
            // The last mail's session, reset for this one; a server that closed it in
            // the meantime fails the RSET, before anything of this mail was sent.
            Some((mut conn, since)) if since.elapsed() < KEEP_IDLE => {
                let reset = tokio::time::timeout(
                    self.timeout,
                    conn.command(lettre::transport::smtp::commands::Rset),
                )
                .await;
                if matches!(reset, Ok(Ok(_))) {
                    conn
                } else {
                    self.session().await?
                }
            }
            Some((mut stale, _)) => {
                let _ = tokio::time::timeout(Duration::from_secs(5), stale.quit()).await;
                self.session().await?
            }
            None => self.session().await?,
        };
        let bytes = message.formatted();
        let sent = tokio::time::timeout(self.timeout, conn.send(message.envelope(), &bytes)).await;
        match sent {
            Ok(Ok(_)) => {
                *idle = Some((conn, std::time::Instant::now()));
                Ok(())
            }
            Ok(Err(e)) => {
                let _ = tokio::time::timeout(Duration::from_secs(5), conn.quit()).await;
                Err(DeliveryError::from_smtp(e))
            }
            Err(_) => Err(DeliveryError::transient("SMTP DATA: timed out".into())),
        }
    }
}

/// Reads one (possibly multi-line) SMTP reply: its code and lines.
async fn reply(reader: &mut BufReader<TcpStream>) -> std::io::Result<(u16, Vec<String>)> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        let code = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
        let last = line.as_bytes().get(3) != Some(&b'-');
        lines.push(line.trim_end().to_string());
        if last {
            return Ok((code, lines));
        }
    }
}

/// The plain part of a STARTTLS session: greeting, EHLO, STARTTLS. Returns the stream
/// ready for the TLS handshake and a greeting to replay to lettre.
async fn starttls(tcp: TcpStream, hello: &ClientId) -> std::io::Result<(TcpStream, Vec<u8>)> {
    let mut reader = BufReader::new(tcp);
    let (code, greeting) = reply(&mut reader).await?;
    if code != 220 {
        return Err(std::io::Error::other(format!(
            "greeting {}",
            greeting.join(" ")
        )));
    }
    reader
        .get_mut()
        .write_all(format!("EHLO {hello}\r\n").as_bytes())
        .await?;
    let (code, ehlo) = reply(&mut reader).await?;
    let offers = ehlo.iter().any(|l| {
        l.get(4..)
            .is_some_and(|x| x.eq_ignore_ascii_case("STARTTLS"))
    });
    if code != 250 || !offers {
        return Err(std::io::Error::other(
            "the server does not offer STARTTLS (tls = \"starttls\" requires it)",
        ));
    }
    reader.get_mut().write_all(b"STARTTLS\r\n").await?;
    let (code, answer) = reply(&mut reader).await?;
    if code != 220 {
        return Err(std::io::Error::other(format!(
            "STARTTLS refused: {}",
            answer.join(" ")
        )));
    }
    if !reader.buffer().is_empty() {
        return Err(std::io::Error::other(
            "data after the STARTTLS reply (possible injection)",
        ));
    }
    Ok((
        reader.into_inner(),
        b"220 mailroom STARTTLS done\r\n".to_vec(),
    ))
}

#[derive(Debug)]
enum WireInner {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// The connection handed to lettre: TLS or plain, with bytes to read first.
#[derive(Debug)]
struct Wire {
    prefix: Vec<u8>,
    inner: WireInner,
    peer: SocketAddr,
}

impl AsyncRead for Wire {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.drain(..n);
            return Poll::Ready(Ok(()));
        }
        match &mut self.inner {
            WireInner::Plain(s) => Pin::new(s).poll_read(cx, buf),
            WireInner::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Wire {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match &mut self.inner {
            WireInner::Plain(s) => Pin::new(s).poll_write(cx, data),
            WireInner::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, data),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.inner {
            WireInner::Plain(s) => Pin::new(s).poll_flush(cx),
            WireInner::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.inner {
            WireInner::Plain(s) => Pin::new(s).poll_shutdown(cx),
            WireInner::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

impl AsyncTokioStream for Wire {
    fn peer_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.peer)
    }
}
