//! Delivery: the outbox is worked off here. Each due item is claimed, sent (SMTP,
//! webhook or mail file), and marked done; a failure is retried with exponential
//! backoff and jitter; a permanent failure, or one still failing when the give-up
//! window ends, goes to the fallback address and the item is marked dead.

pub mod compose;
pub mod digest;
pub mod queue;
pub mod smtp;
pub mod webhook;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::clock;
use crate::config::{Config, DeliveryConfig};
use crate::store::outbox::{self, Channel, Item, NewItem};
use crate::store::{Store, query};
use crate::term::printable;

/// Why a delivery failed, and whether trying again may help.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    pub message: String,
    transient: bool,
    /// The destination could not be reached at all (DNS, connect, TLS): the rest of
    /// its queue waits instead of being tried item by item.
    unreachable: bool,
}

impl DeliveryError {
    pub fn transient(message: String) -> DeliveryError {
        DeliveryError {
            message,
            transient: true,
            unreachable: false,
        }
    }

    pub fn permanent(message: String) -> DeliveryError {
        DeliveryError {
            message,
            transient: false,
            unreachable: false,
        }
    }

    /// A setup problem (bad CA file, missing secret): retried, as it may be fixed.
    pub fn config(message: String) -> DeliveryError {
        DeliveryError::transient(message)
    }

    /// Marks the error as "destination down" (not reached: DNS, connect, TLS).
    pub fn unreachable(mut self) -> DeliveryError {
        self.unreachable = true;
        self.transient = true;
        self
    }

    pub fn is_unreachable(&self) -> bool {
        self.unreachable
    }

    pub fn is_transient(&self) -> bool {
        self.transient
    }

    pub fn is_permanent(&self) -> bool {
        !self.transient
    }

    pub(crate) fn from_smtp(e: lettre::transport::smtp::Error) -> DeliveryError {
        let message = format!("SMTP: {e}");
        if e.is_permanent() {
            DeliveryError::permanent(message)
        } else {
            DeliveryError::transient(message)
        }
    }
}

/// What one pass over the outbox did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub delivered: u64,
    /// Failed this time; will be retried.
    pub failed: u64,
    /// Not tried: their destination was found unreachable in this pass.
    pub deferred: u64,
    /// Given up: sent to the fallback address (when one is set) and marked dead.
    pub dead: u64,
    /// Digest periods closed and queued.
    pub digests: u64,
}

/// How long a claimed item is reserved for the deliverer working on it.
const LEASE_SECONDS: i64 = 60;

pub struct Deliverer {
    mailer: smtp::Mailer,
    hooks: webhook::Hooks,
    from: String,
    policy: DeliveryConfig,
    /// Distinguishes Message-IDs of different databases; stored in the database, so
    /// every spelling of its path gives the same.
    instance: String,
    /// Who holds the claims this deliverer makes.
    holder: String,
    /// How long a claim lasts without renewal: longer than any transport timeout.
    lease: Duration,
    /// Largest mail sent (`[smtp] max_message_size`).
    max_message_size: u64,
}

impl Deliverer {
    pub fn new(config: &Config, store: &Store) -> Result<Deliverer, DeliveryError> {
        let instance = store
            .instance_id()
            .map_err(|e| DeliveryError::config(format!("database: {e}")))?;
        // A send takes at most a handful of SMTP steps, each under the SMTP timeout, or
        // one webhook request under its timeout; the claim is renewed while it runs.
        let smtp = config
            .smtp
            .as_ref()
            .map_or(std::time::Duration::from_secs(30), |s| s.timeout);
        let slowest = (smtp * 6).max(config.webhook.timeout);
        let lease = Duration::from_std(slowest + std::time::Duration::from_secs(30))
            .unwrap_or(Duration::seconds(LEASE_SECONDS))
            .max(Duration::seconds(LEASE_SECONDS));
        Ok(Deliverer {
            holder: outbox::holder(),
            lease,
            mailer: smtp::Mailer::from_config(config)?,
            hooks: webhook::Hooks::from_config(config)?,
            from: config.smtp.as_ref().map_or_else(
                || "mailroom <mailroom@localhost>".to_string(),
                |s| s.from.clone(),
            ),
            policy: config.delivery.clone(),
            instance,
            max_message_size: config
                .smtp
                .as_ref()
                .map_or(10 << 20, |s| s.max_message_size),
        })
    }

    pub fn mailer(&self) -> &smtp::Mailer {
        &self.mailer
    }

    /// Delivers everything due now, one item at a time, until nothing is due.
    pub async fn run_due(&self, store: &mut Store) -> crate::store::Result<Report> {
        let mut report = Report::default();
        loop {
            let now = clock::now();
            let Some(item) = outbox::claim_due(store.conn(), now, self.lease, &self.holder)? else {
                // The pass is over: no session kept open until the next one.
                self.mailer.close().await;
                return Ok(report);
            };
            let original = self.original(store, &item);
            let result = self.send_claimed(store, &item, original).await?;
            if let Err(e) = &result
                && e.is_unreachable()
            {
                // The destination is down (not an error answer from it): the rest of
                // its due items wait, untried, instead of hammering it once per item.
                // They keep their own attempt count and last error.
                let now = clock::now();
                let window =
                    Duration::from_std(self.policy.give_up_after).unwrap_or(Duration::days(1));
                let deferred = outbox::defer_destination(
                    store.conn(),
                    webhook_origin(&item).as_deref(),
                    now,
                    now + self.backoff(item.attempts + 1),
                    now - window,
                )?;
                report.deferred += deferred as u64;
                if deferred > 0 {
                    tracing::warn!(destination = %destination(&item), deferred, "destination unreachable: its other deliveries wait");
                }
            }
            let now = clock::now();
            match result {
                Ok(()) => {
                    outbox::mark_done(store.conn(), item.id, now)?;
                    report.delivered += 1;
                    tracing::info!(id = item.id, channel = item.channel.as_str(), target = %printable(&item.target), "delivered");
                }
                Err(e) => {
                    let window_over = parse(&item.window_start).is_some_and(|start| {
                        now - start
                            >= Duration::from_std(self.policy.give_up_after)
                                .unwrap_or(Duration::days(1))
                    });
                    if e.is_permanent() || (window_over && item.channel != Channel::Fallback) {
                        let why = if e.is_permanent() {
                            GiveUp::Permanent
                        } else {
                            GiveUp::WindowOver
                        };
                        self.give_up(store, &item, &e.message, why, now)?;
                        report.dead += 1;
                    } else {
                        let next = now + self.backoff(item.attempts + 1);
                        outbox::mark_failed(store.conn(), item.id, next, &e.message)?;
                        report.failed += 1;
                        tracing::warn!(id = item.id, channel = item.channel.as_str(), error = %printable(&e.message), retry_at = %clock::stamp(next), "delivery failed");
                    }
                }
            }
        }
    }

    /// Sends a claimed item, renewing the claim while the send runs so that no other
    /// deliverer takes it over from a slow but live one.
    async fn send_claimed(
        &self,
        store: &mut Store,
        item: &Item,
        original: Option<(Vec<u8>, bool)>,
    ) -> crate::store::Result<Result<(), DeliveryError>> {
        let send = self.send(item, original);
        tokio::pin!(send);
        let every = (self.lease / 3)
            .to_std()
            .unwrap_or(std::time::Duration::from_secs(20));
        let mut renewal = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tokio::select! {
                result = &mut send => return Ok(result),
                _ = renewal.tick() => {
                    outbox::renew(store.conn(), item.id, &self.holder, clock::now() + self.lease)?;
                }
            }
        }
    }

    /// The original message a forward attaches (read before sending, so no database
    /// handle is held while waiting on the network).
    pub fn original(&self, store: &Store, item: &Item) -> Option<(Vec<u8>, bool)> {
        match (item.channel, item.message) {
            (Channel::Forward, Some(m)) => query::raw_message(store.conn(), m).ok().flatten(),
            _ => None,
        }
    }

    /// Sends one item now (also used by `rules test --send`, with no store row).
    pub async fn send(
        &self,
        item: &Item,
        original: Option<(Vec<u8>, bool)>,
    ) -> Result<(), DeliveryError> {
        match item.channel {
            Channel::Webhook => self.hooks.send(&item.payload).await,
            _ => {
                let message_id = format!("<outbox-{}.{}@mailroom.invalid>", item.id, self.instance);
                self.mailer
                    .send(
                        &self.from,
                        &item.payload,
                        &message_id,
                        original,
                        self.max_message_size,
                    )
                    .await
            }
        }
    }

    fn give_up(
        &self,
        store: &Store,
        item: &Item,
        error: &str,
        why: GiveUp,
        now: DateTime<Utc>,
    ) -> crate::store::Result<()> {
        tracing::error!(id = item.id, channel = item.channel.as_str(), target = %printable(&item.target), error = %printable(error), "delivery given up");
        let tx = store.conn().unchecked_transaction()?;
        outbox::mark_dead(&tx, item.id, error)?;
        if !self.policy.fallback_to.is_empty() && item.channel != Channel::Fallback {
            let payload = compose::fallback(
                &self.policy.fallback_to,
                item,
                error,
                why == GiveUp::Permanent,
            );
            outbox::enqueue(
                &tx,
                &NewItem {
                    channel: Channel::Fallback,
                    rule: item.rule.clone(),
                    event: item.event,
                    message: item.message,
                    target: self.policy.fallback_to.join(", "),
                    payload,
                },
                now,
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// `first_backoff · 2^(attempt-1)`, capped, ±20 % jitter so retries spread out.
    fn backoff(&self, attempt: i64) -> Duration {
        let first = self.policy.first_backoff.as_secs_f64().max(0.001);
        let cap = self.policy.max_backoff.as_secs_f64().max(first);
        let base = (first * 2f64.powi((attempt - 1).clamp(0, 30) as i32)).min(cap);
        let jitter = 0.8 + fastrand::f64() * 0.4;
        Duration::milliseconds((base * jitter * 1000.0) as i64)
    }
}

/// Why a delivery was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GiveUp {
    /// The destination refused it in a way retrying cannot change.
    Permanent,
    /// It kept failing until the give-up window ended.
    WindowOver,
}

/// Where an item goes, for log lines: a webhook's origin, else its recipients.
fn destination(item: &Item) -> String {
    webhook_origin(item).unwrap_or_else(|| item.target.clone())
}

/// For a webhook item, the origin (`https://host:port`) its URL starts with.
fn webhook_origin(item: &Item) -> Option<String> {
    (item.channel == Channel::Webhook).then(|| {
        let url = item.payload["url"].as_str().unwrap_or_default();
        reqwest::Url::parse(url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| url.to_string())
    })
}

fn parse(stamp: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(stamp)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}
