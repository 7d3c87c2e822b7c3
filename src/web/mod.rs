//! The embedded HTTP server (`[http] listen`): registrar push receivers
//! (`push`, over `channel::push`), the web console (`console`), the event feed for downstream
//! systems (`api`), and `/metrics`, `/healthz`, `/readyz` (`metrics`). It runs inside
//! `watch`, or alone as `mailroom serve`.
//!
//! Routing: a `[[push]]` path goes to its receiver (its own token), `/healthz`,
//! `/readyz` and `/metrics` to `metrics`, `/api/` to `api` behind the bearer token
//! (`auth::api`), everything else to the console (login cookie and CSRF, its own).

pub mod api;
pub mod auth;
pub mod console;
pub mod metrics;
mod push;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};

use crate::channel::push::{Endpoint, endpoints};
use crate::ingest::intake::Intake;
use crate::shutdown::Shutdown;
use crate::store::Store;

/// Connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 64;
/// Whole request (headers and body) must arrive within this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

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
}

impl Web {
    /// The writer connection.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.intake.store()
    }

    /// A fresh read-only connection, for queries that should not wait on the writer.
    pub fn reader(&self) -> crate::store::Result<rusqlite::Connection> {
        Store::open_reader(self.intake.db())
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

/// Reads a request body of at most `limit` bytes, within the request timeout.
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
    match tokio::time::timeout(
        REQUEST_TIMEOUT,
        Limited::new(req.into_body(), cap).collect(),
    )
    .await
    {
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

async fn route(web: Arc<Web>, peer: IpAddr, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_string();
    if let Some(i) = web.pushes.iter().position(|e| e.config.path == path) {
        return push::handle(&web, i, peer, req).await;
    }
    match path.as_str() {
        "/healthz" | "/readyz" | "/metrics" => metrics::handle(&web, req).await,
        p if p.starts_with("/api/") => match auth::api(&web, &req) {
            Ok(()) => api::handle(&web, req).await,
            Err(r) => *r,
        },
        _ => console::handle(&web, peer, req).await,
    }
}

/// Serves `[http] listen` until shutdown, on a connection of its own to the database.
pub async fn serve(intake: Intake, mut shutdown: Shutdown) {
    let config = Arc::clone(&intake.config);
    let token = match config.http.token().resolve() {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "HTTP server not started: [http] token");
            return;
        }
    };
    let pushes = endpoints(&config);
    let intake = match intake.connect() {
        Ok(i) => i,
        Err(e) => {
            tracing::error!(error = %e, "HTTP server: cannot open the database");
            return;
        }
    };
    let listener = match tokio::net::TcpListener::bind(&config.http.listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(listen = %config.http.listen, error = %e, "HTTP server cannot listen");
            return;
        }
    };
    tracing::info!(listen = %config.http.listen, receivers = pushes.len(), "HTTP server listening");
    let web = Arc::new(Web {
        intake,
        token,
        max_body: config.http.max_body,
        pushes,
    });
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = shutdown.recv() => return,
        };
        let (stream, peer): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "HTTP accept");
                    if shutdown.sleep(Duration::from_millis(100)).await { return; }
                    continue;
                }
            },
            _ = shutdown.recv() => return,
        };
        let _ = stream.set_nodelay(true);
        let web = Arc::clone(&web);
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |req| {
                let web = Arc::clone(&web);
                async move { Ok::<_, Infallible>(route(web, peer.ip(), req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(REQUEST_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(REQUEST_TIMEOUT * 4, conn).await;
        });
    }
}
