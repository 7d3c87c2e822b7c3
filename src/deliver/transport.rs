//! Where a finished delivery goes, in the shape of lettre's transports: one
//! [`Transport`] trait whose `send` takes a message and says whether trying again may
//! help, implemented by the SMTP session ([`super::smtp::SmtpTarget`]), a directory of mail files
//! ([`FileTransport`]), a [`StubTransport`] that keeps what it is given, and webhooks
//! ([`super::webhook::Hooks`], whose message is the call). [`super::mailer::Mailer`] is
//! the mail transport the config chose.

use std::future::Future;
use std::path::PathBuf;

use lettre::Message;

use super::DeliveryError;

/// Sends one kind of message to one kind of destination.
pub trait Transport {
    type Message: ?Sized;

    /// Sends `message`; an error says whether trying again may help
    /// ([`DeliveryError::is_transient`]).
    fn send(
        &self,
        message: &Self::Message,
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send;
}

/// Mail written as `.eml` files into a directory (`[smtp] dir`), for local runs.
pub struct FileTransport {
    dir: PathBuf,
}

impl FileTransport {
    /// Creates the directory when missing.
    pub fn new(dir: PathBuf) -> Result<FileTransport, DeliveryError> {
        std::fs::create_dir_all(&dir)
            .map_err(|e| DeliveryError::config(format!("{}: {e}", dir.display())))?;
        Ok(FileTransport { dir })
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

impl Transport for FileTransport {
    type Message = Message;

    async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
        let id = message.headers().get_raw("Message-ID").unwrap_or_default();
        write_file(&self.dir, id, &message.formatted())
    }
}

/// Keeps every mail it is given, formatted, and sends nothing (lettre's
/// `StubTransport`): for tests of what would go out.
#[derive(Default)]
pub struct StubTransport {
    sent: std::sync::Mutex<Vec<Vec<u8>>>,
}

impl StubTransport {
    /// The mails given so far, oldest first.
    pub fn sent(&self) -> Vec<Vec<u8>> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Transport for StubTransport {
    type Message = Message;

    async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
        if let Ok(mut sent) = self.sent.lock() {
            sent.push(message.formatted());
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deliver::mime::build_within;

    #[tokio::test]
    async fn an_oversized_mail_goes_out_without_its_original() {
        let stub = StubTransport::default();
        let mail = serde_json::json!({
            "to": ["ops@reseller.example"],
            "subject": "[mailroom] opensrs TRANSFER shop.example",
            "text": "Transfer started.",
        });
        let original = vec![b'x'; 200_000];
        let message = build_within(
            "mailroom@reseller.example",
            &mail,
            "<outbox-3.ab@mailroom.invalid>",
            Some((original, true)),
            50_000,
        )
        .unwrap();
        stub.send(&message).await.unwrap();
        let sent = stub.sent();
        assert_eq!(sent.len(), 1);
        let text = String::from_utf8_lossy(&sent[0]);
        assert!(sent[0].len() < 50_000, "{} bytes", sent[0].len());
        assert!(
            text.contains("Message-ID: <outbox-3.ab@mailroom.invalid>"),
            "{text}"
        );
        assert!(text.contains("Transfer started."), "{text}");
        assert!(text.contains("is not attached"), "{text}");
    }

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
}
