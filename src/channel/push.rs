//! Registrar push (webhook) receivers on the embedded HTTP server (`[http]`,
//! `[[push]]`). A POST is answered 200 only after its body is stored and committed
//! through the one ingest path, so the registrar retries whatever was not: 401 a wrong
//! token, 403 a source outside `allow_from`, 413 a body over `[http] max_body`, 400 a
//! body with no notification (kept in quarantine with its bytes), 503 when the database
//! fails.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};

use crate::config::{Network, PushConfig};
use crate::source::Source;
use crate::store::{Store, channels, cursors};
use crate::watch::Shared;

/// Connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 64;
/// Whole request (headers and body) must arrive within this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

struct Endpoint {
    config: PushConfig,
    token: Option<String>,
    networks: Vec<Network>,
}

struct State {
    shared: Shared,
    endpoints: Vec<Endpoint>,
    store: std::sync::Mutex<Store>,
    max_body: u64,
}

fn answer(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(format!("{text}\n"))));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Equal in time whatever the first difference (tokens are compared this way).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

fn token_of(req: &Request<Incoming>) -> Option<String> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(t) = header("x-mailroom-token") {
        return Some(t.to_string());
    }
    if let Some(t) = header("authorization").and_then(|v| v.strip_prefix("Bearer ")) {
        return Some(t.trim().to_string());
    }
    req.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("token="))
            .map(percent_decode)
    })
}

fn percent_decode(s: &str) -> String {
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

/// Records an answer for `status`: accepted bodies as read messages, refusals as the
/// last error.
fn record(state: &State, name: &str, outcome: Result<(), String>) {
    let store = state.store.lock().unwrap_or_else(|e| e.into_inner());
    let code = match &outcome {
        Ok(()) => "200",
        Err(e) => e
            .strip_prefix("HTTP ")
            .and_then(|r| r.get(..3))
            .unwrap_or("other"),
    };
    let _ = channels::add(store.conn(), name, &format!("answered {code}"), 1);
    let _ = match outcome {
        Ok(()) => cursors::read(store.conn(), name, "", 1)
            .and_then(|_| cursors::synced(store.conn(), name, "")),
        Err(e) => cursors::failed(store.conn(), name, "", &e),
    };
}

async fn handle(state: Arc<State>, peer: IpAddr, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(ep) = state
        .endpoints
        .iter()
        .find(|e| e.config.path == req.uri().path())
    else {
        return answer(StatusCode::NOT_FOUND, "not found");
    };
    let name = ep.config.name.clone();
    if req.method() != Method::POST {
        return answer(StatusCode::METHOD_NOT_ALLOWED, "POST only");
    }
    if !ep.networks.is_empty() && !ep.networks.iter().any(|n| n.contains(peer)) {
        record(
            &state,
            &name,
            Err(format!("HTTP 403: {peer} is not in allow_from")),
        );
        tracing::warn!(source = %name, %peer, "push refused: not in allow_from");
        return answer(StatusCode::FORBIDDEN, "forbidden");
    }
    if let Some(want) = &ep.token
        && !token_of(&req).is_some_and(|t| same(t.as_bytes(), want.as_bytes()))
    {
        record(
            &state,
            &name,
            Err(format!("HTTP 401: wrong or missing token from {peer}")),
        );
        tracing::warn!(source = %name, %peer, "push refused: wrong or missing token");
        return answer(StatusCode::UNAUTHORIZED, "wrong or missing token");
    }
    let too_large = || {
        tracing::warn!(source = %name, %peer, "push refused: body too large");
        answer(StatusCode::PAYLOAD_TOO_LARGE, "body too large")
    };
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > state.max_body) {
        record(
            &state,
            &name,
            Err("HTTP 413: body over [http] max_body".into()),
        );
        return too_large();
    }
    let limit = usize::try_from(state.max_body).unwrap_or(usize::MAX);
    let body = match tokio::time::timeout(
        REQUEST_TIMEOUT,
        Limited::new(req.into_body(), limit).collect(),
    )
    .await
    {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            record(
                &state,
                &name,
                Err("HTTP 413: body over [http] max_body".into()),
            );
            return too_large();
        }
        _ => return answer(StatusCode::BAD_REQUEST, "the body could not be read"),
    };
    let raw = body.to_vec();
    let id = crate::store::content_hash(&raw)[..16].to_string();
    let source = Source::Push {
        name: name.clone(),
        id,
    };
    let st = Arc::clone(&state);
    let stored = tokio::task::spawn_blocking(move || {
        let items = crate::pipeline::prepare(vec![(source, raw)], |hash| {
            let store = st.store.lock().unwrap_or_else(|e| e.into_inner());
            crate::store::is_known(store.conn(), hash).unwrap_or(false)
        });
        let mut store = st.store.lock().unwrap_or_else(|e| e.into_inner());
        crate::pipeline::ingest_batch(&mut store, &st.shared.config, &st.shared.rules, items, None)
    })
    .await;
    match stored {
        Ok(Ok(b)) => {
            state.shared.deliver.notify_one();
            if b.events_new == 0 && b.duplicates == 0 {
                record(
                    &state,
                    &name,
                    Err("HTTP 400: no notification found in the body (kept in quarantine)".into()),
                );
                tracing::warn!(source = %name, %peer, "push: no notification found; quarantined");
                return answer(
                    StatusCode::BAD_REQUEST,
                    "no notification found (kept in quarantine)",
                );
            }
            record(&state, &name, Ok(()));
            tracing::info!(source = %name, new_events = b.events_new, duplicates = b.duplicates, "pushed");
            answer(StatusCode::OK, "stored")
        }
        Ok(Err(e)) => {
            let msg = format!("database: {e}");
            tracing::error!(source = %name, error = %msg, "push not stored: answered 503");
            record(&state, &name, Err(format!("HTTP 503: {msg}")));
            answer(StatusCode::SERVICE_UNAVAILABLE, "not stored, try again")
        }
        Err(_) => answer(StatusCode::SERVICE_UNAVAILABLE, "not stored, try again"),
    }
}

/// Serves the push receivers on `[http] listen` until shutdown.
pub async fn serve(mut shared: Shared) {
    let config = Arc::clone(&shared.config);
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
    let store = match Store::open(&shared.db) {
        Ok(s) => s,
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
    tracing::info!(listen = %config.http.listen, receivers = endpoints.len(), "HTTP server listening");
    let state = Arc::new(State {
        shared: shared.clone(),
        endpoints,
        store: std::sync::Mutex::new(store),
        max_body: config.http.max_body,
    });
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = shared.stopped() => return,
        };
        let (stream, peer): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "HTTP accept");
                    if shared.sleep(Duration::from_millis(100)).await { return; }
                    continue;
                }
            },
            _ = shared.stopped() => return,
        };
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |req| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(handle(state, peer.ip(), req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(REQUEST_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(REQUEST_TIMEOUT * 4, conn).await;
        });
    }
}
