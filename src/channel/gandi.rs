//! Gandi's notification API (`[gandi]`, XML-RPC over HTTPS): `notification.list`,
//! `notification.count` and `notification.test`, the API key passed as every call's
//! first argument as Gandi documents. Gandi's faults keep its code and text; a
//! transport error names the URL. The key is never part of an error or a log line
//! (Gandi echoes a malformed key in its fault text: it is cut out).
//!
//! Also one end-to-end probe, in two steps the service schedules: [`send_test`] asks
//! Gandi for a test message and records where the store stood, [`await_test`] waits
//! until that message is stored through any channel (or the time is up) and says so
//! as a [`ProbeOutcome`], which the service acts on.

use std::time::Duration;

use super::Failure;
use super::gandi_xmlrpc::{self as xmlrpc, Notification, Value};
use crate::clock;
use crate::config::GandiConfig;
use crate::ingest::intake::Intake;
use crate::shutdown::Shutdown;
use crate::store::probes::{self, Arrival, Run, State};

/// Largest reply read (the full notification list is a few kilobytes).
const MAX_REPLY: usize = 4 << 20;
/// Limit for one call.
const TIMEOUT: Duration = Duration::from_secs(30);
/// How often the store is looked at while a test message is awaited.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// Test messages are this registrar's (`extract::gandi::test_event`).
pub const REGISTRAR: &str = "gandi";

#[derive(Debug, thiserror::Error)]
pub enum GandiError {
    /// Gandi refused the call: its fault code and text.
    #[error("Gandi refused {method}: fault {code}: {text}{}", hint(*code, text))]
    Fault {
        method: String,
        code: i64,
        text: String,
    },
    /// No readable reply: network, timeout, an HTTP status, not XML-RPC.
    #[error("{url}: {message}")]
    Transport { url: String, message: String },
    /// Something to fix here: the key, the database.
    #[error("{0}")]
    Local(String),
}

/// What to do about a fault about the key (Gandi API v3: `OBJECT_ACCOUNT
/// (CAUSE_NORIGHT) [Invalid API key]`, or a key that is not 24 characters).
fn hint(code: i64, text: &str) -> &'static str {
    let about_key = code == 510150
        || text.contains("Invalid API key")
        || text.contains("OBJECT_ACCOUNT")
        || text.contains("[a-z0-9]{24}");
    if about_key {
        " (check the API key [gandi] apikey_env or apikey_command gives: Gandi's 24-character production key)"
    } else {
        ""
    }
}

impl Failure for GandiError {
    fn needs_a_person(&self) -> bool {
        // Gandi's codes: the first digit 5 is a data error (the input), 1 the server's.
        matches!(self, GandiError::Fault { code, .. } if *code >= 500_000)
            || matches!(self, GandiError::Local(_))
    }
}

/// A client of Gandi's XML-RPC API, with its key read.
pub struct Gandi {
    url: String,
    key: String,
    client: reqwest::Client,
}

impl Gandi {
    /// Reads the key (an unset variable, a failing command or an empty key is an
    /// error naming the setting).
    pub fn new(config: &GandiConfig) -> Result<Gandi, GandiError> {
        let key = config.read_apikey().map_err(GandiError::Local)?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .user_agent(concat!("mailroom/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GandiError::Local(format!("HTTP client: {}", crate::reason::chain(&e))))?;
        Ok(Gandi {
            url: config.url.clone(),
            key,
            client,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn transport(&self, message: String) -> GandiError {
        GandiError::Transport {
            url: crate::secret::redact(&self.url),
            message: self.hide(message),
        }
    }

    /// `text` without the key.
    fn hide(&self, text: String) -> String {
        if self.key.is_empty() {
            text
        } else {
            text.replace(&self.key, "…")
        }
    }

    /// `method(apikey, args…)`: its value, or Gandi's fault.
    async fn call(&self, method: &str, args: &[&str]) -> Result<Value, GandiError> {
        let mut params = vec![self.key.as_str()];
        params.extend_from_slice(args);
        let mut resp = self
            .client
            .post(&self.url)
            .header("Content-Type", "text/xml")
            .body(xmlrpc::call(method, &params))
            .send()
            .await
            .map_err(|e| self.transport(crate::reason::chain(&e.without_url())))?;
        let status = resp.status();
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(c)) if body.len() + c.len() > MAX_REPLY => {
                    return Err(self.transport(format!(
                        "the reply to {method} is larger than {} MiB",
                        MAX_REPLY >> 20
                    )));
                }
                Ok(Some(c)) => body.extend_from_slice(&c),
                Ok(None) => break,
                Err(e) => return Err(self.transport(crate::reason::chain(&e.without_url()))),
            }
        }
        // XML-RPC answers faults with 200; any other status is the transport's.
        if !status.is_success() {
            return Err(self.transport(format!("{method}: HTTP {}", status.as_u16())));
        }
        match xmlrpc::parse_response(&body) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(fault)) => Err(GandiError::Fault {
                method: method.to_string(),
                code: fault.code,
                text: crate::term::printable(&self.hide(fault.text)).to_string(),
            }),
            Err(e) => Err(self.transport(format!(
                "the reply to {method} is not an XML-RPC response: {e}"
            ))),
        }
    }

    fn unreadable(&self, e: String) -> GandiError {
        self.transport(format!("unexpected reply: {e}"))
    }

    /// Every notification, active or not, with its channels.
    pub async fn list(&self) -> Result<Vec<Notification>, GandiError> {
        let v = self.call("notification.list", &[]).await?;
        xmlrpc::notifications(&v).map_err(|e| self.unreadable(e))
    }

    /// How many notifications are available.
    pub async fn count(&self) -> Result<i64, GandiError> {
        let v = self.call("notification.count", &[]).await?;
        xmlrpc::count(&v).map_err(|e| self.unreadable(e))
    }

    /// Asks Gandi to send the test message of `name` on every subscribed channel.
    pub async fn test(&self, name: &str) -> Result<(), GandiError> {
        let v = self.call("notification.test", &[name]).await?;
        match xmlrpc::accepted(&v) {
            Ok(true) => Ok(()),
            Ok(false) => Err(GandiError::Local(format!(
                "Gandi answered False to notification.test {name}: no test message was sent (mailroom gandi subscriptions lists this account's notifications)"
            ))),
            Err(e) => Err(self.unreadable(e)),
        }
    }
}

/// How one probe run ended. The service acts on it: an arrival clears the probe's
/// error in `status`; a missing message is logged at ERROR, recorded for `status` and
/// raised as `mailroom.probe_failed` (`service::probe`).
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeOutcome {
    /// The test message was stored `after` it was asked for.
    Arrived {
        name: String,
        after: Duration,
        arrival: Arrival,
    },
    /// It was not stored within `timeout` of `sent`.
    Missing {
        name: String,
        sent: chrono::DateTime<chrono::Utc>,
        timeout: Duration,
    },
    /// The service is stopping; the run stays recorded as waiting and is resumed.
    Stopped,
}

/// Runs `f` on this intake's connection, off the async threads.
async fn with_store<T: Send + 'static>(
    intake: &Intake,
    f: impl FnOnce(&crate::store::db::Db) -> crate::store::Result<T> + Send + 'static,
) -> Result<T, GandiError> {
    let intake = intake.clone();
    tokio::task::spawn_blocking(move || f(intake.store().db()))
        .await
        .map_err(|e| GandiError::Local(format!("database task: {e}")))?
        .map_err(|e| GandiError::Local(format!("database: {e}")))
}

/// The last probe run of `name` recorded in the store.
pub async fn last_run(intake: &Intake, name: &str) -> Result<Option<Run>, GandiError> {
    let name = name.to_string();
    with_store(intake, move |c| probes::last_run(c, REGISTRAR, &name)).await
}

/// Asks Gandi for the test message of `name`, after noting where the store stands;
/// the run is recorded as waiting.
pub async fn send_test(intake: &Intake, gandi: &Gandi, name: &str) -> Result<Run, GandiError> {
    let mark = with_store(intake, probes::mark).await?;
    let sent = clock::now_stamp();
    gandi.test(name).await?;
    let run = Run {
        sent,
        mark,
        state: State::Waiting,
    };
    let (n, r) = (name.to_string(), run.clone());
    with_store(intake, move |c| probes::record(c, REGISTRAR, &n, &r)).await?;
    Ok(run)
}

/// Waits until the test message of `run` is stored, at most `timeout` after it was
/// asked for; records how the run ended.
pub async fn await_test(
    intake: &Intake,
    name: &str,
    run: &Run,
    timeout: Duration,
    shutdown: &mut Shutdown,
) -> Result<ProbeOutcome, GandiError> {
    let sent = chrono::DateTime::parse_from_rfc3339(&run.sent)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|_| clock::now());
    let elapsed = (clock::now() - sent).to_std().unwrap_or_default();
    // The deadline on the monotonic clock, so a fixed MAILROOM_NOW still ends it.
    let deadline = tokio::time::Instant::now() + timeout.saturating_sub(elapsed);
    let started = tokio::time::Instant::now();
    loop {
        let (n, mark) = (name.to_string(), run.mark);
        let found = with_store(intake, move |c| {
            probes::test_arrived(c, REGISTRAR, &n, mark)
        })
        .await?;
        let state = match &found {
            Some(_) => State::Arrived,
            None if tokio::time::Instant::now() >= deadline => State::Missing,
            None => {
                let wait = LOOK_EVERY.min(deadline - tokio::time::Instant::now());
                if shutdown.sleep(wait).await {
                    return Ok(ProbeOutcome::Stopped);
                }
                continue;
            }
        };
        let done = Run {
            state,
            ..run.clone()
        };
        let n = name.to_string();
        with_store(intake, move |c| probes::record(c, REGISTRAR, &n, &done)).await?;
        return Ok(match found {
            Some(arrival) => ProbeOutcome::Arrived {
                name: name.to_string(),
                after: elapsed + started.elapsed(),
                arrival,
            },
            None => ProbeOutcome::Missing {
                name: name.to_string(),
                sent,
                timeout,
            },
        });
    }
}
