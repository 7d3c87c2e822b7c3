//! Mail out: SMTP with implicit TLS, STARTTLS or none, AUTH, an extra CA file (system
//! roots are trusted too; certificates are always verified), or a directory of `.eml`
//! files for local runs.

use std::path::PathBuf;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Body, Mailbox, MultiPart, SinglePart};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncFileTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::DeliveryError;
use crate::config::{Config, SmtpConfig, Tls as TlsMode};

pub enum Mailer {
    Smtp(Box<SmtpTarget>),
    Files(AsyncFileTransport<Tokio1Executor>, PathBuf),
    /// No `[smtp]` in the config: mail stays queued with an error saying so.
    Unconfigured,
}

impl Mailer {
    pub fn from_config(config: &Config) -> Result<Mailer, DeliveryError> {
        let Some(s) = &config.smtp else {
            return Ok(Mailer::Unconfigured);
        };
        if let Some(dir) = &s.dir {
            let dir = config.resolve(dir);
            std::fs::create_dir_all(&dir)
                .map_err(|e| DeliveryError::config(format!("{}: {e}", dir.display())))?;
            return Ok(Mailer::Files(AsyncFileTransport::new(&dir), dir));
        }
        SmtpTarget::from_config(config, s).map(|t| Mailer::Smtp(Box::new(t)))
    }

    pub fn describe(&self) -> String {
        match self {
            Mailer::Smtp(_) => "smtp".into(),
            Mailer::Files(_, dir) => format!("files in {}", dir.display()),
            Mailer::Unconfigured => "none".into(),
        }
    }

    /// Sends a composed mail (`to`, `cc`, `subject`, `text`, optional `html`), with
    /// the original message and the event attached when given.
    pub async fn send(
        &self,
        from: &str,
        mail: &Value,
        message_id: &str,
        original: Option<(Vec<u8>, bool)>,
    ) -> Result<(), DeliveryError> {
        let message = build(from, mail, message_id, original)?;
        match self {
            Mailer::Smtp(t) => t.send(&message).await,
            Mailer::Files(t, _) => t
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| DeliveryError::transient(format!("writing the mail file: {e}"))),
            Mailer::Unconfigured => Err(DeliveryError::transient(
                "no [smtp] section in the config: mail cannot be sent".to_string(),
            )),
        }
    }
}

/// An SMTP server and how to talk to it. Each mail gets its own session over a
/// connection with Nagle's algorithm off (a mail's last line otherwise waits for the
/// server's delayed acknowledgement, 40 ms a mail).
pub struct SmtpTarget {
    host: String,
    port: u16,
    mode: TlsMode,
    tls: Option<crate::tls::Client>,
    credentials: Option<Credentials>,
    timeout: Duration,
}

impl SmtpTarget {
    fn from_config(config: &Config, s: &SmtpConfig) -> Result<SmtpTarget, DeliveryError> {
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
        let credentials = match &s.username {
            Some(user) => {
                let password = s
                    .password()
                    .resolve()
                    .map_err(|e| DeliveryError::config(format!("smtp password: {e}")))?
                    .unwrap_or_default();
                Some(Credentials::new(user.clone(), password))
            }
            None => None,
        };
        Ok(SmtpTarget {
            host: s.host.clone().unwrap_or_default(),
            port,
            mode: s.tls,
            tls,
            credentials,
            timeout: s.timeout,
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
        if let Some(c) = &self.credentials {
            let mechanisms = [Mechanism::Plain, Mechanism::Login];
            match tokio::time::timeout(self.timeout, conn.auth(&mechanisms, c)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(DeliveryError::from_smtp(e)),
                Err(_) => return Err(DeliveryError::transient("SMTP AUTH: timed out".into())),
            }
        }
        Ok(conn)
    }

    async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
        let mut conn = self.session().await?;
        let bytes = message.formatted();
        let sent = tokio::time::timeout(self.timeout, conn.send(message.envelope(), &bytes)).await;
        let result = match sent {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(DeliveryError::from_smtp(e)),
            Err(_) => Err(DeliveryError::transient("SMTP DATA: timed out".into())),
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), conn.quit()).await;
        result
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

fn mailboxes(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn parse_mailbox(s: &str) -> Result<Mailbox, DeliveryError> {
    s.parse::<Mailbox>()
        .map_err(|e| DeliveryError::permanent(format!("bad address {s:?}: {e}")))
}

fn build(
    from: &str,
    mail: &Value,
    message_id: &str,
    original: Option<(Vec<u8>, bool)>,
) -> Result<Message, DeliveryError> {
    let mut b = Message::builder()
        .from(parse_mailbox(from)?)
        .subject(mail["subject"].as_str().unwrap_or("[mailroom]"))
        .message_id(Some(message_id.to_string()));
    let to = mailboxes(&mail["to"]);
    if to.is_empty() {
        return Err(DeliveryError::permanent("no recipients".to_string()));
    }
    for t in &to {
        b = b.to(parse_mailbox(t)?);
    }
    for c in mailboxes(&mail["cc"]) {
        b = b.cc(parse_mailbox(&c)?);
    }
    let text = mail["text"].as_str().unwrap_or_default().to_string();
    let html = mail
        .get("html")
        .and_then(Value::as_str)
        .filter(|h| !h.is_empty());
    let event_json = mail.get("payload_json").and_then(Value::as_str);
    let built = if let Some(html) = html {
        b.multipart(MultiPart::alternative_plain_html(text, html.to_string()))
    } else if event_json.is_some() || original.is_some() {
        let mut mixed = MultiPart::mixed().singlepart(SinglePart::plain(text));
        if let Some(json) = event_json {
            mixed = mixed.singlepart(Attachment::new("event.json".into()).body(
                json.to_string(),
                ContentType::parse("application/json").unwrap_or(ContentType::TEXT_PLAIN),
            ));
        }
        if let Some((raw, complete)) = original {
            mixed = mixed.singlepart(original_part(raw, complete));
        }
        b.multipart(mixed)
    } else {
        b.singlepart(SinglePart::plain(text))
    };
    built.map_err(|e| DeliveryError::permanent(format!("composing the mail: {e}")))
}

/// The original message as `message/rfc822` (8-bit, as RFC 2046 wants) when it can be
/// sent so, else as an `.eml` file in base64. Only headers were kept for messages over
/// the size limit: those go as `text/rfc822-headers`.
fn original_part(raw: Vec<u8>, complete: bool) -> SinglePart {
    let (name, ctype) = if complete {
        ("original.eml", "message/rfc822")
    } else {
        ("original-headers.txt", "text/rfc822-headers")
    };
    let ct = ContentType::parse(ctype).unwrap_or(ContentType::TEXT_PLAIN);
    match as_8bit(&raw) {
        Some(crlf) => Attachment::new(name.into()).body(
            Body::dangerous_pre_encoded(
                crlf,
                lettre::message::header::ContentTransferEncoding::EightBit,
            ),
            ct,
        ),
        None => Attachment::new(name.into()).body(
            raw,
            ContentType::parse("application/octet-stream").unwrap_or(ContentType::TEXT_PLAIN),
        ),
    }
}

/// The message with CRLF line ends, when it is valid 8-bit MIME content: no NUL, no
/// bare CR, no line over 998 bytes.
fn as_8bit(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 40);
    for line in raw.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > 998 || line.contains(&0) || line.contains(&b'\r') {
            return None;
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    if raw.ends_with(b"\n") {
        out.truncate(out.len() - 2);
    }
    Some(out)
}
