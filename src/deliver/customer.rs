//! Finishing a customer mail when it is sent (`action::customer`): the url lookups it
//! reads are fetched now (kept for their `cache` time), then it is rendered. A lookup
//! endpoint that fails is a transient error, so the mail is retried through the outbox
//! like any delivery, never sent without the customer it was meant for; `404` means
//! the endpoint knows nobody for the domain (`missing_to` then).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::DeliveryError;
use crate::action::Forward;
use crate::action::LookupSpec as Spec;
use crate::config::Secret;
use crate::event::Event;
use crate::filter::candidates;

/// Largest answer read from a lookup endpoint.
const MAX_ANSWER: usize = 256 * 1024;

/// Lookup answers kept at most; past that, expired ones go, then those expiring first
/// (a service running for years meets every domain it serves).
const MAX_CACHED: usize = 4096;

pub struct Lookups {
    client: reqwest::Client,
    /// Answer by URL, with when it expires.
    cache: Mutex<HashMap<String, (Instant, Value)>>,
}

/// Keeps `answer` for `url` until `expires`, within [`MAX_CACHED`].
fn keep(
    cache: &mut HashMap<String, (Instant, Value)>,
    url: String,
    expires: Instant,
    answer: Value,
) {
    if cache.len() >= MAX_CACHED && !cache.contains_key(&url) {
        let now = Instant::now();
        cache.retain(|_, (until, _)| *until > now);
        if cache.len() >= MAX_CACHED
            && let Some(first) = cache
                .iter()
                .min_by_key(|(_, (until, _))| *until)
                .map(|(k, _)| k.clone())
        {
            cache.remove(&first);
        }
    }
    cache.insert(url, (expires, answer));
}

impl Lookups {
    pub fn new(timeout: Duration) -> Result<Lookups, DeliveryError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .user_agent(concat!("mailroom/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| DeliveryError::config(format!("HTTP client: {e}")))?;
        Ok(Lookups {
            client,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The mail of a queued customer forward (`payload` as `ingest::rules` queued it).
    pub async fn mail(&self, payload: &Value, test: bool) -> Result<Value, DeliveryError> {
        let broken = |what: &str| {
            DeliveryError::permanent(format!("customer mail: the queued item has no {what}"))
        };
        let forward: Forward =
            serde_json::from_value(payload["forward"].clone()).map_err(|_| broken("forward"))?;
        let event: Event =
            serde_json::from_value(payload["event"].clone()).map_err(|_| broken("event"))?;
        let rule = payload["rule"].as_str().unwrap_or_default();
        let mut rows: Map<String, Value> = payload["rows"].as_object().cloned().unwrap_or_default();
        if let Some(remote) = payload["remote"].as_object() {
            for (name, spec) in remote {
                let spec: Spec =
                    serde_json::from_value(spec.clone()).map_err(|_| broken("lookup"))?;
                let row = self.fetch(name, &spec, &event).await?;
                rows.insert(name.clone(), row);
            }
        }
        crate::action::customer::mail(&forward, &event, rule, &rows, test)
            .map_err(DeliveryError::permanent)
    }

    /// A url lookup's row for `event`: tried for the domain, then its parents, until one
    /// is found (a 404 is "not this one").
    async fn fetch(&self, name: &str, spec: &Spec, event: &Event) -> Result<Value, DeliveryError> {
        let Spec::Url {
            url,
            token,
            cache_secs,
        } = spec
        else {
            return Ok(Value::Null);
        };
        let Some(domain) = event.domain.as_deref() else {
            return Ok(Value::Null);
        };
        let token = match token {
            Some(t) => Secret {
                password_env: t.env.clone(),
                password_command: t.command.clone(),
            }
            .resolve()
            .map_err(|e| DeliveryError::config(format!("lookup {name}: token: {e}")))?
            .filter(|t| !t.trim().is_empty()),
            None => None,
        };
        let hide = |text: String| match &token {
            Some(t) if t.len() >= 4 => text.replace(t.as_str(), "…"),
            _ => text,
        };
        for candidate in candidates(domain) {
            let mut one = event.clone();
            one.domain = Some(candidate.clone());
            let target = crate::action::render(url, crate::action::event_context(&one, ""))
                .map_err(|e| DeliveryError::permanent(format!("lookup {name}: url: {e}")))?;
            let shown = crate::secret::redact(&target);
            if let Some((until, v)) = self
                .cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&target)
                && Instant::now() < *until
            {
                if v.is_null() {
                    continue;
                }
                return Ok(v.clone());
            }
            let mut req = self
                .client
                .get(&target)
                .header("Accept", "application/json");
            if let Some(t) = &token {
                req = req.bearer_auth(t);
            }
            let mut resp = req.send().await.map_err(|e| {
                DeliveryError::transient(hide(format!(
                    "lookup {name}: GET {shown}: {}",
                    crate::reason::innermost(&e)
                )))
            })?;
            let status = resp.status();
            let found = if status.as_u16() == 404 {
                Value::Null
            } else if status.is_success() {
                let mut body = Vec::new();
                while let Some(c) = resp.chunk().await.map_err(|e| {
                    DeliveryError::transient(format!(
                        "lookup {name}: GET {shown}: {}",
                        crate::reason::innermost(&e)
                    ))
                })? {
                    body.extend_from_slice(&c);
                    if body.len() > MAX_ANSWER {
                        return Err(DeliveryError::transient(format!(
                            "lookup {name}: GET {shown}: answer over {MAX_ANSWER} bytes"
                        )));
                    }
                }
                match serde_json::from_slice::<Value>(&body) {
                    Ok(Value::Object(o)) => Value::Object(o),
                    Ok(Value::Null) => Value::Null,
                    _ => {
                        return Err(DeliveryError::transient(format!(
                            "lookup {name}: GET {shown}: the answer is not a JSON object"
                        )));
                    }
                }
            } else {
                return Err(DeliveryError::transient(hide(format!(
                    "lookup {name}: GET {shown} answered {status}"
                ))));
            };
            keep(
                &mut self.cache.lock().unwrap_or_else(|e| e.into_inner()),
                target,
                Instant::now() + Duration::from_secs(*cache_secs),
                found.clone(),
            );
            if !found.is_null() {
                return Ok(found);
            }
        }
        Ok(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lookup_cache_stays_bounded_and_lets_expired_answers_go_first() {
        let mut cache = HashMap::new();
        let now = Instant::now();
        keep(&mut cache, "expired".into(), now, Value::Null);
        for i in 0..MAX_CACHED * 2 {
            let until = now + Duration::from_secs(60 + i as u64);
            keep(
                &mut cache,
                format!("https://crm.example/{i}"),
                until,
                Value::Null,
            );
        }
        assert_eq!(cache.len(), MAX_CACHED);
        assert!(!cache.contains_key("expired"));
        // Those expiring first went; the newest answer is there.
        assert!(!cache.contains_key("https://crm.example/0"));
        assert!(cache.contains_key(&format!("https://crm.example/{}", MAX_CACHED * 2 - 1)));
    }
}
