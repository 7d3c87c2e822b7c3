//! Delivery: the outbox is worked off here. Each due item is claimed, sent (SMTP,
//! webhook or mail file), and marked done; a failure is retried with exponential
//! backoff and jitter; a permanent failure, or one still failing when the give-up
//! window ends, goes to the fallback address and the item is marked dead.

pub mod chat;
pub mod compose;
pub mod customer;
pub mod digest;
pub mod digest_mail;
pub mod mailer;
pub mod mime;
pub mod smtp;
pub mod transport;
pub mod webhook;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::clock;
use crate::config::{Config, DeliveryConfig};
use crate::store::db::Sql as _;
use crate::store::outbox::{self, Channel, Item, NewItem};
use crate::store::{Store, query};
use crate::term::printable;
use transport::Transport;

/// Why a delivery failed, and whether trying again may help.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    pub message: String,
    transient: bool,
    /// The destination could not be reached at all (DNS, connect, TLS), or asked for
    /// a pause (429): the rest of its queue waits instead of being tried item by item.
    unreachable: bool,
    /// How long the destination asked to be left alone (`Retry-After`, or the
    /// service's own field): the next try waits at least this long.
    retry_after: Option<std::time::Duration>,
}

impl DeliveryError {
    pub fn transient(message: String) -> DeliveryError {
        DeliveryError {
            message,
            transient: true,
            unreachable: false,
            retry_after: None,
        }
    }

    pub fn permanent(message: String) -> DeliveryError {
        DeliveryError {
            message,
            transient: false,
            unreachable: false,
            retry_after: None,
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

    /// A rate limit: retried no sooner than `after` (capped at an hour), and the rest of
    /// the destination's queue waits as long.
    pub fn rate_limited(mut self, after: Option<std::time::Duration>) -> DeliveryError {
        self.transient = true;
        self.unreachable = true;
        self.retry_after = after.map(|d| d.min(std::time::Duration::from_secs(3600)));
        self
    }

    pub fn retry_after(&self) -> Option<std::time::Duration> {
        self.retry_after
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

/// Webhook calls claimed and sent together.
const BATCH: usize = 256;

/// Per webhook destination, whether a call of this pass reached it (None: not known
/// yet, the next call goes alone as a probe).
type Probes = std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<Option<bool>>>>;

/// How long a claimed item is reserved for the deliverer working on it.
const LEASE_SECONDS: i64 = 60;

pub struct Deliverer {
    mailer: mailer::Mailer,
    hooks: webhook::Hooks,
    lookups: customer::Lookups,
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
    /// Webhook calls in flight to one destination (`[webhook] concurrency`).
    per_destination: usize,
    /// How long an instance of another machine may be quiet before its claims are
    /// taken over (`[store] lease`), in milliseconds.
    quiet_ms: i64,
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
            mailer: mailer::Mailer::from_config(config)?,
            hooks: webhook::Hooks::from_config(config)?,
            lookups: customer::Lookups::new(config.webhook.timeout)?,
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
            per_destination: config.webhook.concurrency.max(1),
            quiet_ms: config.store.lease.as_millis() as i64,
        })
    }

    pub fn mailer(&self) -> &mailer::Mailer {
        &self.mailer
    }

    /// Delivers everything due now until nothing is due: webhook calls in claimed
    /// batches, sent side by side (to one host at most `[webhook] concurrency` at
    /// once, default one), mail one after another over one SMTP session.
    pub async fn run_due(&self, store: &mut Store) -> crate::store::Result<Report> {
        let mut report = Report::default();
        // Claims of a deliverer that died (here or, on PostgreSQL, another instance)
        // end with it, not with their own lease: its items are due again now.
        outbox::release_stale_claims(store.db(), self.quiet_ms)?;
        // What this pass learned of each webhook destination (reachable or not).
        let mut probes = Probes::new();
        loop {
            let now = clock::now();
            let hooks =
                outbox::claim_due_webhooks(store.db(), now, self.lease, &self.holder, BATCH)?;
            if !hooks.is_empty() {
                self.send_webhooks(store, hooks, &mut probes, &mut report)
                    .await?;
                continue;
            }
            let Some(item) = outbox::claim_due_mail(store.db(), now, self.lease, &self.holder)?
            else {
                // The pass is over: no session kept open until the next one.
                self.mailer.close().await;
                return Ok(report);
            };
            let original = self.original(store, &item);
            let result = self.send_claimed(store, &item, original).await?;
            self.record(store, vec![(item, Some(result))], &mut report)?;
        }
    }

    /// Sends claimed webhook calls side by side, renewing their claims meanwhile, and
    /// records each answer as it comes (with the others that came meanwhile, in one
    /// transaction). A call's turn at its destination passes on only once its answer
    /// is committed, so a crash repeats at most `[webhook] concurrency` calls to each
    /// destination (one by default), never a whole batch.
    async fn send_webhooks(
        &self,
        store: &mut Store,
        items: Vec<Item>,
        probes: &mut Probes,
        report: &mut Report,
    ) -> crate::store::Result<()> {
        use futures_util::StreamExt;
        let mut ids: Vec<i64> = items.iter().map(|i| i.id).collect();
        let mut limits: std::collections::HashMap<String, std::sync::Arc<tokio::sync::Semaphore>> =
            std::collections::HashMap::new();
        // Per destination: the first call goes alone, a probe; when it finds the
        // destination unreachable, the others are not tried (they wait, see `record`).
        let calls = items.into_iter().map(|item| {
            let dest = destination(&item);
            let gate = std::sync::Arc::clone(limits.entry(dest.clone()).or_insert_with(|| {
                std::sync::Arc::new(tokio::sync::Semaphore::new(self.per_destination))
            }));
            let probe = std::sync::Arc::clone(probes.entry(dest).or_default());
            // An item whose give-up window is over is tried all the same (and given up).
            let window_over = parse(&item.window_start).is_some_and(|start| {
                clock::now() - start
                    >= Duration::from_std(self.policy.give_up_after).unwrap_or(Duration::days(1))
            });
            async move {
                let mut known = probe.lock().await;
                match *known {
                    None => {
                        let turn = gate.acquire_owned().await.ok();
                        let result = self.send(&item, None).await;
                        *known = Some(!matches!(&result, Err(e) if e.is_unreachable()));
                        return (item, Some(result), turn);
                    }
                    Some(false) if !window_over => return (item, None, None),
                    _ => {}
                }
                drop(known);
                let turn = gate.acquire_owned().await.ok();
                let result = self.send(&item, None).await;
                (item, Some(result), turn)
            }
        });
        let all = futures_util::stream::iter(calls).buffer_unordered(BATCH);
        tokio::pin!(all);
        let every = (self.lease / 3)
            .to_std()
            .unwrap_or(std::time::Duration::from_secs(20));
        let mut renewal = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tokio::select! {
                next = all.next() => {
                    let Some(first) = next else { return Ok(()) };
                    // What else has come meanwhile is recorded with it.
                    let mut done = vec![first];
                    while let Some(Some(more)) = futures_util::FutureExt::now_or_never(all.next()) {
                        done.push(more);
                    }
                    ids.retain(|id| !done.iter().any(|(i, _, _)| i.id == *id));
                    // The turns are given back after the commit, not before.
                    let (results, turns): (Vec<_>, Vec<_>) =
                        done.into_iter().map(|(i, r, t)| ((i, r), t)).unzip();
                    self.record(store, results, report)?;
                    drop(turns);
                }
                _ = renewal.tick() => {
                    outbox::renew_all(store.db(), &ids, &self.holder, clock::now() + self.lease)?;
                }
            }
        }
    }

    /// The outcomes of `results` in one transaction: deliveries and retries recorded,
    /// claims of untried items given back; the items to give up and the destinations
    /// found unreachable, for the caller.
    fn record_outcomes(
        &self,
        db: &crate::store::db::Db,
        shared: bool,
        results: Vec<(Item, Option<Result<(), DeliveryError>>)>,
        report: &mut Report,
        now: DateTime<Utc>,
        window: Duration,
    ) -> crate::store::Result<Outcomes> {
        let mut given_up = Vec::new();
        let mut unreachable: Vec<(Item, Duration)> = Vec::new();
        let tx = if shared { db.begin()? } else { db.write()? };
        tx.commit_unsynced()?;
        for (item, result) in results {
            let Some(result) = result else {
                outbox::release(&tx, item.id, &self.holder)?;
                if !unreachable
                    .iter()
                    .any(|(u, _)| destination(u) == destination(&item))
                {
                    unreachable.push((item, Duration::zero()));
                }
                continue;
            };
            match result {
                Ok(()) => {
                    outbox::mark_done(&tx, item.id, now)?;
                    report.delivered += 1;
                    tracing::info!(id = item.id, channel = item.channel.as_str(), target = %printable(&item.target), "delivered");
                }
                Err(e) => {
                    let pause = e
                        .retry_after()
                        .and_then(|d| Duration::from_std(d).ok())
                        .unwrap_or_else(Duration::zero);
                    if e.is_unreachable()
                        && !unreachable
                            .iter()
                            .any(|(u, _)| destination(u) == destination(&item))
                    {
                        unreachable.push((item.clone(), pause));
                    }
                    let window_over =
                        parse(&item.window_start).is_some_and(|start| now - start >= window);
                    if e.is_permanent() || (window_over && item.channel != Channel::Fallback) {
                        let why = if e.is_permanent() {
                            GiveUp::Permanent
                        } else {
                            GiveUp::WindowOver
                        };
                        given_up.push((item, e.message, why));
                    } else {
                        let next = now + self.backoff(item.attempts + 1).max(pause);
                        outbox::mark_failed(&tx, item.id, next, &e.message)?;
                        report.failed += 1;
                        tracing::warn!(id = item.id, channel = item.channel.as_str(), error = %printable(&e.message), retry_at = %clock::stamp(next), "delivery failed");
                    }
                }
            }
        }
        tx.commit()?;
        Ok((given_up, unreachable))
    }

    /// Records what sending did (None: not tried, its destination was found
    /// unreachable): deliveries and retries in one transaction, then the items given up
    /// (each with its fallback mail), then the destinations found unreachable, whose
    /// other due items wait untried.
    fn record(
        &self,
        store: &mut Store,
        results: Vec<(Item, Option<Result<(), DeliveryError>>)>,
        report: &mut Report,
    ) -> crate::store::Result<()> {
        let now = clock::now();
        let window = Duration::from_std(self.policy.give_up_after).unwrap_or(Duration::days(1));
        // On PostgreSQL the items are this instance's claims (their rows are all it
        // changes): no need to wait for the write lock other instances take turns on,
        // while answers that came in wait unrecorded (each a repeat after a kill).
        let shared = store.is_shared();
        // Outcomes are committed without waiting for the disk: a crash or kill of this
        // process loses none (what bounds the repeats), a power cut may lose the last
        // moment's, which are then sent again with the same key: at least once, and a
        // call or mail no longer waits for a sync of its own.
        let (given_up, unreachable) = store
            .db()
            .unsynced(|| self.record_outcomes(store.db(), shared, results, report, now, window))?;
        for (item, error, why) in given_up {
            self.give_up(store, &item, &error, why, now)?;
            report.dead += 1;
        }
        for (item, pause) in unreachable {
            // The destination is down (not an error answer from it) or asked for a
            // pause: the rest of its due items wait, untried, instead of hammering it
            // once per item. They keep their own attempt count and last error.
            let deferred = outbox::defer_destination(
                store.db(),
                webhook_origin(&item).as_deref(),
                now,
                now + self.backoff(item.attempts + 1).max(pause),
                now - window,
            )?;
            report.deferred += deferred as u64;
            if deferred > 0 {
                let place = match webhook_origin(&item) {
                    Some(origin) => origin,
                    None => self.mailer.describe(),
                };
                tracing::warn!(destination = %printable(&place), deferred, "destination unreachable: its other deliveries wait");
            }
        }
        Ok(())
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
                    outbox::renew(store.db(), item.id, &self.holder, clock::now() + self.lease)?;
                }
            }
        }
    }

    /// The original message a forward attaches (read before sending, so no database
    /// handle is held while waiting on the network).
    pub fn original(&self, store: &Store, item: &Item) -> Option<(Vec<u8>, bool)> {
        match (item.channel, item.message) {
            (Channel::Forward, Some(m)) => query::raw_message(store.db(), m).ok().flatten(),
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
            Channel::Webhook if item.payload.get("chat").is_some() => {
                let call = chat::call_of(&item.payload)?;
                self.hooks.send(&call).await
            }
            Channel::Webhook => self.hooks.send(&item.payload).await,
            Channel::Forward if item.payload["customer"] == true => {
                let test = item.payload["test"] == true;
                let mail = self.lookups.mail(&item.payload, test).await?;
                let message_id = format!("<outbox-{}.{}@mailroom.invalid>", item.id, self.instance);
                self.mailer
                    .send(&self.from, &mail, &message_id, None, self.max_message_size)
                    .await
            }
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
        let tx = store.db().write()?;
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

/// What recording a pass's results leaves to do: the items to give up (with the error
/// and why) and the destinations found unreachable (with the pause they asked for).
type Outcomes = (Vec<(Item, String, GiveUp)>, Vec<(Item, Duration)>);

/// Why a delivery was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GiveUp {
    /// The destination refused it in a way retrying cannot change.
    Permanent,
    /// It kept failing until the give-up window ended.
    WindowOver,
}

/// Where an item goes, for log lines: a webhook's origin, else its recipients.
/// Where an item goes, as the queue holds items back: a webhook's origin, or for mail
/// (every mail goes through the one SMTP server) the server.
fn destination(item: &Item) -> String {
    webhook_origin(item).unwrap_or_else(|| "mail".to_string())
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
