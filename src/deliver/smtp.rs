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

use lettre::Message;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream};
use lettre::transport::smtp::extension::ClientId;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::DeliveryError;
use crate::config::{Config, SmtpConfig, Tls as TlsMode};

pub enum Mailer {
    Smtp(Box<SmtpTarget>),
    Files(PathBuf),
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
            return Ok(Mailer::Files(dir));
        }
        SmtpTarget::from_config(config, s).map(|t| Mailer::Smtp(Box::new(t)))
    }

    /// Ends a session kept open for the next mail.
    pub async fn close(&self) {
        if let Mailer::Smtp(t) = self {
            t.close().await;
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Mailer::Smtp(_) => "smtp".into(),
            Mailer::Files(dir) => format!("files in {}", dir.display()),
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
        max_size: u64,
    ) -> Result<(), DeliveryError> {
        let message = build_within(from, mail, message_id, original, max_size)?;
        match self {
            Mailer::Smtp(t) => t.send(&message).await,
            Mailer::Files(dir) => write_file(dir, message_id, &message.formatted()),
            Mailer::Unconfigured => Err(DeliveryError::transient(
                "no [smtp] section in the config: mail cannot be sent".to_string(),
            )),
        }
    }
}

/// Writes a mail as `.eml` into `dir`, named after its Message-ID: a mail sent again
/// (after a crash between writing it and recording it) replaces its own file instead of
/// adding a second. Test sends (outbox id 0) get a unique name each.
fn write_file(dir: &std::path::Path, message_id: &str, bytes: &[u8]) -> Result<(), DeliveryError> {
    let mut name: String = message_id
        .trim_matches(|c| c == '<' || c == '>')
        .split('@')
        .next()
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with("outbox-0.") {
        name = format!("{name}-{:016x}", fastrand::u64(..));
    }
    let path = dir.join(format!("{name}.eml"));
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| {
            DeliveryError::transient(format!(
                "writing the mail file {}: {}",
                path.display(),
                crate::reason::io(&e)
            ))
        })
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
    /// The session of the last mail, kept for the next one for a short while (a batch
    /// of forwards goes over one session, RSET between mails).
    idle: tokio::sync::Mutex<Option<(AsyncSmtpConnection, std::time::Instant)>>,
}

/// How long an idle session is kept for the next mail.
const KEEP_IDLE: Duration = Duration::from_secs(10);

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

    /// Ends the kept session, if any (at the end of a delivery pass).
    async fn close(&self) {
        if let Some((mut conn, _)) = self.idle.lock().await.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), conn.quit()).await;
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

/// [`build`], kept under `max_size` bytes: over it, the original message is left
/// out (with a note saying so); still over it, the text and the event JSON are cut.
pub(crate) fn build_within(
    from: &str,
    mail: &Value,
    message_id: &str,
    original: Option<(Vec<u8>, bool)>,
    max_size: u64,
) -> Result<Message, DeliveryError> {
    let mut mail = mail.clone();
    let group_note = super::compose::group_note(&mail);
    append_text(&mut mail, &group_note);
    let attached = original.as_ref().map(|(raw, _)| raw.len());
    let message = build(from, &mail, message_id, original)?;
    if message.formatted().len() as u64 <= max_size {
        return Ok(message);
    }
    let limit = human_size(max_size);
    if let Some(size) = attached {
        append_text(
            &mut mail,
            &format!(
                "\n\nThe original message ({}) is not attached: this mail would be\n\
                 over the {limit} limit ([smtp] max_message_size). mailroom keeps it.\n",
                human_size(size as u64)
            ),
        );
        let message = build(from, &mail, message_id, None)?;
        if message.formatted().len() as u64 <= max_size {
            return Ok(message);
        }
    }
    // Text and JSON share what is left (encodings can grow them by a third).
    let share = (max_size / 4).max(1024) as usize;
    for key in ["text", "html", "payload_json"] {
        if let Some(Value::String(s)) = mail.get_mut(key)
            && s.len() > share
        {
            let mut end = share;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
            if key == "payload_json" {
                // Cut JSON is not JSON: say what happened instead.
                *s = serde_json::json!({
                    "note": format!("left out: over the {limit} limit ([smtp] max_message_size)")
                })
                .to_string();
            } else {
                s.push_str(&format!(
                    "\n\n[… cut here: the mail would be over the {limit} limit\n\
                     ([smtp] max_message_size)]\n"
                ));
            }
        }
    }
    build(from, &mail, message_id, None)
}

fn append_text(mail: &mut Value, note: &str) {
    if note.is_empty() {
        return;
    }
    if let Some(Value::String(text)) = mail.get_mut("text") {
        text.push_str(note);
    }
}

fn human_size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
    } else if bytes >= 1 << 10 {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

fn build(
    from: &str,
    mail: &Value,
    message_id: &str,
    original: Option<(Vec<u8>, bool)>,
) -> Result<Message, DeliveryError> {
    let mut b = Message::builder()
        .from(parse_mailbox(from)?)
        .raw_header(subject_header(
            mail["subject"].as_str().unwrap_or("[mailroom]"),
        ))
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
        b.multipart(
            MultiPart::alternative()
                .singlepart(text_part(ContentType::TEXT_PLAIN, text))
                .singlepart(text_part(ContentType::TEXT_HTML, html.to_string())),
        )
    } else if event_json.is_some() || original.is_some() {
        let mut mixed = MultiPart::mixed().singlepart(text_part(ContentType::TEXT_PLAIN, text));
        if let Some(json) = event_json {
            let name = if mail.get("events").and_then(Value::as_i64).unwrap_or(1) > 1 {
                "events.json"
            } else {
                "event.json"
            };
            mixed = mixed.singlepart(Attachment::new(name.into()).body(
                json.to_string(),
                ContentType::parse("application/json").unwrap_or(ContentType::TEXT_PLAIN),
            ));
        }
        if let Some((raw, complete)) = original {
            mixed = mixed.singlepart(original_part(raw, complete));
        }
        b.multipart(mixed)
    } else {
        b.singlepart(text_part(ContentType::TEXT_PLAIN, text))
    };
    built.map_err(|e| DeliveryError::permanent(format!("composing the mail: {e}")))
}

/// A text part. Text holding control characters other than line breaks and tabs (a
/// NUL from a payload, ESC, a bare CR) is not valid 7bit or 8bit content: it goes
/// quoted-printable, which carries every byte. Otherwise lettre picks the encoding.
fn text_part(ctype: ContentType, text: String) -> SinglePart {
    let bytes = text.as_bytes();
    let has_controls = text.char_indices().any(|(i, c)| match c {
        '\n' | '\t' => false,
        '\r' => bytes.get(i + 1) != Some(&b'\n'),
        c => c.is_control(),
    });
    let body = if has_controls {
        Body::new_with_encoding(
            text,
            lettre::message::header::ContentTransferEncoding::QuotedPrintable,
        )
        .unwrap_or_else(Body::new)
    } else {
        Body::new(text)
    };
    SinglePart::builder().header(ctype).body(body)
}

/// The Subject header, folded to RFC 5322's 78 columns. lettre folds at spaces and
/// encodes non-ASCII words, but leaves a long ASCII word (a 200-character domain) on
/// one line; such a subject is sent as RFC 2047 encoded-words, one per line.
fn subject_header(subject: &str) -> lettre::message::header::HeaderValue {
    use lettre::message::header::{HeaderName, HeaderValue};
    let name = HeaderName::new_from_ascii_str("Subject");
    // "Subject: " is 9 columns; a word longer than the rest of a line cannot fold.
    if subject.split(' ').all(|w| w.len() <= 78 - 9) {
        return HeaderValue::new(name, subject.to_string());
    }
    HeaderValue::dangerous_new_pre_encoded(name, subject.to_string(), encoded_words(subject))
}

/// `s` as RFC 2047 base64 encoded-words of at most 42 bytes of UTF-8 each (68 columns),
/// split on character boundaries, joined by folding white space.
fn encoded_words(s: &str) -> String {
    let mut words = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let mut end = rest.len().min(42);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        words.push(format!("=?utf-8?b?{}?=", base64(&rest.as_bytes()[..end])));
        rest = &rest[end..];
    }
    words.join("\r\n ")
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
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

#[cfg(test)]
mod tests {
    #[test]
    fn a_mail_written_again_replaces_its_own_file() {
        let dir = tempfile::tempdir().unwrap();
        let count = || std::fs::read_dir(dir.path()).unwrap().count();
        super::write_file(dir.path(), "<outbox-7.abc@mailroom.invalid>", b"one").unwrap();
        super::write_file(dir.path(), "<outbox-7.abc@mailroom.invalid>", b"two").unwrap();
        assert_eq!(
            count(),
            1,
            "a crash between writing and recording must not double it"
        );
        let text = std::fs::read(dir.path().join("outbox-7.abc.eml")).unwrap();
        assert_eq!(text, b"two");
        // Test sends (no outbox row) each keep their own file.
        super::write_file(dir.path(), "<outbox-0.abc@mailroom.invalid>", b"t").unwrap();
        super::write_file(dir.path(), "<outbox-0.abc@mailroom.invalid>", b"t").unwrap();
        assert_eq!(count(), 3);
    }

    use super::*;

    #[test]
    fn base64_known_vectors() {
        assert_eq!(base64(b"Man"), "TWFu");
        assert_eq!(base64(b"Ma"), "TWE=");
        assert_eq!(base64(b"M"), "TQ==");
        assert_eq!(base64("é…".as_bytes()), "w6nigKY=");
    }

    #[test]
    fn an_unfoldable_subject_is_encoded_in_short_lines() {
        let subject = format!("[mailroom] opensrs CREATED {}…", "é".repeat(150));
        let header = subject_header(&subject);
        let mut headers = lettre::message::header::Headers::new();
        headers.insert_raw(header);
        let text = headers.to_string();
        for line in text.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(line.len() <= 78, "{line}");
        }
        assert!(text.starts_with("Subject: =?utf-8?b?"), "{text}");
        // Short words fold as usual, unencoded.
        let plain = subject_header("[mailroom] opensrs CREATED shop.example");
        let mut headers = lettre::message::header::Headers::new();
        headers.insert_raw(plain);
        assert_eq!(
            headers.to_string(),
            "Subject: [mailroom] opensrs CREATED shop.example\r\n"
        );
    }

    #[test]
    fn text_with_control_bytes_goes_quoted_printable() {
        let part = text_part(ContentType::TEXT_PLAIN, "a\u{0}b\u{1b}[31m\r\nok\n".into());
        let out = String::from_utf8(part.formatted()).unwrap();
        assert!(
            out.contains("Content-Transfer-Encoding: quoted-printable"),
            "{out}"
        );
        assert!(out.contains("a=00b=1B[31m"), "{out}");
        let part = text_part(ContentType::TEXT_PLAIN, "plain\r\ntext\n".into());
        let out = String::from_utf8(part.formatted()).unwrap();
        assert!(out.contains("Content-Transfer-Encoding: 7bit"), "{out}");
    }
}
