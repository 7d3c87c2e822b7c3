//! The mail transport the config chose: an SMTP server, a directory of mail files, or
//! none (mail then waits, with an error saying why).

use serde_json::Value;

use super::DeliveryError;
use super::mime::build_within;
use super::smtp::SmtpTarget;
use super::transport::{FileTransport, Transport};
use crate::config::Config;

/// The mail transport the config chose.
pub enum Mailer {
    Smtp(Box<SmtpTarget>),
    Files(FileTransport),
    /// No `[smtp]` in the config: mail stays queued with an error saying so.
    Unconfigured,
}

impl Mailer {
    pub fn from_config(config: &Config) -> Result<Mailer, DeliveryError> {
        let Some(s) = &config.smtp else {
            return Ok(Mailer::Unconfigured);
        };
        if let Some(dir) = &s.dir {
            return FileTransport::new(config.resolve(dir)).map(Mailer::Files);
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
            Mailer::Smtp(t) => format!("SMTP server {}", t.address()),
            Mailer::Files(f) => format!("files in {}", f.dir().display()),
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
            Mailer::Files(f) => f.send(&message).await,
            Mailer::Unconfigured => Err(DeliveryError::transient(
                "no [smtp] section in the config: mail cannot be sent".to_string(),
            )),
        }
    }
}
