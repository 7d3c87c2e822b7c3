//! The embedded HTTP server (`[http] listen`): registrar push receivers
//! (`push`, over `channel::push`), the web console (`console`), the event feed for downstream
//! systems (`api`), and `/metrics`, `/healthz`, `/readyz` (`metrics`). It runs inside
//! `watch`, or alone as `mailroom serve`.
//!
//! Routing: a `[[push]]` path goes to its receiver (its own token), `/healthz`,
//! `/readyz` and `/metrics` to `metrics`, `/api/` to `api` behind the bearer token
//! (`auth::api`), everything else to the console (login cookie and CSRF, its own).
//! Before any of them: a request that carries no credential (no `[http]` token, or a
//! receiver without one) is answered only when its `Host` is a loopback name.
//! Connections, their limits and time-outs: `server`.

pub mod api;
pub mod auth;
pub mod console;
pub mod guesses;
pub mod metrics;
mod push;
mod server;

use std::net::IpAddr;
use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};

use crate::channel::push::Endpoint;
use crate::ingest::intake::Intake;
use crate::store::Store;

pub use server::serve;

/// A request body (a push, a form, an ack) must arrive within this once its headers
/// have: a client sending it slower gives up its connection.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

pub type Resp = Response<Full<Bytes>>;

/// What every handler gets: the intake (config, rules, figures, and one writer
/// connection for pushes and state-changing requests), the `[http]` token and the push
/// receivers.
pub struct Web {
    pub intake: Intake,
    /// `[http] token`, resolved; `None` on loopback without one (then no login).
    pub token: Option<String>,
    pub max_body: u64,
    pushes: Vec<Endpoint>,
    /// Wrong tokens per client address (login, API, push).
    pub guesses: guesses::Guesses,
    /// Messages by channel and result as of the last `/metrics` scrape.
    pub messages: std::sync::Mutex<Option<crate::store::figures::MessageTally>>,
}

impl Web {
    /// The writer connection.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.intake.store()
    }

    /// A fresh read-only connection, for queries that should not wait on the writer.
    pub fn reader(&self) -> crate::store::Result<crate::store::Reader> {
        Store::reader(self.intake.db())
    }
}

/// A plain-text answer.
pub fn text(status: StatusCode, text: &str) -> Resp {
    with_type(
        status,
        format!("{text}\n").into_bytes(),
        "text/plain; charset=utf-8",
    )
}

/// A JSON answer.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Resp {
    with_type(
        status,
        serde_json::to_vec(value).unwrap_or_default(),
        "application/json",
    )
}

/// An answer with a body and its content type.
pub fn with_type(status: StatusCode, body: Vec<u8>, content_type: &'static str) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    r
}

/// Why a body was not read.
pub enum BodyError {
    TooLarge,
    Unreadable,
}

/// Reads a request body of at most `limit` bytes, within [`BODY_TIMEOUT`].
pub async fn read_body(req: Request<Incoming>, limit: u64) -> Result<Bytes, BodyError> {
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge);
    }
    let cap = usize::try_from(limit).unwrap_or(usize::MAX);
    match tokio::time::timeout(BODY_TIMEOUT, Limited::new(req.into_body(), cap).collect()).await {
        Ok(Ok(b)) => Ok(b.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        _ => Err(BodyError::Unreadable),
    }
}

/// Query string parameters, percent-decoded.
pub fn query(req: &Request<Incoming>) -> Vec<(String, String)> {
    form(req.uri().query().unwrap_or(""))
}

/// `a=1&b=2` (a query string or an `application/x-www-form-urlencoded` body), decoded.
pub fn form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(kv), String::new()),
        })
        .collect()
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The request's `Host` header.
fn host(req: &Request<Incoming>) -> Option<&str> {
    req.headers()
        .get(hyper::header::HOST)
        .and_then(|v| v.to_str().ok())
}

/// The answer to a request without a credential sent to a name that is not loopback.
fn wrong_host(path: &str, host: Option<&str>, push: bool) -> Resp {
    let text = format!(
        "This server has no [http] token, so it answers only requests sent to a loopback name \
         (http://127.0.0.1:PORT/ or http://localhost:PORT/), not to {}. Set [http] token_env \
         (and a token on each [[push]]) to serve it under other names.",
        host.map_or_else(
            || "a request without a Host header".to_string(),
            |h| format!("Host {h:?}")
        )
    );
    if path.starts_with("/api/") {
        json(StatusCode::FORBIDDEN, &serde_json::json!({ "error": text }))
    } else if push || metrics::PATHS.contains(&path) {
        self::text(StatusCode::FORBIDDEN, &text)
    } else {
        console::refused(StatusCode::FORBIDDEN, &text)
    }
}

pub(crate) async fn route(web: Arc<Web>, peer: IpAddr, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_string();
    let push = web.pushes.iter().position(|e| e.config.path == path);
    // Without a credential, the Host a request was sent to is all that tells a local
    // program from another site's page that rebound its own name to 127.0.0.1 (DNS
    // rebinding): such a page could read the feed, ack it away, or forge pushes. One
    // check here, for every route, before any of them runs.
    let open = match push {
        // An SNS receiver authenticates every message by its signature.
        Some(i) => !web.pushes[i].has_token() && !web.pushes[i].verifies_signatures(),
        None => web.token.is_none(),
    };
    if open && !auth::loopback_host(host(&req)) {
        let r = wrong_host(&path, host(&req), push.is_some());
        if let Some(i) = push {
            web.pushes[i].refused(
                crate::channel::push::PushOutcome::Forbidden,
                "sent to a Host that is not a loopback name, and the receiver has no token",
            );
        }
        return r;
    }
    if let Some(i) = push {
        return push::handle(&web, i, peer, req).await;
    }
    match path.as_str() {
        p if metrics::PATHS.contains(&p) => metrics::handle(&web, req).await,
        p if p.starts_with("/api/") => match auth::api(&web, peer, &req).await {
            Ok(()) => api::handle(&web, req).await,
            Err(r) => *r,
        },
        _ => console::handle(&web, peer, req).await,
    }
}
