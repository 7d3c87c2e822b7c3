//! Registrar push (webhook) receivers (`[[push]]`), served by the embedded HTTP server.
//! A push is judged here in two steps, free of HTTP types: [`Endpoint::admit`] (source
//! address in `allow_from`, token) before the body is read, then [`receive`], which
//! stores the body through the intake. The answer is a [`PushOutcome`], which the web
//! server turns into 200 only after the body is committed, so the registrar retries
//! whatever was not: 401 a wrong token, 403 a source outside `allow_from`, 413 a body
//! over `[http] max_body`, 400 a body with no notification (kept in quarantine with its
//! bytes), 503 when the database fails.

use std::net::IpAddr;

use crate::config::{Config, Network, PushConfig};
use crate::ingest::intake::{Intake, Item};
use crate::source::Source;

/// One configured receiver, its token resolved.
pub struct Endpoint {
    pub config: PushConfig,
    token: Option<String>,
    networks: Vec<Network>,
}

/// The configured receivers whose token resolves (one that does not is logged).
pub fn endpoints(config: &Config) -> Vec<Endpoint> {
    let mut endpoints = Vec::new();
    for p in &config.pushes {
        let token = match p.token().resolve() {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(source = %p.name, error = %format!("{e:#}"), "push receiver not started: token");
                continue;
            }
        };
        endpoints.push(Endpoint {
            networks: p.networks().unwrap_or_default(),
            config: p.clone(),
            token,
        });
    }
    endpoints
}

/// What became of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Committed: the registrar may forget it.
    Stored { new: u64, duplicates: u64 },
    /// No notification in the body; kept in quarantine with its bytes.
    NoNotification,
    /// The body could not be read (the connection broke or timed out).
    Unreadable,
    /// The sender's address is outside `allow_from`.
    Forbidden,
    /// A wrong or missing token.
    Unauthorized,
    /// The body is over `[http] max_body`.
    TooLarge,
    /// Not stored (the database failed): the registrar should retry.
    Unavailable,
}

impl PushOutcome {
    /// The HTTP status that says this to the registrar.
    pub fn status(self) -> u16 {
        match self {
            PushOutcome::Stored { .. } => 200,
            PushOutcome::NoNotification | PushOutcome::Unreadable => 400,
            PushOutcome::Unauthorized => 401,
            PushOutcome::Forbidden => 403,
            PushOutcome::TooLarge => 413,
            PushOutcome::Unavailable => 503,
        }
    }

    /// The one-line answer body.
    pub fn text(self) -> &'static str {
        match self {
            PushOutcome::Stored { .. } => "stored",
            PushOutcome::NoNotification => "no notification found (kept in quarantine)",
            PushOutcome::Unreadable => "the body could not be read",
            PushOutcome::Forbidden => "forbidden",
            PushOutcome::Unauthorized => "wrong or missing token",
            PushOutcome::TooLarge => "body too large",
            PushOutcome::Unavailable => "not stored, try again",
        }
    }
}

/// Records an answer for `status`: accepted bodies as read messages, refusals (with
/// why) as the last error.
fn record(intake: &Intake, name: &str, outcome: PushOutcome, why: Option<String>) {
    let _ = intake.count(name, &format!("answered {}", outcome.status()), 1);
    let _ = match why {
        None => intake
            .read(name, "", 1)
            .and_then(|_| intake.synced(name, "")),
        Some(e) => intake.failed(name, "", &format!("HTTP {}: {e}", outcome.status())),
    };
}

impl Endpoint {
    /// Whether a push from `peer` presenting `token` may be read at all.
    pub fn admit(
        &self,
        intake: &Intake,
        peer: IpAddr,
        token: Option<&str>,
    ) -> Result<(), PushOutcome> {
        let name = &self.config.name;
        if !self.networks.is_empty() && !self.networks.iter().any(|n| n.contains(peer)) {
            let outcome = PushOutcome::Forbidden;
            record(
                intake,
                name,
                outcome,
                Some(format!("{peer} is not in allow_from")),
            );
            tracing::warn!(source = %name, %peer, "push refused: not in allow_from");
            return Err(outcome);
        }
        if let Some(want) = &self.token
            && !token.is_some_and(|t| crate::secret::same(t.as_bytes(), want.as_bytes()))
        {
            let outcome = PushOutcome::Unauthorized;
            record(
                intake,
                name,
                outcome,
                Some(format!("wrong or missing token from {peer}")),
            );
            tracing::warn!(source = %name, %peer, "push refused: wrong or missing token");
            return Err(outcome);
        }
        Ok(())
    }

    /// A body over `[http] max_body` was refused unread.
    pub fn too_large(&self, intake: &Intake, peer: IpAddr) -> PushOutcome {
        let name = &self.config.name;
        let outcome = PushOutcome::TooLarge;
        record(
            intake,
            name,
            outcome,
            Some("body over [http] max_body".into()),
        );
        tracing::warn!(source = %name, %peer, "push refused: body too large");
        outcome
    }
}

/// Stores an admitted push's body through the intake and says how to answer.
pub async fn receive(
    intake: &Intake,
    endpoint: &Endpoint,
    peer: IpAddr,
    body: Vec<u8>,
) -> PushOutcome {
    let name = endpoint.config.name.clone();
    let id = crate::store::hash_hex(&crate::store::content_hash(&body))[..16].to_string();
    let source = Source::Push {
        name: name.clone(),
        id,
    };
    match intake.ingest(vec![Item::new(source, body)], None).await {
        Ok(b) if b.events_new == 0 && b.duplicates == 0 => {
            let outcome = PushOutcome::NoNotification;
            record(
                intake,
                &name,
                outcome,
                Some("no notification found in the body (kept in quarantine)".into()),
            );
            tracing::warn!(source = %name, %peer, "push: no notification found; quarantined");
            outcome
        }
        Ok(b) => {
            let outcome = PushOutcome::Stored {
                new: b.events_new,
                duplicates: b.duplicates,
            };
            record(intake, &name, outcome, None);
            tracing::info!(source = %name, new_events = b.events_new, duplicates = b.duplicates, "pushed");
            outcome
        }
        Err(e) => {
            let msg = e.to_string();
            tracing::error!(source = %name, error = %msg, "push not stored: answered 503");
            let outcome = PushOutcome::Unavailable;
            record(intake, &name, outcome, Some(msg));
            outcome
        }
    }
}
