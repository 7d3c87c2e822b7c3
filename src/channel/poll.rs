//! A registrar API polled on an interval (`[[poll]]`): fetch the oldest queued
//! message, store it through the one ingest path and commit, and only then acknowledge
//! it. A crash between the commit and the acknowledgement makes the registrar serve it
//! again, and dedup on `(registrar, event_id)` absorbs the copy: no event and no action
//! twice. The reply body is what is stored, never the request (which holds the key).

use super::{Failure, Health, poll_autodns, poll_opensrs};
use crate::config::{PollConfig, PollFormat, PollRegistrar};
use crate::ingest::intake::{Intake, Item};
use crate::ingest::{Batch, sum};
use crate::shutdown::Shutdown;
use crate::source::Source;

/// Largest reply read; a bigger one is refused (100 events are far below this).
const MAX_REPLY: usize = 32 << 20;

/// Messages one round may take before it yields to the interval (a queue that never
/// empties must not hold the source forever).
const MAX_PER_ROUND: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// The request did not get a reply we can read (network, timeout, HTTP status).
    #[error("{name}: {message}")]
    Transport { name: String, message: String },
    /// The registrar refused: its own code and text.
    #[error("{name}: the registrar answered {code}: {text}")]
    Registrar {
        name: String,
        code: String,
        text: String,
    },
    /// Something a person must fix: a missing secret, a message that cannot be
    /// acknowledged, the database.
    #[error("{name}: {message}")]
    Local { name: String, message: String },
}

/// One message served by the registrar.
#[derive(Debug)]
pub struct Polled {
    /// The reply body as received: what is stored.
    pub body: Vec<u8>,
    /// What to acknowledge: AutoDNS message id, or every OpenSRS event_id.
    pub ids: Vec<String>,
    /// Queue depth the registrar reported, when it did.
    pub queue: Option<u64>,
}

/// A connection to one registrar API, with its secret read.
pub struct Poller {
    config: PollConfig,
    url: String,
    secret: String,
    client: reqwest::Client,
}

impl Poller {
    pub fn new(config: &PollConfig) -> Result<Poller, PollError> {
        let local = |message: String| PollError::Local {
            name: config.name.clone(),
            message,
        };
        let secret = config
            .secret()
            .resolve()
            .map_err(|e| local(format!("{e:#}")))?
            .ok_or_else(|| local("no key or password configured".into()))?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .user_agent(concat!("mailroom/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| local(format!("HTTP client: {}", crate::reason::chain(&e))))?;
        Ok(Poller {
            url: config.endpoint(),
            config: config.clone(),
            secret,
            client,
        })
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    fn transport(&self, message: String) -> PollError {
        PollError::Transport {
            name: self.config.name.clone(),
            message,
        }
    }

    fn registrar(&self, code: String, text: String) -> PollError {
        PollError::Registrar {
            name: self.config.name.clone(),
            code: if code.is_empty() { "?".into() } else { code },
            text: if text.is_empty() {
                "(no text)".into()
            } else {
                text
            },
        }
    }

    /// Sends the request and reads the reply body (bounded).
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<(u16, Vec<u8>), PollError> {
        let mut resp = req
            .send()
            .await
            .map_err(|e| self.transport(crate::reason::chain(&e.without_url())))?;
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    if body.len() + c.len() > MAX_REPLY {
                        return Err(self.transport(format!(
                            "the reply is larger than {} MiB",
                            MAX_REPLY >> 20
                        )));
                    }
                    body.extend_from_slice(&c);
                }
                Ok(None) => break,
                Err(e) => return Err(self.transport(crate::reason::chain(&e.without_url()))),
            }
        }
        Ok((status, body))
    }

    fn opensrs(&self, body: String) -> reqwest::RequestBuilder {
        let sig = poll_opensrs::signature(body.as_bytes(), &self.secret);
        self.client
            .post(&self.url)
            .header("Content-Type", "text/xml")
            .header("X-Username", &self.config.username)
            .header("X-Signature", sig)
            .body(body)
    }

    fn context(&self) -> &str {
        self.config.context.as_deref().unwrap_or("4")
    }

    fn autodns_json(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.url))
            .basic_auth(&self.config.username, Some(&self.secret))
            .header("X-Domainrobot-Context", self.context())
            .header("Accept", "application/json")
    }

    fn autodns_xml(&self, confirm: Option<&str>) -> reqwest::RequestBuilder {
        let body =
            poll_autodns::xml_request(&self.config.username, &self.secret, self.context(), confirm);
        self.client
            .post(&self.url)
            .header("Content-Type", "text/xml")
            .body(body)
    }

    fn unreadable(&self, status: u16, why: String) -> PollError {
        if (200..300).contains(&status) {
            self.transport(format!("unreadable reply: {why}"))
        } else {
            self.transport(format!("HTTP {status} ({why})"))
        }
    }

    fn autodns_reply(&self, status: u16, body: &[u8]) -> Result<poll_autodns::Reply, PollError> {
        let parsed = match self.config.format {
            PollFormat::Json => poll_autodns::parse_json(body),
            PollFormat::Xml => poll_autodns::parse_xml(body),
        };
        let reply = parsed.map_err(|e| self.unreadable(status, e))?;
        if !reply.success {
            return Err(self.registrar(reply.code, reply.text));
        }
        Ok(reply)
    }

    /// The oldest queued message, or None when the queue is empty.
    pub async fn poll(&self) -> Result<Option<Polled>, PollError> {
        match self.config.registrar {
            PollRegistrar::Opensrs => {
                let req = self.opensrs(poll_opensrs::poll_request(self.config.batch));
                let (status, body) = self.send(req).await?;
                let reply =
                    poll_opensrs::parse_reply(&body).map_err(|e| self.unreadable(status, e))?;
                if !reply.success {
                    return Err(self.registrar(reply.code, reply.text));
                }
                if reply.event_ids.is_empty() {
                    return Ok(None);
                }
                Ok(Some(Polled {
                    body,
                    ids: reply.event_ids,
                    queue: reply.total,
                }))
            }
            PollRegistrar::Autodns => {
                let req = match self.config.format {
                    PollFormat::Json => self.autodns_json(reqwest::Method::GET, "/poll"),
                    PollFormat::Xml => self.autodns_xml(None),
                };
                let (status, body) = self.send(req).await?;
                let reply = self.autodns_reply(status, &body)?;
                // A message with an id is taken whatever `summary` says: losing one
                // to a count that excludes it would be worse than one more poll.
                match reply.message_id {
                    Some(id) => Ok(Some(Polled {
                        body,
                        ids: vec![id],
                        queue: reply.summary,
                    })),
                    None => Ok(None),
                }
            }
        }
    }

    /// Acknowledges one message (AutoDNS) or event (OpenSRS): the registrar drops it.
    pub async fn ack(&self, id: &str) -> Result<(), PollError> {
        match self.config.registrar {
            PollRegistrar::Opensrs => {
                let req = self.opensrs(poll_opensrs::ack_request(id));
                let (status, body) = self.send(req).await?;
                let reply =
                    poll_opensrs::parse_reply(&body).map_err(|e| self.unreadable(status, e))?;
                if !reply.success {
                    return Err(self.registrar(reply.code, reply.text));
                }
            }
            PollRegistrar::Autodns => {
                let req = match self.config.format {
                    PollFormat::Json => self
                        .autodns_json(reqwest::Method::PUT, &format!("/poll/{}", path_segment(id))),
                    PollFormat::Xml => self.autodns_xml(Some(id)),
                };
                let (status, body) = self.send(req).await?;
                self.autodns_reply(status, &body)?;
            }
        }
        Ok(())
    }
}

/// `id` percent-encoded for one URL path segment.
fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What one round (poll until the queue is empty) did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Round {
    pub batch: Batch,
    pub acknowledged: u64,
    pub queue: Option<u64>,
}

/// Polls until the registrar's queue is empty: each message stored and committed,
/// then acknowledged.
pub async fn round(
    intake: &Intake,
    shutdown: &Shutdown,
    poller: &Poller,
) -> Result<Round, PollError> {
    let name = poller.name().to_string();
    let local = |message: String| PollError::Local {
        name: name.clone(),
        message,
    };
    let mut done = Round::default();
    let mut last_acked: Vec<String> = Vec::new();
    for _ in 0..MAX_PER_ROUND {
        if shutdown.is_shutdown() {
            break;
        }
        let asked = std::time::Instant::now();
        let Some(polled) = poller.poll().await? else {
            let _ = intake.gauge(&name, "queue", 0);
            break;
        };
        done.queue = polled.queue;
        if let Some(q) = polled.queue {
            let _ = intake.gauge(&name, "queue", q);
        }
        if polled.ids == last_acked {
            return Err(local(format!(
                "the registrar served {} again right after acknowledging it",
                polled.ids.join(", ")
            )));
        }
        let id = match polled.ids.as_slice() {
            [one] => one.clone(),
            [first, .., last] => format!("{first}..{last}"),
            [] => String::new(),
        };
        let source = Source::Poll {
            name: name.clone(),
            id,
        };
        let b = intake
            .ingest(vec![Item::new(source, polled.body)], None)
            .await
            .map_err(|e| local(e.to_string()))?;
        sum(&mut done.batch, b);
        intake.live.intake("poll", asked.elapsed());
        // Committed: now the registrar may forget it.
        let mut acknowledged = 0;
        for id in &polled.ids {
            match poller.ack(id).await {
                Ok(()) => acknowledged += 1,
                // Refused (OpenSRS: "not found", it left the queue some other way): it
                // is stored, and should the registrar serve it again it is recognised;
                // one refusal must not stop the source for good.
                Err(PollError::Registrar { code, text, .. }) => tracing::warn!(
                    source = %name,
                    id = %crate::term::printable(id),
                    code = %crate::term::printable(&code),
                    answer = %crate::term::printable(&text),
                    "the registrar refused the acknowledgement (the event is stored)"
                ),
                Err(e) => return Err(e),
            }
        }
        done.acknowledged += acknowledged;
        let _ = intake.read(&name, "", polled.ids.len() as u64);
        let _ = intake.count(&name, "acknowledged", acknowledged);
        tracing::info!(
            source = %name,
            acknowledged,
            new_events = b.events_new,
            duplicates = b.duplicates,
            queue = polled.queue,
            "polled"
        );
        if acknowledged == 0 {
            // Nothing the registrar would let go of: asking again at once would only
            // be served the same; the next round is after the interval.
            break;
        }
        last_acked = polled.ids;
    }
    let _ = intake.synced(&name, "");
    Ok(done)
}

impl Failure for PollError {}

/// Polls one registrar API until shutdown (`Ok`): a round, then `interval`. A failed
/// round ends it (`Err`); the supervisor records it and retries with backoff, with the
/// secret read again (it may have been fixed).
pub async fn watch(
    intake: &Intake,
    config: &PollConfig,
    mut shutdown: Shutdown,
    health: &Health,
) -> Result<(), PollError> {
    let poller = Poller::new(config)?;
    loop {
        round(intake, &shutdown, &poller).await?;
        health.ok();
        if shutdown.sleep(config.interval).await {
            return Ok(());
        }
    }
}

/// `watch --once`: one round of `config`'s registrar API.
pub async fn once(
    intake: &Intake,
    config: &PollConfig,
    shutdown: &Shutdown,
) -> Result<Batch, PollError> {
    let poller = Poller::new(config)?;
    Ok(round(intake, shutdown, &poller).await?.batch)
}
