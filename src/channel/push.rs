//! Registrar push (webhook) receivers (`[[push]]`), served by the embedded HTTP server.
//! A push is judged here in two steps, free of HTTP types: [`Endpoint::admit`] (source
//! address in `allow_from`, token) before the body is read, then [`receive`], which
//! stores the body through the intake. The answer is a [`PushOutcome`], which the web
//! server turns into 200 only after the body is committed, so the registrar retries
//! whatever was not: 401 a wrong token, 403 a source outside `allow_from`, 413 a body
//! over `[http] max_body`, 400 a body with no notification (kept in quarantine with its
//! bytes), 503 when the database fails. What was answered is written to the database
//! for `status` and `/metrics` afterwards, in order, on a thread of the receiver's own
//! ([`Recorder`]): an answer never waits for that write.

use std::net::IpAddr;

use crate::channel::sns::{self, Refusal, Verifier};
use crate::config::{Config, Network, PushConfig, PushFormat};
use crate::ingest::intake::{Intake, Item};
use crate::source::Source;

/// One configured receiver, its token resolved.
pub struct Endpoint {
    pub config: PushConfig,
    token: Option<String>,
    networks: Vec<Network>,
    recorder: Recorder,
    /// `format = "sns"`: what verifies each message.
    sns: Option<Verifier>,
}

/// The configured receivers whose token resolves (one that does not, or is empty, is
/// logged and not started; `watch` and `serve` refuse both at start).
pub fn endpoints(config: &Config, intake: &Intake) -> Vec<Endpoint> {
    let mut endpoints = Vec::new();
    for p in &config.pushes {
        let token = match p.token().resolve_token() {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(source = %p.name, error = %format!("{e:#}"), "push receiver not started: token");
                continue;
            }
        };
        let sns = match p.format {
            PushFormat::Any => None,
            PushFormat::Sns => {
                let ca = p.ca_file.as_ref().map(|f| config.resolve(f));
                match Verifier::new(p, ca.as_deref()) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        tracing::error!(source = %p.name, error = %e, "push receiver not started");
                        continue;
                    }
                }
            }
        };
        endpoints.push(Endpoint {
            sns,
            networks: p.networks().unwrap_or_default(),
            recorder: Recorder::start(intake, &p.name),
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
    /// Not stored (the database failed, or an SNS certificate did not load): the
    /// registrar should retry.
    Unavailable,
    /// `format = "sns"`: the body is not an SNS message.
    NotSns,
    /// `format = "sns"`: forged, unsigned, stale or of a topic not configured.
    NotVerified,
    /// `format = "sns"`: a subscription confirmed (its `SubscribeURL` fetched).
    Confirmed,
    /// `format = "sns"`: an `UnsubscribeConfirmation`, verified and logged.
    Unsubscribed,
}

impl PushOutcome {
    /// The HTTP status that says this to the registrar.
    pub fn status(self) -> u16 {
        match self {
            PushOutcome::Stored { .. } | PushOutcome::Confirmed | PushOutcome::Unsubscribed => 200,
            PushOutcome::NoNotification | PushOutcome::Unreadable | PushOutcome::NotSns => 400,
            PushOutcome::Unauthorized => 401,
            PushOutcome::Forbidden | PushOutcome::NotVerified => 403,
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
            PushOutcome::NotSns => "not an Amazon SNS message",
            PushOutcome::NotVerified => "the SNS message could not be verified",
            PushOutcome::Confirmed => "subscription confirmed",
            PushOutcome::Unsubscribed => "unsubscribe noted",
        }
    }
}

/// What a receiver answered, to be written for `status`: accepted bodies as read
/// messages, refusals (with why) as the last error.
struct Answer {
    status: u16,
    why: Option<String>,
}

/// Answers waiting to be written at most; beyond, an answer is left out of the figures
/// (never out of the reply) until the database takes writes again.
const RECORDS_QUEUED: usize = 1000;

/// Writes a receiver's answers in the order given, on a thread of its own. Another
/// process may hold the database's write lock for minutes: the HTTP server's threads
/// never wait for it, and a flood of refused pushes costs a bounded queue.
struct Recorder(std::sync::mpsc::SyncSender<Answer>);

impl Recorder {
    fn start(intake: &Intake, name: &str) -> Recorder {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Answer>(RECORDS_QUEUED);
        let (intake, name) = (intake.clone(), name.to_string());
        // Ends when the endpoint (its sender) is dropped, after the queue is written.
        let spawned = std::thread::Builder::new()
            .name("push-records".into())
            .spawn(move || {
                for a in rx {
                    let _ = intake.count(&name, &format!("answered {}", a.status), 1);
                    let _ = match a.why {
                        None => intake
                            .read(&name, "", 1)
                            .and_then(|_| intake.synced(&name, "")),
                        Some(e) => intake.failed(&name, "", &format!("HTTP {}: {e}", a.status)),
                    };
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "push receiver: answers will not be counted");
        }
        Recorder(tx)
    }

    fn record(&self, outcome: PushOutcome, why: Option<String>) {
        let answer = Answer {
            status: outcome.status(),
            why,
        };
        if self.0.try_send(answer).is_err() {
            tracing::warn!(
                "push receiver: the database is not taking writes; this answer is not counted"
            );
        }
    }
}

impl Endpoint {
    /// Whether the receiver has a token of its own.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Whether each message carries a signature that is verified (`format = "sns"`).
    pub fn verifies_signatures(&self) -> bool {
        self.sns.is_some()
    }

    /// Whether a push from `peer` presenting `token` may be read at all. Decided
    /// without the database (the answer is recorded afterwards).
    pub fn admit(&self, peer: IpAddr, token: Option<&str>) -> Result<(), PushOutcome> {
        let name = &self.config.name;
        if !self.networks.is_empty() && !self.networks.iter().any(|n| n.contains(peer)) {
            let outcome = PushOutcome::Forbidden;
            self.recorder
                .record(outcome, Some(format!("{peer} is not in allow_from")));
            tracing::warn!(source = %name, %peer, "push refused: not in allow_from");
            return Err(outcome);
        }
        if let Some(want) = &self.token
            && !token.is_some_and(|t| {
                !t.is_empty() && crate::secret::same(t.as_bytes(), want.as_bytes())
            })
        {
            let outcome = PushOutcome::Unauthorized;
            self.recorder
                .record(outcome, Some(format!("wrong or missing token from {peer}")));
            tracing::warn!(source = %name, %peer, "push refused: wrong or missing token");
            return Err(outcome);
        }
        Ok(())
    }

    /// A body over `[http] max_body` was refused unread.
    pub fn too_large(&self, peer: IpAddr) -> PushOutcome {
        let outcome = PushOutcome::TooLarge;
        self.recorder
            .record(outcome, Some("body over [http] max_body".into()));
        tracing::warn!(source = %self.config.name, %peer, "push refused: body too large");
        outcome
    }

    /// An answer given without reading the body (the HTTP server's own refusals).
    pub fn refused(&self, outcome: PushOutcome, why: &str) {
        self.recorder.record(outcome, Some(why.to_string()));
    }
}

/// Stores an admitted push's body through the intake and says how to answer.
pub async fn receive(
    intake: &Intake,
    endpoint: &Endpoint,
    peer: IpAddr,
    body: Vec<u8>,
) -> PushOutcome {
    if let Some(verifier) = &endpoint.sns {
        return receive_sns(intake, endpoint, verifier, peer, &body).await;
    }
    let id = crate::store::hash_hex(&crate::store::content_hash(&body))[..16].to_string();
    store(intake, endpoint, peer, id, body).await
}

/// An SNS delivery: verified before anything is stored; a notification's `Message`
/// stored under its `MessageId`, a subscription confirmed.
async fn receive_sns(
    intake: &Intake,
    endpoint: &Endpoint,
    verifier: &Verifier,
    peer: IpAddr,
    body: &[u8],
) -> PushOutcome {
    let name = &endpoint.config.name;
    let refuse = |r: Refusal| {
        let outcome = match &r {
            Refusal::NotSns(_) => PushOutcome::NotSns,
            Refusal::NotVerified(_) => PushOutcome::NotVerified,
            Refusal::Unavailable(_) => PushOutcome::Unavailable,
        };
        let why = r.reason().to_string();
        match outcome {
            PushOutcome::Unavailable => {
                tracing::warn!(source = %name, %peer, reason = %why, "SNS message not checked now: answered 503, SNS retries")
            }
            _ => {
                tracing::warn!(source = %name, %peer, reason = %why, "SNS message refused: stored nowhere")
            }
        }
        endpoint.recorder.record(outcome, Some(why));
        outcome
    };
    let m = match verifier.verify(body).await {
        Ok(m) => m,
        Err(r) => return refuse(r),
    };
    match m.kind() {
        Ok(sns::Kind::Notification) => {
            let id = m.source_id();
            store(intake, endpoint, peer, id, m.message.into_bytes()).await
        }
        Ok(sns::Kind::SubscriptionConfirmation) => match verifier.confirm(&m).await {
            Ok(arn) => {
                tracing::info!(source = %name, topic = %m.topic_arn, subscription = %arn.as_deref().unwrap_or("?"), "SNS subscription confirmed");
                endpoint.recorder.record(PushOutcome::Confirmed, None);
                PushOutcome::Confirmed
            }
            Err(r) => {
                let why = format!(
                    "confirming the subscription to {} failed: {} (SNS sends the confirmation again; or confirm it with `aws sns confirm-subscription`)",
                    m.topic_arn,
                    r.reason()
                );
                tracing::error!(source = %name, reason = %why, "SNS subscription not confirmed");
                endpoint
                    .recorder
                    .record(PushOutcome::Unavailable, Some(why));
                PushOutcome::Unavailable
            }
        },
        Ok(sns::Kind::UnsubscribeConfirmation) => {
            tracing::warn!(source = %name, topic = %m.topic_arn, "SNS: this endpoint was unsubscribed from the topic; nothing more will come from it until it is subscribed again");
            endpoint.recorder.record(
                PushOutcome::Unsubscribed,
                Some(format!("unsubscribed from {}", m.topic_arn)),
            );
            PushOutcome::Unsubscribed
        }
        Err(r) => refuse(r),
    }
}

/// Stores one pushed notification under `id` and says how to answer.
async fn store(
    intake: &Intake,
    endpoint: &Endpoint,
    peer: IpAddr,
    id: String,
    body: Vec<u8>,
) -> PushOutcome {
    let name = endpoint.config.name.clone();
    let source = Source::Push {
        name: name.clone(),
        id,
    };
    match intake.ingest(vec![Item::new(source, body)], None).await {
        Ok(b) if b.events_new == 0 && b.duplicates == 0 => {
            let outcome = PushOutcome::NoNotification;
            endpoint.recorder.record(
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
            endpoint.recorder.record(outcome, None);
            tracing::info!(source = %name, new_events = b.events_new, duplicates = b.duplicates, "pushed");
            outcome
        }
        Err(e) => {
            let msg = e.to_string();
            tracing::error!(source = %name, error = %msg, "push not stored: answered 503");
            let outcome = PushOutcome::Unavailable;
            endpoint.recorder.record(outcome, Some(msg));
            outcome
        }
    }
}
